//! Shared by the integration tests: the built plugins, one demo database and compile cache
//! for the whole test run, and a sink that keeps what a run outputs.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use quarry_core::batch::Cell;
use quarry_engine::run::{PluginChoice, RunReport, RunRequest, run_blocking};
use quarry_runtime::{Limits, LoadedPlugin, Runtime, RuntimeConfig};
use quarry_sources::Sources;

/// The checkout: the tests are built as part of the binary's package, `host/cli`.
/// The shared servers. A test that uses one holds its lock for reading ([`shared`]); a test
/// that stops it holds it for writing ([`exclusive`]), so no test loses its connection to
/// another's restart. Take one lock at a time, or all three in this order
/// ([`every_server`]): a test never waits for a lock while holding a later one.
pub static POSTGRES: RwLock<()> = RwLock::new(());
pub static CASSANDRA: RwLock<()> = RwLock::new(());
pub static FERRETDB: RwLock<()> = RwLock::new(());

pub fn shared(server: &'static RwLock<()>) -> RwLockReadGuard<'static, ()> {
    server.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive(server: &'static RwLock<()>) -> RwLockWriteGuard<'static, ()> {
    server.write().unwrap_or_else(|e| e.into_inner())
}

pub fn every_server() -> [RwLockReadGuard<'static, ()>; 3] {
    [shared(&POSTGRES), shared(&CASSANDRA), shared(&FERRETDB)]
}

/// Held while `quarry seed` writes the demo into a server: tests in other modules seed the
/// same tables, and two loads of one table must not interleave (the second then finds the
/// first's rows and keeps them).
pub fn seeding() -> MutexGuard<'static, ()> {
    static SEEDING: Mutex<()> = Mutex::new(());
    SEEDING.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .unwrap()
}

/// A plugin built by `cargo plugins`.
pub fn plugin_path(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo plugins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The data directory shared by every test: the demo database is built once.
pub fn data_dir() -> PathBuf {
    let dir = repo_root().join("target/test-data");
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        quarry_sources::demo::ensure(&dir).expect("demo database builds");
    });
    dir
}

pub fn demo_db() -> PathBuf {
    data_dir().join(quarry_sources::demo::FILE_NAME)
}

/// Rows of an SQL query straight from the demo database, bypassing Quarry: the independent
/// answer that Quarry's output is checked against.
pub fn sql<T: rusqlite::types::FromSql>(query: &str) -> Vec<Vec<T>> {
    let conn = rusqlite::Connection::open_with_flags(
        demo_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn.prepare(query).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| {
        (0..n).map(|i| row.get(i)).collect::<Result<Vec<T>, _>>()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

pub fn runtime_with(limits: Limits) -> Runtime {
    let config = RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        limits,
        ..Default::default()
    };
    Runtime::new(config).unwrap()
}

/// One runtime per test binary, like one per process in the host.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| runtime_with(Limits::default()))
}

pub fn load(runtime: &Runtime, name: &str) -> Arc<LoadedPlugin> {
    let bytes = std::fs::read(plugin_path(name)).unwrap();
    runtime
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
        .0
}

pub fn tokio() -> &'static tokio::runtime::Runtime {
    static TOKIO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    TOKIO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Keeps every batch a run outputs.
pub use quarry_engine::compare::Collected as Collect;

/// Reading a collected output by column name.
pub trait Columns {
    /// Every cell of column `name`, owned, for easy comparison.
    fn column(&self, name: &str) -> Vec<Owned>;
}

impl Columns for Collect {
    fn column(&self, name: &str) -> Vec<Owned> {
        let i = self
            .fields
            .iter()
            .position(|f| f.name == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        self.batches
            .iter()
            .flat_map(|b| {
                // A batch from before the column was added holds null in it.
                (0..b.num_rows)
                    .map(move |r| b.columns.get(i).map_or(Owned::Null, |c| c.cell(r).into()))
            })
            .collect()
    }
}

/// An owned cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Owned {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<Cell<'_>> for Owned {
    fn from(c: Cell<'_>) -> Self {
        match c {
            Cell::Null => Owned::Null,
            Cell::Boolean(b) => Owned::Bool(b),
            Cell::Int64(i) => Owned::Int(i),
            Cell::Float64(f) => Owned::Float(f),
            Cell::Text(s) => Owned::Text(s.to_owned()),
            Cell::Bytes(b) => Owned::Bytes(b.to_vec()),
        }
    }
}

impl Owned {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Owned::Int(i) => Some(*i as f64),
            Owned::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Owned::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Owned::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Runs a request on the demo source, collecting the output.
pub fn run_on(runtime: &Runtime, request: RunRequest) -> (RunReport, Collect) {
    run_with(runtime, &Sources::with_demo(data_dir()), request)
}

/// Runs a request on a thread of its own, as the CLI does, collecting the output.
pub fn run_with(runtime: &Runtime, sources: &Sources, request: RunRequest) -> (RunReport, Collect) {
    let (report, out, _) = run_with_first_progress(runtime, sources, request);
    (report, out)
}

/// Like [`run_with`], and also how many rows had been read at the first progress report:
/// less than the whole result shows that rows stream.
pub fn run_with_first_progress(
    runtime: &Runtime,
    sources: &Sources,
    request: RunRequest,
) -> (RunReport, Collect, Option<u64>) {
    let mut sink = Collect::default();
    let mut first = None;
    let handle = tokio().handle().clone();
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            run_blocking(runtime, sources, &handle, request, &mut sink, |p| {
                first.get_or_insert(p.rows_in);
            })
        })
        .join()
        .unwrap()
    });
    (report, sink, first)
}

