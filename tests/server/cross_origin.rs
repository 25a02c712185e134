//! Pages of other sites cannot drive the server through a visitor's browser: requests as
//! a browser sends them for a cross-site `fetch`, a form post or a DNS-rebinding page,
//! over raw sockets to a real server on 127.0.0.1, are refused before anything runs.

use std::net::SocketAddr;

use quarry_server::Settings;
use quarry_server::browser::Allowed;
use serde_json::json;

use crate::hostile::{body, envelope, raw, server};

const RUN: &str = r#"{"source": "demo", "query": "SELECT count(*) AS n FROM airlines"}"#;
const SNIPPET: &str = r#"{"source": "demo", "plugin": null, "params": {}, "query": "SELECT 1"}"#;

/// A request with exactly these headers (plus Host, Content-Length and Connection).
pub(crate) fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    raw(address, request.as_bytes())
}

pub(crate) fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn pages_of_other_sites_are_refused_and_nothing_runs_or_is_stored() {
    let (address, store) = server(Settings::default());
    let own = address.to_string();
    let other_app = format!("http://127.0.0.1:{}", address.port() + 1);
    let rebound = format!("evil.example:{}", address.port());
    let rebound_origin = format!("http://{rebound}");
    let json = ("Content-Type", "application/json");
    let text = ("Content-Type", "text/plain");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let multipart = ("Content-Type", "multipart/form-data; boundary=x");
    let evil = ("Origin", "https://evil.example");
    let upload = "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.wasm\"\r\n\r\n\0asm\r\n--x--\r\n";
    // Method, path, Host, headers, body; the status and error kind expected.
    type Attack<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
        u16,
        &'a str,
    );
    let attacks: Vec<Attack> = vec![
        // fetch() with a "simple" content type: no preflight, so the Origin is all we see.
        (
            "POST",
            "/api/runs",
            &own,
            vec![text, evil],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![form, evil],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![json, evil],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![json, ("Origin", "null")],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![json, ("Origin", &other_app)],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![text, ("Sec-Fetch-Site", "cross-site")],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![json, ("Sec-Fetch-Site", "same-site")],
            RUN,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/snippets",
            &own,
            vec![text, evil],
            SNIPPET,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/scripts",
            &own,
            vec![text, evil],
            r#"{"script": "export function transform(r) { return r; }"}"#,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/plugins",
            &own,
            vec![multipart, evil],
            upload,
            403,
            "foreign_origin",
        ),
        (
            "POST",
            "/api/runs/0123456789abcdef/cancel",
            &own,
            vec![evil],
            "",
            403,
            "foreign_origin",
        ),
        // Without an Origin (not a browser), a JSON endpoint still wants JSON.
        (
            "POST",
            "/api/runs",
            &own,
            vec![text],
            RUN,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/runs",
            &own,
            vec![],
            RUN,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/snippets",
            &own,
            vec![form],
            SNIPPET,
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/plugins",
            &own,
            vec![text],
            "\0asm",
            415,
            "unsupported_media_type",
        ),
        // A DNS-rebinding page is same-origin with itself, but under its own name.
        (
            "POST",
            "/api/runs",
            &rebound,
            vec![json, ("Origin", &rebound_origin)],
            RUN,
            421,
            "unknown_host",
        ),
        (
            "GET",
            "/api/sources",
            &rebound,
            vec![],
            "",
            421,
            "unknown_host",
        ),
        (
            "GET",
            "/api/plugins",
            &rebound,
            vec![],
            "",
            421,
            "unknown_host",
        ),
        ("GET", "/", &rebound, vec![], "", 421, "unknown_host"),
        (
            "GET",
            "/api/sources",
            "localhost.evil.example",
            vec![],
            "",
            421,
            "unknown_host",
        ),
    ];
    for (method, path, host, headers, body, status, kind) in attacks {
        let answer = send(address, method, path, host, &headers, body);
        assert!(
            answer.1.contains(kind) && answer.0 == status,
            "{method} {path} Host {host} {headers:?}: expected {status} {kind}, got {}",
            answer.1
        );
        envelope(answer, status, kind);
    }

    // Nothing was stored.
    let (status, plugins) = send(address, "GET", "/api/plugins", &own, &[], "");
    assert_eq!(status, 200);
    assert_eq!(body(&plugins)["plugins"], json!([]), "{plugins}");
    let db = rusqlite::Connection::open(store.path().join("quarry.db")).unwrap();
    let snippets: i64 = db
        .query_row("SELECT count(*) FROM snippets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(snippets, 0);
}

#[test]
fn the_own_page_and_plain_clients_still_work() {
    let (address, _store) = server(Settings::default());
    let port = address.port();
    let json = ("Content-Type", "application/json; charset=utf-8");
    let own = format!("http://127.0.0.1:{port}");
    let local = format!("http://localhost:{port}");
    let localhost = format!("localhost:{port}");
    let v6 = format!("[::1]:{port}");
    let ip = address.to_string();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            &ip,
            vec![json, ("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
        ),
        (&localhost, vec![json, ("Origin", &local)]),
        (&v6, vec![json]),
        (&ip, vec![json]),
        (&ip, vec![json, ("Sec-Fetch-Site", "none")]),
    ];
    for (host, headers) in cases {
        let (status, answer) = send(address, "POST", "/api/runs", host, &headers, RUN);
        assert_eq!(status, 200, "Host {host} {headers:?}: {answer}");
        assert_eq!(body(&answer)["rows"], json!([[16]]));
    }
}

#[test]
fn answers_carry_nosniff_pages_a_policy_and_no_cors_headers() {
    let (address, _store) = server(Settings::default());
    let host = address.to_string();
    let (status, page) = send(address, "GET", "/", &host, &[], "");
    assert_eq!(status, 200);
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
    let policy = header(&page, "content-security-policy").expect("a page has a policy");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    let evil = ("Origin", "https://evil.example");
    let (_, api) = send(address, "GET", "/api/sources", &host, &[evil], "");
    assert_eq!(header(&api, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&api, "content-security-policy"), None);
    let preflight = [
        evil,
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let (_, options) = send(address, "OPTIONS", "/api/runs", &host, &preflight, "");
    for answer in [&api, &options] {
        assert!(
            !answer.to_ascii_lowercase().contains("access-control-"),
            "no CORS headers without --cors-origin: {answer}"
        );
    }
}

#[test]
fn the_cors_origin_may_call_the_api_and_no_other() {
    let tools = "https://tools.example.com";
    let settings = Settings {
        allowed: Allowed::new(None, &[], Some(tools)).unwrap(),
        ..Settings::default()
    };
    let (address, _store) = server(settings);
    let host = address.to_string();
    let preflight = |origin| {
        send(
            address,
            "OPTIONS",
            "/api/runs",
            &host,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "content-type,authorization",
                ),
            ],
            "",
        )
    };
    let (_, allowed) = preflight(tools);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some(tools),
        "{allowed}"
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{allowed}");
    let (_, refused) = preflight("https://evil.example");
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        None,
        "{refused}"
    );

    let json = ("Content-Type", "application/json");
    let (status, answer) = send(
        address,
        "POST",
        "/api/runs",
        &host,
        &[json, ("Origin", tools)],
        RUN,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(tools));
    let (status, _) = send(
        address,
        "POST",
        "/api/runs",
        &host,
        &[json, ("Origin", "https://evil.example")],
        RUN,
    );
    assert_eq!(status, 403);
}
