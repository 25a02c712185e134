//! `quarry serve`: the playground page, the plugin library, shared snippets, and the JSON
//! API behind them (axum; askama templates from `web/templates`; assets from `web/static`,
//! embedded in the binary so it runs from any directory).
//!
//! Every page action has an API call; the pages' JavaScript uses the same API. Errors are
//! always the envelope `{"ok": false, "error": {"kind", "message"}}` with a fitting status.
//!
//! # Layout
//!
//! - this file: [`App`] (what the handlers share), [`router`], [`serve`], the error
//!   envelope, and the layers every request passes (request ids, logs, panics).
//! - `api`: the JSON API's handlers and the OpenAPI document built from them;
//!   [`bodies`]: their request and answer types.
//! - `pages`: the HTML pages and the embedded static assets.
//! - [`auth`]: who is calling (token, session cookie, or the local admin) and what their
//!   role allows; [`users`]: the identities, tokens and sessions in the store.
//! - `db`: the store (SQLite, PostgreSQL or CockroachDB) and its migrations; [`history`]:
//!   who ran what (`/api/history`); `hosts`: the runs in progress and upload states that
//!   the hosts on one store share.
//! - [`browser`]: the host and origin checks and the security headers that keep pages
//!   of other sites from driving the server.
//! - `metrics`: `/metrics`, `/healthz`, `/readyz` ([`admin_router`]) and the counters.
//! - `quota`: runs at once and runs a minute per caller (`429` beyond them).
//! - `stream`: a run's rows as JSON, NDJSON events or a file, as they come.
//! - [`store`]: the plugin library and shared snippets.

#![warn(missing_docs)]

mod api;
pub mod auth;
pub mod bodies;
pub mod browser;
mod db;
pub mod history;
mod hosts;
mod metrics;
mod pages;
mod quota;
pub mod store;
mod stream;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::store::{PluginKind, Store, StoreError};
use quarry_runtime::{Limits, LoadStats, LoadedPlugin, PluginError, Runtime};
use quarry_sources::Sources;

pub use db::{Db, DbError, StoreUrl, StoreUrlError, store_file};
pub use metrics::admin_router;
pub use quota::default_memory_budget;

/// Settings of a server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest plugin upload, in bytes.
    pub max_upload: u64,
    /// Per-run plugin limits.
    pub limits: Limits,
    /// Rows returned by a JSON run when the request gives no `limit`.
    pub default_rows: u64,
    /// Runs (and plugin compilations) in progress at once.
    pub max_runs: usize,
    /// The most streams one run may read at once (`parallel`), and its default.
    pub max_parallel: usize,
    /// Runs waiting for a slot; beyond this a run is turned away as `busy`.
    pub max_queue: usize,
    /// The host names and origins the server answers to.
    pub allowed: browser::Allowed,
    /// How long a client may take to send a request's headers, and may pause while
    /// sending its body, before the connection is closed.
    pub read_timeout: std::time::Duration,
    /// `/metrics`, `/healthz` and `/readyz` are served apart ([`admin_router`], on
    /// `--admin-bind`), not by [`router`].
    pub admin_apart: bool,
    /// Whether callers need a token.
    pub auth: auth::AuthMode,
    /// The store (`--store`); `<data_dir>/quarry.db` when `None`.
    pub store: Option<StoreUrl>,
    /// Runs one caller (a user, or a client address without tokens) may have at once.
    pub max_runs_per_caller: usize,
    /// Runs one caller may start in a minute.
    pub max_runs_per_minute: u32,
    /// The most bytes of rows one JSON answer holds; beyond it the answer is truncated
    /// and its `next` page goes on.
    pub max_answer_bytes: u64,
    /// The most bytes all JSON answers being gathered may hold together; beyond it a run
    /// is answered `503 busy`.
    pub memory_budget: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_upload: 16 << 20,
            limits: Limits::default(),
            default_rows: 1000,
            max_runs: default_max_runs(),
            max_parallel: quarry_engine::run::default_parallel(),
            max_queue: 64,
            allowed: browser::Allowed::default(),
            read_timeout: std::time::Duration::from_secs(15),
            admin_apart: false,
            auth: auth::AuthMode::None,
            store: None,
            max_runs_per_caller: 8,
            max_runs_per_minute: 600,
            max_answer_bytes: 32 << 20,
            memory_budget: quota::default_memory_budget(),
        }
    }
}

/// Two runs per core: a run waits on its database about as often as it computes.
pub fn default_max_runs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// Caps the work in progress. A run takes a slot, or waits for one in a bounded queue;
/// when the queue is full the request is answered `503 busy` at once, so a burst never
/// piles up unbounded work behind the ones already running.
pub struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_runs: usize,
    max_queue: usize,
}

