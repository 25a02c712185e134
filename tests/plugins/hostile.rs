//! The hostile plugin suite: one attack per test. Every limit and every kind of misbehaviour
//! ends the run with the exact typed error, within its limit, and the next run on the same
//! runtime (the host process) works. The `hostile` test plugin performs the attack named in
//! its params; the bad-file cases use bytes made here.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use quarry_core::batch::BatchError;
use quarry_engine::run::{RunError, RunReport};
use quarry_runtime::{Export, Limit, Limits, PluginError, Runtime};

const SOME_FLIGHTS: &str = "SELECT * FROM flights LIMIT 10";

fn limits() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// Runs `hostile` with `params` and returns the plugin error, then checks that a plain run
/// on the same runtime still gives the right answer.
fn attack(rt: &Runtime, params: &str) -> (PluginError, RunReport) {
    let mut req = request(rt, Some("hostile"), params, Some(SOME_FLIGHTS));
    req.limits = rt.default_limits().clone();
    let (report, _) = run_on(rt, req);
    let error = match report.result {
        Err(RunError::Plugin(ref e)) => e.clone(),
        ref other => panic!("{params}: expected a plugin error, got {other:?}"),
    };
    let (after, out) = run_on(rt, request(rt, Some("identity"), "{}", Some(SOME_FLIGHTS)));
    assert!(
        after.result.is_ok(),
        "the run after {params} failed: {:?}",
        after.result
    );
    assert_eq!(out.rows(), 10);
    (error, report)
}

fn limited() -> &'static Runtime {
    static RT: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| runtime_with(limits()))
}

fn expect_limit(params: &str, export: Export, limit: Limit) -> Duration {
    let started = Instant::now();
    let (error, _) = attack(limited(), params);
    let took = started.elapsed();
    match error {
        PluginError::Limit {
            export: e,
            limit: l,
            ..
        } => {
            assert_eq!((e, l), (export, limit), "{params}");
        }
        other => panic!("{params}: expected {limit:?} in {export}, got {other}"),
    }
    took
}

