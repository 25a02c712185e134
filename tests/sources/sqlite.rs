//! The SQLite source: type mapping from declared and inferred types, streaming in batches,
//! the timeout, cancellation, and read-only enforcement.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use quarry_core::batch::DataType;
use quarry_engine::run::{RunError, RunRequest};
use quarry_sources::{Source, SourceError, Sources};

fn types_db() -> tempfile::TempPath {
    let file = tempfile::Builder::new()
        .suffix(".sqlite")
        .tempfile()
        .unwrap()
        .into_temp_path();
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (b BOOLEAN, i INTEGER, r REAL, s TEXT, x BLOB, ts TIMESTAMP, d DATE,
                         u UUID, n DECIMAL(10,2), j JSON);
         INSERT INTO t VALUES (1, -42, 2.5, 'ünï ✈', x'00ff', '2013-01-01 10:00:00', '2013-07-04',
                               '6F9619FF-8B86-D011-B42D-00C04FC964FF', '12.30', '{\"a\": [1, 2]}');
         INSERT INTO t VALUES (NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .unwrap();
    file
}

#[test]
fn declared_types_map_to_quarry_types() {
    let db = types_db();
    let source = format!("sqlite:{}", db.display());
    let rt = runtime();
    let req = RunRequest {
        source,
        ..request(rt, Some("identity"), "{}", Some("SELECT * FROM t"))
    };
    let (report, out) = run_on(rt, req);
    report.result.unwrap();
    let types: Vec<DataType> = out.fields.iter().map(|f| f.data_type).collect();
    use DataType::*;
    assert_eq!(
        types,
        [
            Boolean, Int64, Float64, Text, Bytes, Timestamp, Date, Uuid, Decimal, Json
        ]
    );
    let row0: Vec<Owned> = out
        .fields
        .iter()
        .map(|f| out.column(&f.name)[0].clone())
        .collect();
    assert_eq!(row0[0], Owned::Bool(true));
    assert_eq!(row0[1], Owned::Int(-42));
    assert_eq!(row0[2], Owned::Float(2.5));
    assert_eq!(row0[3], Owned::Text("ünï ✈".into()));
    assert_eq!(row0[4], Owned::Bytes(vec![0, 0xff]));
    assert_eq!(
        row0[5],
        Owned::Int(quarry_core::datetime::parse_timestamp("2013-01-01T10:00:00Z").unwrap())
    );
    assert_eq!(
        row0[6],
        Owned::Int(quarry_core::datetime::days_from_civil(2013, 7, 4))
    );
    assert_eq!(
        row0[7],
        Owned::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
    );
    // DECIMAL has NUMERIC affinity: SQLite itself stores '12.30' as the number 12.3.
    assert_eq!(row0[8], Owned::Text("12.3".into()));
    assert_eq!(row0[9], Owned::Text("{\"a\": [1, 2]}".into()));
    // Row 1: every column null except the empty string, which stays distinct from null.
    for f in &out.fields {
        let expected = if f.name == "s" {
            Owned::Text(String::new())
        } else {
            Owned::Null
        };
        assert_eq!(out.column(&f.name)[1], expected, "{}", f.name);
    }
}

#[test]
fn expression_columns_take_the_type_of_their_values() {
    let (_, out) = run_ok(
        None,
        "{}",
        Some("SELECT 1 AS i, 1.5 AS f, 'x' AS s, NULL AS n, x'01' AS b"),
    );
    let types: Vec<DataType> = out.fields.iter().map(|f| f.data_type).collect();
    use DataType::*;
    assert_eq!(types, [Int64, Float64, Text, Text, Bytes]);
    // A leading null does not decide the type: the first value in the first batch does.
    let (_, out) = run_ok(
        None,
        "{}",
        Some("SELECT NULL AS d UNION ALL SELECT 5 UNION ALL SELECT 2.0"),
    );
    assert_eq!(out.fields[0].data_type, Int64);
    assert_eq!(out.column("d"), [Owned::Null, Owned::Int(5), Owned::Int(2)]);
}

#[test]
fn rows_stream_in_batches() {
    let rt = runtime();
    let sources = Sources::with_demo(data_dir());
    let req = RunRequest {
        batch_rows: 1000,
        ..request(rt, Some("identity"), "{}", Some("SELECT * FROM flights"))
    };
    let (report, sink, first_progress) = run_with_first_progress(rt, &sources, req);
    report.result.unwrap();
    assert_eq!(
        first_progress,
        Some(1000),
        "the plugin saw the first batch before the rest was read"
    );
    assert_eq!(sink.rows(), 336_776);
    assert_eq!(sink.batches.len(), 337);
    assert!(sink.batches.iter().all(|b| b.num_rows <= 1000));
}

const FOREVER: &str =
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r";

#[test]
fn a_query_past_its_timeout_is_stopped() {
    let rt = runtime();
    let req = RunRequest {
        timeout: Duration::from_millis(300),
        ..request(rt, None, "{}", Some(FOREVER))
    };
    let started = Instant::now();
    let (report, _) = run_on(rt, req);
    assert!(
        matches!(
            report.result,
            Err(RunError::Source(SourceError::Timeout { .. }))
        ),
        "{:?}",
        report.result
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The timeout is for SQLite's own work: a reader that takes its batches slowly (a slow
/// page, a slow plugin) does not make a quick query time out.
#[test]
fn waiting_for_a_slow_reader_does_not_count_against_the_timeout() {
    let sources = Sources::with_demo(data_dir());
    let source = sources.get("demo").unwrap();
    let options = quarry_sources::StreamOptions {
        batch_rows: 100,
        max_rows: None,
        timeout: Duration::from_millis(300),
        cancel: Default::default(),
        notes: Default::default(),
    };
    let query = source
        .parse_query("SELECT * FROM flights ORDER BY time_hour LIMIT 2000")
        .unwrap();
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<quarry_core::batch::Batch>(1);
    let rows = tokio().block_on(async {
        let reading = tokio::spawn(async move {
            let mut rows = 0;
            while let Some(batch) = rx.recv().await {
                rows += batch.num_rows;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            rows
        });
        let streamed = source.stream(query, options, tx).await;
        streamed.map(|()| reading)
    });
    let rows = tokio().block_on(rows.unwrap()).unwrap();
    assert_eq!(rows, 2000);
    assert!(
        started.elapsed() > Duration::from_millis(900),
        "the reader was slow: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_cancelled_run_stops_the_database_and_the_plugin() {
    let rt = runtime();
    let req = request(rt, Some("identity"), "{}", Some(FOREVER));
    let cancel = req.cancel.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        cancel.store(true, Ordering::Relaxed);
    });
    let (report, _) = run_on(rt, req);
    assert!(
        matches!(report.result, Err(RunError::Source(SourceError::Cancelled))),
        "{:?}",
        report.result
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn writes_and_escapes_are_refused_and_the_data_is_unchanged() {
    let before: Vec<Vec<i64>> = sql("SELECT count(*) FROM flights");
    let rt = runtime();
    for query in [
        "DELETE FROM flights",
        "UPDATE flights SET dep_delay = 0",
        "INSERT INTO airlines VALUES ('ZZ', 'Zed')",
        "DROP TABLE flights",
        "CREATE TABLE x (a)",
        "ATTACH DATABASE '/tmp/quarry-attack.db' AS a",
        "PRAGMA writable_schema = 1",
        "SELECT 1; DELETE FROM flights",
        "BEGIN",
        "VACUUM",
        "SELECT ?",
        "SELECT load_extension('/tmp/x.so')",
    ] {
        let (report, _) = run_on(rt, request(rt, None, "{}", Some(query)));
        assert!(
            matches!(report.result, Err(RunError::Source(_))),
            "{query}: {:?}",
            report.result
        );
    }
    assert_eq!(sql::<i64>("SELECT count(*) FROM flights"), before);
    assert!(!std::path::Path::new("/tmp/quarry-attack.db").exists());
    // Reading the schema is allowed.
    let (_, out) = run_ok(None, "{}", Some("PRAGMA table_info(flights)"));
    assert_eq!(out.rows(), 19);
}

/// The schema browser's view of the demo: every table in name order, columns in table
/// order with their declared types, keys, nullability and the indexes.
#[test]
fn the_demo_schema_lists_tables_columns_keys_and_indexes() {
    let sources = Sources::with_demo(data_dir());
    let schema = tokio()
        .block_on(sources.get("demo").unwrap().schema())
        .unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["airlines", "airports", "flights", "planes", "weather"]
    );
    let flights = &schema.tables[2];
    assert_eq!(flights.kind, "table");
    let columns: Vec<&str> = flights.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns.len(), 19);
    assert_eq!(&columns[..4], ["year", "month", "day", "dep_time"]);
    assert_eq!(columns[18], "time_hour");
    let column = |table: usize, name: &str| {
        schema.tables[table]
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .clone()
    };
    let dep_delay = column(2, "dep_delay");
    assert_eq!(
        (
            dep_delay.data_type.as_str(),
            dep_delay.nullable,
            dep_delay.key
        ),
        ("INTEGER", Some(true), None)
    );
    assert_eq!(column(2, "time_hour").data_type, "TIMESTAMP");
    assert_eq!(column(2, "origin").nullable, Some(false));
    assert_eq!(column(0, "carrier").key, Some("primary"));
    let route = flights
        .indexes
        .iter()
        .find(|i| i.name == "flights_route")
        .expect("the route index is listed");
    assert_eq!(route.columns, ["origin", "dest", "time_hour"]);
    assert!(!route.unique);
    // airlines' TEXT PRIMARY KEY is a unique index SQLite made for it.
    assert!(schema.tables[0].indexes.iter().any(|i| i.unique));
}

/// A file with a view and an expression index: the view is listed as one, and the
/// expression (no column name) is left out of the index's columns.
#[test]
fn a_schema_lists_views_and_expression_indexes() {
    let file = tempfile::Builder::new()
        .suffix(".sqlite")
        .tempfile()
        .unwrap()
        .into_temp_path();
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c);
         CREATE INDEX t_lower ON t (lower(b), a);
         CREATE VIEW v AS SELECT a, b FROM t;",
    )
    .unwrap();
    drop(conn);
    let source = quarry_sources::sqlite::SqliteSource::open("file", &file).unwrap();
    let schema = tokio().block_on(source.schema()).unwrap();
    let kinds: Vec<(&str, &str)> = schema
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.kind))
        .collect();
    assert_eq!(kinds, [("t", "table"), ("v", "view")]);
    let t = &schema.tables[0];
    assert_eq!(t.columns[0].key, Some("primary"));
    assert_eq!(
        t.columns[2].data_type, "",
        "a column without a declared type"
    );
    assert_eq!(t.indexes[0].name, "t_lower");
    assert_eq!(t.indexes[0].columns, ["a"]);
    assert_eq!(schema.tables[1].columns.len(), 2);
}