/// A request for the demo source running plugin `name` (if any) with `params` and `query`.
pub fn request(
    runtime: &Runtime,
    plugin: Option<&str>,
    params: &str,
    query: Option<&str>,
) -> RunRequest {
    RunRequest {
        plugin: plugin.map(|name| PluginChoice {
            plugin: load(runtime, name),
            load: Default::default(),
        }),
        params: params.to_owned(),
        query: query.map(str::to_owned),
        ..RunRequest::new("demo")
    }
}

/// Runs plugin `name` on the demo data and expects success.
pub fn run_ok(plugin: Option<&str>, params: &str, query: Option<&str>) -> (RunReport, Collect) {
    let rt = runtime();
    let (report, out) = run_on(rt, request(rt, plugin, params, query));
    if let Err(e) = &report.result {
        panic!("run failed: {e}; logs: {:?}", report.logs);
    }
    (report, out)
}

/// The output of `plugin` with `params` over `query` (or the query it builds) on the
/// demo; panics when the run fails.
pub fn run_plugin(plugin: Arc<LoadedPlugin>, params: &str, query: Option<&str>) -> Collect {
    let request = RunRequest {
        plugin: Some(PluginChoice {
            plugin,
            load: Default::default(),
        }),
        params: params.to_owned(),
        query: query.map(str::to_owned),
        ..RunRequest::new("demo")
    };
    let (report, out) = run_on(runtime(), request);
    if let Err(e) = &report.result {
        panic!("run failed: {e}; logs: {:?}", report.logs);
    }
    out
}

/// Same columns, same types, same cells as a Rust plugin's output (floats bit for bit:
/// a plugin in another language that does the same IEEE operations in the same order
/// gets the same bits).
pub fn assert_same_output(other: &Collect, rust: &Collect) {
    assert_eq!(other.fields, rust.fields);
    for field in &rust.fields {
        assert_eq!(
            other.column(&field.name),
            rust.column(&field.name),
            "column {}",
            field.name
        );
    }
}

/// An in-memory output that a sink can own while the test keeps a handle to read it.
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `quarry serve` application for tests: the shared demo data, a fresh store in `store`,
/// a source `slow` (the demo file with a 300 ms statement timeout), and the script runner.
pub fn web_app(
    store: &std::path::Path,
    settings: quarry_server::Settings,
) -> Arc<quarry_server::App> {
    let mut sources = Sources::with_demo(data_dir());
    sources.insert(
        Arc::new(quarry_sources::sqlite::SqliteSource::new("slow", demo_db())),
        quarry_sources::config::SourceSettings {
            timeout: Some(std::time::Duration::from_millis(300)),
            batch_rows: None,
            ..Default::default()
        },
    );
    let config = RuntimeConfig {
        cache_dir: Some(data_dir().join("cache")),
        limits: settings.limits.clone(),
        ..Default::default()
    };
    let runtime = Arc::new(Runtime::new(config).unwrap());
    let app = tokio()
        .block_on(quarry_server::App::new(runtime, sources, store, settings))
        .unwrap();
    let runner = std::fs::read(plugin_path("script_runner")).unwrap();
    tokio().block_on(app.install_runner(&runner)).unwrap();
    Arc::new(app)
}

/// Adds the built plugin `name` to `app`'s library; returns its SHA-256.
pub fn store_plugin(app: &quarry_server::App, name: &str) -> String {
    let wasm = std::fs::read(plugin_path(name)).unwrap();
    let (plugin, _) = app.runtime.load(&wasm).unwrap();
    tokio()
        .block_on(app.store.put_plugin(&wasm, &plugin))
        .unwrap();
    plugin.sha256.clone()
}

