//! Each example plugin on the demo data, checked against answers computed independently:
//! SQL run straight against the demo database, or arithmetic in the test.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::run::RunError;
use quarry_runtime::{Export, PluginError};
use quarry_sources::{Backend, Query, Value};

#[test]
fn flights_between_matches_sql_on_the_demo() {
    let params = r#"{"origin": "JFK", "dest": "LAX", "from": "2013-03-01", "to": "2013-03-31"}"#;
    let (report, out) = run_ok(Some("flights_between"), params, None);
    let expected: Vec<Vec<String>> = sql(
        "SELECT carrier, CAST(flight AS TEXT), time_hour FROM flights
         WHERE origin = 'JFK' AND dest = 'LAX' AND year = 2013 AND month = 3
         ORDER BY time_hour, carrier, flight",
    );
    assert!(
        expected.len() > 800,
        "the route is busy in March: {}",
        expected.len()
    );
    assert_eq!(out.rows(), expected.len());
    assert_eq!(out.fields.len(), 19);
    let carriers = out.column("carrier");
    let flights = out.column("flight");
    let times = out.column("time_hour");
    for (i, row) in expected.iter().enumerate() {
        assert_eq!(carriers[i].as_str(), Some(row[0].as_str()));
        assert_eq!(flights[i].as_i64().unwrap().to_string(), row[1]);
        let micros = times[i].as_i64().unwrap();
        assert_eq!(
            quarry_core::datetime::parse_timestamp(&row[2]),
            Some(micros)
        );
    }
    let Some(Query::Sql(statement)) = report.query else {
        panic!("expected SQL, got {:?}", report.query)
    };
    assert_eq!(statement.params.len(), 4);
    assert_eq!(statement.params[0], Value::Text("JFK".into()));
    assert!(statement.text.contains("?1"), "{}", statement.text);
}

/// The query the plugin builds for `backend`.
fn query_for(backend: Backend, params: &str) -> Query {
    let rt = runtime();
    let plugin = load(rt, "flights_between");
    let mut run = rt
        .start(&plugin, rt.default_limits(), Arc::default())
        .unwrap();
    run.init("any", backend, params).unwrap();
    run.build_query()
        .unwrap()
        .expect("flights-between builds a query")
}

#[test]
fn flights_between_speaks_every_dialect() {
    let params = r#"{"origin": "EWR", "dest": "SFO", "from": "2013-07-04", "to": "2013-07-04"}"#;
    for backend in [Backend::Postgres, Backend::Cockroach] {
        let Query::Sql(s) = query_for(backend, params) else {
            panic!("{backend:?}: expected SQL")
        };
        assert!(s.text.contains("$4") && !s.text.contains('?'), "{}", s.text);
        // New York's midnights in July (EDT, UTC−4).
        assert_eq!(s.params[2], Value::Text("2013-07-04T04:00:00Z".into()));
        assert_eq!(
            s.params[3],
            Value::Text("2013-07-05T04:00:00Z".into()),
            "the end date is inclusive"
        );
    }
    let Query::Cql(s) = query_for(Backend::Scylla, params) else {
        panic!("expected CQL")
    };
    assert!(
        s.text.contains("ALLOW FILTERING") && s.text.contains('?'),
        "{}",
        s.text
    );
    assert_eq!(s.params.len(), 4);
    let Query::MongoFind(find) = query_for(Backend::Mongo, params) else {
        panic!("expected a Mongo find")
    };
    assert_eq!(find.collection, "flights");
    let filter: serde_json::Value = serde_json::from_str(&find.filter).unwrap();
    assert_eq!(filter["origin"], "EWR");
    assert_eq!(filter["time_hour"]["$lt"]["$date"], "2013-07-05T04:00:00Z");
}

