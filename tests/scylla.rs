//! The ScyllaDB source against a live cluster (e.g. `docker compose up scylla`): runs when
//! QUARRY_TEST_SCYLLA_URI (a contact point, `host:port`) is set, and says it was skipped
//! otherwise. No ScyllaDB server can run on the build machines; the statement guard and
//! the type mapping are unit-tested in `host/src/source/scylla.rs`.

mod common;

use std::sync::Arc;

use common::*;
use quarry::compare::first_difference;
use quarry::config::SourceSettings;
use quarry::run::{RunError, RunRequest};
use quarry::seed::Target;
use quarry::source::scylla::ScyllaSource;
use quarry::source::{SourceError, Sources};

const KEYSPACE: &str = "quarry_test";

fn contact_point() -> Option<String> {
    let uri = std::env::var("QUARRY_TEST_SCYLLA_URI").ok();
    if uri.is_none() {
        eprintln!("skipped: set QUARRY_TEST_SCYLLA_URI (host:port) to run the live ScyllaDB tests");
    }
    uri
}

/// Loads the demo's flights into the test keyspace with `quarry seed`.
fn seed(node: &str) {
    let source = ScyllaSource::new("scylla", vec![node.to_owned()], Some(KEYSPACE.to_owned()));
    let demo = quarry::source::demo::ensure(&data_dir()).unwrap();
    let tables = ["flights".to_owned()];
    tokio()
        .block_on(quarry::seed::seed(
            &Target::Scylla(source),
            &demo,
            &tables,
            None,
            &mut |_, _| {},
        ))
        .unwrap();
}

fn sources(node: &str) -> Sources {
    let mut sources = Sources::with_demo(data_dir());
    let scylla = ScyllaSource::new("scylla", vec![node.to_owned()], Some(KEYSPACE.to_owned()));
    sources.insert(Arc::new(scylla), SourceSettings::default());
    sources
}

#[test]
fn live_select_matches_the_demo_and_writes_are_refused() {
    let Some(node) = contact_point() else { return };
    seed(&node);
    let rt = runtime();
    let query =
        "SELECT carrier, flight, dep_delay FROM flights WHERE origin = 'JFK' AND dest = 'LAX'";
    let on_scylla = |query: &str| RunRequest {
        source: "scylla".into(),
        ..request(rt, None, "{}", Some(query))
    };
    let (report, out) = run_with(
        rt,
        &sources(&node),
        RunRequest {
            batch_rows: 100,
            ..on_scylla(query)
        },
    );
    report.result.unwrap();
    let expected: Vec<Vec<i64>> =
        sql("SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX'");
    assert_eq!(out.rows() as i64, expected[0][0]);
    assert!(
        out.batches.iter().all(|b| b.num_rows <= 100),
        "pages are batch-sized"
    );

    for bad in [
        "DELETE FROM flights WHERE origin = 'JFK' AND dest = 'LAX'",
        "TRUNCATE flights",
        "DROP TABLE flights",
    ] {
        let (report, _) = run_with(rt, &sources(&node), on_scylla(bad));
        assert!(
            matches!(
                report.result,
                Err(RunError::Source(SourceError::NotReadOnly { .. }))
            ),
            "{bad}"
        );
    }
    let (report, again) = run_with(rt, &sources(&node), on_scylla(query));
    report.result.unwrap();
    assert_eq!(again.rows(), out.rows(), "the data is unchanged");
}

#[test]
fn live_the_example_plugin_gives_the_demo_answer() {
    let Some(node) = contact_point() else { return };
    seed(&node);
    let rt = runtime();
    let params = r#"{"origin": "EWR", "dest": "IAH", "from": "2013-03-01", "to": "2013-03-31"}"#;
    let (_, on_demo) = run_ok(Some("flights_between"), params, None);
    let (report, on_scylla) = run_with(
        rt,
        &sources(&node),
        RunRequest {
            source: "scylla".into(),
            ..request(rt, Some("flights_between"), params, None)
        },
    );
    report.result.unwrap();
    assert!(on_demo.rows() > 100);
    assert_eq!(first_difference(&on_demo, &on_scylla), None);
}
