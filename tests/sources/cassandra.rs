//! The ScyllaDB/Cassandra source against a real CQL server.
//!
//! `scripts/test.sh` (so CI) installs Apache Cassandra 5.0 from Maven Central, starts it
//! (`scripts/cassandra.sh`) and sets QUARRY_TEST_CASSANDRA_URI (`host:port`), and
//! QUARRY_TEST_CASSANDRA_CONTROL, the command that stops (`… stop`) and starts it. In CI a
//! missing server fails these tests; elsewhere they say they were skipped. Against a
//! ScyllaDB node (`docker compose up scylla`), set QUARRY_TEST_SCYLLA_URI instead: the same
//! tests run, plus the one that needs ScyllaDB itself.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use quarry_core::batch::DataType;
use quarry_engine::compare::first_difference;
use quarry_engine::run::{RunError, RunRequest};
use quarry_sources::config::SourceSettings;
use quarry_sources::scylla::ScyllaSource;
use quarry_sources::seed::Target;
use quarry_sources::{Query, Source, SourceError, Sources, Statement, StreamOptions, Value};
use scylla::client::session::Session;

/// The keyspace `quarry seed` fills with the demo's tables, shared with the other tests
/// and the benchmark.
const KEYSPACE: &str = "nycflights13";
/// A keyspace of this file's own tables (types, parameters).
const SCRATCH: &str = "quarry_test";

// Tests take this for reading; the one that stops the server takes it for writing.
use crate::common::CASSANDRA as SERVER;

fn contact_point() -> Option<String> {
    live_server(
        &["QUARRY_TEST_CASSANDRA_URI", "QUARRY_TEST_SCYLLA_URI"],
        "a CQL server's host:port (scripts/cassandra.sh prints one)",
    )
}

fn source(node: &str, keyspace: &str) -> ScyllaSource {
    ScyllaSource::new(
        "cassandra",
        vec![node.to_owned()],
        Some(keyspace.to_owned()),
    )
}

/// Loads every demo table into [`KEYSPACE`] with `quarry seed`, once per test process (a
/// table already holding the demo's rows is kept).
fn seed(node: &str) {
    static SEEDED: Mutex<bool> = Mutex::new(false);
    let mut seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    if *seeded {
        return;
    }
    let _seeding = common::seeding();
    let demo = quarry_sources::demo::ensure(&data_dir()).unwrap();
    tokio()
        .block_on(quarry_sources::seed::seed(
            &Target::Scylla(source(node, KEYSPACE)),
            &demo,
            &[],
            None,
            &mut |_, _| {},
        ))
        .unwrap();
    *seeded = true;
}

fn sources(node: &str) -> Sources {
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(source(node, KEYSPACE)), SourceSettings::default());
    sources
}

fn on_cassandra(plugin: Option<&str>, params: &str, query: Option<&str>) -> RunRequest {
    RunRequest {
        source: "cassandra".into(),
        ..request(runtime(), plugin, params, query)
    }
}

/// A session of the test's own, to write the tables it reads and to check data unchanged.
fn session(node: &str) -> Session {
    tokio().block_on(async {
        scylla::client::session_builder::SessionBuilder::new()
            .known_node(node)
            .build()
            .await
            .unwrap()
    })
}

