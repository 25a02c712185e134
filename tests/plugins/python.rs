//! The Python example plugins (plugins/python, built by scripts/python-plugins.sh with
//! componentize-py) give the same answers as the Rust examples they mirror.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_engine::run::{PluginChoice, RunRequest};
use quarry_runtime::LoadedPlugin;

fn python_plugin(name: &str) -> Arc<LoadedPlugin> {
    let path = repo_root()
        .join("target/python-plugins")
        .join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): build the Python plugins with scripts/python-plugins.sh (scripts/test.sh does)",
            path.display()
        )
    });
    runtime()
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{name}.wasm loads: {e}"))
        .0
}

#[test]
fn the_python_map_matches_the_rust_one() {
    let query = "SELECT * FROM flights LIMIT 20000";
    let python = run_plugin(python_plugin("units"), "{}", Some(query));
    let rust = run_plugin(load(runtime(), "units"), "{}", Some(query));
    assert_eq!(rust.rows(), 20_000);
    assert_same_output(&python, &rust);
    // Cancelled flights have no air time, so some speeds are null.
    assert!(python.column("speed_kmh").contains(&Owned::Null));
}

#[test]
fn the_python_aggregate_matches_the_rust_one_over_every_flight() {
    let query = "SELECT carrier, arr_delay FROM flights";
    let python = run_plugin(python_plugin("delay_stats"), "{}", Some(query));
    let rust = run_plugin(load(runtime(), "delay_stats"), "{}", Some(query));
    assert_eq!(rust.rows(), 16);
    assert_same_output(&python, &rust);

    let by_origin = r#"{"column": "dep_delay", "group_by": "origin"}"#;
    let query = "SELECT origin, dep_delay FROM flights";
    let python = run_plugin(python_plugin("delay_stats"), by_origin, Some(query));
    let rust = run_plugin(load(runtime(), "delay_stats"), by_origin, Some(query));
    assert_eq!(
        python.column("origin"),
        ["EWR", "JFK", "LGA"].map(|s| Owned::Text(s.into()))
    );
    assert_same_output(&python, &rust);
}

#[test]
fn a_python_error_names_the_column() {
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin: python_plugin("units"),
            load: Default::default(),
        }),
        query: Some("SELECT carrier FROM airlines".to_owned()),
        ..RunRequest::new("demo")
    };
    let (report, _) = run_on(runtime(), request);
    let error = report.result.expect_err("no distance column").to_string();
    assert!(error.contains("no column `distance`"), "{error}");
}
