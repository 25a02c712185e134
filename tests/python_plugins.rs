//! The Python example plugins (plugins/python, built by scripts/python-plugins.sh with
//! componentize-py) give the same answers as the Rust examples they mirror.

mod common;

use std::sync::Arc;

use common::*;
use quarry::plugin::LoadedPlugin;
use quarry::run::{PluginChoice, RunRequest};

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

/// The output of `plugin` over `query` on the demo.
fn output(plugin: Arc<LoadedPlugin>, params: &str, query: &str) -> Collect {
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin,
            load: Default::default(),
        }),
        params: params.to_owned(),
        query: Some(query.to_owned()),
        ..RunRequest::new("demo")
    };
    let (report, out) = run_on(runtime(), request);
    if let Err(e) = &report.result {
        panic!("run failed: {e}; logs: {:?}", report.logs);
    }
    out
}

/// Same columns, same types, same cells (floats bit for bit: both do the same IEEE
/// operations in the same order).
fn assert_same(python: &Collect, rust: &Collect) {
    assert_eq!(python.fields, rust.fields);
    for field in &rust.fields {
        assert_eq!(
            python.column(&field.name),
            rust.column(&field.name),
            "column {}",
            field.name
        );
    }
}

#[test]
fn the_python_map_matches_the_rust_one() {
    let query = "SELECT * FROM flights LIMIT 20000";
    let python = output(python_plugin("units"), "{}", query);
    let rust = output(load(runtime(), "units"), "{}", query);
    assert_eq!(rust.rows(), 20_000);
    assert_same(&python, &rust);
    // Cancelled flights have no air time, so some speeds are null.
    assert!(python.column("speed_kmh").contains(&Owned::Null));
}

#[test]
fn the_python_aggregate_matches_the_rust_one_over_every_flight() {
    let query = "SELECT carrier, arr_delay FROM flights";
    let python = output(python_plugin("delay_stats"), "{}", query);
    let rust = output(load(runtime(), "delay_stats"), "{}", query);
    assert_eq!(rust.rows(), 16);
    assert_same(&python, &rust);

    let by_origin = r#"{"column": "dep_delay", "group_by": "origin"}"#;
    let query = "SELECT origin, dep_delay FROM flights";
    let python = output(python_plugin("delay_stats"), by_origin, query);
    let rust = output(load(runtime(), "delay_stats"), by_origin, query);
    assert_eq!(
        python.column("origin"),
        ["EWR", "JFK", "LGA"].map(|s| Owned::Text(s.into()))
    );
    assert_same(&python, &rust);
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
    assert!(
        error.contains("no column `distance`; the columns are: carrier"),
        "{error}"
    );
}
