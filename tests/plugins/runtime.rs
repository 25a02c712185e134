//! The runtime with real plugins: every data type crosses the boundary intact, and each
//! limit ends a misbehaving run with the right typed error while the next run still works.

use crate::common;

use std::sync::Arc;

use common::*;
use quarry_core::batch::{Batch, ColumnBuilder, DataType};
use quarry_runtime::{Export, Limits, PluginError};
use quarry_sources::Backend;

/// A batch holding every data type, with nulls, empty strings, unicode and extreme values.
fn every_type() -> Batch {
    let rows = 4;
    let mut columns = Vec::new();
    for t in DataType::ALL {
        let mut b = ColumnBuilder::new(format!("c_{t}"), t, rows);
        match t {
            DataType::Boolean => fill(
                &mut b,
                [Some(true), None, Some(false), Some(true)],
                ColumnBuilder::push_bool,
            ),
            DataType::Int64 | DataType::Timestamp | DataType::Date => fill(
                &mut b,
                [Some(i64::MIN), Some(0), None, Some(i64::MAX)],
                ColumnBuilder::push_i64,
            ),
            DataType::Float64 => fill(
                &mut b,
                [Some(-0.5), None, Some(f64::MAX), Some(f64::NAN)],
                ColumnBuilder::push_f64,
            ),
            DataType::Bytes => fill(
                &mut b,
                [Some(&b"\0\xff"[..]), Some(b""), None, Some(b"abc")],
                ColumnBuilder::push_bytes,
            ),
            _ => fill(
                &mut b,
                [
                    Some(""),
                    None,
                    Some("ünïcødé ✈ 東京"),
                    Some("{\"a\": [1, 2]}"),
                ],
                ColumnBuilder::push_str,
            ),
        }
        columns.push(b.finish());
    }
    Batch {
        num_rows: rows,
        columns,
    }
}

fn fill<T: Copy>(
    b: &mut ColumnBuilder,
    values: [Option<T>; 4],
    push: impl Fn(&mut ColumnBuilder, T),
) {
    for v in values {
        match v {
            Some(v) => push(b, v),
            None => b.push_null(),
        }
    }
}

/// Compares batches bit for bit (NaN included), which `PartialEq` on f64 cannot.
fn same(a: &Batch, b: &Batch) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn every_type_round_trips_through_a_plugin() {
    let rt = runtime();
    let identity = load(rt, "identity");
    let mut run = rt
        .start(&identity, rt.default_limits(), Arc::default())
        .unwrap();
    run.init("demo", Backend::Sqlite, "{}").unwrap();
    let input = every_type();
    input.validate().unwrap();
    let output = run.transform(input.clone()).unwrap();
    assert!(same(&input, &output), "{input:?}\n!=\n{output:?}");

    // An empty batch, with and without columns, comes back empty.
    let mut empty = every_type();
    empty.truncate(0);
    let output = run.transform(empty.clone()).unwrap();
    assert_eq!(output.num_rows, 0);
    assert!(same(&empty, &output));
    let output = run.transform(Batch::default()).unwrap();
    assert_eq!(output, Batch::default());
    assert_eq!(run.finish().unwrap(), None);
}

#[test]
fn runs_do_not_share_state() {
    let rt = runtime();
    let identity = load(rt, "identity");
    for _ in 0..3 {
        let mut run = rt
            .start(&identity, rt.default_limits(), Arc::default())
            .unwrap();
        // A fresh instance refuses transform before init: it has no state from the last run.
        assert!(matches!(
            run.transform(every_type()),
            Err(PluginError::Failed {
                export: Export::Transform,
                ..
            })
        ));
        run.init("demo", Backend::Sqlite, "{}").unwrap();
        run.transform(every_type()).unwrap();
    }
}

#[test]
fn describe_reports_the_plugin() {
    let rt = runtime();
    let units = load(rt, "units");
    assert_eq!(units.info.name, "units");
    assert!(units.info.transforms);
    assert!(!units.info.builds_query);
    assert_eq!(units.sha256.len(), 64);
}

#[test]
fn the_compile_cache_survives_a_new_runtime() {
    let bytes = std::fs::read(plugin_path("identity")).unwrap();
    let first = runtime_with(Limits::default());
    first.load(&bytes).unwrap();
    let second = runtime_with(Limits::default());
    let (_, stats) = second.load(&bytes).unwrap();
    assert!(
        stats.from_cache,
        "a new runtime should load the compiled plugin from disk"
    );
}

#[test]
fn a_full_instance_pool_is_a_busy_error_and_frees_up() {
    let config = quarry_runtime::RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        max_instances: 2,
        ..Default::default()
    };
    let rt = quarry_runtime::Runtime::new(config).unwrap();
    let identity = load(&rt, "identity");
    let limits = rt.default_limits().clone();
    let first = rt.start(&identity, &limits, Arc::default()).unwrap();
    let second = rt.start(&identity, &limits, Arc::default()).unwrap();
    assert!(matches!(
        rt.start(&identity, &limits, Arc::default()),
        Err(PluginError::Busy(_))
    ));
    drop((first, second));
    rt.start(&identity, &limits, Arc::default())
        .expect("a slot is free again");
}
