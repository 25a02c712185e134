//! Every limit and every kind of misbehaviour ends the run with the right typed error, within
//! its limit, and the next run on the same runtime works. The `hostile` test plugin performs
//! the attack named in its params.

mod common;

use std::time::{Duration, Instant};

use common::*;
use quarry::batch::BatchError;
use quarry::plugin::{Export, Limit, Limits, PluginError, Runtime};
use quarry::run::{RunError, RunReport};

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

#[test]
fn an_infinite_loop_is_stopped_at_the_cpu_deadline_in_every_export() {
    for export in ["init", "build_query", "transform", "finish"] {
        let params = format!(r#"{{"attack": "loop", "in": "{export}"}}"#);
        let expected = match export {
            "init" => Export::Init,
            "build_query" => Export::BuildQuery,
            "transform" => Export::Transform,
            _ => Export::Finish,
        };
        let took = expect_limit(&params, expected, Limit::CpuTime(Duration::from_secs(1)));
        assert!(
            took < Duration::from_secs(4),
            "{export}: stopping took {took:?}"
        );
    }
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
fn unbounded_logging_hits_the_log_limit_and_keeps_what_fit() {
    expect_limit(
        r#"{"attack": "log"}"#,
        Export::Transform,
        Limit::LogBytes(1 << 20),
    );
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
    assert_eq!(report.logs[0].level, quarry::plugin::LogLevel::Info);
    assert_eq!(report.logs[0].message, "x".repeat(1024));
}

#[test]
fn a_huge_batch_hits_the_batch_limit_and_many_rows_the_output_limit() {
    expect_limit(
        r#"{"attack": "rows"}"#,
        Export::Transform,
        Limit::BatchRows(65_536),
    );
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

#[test]
fn the_sandbox_grants_no_files_env_or_sockets() {
    for (attack, expect) in [
        ("file", ""),
        ("env", "env: 0 vars, args: 0"),
        ("socket", ""),
    ] {
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
}

fn attack_fn(attack_name: &str) -> (PluginError, RunReport) {
    attack(limited(), &format!(r#"{{"attack": "{attack_name}"}}"#))
}

#[test]
fn malformed_batches_are_refused_with_the_reason() {
    type Check = fn(&BatchError) -> bool;
    let cases: [(&str, Check); 6] = [
        ("lie", |e| matches!(e, BatchError::Length { .. })),
        ("columns", |e| matches!(e, BatchError::Length { .. })),
        ("offsets", |e| {
            matches!(e, BatchError::OffsetsNotMonotonic { .. })
        }),
        ("utf8", |e| matches!(e, BatchError::NotUtf8 { .. })),
        ("validity", |e| {
            matches!(e, BatchError::ValidityTooShort { .. })
        }),
        ("type", |e| matches!(e, BatchError::TypeMismatch { .. })),
    ];
    for (name, check) in cases {
        let (error, _) = attack_fn(name);
        match error {
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
fn bad_files_are_refused_with_the_reason() {
    let rt = runtime();
    assert!(matches!(
        rt.load(b"hello, world"),
        Err(PluginError::NotWasm)
    ));
    // The smallest valid core module: a module is not a component.
    assert!(matches!(
        rt.load(b"\0asm\x01\0\0\0"),
        Err(PluginError::NotComponent)
    ));
    let identity = std::fs::read(plugin_path("identity")).unwrap();
    let truncated = &identity[..identity.len() / 2];
    assert!(matches!(rt.load(truncated), Err(PluginError::Invalid(_))));
    let mut corrupted = identity.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle..middle + 64]
        .iter_mut()
        .for_each(|b| *b = 0xff);
    assert!(rt.load(&corrupted).is_err());
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
