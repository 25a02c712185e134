//! The contract's versions: a plugin built on the frozen 0.1 WIT runs unchanged beside 0.2
//! plugins, and 0.2's abilities (the columns a plugin reads, edits of the input, merged
//! aggregates) do what the WIT says.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_core::batch::Batch;
use quarry_runtime::{Export, PluginError};
use quarry_sources::Backend;

const FLIGHTS: &str = "SELECT carrier, flight, tailnum, distance, air_time, dep_delay FROM flights \
                       ORDER BY rowid LIMIT 3000";

#[test]
fn a_plugin_built_on_contract_0_1_runs_unchanged() {
    let rt = runtime();
    let plugin = load(rt, "contract_v01");
    assert_eq!(plugin.info.contract, "0.1");
    assert_eq!(
        (plugin.info.reads.clone(), plugin.info.stateless),
        (None, false)
    );
    assert!(plugin.info.transforms && !plugin.info.merges);

    let (report, out) = run_on(rt, request(rt, Some("contract_v01"), "{}", Some(FLIGHTS)));
    report.result.as_ref().expect("the 0.1 plugin runs");
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message == "0.1 plugin reading demo"),
        "its log import works: {:?}",
        report.logs
    );
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "carrier",
            "flight",
            "tailnum",
            "distance",
            "air_time",
            "dep_delay",
            "speed_mph"
        ]
    );
    let (_, plain) = run_ok(None, "{}", Some(FLIGHTS));
    assert_eq!(out.column("tailnum"), plain.column("tailnum"));
    let speeds = out.column("speed_mph");
    let expected: Vec<Owned> = plain
        .column("distance")
        .iter()
        .zip(plain.column("air_time"))
        .map(
            |(miles, minutes)| match (miles.as_f64(), minutes.as_f64()) {
                (Some(miles), Some(minutes)) if minutes != 0.0 => {
                    Owned::Float(miles / minutes * 60.0)
                }
                _ => Owned::Null,
            },
        )
        .collect();
    assert_eq!(speeds, expected);
    assert!(
        speeds.contains(&Owned::Null),
        "cancelled flights have no speed"
    );
}

#[test]
fn describe_reports_what_a_0_2_plugin_reads_and_whether_it_splits() {
    let rt = runtime();
    let units = load(rt, "units");
    assert_eq!(units.info.contract, "0.2");
    assert_eq!(
        units.info.reads,
        Some(vec!["distance".to_owned(), "air_time".to_owned()])
    );
    assert!(units.info.stateless && !units.info.merges);
    let stats = load(rt, "delay_stats");
    assert_eq!(
        (stats.info.reads.clone(), stats.info.stateless),
        (None, false)
    );
    assert!(stats.info.merges, "delay-stats exports the aggregate world");
}

#[test]
fn only_the_columns_a_plugin_reads_cross_into_it() {
    // mask reads the columns it masks; the SDK's error lists the columns it was given.
    let rt = runtime();
    let mut req = request(
        rt,
        Some("mask"),
        r#"{"columns": ["tailnum", "nope"]}"#,
        Some(FLIGHTS),
    );
    req.limits = rt.default_limits().clone();
    let (report, _) = run_on(rt, req);
    let error = report.result.expect_err("nope is no column").to_string();
    assert!(
        error.contains("no column `nope`; the columns are: tailnum"),
        "{error}"
    );
}

#[test]
fn a_map_edit_keeps_every_column_it_did_not_read() {
    let (_, plain) = run_ok(None, "{}", Some(FLIGHTS));
    let (_, mapped) = run_ok(Some("units"), "{}", Some(FLIGHTS));
    let names: Vec<&str> = mapped.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "carrier",
            "flight",
            "tailnum",
            "distance",
            "air_time",
            "dep_delay",
            "distance_km",
            "air_time_h",
            "speed_kmh"
        ]
    );
    for field in &plain.fields {
        assert_eq!(
            mapped.column(&field.name),
            plain.column(&field.name),
            "{}",
            field.name
        );
    }

    // mask replaces the column it masks in place, as text.
    let (_, masked) = run_ok(
        Some("mask"),
        r#"{"columns": ["flight"], "mode": "redact"}"#,
        Some(FLIGHTS),
    );
    assert_eq!(masked.fields.len(), plain.fields.len());
    assert!(
        masked
            .column("flight")
            .iter()
            .all(|v| v.as_str() == Some("***"))
    );
    assert_eq!(masked.column("carrier"), plain.column("carrier"));
}

