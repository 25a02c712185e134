//! One plugin, every backend: `quarry seed` copies the demo into PostgreSQL, Apache
//! Cassandra and FerretDB (a MongoDB-wire server), and every example plugin then gives
//! the same answer on all four, checked as a user would: `quarry run` in compare mode,
//! exit status 0.
//!
//! FerretDB 1.24's SQLite handler evaluates every filter but one on `_id` in Go, over every
//! document of the collection (its `explain` says `filterPushdown: false`), at about 6,000
//! documents/s on the build machine: any query on the 336,776 flights takes about a
//! minute. So `flights-between` runs on the whole of `nycflights13` there, once, and the
//! transforms compare the first week of January, which FerretDB reads from
//! `nycflights13_sample`, the first 10,000 flights (1 to 12 January).
//!
//! Needs the three servers that `scripts/test.sh` starts (QUARRY_TEST_POSTGRES_URL,
//! QUARRY_TEST_CASSANDRA_URI, QUARRY_TEST_MONGODB_URI); in CI a missing one is a failure,
//! elsewhere the test says it was skipped.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

const COLUMNS: &str = "year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, \
    sched_arr_time, arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, \
    hour, minute, time_hour";

struct Servers {
    config: PathBuf,
}

/// The servers' `quarry.toml`, with every demo table seeded into each, once.
fn servers() -> Option<&'static Servers> {
    static SERVERS: OnceLock<Option<Servers>> = OnceLock::new();
    SERVERS
        .get_or_init(|| {
            let var = |name: &str| std::env::var(name).ok();
            let (Some(pg), Some(cql), Some(mongo)) = (
                var("QUARRY_TEST_POSTGRES_URL"),
                var("QUARRY_TEST_CASSANDRA_URI").or_else(|| var("QUARRY_TEST_SCYLLA_URI")),
                var("QUARRY_TEST_MONGODB_URI"),
            ) else {
                if var("CI").is_some_and(|v| v == "true") {
                    panic!("CI must run every backend: scripts/test.sh starts PostgreSQL, Cassandra and FerretDB");
                }
                eprintln!("skipped: set QUARRY_TEST_POSTGRES_URL, QUARRY_TEST_CASSANDRA_URI and QUARRY_TEST_MONGODB_URI (scripts/test.sh does)");
                return None;
            };
            let config = data_dir().join("backends.toml");
            std::fs::write(
                &config,
                format!(
                    "[[source]]\nname = 'postgres'\nbackend = 'postgres'\nurl = '{pg}'\n\n\
                     [[source]]\nname = 'cassandra'\nbackend = 'cassandra'\ncontact_points = ['{cql}']\nkeyspace = 'nycflights13'\n\n\
                     [[source]]\nname = 'ferretdb'\nbackend = 'mongo'\nurl = '{mongo}'\ndatabase = 'nycflights13'\n\n\
                     [[source]]\nname = 'ferretdb_sample'\nbackend = 'mongo'\nurl = '{mongo}'\ndatabase = 'nycflights13_sample'\n"
                ),
            )
            .unwrap();
            let _seeding = common::seeding();
            let out = quarry(&config, &["seed", "--source", "postgres", "--source", "cassandra", "--source", "ferretdb"]);
            assert!(out.status.success(), "quarry seed failed:\n{}", text(&out.stderr));
            let out = quarry(&config, &["seed", "--source", "ferretdb_sample", "--table", "flights", "--limit", "10000"]);
            assert!(out.status.success(), "quarry seed failed:\n{}", text(&out.stderr));
            Some(Servers { config })
        })
        .as_ref()
}

