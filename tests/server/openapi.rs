//! The API contract: `/api/openapi.json` is generated from the handlers' own types, and
//! Schemathesis (a schema-conformance fuzzer, from PyPI; `scripts/schemathesis.sh`
//! installs it) drives a real `quarry serve` with requests built from it, checking every
//! answer's status code, content type and body against the document, and that no request
//! makes the server fail (5xx).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common::{plugin_path, repo_root};

/// Schemathesis's `st`, or `None` (and why) when it is not installed; CI must have it.
fn schemathesis() -> Option<std::path::PathBuf> {
    let st = std::env::var_os("QUARRY_TEST_SCHEMATHESIS")
        .map(Into::into)
        .unwrap_or_else(|| repo_root().join("target/schemathesis-venv/bin/st"));
    if st.is_file() {
        return Some(st);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI must install Schemathesis (scripts/test.sh runs scripts/schemathesis.sh)");
    }
    eprintln!("skipped: Schemathesis is not installed (bash scripts/schemathesis.sh)");
    None
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request on a fresh connection: (status, JSON body).
fn call(address: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_server_answers_as_its_openapi_document_says() {
    let Some(st) = schemathesis() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["serve", "--bind", "127.0.0.1:0", "--log-level", "error"])
        .env("QUARRY_DATA", data.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find_map(|l| {
            l.strip_prefix("Quarry is serving on http://")
                .map(str::to_owned)
        })
        .expect("the server starts");
    let _serve = Serve(child);

    // Something in the library and a snippet, so that requests for them find them.
    let wasm = std::fs::read(plugin_path("units")).unwrap();
    let (status, uploaded) = call(&address, "POST", "/api/plugins", "application/wasm", &wasm);
    assert_eq!(status, 201, "{uploaded}");
    let sha256 = uploaded["plugin"]["sha256"].as_str().unwrap().to_owned();
    let snippet = br#"{"source": "demo", "query": "SELECT * FROM airlines"}"#;
    let (status, link) = call(
        &address,
        "POST",
        "/api/snippets",
        "application/json",
        snippet,
    );
    assert_eq!(status, 201, "{link}");
    let id = link["id"].as_str().unwrap().to_owned();

    let config = data.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\nsha256 = \"{sha256}\"\nid = \"{id}\"\n\n[generation]\nmax-examples = 25\n"
        ),
    )
    .unwrap();
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("http://{address}/api/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--seed",
            "20261130",
            "--request-timeout",
            "30",
            "--no-color",
        ])
        .current_dir(data.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Schemathesis found answers that differ from the document:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It did reach the handlers: the examples ran a query and opened the stored entries.
    assert!(report.contains("passed"), "{report}");
}