/// Serves `app` in this process on a free loopback port, until the test process ends.
pub fn serve_app(app: Arc<quarry_server::App>) -> std::net::SocketAddr {
    let listener = tokio()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio().spawn(quarry_server::serve(listener, app, std::future::pending()));
    address
}

/// Runs `quarry run --source SOURCE --query QUERY --format ndjson [--limit N]` with the
/// sources of `config`, and returns the rows it printed and its peak memory (VmHWM, read
/// from /proc while it runs), in bytes: how a test shows that rows stream.
pub fn cli_peak_memory(
    config: &std::path::Path,
    source: &str,
    query: &str,
    limit: Option<u64>,
) -> (usize, u64) {
    use std::io::BufRead;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quarry"));
    command
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir())
        .args([
            "run", "--source", source, "--query", query, "--format", "ndjson",
        ])
        .stdout(std::process::Stdio::piped());
    if let Some(n) = limit {
        command.args(["--limit", &n.to_string()]);
    }
    let mut child = command.spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Ok(status) = std::fs::read_to_string(&status_file) {
                let hwm = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok());
                match hwm {
                    Some(kb) => peak.fetch_max(kb * 1024, std::sync::atomic::Ordering::Relaxed),
                    None => break, // a zombie: it has exited
                };
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let rows = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.is_empty())
        .count();
    let status = child.wait().unwrap();
    watcher.join().unwrap();
    assert!(status.success(), "quarry run failed: {status}");
    (rows, peak.load(std::sync::atomic::Ordering::Relaxed))
}

/// Reading every row of `query` (`total` of them) through `quarry run` holds no more
/// memory than reading its first thousand, give or take 64 MiB: the rows stream.
pub fn assert_streams_in_flat_memory(
    config: &std::path::Path,
    source: &str,
    query: &str,
    total: usize,
) {
    let (rows, peak) = cli_peak_memory(config, source, query, None);
    assert_eq!(rows, total);
    let (rows, small_peak) = cli_peak_memory(config, source, query, Some(1000));
    assert_eq!(rows, 1000);
    let report = format!(
        "peak memory: {} MiB over every row, {} MiB over 1,000",
        peak >> 20,
        small_peak >> 20
    );
    eprintln!("{report}");
    assert!(peak < small_peak + (64 << 20), "{report}");
}

/// The value of the first of `vars` that is set: the address of a live test server
/// (`scripts/test.sh` starts each and sets its variables). CI must have one; elsewhere a
/// test without it says it was skipped, and why, from `hint`.
pub fn live_server(vars: &[&str], hint: &str) -> Option<String> {
    if let Some(value) = vars.iter().find_map(|v| std::env::var(v).ok()) {
        return Some(value);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI must set {} (scripts/test.sh does): {hint}",
            vars.join(" or ")
        );
    }
    eprintln!(
        "skipped: set {} to run this test: {hint}",
        vars.join(" or ")
    );
    None
}

/// The command that controls a test server (`scripts/cassandra.sh`, `scripts/ferretdb.sh`),
/// from the environment variable `var`: `COMMAND stop`, `COMMAND start`, ….
pub fn server_control(var: &str) -> Option<String> {
    live_server(
        &[var],
        "the command that controls the server (`… stop`, `… start`)",
    )
}

/// Runs `control args`, its output on stderr, and expects success.
pub fn control_server(control: &str, args: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{control} {args} >&2"))
        .status()
        .unwrap();
    assert!(status.success(), "{control} {args} failed");
}

/// Runs `slow` (a run that reads for many seconds) while the server is stopped 1.5 s in,
/// then started again; returns when both are done.
pub fn run_across_a_restart(
    sources: &Sources,
    control: &str,
    slow: RunRequest,
) -> (RunReport, Collect) {
    let control = control.to_owned();
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        control_server(&control, "stop");
        control_server(&control, "start");
    });
    let result = run_with(runtime(), sources, slow);
    restarter.join().unwrap();
    result
}

/// The output of the first run of `request()` that works, trying for 30 s: a driver may take
/// a few seconds to reconnect to a server that has just come back.
pub fn first_success(sources: &Sources, request: impl Fn() -> RunRequest) -> Collect {
    let mut last = None;
    for _ in 0..30 {
        let (report, out) = run_with(runtime(), sources, request());
        match report.result {
            Ok(()) => return out,
            Err(e) => last = Some(e.to_string()),
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("no run worked within 30 s of the restart: {last:?}");
}