#[test]
fn flights_between_refuses_bad_params_by_name() {
    let rt = runtime();
    for (params, field) in [
        (r#"{"dest": "LAX"}"#, "origin"),
        (
            r#"{"origin": "JFK", "dest": "LAX", "from": "2013-02-30"}"#,
            "from",
        ),
    ] {
        let (report, _) = run_on(rt, request(rt, Some("flights_between"), params, None));
        match report.result {
            Err(RunError::Plugin(PluginError::Failed {
                export: Export::Init,
                message,
                ..
            })) => {
                assert!(message.contains(field), "{params}: {message}");
            }
            other => panic!("{params}: expected an init failure, got {other:?}"),
        }
    }
}

#[test]
fn units_adds_the_converted_columns() {
    let (_, out) = run_ok(
        Some("units"),
        "{}",
        Some("SELECT distance, air_time FROM flights"),
    );
    assert_eq!(out.rows(), 336_776);
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "distance",
            "air_time",
            "distance_km",
            "air_time_h",
            "speed_kmh"
        ]
    );
    let km: f64 = out
        .column("distance_km")
        .iter()
        .filter_map(Owned::as_f64)
        .sum();
    let expected: Vec<Vec<f64>> = sql("SELECT sum(distance) * 1.609344 FROM flights");
    assert!(
        (km - expected[0][0]).abs() / km < 1e-9,
        "{km} vs {}",
        expected[0][0]
    );
    let nulls = out
        .column("speed_kmh")
        .iter()
        .filter(|v| **v == Owned::Null)
        .count() as i64;
    let expected: Vec<Vec<i64>> =
        sql("SELECT count(*) FROM flights WHERE air_time IS NULL OR air_time = 0");
    assert_eq!(nulls, expected[0][0]);
    let speeds = out.column("speed_kmh");
    let distances = out.column("distance");
    let air = out.column("air_time");
    let i = air.iter().position(|v| *v != Owned::Null).unwrap();
    let expect = distances[i].as_f64().unwrap() * 1.609344 / (air[i].as_f64().unwrap() / 60.0);
    assert!((speeds[i].as_f64().unwrap() - expect).abs() < 1e-9);
}

#[test]
fn delayed_keeps_exactly_the_late_flights() {
    let (_, out) = run_ok(
        Some("delayed"),
        r#"{"min_delay": 120, "column": "arr_delay"}"#,
        Some("SELECT * FROM flights"),
    );
    let expected: Vec<Vec<i64>> =
        sql("SELECT count(*), min(arr_delay) FROM flights WHERE arr_delay >= 120");
    assert_eq!(out.rows() as i64, expected[0][0]);
    let delays = out.column("arr_delay");
    assert_eq!(
        delays.iter().filter_map(Owned::as_i64).min(),
        Some(expected[0][1])
    );
    assert_eq!(out.fields.len(), 19, "a filter keeps the columns");

    // Defaults: dep_delay >= 60.
    let (_, out) = run_ok(Some("delayed"), "{}", Some("SELECT * FROM flights"));
    let expected: Vec<Vec<i64>> = sql("SELECT count(*) FROM flights WHERE dep_delay >= 60");
    assert_eq!(out.rows() as i64, expected[0][0]);
}

#[test]
fn delay_stats_matches_sql_per_carrier() {
    let (_, out) = run_ok(
        Some("delay_stats"),
        "{}",
        Some("SELECT carrier, arr_delay FROM flights"),
    );
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["carrier", "count", "mean", "p50", "p95"]);
    let expected: Vec<Vec<rusqlite::types::Value>> = sql(
        "SELECT carrier, count(arr_delay), avg(arr_delay) FROM flights GROUP BY carrier
         HAVING count(arr_delay) > 0 ORDER BY carrier",
    );
    assert_eq!(out.rows(), expected.len());
    let (carriers, counts, means) = (
        out.column("carrier"),
        out.column("count"),
        out.column("mean"),
    );
    let (p50s, p95s) = (out.column("p50"), out.column("p95"));
    for (i, row) in expected.iter().enumerate() {
        use rusqlite::types::Value as V;
        let (V::Text(carrier), V::Integer(n), V::Real(mean)) = (&row[0], &row[1], &row[2]) else {
            panic!("{row:?}")
        };
        assert_eq!(carriers[i].as_str(), Some(carrier.as_str()));
        assert_eq!(counts[i].as_i64(), Some(*n));
        assert!((means[i].as_f64().unwrap() - mean).abs() < 1e-9);
        // Nearest rank: the value at position ceil(p * n) in ascending order.
        for (p, got) in [(50, &p50s[i]), (95, &p95s[i])] {
            let offset = (p * n + 99) / 100 - 1;
            let expected: Vec<Vec<f64>> = sql(&format!(
                "SELECT arr_delay FROM flights WHERE carrier = '{carrier}' AND arr_delay IS NOT NULL
                 ORDER BY arr_delay LIMIT 1 OFFSET {offset}"
            ));
            assert_eq!(got.as_f64(), Some(expected[0][0]), "{carrier} p{p}");
        }
    }
}

