//! The operator's view: `/metrics` counts what the server did, `/healthz` says the process
//! answers, `/readyz` whether the store and every source do, and `--admin-bind` serves
//! the three apart from the public address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quarry_runtime::{Runtime, RuntimeConfig};
use quarry_server::Settings;
use quarry_sources::config::SourceSettings;
use quarry_sources::postgres::PostgresSource;
use quarry_sources::{Backend, Sources};
use serde_json::json;

use crate::common::*;
use crate::hostile::{body, call, raw, server};

fn get(address: SocketAddr, path: &str, host: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    raw(address, request.as_bytes())
}

/// The value of the sample `name{labels}` in a metrics text, if it is there.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(name_and_labels)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

#[test]
fn metrics_count_runs_rows_limits_loads_and_error_answers() {
    let store = tempfile::tempdir().unwrap();
    let app = web_app(store.path(), Settings::default());
    let add = |name: &str| store_plugin(&app, name);
    let (units, hostile) = (add("units"), add("hostile"));
    let address = serve_app(app);
    let run = |body: serde_json::Value| {
        call(
            address,
            "POST",
            "/api/runs",
            "application/json",
            body.to_string().as_bytes(),
        )
    };

    let (status, _) = run(json!({"source": "demo", "query": "SELECT carrier FROM airlines"}));
    assert_eq!(status, 200);
    let (status, _) = run(json!({"source": "demo", "query": "SELECT nothing FROM nowhere"}));
    assert_eq!(status, 400);
    for _ in 0..2 {
        let (status, text) = run(json!({"source": "demo", "plugin": units,
            "query": "SELECT * FROM flights LIMIT 10"}));
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = run(json!({"source": "demo", "plugin": hostile,
        "params": {"attack": "alloc"}, "query": "SELECT * FROM airlines"}));
    assert_eq!(status, 422, "{text}");
    assert_eq!(get(address, "/api/sources", "rebound.example").0, 421);

    let (status, metrics) = get(address, "/metrics", "127.0.0.1");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("content-type: application/openmetrics-text"),
        "{metrics}"
    );
    let expect = [
        (r#"quarry_runs_total{source="demo",outcome="ok"}"#, 3.0),
        (
            r#"quarry_runs_total{source="demo",outcome="query_error"}"#,
            1.0,
        ),
        (
            r#"quarry_runs_total{source="demo",outcome="plugin_limit"}"#,
            1.0,
        ),
        (r#"quarry_run_duration_seconds_count{source="demo"}"#, 5.0),
        (r#"quarry_rows_total{direction="out"}"#, 16.0 + 20.0),
        (r#"quarry_plugin_limits_hit_total{limit="memory"}"#, 1.0),
        (r#"quarry_plugin_loads_total{from="memory"}"#, 3.0),
        (r#"quarry_error_answers_total{kind="unknown_host"}"#, 1.0),
        ("quarry_runs_queued", 0.0),
        ("quarry_runs_in_progress", 0.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&metrics, name), Some(value), "{name} in:\n{metrics}");
    }
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
}

#[test]
fn ready_when_the_store_and_every_source_answer() {
    let (address, _store) = server(Settings::default());
    let (status, health) = get(address, "/healthz", "127.0.0.1");
    assert_eq!((status, body(&health)), (200, json!({"ok": true})));
    let (status, ready) = get(address, "/readyz", "127.0.0.1");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        body(&ready),
        json!({"ok": true, "store": "ok", "sources": {"demo": "ok", "slow": "ok"}})
    );

    // A source whose server is not there.
    let store = tempfile::tempdir().unwrap();
    let mut sources = Sources::with_demo(data_dir());
    let down = PostgresSource::new(
        "down",
        "postgresql://quarry@127.0.0.1:1/nothing?connect_timeout=2",
        Backend::Postgres,
        1,
    )
    .unwrap();
    sources.insert(Arc::new(down), SourceSettings::default());
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        ..Default::default()
    })
    .unwrap();
    let app = tokio()
        .block_on(quarry_server::App::new(
            Arc::new(runtime),
            sources,
            store.path(),
            Settings::default(),
        ))
        .unwrap();
    let address = serve_app(Arc::new(app));
    let (status, ready) = get(address, "/readyz", "127.0.0.1");
    assert_eq!(status, 503, "{ready}");
    let ready = body(&ready);
    assert_eq!(ready["ok"], json!(false));
    assert_eq!(ready["sources"]["demo"], json!("ok"));
    let down = ready["sources"]["down"].as_str().unwrap();
    assert!(down.contains("down") && down != "ok", "{down}");
    assert_eq!(get(address, "/healthz", "127.0.0.1").0, 200);
}

#[test]
fn admin_bind_serves_the_operator_routes_apart() {
    let serve = crate::logs::Serve::start(&["--admin-bind", "127.0.0.1:0"]);
    let admin = loop {
        let line = serve
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the admin address is printed");
        if let Some(address) = line.strip_prefix("metrics and health checks on http://") {
            break address.parse::<SocketAddr>().unwrap();
        }
    };
    let public: SocketAddr = serve.address.parse().unwrap();
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            get(admin, path, "127.0.0.1").0,
            200,
            "{path} on the admin address"
        );
        assert_eq!(
            get(public, path, "127.0.0.1").0,
            404,
            "{path} on the public address"
        );
    }
    assert_eq!(get(admin, "/api/sources", "127.0.0.1").0, 404);
    assert_eq!(get(public, "/api/sources", "127.0.0.1").0, 200);
}
