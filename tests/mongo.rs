//! The MongoDB source through the real `mongodb` driver.
//!
//! `emulator_*` tests run against CongoDB, an in-memory MongoDB wire-protocol emulator
//! (scripts/mongo-emulator.sh; QUARRY_TEST_MONGO_EMULATOR_URI), which CI starts. It is not
//! mongod, so the same scenarios run as `live_*` tests against a real server when
//! QUARRY_TEST_MONGODB_URI is set (e.g. `docker compose up mongo`); otherwise they say they
//! were skipped.

mod common;

use std::sync::Arc;

use common::*;
use quarry::config::SourceSettings;
use quarry::output::{Format, sink};
use quarry::run::{RunError, RunReport, RunRequest};
use quarry::seed::Target;
use quarry::source::mongo::MongoSource;
use quarry::source::{Backend, Source, SourceError, Sources};

/// The first flights of the year: enough to query, quick to load into an emulator.
const FLIGHTS: usize = 5000;
const DATABASE: &str = "quarry_test";

fn emulator() -> Option<String> {
    match std::env::var("QUARRY_TEST_MONGO_EMULATOR_URI") {
        Ok(uri) => Some(uri),
        Err(_) if std::env::var("CI").is_ok() => {
            panic!("CI must set QUARRY_TEST_MONGO_EMULATOR_URI (scripts/test.sh does)")
        }
        Err(_) => {
            eprintln!(
                "skipped: set QUARRY_TEST_MONGO_EMULATOR_URI to run the MongoDB emulator tests"
            );
            None
        }
    }
}

fn live() -> Option<String> {
    let uri = std::env::var("QUARRY_TEST_MONGODB_URI").ok();
    if uri.is_none() {
        eprintln!(
            "skipped: set QUARRY_TEST_MONGODB_URI to run the live MongoDB tests (docker compose up mongo)"
        );
    }
    uri
}

/// Loads the first flights with `quarry seed`, once per server and test process.
fn seed(uri: &str) {
    static SEEDED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    if seeded.iter().any(|u| u == uri) {
        return;
    }
    let target = Target::Mongo(MongoSource::new("mongo", uri, DATABASE, 4));
    let demo = quarry::source::demo::ensure(&data_dir()).unwrap();
    let tables = ["flights".to_owned()];
    tokio()
        .block_on(quarry::seed::seed(
            &target,
            &demo,
            &tables,
            Some(FLIGHTS as u64),
            &mut |_, _| {},
        ))
        .unwrap();
    seeded.push(uri.to_owned());
}

fn sources(uri: &str) -> Sources {
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(
        Arc::new(MongoSource::new("mongo", uri, DATABASE, 4)),
        SourceSettings::default(),
    );
    sources
}

fn run_mongo(
    uri: &str,
    plugin: Option<&str>,
    params: &str,
    query: Option<&str>,
) -> (RunReport, Collect) {
    let rt = runtime();
    let request = RunRequest {
        source: "mongo".into(),
        ..request(rt, plugin, params, query)
    };
    run_with(rt, &sources(uri), request)
}

/// The same subset of flights on the demo database: the independent answer.
fn demo_subset(sql_where: &str) -> String {
    format!("SELECT * FROM (SELECT * FROM flights WHERE rowid <= {FLIGHTS}) WHERE {sql_where}")
}

fn find_matches_sql(uri: &str) {
    seed(uri);
    let query = r#"{"collection": "flights", "filter": {"origin": "JFK", "dep_delay": {"$gte": 30}},
                    "projection": {"_id": 0}, "sort": {"time_hour": 1, "carrier": 1, "flight": 1}}"#;
    let (report, out) = run_mongo(uri, None, "{}", Some(query));
    report.result.unwrap();
    let expected: Vec<Vec<i64>> = sql(&format!(
        "SELECT flight, dep_delay FROM ({}) ORDER BY time_hour, carrier, flight",
        demo_subset("origin = 'JFK' AND dep_delay >= 30")
    ));
    assert!(expected.len() > 50, "{}", expected.len());
    assert_eq!(out.rows(), expected.len());
    let flights: Vec<i64> = out
        .column("flight")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(flights, expected.iter().map(|r| r[0]).collect::<Vec<_>>());
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 19, "{names:?}");
    assert_eq!(
        out.fields
            .iter()
            .find(|f| f.name == "time_hour")
            .unwrap()
            .data_type,
        quarry::batch::DataType::Timestamp
    );
}

fn aggregate_matches_sql(uri: &str) {
    seed(uri);
    let query = r#"{"collection": "flights", "pipeline": [
        {"$match": {"dest": "ATL"}},
        {"$group": {"_id": "$carrier", "n": {"$sum": 1}}},
        {"$sort": {"_id": 1}}]}"#;
    let (report, out) = run_mongo(uri, None, "{}", Some(query));
    report.result.unwrap();
    let expected: Vec<Vec<rusqlite::types::Value>> = sql(&format!(
        "SELECT carrier, count(*) FROM ({}) GROUP BY carrier ORDER BY carrier",
        demo_subset("dest = 'ATL'")
    ));
    assert_eq!(out.rows(), expected.len());
    for (i, row) in expected.iter().enumerate() {
        let (rusqlite::types::Value::Text(c), rusqlite::types::Value::Integer(n)) =
            (&row[0], &row[1])
        else {
            panic!()
        };
        assert_eq!(out.column("_id")[i].as_str(), Some(c.as_str()));
        assert_eq!(out.column("n")[i].as_i64(), Some(*n));
    }
}

