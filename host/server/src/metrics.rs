//! What an operator watches: `/metrics` (Prometheus, through `prometheus-client`),
//! `/healthz` (the process answers) and `/readyz` (the store and every source answer).
//!
//! These three are open without a token; `quarry serve --admin-bind ADDR` serves them on
//! their own address instead of the public one (see [`admin_router`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::App;
use quarry_engine::run::{RunError, RunReport};
use quarry_runtime::{LoadStats, PluginError};

type Labels = Vec<(&'static str, String)>;

/// The server's counters, registered once and read at each scrape.
pub(crate) struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    run_seconds: Family<Labels, Histogram>,
    rows: Family<Labels, Counter>,
    limits_hit: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    plugin_loads: Family<Labels, Counter>,
    queued: Gauge,
    running: Gauge,
    answer_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        fn seconds() -> Histogram {
            // 1 ms to about 4.4 minutes.
            Histogram::new(exponential_buckets(0.001, 4.0, 10))
        }
        let mut registry = Registry::with_prefix("quarry");
        let metrics = Metrics {
            runs: Family::default(),
            run_seconds: Family::new_with_constructor(seconds),
            rows: Family::default(),
            limits_hit: Family::default(),
            errors: Family::default(),
            plugin_loads: Family::default(),
            queued: Gauge::default(),
            running: Gauge::default(),
            answer_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "runs",
            "Runs that ended, by source and outcome (ok, or the error's kind)",
            metrics.runs.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "How long runs took, by source",
            metrics.run_seconds.clone(),
        );
        registry.register(
            "rows",
            "Rows read from sources (in) and answered (out)",
            metrics.rows.clone(),
        );
        registry.register(
            "plugin_limits_hit",
            "Runs a plugin limit ended, by limit",
            metrics.limits_hit.clone(),
        );
        registry.register(
            "error_answers",
            "Error answers, by kind (busy, store, unknown_host, …)",
            metrics.errors.clone(),
        );
        registry.register(
            "plugin_loads",
            "Plugins readied for a run: in memory, from the compile cache, or compiled",
            metrics.plugin_loads.clone(),
        );
        registry.register(
            "runs_queued",
            "Runs waiting for a slot",
            metrics.queued.clone(),
        );
        registry.register(
            "runs_in_progress",
            "Runs and compilations holding a slot",
            metrics.running.clone(),
        );
        registry.register(
            "answer_bytes_held",
            "Bytes held by JSON answers being gathered (see --memory-budget)",
            metrics.answer_bytes.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts a finished run; returns its outcome (`ok` or the error's kind).
    pub(crate) fn run(&self, source: &str, report: &RunReport) -> String {
        let outcome = match &report.result {
            Ok(()) => "ok".to_owned(),
            Err(e) => crate::ApiError::run(e).kind,
        };
        let source = vec![("source", source.to_owned())];
        let mut labels = source.clone();
        labels.push(("outcome", outcome.clone()));
        self.runs.get_or_create(&labels).inc();
        self.run_seconds
            .get_or_create(&source)
            .observe(report.stats.total_ms / 1000.0);
        let stats = &report.stats;
        for (direction, rows) in [("in", stats.rows_in), ("out", stats.rows_out)] {
            self.rows
                .get_or_create(&vec![("direction", direction.to_owned())])
                .inc_by(rows);
        }
        if let Err(RunError::Plugin(PluginError::Limit { limit, .. })) = &report.result {
            self.limits_hit
                .get_or_create(&vec![("limit", limit.name().to_owned())])
                .inc();
        }
        outcome
    }

    /// Counts a plugin readied for a run.
    pub(crate) fn plugin_load(&self, stats: &LoadStats, in_memory: bool) {
        let from = match (in_memory, stats.from_cache) {
            (true, _) => "memory",
            (false, true) => "cache",
            (false, false) => "compiled",
        };
        self.plugin_loads
            .get_or_create(&vec![("from", from.to_owned())])
            .inc();
    }

    /// Counts an error answer of `kind`.
    pub(crate) fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }
}

/// The error kind an [`crate::ApiError`] leaves on its response, for the counters.
#[derive(Clone)]
pub(crate) struct ErrorKind(pub(crate) String);

/// Counts the error answers of every request, by the kind their envelope names.
pub(crate) async fn count_errors(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorKind(kind)) = response.extensions().get::<ErrorKind>() {
        app.metrics.error(kind);
    }
    response
}

/// `/metrics`, `/healthz` and `/readyz`, to serve on an address of their own.
pub fn admin_router(app: Arc<App>) -> Router {
    admin_routes().with_state(app)
}

/// The operator's routes, which [`crate::router`] also serves unless they are apart.
pub(crate) fn admin_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `GET /metrics`: the counters in the OpenMetrics text format Prometheus scrapes.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let gate = &app.gate;
    app.metrics
        .queued
        .set(gate.waiting.load(Ordering::Relaxed) as i64);
    app.metrics
        .running
        .set((gate.max_runs - gate.slots.available_permits()) as i64);
    app.metrics.answer_bytes.set(app.budget.held() as i64);
    let mut text = String::new();
    if let Err(e) = encode(&mut text, &app.metrics.registry) {
        tracing::error!(error = %e, "cannot encode the metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /healthz`: the process answers.
async fn healthz() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

/// How long `/readyz` waits for each source.
const READY_WAIT: Duration = Duration::from_secs(5);

/// `GET /readyz`: 200 when the store and every source answer, 503 naming those that do not.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let checks = app.sources.iter().map(|source| async move {
        let state = match tokio::time::timeout(READY_WAIT, source.check()).await {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", READY_WAIT.as_secs()),
        };
        (source.name().to_owned(), state)
    });
    let sources: serde_json::Map<String, serde_json::Value> =
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .map(|(name, state)| (name, json!(state)))
            .collect();
    let store = match app.store.check().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let ready = store == "ok" && sources.values().all(|s| s == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"ok": ready, "store": store, "sources": sources})),
    )
        .into_response()
}
