//! The PostgreSQL source against a real server. The URL comes from QUARRY_TEST_POSTGRES_URL
//! (`scripts/postgres.sh` sets one up); without it each test says it was skipped, except in
//! CI, where a missing server is a failure.

use crate::common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use quarry_core::batch::DataType;
use quarry_engine::compare::first_difference;
use quarry_engine::run::{RunError, RunRequest};
use quarry_runtime::Runtime;
use quarry_sources::config::SourceSettings;
use quarry_sources::postgres::PostgresSource;
use quarry_sources::seed::{Target, seed};
use quarry_sources::{Backend, Source, SourceError, Sources};

// The restart test takes this for writing; every other test for reading, so no test
// loses its connection to someone else's restart.
use crate::common::POSTGRES as SERVER;

fn url() -> Option<String> {
    match std::env::var("QUARRY_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok() => {
            panic!("CI must set QUARRY_TEST_POSTGRES_URL (scripts/test.sh does)")
        }
        Err(_) => {
            eprintln!(
                "skipped: set QUARRY_TEST_POSTGRES_URL to run the PostgreSQL tests (scripts/postgres.sh)"
            );
            None
        }
    }
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Loads nycflights13's flights and airlines with `quarry seed`, once per test process.
fn loaded(url: &str) {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        let _seeding = common::seeding();
        let target =
            Target::Postgres(PostgresSource::new("pg", url, Backend::Postgres, 1).unwrap());
        let tables = ["flights", "airlines"].map(String::from);
        tokio()
            .block_on(seed(&target, &demo(), &tables, None, &mut |_, _| {}))
            .unwrap();
    });
}

fn demo() -> std::path::PathBuf {
    quarry_sources::demo::ensure(&data_dir()).unwrap()
}

/// A source on the `quarry_seed` database of the test server, which the seed test fills.
fn seed_database(url: &str) -> PostgresSource {
    let mut source = PostgresSource::new("seeded", url, Backend::Postgres, 2).unwrap();
    source.set_credentials(None, None, Some("quarry_seed"));
    source
}

fn sources(url: &str) -> Sources {
    let mut sources = Sources::with_demo(data_dir());
    let pg = PostgresSource::new("pg", url, Backend::Postgres, 4).unwrap();
    sources.insert(Arc::new(pg), SourceSettings::default());
    sources
}

fn pg_run(
    rt: &Runtime,
    url: &str,
    request: RunRequest,
) -> (quarry_engine::run::RunReport, Collect) {
    run_with(rt, &sources(url), request)
}

fn pg_request(rt: &Runtime, plugin: Option<&str>, params: &str, query: Option<&str>) -> RunRequest {
    RunRequest {
        source: "pg".into(),
        ..request(rt, plugin, params, query)
    }
}

#[test]
fn the_server_answers_and_is_postgres() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    let pg = PostgresSource::new("pg", &url, Backend::Postgres, 1).unwrap();
    let version = tokio().block_on(pg.check()).unwrap();
    assert!(version.starts_with("PostgreSQL"), "{version}");
    assert_eq!(pg.backend(), Backend::Postgres);
}