/// Every label of a plan's tree, depth first.
pub fn plan_labels(nodes: &[quarry_sources::explain::PlanNode]) -> Vec<String> {
    nodes
        .iter()
        .flat_map(|n| std::iter::once(n.label.clone()).chain(plan_labels(&n.children)))
        .collect()
}

/// Explain answers SQLite's plan without reading rows: the route index for a route, the
/// plugin's own query (with its params) when it builds one, and a write refused as a run
/// refuses it.
#[test]
fn explain_gives_the_query_plan_without_running_it() {
    let rt = runtime();
    let sources = Sources::with_demo(data_dir());
    let explain = |request: RunRequest| {
        quarry_engine::run::explain_blocking(rt, &sources, tokio().handle(), &request)
    };
    let route = "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX'";
    let explained = explain(request(rt, None, "{}", Some(route)));
    let (query, plan) = explained.result.unwrap();
    assert_eq!(plan.method, "EXPLAIN QUERY PLAN");
    let labels = plan_labels(&plan.tree);
    assert!(
        labels
            .iter()
            .any(|l| l.contains("USING INDEX flights_route")),
        "{labels:?}"
    );
    assert_eq!(query.text(), route);
    assert!(plan.raw.as_array().is_some_and(|rows| !rows.is_empty()));

    // A plugin that builds its query: the plan is of its query, with its params bound.
    let explained = explain(request(
        rt,
        Some("flights_between"),
        r#"{"origin": "JFK", "dest": "LAX"}"#,
        None,
    ));
    let (query, plan) = explained.result.unwrap();
    assert!(query.text().contains("origin = ?1"), "{}", query.text());
    assert!(
        plan_labels(&plan.tree)
            .iter()
            .any(|l| l.contains("flights_route")),
        "{:?}",
        plan.tree
    );

    for (query, kind) in [
        ("DELETE FROM flights", "read-only"),
        ("SELECT * FROM nowhere", "no such table"),
    ] {
        let error = explain(request(rt, None, "{}", Some(query)))
            .result
            .unwrap_err()
            .to_string();
        assert!(error.contains(kind), "{query}: {error}");
    }
    assert_eq!(
        sql::<i64>("SELECT count(*) FROM flights"),
        [[336_776]],
        "nothing was deleted"
    );
}