fn quarry(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `quarry run` comparing the demo with `others` (source names), running `plugin` (a
/// path) with `params`; `queries` is none (the plugin builds them) or SQL, CQL and Mongo
/// JSON. Returns the rows of the demo's output, after checking that every output matches.
fn compare(
    servers: &Servers,
    others: [&str; 3],
    plugin: &Path,
    params: &str,
    queries: Option<[&str; 3]>,
) -> usize {
    let plugin = plugin.to_str().unwrap();
    // FerretDB needs a minute for a query on every flight.
    let mut args = vec![
        "run",
        "--plugin",
        plugin,
        "--params",
        params,
        "--timeout",
        "600",
    ];
    for source in ["demo"].iter().chain(&others) {
        args.extend(["--source", source]);
    }
    if let Some([sql, cql, mongo]) = queries {
        args.extend([
            "--query", sql, "--query", sql, "--query", cql, "--query", mongo,
        ]);
    }
    let out = quarry(&servers.config, &args);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{plugin} {params}: {}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    for source in others {
        assert!(
            stdout.contains(&format!("demo and {source}: the outputs match")),
            "{stdout}"
        );
    }
    eprintln!("{plugin} {params}:\n{stdout}");
    let demo_line = stdout.lines().find(|l| l.starts_with("demo: ")).unwrap();
    demo_line["demo: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every JFK→LAX flight of the first week of January, in the same order everywhere: SQL
/// sorts; a CQL partition is stored in its clustering order (time_hour, carrier, flight);
/// Mongo sorts.
fn week_queries() -> [String; 3] {
    let week = "WHERE origin = 'JFK' AND dest = 'LAX' AND month = 1 AND day <= 7";
    [
        format!("SELECT {COLUMNS} FROM flights {week} ORDER BY time_hour, carrier, flight"),
        format!("SELECT {COLUMNS} FROM flights {week} ALLOW FILTERING"),
        r#"{"collection": "flights", "filter": {"origin": "JFK", "dest": "LAX", "month": 1, "day": {"$lte": 7}},
            "projection": {"_id": 0}, "sort": {"time_hour": 1, "carrier": 1, "flight": 1}}"#
            .to_owned(),
    ]
}

const EVERY_SERVER: [&str; 3] = ["postgres", "cassandra", "ferretdb"];
const WITH_THE_SAMPLE: [&str; 3] = ["postgres", "cassandra", "ferretdb_sample"];

fn built(dir: &str, name: &str) -> PathBuf {
    let path = repo_root()
        .join("target")
        .join(dir)
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: scripts/test.sh builds it",
        path.display()
    );
    path
}

#[test]
fn flights_between_answers_in_new_york_days_on_every_backend() {
    let _servers = common::every_server();
    let Some(servers) = servers() else { return };
    let params = r#"{"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-07"}"#;
    let rows = compare(
        servers,
        EVERY_SERVER,
        &plugin_path("flights_between"),
        params,
        None,
    );
    // New York's own days: the flights' year, month and day, not UTC's.
    let expected: Vec<Vec<i64>> = sql(
        "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' \
         AND year = 2013 AND month = 3 AND day BETWEEN 1 AND 7",
    );
    assert_eq!(rows as i64, expected[0][0]);
    assert_eq!(rows, 217);
    let (_, out) = run_ok(Some("flights_between"), params, None);
    let days: std::collections::BTreeSet<(i64, i64)> = out
        .column("month")
        .iter()
        .zip(out.column("day"))
        .map(|(m, d)| (m.as_i64().unwrap(), d.as_i64().unwrap()))
        .collect();
    assert_eq!(days, (1..=7).map(|d| (3, d)).collect());
}

#[test]
fn every_rust_example_gives_the_demo_answer_on_every_backend() {
    let _servers = common::every_server();
    let Some(servers) = servers() else { return };
    let [sql, cql, mongo] = week_queries();
    let queries = Some([sql.as_str(), cql.as_str(), mongo.as_str()]);
    for (plugin, params) in [
        ("identity", "{}"),
        ("units", "{}"),
        ("delayed", "{}"),
        ("delay_stats", "{}"),
        (
            "delay_stats",
            r#"{"column": "dep_delay", "group_by": "hour"}"#,
        ),
        (
            "mask",
            r#"{"columns": ["tailnum", "carrier"], "mode": "hash"}"#,
        ),
    ] {
        let rows = compare(
            servers,
            WITH_THE_SAMPLE,
            &plugin_path(plugin),
            params,
            queries,
        );
        assert!(rows > 0, "{plugin}");
    }
}

#[test]
fn the_python_and_typescript_examples_give_the_demo_answer_on_every_backend() {
    let _servers = common::every_server();
    let Some(servers) = servers() else { return };
    let [sql, cql, mongo] = week_queries();
    let queries = Some([sql.as_str(), cql.as_str(), mongo.as_str()]);
    for dir in ["python-plugins", "ts-plugins"] {
        for plugin in ["units", "delay_stats"] {
            let rows = compare(servers, WITH_THE_SAMPLE, &built(dir, plugin), "{}", queries);
            assert!(rows > 0, "{dir}/{plugin}");
        }
    }
}