#[test]
fn every_mapped_type_arrives_typed_with_nulls() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    let query = "SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8, 1.5::float4 AS f4,
        2.25::float8 AS f8, -12.3400::numeric AS n, 'a'::text AS t, 'b'::varchar AS v, 'c'::bpchar AS c,
        'n'::name AS nm, '\\x00ff'::bytea AS by, true AS b, '2013-01-01 10:00:00'::timestamp AS ts,
        '2013-01-01 05:00:00-05'::timestamptz AS tz, '2013-07-04'::date AS d,
        '6f9619ff-8b86-d011-b42d-00c04fc964ff'::uuid AS u, '{\"a\": 1}'::json AS j, '{\"b\": [2]}'::jsonb AS jb,
        ARRAY[1, NULL, 3] AS arr, ARRAY[['x','y'],['z','w']] AS arr2, '10.0.0.1/8'::inet AS ip,
        '1 day 02:00:00'::interval AS iv, '12:34:56'::time AS tm, '(1,2)'::point AS pt
      UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL";
    let rt = runtime();
    let (report, out) = pg_run(
        rt,
        &url,
        pg_request(rt, Some("identity"), "{}", Some(query)),
    );
    report.result.unwrap();
    let types: Vec<(String, DataType)> = out
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.data_type))
        .collect();
    use DataType::*;
    let expected = [
        ("i2", Int64),
        ("i4", Int64),
        ("i8", Int64),
        ("f4", Float64),
        ("f8", Float64),
        ("n", Decimal),
        ("t", Text),
        ("v", Text),
        ("c", Text),
        ("nm", Text),
        ("by", Bytes),
        ("b", Boolean),
        ("ts", Timestamp),
        ("tz", Timestamp),
        ("d", Date),
        ("u", Uuid),
        ("j", Json),
        ("jb", Json),
        ("arr", Json),
        ("arr2", Json),
        ("ip", Text),
        ("iv", Text),
        ("tm", Text),
        ("pt", Text),
    ];
    assert_eq!(types, expected.map(|(n, t)| (n.to_owned(), t)));
    let first = |name: &str| out.column(name)[0].clone();
    assert_eq!(first("i8"), Owned::Int(9_007_199_254_740_993));
    assert_eq!(first("f4"), Owned::Float(1.5));
    assert_eq!(first("n"), Owned::Text("-12.3400".into()));
    assert_eq!(first("by"), Owned::Bytes(vec![0, 0xff]));
    let ten = quarry_core::datetime::parse_timestamp("2013-01-01T10:00:00Z").unwrap();
    assert_eq!(first("ts"), Owned::Int(ten));
    assert_eq!(first("tz"), Owned::Int(ten));
    assert_eq!(
        first("d"),
        Owned::Int(quarry_core::datetime::days_from_civil(2013, 7, 4))
    );
    assert_eq!(
        first("u"),
        Owned::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
    );
    assert_eq!(first("jb"), Owned::Text("{\"b\": [2]}".into()));
    assert_eq!(first("arr"), Owned::Text("[1,null,3]".into()));
    assert_eq!(
        first("arr2"),
        Owned::Text("[[\"x\",\"y\"],[\"z\",\"w\"]]".into())
    );
    assert_eq!(first("ip"), Owned::Text("10.0.0.1/8".into()));
    assert_eq!(first("iv"), Owned::Text("P1DT7200S".into()));
    assert_eq!(first("tm"), Owned::Text("12:34:56".into()));
    // A point's binary form is not text: the unmapped type comes through as hex.
    assert!(
        first("pt").as_str().is_some_and(|t| t.starts_with("\\x")),
        "{:?}",
        first("pt")
    );
    for f in &out.fields {
        assert_eq!(
            out.column(&f.name)[1],
            Owned::Null,
            "{} row 2 is null",
            f.name
        );
    }
    // The unmapped type (point) is passed on with a warning in the run's log.
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message.contains("`pt` has type point")),
        "{:?}",
        report.logs
    );
}

/// `--partition-by`: ranges of a column, each its own connection and stream, give the
/// rows one stream gives; without the flag, one stream.
#[test]
fn a_scan_split_by_a_column_gives_the_same_rows() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    loaded(&url);
    let rt = runtime();
    let query = "SELECT * FROM flights WHERE origin = 'EWR'";
    let one = pg_run(rt, &url, pg_request(rt, Some("units"), "{}", Some(query)));
    let three = pg_run(
        rt,
        &url,
        RunRequest {
            parallel: 3,
            partition_by: Some("dep_time".into()),
            ..pg_request(rt, Some("units"), "{}", Some(query))
        },
    );
    one.0.result.unwrap();
    three.0.result.as_ref().unwrap();
    assert_eq!(three.0.stats.streams, 3, "{:?}", three.0.logs);
    assert_eq!(three.1.rows(), 120_835);
    assert_eq!(
        crate::parallel::rows(&one.1),
        crate::parallel::rows(&three.1)
    );

    // No column named: one stream, and why (with a column that is no integer, too).
    for by in [None, Some("carrier")] {
        let (report, _) = pg_run(
            rt,
            &url,
            RunRequest {
                parallel: 3,
                partition_by: by.map(str::to_owned),
                ..pg_request(rt, None, "{}", Some(query))
            },
        );
        report.result.unwrap();
        assert_eq!(report.stats.streams, 1);
        if by.is_some() {
            assert!(
                report
                    .logs
                    .iter()
                    .any(|l| l.message.contains("no integer range")),
                "{:?}",
                report.logs
            );
        }
    }
}

