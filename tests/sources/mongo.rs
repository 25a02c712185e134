//! The MongoDB source through the real `mongodb` driver.
//!
//! `live_*` tests run against a real MongoDB-wire server, QUARRY_TEST_MONGODB_URI: in CI
//! that is FerretDB 1.24 (scripts/ferretdb.sh, which scripts/test.sh starts; a missing
//! server fails CI), or mongod (`docker compose up mongo`). `emulator_*` tests run the
//! same scenarios against CongoDB, an in-memory wire-protocol emulator
//! (scripts/mongo-emulator.sh; QUARRY_TEST_MONGO_EMULATOR_URI), which CI also starts.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::output::{Format, sink};
use quarry_engine::run::{RunError, RunReport, RunRequest};
use quarry_sources::config::SourceSettings;
use quarry_sources::mongo::MongoSource;
use quarry_sources::seed::Target;
use quarry_sources::{Backend, Source, SourceError, Sources};

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
    live_server(
        &["QUARRY_TEST_MONGODB_URI"],
        "a MongoDB-wire server's URI (scripts/ferretdb.sh prints one)",
    )
}

// The live tests take this for reading; the one that stops the server for writing.
use crate::common::FERRETDB as SERVER;

/// Loads the first flights with `quarry seed`, once per server and test process.
fn seed(uri: &str) {
    static SEEDED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    if seeded.iter().any(|u| u == uri) {
        return;
    }
    let target = Target::Mongo(MongoSource::new("mongo", uri, DATABASE, 4));
    let demo = quarry_sources::demo::ensure(&data_dir()).unwrap();
    let tables = ["flights".to_owned()];
    tokio()
        .block_on(quarry_sources::seed::seed(
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
        quarry_core::batch::DataType::Timestamp
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
        // New York's days, the flights' own year, month and day.
        demo_subset(
            "origin = 'EWR' AND dest = 'ORD' AND year = 2013 AND month = 1 AND day BETWEEN 2 AND 4"
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
    let state = || {
        tokio().block_on(async {
            let client = mongodb::Client::with_uri_str(uri).await.unwrap();
            let db = client.database(DATABASE);
            let mut names = db.list_collection_names().await.unwrap();
            names.sort();
            let flights = db
                .collection::<bson::Document>("flights")
                .count_documents(bson::doc! {})
                .await
                .unwrap();
            (names, flights)
        })
    };
    let before = state();
    for query in [
        r#"{"collection": "flights", "pipeline": [{"$match": {}}, {"$out": "stolen"}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$out": {"db": "other", "coll": "stolen"}}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$merge": {"into": "stolen"}}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$merge": {"into": "flights", "whenMatched": "replace"}}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$facet": {"a": [{"$out": "stolen"}]}}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$lookup": {"from": "flights", "pipeline": [{"$merge": "stolen"}], "as": "x"}}]}"#,
        r#"{"collection": "flights", "pipeline": [{"$unionWith": {"coll": "flights", "pipeline": [{"$out": "stolen"}]}}]}"#,
        r#"{"collection": "flights", "filter": {"$where": "sleep(10000) || true"}}"#,
        r#"{"collection": "flights", "filter": {"$expr": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}}"#,
        r#"{"collection": "flights", "pipeline": [{"$group": {"_id": null, "x": {"$accumulator": {"init": "function() {}", "accumulate": "function() {}", "accumulateArgs": [], "merge": "function() {}", "lang": "js"}}}}]}"#,
        r#"{"collection": "flights", "filter": {"origin": {"$where": "1"}}}"#,
        r#"{"collection": "flights", "filter": {"code": {"$code": "function() { db.flights.drop() }"}}}"#,
    ] {
        let (report, _) = run_mongo(uri, None, "{}", Some(query));
        match report.result {
            Err(RunError::Source(SourceError::Query { message, .. })) => {
                assert!(message.contains("Quarry refuses"), "{query}: {message}")
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    let after = state();
    assert!(!after.0.iter().any(|n| n == "stolen"), "{:?}", after.0);
    assert_eq!(
        after, before,
        "no collection added or dropped, no flight changed"
    );
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
    let report =
        quarry_engine::run::run_blocking(rt, &sources, &handle, request, &mut *csv_sink, |_| {});
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

/// A find read in `_id` ranges (asked for by `--partition-by _id`) gives the documents of
/// one stream, through a stateless plugin's instances; by default a MongoDB server splits
/// only a large collection and FerretDB (which reads every document for each range) not at
/// all; a sort, an aggregate or another field stays whole or is refused, and says why.
fn a_find_split_in_id_ranges_gives_the_same_rows(uri: &str, ferretdb: bool) {
    seed(uri);
    let rt = runtime();
    let find = r#"{"collection": "flights", "filter": {"origin": {"$in": ["JFK", "EWR"]}}, "projection": {"_id": 0}}"#;
    let run = |parallel: usize, by: Option<&str>, query: &str| {
        let request = RunRequest {
            source: "mongo".into(),
            parallel,
            partition_by: by.map(str::to_owned),
            ..request(rt, Some("units"), "{}", Some(query))
        };
        run_with(rt, &sources(uri), request)
    };
    let (one, one_out) = run(1, None, find);
    let (three, three_out) = run(3, Some("_id"), find);
    one.result.unwrap();
    three.result.as_ref().unwrap();
    assert_eq!(three.stats.streams, 3, "{:?}", three.logs);
    let expected: Vec<Vec<i64>> = sql(&format!(
        "SELECT count(*) FROM ({})",
        demo_subset("origin IN ('JFK', 'EWR')")
    ));
    assert_eq!(three_out.rows() as i64, expected[0][0]);
    assert_eq!(one_out.fields, three_out.fields);
    assert_eq!(
        crate::parallel::rows(&one_out),
        crate::parallel::rows(&three_out)
    );

    let whole = |by: Option<&str>, query: &str| {
        let (report, _) = run(3, by, query);
        report.result.unwrap();
        assert_eq!(report.stats.streams, 1, "{query}");
        report
            .logs
            .iter()
            .map(|l| l.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The default: no note unless a partition field was named, and one stream.
    whole(None, find);
    let sorted = r#"{"collection": "flights", "sort": {"dep_delay": 1}}"#;
    assert!(whole(Some("_id"), sorted).contains("sort: one stream keeps the order"));
    let pipeline = r#"{"collection": "flights", "pipeline": [{"$match": {"origin": "JFK"}}]}"#;
    assert!(whole(Some("_id"), pipeline).contains("aggregation pipeline"));
    let (refused, _) = run(3, Some("dep_delay"), find);
    let error = refused.result.unwrap_err().to_string();
    assert!(
        error.contains("ranges of `_id`, not of `dep_delay`"),
        "{error}"
    );

    let source = MongoSource::new("mongo", uri, DATABASE, 4);
    let query = source.parse_query(find).unwrap();
    let split = tokio().block_on(source.split(&query, 3, None)).unwrap();
    let quarry_sources::split::Split::Whole(why) = split else {
        panic!("{split:?}")
    };
    if ferretdb {
        assert!(why.contains("FerretDB reads every document"), "{why}");
    } else {
        assert!(why.contains("5000 documents are too few to split"), "{why}");
    }
}

/// The schema of a seeded database: `flights` with the fields of a sample of its
/// documents, in the order first met, with their BSON types, and the `_id` index.
fn the_schema_samples_fields_of_each_collection(uri: &str) {
    seed(uri);
    let source = MongoSource::new("mongo", uri, DATABASE, 1);
    let schema = tokio().block_on(source.schema()).unwrap();
    let flights = schema
        .tables
        .iter()
        .find(|t| t.name == "flights")
        .unwrap_or_else(|| panic!("no flights in {:?}", schema.tables));
    assert_eq!(flights.kind, "collection");
    assert_eq!(flights.sampled, Some(100));
    let field = |name: &str| {
        flights
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", flights.columns))
    };
    assert_eq!(flights.columns[0].name, "_id");
    assert_eq!(field("_id").key, Some("primary"));
    assert_eq!(field("_id").data_type, "objectId");
    assert_eq!(field("origin").data_type, "string");
    assert_eq!(field("time_hour").data_type, "date");
    // A cancelled flight's null delay adds `|null` to the integer type.
    let dep_delay = &field("dep_delay").data_type;
    assert!(
        dep_delay.split('|').any(|t| t == "int" || t == "long"),
        "{dep_delay}"
    );
    assert!(
        flights.indexes.iter().any(|i| i.columns == ["_id"]),
        "{:?}",
        flights.indexes
    );
}

/// Explain on a MongoDB-wire server: the `explain` command's answer for a find and an
/// aggregate, as a tree, without running them.
fn explain_answers_the_servers_plan(uri: &str) {
    seed(uri);
    let explain = |query: &str| {
        quarry_engine::run::explain_blocking(
            runtime(),
            &sources(uri),
            tokio().handle(),
            &RunRequest {
                source: "mongo".into(),
                ..request(runtime(), None, "{}", Some(query))
            },
        )
        .result
    };
    for query in [
        r#"{"collection": "flights", "filter": {"origin": "JFK"}, "limit": 5}"#,
        r#"{"collection": "flights", "pipeline": [{"$match": {"origin": "JFK"}}, {"$count": "n"}]}"#,
    ] {
        let (_, plan) = explain(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(plan.method, "explain");
        assert!(!plan.tree.is_empty(), "{query}: {}", plan.raw);
        assert!(plan.raw.is_object(), "{}", plan.raw);
    }
    let refused = explain(r#"{"collection": "flights", "pipeline": [{"$out": "stolen"}]}"#);
    assert!(
        matches!(refused, Err(RunError::Source(SourceError::Query { .. }))),
        "{refused:?}"
    );
}

/// The emulator has no `explain`: a clear error, not a driver dump.
#[test]
fn emulator_explain_says_the_server_cannot() {
    let Some(uri) = emulator() else { return };
    seed(&uri);
    let explained = quarry_engine::run::explain_blocking(
        runtime(),
        &sources(&uri),
        tokio().handle(),
        &RunRequest {
            source: "mongo".into(),
            ..request(runtime(), None, "{}", Some(r#"{"collection": "flights"}"#))
        },
    );
    let error = explained.result.unwrap_err().to_string();
    assert_eq!(
        error,
        "source `mongo`: this server cannot explain a query: it has no `explain` command"
    );
}

#[test]
fn live_explain_answers_the_servers_plan() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        explain_answers_the_servers_plan(&uri);
    }
}

#[test]
fn emulator_the_schema_samples_fields_of_each_collection() {
    if let Some(uri) = emulator() {
        the_schema_samples_fields_of_each_collection(&uri);
    }
}

#[test]
fn live_the_schema_samples_fields_of_each_collection() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        the_schema_samples_fields_of_each_collection(&uri);
    }
}

#[test]
fn emulator_a_find_split_in_id_ranges_gives_the_same_rows() {
    if let Some(uri) = emulator() {
        a_find_split_in_id_ranges_gives_the_same_rows(&uri, false);
    }
}

#[test]
fn live_a_find_split_in_id_ranges_gives_the_same_rows() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        a_find_split_in_id_ranges_gives_the_same_rows(&uri, true);
    }
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
        let _server = common::shared(&SERVER);
        fields_added_later_widen_the_output(&uri);
    }
}

#[test]
fn live_find_matches_sql() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        find_matches_sql(&uri);
    }
}

#[test]
fn live_aggregate_matches_sql() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        aggregate_matches_sql(&uri);
    }
}

#[test]
fn live_plugin_query_matches_the_demo() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        plugin_query_matches_the_demo(&uri);
    }
}

