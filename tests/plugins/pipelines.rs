//! Pipelines: several plugins in one run, the first building the query and each
//! transforming the rows of the one before, with what each step gave.

use crate::common;

use common::*;
use quarry_engine::run::{PluginChoice, RunError, RunRequest, Step};

fn step(name: &str, params: &str) -> Step {
    Step {
        plugin: PluginChoice {
            plugin: load(runtime(), name),
            load: Default::default(),
        },
        params: params.to_owned(),
    }
}

/// flights-between (builds the query) → delayed (a filter) → delay-stats (an aggregate):
/// the same answer as the SQL that does all three, and each step's rows.
#[test]
fn three_plugins_build_filter_and_aggregate_as_the_sql_does() {
    let rt = runtime();
    let request = RunRequest {
        then: vec![
            step("delayed", r#"{"min_delay": 60}"#),
            step("delay_stats", "{}"),
        ],
        ..request(
            rt,
            Some("flights_between"),
            r#"{"origin": "JFK", "dest": "LAX"}"#,
            None,
        )
    };
    let (report, out) = run_on(rt, request);
    report.result.unwrap();
    let expected: Vec<Vec<rusqlite::types::Value>> =
        sql("SELECT carrier, count(arr_delay) FROM flights
         WHERE origin = 'JFK' AND dest = 'LAX' AND dep_delay >= 60
         GROUP BY carrier HAVING count(arr_delay) > 0 ORDER BY carrier");
    assert_eq!(out.rows(), expected.len());
    let (carriers, counts) = (out.column("carrier"), out.column("count"));
    for (i, row) in expected.iter().enumerate() {
        use rusqlite::types::Value as V;
        let (V::Text(carrier), V::Integer(n)) = (&row[0], &row[1]) else {
            panic!("{row:?}")
        };
        assert_eq!(carriers[i].as_str(), Some(carrier.as_str()));
        assert_eq!(counts[i].as_i64(), Some(*n));
    }

    let steps: Vec<(&str, u64)> = report
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.rows_out))
        .collect();
    let all: Vec<Vec<i64>> =
        sql("SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX'");
    let late: Vec<Vec<i64>> = sql(
        "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' AND dep_delay >= 60",
    );
    assert_eq!(
        steps,
        [
            ("flights-between", all[0][0] as u64),
            ("delayed", late[0][0] as u64),
            ("delay-stats", expected.len() as u64),
        ]
    );
    assert!(
        report.steps.iter().all(|s| s.first.is_some()),
        "a preview of each step"
    );
    assert_eq!(report.stats.rows_out, expected.len() as u64);
}

/// Only the first step may just build the query; a later step's params are its own and
/// checked as such.
#[test]
fn a_later_step_must_transform_and_have_params_of_its_own() {
    let rt = runtime();
    let route = r#"{"origin": "JFK", "dest": "LAX"}"#;
    let run = |then: Vec<Step>| {
        let request = RunRequest {
            then,
            ..request(rt, Some("flights_between"), route, None)
        };
        run_on(rt, request).0
    };
    let report = run(vec![step("flights_between", route)]);
    match report.result {
        Err(RunError::Pipeline(message)) => assert!(
            message.contains("step 2 (`flights-between`) does not transform rows"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    let report = run(vec![step("units", "[1]")]);
    match report.result {
        Err(RunError::Params(message)) => assert!(message.starts_with("step 2"), "{message}"),
        other => panic!("{other:?}"),
    }
    let report = run(vec![step("delayed", r#"{"min_delay": "late"}"#)]);
    let error = report.result.unwrap_err().to_string();
    assert!(error.contains("min_delay"), "{error}");
}