#[test]
fn flights_stream_and_match_the_demo() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    loaded(&url);
    let rt = runtime();
    let sources = sources(&url);
    let req = RunRequest {
        batch_rows: 1000,
        ..pg_request(rt, Some("identity"), "{}", Some("SELECT * FROM flights"))
    };
    let (report, sink, first) = run_with_first_progress(rt, &sources, req);
    report.result.unwrap();
    assert_eq!(first, Some(1000), "rows arrive a batch at a time");
    assert_eq!(sink.rows(), 336_776);
    assert!(sink.batches.iter().all(|b| b.num_rows <= 1000));

    // The same plugin gives the same answer here as on the embedded demo.
    let params = r#"{"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-31"}"#;
    let (_, on_demo) = run_ok(Some("flights_between"), params, None);
    let (report, on_pg) = pg_run(
        rt,
        &url,
        pg_request(rt, Some("flights_between"), params, None),
    );
    report.result.unwrap();
    assert_eq!(on_pg.rows(), on_demo.rows());
    for column in ["carrier", "flight", "time_hour", "dep_delay"] {
        assert_eq!(on_pg.column(column), on_demo.column(column), "{column}");
    }
}

#[test]
fn seed_fills_an_empty_database_with_the_demo_and_keeps_it_next_time() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    let empty = seed_database(&url);
    tokio().block_on(async {
        let c = empty.connect().await.unwrap();
        c.batch_execute("DROP TABLE IF EXISTS airlines, airports, planes, weather, flights")
            .await
            .unwrap();
    });
    let target = Target::Postgres(empty);
    let mut last = std::collections::BTreeMap::new();
    let reports = tokio()
        .block_on(seed(&target, &demo(), &[], None, &mut |table, rows| {
            last.insert(table.to_owned(), rows);
        }))
        .unwrap();
    let loaded: Vec<(&str, u64, bool)> = reports
        .iter()
        .map(|r| (r.table.as_str(), r.rows, r.kept))
        .collect();
    assert_eq!(
        loaded,
        [
            ("airlines", 16, false),
            ("airports", 1458, false),
            ("planes", 3322, false),
            ("weather", 26_115, false),
            ("flights", 336_776, false)
        ]
    );
    assert_eq!(last["flights"], 336_776, "progress reached the end");

    let again = tokio()
        .block_on(seed(&target, &demo(), &[], None, &mut |_, _| {}))
        .unwrap();
    assert!(again.iter().all(|r| r.kept), "{again:?}");

    // Every table reads back the same as on the demo.
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(seed_database(&url)), SourceSettings::default());
    let rt = runtime();
    for (table, order) in [
        ("airlines", "carrier"),
        ("airports", "faa"),
        ("planes", "tailnum"),
        ("weather", "origin, time_hour"),
    ] {
        let text = format!("SELECT * FROM {table} ORDER BY {order}");
        let (demo_report, on_demo) = run_with(rt, &sources, request(rt, None, "{}", Some(&text)));
        demo_report.result.unwrap();
        let on_pg_request = RunRequest {
            source: "seeded".into(),
            ..request(rt, None, "{}", Some(&text))
        };
        let (pg_report, on_pg) = run_with(rt, &sources, on_pg_request);
        pg_report.result.unwrap();
        assert_eq!(first_difference(&on_demo, &on_pg), None, "{table}");
    }
}

