//! The PostgreSQL source against a live CockroachDB (e.g. `docker compose up cockroach`):
//! runs when QUARRY_TEST_COCKROACH_URL is set (for compose:
//! `postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable`), and says it was skipped
//! otherwise. No CockroachDB server can run on the build machines; the PostgreSQL tests
//! cover the shared code path against a real PostgreSQL.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::compare::first_difference;
use quarry_engine::run::{RunError, RunRequest};
use quarry_sources::config::SourceSettings;
use quarry_sources::postgres::PostgresSource;
use quarry_sources::seed::{Target, seed};
use quarry_sources::{Backend, Source, Sources};

fn url() -> Option<String> {
    let url = std::env::var("QUARRY_TEST_COCKROACH_URL").ok();
    if url.is_none() {
        eprintln!(
            "skipped: set QUARRY_TEST_COCKROACH_URL to run the live CockroachDB tests (docker compose up cockroach)"
        );
    }
    url
}

fn source(url: &str) -> PostgresSource {
    PostgresSource::new("crdb", url, Backend::Cockroach, 2).unwrap()
}

#[test]
fn live_cockroach_is_detected_seeded_and_gives_the_demo_answer() {
    let Some(url) = url() else { return };
    let crdb = source(&url);
    let server = tokio().block_on(crdb.check()).unwrap();
    assert!(server.contains("CockroachDB"), "{server}");
    assert_eq!(crdb.backend(), Backend::Cockroach);

    let demo = quarry_sources::demo::ensure(&data_dir()).unwrap();
    let tables = ["flights".to_owned()];
    tokio()
        .block_on(seed(
            &Target::Postgres(source(&url)),
            &demo,
            &tables,
            None,
            &mut |_, _| {},
        ))
        .unwrap();

    let mut sources = Sources::with_demo(data_dir());
    sources.insert(Arc::new(source(&url)), SourceSettings::default());
    let rt = runtime();
    let params = r#"{"origin": "EWR", "dest": "IAH", "from": "2013-03-01", "to": "2013-03-31"}"#;
    let (_, on_demo) = run_ok(Some("flights_between"), params, None);
    let (report, on_crdb) = run_with(
        rt,
        &sources,
        RunRequest {
            source: "crdb".into(),
            ..request(rt, Some("flights_between"), params, None)
        },
    );
    report.result.unwrap();
    assert!(on_demo.rows() > 100);
    assert_eq!(first_difference(&on_demo, &on_crdb), None);

    for write in [
        "DELETE FROM flights",
        "DROP TABLE flights",
        "SELECT 1; DELETE FROM flights",
    ] {
        let (report, _) = run_with(
            rt,
            &sources,
            RunRequest {
                source: "crdb".into(),
                ..request(rt, None, "{}", Some(write))
            },
        );
        assert!(matches!(report.result, Err(RunError::Source(_))), "{write}");
    }
    let (report, count) = run_with(
        rt,
        &sources,
        RunRequest {
            source: "crdb".into(),
            ..request(rt, None, "{}", Some("SELECT count(*) AS n FROM flights"))
        },
    );
    report.result.unwrap();
    assert_eq!(
        count.column("n"),
        [Owned::Int(336_776)],
        "the data is unchanged"
    );
}