#[test]
fn live_writes_are_refused_before_they_are_sent() {
    if let Some(uri) = live() {
        let _server = common::shared(&SERVER);
        writes_are_refused_before_they_are_sent(&uri);
    }
}

/// The full flights collection in `nycflights13`, as `quarry seed` loads it (kept when it
/// already holds every flight): the database the README, the bench and tests/backends.rs use.
fn seed_full(uri: &str) -> Sources {
    static SEEDED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let source = || MongoSource::new("mongo", uri, "nycflights13", 4);
    let mut seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    if !*seeded {
        // tests/sources/backends.rs loads the same collection with `quarry seed`: the
        // second load finds the first's documents and keeps them.
        let _seeding = common::seeding();
        let demo = quarry_sources::demo::ensure(&data_dir()).unwrap();
        let tables = ["flights".to_owned()];
        tokio()
            .block_on(quarry_sources::seed::seed(
                &Target::Mongo(source()),
                &demo,
                &tables,
                None,
                &mut |_, _| {},
            ))
            .unwrap();
        *seeded = true;
    }
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(source()), SourceSettings::default());
    sources
}

/// A document with a field of every BSON type, and one with each of them null, read back
/// through Quarry.
#[test]
fn live_every_bson_type_maps_with_nulls() {
    let Some(uri) = live() else { return };
    let _server = common::shared(&SERVER);
    use bson::{Bson, doc, oid::ObjectId, spec::BinarySubtype};
    let oid = ObjectId::parse_str("5f0c8a3e9d3b2a1c4e5f6a7b").unwrap();
    let full = doc! {
        "n": 1_i32,
        "f_double": 2.5_f64,
        "f_string": "näïve ✈",
        "f_document": { "a": 1_i32, "b": "x" },
        "f_array": [1_i32, "x"],
        "f_binary": Bson::Binary(bson::Binary { subtype: BinarySubtype::Generic, bytes: vec![0xca, 0xfe] }),
        "f_object_id": oid,
        "f_bool": true,
        "f_date": bson::DateTime::from_millis(1_357_034_400_123),
        "f_null": Bson::Null,
        "f_int32": i32::MIN,
        "f_int64": i64::MIN,
        "f_timestamp": Bson::Timestamp(bson::Timestamp { time: 1, increment: 2 }),
        "f_regex": Bson::RegularExpression(bson::Regex { pattern: "ab+".into(), options: "i".into() }),
    };
    let mut empty = doc! { "n": 2_i32 };
    for (key, _) in full.iter().skip(1) {
        empty.insert(key.clone(), Bson::Null);
    }
    tokio().block_on(async {
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let types = client
            .database(DATABASE)
            .collection::<bson::Document>("every_type");
        let _ = types.drop().await;
        types.insert_many([full, empty]).await.unwrap();
    });
    let query = r#"{"collection": "every_type", "projection": {"_id": 0}, "sort": {"n": 1}}"#;
    let (report, out) = run_mongo(&uri, None, "{}", Some(query));
    report.result.unwrap();
    assert_eq!(out.rows(), 2);
    use quarry_core::batch::DataType;
    let expected: &[(&str, DataType, Owned)] = &[
        ("f_double", DataType::Float64, Owned::Float(2.5)),
        ("f_string", DataType::Text, Owned::Text("näïve ✈".into())),
        (
            "f_document",
            DataType::Json,
            Owned::Text(r#"{"a":1,"b":"x"}"#.into()),
        ),
        ("f_array", DataType::Json, Owned::Text(r#"[1,"x"]"#.into())),
        ("f_binary", DataType::Bytes, Owned::Bytes(vec![0xca, 0xfe])),
        (
            "f_object_id",
            DataType::Text,
            Owned::Text("5f0c8a3e9d3b2a1c4e5f6a7b".into()),
        ),
        ("f_bool", DataType::Boolean, Owned::Bool(true)),
        (
            "f_date",
            DataType::Timestamp,
            Owned::Int(1_357_034_400_123_000),
        ),
        ("f_null", DataType::Text, Owned::Null),
        ("f_int32", DataType::Int64, Owned::Int(i64::from(i32::MIN))),
        ("f_int64", DataType::Int64, Owned::Int(i64::MIN)),
        (
            "f_timestamp",
            DataType::Json,
            Owned::Text(r#"{"$timestamp":{"t":1,"i":2}}"#.into()),
        ),
        (
            "f_regex",
            DataType::Json,
            Owned::Text(r#"{"$regularExpression":{"pattern":"ab+","options":"i"}}"#.into()),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, data_type, value) in expected {
        let Some(field) = out.fields.iter().find(|f| f.name == *name) else {
            wrong.push(format!("{name}: missing"));
            continue;
        };
        let column = out.column(name);
        if field.data_type != *data_type || column[0] != *value || column[1] != Owned::Null {
            wrong.push(format!(
                "{name}: {:?} {:?} and {:?}, expected {data_type:?} {value:?} and Null",
                field.data_type, column[0], column[1]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Memory stays flat however large the result: the peak memory of `quarry run` over
/// every flight is within 64 MiB of its peak over the first thousand.
#[test]
fn live_a_full_collection_streams_through_the_cursor() {
    let Some(uri) = live() else { return };
    let _server = common::shared(&SERVER);
    seed_full(&uri);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[[source]]\nname = 'mongo'\nbackend = 'mongo'\nurl = '{uri}'\ndatabase = 'nycflights13'\n"),
    )
    .unwrap();
    let query = r#"{"collection": "flights", "projection": {"_id": 0}}"#;
    assert_streams_in_flat_memory(config.path(), "mongo", query, 336_776);
}

/// A query past its `maxTimeMS` (the run's timeout) is stopped by the server, and
/// reported as a timeout.
#[test]
fn live_a_query_the_server_times_out_is_a_timeout() {
    let Some(uri) = live() else { return };
    let _server = common::shared(&SERVER);
    // The first 5,000 flights: about a second of scanning for FerretDB, which checks
    // maxTimeMS between documents.
    seed(&uri);
    let sources = sources(&uri);
    let rt = runtime();
    let slow = RunRequest {
        source: "mongo".into(),
        timeout: std::time::Duration::from_millis(5),
        ..request(
            rt,
            None,
            "{}",
            Some(
                r#"{"collection": "flights", "filter": {"tailnum": {"$regex": "^nothing"}, "dep_delay": {"$gt": 100000}}}"#,
            ),
        )
    };
    let (report, _) = run_with(rt, &sources, slow);
    match report.result {
        Err(RunError::Source(SourceError::Timeout { source_name, .. })) => {
            assert_eq!(source_name, "mongo")
        }
        other => panic!("{other:?}"),
    }
    let (report, out) = run_with(
        rt,
        &sources,
        RunRequest {
            source: "mongo".into(),
            ..request(
                rt,
                None,
                "{}",
                Some(r#"{"collection": "flights", "limit": 3}"#),
            )
        },
    );
    report.result.unwrap();
    assert_eq!(out.rows(), 3);
}

/// The server stopped in the middle of a run: the run ends with an error saying the
/// source is unavailable; once the server is back, the next run on the same source works.
#[test]
fn live_the_server_stopped_mid_run_is_a_clear_error_and_the_next_run_works() {
    let Some(uri) = live() else { return };
    let _server = common::exclusive(&SERVER);
    let Some(control) = server_control("QUARRY_TEST_FERRETDB_CONTROL") else {
        return;
    };
    let sources = seed_full(&uri);
    let rt = runtime();
    let slow = RunRequest {
        source: "mongo".into(),
        batch_rows: 500,
        ..request(
            rt,
            Some("hostile"),
            r#"{"attack": "slow", "ms": 20}"#,
            Some(r#"{"collection": "flights", "projection": {"_id": 0}}"#),
        )
    };
    let (report, out) = run_across_a_restart(&sources, &control, slow);
    let error = report.result.expect_err("the run cannot survive the stop");
    eprintln!("the run's error: {error}");
    assert!(
        out.rows() > 0 && out.rows() < 336_776,
        "{} rows",
        out.rows()
    );
    assert!(
        matches!(error, RunError::Source(SourceError::Unavailable { .. })),
        "{error:?}"
    );
    let out = first_success(&sources, || RunRequest {
        source: "mongo".into(),
        ..request(
            rt,
            None,
            "{}",
            Some(r#"{"collection": "flights", "limit": 2}"#),
        )
    });
    assert_eq!(out.rows(), 2);
}