/// An infinite loop in `export` is stopped at the CPU deadline, quickly.
fn loop_in(export: &str, expected: Export) {
    let params = format!(r#"{{"attack": "loop", "in": "{export}"}}"#);
    let took = expect_limit(&params, expected, Limit::CpuTime(Duration::from_secs(1)));
    assert!(
        took < Duration::from_secs(4),
        "{export}: stopping took {took:?}"
    );
}

#[test]
fn an_infinite_loop_in_init_is_stopped_at_the_cpu_deadline() {
    loop_in("init", Export::Init);
}

#[test]
fn an_infinite_loop_in_build_query_is_stopped_at_the_cpu_deadline() {
    loop_in("build_query", Export::BuildQuery);
}

#[test]
fn an_infinite_loop_in_transform_is_stopped_at_the_cpu_deadline() {
    loop_in("transform", Export::Transform);
}

#[test]
fn an_infinite_loop_in_finish_is_stopped_at_the_cpu_deadline() {
    loop_in("finish", Export::Finish);
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    expect_limit(
        r#"{"attack": "alloc"}"#,
        Export::Transform,
        Limit::Memory(64 << 20),
    );
}

#[test]
fn unbounded_recursion_hits_the_stack_limit() {
    expect_limit(
        r#"{"attack": "recurse"}"#,
        Export::Transform,
        Limit::Stack(512 << 10),
    );
}

#[test]
fn unbounded_logging_hits_the_log_limit() {
    expect_limit(
        r#"{"attack": "log"}"#,
        Export::Transform,
        Limit::LogBytes(1 << 20),
    );
}

#[test]
fn unbounded_stdout_hits_the_log_limit_and_keeps_what_fit() {
    expect_limit(
        r#"{"attack": "stdout"}"#,
        Export::Transform,
        Limit::LogBytes(1 << 20),
    );
    // What the plugin printed before the limit is in the run's log, at info level.
    let (_, report) = attack(limited(), r#"{"attack": "stdout"}"#);
    assert_eq!(
        report.logs.len(),
        1024,
        "1 KiB lines fill the 1 MiB cap exactly"
    );
    assert_eq!(report.logs[0].level, quarry_runtime::LogLevel::Info);
    assert_eq!(report.logs[0].message, "x".repeat(1024));
}

#[test]
fn an_enormous_single_value_hits_the_memory_limit() {
    expect_limit(
        r#"{"attack": "huge"}"#,
        Export::Transform,
        Limit::Memory(64 << 20),
    );
}

#[test]
fn a_huge_batch_hits_the_batch_limit() {
    expect_limit(
        r#"{"attack": "rows"}"#,
        Export::Transform,
        Limit::BatchRows(65_536),
    );
}

#[test]
fn billions_of_declared_rows_are_refused_before_anything_is_allocated() {
    expect_limit(
        r#"{"attack": "billions"}"#,
        Export::Transform,
        Limit::BatchRows(65_536),
    );
}

#[test]
fn many_rows_hit_the_output_row_limit() {
    let rt = runtime_with(Limits {
        batch_rows: 2_000_000,
        output_rows: 1_500_000,
        ..limits()
    });
    let mut req = request(
        &rt,
        Some("hostile"),
        r#"{"attack": "rows"}"#,
        Some("SELECT * FROM flights LIMIT 2048"),
    );
    req.limits = rt.default_limits().clone();
    let (report, _) = run_on(&rt, req);
    match report.result {
        Err(RunError::Plugin(PluginError::Limit {
            limit: Limit::OutputRows(1_500_000),
            export: Export::Transform,
            ..
        })) => {}
        other => panic!("expected the output row limit, got {other:?}"),
    }
}

#[test]
fn a_panic_is_a_trap_with_a_backtrace() {
    let (error, _) = attack(limited(), r#"{"attack": "panic"}"#);
    let PluginError::Trap {
        export,
        message,
        backtrace,
        ..
    } = error
    else {
        panic!("expected a trap, got {error}")
    };
    assert_eq!(export, Export::Transform);
    assert!(
        message.contains("boom at row 3"),
        "the panic message reaches the error: {message}"
    );
    assert!(
        backtrace.contains("hostile"),
        "the backtrace names the plugin's functions: {backtrace}"
    );
}

/// The attack fails inside the sandbox with a message that shows nothing leaked.
fn sandboxed(attack: &str, expect: &str) {
    let (error, _) = attack_fn(attack);
    let PluginError::Failed { message, .. } = error else {
        panic!("{attack}: expected a plugin error, got {error}")
    };
    assert!(
        !message.contains("LEAK"),
        "{attack} escaped the sandbox: {message}"
    );
    assert!(message.contains(expect), "{attack}: {message}");
}

#[test]
fn reading_a_file_is_refused() {
    sandboxed("file", "read /etc/passwd");
}

#[test]
fn listing_a_directory_is_refused() {
    sandboxed("dir", "dir: ");
}

#[test]
fn the_environment_and_arguments_are_empty() {
    sandboxed("env", "env: 0 vars, args: 0");
}

#[test]
fn opening_a_socket_is_refused() {
    sandboxed("socket", "socket: ");
}

#[test]
fn resolving_a_name_is_refused() {
    sandboxed("dns", "dns: ");
}

fn attack_fn(attack_name: &str) -> (PluginError, RunReport) {
    attack(limited(), &format!(r#"{{"attack": "{attack_name}"}}"#))
}

/// The attack's batch is refused as invalid, for the reason `check` accepts.
fn malformed(name: &str, check: fn(&BatchError) -> bool) {
    match attack_fn(name).0 {
        PluginError::InvalidBatch {
            error,
            export: Export::Transform,
            ..
        } => {
            assert!(check(&error), "{name}: wrong reason {error}");
        }
        other => panic!("{name}: expected an invalid batch, got {other}"),
    }
}

#[test]
fn a_batch_whose_row_count_lies_is_refused() {
    malformed("lie", |e| matches!(e, BatchError::Length { .. }));
}

#[test]
fn a_batch_whose_columns_disagree_in_length_is_refused() {
    malformed("columns", |e| matches!(e, BatchError::Length { .. }));
}

#[test]
fn offsets_that_run_backwards_are_refused() {
    malformed("offsets", |e| {
        matches!(e, BatchError::OffsetsNotMonotonic { .. })
    });
}

#[test]
fn offsets_past_the_data_are_refused() {
    malformed("offsets_range", |e| {
        matches!(e, BatchError::OffsetOutOfRange { offset: 100, .. })
    });
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    malformed("utf8", |e| matches!(e, BatchError::NotUtf8 { .. }));
}

#[test]
fn a_validity_bitmap_too_short_is_refused() {
    malformed("validity", |e| {
        matches!(e, BatchError::ValidityTooShort { .. })
    });
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    malformed("type", |e| matches!(e, BatchError::TypeMismatch { .. }));
}

#[test]
fn an_edit_that_selects_a_row_the_batch_lacks_is_refused() {
    malformed("select", |e| {
        matches!(
            e,
            BatchError::RowOutOfRange {
                row: 4_000_000_000,
                num_rows: 10
            }
        )
    });
}

#[test]
fn an_edit_whose_column_has_the_wrong_length_is_refused() {
    malformed("short", |e| {
        matches!(
            e,
            BatchError::Length {
                expected: 10,
                actual: 1,
                ..
            }
        )
    });
}

#[test]
fn a_trap_in_the_middle_of_a_run_ends_it_and_the_next_run_works() {
    // The plugin transforms a few batches, then panics.
    let rt = limited();
    let mut req = request(
        rt,
        Some("hostile"),
        r#"{"attack": "panic", "in": "finish"}"#,
        Some("SELECT * FROM flights LIMIT 5000"),
    );
    req.batch_rows = 1000;
    let (report, out) = run_on(rt, req);
    assert!(
        matches!(
            report.result,
            Err(RunError::Plugin(PluginError::Trap {
                export: Export::Finish,
                ..
            }))
        ),
        "{:?}",
        report.result
    );
    assert_eq!(out.rows(), 5000, "the batches before the trap were output");
    let (after, _) = run_on(rt, request(rt, Some("identity"), "{}", Some(SOME_FLIGHTS)));
    assert!(after.result.is_ok());
}

#[test]
fn a_plugin_error_names_its_row() {
    let (error, _) = attack_fn("error_row");
    match error {
        PluginError::Failed {
            message,
            row: Some(2),
            export: Export::Transform,
            ..
        } => {
            assert_eq!(message, "bad value");
        }
        other => panic!("expected a failure at row 2, got {other}"),
    }
    let text = attack_fn("error_row").0.to_string();
    assert!(text.ends_with("bad value (row 2 of the batch)"), "{text}");
}

#[test]
fn a_slow_plugin_within_its_budget_completes() {
    let rt = limited();
    let (report, out) = run_on(
        rt,
        request(
            rt,
            Some("hostile"),
            r#"{"attack": "slow", "ms": 300}"#,
            Some(SOME_FLIGHTS),
        ),
    );
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(out.rows(), 10);
    assert!(
        report.stats.transform_ms >= 300.0,
        "{}",
        report.stats.transform_ms
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    assert!(matches!(
        runtime().load(b"hello, world"),
        Err(PluginError::NotWasm)
    ));
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    // The smallest valid core module.
    assert!(matches!(
        runtime().load(b"\0asm\x01\0\0\0"),
        Err(PluginError::NotComponent)
    ));
}

#[test]
fn a_component_of_another_world_is_refused() {
    let bytes = std::fs::read(plugin_path("not-a-plugin")).unwrap();
    assert!(matches!(
        runtime().load(&bytes),
        Err(PluginError::WrongWorld(_))
    ));
}

#[test]
fn a_component_importing_what_the_host_does_not_provide_is_refused() {
    let bytes = std::fs::read(plugin_path("extra_import")).unwrap();
    match runtime().load(&bytes) {
        Err(PluginError::UnsupportedImport(import)) => {
            assert_eq!(import, "quarry:extra-import/steal");
        }
        other => panic!("expected an unsupported import, got {other:?}"),
    }
}

#[test]
fn a_truncated_file_is_refused() {
    let identity = std::fs::read(plugin_path("identity")).unwrap();
    let truncated = &identity[..identity.len() / 2];
    assert!(matches!(
        runtime().load(truncated),
        Err(PluginError::Invalid(_))
    ));
}

#[test]
fn a_corrupted_file_is_refused() {
    let mut corrupted = std::fs::read(plugin_path("identity")).unwrap();
    let middle = corrupted.len() / 2;
    corrupted[middle..middle + 64]
        .iter_mut()
        .for_each(|b| *b = 0xff);
    assert!(runtime().load(&corrupted).is_err());
    let (after, _) = run_on(
        runtime(),
        request(runtime(), Some("identity"), "{}", Some(SOME_FLIGHTS)),
    );
    assert!(after.result.is_ok());
}

#[test]
fn a_describe_that_never_returns_is_stopped() {
    let rt = limited();
    let bytes = std::fs::read(plugin_path("describe_loop")).unwrap();
    let started = Instant::now();
    match rt.load(&bytes) {
        Err(PluginError::Limit {
            export: Export::Describe,
            limit: Limit::CpuTime(_),
            ..
        }) => {}
        other => panic!("expected the CPU limit in describe, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));
}