#[test]
fn tls_is_used_when_the_url_requires_it_and_the_certificate_is_verified() {
    let Some(url) = url() else { return };
    let Ok(ca) = std::env::var("QUARRY_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set QUARRY_TEST_POSTGRES_CA"
        );
        eprintln!("skipped: set QUARRY_TEST_POSTGRES_CA (scripts/postgres.sh makes one)");
        return;
    };
    let _server = common::shared(&SERVER);
    let tls_url = format!("{url}?sslmode=require");
    let mut trusted = PostgresSource::new("tls", &tls_url, Backend::Postgres, 1).unwrap();
    trusted.set_tls_ca_file(std::path::Path::new(&ca)).unwrap();
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(trusted), SourceSettings::default());
    let rt = runtime();
    let (report, out) = run_with(
        rt,
        &sources,
        RunRequest {
            source: "tls".into(),
            ..request(
                rt,
                None,
                "{}",
                Some("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            )
        },
    );
    report.result.unwrap();
    assert_eq!(out.column("ssl"), [Owned::Bool(true)]);
    assert!(matches!(&out.column("version")[0], Owned::Text(v) if v.starts_with("TLSv1.")));

    // Without the test CA the server's certificate is not trusted: a clear refusal.
    let untrusted = PostgresSource::new("untrusted", &tls_url, Backend::Postgres, 1).unwrap();
    let error = tokio().block_on(untrusted.check()).unwrap_err().to_string();
    assert!(error.contains("certificate"), "{error}");

    let mut bad = PostgresSource::new("bad", &tls_url, Backend::Postgres, 1).unwrap();
    let error = bad
        .set_tls_ca_file(std::path::Path::new("Cargo.toml"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no PEM certificates"), "{error}");
}

#[test]
fn writes_and_escapes_are_refused_and_the_data_is_unchanged() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    loaded(&url);
    let rt = runtime();
    let count = || {
        tokio().block_on(async {
            client(&url)
                .await
                .query_one("SELECT count(*) FROM flights", &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        })
    };
    let before = count();
    for query in [
        "DELETE FROM flights",
        "DROP TABLE flights",
        "INSERT INTO airlines VALUES ('ZZ', 'Zed')",
        "UPDATE flights SET dep_delay = 0",
        "CREATE TABLE x (a int)",
        "SELECT 1; DELETE FROM flights",
        "COPY (SELECT 1) TO PROGRAM 'touch /tmp/quarry-pwned'",
        "WITH gone AS (DELETE FROM flights RETURNING 1) SELECT count(*) FROM gone",
        "SET ROLE postgres",
        "COMMIT",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_export(1, '/tmp/quarry-pwned')",
    ] {
        let (report, _) = pg_run(rt, &url, pg_request(rt, None, "{}", Some(query)));
        assert!(
            matches!(report.result, Err(RunError::Source(_))),
            "{query}: {:?}",
            report.result
        );
    }
    assert_eq!(count(), before);
    assert!(!std::path::Path::new("/tmp/quarry-pwned").exists());
}

#[test]
fn a_slow_query_is_stopped_by_the_statement_timeout() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    let rt = runtime();
    let req = RunRequest {
        timeout: Duration::from_millis(500),
        ..pg_request(rt, None, "{}", Some("SELECT pg_sleep(60)"))
    };
    let started = Instant::now();
    let (report, _) = pg_run(rt, &url, req);
    assert!(
        matches!(
            report.result,
            Err(RunError::Source(SourceError::Timeout { .. }))
        ),
        "{:?}",
        report.result
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The pooled connection is usable afterwards.
    let (report, out) = pg_run(
        rt,
        &url,
        pg_request(rt, None, "{}", Some("SELECT 42 AS answer")),
    );
    report.result.unwrap();
    assert_eq!(out.column("answer"), [Owned::Int(42)]);
}

#[test]
fn a_server_restart_mid_run_is_a_clear_error_and_the_next_run_works() {
    let Some(url) = url() else { return };
    let _server = common::exclusive(&SERVER);
    let Ok(restart) = std::env::var("QUARRY_TEST_POSTGRES_RESTART") else {
        eprintln!(
            "skipped: set QUARRY_TEST_POSTGRES_RESTART to a command that restarts the server"
        );
        return;
    };
    loaded(&url);
    let rt = runtime();
    let req = RunRequest {
        batch_rows: 500,
        ..pg_request(
            rt,
            Some("hostile"),
            r#"{"attack": "slow", "ms": 15}"#,
            Some("SELECT * FROM flights"),
        )
    };
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&restart)
            .status()
            .unwrap();
        assert!(status.success(), "{restart} failed");
    });
    let (report, _) = pg_run(rt, &url, req);
    restarter.join().unwrap();
    let error = report
        .result
        .expect_err("the run cannot survive the restart")
        .to_string();
    assert!(
        error.contains("source `pg` is unavailable: the server closed the connection mid-run"),
        "{error}"
    );
    let (report, out) = pg_run(
        rt,
        &url,
        pg_request(rt, None, "{}", Some("SELECT count(*) AS n FROM airlines")),
    );
    report.result.unwrap();
    assert_eq!(out.column("n"), [Owned::Int(16)]);
}

/// The pool opens at most `pool_size` connections however many runs ask at once, reuses
/// them, and closes a connection whose run failed instead of handing it to the next run.
#[test]
fn the_pool_caps_and_reuses_connections_and_drops_a_failed_ones() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    let source = Arc::new(PostgresSource::new("pool", &url, Backend::Postgres, 2).unwrap());
    let backend_pid = |source: Arc<PostgresSource>, text: &'static str| async move {
        let options = quarry_sources::StreamOptions {
            batch_rows: 10,
            max_rows: None,
            timeout: Duration::from_secs(30),
            cancel: Default::default(),
            notes: Default::default(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let query = quarry_sources::Query::Sql(quarry_sources::Statement {
            text: text.into(),
            params: vec![],
        });
        let result = source.stream(query, options, tx).await;
        let batch = rx.recv().await;
        result.map(|()| match batch.unwrap().columns[0].cell(0).into() {
            Owned::Int(pid) => pid,
            other => panic!("pid: {other:?}"),
        })
    };
    let pid_after_a_nap = "SELECT pg_backend_pid() AS pid FROM pg_sleep(0.2)";
    tokio().block_on(async {
        let runs: Vec<_> = (0..6)
            .map(|_| tokio::spawn(backend_pid(source.clone(), pid_after_a_nap)))
            .collect();
        let mut pids = std::collections::BTreeSet::new();
        for run in runs {
            pids.insert(run.await.unwrap().unwrap());
        }
        assert!(
            (1..=2).contains(&pids.len()),
            "six runs on a pool of two used the connections {pids:?}"
        );

        // One connection: the failed run's is closed, so the next run has a new one.
        let single = Arc::new(PostgresSource::new("single", &url, Backend::Postgres, 1).unwrap());
        let pid = "SELECT pg_backend_pid() AS pid";
        let before = backend_pid(single.clone(), pid).await.unwrap();
        assert_eq!(backend_pid(single.clone(), pid).await.unwrap(), before);
        let failed = backend_pid(single.clone(), "SELECT 1 / 0 AS pid").await;
        assert!(
            matches!(failed, Err(SourceError::Query { .. })),
            "{failed:?}"
        );
        let after = backend_pid(single.clone(), pid).await.unwrap();
        assert_ne!(before, after, "the connection of the failed run came back");
        let reused = backend_pid(single.clone(), pid).await.unwrap();
        assert_eq!(after, reused, "an idle connection is reused");
    });
}

