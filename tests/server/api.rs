//! Every JSON API endpoint and its error paths, through `tower::ServiceExt::oneshot` on the
//! application's `Router` (no socket), plus the pages and assets the router serves.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use http_body_util::BodyExt;
use quarry_runtime::Limits;
use quarry_server::{App, Settings, router};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Server {
    _store: tempfile::TempDir,
    app: Arc<App>,
}

impl Server {
    fn new() -> Server {
        Server::with(Settings {
            limits: Limits {
                cpu_time: Duration::from_secs(2),
                ..Limits::default()
            },
            ..Settings::default()
        })
    }

    fn with(settings: Settings) -> Server {
        let store = tempfile::tempdir().unwrap();
        let app = web_app(store.path(), settings);
        Server { _store: store, app }
    }

    fn router(&self) -> Router {
        router(self.app.clone())
    }

    fn call(&self, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
        tokio().block_on(async {
            let response = self.router().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, content_type, body.to_vec())
        })
    }

    fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Request::get(uri).body(Body::empty()).unwrap());
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn post(&self, uri: &str, body: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.post_raw(uri, body);
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
        (status, value)
    }

    fn post_raw(&self, uri: &str, body: &str) -> (StatusCode, String, Vec<u8>) {
        self.call(
            Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
    }

    fn upload(&self, wasm: Vec<u8>) -> (StatusCode, Value) {
        let (status, _, body) = self.call(
            Request::post("/api/plugins")
                .header(header::CONTENT_TYPE, "application/wasm")
                .body(Body::from(wasm))
                .unwrap(),
        );
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Uploads a built plugin and returns its SHA-256.
    fn add(&self, name: &str) -> String {
        let (status, body) = self.upload(std::fs::read(plugin_path(name)).unwrap());
        assert!(status.is_success(), "{name}: {status} {body}");
        body["plugin"]["sha256"].as_str().unwrap().to_owned()
    }
}

/// The envelope of an error answer, checked for shape; returns the kind and message.
fn error(status: StatusCode, body: &Value, expected: StatusCode) -> (String, String) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["ok"], json!(false), "{body}");
    (
        body["error"]["kind"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn sources_are_listed_with_their_backends() {
    let server = Server::new();
    let (status, body) = server.get("/api/sources");
    assert_eq!(status, StatusCode::OK);
    let names: Vec<(&str, &str)> = body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["backend"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("demo", "sqlite"), ("slow", "sqlite")]);
}

#[test]
fn a_source_schema_lists_its_tables_and_columns() {
    let server = Server::new();
    let (status, body) = server.get("/api/sources/demo/schema");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["source"], &body["backend"]),
        (&json!("demo"), &json!("sqlite"))
    );
    let tables: Vec<&str> = body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        ["airlines", "airports", "flights", "planes", "weather"]
    );
    let flights = &body["tables"][2];
    assert_eq!(flights["kind"], json!("table"));
    assert!(
        flights["columns"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "dep_delay", "type": "INTEGER", "nullable": true})),
        "{flights}"
    );
    assert!(
        flights["indexes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "flights_route", "columns": ["origin", "dest", "time_hour"], "unique": false})),
        "{flights}"
    );
    // An unknown source, and an ad hoc file (which runs on the server may not name either).
    for name in ["nope", "sqlite:%2Fetc%2Fpasswd"] {
        let (status, body) = server.get(&format!("/api/sources/{name}/schema"));
        let (kind, message) = error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(kind, "unknown_source", "{message}");
    }
}

#[test]
fn explain_answers_the_plan_without_running_the_plugin() {
    let server = Server::new();
    let body = json!({"source": "demo", "explain": true,
                      "query": "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX'"});
    let (status, answer) = server.post("/api/runs", &body.to_string());
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["plan"]["method"], json!("EXPLAIN QUERY PLAN"));
    assert_eq!(answer["query"]["text"], body["query"]);
    let tree = answer["plan"]["tree"].to_string();
    assert!(tree.contains("USING INDEX flights_route"), "{tree}");
    assert!(answer.get("rows").is_none(), "no rows: {answer}");

    // A plugin that transforms: its `transform` is not called (one that panics in it
    // still answers the plan), and the format does not matter.
    let hostile = server.add("hostile");
    let with_plugin = json!({"source": "demo", "plugin": hostile, "explain": true,
                             "params": {"attack": "panic", "in": "transform"},
                             "query": "SELECT distance, air_time FROM flights"});
    let (status, answer) = server.post("/api/runs?format=csv", &with_plugin.to_string());
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["plan"]["tree"].to_string().contains("SCAN flights"),
        "{answer}"
    );

    let wrong = json!({"source": "demo", "explain": true, "query": "SELECT * FROM nowhere"});
    let (status, answer) = server.post("/api/runs", &wrong.to_string());
    let (kind, message) = error(status, &answer, StatusCode::BAD_REQUEST);
    assert_eq!(kind, "query_error");
    assert!(message.contains("no such table: nowhere"), "{message}");
    let write = json!({"source": "demo", "explain": true, "query": "DROP TABLE flights"});
    let (status, answer) = server.post("/api/runs", &write.to_string());
    let (kind, _) = error(status, &answer, StatusCode::BAD_REQUEST);
    assert_eq!(kind, "not_read_only");
}