fn plugin_query_matches_the_demo(uri: &str) {
    seed(uri);
    let params = r#"{"origin": "EWR", "dest": "ORD", "from": "2013-01-02", "to": "2013-01-04"}"#;
    let (report, out) = run_mongo(uri, Some("flights_between"), params, None);
    report.result.unwrap();
    let expected: Vec<Vec<i64>> = sql(&format!(
        "SELECT flight FROM ({}) ORDER BY time_hour, carrier, flight",
        demo_subset(
            "origin = 'EWR' AND dest = 'ORD' AND time_hour >= '2013-01-02' AND time_hour < '2013-01-05'"
        )
    ));
    assert!(!expected.is_empty());
    let got: Vec<i64> = out
        .column("flight")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(got, expected.iter().map(|r| r[0]).collect::<Vec<_>>());
}

fn writes_are_refused_before_they_are_sent(uri: &str) {
    seed(uri);
    for query in [
        r#"{"collection": "flights", "pipeline": [{"$match": {}}, {"$out": "stolen"}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$merge": {"into": "stolen"}}]}"#,
        r#"{"collection": "flights", "filter": {"$where": "sleep(10000) || true"}}"#,
        r#"{"collection": "flights", "filter": {"$expr": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}}"#,
    ] {
        let (report, _) = run_mongo(uri, None, "{}", Some(query));
        match report.result {
            Err(RunError::Source(SourceError::Query { message, .. })) => {
                assert!(message.contains("Quarry refuses"), "{message}")
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    let names = tokio().block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        client
            .database(DATABASE)
            .list_collection_names()
            .await
            .unwrap()
    });
    assert!(!names.iter().any(|n| n == "stolen"), "{names:?}");
}

/// A field that first appears in a later batch becomes a new column; the rows before it
/// hold null. CSV, whose header is already written, leaves it out with a warning.
fn fields_added_later_widen_the_output(uri: &str) {
    let docs = [
        bson::doc! { "n": 1_i64, "name": "a" },
        bson::doc! { "n": 2_i64, "name": "b" },
        bson::doc! { "n": 3_i64, "name": "c", "late": true },
        bson::doc! { "n": 4_i64, "later": "x" },
    ];
    tokio().block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let widening = client
            .database(DATABASE)
            .collection::<bson::Document>("widening");
        let _ = widening.drop().await;
        widening.insert_many(docs).await.unwrap();
    });
    let rt = runtime();
    let query = r#"{"collection": "widening", "projection": {"_id": 0}, "sort": {"n": 1}}"#;
    let request = RunRequest {
        source: "mongo".into(),
        batch_rows: 2,
        ..request(rt, Some("identity"), "{}", Some(query))
    };
    let (report, out) = run_with(rt, &sources(uri), request.clone());
    report.result.unwrap();
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["n", "name", "late", "later"]);
    assert_eq!(
        out.column("late"),
        [Owned::Null, Owned::Null, Owned::Bool(true), Owned::Null]
    );
    assert_eq!(out.column("later")[3], Owned::Text("x".into()));
    assert_eq!(out.column("name")[3], Owned::Null);

    let csv = SharedBuf::default();
    let mut csv_sink = sink(Format::Csv, csv.clone());
    let handle = tokio().handle().clone();
    let sources = sources(uri);
    let report = quarry::run::run_blocking(rt, &sources, &handle, request, &mut *csv_sink, |_| {});
    report.result.unwrap();
    assert_eq!(csv.text(), "n,name\n1,a\n2,b\n3,c\n4,\n");
    assert!(
        report.logs.iter().any(|l| l
            .message
            .contains("late, later appeared after the output began")),
        "{:?}",
        report.logs
    );
}

fn a_dead_server_is_a_clear_error() {
    let mongo = MongoSource::new(
        "mongo",
        "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500",
        DATABASE,
        1,
    );
    assert_eq!(mongo.backend(), Backend::Mongo);
    let error = tokio().block_on(mongo.check()).unwrap_err().to_string();
    assert!(
        error.starts_with("source `mongo` is unavailable"),
        "{error}"
    );
}

#[test]
fn emulator_find_matches_sql() {
    if let Some(uri) = emulator() {
        find_matches_sql(&uri);
    }
}

#[test]
fn emulator_aggregate_matches_sql() {
    if let Some(uri) = emulator() {
        aggregate_matches_sql(&uri);
    }
}

#[test]
fn emulator_plugin_query_matches_the_demo() {
    if let Some(uri) = emulator() {
        plugin_query_matches_the_demo(&uri);
    }
}

#[test]
fn emulator_writes_are_refused_before_they_are_sent() {
    if let Some(uri) = emulator() {
        writes_are_refused_before_they_are_sent(&uri);
    }
}

#[test]
fn emulator_fields_added_later_widen_the_output() {
    if let Some(uri) = emulator() {
        fields_added_later_widen_the_output(&uri);
    }
}

#[test]
fn a_dead_mongo_server_is_a_clear_error() {
    a_dead_server_is_a_clear_error();
}

#[test]
fn live_fields_added_later_widen_the_output() {
    if let Some(uri) = live() {
        fields_added_later_widen_the_output(&uri);
    }
}

#[test]
fn live_find_matches_sql() {
    if let Some(uri) = live() {
        find_matches_sql(&uri);
    }
}

#[test]
fn live_aggregate_matches_sql() {
    if let Some(uri) = live() {
        aggregate_matches_sql(&uri);
    }
}

#[test]
fn live_plugin_query_matches_the_demo() {
    if let Some(uri) = live() {
        plugin_query_matches_the_demo(&uri);
    }
}

#[test]
fn live_writes_are_refused_before_they_are_sent() {
    if let Some(uri) = live() {
        writes_are_refused_before_they_are_sent(&uri);
    }
}
