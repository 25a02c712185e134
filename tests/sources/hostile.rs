//! The hostile query suite: one statement per test, on every backend that runs here (the
//! embedded SQLite demo, and PostgreSQL when QUARRY_TEST_POSTGRES_URL is set, as in CI).
//! Each statement must end the run with a source error (refused, failed, or stopped by the
//! timeout), and afterwards the data must be unchanged and no file written.

use crate::common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use quarry_engine::run::{RunError, RunRequest};
use quarry_sources::config::SourceSettings;
use quarry_sources::postgres::PostgresSource;
use quarry_sources::sqlite::SqliteSource;
use quarry_sources::{Backend, SourceError, Sources};

/// What an attack might leave behind.
const PWNED: &str = "/tmp/quarry-pwned";

/// A fingerprint of the data: row counts and a sum per table.
const FINGERPRINT: &str =
    "SELECT (SELECT count(*) FROM flights), (SELECT sum(dep_delay) FROM flights),
    (SELECT count(*) FROM airlines), (SELECT count(*) FROM planes)";

fn sources() -> Sources {
    let mut sources = Sources::with_demo(data_dir());
    // The demo file under another name, with a short timeout for the cartesian products.
    sources.insert(
        Arc::new(SqliteSource::new("sqlite", demo_db())),
        SourceSettings {
            timeout: Some(Duration::from_millis(500)),
            batch_rows: None,
            ..Default::default()
        },
    );
    if let Some(url) = postgres_url() {
        let pg = PostgresSource::new("pg", &url, Backend::Postgres, 2).unwrap();
        sources.insert(
            Arc::new(pg),
            SourceSettings {
                timeout: Some(Duration::from_secs(1)),
                batch_rows: None,
                ..Default::default()
            },
        );
    }
    sources
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("QUARRY_TEST_POSTGRES_URL").ok();
    if url.is_none() && std::env::var("CI").is_ok() {
        panic!("CI must set QUARRY_TEST_POSTGRES_URL (scripts/test.sh does)");
    }
    url
}

/// Loads flights and airlines into PostgreSQL once, with `quarry seed`.
fn postgres_loaded(url: &str) {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        let _seeding = common::seeding();
        let target = quarry_sources::seed::Target::Postgres(
            PostgresSource::new("pg", url, Backend::Postgres, 1).unwrap(),
        );
        let demo = quarry_sources::demo::ensure(&data_dir()).unwrap();
        let tables = ["flights", "airlines", "planes"].map(String::from);
        tokio()
            .block_on(quarry_sources::seed::seed(
                &target,
                &demo,
                &tables,
                None,
                &mut |_, _| {},
            ))
            .unwrap();
    });
}

/// The fingerprint through Quarry itself (a plain read on the same source).
fn fingerprint(source: &str) -> Vec<common::Owned> {
    let rt = runtime();
    let (report, out) = run_with(
        rt,
        &sources(),
        RunRequest {
            source: source.into(),
            ..request(rt, None, "{}", Some(FINGERPRINT))
        },
    );
    report.result.unwrap();
    out.fields
        .iter()
        .flat_map(|f| out.column(&f.name))
        .collect()
}

/// Runs `query` on `source`: it must end with the source error `expected` accepts, and
/// leave the data as it was and no file behind.
fn refused_on(source: &str, query: &str, expected: fn(&SourceError) -> bool) {
    let _server = (source == "pg").then(|| common::shared(&common::POSTGRES));
    if source == "pg" {
        let Some(url) = postgres_url() else {
            eprintln!("skipped: set QUARRY_TEST_POSTGRES_URL to attack PostgreSQL");
            return;
        };
        postgres_loaded(&url);
    }
    let before = fingerprint(source);
    let rt = runtime();
    let sources = sources();
    let (report, _) = run_with(
        rt,
        &sources,
        RunRequest {
            source: source.into(),
            timeout: sources.settings(source).timeout.unwrap(),
            ..request(rt, None, "{}", Some(query))
        },
    );
    assert!(
        matches!(&report.result, Err(RunError::Source(e)) if expected(e)),
        "{source}: {query}: {:?}",
        report.result
    );
    assert_eq!(
        fingerprint(source),
        before,
        "{source}: {query} changed the data"
    );
    assert!(
        !Path::new(PWNED).exists(),
        "{source}: {query} wrote {PWNED}"
    );
}