impl Gate {
    fn new(max_runs: usize, max_queue: usize) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max_runs.max(1))),
            waiting: AtomicUsize::new(0),
            max_runs: max_runs.max(1),
            max_queue,
        }
    }

    /// A slot, held until the permit is dropped.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "the server is busy: {} runs in progress and {} waiting; try again shortly",
                    self.max_runs, self.max_queue
                ),
            ));
        }
        // Leaves the queue however the wait ends, also when the client goes away.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _waiting = Waiting(&self.waiting);
        Ok(self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed"))
    }
}

/// Everything the handlers share.
pub struct App {
    /// The plugin runtime every run uses.
    pub runtime: Arc<Runtime>,
    /// The sources runs can read.
    pub sources: Sources,
    /// The plugin library and shared snippets.
    pub store: Store,
    /// The server's settings.
    pub settings: Settings,
    /// The runs in progress and the upload states, shared with the other hosts.
    hosts: Arc<hosts::Hosts>,
    /// Who may use the server.
    pub users: users::Users,
    /// Who ran what.
    pub history: history::History,
    /// Slots for runs and compilations.
    gate: Gate,
    /// The script runner new scripts run on, once installed.
    runner: OnceLock<Arc<LoadedPlugin>>,
    /// What `/metrics` reports.
    metrics: metrics::Metrics,
    /// Each caller's share of the runs.
    quota: quota::Quota,
    /// The memory JSON answers may hold.
    budget: Arc<quota::Budget>,
}

/// Why the script runner could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The runtime refused the component.
    #[error(transparent)]
    Refused(#[from] PluginError),
    /// The store could not keep it.
    #[error("the store cannot keep it: {0}")]
    Store(#[from] StoreError),
}

/// Why the server's state could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store cannot be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The data directory's files could not be imported.
    #[error(transparent)]
    Import(#[from] StoreError),
}

impl App {
    /// The shared state of a server; opens (creating when needed) the store: `--store`,
    /// or `<data_dir>/quarry.db`. Must be called within a Tokio runtime, which then
    /// also watches for cancels sent to other hosts.
    pub async fn new(
        runtime: Arc<Runtime>,
        sources: Sources,
        data_dir: &Path,
        settings: Settings,
    ) -> Result<App, OpenError> {
        let url = match &settings.store {
            Some(url) => url.clone(),
            None => StoreUrl::Sqlite(data_dir.join("quarry.db")),
        };
        let db = Arc::new(Db::open(&url).await?);
        let hosts = Arc::new(hosts::Hosts::new(db.clone()));
        hosts::Hosts::watch(Arc::downgrade(&hosts));
        Ok(App {
            runtime,
            sources,
            store: Store::open(db.clone(), data_dir).await?,
            users: users::Users::new(db.clone()),
            history: history::History::new(db),
            hosts,
            gate: Gate::new(settings.max_runs, settings.max_queue),
            quota: quota::Quota::new(settings.max_runs_per_caller, settings.max_runs_per_minute),
            budget: quota::Budget::new(settings.memory_budget),
            settings,
            runner: OnceLock::new(),
            metrics: metrics::Metrics::default(),
        })
    }

    /// Makes `wasm` the script runner that new scripts run on, and stores it, so that the
    /// scripts stored for it keep running when a later server has a newer runner.
    pub async fn install_runner(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, RunnerError> {
        let (runner, _) = self.runtime.load(wasm)?;
        self.store.put_runner(wasm, &runner).await?;
        Ok(self.runner.get_or_init(|| runner).clone())
    }

    /// Whether a script runner is installed, so scripts can run.
    pub fn has_script_runner(&self) -> bool {
        self.runner.get().is_some()
    }

    /// The script runner, or the error that says how to get one.
    fn runner(&self) -> Result<Arc<LoadedPlugin>, ApiError> {
        self.runner.get().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_script_runner",
                quarry_runtime::script::NO_RUNNER,
            )
        })
    }

    /// A library plugin or script, loaded (compiled, or from the runtime's caches) on first
    /// use, with what loading it took. A script loads the runner it was stored for.
    async fn plugin(&self, sha256: &str) -> Result<(Arc<LoadedPlugin>, LoadStats), ApiError> {
        // A deleted plugin may still be loaded in memory: the store decides.
        let meta = self
            .store
            .plugin(sha256)
            .await?
            .ok_or_else(|| StoreError::UnknownPlugin(sha256.to_owned()))?;
        // A script runs on the runner it was stored for: that component is what loads.
        let (component, script) = match meta.kind {
            PluginKind::Script => {
                let (text, runner) = self.store.script(sha256).await?;
                (runner, Some(text))
            }
            _ => (sha256.to_owned(), None),
        };
        let (plugin, stats) = match self.runtime.loaded(&component) {
            Some(plugin) => (plugin, LoadStats::IN_MEMORY),
            None => {
                let wasm = self.store.plugin_wasm(&component).await?;
                // Compiling takes a while: off the async workers.
                let runtime = self.runtime.clone();
                api::blocking(move || runtime.load(&wasm))
                    .await?
                    .map_err(|e| {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "plugin_error",
                            e.to_string(),
                        )
                    })?
            }
        };
        match script {
            Some(text) => Ok((Arc::new(plugin.with_script(&text, &meta.name)), stats)),
            None => Ok((plugin, stats)),
        }
    }

    /// Adds a `.wasm` file, or every `.wasm` file in a directory, to the library; returns
    /// how many it added and the files it refused, with why.
    pub async fn preload(
        &self,
        path: &Path,
        compiling: impl Fn(&Path, usize),
    ) -> std::io::Result<(usize, Vec<(PathBuf, String)>)> {
        let mut added = 0;
        let mut refused = Vec::new();
        let mut files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect()
        } else {
            vec![path.to_path_buf()]
        };
        files.sort();
        for path in files {
            let loaded = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|wasm| {
                    let (plugin, _) = self
                        .runtime
                        .load_with(&wasm, || compiling(&path, wasm.len()))
                        .map_err(|e| e.to_string())?;
                    Ok((wasm, plugin))
                });
            let result = match loaded {
                Ok((wasm, plugin)) => self
                    .store
                    .put_plugin(&wasm, &plugin)
                    .await
                    .map_err(|e| e.to_string()),
                Err(why) => Err(why),
            };
            match result {
                Ok((_, true)) => added += 1,
                Ok((_, false)) => {}
                Err(why) => refused.push((path, why)),
            }
        }
        Ok((added, refused))
    }
}