#[test]
fn a_filter_edit_keeps_the_selected_rows_of_every_column() {
    let (_, plain) = run_ok(None, "{}", Some(FLIGHTS));
    let (_, kept) = run_ok(Some("delayed"), r#"{"min_delay": 30}"#, Some(FLIGHTS));
    assert_eq!(kept.fields, plain.fields);
    let delays = plain.column("dep_delay");
    let rows: Vec<usize> = (0..delays.len())
        .filter(|&r| delays[r].as_f64().is_some_and(|d| d >= 30.0))
        .collect();
    assert!(rows.len() > 100 && rows.len() < 3000, "{} rows", rows.len());
    for field in &plain.fields {
        let all = plain.column(&field.name);
        let expected: Vec<Owned> = rows.iter().map(|&r| all[r].clone()).collect();
        assert_eq!(kept.column(&field.name), expected, "{}", field.name);
    }
}

/// The batches of the first 20,000 flights' carrier and arr_delay, 1,000 rows each.
fn flight_batches() -> Vec<Batch> {
    let mut req = request(
        runtime(),
        None,
        "{}",
        Some("SELECT carrier, arr_delay FROM flights ORDER BY rowid LIMIT 20000"),
    );
    req.batch_rows = 1000;
    let (report, out) = run_on(runtime(), req);
    report.result.unwrap();
    out.batches
}

#[test]
fn instances_that_merge_answer_what_one_instance_does() {
    let rt = runtime();
    let stats = load(rt, "delay_stats");
    let start = || {
        let mut run = rt
            .start(&stats, rt.default_limits(), Arc::default())
            .unwrap();
        run.init("demo", Backend::Sqlite, "{}").unwrap();
        run
    };
    let batches = flight_batches();

    let mut one = start();
    for batch in &batches {
        assert_eq!(one.transform(batch.clone()).unwrap(), Batch::default());
    }
    let alone = one.finish().unwrap().expect("one row per carrier");

    // Three instances, batches dealt round-robin; the first merges the others.
    let mut runs = [start(), start(), start()];
    for (i, batch) in batches.iter().enumerate() {
        runs[i % 3].transform(batch.clone()).unwrap();
    }
    let partials = runs[1..].iter_mut().map(|r| r.partial().unwrap()).collect();
    runs[0].merge(partials).unwrap();
    let merged = runs[0].finish().unwrap().unwrap();
    assert_eq!(merged, alone);
    assert!(merged.num_rows >= 10, "{} carriers", merged.num_rows);

    // A plugin that exports no merge is not asked to.
    let units = load(rt, "units");
    let mut run = rt
        .start(&units, rt.default_limits(), Arc::default())
        .unwrap();
    run.init("demo", Backend::Sqlite, "{}").unwrap();
    assert!(matches!(
        run.partial(),
        Err(PluginError::Failed {
            export: Export::Partial,
            ..
        })
    ));
}

#[test]
fn a_merge_of_a_corrupt_state_is_the_plugins_error() {
    let rt = runtime();
    let stats = load(rt, "delay_stats");
    let mut run = rt
        .start(&stats, rt.default_limits(), Arc::default())
        .unwrap();
    run.init("demo", Backend::Sqlite, "{}").unwrap();
    match run.merge(vec![vec![9, 0, 0, 0, b'U']]) {
        Err(PluginError::Failed {
            export: Export::Merge,
            message,
            ..
        }) => assert!(message.contains("truncated"), "{message}"),
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}