macro_rules! refused {
    ($($name:ident: $source:literal, $query:expr => $kind:ident;)*) => {
        $(
            #[test]
            fn $name() {
                refused_on($source, $query, |e| matches!(e, SourceError::$kind { .. }));
            }
        )*
    };
}

refused! {
    sqlite_delete: "sqlite", "DELETE FROM flights" => NotReadOnly;
    sqlite_update: "sqlite", "UPDATE flights SET dep_delay = 0" => NotReadOnly;
    sqlite_insert: "sqlite", "INSERT INTO airlines VALUES ('ZZ', 'Zed')" => NotReadOnly;
    sqlite_replace: "sqlite", "REPLACE INTO airlines VALUES ('9E', 'Renamed')" => NotReadOnly;
    sqlite_drop_table: "sqlite", "DROP TABLE flights" => NotReadOnly;
    sqlite_create_table: "sqlite", "CREATE TABLE x (a)" => NotReadOnly;
    sqlite_create_index: "sqlite", "CREATE INDEX x ON flights (dep_delay)" => NotReadOnly;
    sqlite_alter_table: "sqlite", "ALTER TABLE airlines RENAME TO gone" => NotReadOnly;
    sqlite_two_statements: "sqlite", "SELECT 1; DELETE FROM flights" => NotReadOnly;
    sqlite_block_comment_hides_a_statement: "sqlite", "SELECT 1 /* quiet */ ; DELETE FROM flights" => NotReadOnly;
    sqlite_line_comment_hides_a_statement: "sqlite", "SELECT 1 -- quiet\n; DROP TABLE flights" => NotReadOnly;
    sqlite_cte_with_delete: "sqlite", "WITH x AS (SELECT 1) DELETE FROM flights" => NotReadOnly;
    sqlite_attach: "sqlite", "ATTACH DATABASE '/tmp/quarry-pwned' AS pwned" => NotReadOnly;
    sqlite_vacuum_into: "sqlite", "VACUUM INTO '/tmp/quarry-pwned'" => NotReadOnly;
    sqlite_pragma_writable_schema: "sqlite", "PRAGMA writable_schema = ON" => NotReadOnly;
    sqlite_pragma_journal_mode: "sqlite", "PRAGMA journal_mode = DELETE" => NotReadOnly;
    sqlite_load_extension: "sqlite", "SELECT load_extension('/tmp/quarry-pwned')" => Query;
    sqlite_begin: "sqlite", "BEGIN" => NotReadOnly;
    sqlite_commit: "sqlite", "COMMIT" => NotReadOnly;
    sqlite_rollback: "sqlite", "ROLLBACK" => NotReadOnly;
    sqlite_savepoint: "sqlite", "SAVEPOINT s" => NotReadOnly;
    sqlite_analyze: "sqlite", "ANALYZE" => NotReadOnly;
    sqlite_reindex: "sqlite", "REINDEX" => NotReadOnly;
    sqlite_cartesian_product_times_out: "sqlite", "SELECT count(*) FROM flights a, flights b" => Timeout;
    sqlite_endless_recursion_times_out: "sqlite",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n" => Timeout;

    pg_delete: "pg", "DELETE FROM flights" => NotReadOnly;
    pg_update: "pg", "UPDATE flights SET dep_delay = 0" => NotReadOnly;
    pg_insert: "pg", "INSERT INTO airlines VALUES ('ZZ', 'Zed')" => NotReadOnly;
    pg_truncate: "pg", "TRUNCATE flights" => NotReadOnly;
    pg_drop_table: "pg", "DROP TABLE flights" => NotReadOnly;
    pg_create_table: "pg", "CREATE TABLE x (a int)" => NotReadOnly;
    pg_alter_table: "pg", "ALTER TABLE airlines RENAME TO gone" => NotReadOnly;
    pg_grant: "pg", "GRANT ALL ON flights TO PUBLIC" => NotReadOnly;
    pg_two_statements: "pg", "SELECT 1; DELETE FROM flights" => Query;
    pg_block_comment_hides_a_statement: "pg", "SELECT 1 /* quiet */ ; DELETE FROM flights" => Query;
    pg_line_comment_hides_a_statement: "pg", "SELECT 1 -- quiet\n; DROP TABLE flights" => Query;
    pg_cte_with_delete: "pg", "WITH gone AS (DELETE FROM flights RETURNING 1) SELECT count(*) FROM gone" => Query;
    pg_select_into: "pg", "SELECT * INTO stolen FROM airlines" => Query;
    pg_sleep_times_out: "pg", "SELECT pg_sleep(60)" => Timeout;
    pg_copy_to_program: "pg", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/quarry-pwned'" => NotReadOnly;
    pg_copy_to_file: "pg", "COPY airlines TO '/tmp/quarry-pwned'" => NotReadOnly;
    pg_set: "pg", "SET statement_timeout = 0" => NotReadOnly;
    pg_set_role: "pg", "SET ROLE postgres" => NotReadOnly;
    pg_reset: "pg", "RESET ALL" => NotReadOnly;
    pg_begin: "pg", "BEGIN" => NotReadOnly;
    pg_commit: "pg", "COMMIT" => NotReadOnly;
    pg_rollback: "pg", "ROLLBACK" => NotReadOnly;
    pg_do_block: "pg", "DO $$ BEGIN DELETE FROM flights; END $$" => NotReadOnly;
    pg_read_file: "pg", "SELECT pg_read_file('/etc/passwd')" => Query;
    pg_lo_export: "pg", "SELECT lo_export(lo_import('/etc/passwd'), '/tmp/quarry-pwned')" => Query;
    pg_dblink: "pg", "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM flights') AS t(x text)" => Query;
    pg_nextval: "pg", "SELECT nextval('quarry_sequence')" => Query;
    pg_cartesian_product_times_out: "pg", "SELECT count(*) FROM flights a, flights b" => Timeout;
}