/// The whole application: pages, assets and the JSON API.
pub fn router(app: Arc<App>) -> Router {
    let upload = post(api::upload_plugin).layer(DefaultBodyLimit::disable());
    let cors = app.settings.allowed.cors();
    let read_timeout = app.settings.read_timeout;
    let admin = (!app.settings.admin_apart).then(metrics::admin_routes);
    let router = Router::new()
        .route("/", get(pages::playground))
        .route("/plugins", get(pages::plugins))
        .route("/plugins/{sha256}", get(pages::plugin))
        .route("/s/{id}", get(pages::snippet))
        .route("/signin", get(pages::sign_in_form).post(pages::sign_in))
        .route("/signout", post(pages::sign_out))
        .route("/static/{file}", get(pages::asset))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/sources", get(api::sources))
        .route("/api/sources/{name}/schema", get(api::source_schema))
        .route("/api/plugins", get(api::list_plugins).merge(upload))
        .route(
            "/api/plugins/{sha256}",
            get(api::get_plugin)
                .delete(api::delete_plugin)
                .patch(api::rename_plugin),
        )
        .route("/api/plugins/{sha256}/wasm", get(api::plugin_wasm))
        .route("/api/plugins/{sha256}/script", get(api::plugin_script))
        .route("/api/scripts", post(api::put_script))
        .route("/api/uploads/{sha256}", get(api::get_upload))
        .route("/api/runs", post(api::run))
        .route("/api/runs/page/{token}", get(api::run_page))
        .route("/api/history", get(api::history))
        .route("/api/runs/{id}/cancel", post(api::cancel_run))
        .route(
            "/api/snippets",
            get(api::list_snippets).post(api::put_snippet),
        )
        .route(
            "/api/snippets/{id}",
            get(api::get_snippet).delete(api::delete_snippet),
        )
        .route("/api/users", get(api::list_users).post(api::add_user))
        .route("/api/users/{name}", axum::routing::delete(api::remove_user))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(1 << 20))
        .layer(RequestBodyTimeoutLayer::new(read_timeout))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::identify,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            browser::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            metrics::count_errors,
        ));
    let router = match admin {
        Some(admin) => router.merge(admin),
        None => router,
    };
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(CatchPanicLayer::custom(panicked))
        // Outermost first: number the request, log it in its span, answer with its number.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::default()))
        .with_state(app)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response()
}

/// A bug that panics in a handler answers 500 with the envelope, never a dropped
/// connection; the panic's message goes to the log.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = message, "a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server hit a bug while answering; it is still running",
    )
    .into_response()
}

/// The header that carries a request's number, in the answer too.
const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// Numbers each request, for the `x-request-id` header and the log.
#[derive(Clone, Default)]
struct RequestIds(Arc<std::sync::atomic::AtomicU64>);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        axum::http::HeaderValue::from_str(&n.to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The span every request's log lines sit in: method, path and request id.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
        user = tracing::field::Empty
    )
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no API endpoint at {}", uri.path()),
        )
        .into_response()
    } else {
        pages::error_page(
            StatusCode::NOT_FOUND,
            format!("Nothing here: {}", uri.path()),
        )
    }
}