fn cql(session: &Session, text: &str) {
    let mut statement = scylla::statement::unprepared::Statement::new(text);
    statement.set_request_timeout(Some(Duration::from_secs(60)));
    tokio()
        .block_on(session.query_unpaged(statement, &[]))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

fn scratch_keyspace(session: &Session) {
    cql(
        session,
        &format!(
            "CREATE KEYSPACE IF NOT EXISTS {SCRATCH} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    );
}

fn count(session: &Session, table: &str) -> i64 {
    let mut statement =
        scylla::statement::unprepared::Statement::new(format!("SELECT count(*) FROM {table}"));
    statement.set_request_timeout(Some(Duration::from_secs(120)));
    let result = tokio()
        .block_on(session.query_unpaged(statement, &[]))
        .unwrap();
    result
        .into_rows_result()
        .unwrap()
        .single_row::<(i64,)>()
        .unwrap()
        .0
}

/// The names of the tables, functions and keyspaces that exist (but the scratch keyspace's):
/// what a write would change.
fn schema(session: &Session) -> Vec<String> {
    let mut names = Vec::new();
    for (what, query) in [
        (
            "keyspace",
            "SELECT keyspace_name FROM system_schema.keyspaces",
        ),
        (
            "table",
            "SELECT keyspace_name, table_name FROM system_schema.tables",
        ),
        (
            "function",
            "SELECT keyspace_name, function_name FROM system_schema.functions",
        ),
        (
            "index",
            "SELECT keyspace_name, index_name FROM system_schema.indexes",
        ),
    ] {
        let result = tokio().block_on(session.query_unpaged(query, &[])).unwrap();
        let rows = result.into_rows_result().unwrap();
        for row in rows.rows::<scylla::value::Row>().unwrap() {
            let row = row.unwrap();
            let parts: Vec<String> = row
                .columns
                .iter()
                .map(|c| format!("{:?}", c.as_ref().and_then(|v| v.as_text())))
                .collect();
            // The scratch keyspace is other tests' to change meanwhile.
            if !parts[0].contains(SCRATCH) {
                names.push(format!("{what} {}", parts.join(".")));
            }
        }
    }
    names.sort();
    names
}

const ALL_COLUMNS: &str = "year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, \
    sched_arr_time, arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, \
    hour, minute, time_hour";

#[test]
fn live_select_matches_the_demo_in_batch_sized_pages() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let route = "WHERE origin = 'JFK' AND dest = 'LAX'";
    let query = format!("SELECT {ALL_COLUMNS} FROM flights {route}");
    let (report, out) = run_with(
        runtime(),
        &sources(&node),
        RunRequest {
            batch_rows: 100,
            ..on_cassandra(None, "{}", Some(&query))
        },
    );
    report.result.unwrap();
    let (_, demo) = run_ok(
        None,
        "{}",
        Some(&format!(
            "SELECT {ALL_COLUMNS} FROM flights {route} ORDER BY time_hour, carrier, flight, rowid"
        )),
    );
    assert_eq!(out.rows(), 11_262, "every JFK→LAX flight");
    assert!(
        out.batches.iter().all(|b| b.num_rows <= 100),
        "pages are batch-sized"
    );
    assert_eq!(first_difference(&demo, &out), None);
    let types: Vec<DataType> = out.fields.iter().map(|f| f.data_type).collect();
    assert_eq!(
        types,
        demo.fields.iter().map(|f| f.data_type).collect::<Vec<_>>()
    );
}

/// Every statement that could change data or schema is refused before it reaches the
/// server; afterwards the server's tables, functions and row counts are as they were.
#[test]
fn live_hostile_cql_is_refused_and_the_data_is_unchanged() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let admin = session(&node);
    let before = schema(&admin);
    let airlines = count(&admin, "nycflights13.airlines");
    let rt = runtime();
    for bad in [
        "DELETE FROM flights WHERE origin = 'JFK' AND dest = 'LAX'",
        "INSERT INTO airlines (carrier, name) VALUES ('XX', 'Stolen')",
        "INSERT INTO airlines JSON '{\"carrier\": \"XX\", \"name\": \"x\"}'",
        "UPDATE airlines SET name = 'x' WHERE carrier = 'AA'",
        "update airlines set name = 'x' where carrier = 'AA' IF EXISTS",
        "BEGIN BATCH INSERT INTO airlines (carrier, name) VALUES ('XX', 'x'); APPLY BATCH",
        "TRUNCATE flights",
        "TRUNCATE TABLE nycflights13.airlines",
        "DROP TABLE flights",
        "DROP KEYSPACE nycflights13",
        "CREATE TABLE stolen (a int PRIMARY KEY)",
        "CREATE KEYSPACE stolen WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE FUNCTION nycflights13.f (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'",
        "CREATE INDEX ON airlines (name)",
        "CREATE MATERIALIZED VIEW v AS SELECT * FROM airlines WHERE carrier IS NOT NULL PRIMARY KEY (carrier)",
        "ALTER TABLE airlines ADD x int",
        "ALTER KEYSPACE nycflights13 WITH durable_writes = false",
        "USE system",
        "GRANT SELECT ON ALL KEYSPACES TO bob",
        "CREATE ROLE bob WITH PASSWORD = 'x' AND LOGIN = true",
        "SELECT * FROM airlines; DROP TABLE airlines",
        "SELECT * FROM airlines; -- fine\n DELETE FROM airlines WHERE carrier = 'AA'",
        "/* SELECT */ DELETE FROM airlines WHERE carrier = 'AA'",
        "// SELECT\nTRUNCATE airlines",
        "sElEcT * FROM airlines;INSERT INTO airlines (carrier, name) VALUES ('XX', 'x')",
        "SELECT * FROM airlines WHERE carrier = $$x$$; DROP TABLE airlines",
    ] {
        let (report, _) = run_with(rt, &sources(&node), on_cassandra(None, "{}", Some(bad)));
        assert!(
            matches!(
                report.result,
                Err(RunError::Source(SourceError::NotReadOnly { .. }))
            ),
            "{bad}: {:?}",
            report.result
        );
    }
    assert_eq!(
        schema(&admin),
        before,
        "no table, keyspace, function or index changed"
    );
    assert_eq!(count(&admin, "nycflights13.airlines"), airlines);
    let (report, out) = run_with(
        rt,
        &sources(&node),
        on_cassandra(
            None,
            "{}",
            Some("SELECT carrier, name FROM airlines WHERE carrier = 'AA'"),
        ),
    );
    report.result.unwrap();
    assert_eq!(
        out.column("name"),
        [Owned::Text("American Airlines Inc.".into())]
    );
}

/// Token ranges, each its own paged stream, give the rows one stream gives: a full scan
/// and an `ALLOW FILTERING` one.
#[test]
fn live_a_scan_split_in_token_ranges_gives_the_same_rows() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let queries = [
        (None, "SELECT * FROM weather", 26_115),
        (
            Some("units"),
            "SELECT * FROM flights WHERE carrier = 'UA' ALLOW FILTERING",
            58_665,
        ),
    ];
    for (plugin, query, expected) in queries {
        let run = |parallel| {
            let (report, out) = run_with(
                runtime(),
                &sources(&node),
                RunRequest {
                    parallel,
                    ..on_cassandra(plugin, "{}", Some(query))
                },
            );
            report.result.as_ref().unwrap();
            (report, out)
        };
        let (one, one_out) = run(1);
        let (four, four_out) = run(4);
        assert_eq!((one.stats.streams, four.stats.streams), (1, 4), "{query}");
        assert_eq!(four_out.rows() as u64, expected, "{query}");
        assert_eq!(
            crate::parallel::rows(&one_out),
            crate::parallel::rows(&four_out),
            "{query}"
        );
    }
}

