//! Scripts: JavaScript run by the script runner (plugins/script-runner, built by `cargo
//! plugins`). The starter scripts in plugins/scripts give the answers of the Rust examples
//! and of SQL on the demo data; every kind of broken script gives its error, with the
//! script's line and column where there is one, within the run's limits.

use crate::common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use quarry_engine::run::{PluginChoice, RunError, RunRequest};
use quarry_runtime::{Limit, Limits, LoadedPlugin, PluginError};

fn runner() -> Arc<LoadedPlugin> {
    static RUNNER: OnceLock<Arc<LoadedPlugin>> = OnceLock::new();
    RUNNER
        .get_or_init(|| load(runtime(), "script_runner"))
        .clone()
}

/// `text` as a plugin run by the script runner.
fn script(text: &str) -> Arc<LoadedPlugin> {
    Arc::new(runner().with_script(text, "test"))
}

/// A starter script from plugins/scripts.
fn starter(name: &str) -> Arc<LoadedPlugin> {
    let path = repo_root()
        .join("plugins/scripts")
        .join(format!("{name}.js"));
    script(&std::fs::read_to_string(&path).unwrap())
}

/// The error of running `text` over `query` under `limits`.
fn failure(text: &str, query: &str, limits: Limits) -> PluginError {
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin: script(text),
            load: Default::default(),
        }),
        query: Some(query.to_owned()),
        limits,
        ..RunRequest::new("demo")
    };
    match run_on(runtime(), request).0.result {
        Err(RunError::Plugin(e)) => e,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

fn failed_message(error: &PluginError) -> &str {
    match error {
        PluginError::Failed { message, .. } => message,
        other => panic!("expected the script's own error, got {other}"),
    }
}

const FLIGHTS: &str = "SELECT * FROM flights LIMIT 20000";

#[test]
fn the_units_script_matches_the_rust_plugin() {
    let js = run_plugin(starter("units"), "{}", Some(FLIGHTS));
    let rust = run_plugin(load(runtime(), "units"), "{}", Some(FLIGHTS));
    assert_eq!(rust.rows(), 20_000);
    // Untouched columns keep their types (int64, text, timestamp); new ones are float64.
    assert_same_output(&js, &rust);
    // The same map by columns (transformColumns) gives the same answer.
    let by_columns = run_plugin(starter("units-columns"), "{}", Some(FLIGHTS));
    assert_same_output(&by_columns, &rust);
}

/// A script sees bytes as base64, as the API and the page show them.
#[test]
fn a_script_sees_bytes_as_base64() {
    let js = "function transform(rows) { return rows.map((r) => ({ seen: r.b })); }";
    let out = run_plugin(
        script(js),
        "{}",
        Some("SELECT x'00ff10' AS b UNION ALL SELECT NULL"),
    );
    assert_eq!(
        out.column("seen"),
        [Owned::Text("AP8Q".into()), Owned::Null]
    );
}

#[test]
fn a_batch_of_cancelled_flights_keeps_the_columns_types() {
    // The second batch has no air times, so its speeds are all null: still float64.
    let query = "SELECT * FROM (SELECT distance, air_time FROM flights WHERE air_time IS NOT NULL LIMIT 100) \
                 UNION ALL SELECT * FROM (SELECT distance, air_time FROM flights WHERE air_time IS NULL LIMIT 100)";
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin: starter("units"),
            load: Default::default(),
        }),
        query: Some(query.to_owned()),
        batch_rows: 100,
        ..RunRequest::new("demo")
    };
    let (report, out) = run_on(runtime(), request);
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(out.batches.len(), 2);
    assert_eq!(out.column("speed_kmh")[150], Owned::Null);
}

#[test]
fn the_delay_stats_script_matches_the_rust_plugin_over_every_flight() {
    let query = Some("SELECT carrier, arr_delay FROM flights");
    let js = run_plugin(starter("delay-stats"), "{}", query);
    let rust = run_plugin(load(runtime(), "delay_stats"), "{}", query);
    assert_eq!(rust.rows(), 16);
    assert_same_output(&js, &rust);

    let by_origin = r#"{"column": "dep_delay", "group_by": "origin"}"#;
    let query = Some("SELECT origin, dep_delay FROM flights");
    let js = run_plugin(starter("delay-stats"), by_origin, query);
    let rust = run_plugin(load(runtime(), "delay_stats"), by_origin, query);
    assert_eq!(
        js.column("origin"),
        ["EWR", "JFK", "LGA"].map(|s| Owned::Text(s.into()))
    );
    assert_same_output(&js, &rust);
}

