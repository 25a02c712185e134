//! `quarry serve`: the playground page, the plugin library, shared snippets, and the JSON
//! API behind them (axum; askama templates from `web/templates`; assets from `web/static`,
//! embedded in the binary so it runs from any directory).
//!
//! Every page action has an API call; the pages' JavaScript uses the same API. Errors are
//! always the envelope `{"ok": false, "error": {"kind", "message"}}` with a fitting status.

mod api;
mod pages;
pub mod store;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::{PluginKind, Store, StoreError};
use quarry_runtime::{Limits, LoadedPlugin, PluginError, Runtime};
use quarry_sources::Sources;

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
    /// Runs waiting for a slot; beyond this a run is turned away as `busy`.
    pub max_queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_upload: 16 << 20,
            limits: Limits::default(),
            default_rows: 1000,
            max_runs: default_max_runs(),
            max_queue: 64,
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
    pub runtime: Arc<Runtime>,
    pub sources: Sources,
    pub store: Store,
    pub settings: Settings,
    /// Loaded plugins by SHA-256, so a run does not read and hash the file again.
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// Cancel flags of the runs in progress, by run id.
    runs: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// Slots for runs and compilations.
    gate: Gate,
    /// The script runner new scripts run on, once installed.
    runner: OnceLock<Arc<LoadedPlugin>>,
    /// Uploads compiled off the request path (`Prefer: respond-async`), by SHA-256.
    uploads: Mutex<HashMap<String, Upload>>,
}

/// Where an upload compiled in the background is.
#[derive(Clone)]
enum Upload {
    Compiling,
    Done {
        meta: crate::store::PluginMeta,
        created: bool,
    },
    Failed(ApiError),
}

/// Finished uploads remembered for their pollers; older ones are dropped beyond this.
const MAX_FINISHED_UPLOADS: usize = 256;

impl App {
    pub fn new(
        runtime: Arc<Runtime>,
        sources: Sources,
        data_dir: &Path,
        settings: Settings,
    ) -> std::io::Result<App> {
        Ok(App {
            runtime,
            sources,
            store: Store::open(data_dir)?,
            gate: Gate::new(settings.max_runs, settings.max_queue),
            settings,
            loaded: Mutex::default(),
            runs: Mutex::default(),
            runner: OnceLock::new(),
            uploads: Mutex::default(),
        })
    }

    /// Makes `wasm` the script runner that new scripts run on, and stores it, so that the
    /// scripts stored for it keep running when a later server has a newer runner.
    pub fn install_runner(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, String> {
        let (runner, _) = self.runtime.load(wasm).map_err(|e| e.to_string())?;
        self.store
            .put_runner(wasm, &runner)
            .map_err(|e| e.to_string())?;
        self.remember(runner.clone());
        Ok(self.runner.get_or_init(|| runner).clone())
    }

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

    fn remember(&self, plugin: Arc<LoadedPlugin>) {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plugin.sha256.clone(), plugin);
    }

    /// A library plugin or script, loaded (compiled or from the cache) on first use. A
    /// script loads the runner it was stored for.
    fn plugin(&self, sha256: &str) -> Result<Arc<LoadedPlugin>, ApiError> {
        if let Some(p) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
        {
            return Ok(p.clone());
        }
        let plugin = match self.store.plugin(sha256) {
            Some(meta) if meta.kind == PluginKind::Script => {
                let (text, runner) = self.store.script(sha256).map_err(ApiError::from)?;
                Arc::new(self.plugin(&runner)?.with_script(&text, &meta.name))
            }
            _ => {
                let wasm = self.store.plugin_wasm(sha256).map_err(ApiError::from)?;
                let (plugin, _) = self.runtime.load(&wasm).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "plugin_error",
                        e.to_string(),
                    )
                })?;
                plugin
            }
        };
        self.remember(plugin.clone());
        Ok(plugin)
    }

    /// Adds a `.wasm` file, or every `.wasm` file in a directory, to the library; returns
    /// how many it added and the files it refused, with why.
    pub fn preload(
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
            let result = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|wasm| {
                    let (plugin, _) = self
                        .runtime
                        .load_with(&wasm, || compiling(&path, wasm.len()))
                        .map_err(|e| e.to_string())?;
                    self.store
                        .put_plugin(&wasm, &plugin)
                        .map_err(|e| e.to_string())
                });
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
    Router::new()
        .route("/", get(pages::playground))
        .route("/plugins", get(pages::plugins))
        .route("/plugins/{sha256}", get(pages::plugin))
        .route("/s/{id}", get(pages::snippet))
        .route("/static/{file}", get(pages::asset))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/sources", get(api::sources))
        .route("/api/plugins", get(api::list_plugins).merge(upload))
        .route("/api/plugins/{sha256}", get(api::get_plugin))
        .route("/api/plugins/{sha256}/wasm", get(api::plugin_wasm))
        .route("/api/plugins/{sha256}/script", get(api::plugin_script))
        .route("/api/scripts", post(api::put_script))
        .route("/api/uploads/{sha256}", get(api::get_upload))
        .route("/api/runs", post(api::run))
        .route("/api/runs/{id}/cancel", post(api::cancel_run))
        .route("/api/snippets", post(api::put_snippet))
        .route("/api/snippets/{id}", get(api::get_snippet))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(1 << 20))
        .layer(axum::middleware::from_fn(catch_panic))
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

/// A bug that panics in a handler answers 500 with the envelope, never a dropped connection.
async fn catch_panic(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server hit a bug while answering; it is still running",
        )
        .into_response(),
    }
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
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
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
        use quarry_sources::SourceError;
        let (status, kind) = match e {
            RunError::Params(_) => (StatusCode::BAD_REQUEST, "bad_params"),
            RunError::NoQuery => (StatusCode::BAD_REQUEST, "no_query"),
            RunError::Source(s) => match s {
                SourceError::Unknown { .. } => (StatusCode::NOT_FOUND, "unknown_source"),
                SourceError::WrongDialect { .. } => (StatusCode::BAD_REQUEST, "wrong_dialect"),
                SourceError::Query { .. } => (StatusCode::BAD_REQUEST, "query_error"),
                SourceError::NotReadOnly { .. } => (StatusCode::BAD_REQUEST, "not_read_only"),
                SourceError::Timeout { .. } | SourceError::ServerTimeout { .. } => {
                    (StatusCode::GATEWAY_TIMEOUT, "timeout")
                }
                SourceError::Unavailable { .. } => {
                    (StatusCode::SERVICE_UNAVAILABLE, "source_unavailable")
                }
                SourceError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            },
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
            StoreError::Io(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"ok": false, "error": self.body()});
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