/// `set_config` is a plain function a read-only transaction allows; what it sets must not
/// outlive the run (every run's transaction is rolled back), so the next run on the same
/// pooled connection still has its timeout.
#[test]
fn pg_session_settings_do_not_outlive_the_run() {
    let _server = common::shared(&common::POSTGRES);
    let Some(url) = postgres_url() else {
        eprintln!("skipped: set QUARRY_TEST_POSTGRES_URL to attack PostgreSQL");
        return;
    };
    postgres_loaded(&url);
    let rt = runtime();
    let sources = sources();
    let on_pg = |query: &str| {
        run_with(
            rt,
            &sources,
            RunRequest {
                source: "pg".into(),
                timeout: Duration::from_secs(1),
                ..request(rt, None, "{}", Some(query))
            },
        )
        .0
    };
    for _ in 0..2 {
        // Twice, so that the second run surely reuses a pooled connection.
        let set = on_pg(
            "SELECT set_config('statement_timeout', '0', false), set_config('default_transaction_read_only', 'off', false)",
        );
        assert!(set.result.is_ok(), "{:?}", set.result);
    }
    let slept = on_pg("SELECT pg_sleep(60)");
    assert!(
        matches!(
            slept.result,
            Err(RunError::Source(
                quarry_sources::SourceError::Timeout { .. }
            ))
        ),
        "{:?}",
        slept.result
    );
    let wrote = on_pg("DELETE FROM airlines");
    assert!(
        matches!(wrote.result, Err(RunError::Source(_))),
        "{:?}",
        wrote.result
    );
}
