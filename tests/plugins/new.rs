//! `quarry plugin new` makes, for each language, a project that builds with its one
//! command and passes its own test, and whose plugin the host runs on the demo data.
//!
//! The projects go under target/plugin-new/. The TypeScript one installs its npm packages
//! with npm's cache in target/npm-cache, which scripts/ts-plugins.sh fills; the Python one
//! uses the componentize-py that scripts/python-plugins.sh installs, when it is there.

use crate::common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use quarry_engine::run::{PluginChoice, RunRequest};

/// `quarry plugin new --lang LANG NAME --dir DIR`, with the binary under test.
fn plugin_new(lang: &str, name: &str, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quarry"));
    command
        .args(["plugin", "new", "--lang", lang, name, "--dir"])
        .arg(dir);
    command
}

/// `quarry plugin new --lang LANG NAME --dir DIR` into a fresh DIR under target/plugin-new.
fn new_plugin(lang: &str, name: &str) -> PathBuf {
    let dir = repo_root().join("target/plugin-new").join(lang).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let out = plugin_new(lang, name, &dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("cd {}", dir.display())),
        "{stdout}"
    );
    dir
}

/// Runs `program args` in `dir` and fails the test, with its output, if it fails.
fn run_in(dir: &Path, program: impl AsRef<OsStr>, args: &[&str], envs: &[(&str, &OsStr)]) {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.to_string_lossy()));
    assert!(
        out.status.success(),
        "`{} {}` in {} failed:\n{}\n{}",
        program.to_string_lossy(),
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the generated plugin (a `gain` map) on the demo data and checks its answers
/// against SQL's.
fn check_gain(wasm: &Path, name: &str) {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let plugin = runtime().load(&bytes).expect("the plugin loads").0;
    assert_eq!(plugin.info.name, name);
    let query = "SELECT dep_delay, arr_delay FROM flights LIMIT 2000";
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin,
            load: Default::default(),
        }),
        query: Some(query.to_owned()),
        ..RunRequest::new("demo")
    };
    let (report, out) = run_on(runtime(), request);
    if let Err(e) = &report.result {
        panic!("run failed: {e}; logs: {:?}", report.logs);
    }
    let names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["dep_delay", "arr_delay", "gain"]);
    let expected: Vec<Owned> =
        sql::<Option<i64>>("SELECT dep_delay - arr_delay FROM flights LIMIT 2000")
            .into_iter()
            .map(|row| row[0].map_or(Owned::Null, |gain| Owned::Float(gain as f64)))
            .collect();
    assert!(
        expected.contains(&Owned::Null),
        "cancelled flights have no gain"
    );
    assert_eq!(out.column("gain"), expected);
}

#[test]
fn a_rust_plugin_builds_passes_its_test_and_runs() {
    let dir = new_plugin("rust", "quarry-new-rust");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_in(
        &dir,
        &cargo,
        &["build", "--target", "wasm32-wasip2", "--release"],
        &[],
    );
    run_in(&dir, &cargo, &["test"], &[]);

    // Under this checkout, cargo's target directory is the checkout's (.cargo/config.toml).
    let metadata = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let target = PathBuf::from(metadata["target_directory"].as_str().unwrap());
    check_gain(
        &target.join("wasm32-wasip2/release/quarry_new_rust.wasm"),
        "quarry-new-rust",
    );
}

#[test]
fn a_typescript_plugin_builds_passes_its_test_and_runs() {
    let dir = new_plugin("ts", "quarry-new-ts");
    let cache = repo_root().join("target/npm-cache");
    let env = [("npm_config_cache", cache.as_os_str())];
    run_in(
        &dir,
        "npm",
        &["install", "--prefer-offline", "--no-audit", "--no-fund"],
        &env,
    );
    run_in(&dir, "npm", &["run", "build"], &env);
    run_in(&dir, "npm", &["test"], &env);
    check_gain(&dir.join("quarry-new-ts.wasm"), "quarry-new-ts");
}

#[test]
fn a_python_plugin_builds_passes_its_test_and_runs() {
    let dir = new_plugin("python", "quarry-new-py");
    let installed = repo_root().join("target/python-venv/bin/componentize-py");
    let env: Vec<(&str, &OsStr)> = match installed.is_file() {
        true => vec![("COMPONENTIZE_PY", installed.as_os_str())],
        false => vec![],
    };
    run_in(&dir, "./build.sh", &[], &env);
    run_in(&dir, "python3", &["-m", "unittest"], &[]);
    check_gain(&dir.join("quarry-new-py.wasm"), "quarry-new-py");
}

#[test]
fn a_project_is_never_written_over_another() {
    let dir = repo_root().join("target/plugin-new/occupied");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let out = plugin_new("ts", "gain", &dir).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already exists and is not an empty directory"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_missing_rust_sdk_is_named() {
    let dir = repo_root().join("target/plugin-new/no-sdk");
    let _ = std::fs::remove_dir_all(&dir);
    let out = plugin_new("rust", "gain", &dir)
        .args(["--sdk", "/nonexistent/plugins/sdk"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the Rust SDK is not at /nonexistent/plugins/sdk: pass --sdk"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing is written");
}
