//! The hostile HTTP suite: a real `quarry serve` on 127.0.0.1, attacked over raw sockets.
//! Every answer must be a clean 4xx/5xx envelope (never a panic or a dropped connection),
//! the server must keep serving, and stored plugins and snippets must survive a SIGKILL at
//! any moment.
//!
//! The attacks run twice: as here, on a server without tokens, and in `with_tokens` on a
//! server with `--auth token`, sent with an admin's token (the answers must be the same).

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use quarry_server::Settings;
use serde_json::{Value, json};

thread_local! {
    /// Set by the `with_tokens` tests: their servers ask for tokens.
    static WITH_TOKENS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The admin token of each server started with tokens, by address: [`raw`] sends it.
static TOKENS: std::sync::Mutex<std::collections::BTreeMap<SocketAddr, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A server in this process, on a free loopback port (asking for tokens in the
/// `with_tokens` tests).
pub(crate) fn server(settings: Settings) -> (SocketAddr, tempfile::TempDir) {
    let store = tempfile::tempdir().unwrap();
    let with_tokens = WITH_TOKENS.get();
    let settings = if with_tokens {
        Settings {
            auth: quarry_server::auth::AuthMode::Token,
            ..settings
        }
    } else {
        settings
    };
    let app = web_app(store.path(), settings);
    let token = with_tokens.then(|| {
        tokio()
            .block_on(
                app.users
                    .add("hostile-admin", quarry_server::users::Role::Admin),
            )
            .unwrap()
    });
    let listener = tokio()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio().spawn(quarry_server::serve(listener, app, std::future::pending()));
    if let Some(token) = token {
        // The server does ask: without the token, nothing.
        let (status, _) = raw(
            address,
            b"GET /api/sources HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 401);
        TOKENS.lock().unwrap().insert(address, token);
    }
    (address, store)
}

/// `request` with the server's admin token after its request line, when it has one.
fn with_token(address: SocketAddr, request: &[u8]) -> Vec<u8> {
    let token = TOKENS.lock().unwrap().get(&address).cloned();
    let (Some(token), Some(end)) = (token, request.windows(2).position(|w| w == b"\r\n")) else {
        return request.to_vec();
    };
    let mut out = request[..end + 2].to_vec();
    out.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
    out.extend_from_slice(&request[end + 2..]);
    out
}

/// Sends raw bytes, reads the answer to the end: (status, headers + body text).
pub(crate) fn raw(address: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(&with_token(address, request)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    (status, answer)
}

pub(crate) fn call(
    address: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    raw(address, &request)
}

/// The JSON body of an answer.
pub(crate) fn body(answer: &str) -> Value {
    let text = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not a JSON body: {answer}"))
}

/// Asserts an error envelope with `status` and `kind`.
pub(crate) fn envelope(answer: (u16, String), status: u16, kind: &str) {
    let (got, text) = answer;
    assert_eq!(got, status, "{text}");
    let body = body(&text);
    assert_eq!(body["ok"], json!(false), "{text}");
    assert_eq!(body["error"]["kind"], json!(kind), "{text}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

fn still_serves(address: SocketAddr) {
    let (status, text) = call(
        address,
        "POST",
        "/api/runs",
        "application/json",
        br#"{"source": "demo", "query": "SELECT count(*) AS n FROM airlines"}"#,
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(body(&text)["rows"], json!([[16]]));
}

fn post_run(address: SocketAddr, body: &str) -> (u16, String) {
    call(
        address,
        "POST",
        "/api/runs",
        "application/json",
        body.as_bytes(),
    )
}

#[test]
fn malformed_json_is_a_clean_400() {
    let (address, _store) = server(Settings::default());
    for bad in [
        "{",
        "not json",
        "{\"source\": \"demo\",}",
        "\u{0}",
        "[]",
        "null",
        "{\"source\": \"demo\"} trailing",
    ] {
        envelope(post_run(address, bad), 400, "bad_json");
    }
    still_serves(address);
}

#[test]
fn wrong_types_are_a_clean_400() {
    let (address, _store) = server(Settings::default());
    for bad in [
        r#"{"source": 1}"#,
        r#"{"source": "demo", "query": 7}"#,
        r#"{"source": "demo", "limit": "ten", "query": "SELECT 1"}"#,
        r#"{"source": "demo", "limit": -1, "query": "SELECT 1"}"#,
        r#"{"source": "demo", "preview": "yes", "query": "SELECT 1"}"#,
        r#"{"source": "demo", "plugin": 42}"#,
    ] {
        envelope(post_run(address, bad), 400, "bad_json");
    }
    envelope(
        post_run(
            address,
            r#"{"source": "demo", "params": "x", "query": "SELECT 1"}"#,
        ),
        400,
        "bad_params",
    );
    envelope(
        call(
            address,
            "POST",
            "/api/snippets",
            "application/json",
            br#"{"source": ["demo"]}"#,
        ),
        400,
        "bad_json",
    );
    still_serves(address);
}

#[test]
fn missing_fields_are_a_clean_400() {
    let (address, _store) = server(Settings::default());
    envelope(post_run(address, "{}"), 400, "bad_json");
    envelope(post_run(address, r#"{"source": "demo"}"#), 400, "no_query");
    envelope(
        call(address, "POST", "/api/snippets", "application/json", b"{}"),
        400,
        "bad_json",
    );
    envelope(
        call(address, "POST", "/api/runs", "application/json", b""),
        400,
        "bad_json",
    );
    still_serves(address);
}

#[test]
fn unknown_plugin_ids_are_a_clean_404() {
    let (address, _store) = server(Settings::default());
    let zeros = "0".repeat(64);
    for id in [
        zeros.as_str(),
        "abc",
        &"f".repeat(65),
        "../../../../etc/passwd",
    ] {
        let request = json!({"source": "demo", "plugin": id, "query": "SELECT 1"});
        envelope(
            post_run(address, &request.to_string()),
            404,
            "unknown_plugin",
        );
        let snippet = json!({"source": "demo", "plugin": id});
        envelope(
            call(
                address,
                "POST",
                "/api/snippets",
                "application/json",
                snippet.to_string().as_bytes(),
            ),
            404,
            "unknown_plugin",
        );
    }
    still_serves(address);
}

#[test]
fn path_traversal_in_every_path_parameter_finds_nothing() {
    let (address, _store) = server(Settings::default());
    for evil in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "....//....//etc/passwd",
        "..%5C..%5Cwindows",
        "%00",
    ] {
        for (method, path) in [
            ("GET", format!("/api/plugins/{evil}")),
            ("GET", format!("/api/plugins/{evil}/wasm")),
            ("GET", format!("/api/snippets/{evil}")),
            ("POST", format!("/api/runs/{evil}/cancel")),
            ("GET", format!("/plugins/{evil}")),
            ("GET", format!("/s/{evil}")),
            ("GET", format!("/static/{evil}")),
        ] {
            let (status, text) = call(address, method, &path, "text/plain", b"");
            assert_eq!(status, 404, "{method} {path}: {text}");
            assert!(
                !text.contains("root:"),
                "{method} {path} leaked a file: {text}"
            );
        }
    }
    still_serves(address);
}

#[test]
fn wrong_methods_get_the_envelope() {
    let (address, _store) = server(Settings::default());
    envelope(
        call(address, "GET", "/api/runs", "text/plain", b""),
        405,
        "method_not_allowed",
    );
    envelope(
        call(address, "DELETE", "/api/plugins", "text/plain", b""),
        405,
        "method_not_allowed",
    );
    envelope(
        call(address, "PUT", "/api/snippets", "text/plain", b""),
        405,
        "method_not_allowed",
    );
    envelope(
        call(address, "GET", "/api/nothing", "text/plain", b""),
        404,
        "not_found",
    );
}

#[test]
fn an_oversized_json_body_is_a_clean_413() {
    let (address, _store) = server(Settings::default());
    let query = format!(
        r#"{{"source": "demo", "query": "SELECT '{}'"}}"#,
        "x".repeat(2 << 20)
    );
    envelope(post_run(address, &query), 413, "too_large");
    still_serves(address);
}

#[test]
fn a_1_gib_upload_is_refused_at_its_declared_length() {
    let (address, _store) = server(Settings::default());
    let started = Instant::now();
    let headers = format!(
        "POST /api/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\n\r\n",
        1u64 << 30
    );
    // Only the first megabyte is ever sent: the answer must not wait for the rest.
    let mut request = headers.into_bytes();
    request.extend(std::iter::repeat_n(0u8, 1 << 20));
    envelope(raw(address, &request), 413, "too_large");
    assert!(started.elapsed() < Duration::from_secs(10));
    still_serves(address);
}

#[test]
fn an_upload_of_unknown_length_is_cut_at_the_limit() {
    let (address, _store) = server(Settings {
        max_upload: 1 << 20,
        ..Settings::default()
    });
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "POST /api/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/wasm\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    // Chunks of 64 KiB until the server answers (or 64 MiB, far past the limit).
    let chunk = vec![b'a'; 64 << 10];
    let mut sent = 0usize;
    while sent < 64 << 20 {
        let wrote = write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|_| stream.write_all(&chunk))
            .and_then(|_| stream.write_all(b"\r\n"));
        if wrote.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "after {sent} bytes: {answer}"
    );
    still_serves(address);
}

#[test]
fn a_compressed_bomb_is_never_inflated() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let (address, _store) = server(Settings::default());
    // 256 MiB of zeros in a quarter of a megabyte of gzip.
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gzip.write_all(&zeros).unwrap();
    }
    let bomb = gzip.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let mut request = format!(
        "POST /api/plugins HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/wasm\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    request.extend_from_slice(&bomb);
    envelope(raw(address, &request), 400, "not_wasm");
    still_serves(address);
}

#[test]
fn slow_clients_do_not_hold_up_the_others() {
    let (address, _store) = server(Settings::default());
    // Fifty clients that send half a request and then nothing.
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(address).unwrap();
            s.write_all(
                b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"sou",
            )
            .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    for _ in 0..20 {
        still_serves(address);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(slow);
}

#[test]
fn stalled_clients_are_cut_off_after_the_read_timeout() {
    let (address, _store) = server(Settings {
        read_timeout: Duration::from_secs(1),
        ..Settings::default()
    });
    let stall = |request: &[u8]| {
        let mut s = TcpStream::connect(address).unwrap();
        s.write_all(request).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Fifty that stop in the middle of their headers, ten in the middle of their body.
    let mut stalled: Vec<TcpStream> = (0..50)
        .map(|_| stall(b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"))
        .collect();
    stalled.extend((0..10).map(|_| {
        stall(
            b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sou",
        )
    }));
    let started = Instant::now();
    for (i, mut s) in stalled.into_iter().enumerate() {
        let mut answer = Vec::new();
        // The server closes the connection (after an error answer, for a stalled body).
        s.read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("connection {i} was not closed: {e}"));
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "connection {i}: {answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    still_serves(address);
}

#[test]
fn a_burst_of_thousands_of_requests_gets_clean_answers() {
    let (address, _store) = server(Settings {
        max_runs: 4,
        max_queue: 16,
        // Beyond a caller's share a run is a clean 429 too, but this test's last run
        // must still find a share.
        max_runs_per_minute: u32::MAX,
        ..Settings::default()
    });
    let requests: Arc<Vec<(&str, &str, String)>> = Arc::new(vec![
        (
            "POST",
            "/api/runs",
            r#"{"source": "demo", "query": "SELECT carrier FROM airlines"}"#.into(),
        ),
        ("POST", "/api/runs", "{broken".into()),
        ("GET", "/api/sources", String::new()),
        ("GET", "/api/plugins/..%2Fx", String::new()),
        (
            "POST",
            "/api/snippets",
            r#"{"source": "demo", "query": "SELECT 1"}"#.into(),
        ),
        ("GET", "/api/plugins", String::new()),
    ]);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let requests = requests.clone();
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for i in 0..150 {
                    let (method, path, payload) = &requests[(t + i) % requests.len()];
                    let (status, text) = call(
                        address,
                        method,
                        path,
                        "application/json",
                        payload.as_bytes(),
                    );
                    if status >= 400 {
                        // Every refusal is the envelope, busy included.
                        let body = body(&text);
                        assert_eq!(body["ok"], json!(false), "{text}");
                    }
                    statuses.push(status);
                }
                statuses
            })
        })
        .collect();
    let mut seen = std::collections::BTreeMap::new();
    for thread in threads {
        for status in thread.join().expect("no client saw a broken answer") {
            *seen.entry(status).or_insert(0) += 1;
        }
    }
    let total: usize = seen.values().sum();
    assert_eq!(total, 2400);
    assert!(
        seen.keys()
            .all(|s| [200, 201, 400, 404, 429, 503].contains(s)),
        "{seen:?}"
    );
    eprintln!("statuses for 2400 requests: {seen:?}");
    still_serves(address);
}

/// A POST that may meet a dead server: `None` when the connection fails.
fn try_call(address: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Option<()> {
    let mut stream = TcpStream::connect(address).ok()?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    (!answer.is_empty()).then_some(())
}

/// `quarry serve` as a child process, killed with SIGKILL on drop if still running.
struct Process {
    child: Child,
    address: String,
}

impl Process {
    fn start(data: &std::path::Path) -> Process {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("QUARRY_DATA", data)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut address = None;
        for line in stderr.lines() {
            if let Some(a) = line.unwrap().strip_prefix("Quarry is serving on http://") {
                address = Some(a.to_owned());
                break;
            }
        }
        Process {
            child,
            address: address.expect("the server starts"),
        }
    }

    fn address(&self) -> SocketAddr {
        self.address.parse().unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Checks that every listed plugin is whole (its bytes match its hash, it runs) and that
/// every snippet reads back; returns how many of each.
fn store_is_whole(address: SocketAddr, data: &std::path::Path) -> (usize, usize) {
    let (status, text) = call(address, "GET", "/api/plugins", "text/plain", b"");
    assert_eq!(status, 200, "{text}");
    let plugins = body(&text)["plugins"].as_array().unwrap().clone();
    for plugin in &plugins {
        let sha = plugin["sha256"].as_str().unwrap();
        let (status, text) = call(
            address,
            "GET",
            &format!("/api/plugins/{sha}/wasm"),
            "text/plain",
            b"",
        );
        assert_eq!(status, 200, "{sha}: {text}");
    }
    // Every snippet the store holds reads back whole.
    let db = rusqlite::Connection::open(data.join("quarry.db")).unwrap();
    let snippets: Vec<String> = db
        .prepare("SELECT id FROM snippets")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &snippets {
        let (status, text) = call(
            address,
            "GET",
            &format!("/api/snippets/{id}"),
            "text/plain",
            b"",
        );
        assert_eq!(status, 200, "{id}: {text}");
    }
    (plugins.len(), snippets.len())
}

#[test]
fn a_sigkill_during_uploads_and_snippet_saves_leaves_no_partial_entry() {
    let data = tempfile::tempdir().unwrap();
    let wasm: Vec<Vec<u8>> = ["identity", "units", "delayed", "mask", "delay_stats"]
        .iter()
        .map(|p| std::fs::read(plugin_path(p)).unwrap())
        .collect();
    let mut stored = (0, 0);
    for round in 0..4u64 {
        let mut server = Process::start(data.path());
        let address = server.address();
        // Uploads and snippet saves in flight from several clients…
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let wasm = wasm[(w + round as usize) % wasm.len()].clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let sent = if i % 3 == 2 {
                            try_call(address, "/api/plugins", "application/wasm", &wasm)
                        } else {
                            let snippet =
                                json!({"source": "demo", "query": format!("SELECT {w}{i}{round}")});
                            try_call(
                                address,
                                "/api/snippets",
                                "application/json",
                                snippet.to_string().as_bytes(),
                            )
                        };
                        if sent.is_none() {
                            break; // the server is gone
                        }
                    }
                })
            })
            .collect();
        // …when the server is killed.
        std::thread::sleep(Duration::from_millis(400 + 700 * round));
        server.kill();
        for w in writers {
            let _ = w.join();
        }
        let restarted = Process::start(data.path());
        let (plugins, snippets) = store_is_whole(restarted.address(), data.path());
        eprintln!("round {round}: {plugins} plugins and {snippets} snippets intact after SIGKILL");
        stored = (plugins, snippets);
    }
    assert!(
        stored.0 > 0 && stored.1 > 0,
        "the kills came after some writes: {stored:?}"
    );
}

/// The attacks again, on a server that asks for tokens, with an admin's.
mod with_tokens {
    macro_rules! with_tokens {
        ($($test:ident),* $(,)?) => {$(
            #[test]
            fn $test() {
                super::WITH_TOKENS.set(true);
                super::$test();
            }
        )*};
    }

    with_tokens!(
        malformed_json_is_a_clean_400,
        wrong_types_are_a_clean_400,
        missing_fields_are_a_clean_400,
        unknown_plugin_ids_are_a_clean_404,
        path_traversal_in_every_path_parameter_finds_nothing,
        wrong_methods_get_the_envelope,
        an_oversized_json_body_is_a_clean_413,
        a_1_gib_upload_is_refused_at_its_declared_length,
        a_compressed_bomb_is_never_inflated,
        slow_clients_do_not_hold_up_the_others,
        a_burst_of_thousands_of_requests_gets_clean_answers,
    );
}