#[test]
fn the_busiest_routes_script_builds_a_bound_query_and_aggregates() {
    let out = run_plugin(
        starter("busiest-routes"),
        r#"{"origin": "LGA", "top": 5}"#,
        None,
    );
    let expected: Vec<Vec<rusqlite::types::Value>> = sql(
        "SELECT dest, COUNT(*), SUM(dep_delay > 15) FROM flights WHERE origin = 'LGA' \
         GROUP BY dest ORDER BY COUNT(*) DESC, dest LIMIT 5",
    );
    use rusqlite::types::Value as V;
    let dests: Vec<Owned> = expected
        .iter()
        .map(|r| match &r[0] {
            V::Text(s) => Owned::Text(s.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let counts: Vec<Owned> = expected
        .iter()
        .map(|r| match r[1] {
            V::Integer(n) => Owned::Int(n),
            ref other => panic!("{other:?}"),
        })
        .collect();
    let shares: Vec<Owned> = expected
        .iter()
        .map(|r| match (&r[1], &r[2]) {
            (V::Integer(n), V::Integer(late)) => Owned::Float(*late as f64 / *n as f64),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(out.column("dest"), dests);
    assert_eq!(out.column("flights"), counts, "BigInt counts are int64");
    assert_eq!(out.column("late_share"), shares);
}

#[test]
fn the_late_arrivals_script_filters_and_logs_reach_the_run() {
    let out = run_plugin(
        starter("late-arrivals"),
        "{}",
        Some("SELECT carrier, flight, arr_delay FROM flights"),
    );
    let late: Vec<Vec<i64>> = sql("SELECT COUNT(*) FROM flights WHERE arr_delay > 60");
    assert_eq!(out.rows() as i64, late[0][0]);
    assert!(
        out.column("delay_h")
            .iter()
            .all(|d| matches!(d, Owned::Float(h) if *h > 1.0))
    );

    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin: starter("delay-stats"),
            load: Default::default(),
        }),
        query: Some("SELECT carrier, arr_delay FROM flights".to_owned()),
        ..RunRequest::new("demo")
    };
    let report = run_on(runtime(), request).0;
    assert!(report.result.is_ok());
    assert!(
        report.logs.iter().any(|l| l.message == "16 groups"),
        "{:?}",
        report.logs
    );
}

#[test]
fn a_script_and_the_same_text_under_another_runner_are_different_plugins() {
    let text = "function transform(rows) {}";
    let a = script(text);
    assert_eq!(
        a.sha256,
        quarry_runtime::script::sha256(text, &runner().sha256)
    );
    assert_ne!(
        a.sha256,
        quarry_runtime::script::sha256(text, &"0".repeat(64))
    );
    assert_eq!(a.script(), Some(text));
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let e = failure(
        "function transform(rows) {\n  return rows.map(r => r.x +);\n}",
        "SELECT 1",
        Limits::default(),
    );
    let message = failed_message(&e);
    assert!(message.starts_with("SyntaxError: "), "{message}");
    assert!(message.contains("(script.js:2:"), "{message}");
    assert!(e.to_string().contains("failed in init"), "{e}");
}

#[test]
fn an_exception_names_its_line_and_column() {
    let e = failure(
        "// line 1\nfunction transform(rows) {\n  return rows.map((r) => r.missing.field);\n}",
        "SELECT carrier FROM airlines",
        Limits::default(),
    );
    let message = failed_message(&e);
    assert!(message.starts_with("TypeError: "), "{message}");
    assert!(message.contains("(script.js:3:"), "{message}");
    assert!(e.to_string().contains("failed in transform"), "{e}");
}

#[test]
fn runaway_recursion_ends_at_the_stack_limit() {
    // QuickJS recurses on the engine's stack, which its own check cannot see in wasm.
    let e = failure(
        "function deeper(n) { return deeper(n + 1) + 1; }\nfunction transform(rows) { deeper(0); }",
        "SELECT 1",
        Limits::default(),
    );
    assert!(
        matches!(
            e,
            PluginError::Limit {
                limit: Limit::Stack(_),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_infinite_loop_is_stopped_at_the_cpu_deadline() {
    let limits = Limits {
        cpu_time: Duration::from_millis(500),
        ..Limits::default()
    };
    let e = failure(
        "function transform(rows) { for (;;) {} }",
        "SELECT 1",
        limits,
    );
    assert!(
        matches!(
            e,
            PluginError::Limit {
                limit: Limit::CpuTime(_),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn memory_growth_is_stopped_at_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let e = failure(
        "const kept = [];\nfunction transform(rows) { for (;;) kept.push(new Array(100000).fill(rows.length)); }",
        "SELECT 1",
        limits,
    );
    let shown = e.to_string();
    let stopped = matches!(
        e,
        PluginError::Limit {
            limit: Limit::Memory(_),
            ..
        }
    ) || shown.contains("out of memory");
    assert!(stopped, "{shown}");
}

#[test]
fn huge_output_is_stopped_at_the_output_limit() {
    let limits = Limits {
        output_rows: 10_000,
        ..Limits::default()
    };
    let e = failure(
        "function transform(rows) { return rows.concat(rows, rows, rows); }",
        "SELECT carrier FROM flights",
        limits,
    );
    assert!(
        matches!(
            e,
            PluginError::Limit {
                limit: Limit::OutputRows(10_000),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_script_without_any_entry_point_is_refused() {
    let e = failure("const x = 1;", "SELECT 1", Limits::default());
    assert!(
        failed_message(&e).contains("defines none of transform"),
        "{e}"
    );
}