#[test]
fn live_the_example_plugin_gives_the_demo_answer() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let params = r#"{"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-07"}"#;
    let (_, on_demo) = run_ok(Some("flights_between"), params, None);
    let (report, on_cql) = run_with(
        runtime(),
        &sources(&node),
        on_cassandra(Some("flights_between"), params, None),
    );
    report.result.unwrap();
    assert_eq!(on_demo.rows(), 217);
    assert_eq!(first_difference(&on_demo, &on_cql), None);
}

/// A table with a column of every CQL type, one row holding a value in each and one
/// holding nulls, read back through Quarry.
#[test]
fn live_every_cql_type_maps_with_nulls() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    let admin = session(&node);
    scratch_keyspace(&admin);
    cql(
        &admin,
        &format!("DROP TABLE IF EXISTS {SCRATCH}.every_type"),
    );
    cql(
        &admin,
        &format!("CREATE TYPE IF NOT EXISTS {SCRATCH}.address (city text, zip int)"),
    );
    cql(
        &admin,
        &format!(
            "CREATE TABLE {SCRATCH}.every_type (k int PRIMARY KEY, \
             a_ascii ascii, a_bigint bigint, a_blob blob, a_boolean boolean, a_date date, \
             a_decimal decimal, a_double double, a_duration duration, a_float float, \
             a_inet inet, a_int int, a_smallint smallint, a_text text, a_time time, \
             a_timestamp timestamp, a_timeuuid timeuuid, a_tinyint tinyint, a_uuid uuid, \
             a_varchar varchar, a_varint varint, a_list list<int>, a_set set<text>, \
             a_map map<text, int>, a_int_map map<int, text>, a_tuple tuple<int, text>, \
             a_udt frozen<address>, a_vector vector<float, 3>)"
        ),
    );
    cql(
        &admin,
        &format!(
            "INSERT INTO {SCRATCH}.every_type (k, a_ascii, a_bigint, a_blob, a_boolean, a_date, \
             a_decimal, a_double, a_duration, a_float, a_inet, a_int, a_smallint, a_text, a_time, \
             a_timestamp, a_timeuuid, a_tinyint, a_uuid, a_varchar, a_varint, a_list, a_set, \
             a_map, a_int_map, a_tuple, a_udt, a_vector) VALUES (1, 'abc', -9223372036854775808, \
             0xcafe, true, '2013-03-01', -12.340, 2.5, 1mo2d3s, 1.5, '10.0.0.1', -2147483648, \
             -32768, 'näïve ✈', '13:45:01.5', '2013-01-01T10:00:00.123Z', \
             50554d6e-29bb-11e5-b345-feff819cdc9f, -128, 123e4567-e89b-12d3-a456-426614174000, \
             'v', 18446744073709551616, [1, 2], {{'b', 'a'}}, {{'x': 1}}, {{2: 'two'}}, \
             (7, 'seven'), {{city: 'NYC', zip: null}}, [1.0, 2.5, -3.0])"
        ),
    );
    cql(
        &admin,
        &format!("INSERT INTO {SCRATCH}.every_type (k) VALUES (2)"),
    );

    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(source(&node, SCRATCH)), SourceSettings::default());
    let (report, out) = run_with(
        runtime(),
        &sources,
        on_cassandra(
            None,
            "{}",
            Some("SELECT * FROM every_type WHERE k IN (1, 2)"),
        ),
    );
    report.result.unwrap();
    assert_eq!(out.rows(), 2);
    let expected: &[(&str, DataType, Owned)] = &[
        ("a_ascii", DataType::Text, Owned::Text("abc".into())),
        ("a_bigint", DataType::Int64, Owned::Int(i64::MIN)),
        ("a_blob", DataType::Bytes, Owned::Bytes(vec![0xca, 0xfe])),
        ("a_boolean", DataType::Boolean, Owned::Bool(true)),
        ("a_date", DataType::Date, Owned::Int(15_765)),
        (
            "a_decimal",
            DataType::Decimal,
            Owned::Text("-12.340".into()),
        ),
        ("a_double", DataType::Float64, Owned::Float(2.5)),
        ("a_duration", DataType::Text, Owned::Text("P1M2DT3S".into())),
        ("a_float", DataType::Float64, Owned::Float(1.5)),
        ("a_inet", DataType::Text, Owned::Text("10.0.0.1".into())),
        ("a_int", DataType::Int64, Owned::Int(-2_147_483_648)),
        ("a_smallint", DataType::Int64, Owned::Int(-32_768)),
        ("a_text", DataType::Text, Owned::Text("näïve ✈".into())),
        (
            "a_time",
            DataType::Text,
            Owned::Text("13:45:01.500000000".into()),
        ),
        (
            "a_timestamp",
            DataType::Timestamp,
            Owned::Int(1_357_034_400_123_000),
        ),
        (
            "a_timeuuid",
            DataType::Uuid,
            Owned::Text("50554d6e-29bb-11e5-b345-feff819cdc9f".into()),
        ),
        ("a_tinyint", DataType::Int64, Owned::Int(-128)),
        (
            "a_uuid",
            DataType::Uuid,
            Owned::Text("123e4567-e89b-12d3-a456-426614174000".into()),
        ),
        ("a_varchar", DataType::Text, Owned::Text("v".into())),
        (
            "a_varint",
            DataType::Decimal,
            Owned::Text("18446744073709551616".into()),
        ),
        ("a_list", DataType::Json, Owned::Text("[1,2]".into())),
        ("a_set", DataType::Json, Owned::Text(r#"["a","b"]"#.into())),
        ("a_map", DataType::Json, Owned::Text(r#"{"x":1}"#.into())),
        (
            "a_int_map",
            DataType::Json,
            Owned::Text(r#"[[2,"two"]]"#.into()),
        ),
        (
            "a_tuple",
            DataType::Json,
            Owned::Text(r#"[7,"seven"]"#.into()),
        ),
        (
            "a_udt",
            DataType::Json,
            Owned::Text(r#"{"city":"NYC","zip":null}"#.into()),
        ),
        (
            "a_vector",
            DataType::Json,
            Owned::Text("[1.0,2.5,-3.0]".into()),
        ),
    ];
    let ks: Vec<Owned> = out.column("k");
    let (full, empty) = if ks[0] == Owned::Int(1) {
        (0, 1)
    } else {
        (1, 0)
    };
    let mut wrong = Vec::new();
    for (name, data_type, value) in expected {
        let field = out.fields.iter().find(|f| f.name == *name).unwrap();
        let column = out.column(name);
        if field.data_type != *data_type || column[full] != *value || column[empty] != Owned::Null {
            wrong.push(format!(
                "{name}: {:?} {:?} and {:?}, expected {data_type:?} {value:?} and Null",
                field.data_type, column[full], column[empty]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(out.fields.len(), expected.len() + 1, "and k");
}

/// A plugin's parameters have five types; each binds to the CQL columns it can fill, and
/// one that does not fit is an error naming the parameter, the column and why.
#[test]
fn live_parameters_bind_by_the_column_types() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    let admin = session(&node);
    scratch_keyspace(&admin);
    cql(&admin, &format!("DROP TABLE IF EXISTS {SCRATCH}.params"));
    cql(
        &admin,
        &format!(
            "CREATE TABLE {SCRATCH}.params (k int, s smallint, t tinyint, ts timestamp, d date, \
             ip inet, id uuid, tid timeuuid, tm time, n varint, x decimal, f float, \
             PRIMARY KEY (k, s, t, ts, d, ip, id, tid, tm, n, x, f))"
        ),
    );
    cql(
        &admin,
        &format!(
            "INSERT INTO {SCRATCH}.params (k, s, t, ts, d, ip, id, tid, tm, n, x, f) VALUES \
             (1, 2, 3, '2013-01-01T10:00:00Z', '2013-01-01', '10.0.0.1', \
             123e4567-e89b-12d3-a456-426614174000, 50554d6e-29bb-11e5-b345-feff819cdc9f, \
             '13:45:00', 5, 1.25, 0.5)"
        ),
    );
    let source = source(&node, SCRATCH);
    let run = |params: Vec<Value>| {
        let query = Query::Cql(Statement {
            text: "SELECT k FROM params WHERE k = ? AND s = ? AND t = ? AND ts = ? AND d = ? \
                   AND ip = ? AND id = ? AND tid = ? AND tm = ? AND n = ? AND x = ? AND f = ?"
                .into(),
            params,
        });
        let options = StreamOptions {
            batch_rows: 10,
            max_rows: None,
            timeout: Duration::from_secs(30),
            cancel: Default::default(),
            notes: Default::default(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tokio().block_on(async {
            let result = source.stream(query, options, tx).await;
            let mut rows = 0;
            while let Some(batch) = rx.recv().await {
                rows += batch.num_rows;
            }
            result.map(|()| rows)
        })
    };
    let text = |s: &str| Value::Text(s.into());
    let good = vec![
        Value::Int64(1),
        Value::Int64(2),
        Value::Int64(3),
        text("2013-01-01T10:00:00Z"),
        text("2013-01-01"),
        text("10.0.0.1"),
        text("123e4567-e89b-12d3-a456-426614174000"),
        text("50554d6e-29bb-11e5-b345-feff819cdc9f"),
        text("13:45:00"),
        Value::Int64(5),
        text("1.25"),
        Value::Float64(0.5),
    ];
    assert_eq!(run(good.clone()).unwrap(), 1);
    for (i, value, error) in [
        (
            1,
            Value::Int64(70_000),
            "parameter 2 (column `s`, smallint): 70000 is out of range for smallint (-32768 to 32767)",
        ),
        (
            3,
            text("yesterday"),
            "parameter 4 (column `ts`, timestamp): `yesterday` is not a timestamp like 2013-01-01T00:00:00Z",
        ),
        (
            5,
            text("10.0.0.256"),
            "parameter 6 (column `ip`, inet): `10.0.0.256` is not an IP address like 10.0.0.1",
        ),
        (
            6,
            text("not-a-uuid"),
            "parameter 7 (column `id`, uuid): `not-a-uuid` is not a UUID like 123e4567-e89b-12d3-a456-426614174000",
        ),
        (
            0,
            text("1"),
            "parameter 1 (column `k`, int): cannot bind text to a int column",
        ),
    ] {
        let mut params = good.clone();
        params[i] = value;
        let message = run(params).unwrap_err().to_string();
        assert_eq!(message, format!("source `cassandra`: {error}"));
    }
}

/// Memory stays flat however large the result: the peak memory of `quarry run` over
/// every flight is within 64 MiB of its peak over the first thousand.
#[test]
fn live_a_full_table_streams_through_paging() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[[source]]\nname = 'cassandra'\nbackend = 'cassandra'\ncontact_points = ['{node}']\nkeyspace = '{KEYSPACE}'\n"
        ),
    )
    .unwrap();
    let query = format!("SELECT {ALL_COLUMNS} FROM flights");
    assert_streams_in_flat_memory(config.path(), "cassandra", &query, 336_776);
}

/// The command that controls the test server (`scripts/cassandra.sh`): `… stop`, `… start`,
/// `… nodetool ARGS`.
fn control() -> Option<String> {
    server_control("QUARRY_TEST_CASSANDRA_CONTROL")
}

/// A scan that reads every flight and keeps none, in one page: about a second of work.
const LONG_SCAN: &str = "SELECT * FROM flights WHERE dep_delay = 99999 ALLOW FILTERING";

/// The run's timeout is the driver's request timeout: a query past it ends the run with
/// a timeout (504 over HTTP), and the next run on the same session works.
#[test]
fn live_a_query_past_the_runs_timeout_is_a_timeout() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let request = RunRequest {
        timeout: Duration::from_millis(100),
        batch_rows: 1_000_000,
        ..on_cassandra(None, "{}", Some(LONG_SCAN))
    };
    let (report, _) = run_with(runtime(), &sources(&node), request);
    match report.result {
        Err(RunError::Source(SourceError::Timeout {
            source_name,
            timeout,
        })) => {
            assert_eq!(
                (source_name.as_str(), timeout),
                ("cassandra", Duration::from_millis(100))
            )
        }
        other => panic!("{other:?}"),
    }
    let (report, out) = run_with(
        runtime(),
        &sources(&node),
        on_cassandra(
            None,
            "{}",
            Some("SELECT name FROM airlines WHERE carrier = 'UA'"),
        ),
    );
    report.result.unwrap();
    assert_eq!(out.rows(), 1);
}

/// The server's own limit (`range_request_timeout`, lowered to 100 ms with nodetool for
/// this test) ends the run with a timeout that says the server gave up, well before the
/// run's own 30 s.
#[test]
fn live_a_query_the_server_times_out_is_a_timeout() {
    let Some(node) = contact_point() else { return };
    let Some(control) = control() else { return };
    let _server = common::exclusive(&SERVER);
    seed(&node);
    struct Restore<'a>(&'a str);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            control_server(self.0, "nodetool settimeout range 10000");
        }
    }
    control_server(&control, "nodetool settimeout range 100");
    let restore = Restore(&control);
    let request = RunRequest {
        timeout: Duration::from_secs(30),
        batch_rows: 1_000_000,
        ..on_cassandra(None, "{}", Some(LONG_SCAN))
    };
    let started = std::time::Instant::now();
    let (report, _) = run_with(runtime(), &sources(&node), request);
    drop(restore);
    let error = report.result.expect_err("the server times the scan out");
    assert!(
        matches!(error, RunError::Source(SourceError::ServerTimeout { .. })),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(
            "source `cassandra`: the server timed the query out before the run's 30s timeout: "
        ),
        "{error}"
    );
    assert!(error.to_string().contains("Operation timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The server stopped in the middle of a run: the run ends with an error that says the
/// source is unavailable, and once the server is back the next run works, on the same
/// source object (its session reconnects).
#[test]
fn live_the_server_stopped_mid_run_is_a_clear_error_and_the_next_run_works() {
    let Some(node) = contact_point() else { return };
    let _server = common::exclusive(&SERVER);
    let Some(control) = control() else { return };
    seed(&node);
    let sources = sources(&node);
    let slow = RunRequest {
        batch_rows: 500,
        ..on_cassandra(
            Some("hostile"),
            r#"{"attack": "slow", "ms": 20}"#,
            Some(&format!("SELECT {ALL_COLUMNS} FROM flights")),
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
    assert!(
        error
            .to_string()
            .starts_with("source `cassandra` is unavailable: "),
        "{error}"
    );
    // The server is back: the same sources run again, once the driver has reconnected.
    let out = first_success(&sources, || {
        on_cassandra(
            None,
            "{}",
            Some("SELECT name FROM airlines WHERE carrier = 'UA'"),
        )
    });
    assert_eq!(
        out.column("name"),
        [Owned::Text("United Air Lines Inc.".into())]
    );
}

/// ScyllaDB's shard-aware port (19042) routes each connection to one CPU core's shard;
/// Cassandra has no such port. Needs a ScyllaDB node: QUARRY_TEST_SCYLLA_URI.
#[test]
fn live_scylladb_shard_aware_port() {
    let Ok(node) = std::env::var("QUARRY_TEST_SCYLLA_URI") else {
        eprintln!(
            "skipped: needs a ScyllaDB node (no ScyllaDB server runs on the build machines); set QUARRY_TEST_SCYLLA_URI, e.g. with docker compose up scylla"
        );
        return;
    };
    let host = node.rsplit_once(':').map_or(node.as_str(), |(h, _)| h);
    let shard_aware = format!("{host}:19042");
    let (report, out) = run_with(
        runtime(),
        &{
            let mut sources = Sources::with_demo(data_dir());
            sources.insert(
                Arc::new(ScyllaSource::new("cassandra", vec![shard_aware], None)),
                SourceSettings::default(),
            );
            sources
        },
        on_cassandra(None, "{}", Some("SELECT shard_count FROM system.local")),
    );
    report.result.unwrap();
    assert!(out.column("shard_count")[0].as_i64().unwrap() >= 1);
}

/// The schema of the seeded keyspace: partition key, then clustering key in order, then the
/// other columns; CQL type names; tables by name.
#[test]
fn live_the_schema_lists_partition_and_clustering_keys() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let schema = tokio().block_on(source(&node, KEYSPACE).schema()).unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    for table in ["airlines", "airports", "flights", "planes", "weather"] {
        assert!(names.contains(&table), "{table} in {names:?}");
    }
    let flights = schema.tables.iter().find(|t| t.name == "flights").unwrap();
    let keyed: Vec<(&str, Option<&str>)> = flights
        .columns
        .iter()
        .take(6)
        .map(|c| (c.name.as_str(), c.key))
        .collect();
    assert_eq!(
        keyed,
        [
            ("origin", Some("partition")),
            ("dest", Some("partition")),
            ("time_hour", Some("clustering")),
            ("carrier", Some("clustering")),
            ("flight", Some("clustering")),
            ("id", Some("clustering")),
        ]
    );
    let rest: Vec<&str> = flights.columns[6..]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut sorted = rest.clone();
    sorted.sort();
    assert_eq!(rest, sorted, "the other columns by name");
    let time_hour = flights
        .columns
        .iter()
        .find(|c| c.name == "time_hour")
        .unwrap();
    assert_eq!(time_hour.data_type, "timestamp");
    assert_eq!(flights.kind, "table");
}

/// Explain on Cassandra: the trace of the query's first page, grouped by node.
#[test]
fn live_explain_traces_the_first_page() {
    let Some(node) = contact_point() else { return };
    let _server = common::shared(&SERVER);
    seed(&node);
    let query = format!("SELECT {ALL_COLUMNS} FROM flights WHERE origin = 'JFK' AND dest = 'LAX'");
    let explained = quarry_engine::run::explain_blocking(
        runtime(),
        &sources(&node),
        tokio().handle(),
        &on_cassandra(None, "{}", Some(&query)),
    );
    let (_, plan) = explained.result.unwrap();
    assert_eq!(plan.method, "tracing");
    assert!(plan.tree[0].label.starts_with("node "), "{:?}", plan.tree);
    assert!(!plan.tree[0].children.is_empty(), "{:?}", plan.tree);
    assert!(
        plan.raw["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{}",
        plan.raw
    );
    assert_eq!(
        plan.raw["command"],
        serde_json::json!("QUERY"),
        "{}",
        plan.raw
    );
    let refused = quarry_engine::run::explain_blocking(
        runtime(),
        &sources(&node),
        tokio().handle(),
        &on_cassandra(None, "{}", Some("TRUNCATE flights")),
    );
    assert!(matches!(
        refused.result,
        Err(RunError::Source(SourceError::NotReadOnly { .. }))
    ));
}