/// Serves `app` on `listener` until `shutdown` completes; runs in progress are let finish.
///
/// HTTP/1.1 through hyper, with a timer, so that a client that sends its headers slower
/// than the read timeout is cut off (axum's own `serve` has no such timeout): stalled
/// connections cannot pile up until the file descriptors run out.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let read_timeout = app.settings.read_timeout;
    serve_router(listener, router(app), read_timeout, shutdown).await
}

/// Serves `router` (the [`router`] or the [`admin_router`]) as [`serve`] does.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    read_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Handlers may ask for the client's address (`ConnectInfo`), e.g. for its quota.
        let service = router
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The address `quarry serve` binds by default.
pub fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// An API error: a status and the JSON envelope.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
    /// The row of the batch a plugin's error names.
    row: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, kind: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: kind.into(),
            message: message.into(),
            row: None,
        }
    }

    fn bad_request(kind: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, kind, message)
    }

    fn body(&self) -> serde_json::Value {
        let mut error = json!({"kind": self.kind, "message": self.message});
        if let Some(row) = self.row {
            error["row"] = json!(row);
        }
        error
    }

    /// From a plugin file refused at upload.
    fn upload(e: PluginError) -> Self {
        use quarry_runtime::Export;
        let kind = match &e {
            PluginError::NotWasm => "not_wasm",
            PluginError::NotComponent => "not_component",
            PluginError::WrongWorld(_) => "wrong_world",
            PluginError::UnsupportedImport(_) => "unsupported_import",
            PluginError::Invalid(_) => "invalid",
            PluginError::Busy(_) => {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string());
            }
            PluginError::Limit {
                export: Export::Describe,
                ..
            }
            | PluginError::Trap {
                export: Export::Describe,
                ..
            }
            | PluginError::Failed {
                export: Export::Describe,
                ..
            } => "describe_failed",
            _ => "invalid",
        };
        ApiError::bad_request(kind, e.to_string())
    }

    /// From a run that failed.
    fn run(e: &quarry_engine::run::RunError) -> Self {
        use quarry_engine::run::RunError;
        let (status, kind) = match e {
            RunError::Params(_) => (StatusCode::BAD_REQUEST, "bad_params"),
            RunError::NoQuery => (StatusCode::BAD_REQUEST, "no_query"),
            RunError::Pipeline(_) => (StatusCode::BAD_REQUEST, "bad_pipeline"),
            RunError::Source(s) => source_status(s),
            RunError::Plugin(p) => match p {
                PluginError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                PluginError::Cancelled { .. } => (StatusCode::CONFLICT, "cancelled"),
                PluginError::Limit { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_limit"),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_error"),
            },
            RunError::Output(_) => (StatusCode::INTERNAL_SERVER_ERROR, "output"),
        };
        let mut error = ApiError::new(status, kind, e.to_string());
        if let RunError::Plugin(PluginError::Failed { row, .. }) = e {
            error.row = *row;
        }
        error
    }
}

impl From<quarry_sources::SourceError> for ApiError {
    fn from(e: quarry_sources::SourceError) -> Self {
        let (status, kind) = source_status(&e);
        ApiError::new(status, kind, e.to_string())
    }
}

/// The status and error kind of a source's failure.
fn source_status(e: &quarry_sources::SourceError) -> (StatusCode, &'static str) {
    use quarry_sources::SourceError;
    match e {
        SourceError::Unknown { .. } => (StatusCode::NOT_FOUND, "unknown_source"),
        SourceError::WrongDialect { .. } => (StatusCode::BAD_REQUEST, "wrong_dialect"),
        SourceError::Query { .. } => (StatusCode::BAD_REQUEST, "query_error"),
        SourceError::NotReadOnly { .. } => (StatusCode::BAD_REQUEST, "not_read_only"),
        SourceError::Timeout { .. } | SourceError::ServerTimeout { .. } => {
            (StatusCode::GATEWAY_TIMEOUT, "timeout")
        }
        SourceError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "source_unavailable"),
        SourceError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownPlugin(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_plugin", e.to_string())
            }
            StoreError::Corrupt(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_plugin",
                e.to_string(),
            ),
            StoreError::Db(e) => e.into(),
            StoreError::Io(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{e}; try again shortly"),
            ),
            DbError::Failed { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A client's mistake is the client's to read; the server's own failures are the
        // operator's too.
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), kind = %self.kind, message = %self.message, "server error");
        }
        let body = json!({"ok": false, "error": self.body()});
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            axum::Extension(metrics::ErrorKind(self.kind)),
            body.to_string(),
        )
            .into_response()
    }
}
