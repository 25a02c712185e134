//! The `quarry` binary as a user runs it: output formats, and one clear error line with a
//! non-zero exit for each kind of mistake — never a panic.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn quarry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .env("QUARRY_DATA", data_dir())
        .output()
        .expect("quarry starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a user mistake: non-zero exit, and stderr is one `error:` line containing `what`.
fn refused(args: &[&str], what: &str) {
    let out = quarry(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    // clap adds its usage hint to flag errors; nothing else may follow the error line.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got:\n{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(what),
        "{args:?}: {err}"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn explain_prints_the_plan_as_a_tree_or_json() {
    let query = "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX'";
    let out = quarry(&["run", "--explain", "--query", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(query), "{text}");
    assert!(
        text.contains("\nEXPLAIN QUERY PLAN:\n  SEARCH flights USING INDEX flights_route"),
        "{text}"
    );

    let out = quarry(&["run", "--explain", "--format", "json", "--query", query]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["query"]["text"], serde_json::json!(query));
    assert_eq!(
        json["plan"]["method"],
        serde_json::json!("EXPLAIN QUERY PLAN")
    );

    refused(
        &["run", "--explain", "--query", "DELETE FROM flights"],
        "only read-only statements may run",
    );
}

/// `--plugin A --plugin B`: A builds the query, B transforms its rows; `--params` go to
/// the plugins in order.
#[test]
fn a_pipeline_of_plugins_runs_in_order() {
    let between = plugin_path("flights_between");
    let delayed = plugin_path("delayed");
    let out = quarry(&[
        "run",
        "--plugin",
        path(&between),
        "--params",
        r#"{"origin": "JFK", "dest": "LAX"}"#,
        "--plugin",
        path(&delayed),
        "--params",
        r#"{"min_delay": 120}"#,
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Vec<Vec<i64>> = sql(
        "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' AND dep_delay >= 120",
    );
    assert_eq!(rows.len() as i64, expected[0][0]);
    assert!(
        rows.iter()
            .all(|r| r["dep_delay"].as_i64().unwrap() >= 120 && r["dest"] == "LAX")
    );
    refused(
        &[
            "run",
            "--plugin",
            path(&delayed),
            "--params",
            "{}",
            "--params",
            "{}",
            "--query",
            "SELECT 1",
        ],
        "--params was given 2 times for 1 plugin(s)",
    );
}

#[test]
fn csv_output_has_a_header_and_iso_times() {
    let out = quarry(&[
        "run",
        "--query",
        "SELECT carrier, flight, time_hour FROM flights LIMIT 2",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "carrier,flight,time_hour\nUA,1545,2013-01-01T10:00:00Z\nUA,1714,2013-01-01T10:00:00Z\n"
    );
    assert!(
        !stderr(&out).contains("truncated"),
        "SQL's LIMIT is not Quarry's --limit"
    );
}

#[test]
fn json_and_ndjson_parse_and_limit_cuts() {
    let out = quarry(&[
        "run",
        "--query",
        "SELECT * FROM airlines ORDER BY carrier",
        "--format",
        "json",
        "--limit",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["carrier"], "9E");
    assert!(stderr(&out).contains("truncated at 3 rows"));

    let out = quarry(&[
        "run",
        "--query",
        "SELECT * FROM airlines",
        "--format",
        "ndjson",
    ]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 16);
    assert!(!stderr(&out).contains("truncated"));
}

#[test]
fn a_plugin_runs_from_the_command_line() {
    let units = plugin_path("units");
    let query = "SELECT distance, air_time FROM flights LIMIT 1";
    let out = quarry(&[
        "run",
        "--plugin",
        path(&units),
        "--query",
        query,
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some("distance,air_time,distance_km,air_time_h,speed_kmh")
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("1400,227,2253.0816,3.78333"),
        "{text}"
    );
}

#[test]
fn a_script_runs_from_the_command_line_like_the_plugin_it_mirrors() {
    let script = repo_root().join("plugins/scripts/units.js");
    let query = "SELECT distance, air_time FROM flights LIMIT 3";
    let run = |flag: &str, file: &Path| {
        let out = quarry(&["run", flag, path(file), "--query", query, "--format", "csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        run("--script", &script),
        run("--plugin", &plugin_path("units"))
    );

    let broken = tempfile::NamedTempFile::with_suffix(".js").unwrap();
    std::fs::write(
        broken.path(),
        "function transform(rows) {\n  return rows.map(r => r.x +);\n}",
    )
    .unwrap();
    refused(
        &["run", "--script", path(broken.path()), "--query", query],
        "SyntaxError: unexpected token in expression: ')' (script.js:2:",
    );
    refused(
        &[
            "run",
            "--script",
            path(&script),
            "--script-runner",
            "/nonexistent/runner.wasm",
        ],
        "cannot read the script runner /nonexistent/runner.wasm",
    );
    let both = quarry(&[
        "run",
        "--script",
        path(&script),
        "--plugin",
        path(&plugin_path("units")),
    ]);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

#[test]
fn inspect_shows_describe_size_hash_and_imports() {
    let file = plugin_path("delay_stats");
    let out = quarry(&["plugin", "inspect", path(&file), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(v["sha256"], quarry_runtime::sha256_hex(&bytes));
    assert_eq!(v["size"], bytes.len());
    assert_eq!(v["info"]["name"], "delay-stats");
    assert_eq!(v["info"]["transforms"], true);
    assert!(
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("quarry:plugin/"))
    );
    let text = stdout(&quarry(&["plugin", "inspect", path(&file)]));
    assert!(
        text.contains("sha256:") && text.contains("imports:"),
        "{text}"
    );
}

#[test]
fn a_big_plugin_says_it_is_compiling_the_first_time_only() {
    let big = repo_root().join("target/python-plugins/units.wasm");
    assert!(
        big.is_file(),
        "{} is missing: build it with scripts/python-plugins.sh",
        big.display()
    );
    let data = tempfile::tempdir().unwrap();
    let inspect = |file: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["plugin", "inspect", path(file)])
            .env("QUARRY_DATA", data.path())
            .output()
            .expect("quarry starts");
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let first = inspect(&big);
    let size = quarry_core::size::format(std::fs::metadata(&big).unwrap().len());
    assert!(
        first.starts_with(&format!(
            "compiling {} ({size}); this happens once",
            big.display()
        )),
        "{first}"
    );
    assert_eq!(inspect(&big), "", "the second time it loads from the cache");
    // A small plugin compiles in well under a second: nothing to say.
    assert_eq!(inspect(&plugin_path("delay_stats")), "");
}

#[test]
fn user_mistakes_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.wasm");
    std::fs::write(&text_file, "not wasm at all").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let units = plugin_path("units");
    let q = ["--query", "SELECT 1"];

    refused(
        &["run", "--plugin", "/no/such/plugin.wasm", q[0], q[1]],
        "cannot read plugin /no/such/plugin.wasm",
    );
    refused(
        &["run", "--plugin", path(&text_file), q[0], q[1]],
        "not a WebAssembly file",
    );
    refused(
        &["run", "--plugin", path(&core), q[0], q[1]],
        "core WebAssembly module, not a component",
    );
    refused(
        &[
            "run",
            "--plugin",
            path(&plugin_path("not-a-plugin")),
            q[0],
            q[1],
        ],
        "does not implement the quarry:plugin/plugin world",
    );
    refused(
        &[
            "run",
            "--plugin",
            path(&units),
            "--params",
            "{oops",
            q[0],
            q[1],
        ],
        "--params is not valid JSON",
    );
    refused(
        &[
            "run",
            "--plugin",
            path(&units),
            "--params",
            "[1]",
            q[0],
            q[1],
        ],
        "--params must be a JSON object",
    );
    refused(&["run", "--query", "SELEC * FROM flights"], "syntax error");
    refused(
        &["run", "--query", "SELECT * FROM nope"],
        "no such table: nope",
    );
    refused(
        &["run", "--query", "DROP TABLE flights"],
        "only read-only statements may run",
    );
    refused(
        &["run", "--source", "warehouse", q[0], q[1]],
        "unknown source `warehouse`",
    );
    refused(
        &["run", "--source", "sqlite:/no/such.db", q[0], q[1]],
        "no SQLite database at /no/such.db",
    );
    refused(&["run"], "nothing to run");
    refused(
        &["plugin", "inspect", path(&text_file)],
        "not a WebAssembly file",
    );
    refused(
        &["run", "--max-memory", "12 parsecs", q[0], q[1]],
        "unknown size unit",
    );
}

#[test]
fn a_plugin_failure_names_the_plugin_and_cause() {
    let hostile = plugin_path("hostile");
    let out = quarry(&[
        "run",
        "--plugin",
        path(&hostile),
        "--params",
        r#"{"attack": "loop"}"#,
        "--max-cpu-time",
        "0.5",
        "--query",
        "SELECT * FROM flights LIMIT 5",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("hit its CPU time limit (500ms; --max-cpu-time raises it) in transform"),
        "{err}"
    );
}

#[test]
fn compare_mode_reports_a_match_or_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("airlines.sqlite");
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS demo;
         CREATE TABLE airlines AS SELECT * FROM demo.airlines;",
        demo_db().display()
    ))
    .unwrap();
    let other = format!("sqlite:{}", copy.display());
    let query = "SELECT * FROM airlines ORDER BY carrier";

    let out = quarry(&[
        "run", "--source", "demo", "--source", &other, "--query", query,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("demo and {other}: the outputs match")),
        "{}",
        stdout(&out)
    );

    conn.execute(
        "UPDATE airlines SET name = 'Renamed' WHERE carrier = 'AA'",
        [],
    )
    .unwrap();
    let out = quarry(&[
        "run", "--source", "demo", "--source", &other, "--query", query,
    ]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(
            "differ; first difference: row 2 column `name`: American Airlines Inc. vs Renamed"
        ),
        "{text}"
    );
}

/// `quarry serve` answers on the address it prints, adds a directory of plugins to its
/// library, and stops cleanly on Ctrl+C (SIGINT) and on SIGTERM.
#[test]
fn serve_answers_then_shuts_down_gracefully() {
    use std::io::{BufRead, BufReader, Read, Write};
    for signal in ["-INT", "-TERM"] {
        let store = tempfile::tempdir().unwrap();
        let plugins = tempfile::tempdir().unwrap();
        std::fs::copy(plugin_path("units"), plugins.path().join("units.wasm")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["serve", "--bind", "127.0.0.1:0", "--plugins"])
            .arg(plugins.path())
            .env("QUARRY_DATA", store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut address = None;
        let mut log = String::new();
        for line in stderr.by_ref().lines() {
            let line = line.unwrap();
            log.push_str(&line);
            log.push('\n');
            if let Some(url) = line.strip_prefix("Quarry is serving on http://") {
                address = Some(url.to_owned());
                break;
            }
        }
        let address = address.unwrap_or_else(|| panic!("no address in:\n{log}"));
        assert!(log.contains("added 1 plugin(s)"), "{log}");
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET /api/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"name\":\"units\""), "{answer}");

        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert!(status.success(), "{signal}: {status}\n{rest}");
        assert!(
            rest.contains("shutting down") && rest.contains("stopped"),
            "{rest}"
        );
    }
}

#[test]
fn bench_runs_every_section_on_a_query_of_the_users_choice() {
    let plugins = plugin_path("identity").parent().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let out = quarry(&[
        "bench",
        "--json",
        json.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
        "--query",
        "SELECT * FROM flights LIMIT 3000",
        "--rounds",
        "1",
        "--instances",
        "20",
        "--requests",
        "20",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("SELECT * FROM flights LIMIT 3000 on demo (3000 rows"),
        "{text}"
    );
    for batch in ["256", "1024", "4096", "16384"] {
        let measured = text.lines().any(|line| {
            line.starts_with("map (units) plugin ")
                && line[40..].split_whitespace().next() == Some(batch)
        });
        assert!(measured, "no map plugin line at batch {batch} in {text}");
    }
    let alone = text
        .split("Transform alone")
        .nth(1)
        .expect("a transform-alone section");
    for line in [
        "identity plugin",
        "map (units), native Rust",
        "map (units) plugin",
        "filter (delayed ≥ 45) plugin",
        "aggregate (delay-stats) plugin",
    ] {
        assert!(alone.contains(line), "no {line:?} in {alone}");
    }
    assert!(
        alone.contains(" % met") || alone.contains(" % MISSED"),
        "{alone}"
    );
    for section in ["Instantiate", "Plugin lifecycle", "HTTP path"] {
        assert!(text.contains(section), "no {section} in {text}");
    }
    // The same figures as JSON, for a CI to track.
    let figures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let end_to_end = figures["end_to_end"].as_array().unwrap();
    let units = end_to_end
        .iter()
        .filter(|f| f["pipeline"] == "map (units) plugin")
        .count();
    assert_eq!(units, 4, "one per batch size: {figures}");
    assert!(
        end_to_end
            .iter()
            .all(|f| f["rows_per_s"].as_f64() > Some(0.0))
    );
    let alone = figures["transform_alone"].as_array().unwrap();
    let kind = |name: &str| {
        alone
            .iter()
            .find(|f| f["transform"] == name)
            .map(|f| f["kind"].clone())
    };
    assert_eq!(
        kind("map (units), native Rust"),
        Some("native".into()),
        "{figures}"
    );
    assert_eq!(kind("map (units) plugin"), Some("plugin".into()));
    assert_eq!(kind("map (units) script (units.js)"), Some("script".into()));
    let units = alone
        .iter()
        .find(|f| f["transform"] == "map (units) plugin")
        .unwrap();
    assert!(
        units["of_native"].as_f64().is_some_and(|r| r > 0.0),
        "{units}"
    );
    assert_eq!(figures["lifecycle"]["compile"].as_array().unwrap().len(), 6);
    assert!(
        figures["lifecycle"]["instantiate"]["p50_us"]
            .as_f64()
            .is_some()
    );
    assert_eq!(figures["http"]["clients"].as_array().unwrap().len(), 3);
}

#[test]
fn bench_measures_a_users_plugin_and_leaves_out_examples_that_do_not_fit() {
    let identity = plugin_path("identity");
    let out = quarry(&[
        "bench",
        "--plugins",
        identity.parent().unwrap().to_str().unwrap(),
        "--query",
        "SELECT * FROM airlines",
        "--plugin",
        identity.to_str().unwrap(),
        "--rounds",
        "1",
        "--instances",
        "10",
        "--requests",
        "10",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("The example transforms are left out: the query's result has no distance, air_time, dep_delay, arr_delay column."),
        "{text}"
    );
    assert!(!text.contains("map (units)"), "{text}");
    assert_eq!(text.matches("identity (your plugin)").count(), 5, "{text}");
}

#[test]
fn bench_measures_the_http_path() {
    let out = quarry(&["bench", "--http", "--requests", "40"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("one client, 40 runs: p50"), "{text}");
    for clients in [" 1 client(s)", " 8 client(s)", "64 client(s)"] {
        assert!(text.contains(clients) && text.contains("runs/s"), "{text}");
    }
}

#[test]
fn bench_measures_the_plugin_lifecycle() {
    let plugins = plugin_path("identity").parent().unwrap().to_owned();
    let out = quarry(&[
        "bench",
        "--lifecycle",
        "--instances",
        "50",
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("50 runs: p50"), "{text}");
    for plugin in [
        "identity",
        "units",
        "delayed",
        "delay_stats",
        "flights_between",
        "script_runner",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(plugin))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("ms") && line.contains("KiB"), "{line}");
    }
    assert!(text.contains("an empty transform call"), "{text}");
    assert!(text.contains("first run of a new script"), "{text}");
}

/// Compare mode takes one query for every source, or one per source in the same order.
#[test]
fn compare_mode_takes_one_query_per_source() {
    let db = path(&demo_db()).to_owned();
    let sqlite = format!("sqlite:{db}");
    let out = quarry(&[
        "run",
        "--source",
        "demo",
        "--source",
        &sqlite,
        "--query",
        "SELECT carrier FROM airlines ORDER BY carrier",
        "--query",
        "SELECT carrier FROM airlines ORDER BY carrier DESC",
    ]);
    let text = stdout(&out);
    assert!(!out.status.success(), "the orders differ: {text}");
    assert!(
        text.contains(&format!(
            "demo and {sqlite} differ; first difference: row 1 column `carrier`: 9E vs YV"
        )),
        "{text}"
    );
    let out = quarry(&[
        "run",
        "--source",
        "demo",
        "--source",
        &sqlite,
        "--query",
        "SELECT count(*) AS n FROM airlines",
        "--query",
        "SELECT 16 AS n",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the outputs match"),
        "{}",
        stdout(&out)
    );
    refused(
        &[
            "run", "--source", "demo", "--source", &sqlite, "--source", "demo", "--query",
            "SELECT 1", "--query", "SELECT 2",
        ],
        "--query was given 2 times for 3 sources: give it once for all, or once per --source in the same order",
    );
}