#[test]
fn a_pipeline_runs_its_steps_in_order_and_says_what_each_gave() {
    let server = Server::new();
    let (between, delayed) = (server.add("flights_between"), server.add("delayed"));
    let script = "function transform(rows) { return rows.filter(r => r.carrier === 'AA'); }";
    let body = json!({"source": "demo", "limit": 10000, "pipeline": [
        {"plugin": between, "params": {"origin": "JFK", "dest": "LAX"}},
        {"plugin": delayed, "params": {"min_delay": 120}},
        {"script": script},
    ]});
    let (status, answer) = server.post("/api/runs", &body.to_string());
    assert_eq!(status, StatusCode::OK, "{answer}");
    let count = |filter: &str| -> u64 {
        let rows: Vec<Vec<i64>> = sql(&format!(
            "SELECT count(*) FROM flights WHERE origin = 'JFK' AND dest = 'LAX' {filter}"
        ));
        rows[0][0] as u64
    };
    let late_aa = count("AND dep_delay >= 120 AND carrier = 'AA'");
    assert_eq!(answer["rows"].as_array().unwrap().len() as u64, late_aa);
    assert_eq!(
        answer["steps"],
        json!([
            {"name": "flights-between", "rows_out": count("")},
            {"name": "delayed", "rows_out": count("AND dep_delay >= 120")},
            {"name": "script", "rows_out": late_aa},
        ])
    );

    // The event stream shows each step's first rows.
    let (status, _, events_body) = server.post_raw("/api/runs?format=events", &body.to_string());
    assert_eq!(status, StatusCode::OK);
    let steps: Vec<Value> = events(&events_body)
        .into_iter()
        .filter(|e| e["event"] == json!("step"))
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(steps[1]["name"], json!("delayed"));
    assert!(steps[1]["rows"].as_array().unwrap().len() <= 20);
    assert!(
        steps[0]["columns"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );

    // The history keeps the whole pipeline.
    let (_, history) = server.get("/api/history?limit=1");
    let run = &history["runs"][0];
    assert_eq!(run["plugin"], json!(between));
    assert_eq!(
        run["then"][0],
        json!({"plugin": delayed, "params": {"min_delay": 120}})
    );

    // So does a shared link.
    let shared = json!({"source": "demo", "plugin": between,
                        "params": {"origin": "JFK", "dest": "LAX"}, "query": null,
                        "then": [{"plugin": delayed, "params": {"min_delay": 120}}]});
    let (status, link) = server.post("/api/snippets", &shared.to_string());
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let (_, got) = server.get(&format!("/api/snippets/{}", link["id"].as_str().unwrap()));
    assert_eq!(got["snippet"]["then"], shared["then"]);

    for (bad, kind) in [
        (
            json!({"source": "demo", "plugin": between, "pipeline": [{"plugin": delayed}]}),
            "bad_pipeline",
        ),
        (json!({"source": "demo", "pipeline": []}), "bad_pipeline"),
        (
            json!({"source": "demo", "pipeline": [{"plugin": between, "params": {"origin": "JFK", "dest": "LAX"}}, {}]}),
            "bad_pipeline",
        ),
        (
            json!({"source": "demo", "pipeline": [{"plugin": between, "params": {"origin": "JFK", "dest": "LAX"}}, {"plugin": between}]}),
            "bad_pipeline",
        ),
        (
            json!({"source": "demo", "pipeline": [{"plugin": between, "params": {"origin": "JFK", "dest": "LAX"}}, {"plugin": delayed, "params": [1]}]}),
            "bad_params",
        ),
    ] {
        let (status, answer) = server.post("/api/runs", &bad.to_string());
        let (got, message) = error(status, &answer, StatusCode::BAD_REQUEST);
        assert_eq!(got, kind, "{bad}: {message}");
    }
}

#[test]
fn a_plugin_uploads_once_lists_and_downloads_the_same_bytes() {
    let server = Server::new();
    let wasm = std::fs::read(plugin_path("units")).unwrap();
    let (status, first) = server.upload(wasm.clone());
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let sha = first["plugin"]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha, quarry_runtime::sha256_hex(&wasm));
    assert_eq!(first["plugin"]["name"], json!("units"));
    assert_eq!(first["plugin"]["transforms"], json!(true));
    assert_eq!(first["plugin"]["size"], json!(wasm.len()));

    let (status, again) = server.upload(wasm.clone());
    assert_eq!(status, StatusCode::OK, "the same bytes give the same entry");
    assert_eq!(again["plugin"], first["plugin"]);

    let (_, list) = server.get("/api/plugins");
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);
    let (status, one) = server.get(&format!("/api/plugins/{sha}"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["plugin"], first["plugin"]);
    let (status, content_type, bytes) = server.call(
        Request::get(format!("/api/plugins/{sha}/wasm"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/wasm")
    );
    assert_eq!(bytes, wasm);
}

#[test]
fn a_plugin_uploads_as_a_multipart_form() {
    let server = Server::new();
    let wasm = std::fs::read(plugin_path("delayed")).unwrap();
    let mut body =
        b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"delayed.wasm\"\r\n\
Content-Type: application/wasm\r\n\r\n"
            .to_vec();
    body.extend_from_slice(&wasm);
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    let (status, _, response) = server.call(
        Request::post("/api/plugins")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
            .body(Body::from(body))
            .unwrap(),
    );
    let response: Value = serde_json::from_slice(&response).unwrap();
    assert_eq!(status, StatusCode::CREATED, "{response}");
    assert_eq!(response["plugin"]["name"], json!("delayed"));
}

#[test]
fn refused_uploads_say_why() {
    let server = Server::new();
    let kind = |wasm: Vec<u8>| {
        let (status, body) = server.upload(wasm);
        error(status, &body, StatusCode::BAD_REQUEST).0
    };
    assert_eq!(kind(b"hello, not wasm".to_vec()), "not_wasm");
    assert_eq!(kind(b"\0asm\x01\0\0\0".to_vec()), "not_component");
    assert_eq!(
        kind(std::fs::read(plugin_path("not-a-plugin")).unwrap()),
        "wrong_world"
    );
    assert_eq!(
        kind(std::fs::read(plugin_path("describe_loop")).unwrap()),
        "describe_failed"
    );
    assert_eq!(
        kind(std::fs::read(plugin_path("extra_import")).unwrap()),
        "unsupported_import"
    );
    let mut truncated = std::fs::read(plugin_path("identity")).unwrap();
    truncated.truncate(truncated.len() / 2);
    assert_eq!(kind(truncated), "invalid");
    assert_eq!(kind(Vec::new()), "empty");
    let (_, list) = server.get("/api/plugins");
    assert_eq!(list["plugins"], json!([]), "nothing refused was stored");
}

#[test]
fn an_upload_can_compile_off_the_request_path() {
    let server = Server::new();
    let upload_async = |name: &str| {
        let (status, _, body) = server.call(
            Request::post("/api/plugins")
                .header(header::CONTENT_TYPE, "application/wasm")
                .header("prefer", "respond-async")
                .body(Body::from(std::fs::read(plugin_path(name)).unwrap()))
                .unwrap(),
        );
        (status, serde_json::from_slice::<Value>(&body).unwrap())
    };
    let poll = |sha: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = server.get(&format!("/api/uploads/{sha}"));
            if body["status"] != json!("compiling") {
                return (status, body);
            }
            assert!(std::time::Instant::now() < deadline, "still compiling");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let (status, body) = upload_async("units");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], json!("compiling"));
    let sha = body["sha256"].as_str().unwrap().to_owned();
    assert_eq!(body["poll"], json!(format!("/api/uploads/{sha}")));
    let (status, done) = poll(&sha);
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["status"], json!("done"));
    assert_eq!(done["plugin"]["sha256"], json!(sha));
    assert_eq!(server.get(&format!("/api/plugins/{sha}")).0, StatusCode::OK);
    // Stored already: the answer is at once.
    let (status, again) = upload_async("units");
    assert_eq!((status, &again["status"]), (StatusCode::OK, &json!("done")));

    // A refusal found while compiling is what the poll answers.
    let (status, body) = upload_async("not-a-plugin");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, failed) = poll(body["sha256"].as_str().unwrap());
    assert_eq!(
        error(status, &failed, StatusCode::BAD_REQUEST).0,
        "wrong_world"
    );
    let (status, body) = server.get(&format!("/api/uploads/{}", "0".repeat(64)));
    assert_eq!(
        error(status, &body, StatusCode::NOT_FOUND).0,
        "unknown_upload"
    );
}

