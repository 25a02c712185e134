//! The TypeScript example plugins (plugins/ts, built by scripts/ts-plugins.sh with jco)
//! give the same answers as the Rust examples they mirror, fit the sandbox's memory, and
//! report their errors.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::run::{PluginChoice, RunReport, RunRequest};
use quarry_runtime::{Limits, LoadedPlugin, Runtime};

fn ts_plugin(runtime: &Runtime, name: &str) -> Arc<LoadedPlugin> {
    let path = repo_root()
        .join("target/ts-plugins")
        .join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): build the TypeScript plugins with scripts/ts-plugins.sh (scripts/test.sh does)",
            path.display()
        )
    });
    runtime
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{name}.wasm loads: {e}"))
        .0
}

/// Runs `plugin` over `query` on the demo.
fn run(
    runtime: &Runtime,
    plugin: Arc<LoadedPlugin>,
    params: &str,
    query: &str,
) -> (RunReport, Collect) {
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin,
            load: Default::default(),
        }),
        params: params.to_owned(),
        query: Some(query.to_owned()),
        ..RunRequest::new("demo")
    };
    run_on(runtime, request)
}

/// The error of a run that must fail.
fn error(plugin: &str, params: &str, query: &str) -> String {
    let (report, _) = run(runtime(), ts_plugin(runtime(), plugin), params, query);
    report.result.expect_err("the run fails").to_string()
}

#[test]
fn the_ts_map_matches_the_rust_one() {
    let query = "SELECT * FROM flights LIMIT 20000";
    let ts = run_plugin(ts_plugin(runtime(), "units"), "{}", Some(query));
    let rust = run_plugin(load(runtime(), "units"), "{}", Some(query));
    assert_eq!(rust.rows(), 20_000);
    assert_same_output(&ts, &rust);
    // Cancelled flights have no air time, so some speeds are null.
    assert!(ts.column("speed_kmh").contains(&Owned::Null));
}

#[test]
fn the_ts_aggregate_matches_the_rust_one_over_every_flight() {
    let query = "SELECT carrier, arr_delay FROM flights";
    let ts = run_plugin(ts_plugin(runtime(), "delay_stats"), "{}", Some(query));
    let rust = run_plugin(load(runtime(), "delay_stats"), "{}", Some(query));
    assert_eq!(rust.rows(), 16);
    assert_same_output(&ts, &rust);

    let by_origin = r#"{"column": "dep_delay", "group_by": "origin"}"#;
    let query = "SELECT origin, dep_delay FROM flights";
    let ts = run_plugin(ts_plugin(runtime(), "delay_stats"), by_origin, Some(query));
    let rust = run_plugin(load(runtime(), "delay_stats"), by_origin, Some(query));
    assert_eq!(
        ts.column("origin"),
        ["EWR", "JFK", "LGA"].map(|s| Owned::Text(s.into()))
    );
    assert_same_output(&ts, &rust);

    // Numbers as keys: grouped by their text, "10" before "9", as in Rust.
    let by_month = r#"{"column": "dep_delay", "group_by": "month"}"#;
    let query = "SELECT month, dep_delay FROM flights";
    let ts = run_plugin(ts_plugin(runtime(), "delay_stats"), by_month, Some(query));
    let rust = run_plugin(load(runtime(), "delay_stats"), by_month, Some(query));
    assert_eq!(
        ts.column("month")[..2],
        ["1", "10"].map(|s| Owned::Text(s.into()))
    );
    assert_same_output(&ts, &rust);

    // Float keys are written as Rust writes them: never with an exponent.
    for query in [
        "SELECT dep_delay * 1e-7 AS k, arr_delay FROM flights",
        "SELECT dep_delay * 1e21 AS k, arr_delay FROM flights",
    ] {
        let ts = run_plugin(
            ts_plugin(runtime(), "delay_stats"),
            r#"{"group_by": "k"}"#,
            Some(query),
        );
        let rust = run_plugin(
            load(runtime(), "delay_stats"),
            r#"{"group_by": "k"}"#,
            Some(query),
        );
        assert!(
            ts.column("k")
                .iter()
                .any(|k| k.as_str().unwrap().len() > 21),
            "{query}: long keys"
        );
        assert_same_output(&ts, &rust);
    }
}

/// The engine's garbage collector alone would let a run over every flight's 19 columns
/// outgrow 64 MiB; the SDK frees each batch's buffers, so half of that is plenty.
#[test]
fn the_ts_map_runs_over_every_flight_in_32_mib() {
    let runtime = runtime_with(Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    });
    let plugin = ts_plugin(&runtime, "units");
    let (report, out) = run(&runtime, plugin, "{}", "SELECT * FROM flights");
    if let Err(e) = &report.result {
        panic!("run failed: {e}");
    }
    assert_eq!(out.rows(), 336_776);
}

#[test]
fn a_ts_error_reaches_the_user_with_its_message() {
    let missing = error("units", "{}", "SELECT carrier FROM airlines");
    assert!(missing.contains("no column `distance`"), "{missing}");

    let not_a_number = error(
        "delay_stats",
        r#"{"column": "carrier"}"#,
        "SELECT carrier FROM flights LIMIT 5",
    );
    assert!(
        not_a_number.contains("column `carrier` is text, expected a number"),
        "{not_a_number}"
    );

    let misspelt = error("delay_stats", r#"{"colum": "dep_delay"}"#, "SELECT 1");
    assert!(
        misspelt
            .contains("invalid params: unknown field `colum`, expected one of: column, group_by"),
        "{misspelt}"
    );
}
