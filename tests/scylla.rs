//! The ScyllaDB source against a live cluster (e.g. `docker compose up scylla`): runs when
//! QUARRY_TEST_SCYLLA_URI (a contact point, `host:port`) is set, and says it was skipped
//! otherwise. No ScyllaDB server can run on the build machines; the statement guard and
//! the type mapping are unit-tested in `host/src/source/scylla.rs`.

mod common;

use std::sync::Arc;

use common::*;
use quarry::config::SourceSettings;
use quarry::run::{RunError, RunRequest};
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

/// Creates the keyspace and loads the JFK→LAX flights of January from the demo database.
fn seed(node: &str) {
    tokio().block_on(async {
        let session = scylla::client::session_builder::SessionBuilder::new().known_node(node).build().await.unwrap();
        session
            .query_unpaged(
                format!("CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"),
                &[],
            )
            .await
            .unwrap();
        session
            .query_unpaged(
                format!(
                    "CREATE TABLE IF NOT EXISTS {KEYSPACE}.flights (origin text, dest text, time_hour timestamp,
                     carrier text, flight int, dep_delay int, PRIMARY KEY ((origin, dest), time_hour, carrier, flight))"
                ),
                &[],
            )
            .await
            .unwrap();
        let rows: Vec<Vec<rusqlite::types::Value>> = sql(
            "SELECT carrier, flight, dep_delay, time_hour FROM flights
             WHERE origin = 'JFK' AND dest = 'LAX' AND time_hour < '2013-02-01'",
        );
        let insert = session
            .prepare(format!(
                "INSERT INTO {KEYSPACE}.flights (origin, dest, time_hour, carrier, flight, dep_delay) VALUES ('JFK', 'LAX', ?, ?, ?, ?)"
            ))
            .await
            .unwrap();
        for row in rows {
            use rusqlite::types::Value as V;
            let (V::Text(carrier), V::Integer(flight), delay, V::Text(time)) = (&row[0], &row[1], &row[2], &row[3]) else { panic!() };
            let millis = quarry::datetime::parse_timestamp(time).unwrap() / 1000;
            let delay = match delay {
                V::Integer(d) => Some(*d as i32),
                _ => None,
            };
            session
                .execute_unpaged(&insert, (scylla::value::CqlTimestamp(millis), carrier, *flight as i32, delay))
                .await
                .unwrap();
        }
    });
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
    let expected: Vec<Vec<i64>> = sql(
        "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' AND time_hour < '2013-02-01'",
    );
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