#[test]
fn mask_hides_what_its_params_name() {
    let query = Some("SELECT tailnum, origin FROM flights LIMIT 3000");
    let originals: Vec<Vec<Option<String>>> = sql("SELECT tailnum, origin FROM flights LIMIT 3000");
    let (_, out) = run_ok(
        Some("mask"),
        r#"{"columns": ["tailnum"], "keep": 2}"#,
        query,
    );
    let masked = out.column("tailnum");
    let origins = out.column("origin");
    assert!(
        originals.iter().any(|r| r[0].is_none()),
        "the sample holds null tail numbers"
    );
    for (i, row) in originals.iter().enumerate() {
        assert_eq!(
            origins[i].as_str(),
            row[1].as_deref(),
            "other columns are untouched"
        );
        match &row[0] {
            None => assert_eq!(masked[i], Owned::Null),
            Some(tail) => {
                let n = tail.chars().count();
                let expected = if n <= 2 {
                    "*".repeat(n)
                } else {
                    format!("{}{}", "*".repeat(n - 2), &tail[n - 2..])
                };
                assert_eq!(masked[i].as_str(), Some(expected.as_str()));
            }
        }
    }

    let (_, out) = run_ok(
        Some("mask"),
        r#"{"columns": ["tailnum"], "mode": "redact"}"#,
        query,
    );
    assert!(
        out.column("tailnum")
            .iter()
            .all(|v| *v == Owned::Null || v.as_str() == Some("***"))
    );

    let (_, out) = run_ok(
        Some("mask"),
        r#"{"columns": ["tailnum"], "mode": "hash"}"#,
        query,
    );
    let hashes = out.column("tailnum");
    for (i, j) in [(0, 1), (0, 2), (1, 2), (5, 9)] {
        let (a, b) = (&originals[i][0], &originals[j][0]);
        if a.is_some() && b.is_some() {
            assert_eq!(
                a == b,
                hashes[i] == hashes[j],
                "equal values hash equal, others differ"
            );
        }
    }
    assert!(
        hashes
            .iter()
            .filter_map(Owned::as_str)
            .all(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
    );

    let rt = runtime();
    let (report, _) = run_on(
        rt,
        request(rt, Some("mask"), r#"{"columns": ["nope"]}"#, query),
    );
    let error = report.result.unwrap_err().to_string();
    assert!(error.contains("nope"), "{error}");
}

/// The native Rust baselines of `quarry bench` compute what the example plugins compute.
#[test]
fn the_bench_baselines_match_the_plugins() {
    let (_, flights) = run_ok(None, "{}", Some("SELECT * FROM flights"));
    let kept: usize = flights
        .batches
        .iter()
        .map(|b| quarry_bench::filter_native(b, 45).num_rows)
        .sum();
    let (_, delayed) = run_ok(
        Some("delayed"),
        r#"{"min_delay": 45}"#,
        Some("SELECT * FROM flights"),
    );
    assert_eq!(kept, delayed.rows());
    assert_eq!(kept, 35_985);

    let mut groups = Default::default();
    for b in &flights.batches {
        quarry_bench::aggregate_native(b, &mut groups);
    }
    let native = quarry_bench::finish_aggregate(&mut groups);
    let (_, stats) = run_ok(
        Some("delay_stats"),
        "{}",
        Some("SELECT carrier, arr_delay FROM flights"),
    );
    let carriers = stats.column("carrier");
    let counts = stats.column("count");
    let p95 = stats.column("p95");
    assert_eq!(native.len(), carriers.len());
    for (i, (carrier, n, _, _, p)) in native.iter().enumerate() {
        assert_eq!(carriers[i], Owned::Text(carrier.clone()));
        assert_eq!(counts[i], Owned::Int(*n as i64));
        assert_eq!(p95[i], Owned::Float(*p));
    }
}