/// The schema of the seeded database: `flights` with its columns in table order and
/// PostgreSQL's type names, `airlines` with its primary key and the key's index.
#[test]
fn the_schema_lists_seeded_tables_with_types_keys_and_indexes() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    loaded(&url);
    let pg = PostgresSource::new("pg", &url, Backend::Postgres, 1).unwrap();
    let schema = tokio().block_on(pg.schema()).unwrap();
    let table = |name: &str| {
        schema
            .tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", schema.tables))
    };
    let flights = table("flights");
    assert_eq!(flights.kind, "table");
    let columns: Vec<&str> = flights.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&columns[..3], ["year", "month", "day"]);
    assert!(columns.contains(&"dep_delay"));
    let time_hour = flights
        .columns
        .iter()
        .find(|c| c.name == "time_hour")
        .unwrap();
    assert_eq!(time_hour.data_type, "timestamp with time zone");
    let airlines = table("airlines");
    let carrier = &airlines.columns[0];
    assert_eq!(
        (carrier.name.as_str(), carrier.key, carrier.nullable),
        ("carrier", Some("primary"), Some(false))
    );
    assert_eq!(airlines.columns[1].key, None);
    let key_index = airlines
        .indexes
        .iter()
        .find(|i| i.unique)
        .expect("the key's index");
    assert_eq!(key_index.columns, ["carrier"]);
    let mut names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    let listed = names.clone();
    names.sort();
    assert_eq!(listed, names, "tables in name order");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("pg_") || n.starts_with("information_schema"))
    );
}

/// Explain on PostgreSQL: `EXPLAIN (FORMAT JSON)` as a tree, for typed SQL and for a
/// plugin's query with its params bound; a write is refused before it is sent.
#[test]
fn explain_gives_the_json_plan_as_a_tree() {
    let Some(url) = url() else { return };
    let _server = common::shared(&SERVER);
    loaded(&url);
    let rt = runtime();
    let sources = sources(&url);
    let explain = |request: RunRequest| {
        quarry_engine::run::explain_blocking(rt, &sources, tokio().handle(), &request)
    };
    let query = "SELECT carrier, count(*) FROM flights WHERE origin = 'JFK' GROUP BY carrier ORDER BY 2 DESC";
    let (_, plan) = explain(pg_request(rt, None, "{}", Some(query)))
        .result
        .unwrap();
    assert_eq!(plan.method, "EXPLAIN (FORMAT JSON)");
    let labels = crate::sqlite::plan_labels(&plan.tree);
    assert!(labels[0].starts_with("Sort"), "{labels:?}");
    assert!(
        labels
            .iter()
            .any(|l| l.contains("on flights") && l.contains("JFK")),
        "{labels:?}"
    );
    assert!(plan.raw[0]["Plan"]["Node Type"].is_string(), "{}", plan.raw);

    let params = r#"{"origin": "JFK", "dest": "LAX"}"#;
    let (query, plan) = explain(pg_request(rt, Some("flights_between"), params, None))
        .result
        .unwrap();
    assert!(query.text().contains("$1"), "{}", query.text());
    assert!(
        crate::sqlite::plan_labels(&plan.tree)
            .iter()
            .any(|l| l.contains("flights")),
        "{:?}",
        plan.tree
    );

    let error = explain(pg_request(rt, None, "{}", Some("DELETE FROM flights")))
        .result
        .unwrap_err();
    assert!(error.to_string().contains("read-only"), "{error}");
}