#[test]
fn uploads_over_the_limit_are_refused_before_they_are_read() {
    let server = Server::with(Settings {
        max_upload: 1000,
        ..Settings::default()
    });
    let (status, body) = server.upload(std::fs::read(plugin_path("identity")).unwrap());
    let (kind, message) = error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(kind, "too_large");
    assert!(message.contains("1000 B"), "{message}");
    // A declared length over the limit is refused without reading the body.
    let (status, _, body) = server.call(
        Request::post("/api/plugins")
            .header(header::CONTENT_TYPE, "application/wasm")
            .header(header::CONTENT_LENGTH, (1u64 << 30).to_string())
            .body(Body::from(vec![0u8; 10]))
            .unwrap(),
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn unknown_plugins_and_bad_ids_are_not_found() {
    let server = Server::new();
    for uri in [
        format!("/api/plugins/{}", "0".repeat(64)),
        format!("/api/plugins/{}/wasm", "0".repeat(64)),
        "/api/plugins/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/api/plugins/UPPERCASE".to_owned(),
        "/api/snippets/..%2Fplugins".to_owned(),
        "/api/snippets/0123456789abcdef".to_owned(),
        "/api/nothing-here".to_owned(),
    ] {
        let (status, body) = server.get(&uri);
        error(status, &body, StatusCode::NOT_FOUND);
    }
}

#[test]
fn a_query_runs_and_answers_typed_columns_and_rows() {
    let server = Server::new();
    let (status, body) = server.post(
        "/api/runs",
        r#"{"source": "demo", "query": "SELECT carrier, flight, dep_delay, time_hour FROM flights ORDER BY rowid LIMIT 3"}"#,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], json!(true));
    assert_eq!(
        body["columns"],
        json!([
            {"name": "carrier", "type": "text"}, {"name": "flight", "type": "int64"},
            {"name": "dep_delay", "type": "int64"}, {"name": "time_hour", "type": "timestamp"}
        ])
    );
    assert_eq!(
        body["rows"],
        json!([
            ["UA", 1545, 2, "2013-01-01T10:00:00Z"],
            ["UA", 1714, 4, "2013-01-01T10:00:00Z"],
            ["AA", 1141, 2, "2013-01-01T10:00:00Z"]
        ])
    );
    assert_eq!(body["truncated"], json!(false));
    assert_eq!(body["query"]["kind"], json!("sql"));
    assert_eq!(body["stats"]["rows_out"], json!(3));
}

#[test]
fn a_plugin_builds_the_query_and_a_limit_truncates() {
    let server = Server::new();
    let sha = server.add("flights_between");
    let request = json!({
        "source": "demo", "plugin": sha, "limit": 5,
        "params": {"origin": "EWR", "dest": "IAH", "from": "2013-03-01", "to": "2013-03-31"},
    });
    let (status, body) = server.post("/api/runs", &request.to_string());
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 5);
    assert_eq!(body["truncated"], json!(true));
    assert!(
        body["query"]["text"]
            .as_str()
            .unwrap()
            .contains("FROM flights WHERE origin = ?1")
    );
    assert_eq!(body["query"]["params"][0], json!("EWR"));
    let expected: Vec<Vec<i64>> = sql(
        "SELECT flight FROM flights WHERE origin = 'EWR' AND dest = 'IAH' AND time_hour >= '2013-03-01 05:00:00' \
         ORDER BY time_hour, carrier, flight LIMIT 5",
    );
    let flights: Vec<i64> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[10].as_i64().unwrap())
        .collect();
    assert_eq!(flights, expected.iter().map(|r| r[0]).collect::<Vec<_>>());
}

#[test]
fn integers_beyond_javascript_numbers_stay_exact() {
    let server = Server::new();
    let (_, body) = server.post(
        "/api/runs",
        r#"{"source": "demo", "query": "SELECT 9007199254740993 AS big, 42 AS small"}"#,
    );
    assert_eq!(body["rows"], json!([["9007199254740993", 42]]));
}

#[test]
fn bad_run_requests_get_the_right_status_and_kind() {
    let server = Server::new();
    let hostile = server.add("hostile");
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"query": "SELECT 1"}"#.into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"source": 7}"#.into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"source": "demo", "sorce": "x"}"#.into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"source": "nope", "query": "SELECT 1"}"#.into(), StatusCode::NOT_FOUND, "unknown_source"),
        (r#"{"source": "sqlite:/etc/passwd", "query": "SELECT 1"}"#.into(), StatusCode::NOT_FOUND, "unknown_source"),
        (json!({"source": "demo", "plugin": "0".repeat(64)}).to_string(), StatusCode::NOT_FOUND, "unknown_plugin"),
        (r#"{"source": "demo", "plugin": "../../x"}"#.into(), StatusCode::NOT_FOUND, "unknown_plugin"),
        (r#"{"source": "demo", "params": [1], "query": "SELECT 1"}"#.into(), StatusCode::BAD_REQUEST, "bad_params"),
        (r#"{"source": "demo"}"#.into(), StatusCode::BAD_REQUEST, "no_query"),
        (r#"{"source": "demo", "query": "SELEC 1"}"#.into(), StatusCode::BAD_REQUEST, "query_error"),
        (r#"{"source": "demo", "query": "DELETE FROM flights"}"#.into(), StatusCode::BAD_REQUEST, "not_read_only"),
        (
            r#"{"source": "slow", "query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"}"#.into(),
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
        ),
        (
            json!({"source": "demo", "plugin": hostile, "params": {"attack": "alloc"}, "query": "SELECT * FROM airlines"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin_limit",
        ),
        (
            json!({"source": "demo", "plugin": hostile, "params": {"attack": "nonsense"}, "query": "SELECT 1"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin_error",
        ),
    ];
    for (request, expected, expected_kind) in cases {
        let (status, body) = server.post("/api/runs", &request);
        let (kind, _) = error(status, &body, expected);
        assert_eq!(kind, expected_kind, "{request}: {body}");
    }
    let (status, body) = server.post("/api/runs?format=xml", r#"{"source": "demo"}"#);
    assert_eq!(
        error(status, &body, StatusCode::BAD_REQUEST).0,
        "bad_format"
    );
    // The server still answers.
    let (status, _) = server.get("/api/sources");
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn a_plugin_error_names_its_row_and_keeps_the_logs() {
    let server = Server::new();
    let hostile = server.add("hostile");
    let request = json!({"source": "demo", "plugin": hostile, "params": {"attack": "error_row"},
                         "query": "SELECT * FROM airlines"});
    let (status, body) = server.post("/api/runs", &request.to_string());
    error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["row"], json!(2), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad value")
    );
    assert!(
        body["stats"].is_object() && body["logs"].is_array(),
        "{body}"
    );
}

#[test]
fn rows_stream_as_ndjson_and_csv() {
    let server = Server::new();
    let query = r#"{"source": "demo", "query": "SELECT carrier, name FROM airlines ORDER BY carrier LIMIT 2"}"#;
    let (status, content_type, body) = server.post_raw("/api/runs?format=ndjson", query);
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/x-ndjson")
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "{\"carrier\":\"9E\",\"name\":\"Endeavor Air Inc.\"}\n{\"carrier\":\"AA\",\"name\":\"American Airlines Inc.\"}\n"
    );
    let (status, content_type, body) = server.post_raw("/api/runs?format=csv", query);
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/csv; charset=utf-8")
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "carrier,name\n9E,Endeavor Air Inc.\nAA,American Airlines Inc.\n"
    );
    // Every flight streams without a default limit.
    let (_, _, body) = server.post_raw(
        "/api/runs?format=csv",
        r#"{"source": "demo", "query": "SELECT flight FROM flights"}"#,
    );
    assert_eq!(body.iter().filter(|b| **b == b'\n').count(), 336_776 + 1);
    // An error before any output is a plain error answer.
    let (status, _, body) = server.post_raw(
        "/api/runs?format=csv",
        r#"{"source": "demo", "query": "SELEC"}"#,
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error(status, &body, StatusCode::BAD_REQUEST).0,
        "query_error"
    );
}

fn events(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_event_stream_carries_columns_rows_progress_preview_and_done() {
    let server = Server::new();
    let units = server.add("units");
    let request = json!({"source": "demo", "plugin": units, "preview": true, "limit": 1500,
                         "query": "SELECT carrier, distance, air_time FROM flights"});
    let (status, _, body) = server.post_raw("/api/runs?format=events", &request.to_string());
    assert_eq!(status, StatusCode::OK);
    let events = events(&body);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"done"));
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    let columns = &events[kinds.iter().position(|k| *k == "columns").unwrap()]["columns"];
    assert!(
        columns.as_array().unwrap().len() > 3,
        "units adds columns: {columns}"
    );
    let rows: usize = events
        .iter()
        .filter(|e| e["event"] == "rows")
        .map(|e| e["rows"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows, 1500);
    let preview = events.iter().find(|e| e["event"] == "preview").unwrap();
    assert_eq!(
        preview["columns"].as_array().unwrap().len(),
        3,
        "the raw rows"
    );
    assert_eq!(
        preview["rows"].as_array().unwrap().len(),
        1024,
        "the first batch"
    );
    let done = events.last().unwrap();
    assert_eq!(
        (done["ok"].clone(), done["truncated"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(done["stats"]["rows_out"], json!(1500));
}

#[test]
fn a_cancelled_run_stops_the_plugin_and_says_so() {
    let server = Server::new();
    let hostile = server.add("hostile");
    let request = json!({"source": "demo", "plugin": hostile,
                         "params": {"attack": "slow", "ms": 60_000},
                         "query": "SELECT * FROM flights"});
    let router = server.router();
    let started = std::time::Instant::now();
    let events = tokio().block_on(async {
        let response = router
            .clone()
            .oneshot(
                Request::post("/api/runs?format=events")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(request.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let started: Value = serde_json::from_slice(&first).unwrap();
        let id = started["run"].as_str().unwrap().to_owned();
        let cancel = router
            .clone()
            .oneshot(
                Request::post(format!("/api/runs/{id}/cancel"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(cancel.status(), StatusCode::NO_CONTENT);
        let rest = body.collect().await.unwrap().to_bytes();
        events(&rest)
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the plugin stopped early"
    );
    let done = events.last().unwrap();
    assert_eq!(done["ok"], json!(false));
    assert_eq!(done["error"]["kind"], json!("cancelled"), "{done}");
    let (status, body) = server.post("/api/runs/0123456789abcdef/cancel", "");
    error(status, &body, StatusCode::NOT_FOUND);
}

#[test]
fn snippets_saved_with_a_name_are_listed_and_renamed() {
    let server = Server::new();
    let names = |server: &Server| -> Vec<(String, String)> {
        let (status, body) = server.get("/api/snippets");
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut names: Vec<(String, String)> = body["snippets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["url"], json!(format!("/s/{}", s["id"].as_str().unwrap())));
                assert!(s["saved_at"].as_str().unwrap().ends_with('Z'), "{s}");
                (
                    s["snippet"]["name"].as_str().unwrap().to_owned(),
                    s["snippet"]["query"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        names.sort();
        names
    };
    // A share link without a name is not a saved query.
    let one = json!({"source": "demo", "query": "SELECT 1"});
    let (status, link) = server.post("/api/snippets", &one.to_string());
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(names(&server).is_empty());

    // Named, the same run keeps its id and is listed; another is added.
    let named = json!({"name": "  The first one ", "source": "demo", "query": "SELECT 1"});
    let (status, body) = server.post("/api/snippets", &named.to_string());
    assert_eq!(
        (status, &body["id"]),
        (StatusCode::OK, &link["id"]),
        "{body}"
    );
    let two = json!({"name": "Two", "source": "demo", "query": "SELECT 2"});
    let (status, _) = server.post("/api/snippets", &two.to_string());
    assert_eq!(status, StatusCode::CREATED);
    let listed = [
        ("The first one".to_owned(), "SELECT 1".to_owned()),
        ("Two".to_owned(), "SELECT 2".to_owned()),
    ];
    assert_eq!(names(&server), listed);

    // Shared again without a name, it keeps the one it has; another name renames it.
    let (status, _) = server.post("/api/snippets", &one.to_string());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&server), listed);
    let renamed = json!({"name": "Renamed", "source": "demo", "query": "SELECT 1"});
    server.post("/api/snippets", &renamed.to_string());
    let id = link["id"].as_str().unwrap();
    let (_, body) = server.get(&format!("/api/snippets/{id}"));
    assert_eq!(body["snippet"]["name"], json!("Renamed"));
    assert_eq!(names(&server).len(), 2);

    for bad in [json!(""), json!("   "), json!("x".repeat(201))] {
        let body = json!({"name": bad, "source": "demo", "query": "SELECT 3"});
        let (status, body) = server.post("/api/snippets", &body.to_string());
        let (kind, message) = error(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(kind, "bad_name", "{message}");
    }
}

#[test]
fn snippets_are_stored_by_content_and_survive_a_restart() {
    let store = tempfile::tempdir().unwrap();
    let first = Server {
        app: web_app(store.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let sha = first.add("flights_between");
    let snippet = json!({"plugin": sha, "source": "demo",
                         "params": {"origin": "JFK", "dest": "LAX"}, "query": null});
    let (status, body) = first.post("/api/snippets", &snippet.to_string());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["url"], json!(format!("/s/{id}")));
    // Same content, keys in another order: same link.
    let reordered = format!(
        r#"{{"source": "demo", "query": null, "params": {{"dest": "LAX", "origin": "JFK"}}, "plugin": "{sha}"}}"#
    );
    let (status, again) = first.post("/api/snippets", &reordered);
    assert_eq!((status, again["id"].clone()), (StatusCode::OK, json!(id)));

    let restarted = Server {
        app: web_app(store.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let (status, body) = restarted.get(&format!("/api/snippets/{id}"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["snippet"], snippet);
    let (_, plugins) = restarted.get("/api/plugins");
    assert_eq!(plugins["plugins"][0]["sha256"], json!(sha));
    let (status, _, page) = restarted.call(
        Request::get(format!("/s/{id}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains(&id));

    for (bad, expected, kind) in [
        (
            json!({"plugin": "0".repeat(64), "source": "demo"}),
            StatusCode::NOT_FOUND,
            "unknown_plugin",
        ),
        (
            json!({"plugin": null, "source": "elsewhere", "query": "SELECT 1"}),
            StatusCode::NOT_FOUND,
            "unknown_source",
        ),
        (
            json!({"source": "demo", "params": 3}),
            StatusCode::BAD_REQUEST,
            "bad_params",
        ),
        (
            json!({"source": "demo", "extra": 1}),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ] {
        let (status, body) = restarted.post("/api/snippets", &bad.to_string());
        assert_eq!(error(status, &body, expected).0, kind, "{bad}");
    }
}

#[test]
fn a_script_runs_inline_is_stored_by_hash_and_shared() {
    let server = Server::new();
    let text = "// Distance in km.\nfunction transform(rows) {\n  for (const r of rows) r.km = r.distance * 1.609344;\n}\n";
    let run = json!({"source": "demo", "script": text,
                     "query": "SELECT flight, distance FROM flights LIMIT 3"});
    let (status, inline) = server.post("/api/runs", &run.to_string());
    assert_eq!(status, StatusCode::OK, "{inline}");
    assert_eq!(inline["rows"][0][2], json!(1400.0 * 1.609344));
    assert_eq!(
        server.get("/api/plugins").1["plugins"],
        json!([]),
        "an inline run stores nothing"
    );

    let (status, stored) = server.post(
        "/api/scripts",
        &json!({"script": text, "name": "km"}).to_string(),
    );
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let meta = &stored["plugin"];
    let sha = meta["sha256"].as_str().unwrap().to_owned();
    assert_eq!(meta["kind"], json!("script"));
    assert_eq!(meta["name"], json!("km"));
    assert_eq!(meta["description"], json!("Distance in km."));
    let runner = meta["runner"].as_str().unwrap();
    assert_eq!(sha, quarry_runtime::script::sha256(text, runner));
    let (status, again) = server.post("/api/scripts", &json!({"script": text}).to_string());
    assert_eq!(
        (status, &again["plugin"]["sha256"]),
        (StatusCode::OK, &json!(sha))
    );

    let (status, content_type, body) = server.call(
        Request::get(format!("/api/plugins/{sha}/script"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/javascript; charset=utf-8")
    );
    assert_eq!(String::from_utf8(body).unwrap(), text);
    let (status, body) = server.get(&format!("/api/plugins/{sha}/wasm"));
    assert_eq!(error(status, &body, StatusCode::NOT_FOUND).0, "not_wasm");
    let (_, listed) = server.get("/api/plugins");
    assert_eq!(
        listed["plugins"].as_array().unwrap().len(),
        1,
        "the runner is not listed: {listed}"
    );
    let (status, _, page) = server.call(
        Request::get(format!("/plugins/{sha}"))
            .body(Body::empty())
            .unwrap(),
    );
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("r.km = r.distance * 1.609344") && page.contains("Download .js"),
        "{page}"
    );

    // Run by hash, shared as a snippet, and still there after a restart.
    let run = json!({"source": "demo", "plugin": sha, "query": "SELECT flight, distance FROM flights LIMIT 3"});
    let (status, by_hash) = server.post("/api/runs", &run.to_string());
    assert_eq!(
        (status, &by_hash["rows"]),
        (StatusCode::OK, &inline["rows"])
    );
    let snippet = json!({"plugin": sha, "source": "demo", "params": {}, "query": "SELECT flight, distance FROM flights LIMIT 3"});
    let (status, shared) = server.post("/api/snippets", &snippet.to_string());
    assert_eq!(status, StatusCode::CREATED, "{shared}");
    let restarted = Server {
        app: web_app(server._store.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let (status, rerun) = restarted.post("/api/runs", &run.to_string());
    assert_eq!((status, &rerun["rows"]), (StatusCode::OK, &inline["rows"]));
}

#[test]
fn broken_scripts_are_refused_with_their_line_and_column() {
    let server = Server::new();
    let (status, body) = server.post(
        "/api/scripts",
        &json!({"script": "function transform(rows) {\n  return rows.map(r => r.x +);\n}"})
            .to_string(),
    );
    let (kind, message) = error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(kind, "script_error");
    assert!(
        message.contains("SyntaxError") && message.contains("script.js:2:"),
        "{message}"
    );
    assert_eq!(
        server.get("/api/plugins").1["plugins"],
        json!([]),
        "nothing was stored"
    );

    let run = json!({"source": "demo", "query": "SELECT carrier FROM airlines",
                     "script": "function transform(rows) {\n\n  return rows[99].carrier;\n}"});
    let (status, body) = server.post("/api/runs", &run.to_string());
    let (kind, message) = error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(kind, "plugin_error");
    assert!(
        message.contains("TypeError") && message.contains("script.js:3:"),
        "{message}"
    );

    for (bad, expected, kind) in [
        (json!({"script": "  "}), StatusCode::BAD_REQUEST, "empty"),
        (
            json!({"script": "x".repeat(300 << 10)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            json!({"text": "function transform(r) {}"}),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ] {
        let (status, body) = server.post("/api/scripts", &bad.to_string());
        assert_eq!(error(status, &body, expected).0, kind);
    }
    let both =
        json!({"source": "demo", "plugin": "0".repeat(64), "script": "function transform(r) {}"});
    let (status, body) = server.post("/api/runs", &both.to_string());
    assert_eq!(
        error(status, &body, StatusCode::BAD_REQUEST).0,
        "bad_request"
    );
}

#[test]
fn plugins_and_snippets_kept_as_files_are_imported_and_nothing_is_lost() {
    // The layout of an earlier Quarry: plugins/<sha>.{wasm,json}, snippets/<id>.json.
    let data = tempfile::tempdir().unwrap();
    let (plugins, snippets) = (data.path().join("plugins"), data.path().join("snippets"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&snippets).unwrap();
    let wasm = std::fs::read(plugin_path("identity")).unwrap();
    let sha = quarry_runtime::sha256_hex(&wasm);
    let meta = |sha: &str| {
        json!({"sha256": sha, "kind": "component", "name": "identity", "version": "0.1.0",
               "description": "", "params_schema": null, "builds_query": false,
               "transforms": true, "size": 3, "uploaded_at": "2026-11-01T10:00:00Z",
               "imports": []})
        .to_string()
    };
    std::fs::write(plugins.join(format!("{sha}.wasm")), &wasm).unwrap();
    std::fs::write(plugins.join(format!("{sha}.json")), meta(&sha)).unwrap();
    // One whose bytes were changed on disk: not imported, but kept.
    let bad = "b".repeat(64);
    std::fs::write(plugins.join(format!("{bad}.wasm")), &wasm).unwrap();
    std::fs::write(plugins.join(format!("{bad}.json")), meta(&bad)).unwrap();
    let snippet =
        json!({"plugin": sha, "source": "demo", "params": {}, "query": "SELECT 1 AS one"});
    std::fs::write(snippets.join("0123456789abcdef.json"), snippet.to_string()).unwrap();

    let server = Server {
        app: web_app(data.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let (_, listed) = server.get("/api/plugins");
    let listed: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [sha.as_str()]);
    let (status, body) = server.post(
        "/api/runs",
        &json!({"source": "demo", "plugin": sha, "query": "SELECT 1 AS one"}).to_string(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    // The snippet keeps its link (ids are made from the content, as before): saving it
    // again finds it there.
    let (status, link) = server.post("/api/snippets", &snippet.to_string());
    assert_eq!(status, StatusCode::OK, "{link}");
    let id = link["id"].as_str().unwrap();
    let (status, body) = server.get(&format!("/api/snippets/{id}"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["snippet"], snippet);
    // The files moved aside, the refused one among them; opening again imports nothing.
    assert!(!plugins.exists() && !snippets.exists());
    let aside = data.path().join("imported-files");
    assert!(aside.join("plugins").join(format!("{bad}.json")).is_file());
    assert!(aside.join("plugins").join(format!("{sha}.wasm")).is_file());
    let again = Server {
        app: web_app(data.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    assert_eq!(
        again.get("/api/plugins").1["plugins"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_plugin_changed_in_the_store_is_refused_not_run() {
    let store = tempfile::tempdir().unwrap();
    let server = Server {
        app: web_app(store.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let sha = server.add("identity");
    // A fresh server (nothing loaded in memory) over the tampered bytes.
    let db = rusqlite::Connection::open(store.path().join("quarry.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE plugins SET content = CAST(content || x'00' AS BLOB) WHERE sha256 = ?1",
            [&sha],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let fresh = Server {
        app: web_app(store.path(), Settings::default()),
        _store: tempfile::tempdir().unwrap(),
    };
    let request = json!({"source": "demo", "plugin": sha, "query": "SELECT 1"});
    let (status, body) = fresh.post("/api/runs", &request.to_string());
    let (kind, message) = error(status, &body, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(kind, "corrupt_plugin");
    assert!(message.contains("does not match its SHA-256"), "{message}");
}

#[test]
fn pages_and_assets_are_served() {
    let server = Server::new();
    let sha = server.add("flights_between");
    for (uri, expected, content_type) in [
        ("/".to_owned(), StatusCode::OK, "text/html; charset=utf-8"),
        (
            format!("/?plugin={sha}"),
            StatusCode::OK,
            "text/html; charset=utf-8",
        ),
        (
            "/plugins".to_owned(),
            StatusCode::OK,
            "text/html; charset=utf-8",
        ),
        (
            format!("/plugins/{sha}"),
            StatusCode::OK,
            "text/html; charset=utf-8",
        ),
        (
            format!("/plugins/{}", "0".repeat(64)),
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
        ),
        (
            "/s/0123456789abcdef".to_owned(),
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
        ),
        (
            "/static/style.css".to_owned(),
            StatusCode::OK,
            "text/css; charset=utf-8",
        ),
        (
            "/static/playground.js".to_owned(),
            StatusCode::OK,
            "text/javascript; charset=utf-8",
        ),
        (
            "/static/plugins.js".to_owned(),
            StatusCode::OK,
            "text/javascript; charset=utf-8",
        ),
        (
            "/api/openapi.json".to_owned(),
            StatusCode::OK,
            "application/json",
        ),
    ] {
        let (status, got_type, _) = server.call(Request::get(&uri).body(Body::empty()).unwrap());
        assert_eq!(
            (status, got_type.as_str()),
            (expected, content_type),
            "{uri}"
        );
    }
    let (_, _, page) = server.call(Request::get("/").body(Body::empty()).unwrap());
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("id=\"initial-state\""));
    assert!(page.contains(&sha), "the library is in the page");
}

#[test]
fn the_openapi_document_lists_every_endpoint() {
    let server = Server::new();
    let (_, doc) = server.get("/api/openapi.json");
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/sources", &["get"][..]),
        ("/api/sources/{name}/schema", &["get"]),
        ("/api/plugins", &["get", "post"]),
        ("/api/plugins/{sha256}", &["get"]),
        ("/api/plugins/{sha256}/wasm", &["get"]),
        ("/api/plugins/{sha256}/script", &["get"]),
        ("/api/scripts", &["post"]),
        ("/api/uploads/{sha256}", &["get"]),
        ("/api/runs", &["post"]),
        ("/api/runs/{id}/cancel", &["post"]),
        ("/api/snippets", &["get", "post"]),
        ("/api/snippets/{id}", &["get"]),
        ("/api/openapi.json", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} is not documented"
            );
        }
    }
    // And nothing documented is missing from the router.
    for path in paths.keys() {
        let concrete = path
            .replace("{sha256}", &"0".repeat(64))
            .replace("{id}", "0123456789abcdef")
            .replace("{name}", "demo");
        for method in paths[path].as_object().unwrap().keys() {
            let (status, _, body) = server.call(
                Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&concrete)
                    .body(Body::empty())
                    .unwrap(),
            );
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && body["error"]["kind"] != json!("not_found"),
                "{method} {path}: {status} {body}"
            );
        }
    }
}

#[test]
fn runs_beyond_the_slots_and_the_queue_are_turned_away_busy() {
    let server = Server::with(Settings {
        max_runs: 1,
        max_queue: 1,
        ..Settings::default()
    });
    let hostile = server.add("hostile");
    let router = server.router();
    let post = |uri: &str, body: Value| {
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let quick = json!({"source": "demo", "query": "SELECT count(*) FROM airlines"});
    tokio().block_on(async {
        // The slot: a run whose plugin busy-waits 2 s on its one batch.
        let slow = json!({"source": "demo", "plugin": hostile, "query": "SELECT * FROM airlines",
                          "params": {"attack": "slow", "ms": 2000}});
        let holding = router
            .clone()
            .oneshot(post("/api/runs?format=events", slow))
            .await
            .unwrap();
        // The queue: a run that waits for the slot.
        let queued = tokio::spawn(router.clone().oneshot(post("/api/runs", quick.clone())));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Beyond both: turned away at once.
        let started = std::time::Instant::now();
        let turned_away = router
            .clone()
            .oneshot(post("/api/runs", quick.clone()))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(turned_away.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value =
            serde_json::from_slice(&turned_away.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        assert_eq!(body["error"]["kind"], json!("busy"), "{body}");
        // The slow run ends, and the queued one gets its turn.
        let events = events(&holding.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(events.last().unwrap()["ok"], json!(true));
        let queued = queued.await.unwrap().unwrap();
        assert_eq!(queued.status(), StatusCode::OK);
    });
}
