//! The operator's view: `quarry serve` logs every request and every run on stderr, as text
//! or JSON lines, at the level `--log-level` (or `RUST_LOG`) sets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// `quarry serve` with `args`, its stderr lines arriving on a channel.
pub(crate) struct Serve {
    child: Child,
    pub(crate) address: String,
    pub(crate) lines: mpsc::Receiver<String>,
}

impl Serve {
    pub(crate) fn start(args: &[&str]) -> Serve {
        Serve::start_in(&crate::common::data_dir(), args)
    }

    /// With the data directory `data`.
    pub(crate) fn start_in(data: &std::path::Path, args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("QUARRY_DATA", data)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = stderr
            .by_ref()
            .map(Result::unwrap)
            .find_map(|l| {
                l.strip_prefix("Quarry is serving on http://")
                    .map(str::to_owned)
            })
            .expect("the server starts");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Serve {
            child,
            address,
            lines,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Posts a JSON run; returns the answer's `x-request-id` and JSON body.
    fn run(&self, body: &str) -> (String, Value) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST /api/runs HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .expect("the answer carries its request id")
            .to_owned();
        (id, serde_json::from_str(body).unwrap())
    }

    /// The lines logged until `done` accepts one, or 10 s have passed.
    fn until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            let last = done(&line);
            seen.push(line);
            if last {
                break;
            }
        }
        seen
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn span<'a>(event: &'a Value, name: &str) -> &'a Value {
    event["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no {name} span in {event}"))
}

#[test]
fn json_logs_name_each_request_and_each_run() {
    let serve = Serve::start(&["--log-format", "json"]);
    let (request_id, answer) =
        serve.run(r#"{"source": "demo", "query": "SELECT carrier FROM airlines"}"#);
    assert_eq!(answer["ok"], true, "{answer}");
    let events: Vec<Value> = serve
        .until(|l| l.contains("finished processing request"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let run = events
        .iter()
        .find(|e| e["fields"]["message"] == "run finished")
        .unwrap_or_else(|| panic!("no run line in {events:?}"));
    assert_eq!(run["level"], "INFO");
    assert_eq!(run["fields"]["source"], "demo");
    assert_eq!(run["fields"]["plugin"], "-");
    assert_eq!(run["fields"]["rows_out"], 16);
    assert_eq!(span(run, "run")["id"], answer["run"], "the run's own id");
    let request = span(run, "request");
    assert_eq!(request["id"], request_id.as_str());
    assert_eq!(request["path"], "/api/runs");
    assert_eq!(request["method"], "POST");
    let done = events.last().unwrap();
    assert_eq!(done["fields"]["status"], 200);
    assert_eq!(span(done, "request")["id"], request_id.as_str());

    // A failed run is logged with its error.
    let (_, answer) = serve.run(r#"{"source": "demo", "query": "SELEC 1"}"#);
    assert_eq!(answer["ok"], false);
    let lines = serve.until(|l| l.contains("finished processing request"));
    let failed: Value = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["fields"]["message"] == "run failed")
        .unwrap_or_else(|| panic!("no failed run in {lines:?}"));
    let error = failed["fields"]["error"].as_str().unwrap();
    assert!(error.contains("syntax error"), "{error}");
}

#[test]
fn text_logs_by_default_and_the_level_filters_them() {
    let serve = Serve::start(&[]);
    serve.run(r#"{"source": "demo", "query": "SELECT 1 AS one"}"#);
    let lines = serve.until(|l| l.contains("finished processing request"));
    let run = lines
        .iter()
        .find(|l| l.contains("run finished"))
        .unwrap_or_else(|| panic!("no run line in {lines:?}"));
    assert!(
        run.contains(" INFO ") && run.contains("source=demo"),
        "{run}"
    );
    assert!(run.contains("path=\"/api/runs\""), "{run}");
    drop(serve);

    let quiet = Serve::start(&["--log-level", "warn"]);
    quiet.run(r#"{"source": "demo", "query": "SELECT 1 AS one"}"#);
    let lines = quiet.until(|_| false);
    assert!(
        lines.iter().all(|l| !l.contains("run finished")),
        "{lines:?}"
    );
}
