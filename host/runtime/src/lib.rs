//! The plugin runtime: the only Quarry crate that names wasmtime.
//!
//! One [`Runtime`] per process owns the engine (pooling allocator, epoch interruption, a
//! ticker thread), the linker, and the compiled-artifact cache. [`Runtime::load`] validates
//! and compiles a plugin once; [`Runtime::start`] gives every run a fresh store and instance
//! from the plugin's `InstancePre`, so nothing leaks from one run to the next.
//!
//! Every call into a plugin runs under the run's [`Limits`]: memory through a resource
//! limiter, CPU time through epoch deadlines, output and logs by counting. Hitting one, or
//! trapping, ends the run with a [`PluginError`] naming the plugin and the cause.
//!
//! # Layout
//!
//! - this file: [`Runtime`] (engine, linker, loading), [`PluginRun`] (one run's instance)
//!   and the classification of traps into [`PluginError`]s.
//! - `bindings`: the contract's versions (`quarry:plugin@0.1.0`, `@0.2.0`), and batches
//!   and queries across them.
//! - `exports`: a component bound to its contract version, and one instance's calls.
//! - `sandbox`: a run's store state: WASI with nothing granted, the resource limiter, the
//!   log.
//! - `limits`: [`Limits`] and the [`Limit`] a run hits.
//! - [`cache`]: compiled components on disk, by SHA-256 and engine.
//! - [`script`]: scripts, JavaScript run by the script runner component.

#![warn(missing_docs)]

mod bindings;
pub mod cache;
mod exports;
mod limits;
mod sandbox;
pub mod script;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

use bindings::{Failure, Output};
use exports::{Exports, Pre};
use quarry_core::batch::{Batch, BatchError};
use quarry_core::{Backend, Query};
use sandbox::{LogFull, RunState};

pub use bindings::PluginInfo;
pub use cache::write_atomically;
pub use limits::{Limit, Limits};
pub use sandbox::LogLine;

/// How often the epoch advances; a plugin overruns its deadline by at most this much.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory a finished instance leaves mapped, zeroed page by page, for the next
/// instance in its slot: a run then does not fault in fresh pages as its heap grows.
const KEEP_RESIDENT: usize = 16 << 20;

/// The wasm stack a plugin may use; deep recursion traps past it.
const MAX_WASM_STACK: usize = 512 << 10;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

/// The plugin's exports, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// Creating the instance (its start functions).
    Instantiate,
    /// `describe`.
    Describe,
    /// `init`.
    Init,
    /// `build-query`.
    BuildQuery,
    /// `transform`.
    Transform,
    /// `finish`.
    Finish,
    /// `partial`.
    Partial,
    /// `merge`.
    Merge,
}

impl fmt::Display for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Export::Instantiate => "instantiation",
            Export::Describe => "describe",
            Export::Init => "init",
            Export::BuildQuery => "build-query",
            Export::Transform => "transform",
            Export::Finish => "finish",
            Export::Partial => "partial",
            Export::Merge => "merge",
        })
    }
}

/// A plugin's identity: the SHA-256 of its bytes, shown abbreviated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PluginId(pub String);

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.0;
        if h.len() > 12 {
            write!(f, "{}…{}", &h[..4], &h[h.len() - 4..])
        } else {
            f.write_str(h)
        }
    }
}

/// Why a [`Runtime`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// wasmtime refused its configuration (the pooling allocator's reservations, say).
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// WASI or the contract's imports could not be linked.
    #[error("cannot link the plugin imports: {0}")]
    Link(String),
    /// The thread that ends runaway plugins' time slices.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

impl From<quarry_core::upload::FileProblem> for PluginError {
    fn from(problem: quarry_core::upload::FileProblem) -> Self {
        use quarry_core::upload::FileProblem;
        match problem {
            FileProblem::NotWasm => PluginError::NotWasm,
            FileProblem::NotComponent => PluginError::NotComponent,
            FileProblem::Invalid(why) => PluginError::Invalid(why),
        }
    }
}

/// Why a plugin could not be loaded, or a call into it failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PluginError {
    /// The file does not start with the WebAssembly magic bytes.
    #[error("not a WebAssembly file (it does not start with \\0asm)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component; build the plugin for wasm32-wasip2 \
         (`cargo build --target wasm32-wasip2`)"
    )]
    NotComponent,
    /// The component does not validate or compile.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// The component imports something other than WASI and the log interface.
    #[error(
        "the component imports {0}, which Quarry does not provide; plugins may import only WASI and quarry:plugin/log"
    )]
    UnsupportedImport(String),
    /// The component's exports are not the contract's `plugin` world.
    #[error("the component does not implement the quarry:plugin/plugin world: {0}")]
    WrongWorld(String),
    /// The plugin hit one of the run's limits.
    #[error("plugin {plugin} hit its {limit} in {export}")]
    Limit {
        /// The plugin.
        plugin: PluginId,
        /// The export that was running.
        export: Export,
        /// The limit, with its value.
        limit: Limit,
    },
    /// The plugin trapped (a panic, say).
    #[error("plugin {plugin} trapped in {export}: {message}")]
    Trap {
        /// The plugin.
        plugin: PluginId,
        /// The export that was running.
        export: Export,
        /// The trap, and the last lines of the log when there are any.
        message: String,
        /// The wasm backtrace; empty when there is none.
        backtrace: String,
    },
    /// The plugin returned an error of its own.
    #[error("plugin {plugin} failed in {export}: {message}{}", row.map(|r| format!(" (row {r} of the batch)")).unwrap_or_default())]
    Failed {
        /// The plugin.
        plugin: PluginId,
        /// The export that returned it.
        export: Export,
        /// The plugin's message.
        message: String,
        /// The row of the input batch that caused it, when the plugin says.
        row: Option<u32>,
    },
    /// The plugin returned a batch that breaks the layout rules.
    #[error("plugin {plugin} returned an invalid batch from {export}: {error}")]
    InvalidBatch {
        /// The plugin.
        plugin: PluginId,
        /// The export that returned it.
        export: Export,
        /// What is wrong with the batch.
        error: BatchError,
    },
    /// A batch's columns differ from the output's other than by columns added at the end.
    #[error("plugin {plugin} changed its output columns in {export}: first {before}, now {after}")]
    SchemaChanged {
        /// The plugin (`source` when no plugin transforms the rows).
        plugin: PluginId,
        /// The export that returned the batch.
        export: Export,
        /// The output's columns, as `name type` pairs.
        before: String,
        /// The batch's columns, the same way.
        after: String,
    },
    /// The run was cancelled while the plugin ran.
    #[error("plugin {plugin} was cancelled in {export}")]
    Cancelled {
        /// The plugin.
        plugin: PluginId,
        /// The export that was running.
        export: Export,
    },
    /// Every plugin instance slot is in use.
    #[error("too many plugin runs at once: {0}")]
    Busy(String),
    /// A call failed for a reason that is neither a limit nor a trap.
    #[error("plugin {plugin}: {message}")]
    Host {
        /// The plugin.
        plugin: PluginId,
        /// The error, with its causes.
        message: String,
    },
}

/// Process-wide settings of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Default limits for runs; also sizes the pooling allocator's memory slots.
    pub limits: Limits,
    /// Plugin instances that may exist at once.
    pub max_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            limits: Limits::default(),
            max_instances: 256,
        }
    }
}

/// The engine, linker and caches shared by every run in the process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: Option<cache::ArtifactCache>,
    limits: Limits,
    /// Loaded plugins by SHA-256, so a plugin is compiled and described once per process.
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// Stops the epoch ticker when the runtime goes away.
    ticker_stop: Arc<AtomicBool>,
}

/// A validated, compiled plugin, ready to instantiate.
pub struct LoadedPlugin {
    /// Its identity, from [`LoadedPlugin::sha256`].
    pub id: PluginId,
    /// SHA-256 of its bytes in hex; for a script, of its text and runner.
    pub sha256: String,
    /// What `describe` returned; for a script, what [`script::info`] makes of its text.
    pub info: PluginInfo,
    /// Size in bytes of the component, or of a script's text.
    pub size: usize,
    /// Imports the component declares, e.g. `wasi:cli/stdout@0.2.3`.
    pub imports: Vec<String>,
    /// A script's text, when this is a script run by the script runner.
    script: Option<Arc<str>>,
    pre: Pre,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256)
            .field("info", &self.info)
            .finish()
    }
}

/// What loading took, for the run's figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadStats {
    /// Time spent compiling, or loading the compiled code from the disk cache.
    pub compile: Duration,
    /// Whether the plugin came from a cache (memory or disk) rather than the compiler.
    pub from_cache: bool,
}

impl LoadStats {
    /// A plugin already in memory: nothing to do.
    pub const IN_MEMORY: LoadStats = LoadStats {
        compile: Duration::ZERO,
        from_cache: true,
    };
}

/// SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// A runtime whose compile cache lives in `data_dir/cache`, as the `quarry` command and
    /// server keep it, with the given limits and default settings otherwise.
    pub fn in_data_dir(data_dir: &std::path::Path, limits: &Limits) -> Result<Self, StartError> {
        Runtime::new(RuntimeConfig {
            cache_dir: Some(data_dir.join("cache")),
            limits: limits.clone(),
            ..Default::default()
        })
    }

    /// Starts the engine (pooling allocator, epoch ticker) and links WASI and the contract.
    pub fn new(config: RuntimeConfig) -> Result<Self, StartError> {
        let mut pool = PoolingAllocationConfig::new();
        let instances = config.max_instances;
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .total_stacks(0)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(32)
            .max_memory_size(config.limits.memory_bytes as usize)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if std::env::var_os("QUARRY_PERF_MAP").is_some() {
            // Names plugin functions in /tmp/perf-PID.map, for profiling with `perf`.
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&wasm).map_err(|e| StartError::Engine(e.to_string()))?;

        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| StartError::Link(e.to_string());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
        // Both contract versions: a plugin imports the log of the one it was built on.
        type Own = wasmtime::component::HasSelf<RunState>;
        bindings::v01::Plugin::add_to_linker::<RunState, Own>(&mut linker, |s| s).map_err(link)?;
        bindings::v02::Plugin::add_to_linker::<RunState, Own>(&mut linker, |s| s).map_err(link)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("quarry-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(StartError::Ticker)?;

        let cache = config
            .cache_dir
            .map(|dir| cache::ArtifactCache::new(dir, &engine));
        Ok(Runtime {
            engine,
            linker,
            cache,
            limits: config.limits,
            loaded: Mutex::new(HashMap::new()),
            ticker_stop,
        })
    }

    /// The default limits for runs, from [`RuntimeConfig::limits`].
    pub fn default_limits(&self) -> &Limits {
        &self.limits
    }

    /// A plugin this runtime has already loaded, by the SHA-256 of its bytes: the memory
    /// cache that [`Runtime::load`] fills.
    pub fn loaded(&self, sha256: &str) -> Option<Arc<LoadedPlugin>> {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .cloned()
    }

    /// Validates, compiles (or loads from the cache) and describes a plugin.
    pub fn load(&self, wasm: &[u8]) -> Result<(Arc<LoadedPlugin>, LoadStats), PluginError> {
        self.load_with(wasm, || {})
    }

    /// [`Runtime::load`], calling `compiling` first when the plugin is in neither the
    /// memory nor the disk cache and must be compiled: a caller can say that this may
    /// take a while (about a second per MiB).
    pub fn load_with(
        &self,
        wasm: &[u8],
        compiling: impl FnOnce(),
    ) -> Result<(Arc<LoadedPlugin>, LoadStats), PluginError> {
        quarry_core::upload::preamble(wasm)?;
        let sha256 = sha256_hex(wasm);
        if let Some(plugin) = self.loaded(&sha256) {
            return Ok((plugin, LoadStats::IN_MEMORY));
        }

        let started = Instant::now();
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.engine, &sha256));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                compiling();
                let compiled = match &self.cache {
                    Some(cache) => cache.compile(&self.engine, &sha256, wasm),
                    None => Component::new(&self.engine, wasm),
                };
                compiled.map_err(|e| PluginError::Invalid(format!("{e:#}")))?
            }
        };
        let compile = started.elapsed();

        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect::<Vec<_>>();
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            match unsupported_import(&imports) {
                Some(name) => PluginError::UnsupportedImport(name),
                None => PluginError::Invalid(format!("{e:#}")),
            }
        })?;
        let pre = Pre::new(instance_pre, &component).map_err(PluginError::WrongWorld)?;

        let id = PluginId(sha256.clone());
        let mut run = PluginRun::new(&self.engine, &pre, id.clone(), &self.limits, Arc::default())?;
        let info = run.describe()?;
        let plugin = Arc::new(LoadedPlugin {
            id,
            sha256: sha256.clone(),
            info,
            size: wasm.len(),
            imports,
            script: None,
            pre,
        });
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256, plugin.clone());
        Ok((
            plugin,
            LoadStats {
                compile,
                from_cache,
            },
        ))
    }

    /// A fresh instance of `plugin` for one run, under `limits`; `cancel` stops it.
    pub fn start(
        &self,
        plugin: &LoadedPlugin,
        limits: &Limits,
        cancel: Arc<AtomicBool>,
    ) -> Result<PluginRun, PluginError> {
        let mut run = PluginRun::new(&self.engine, &plugin.pre, plugin.id.clone(), limits, cancel)?;
        run.reads = plugin.info.reads.clone();
        Ok(run)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The first import that is neither WASI nor Quarry's own, which no linker here provides.
fn unsupported_import(imports: &[String]) -> Option<String> {
    imports
        .iter()
        .find(|name| !name.starts_with("wasi:") && !name.starts_with("quarry:plugin/"))
        .cloned()
}

/// One run of one plugin: a fresh store and instance, and the run's remaining budgets.
pub struct PluginRun {
    store: Store<RunState>,
    exports: Exports,
    plugin: PluginId,
    /// The input columns `transform` reads, from `describe` or `init`; `None` for all.
    reads: Option<Vec<String>>,
    limits: Limits,
    /// Plugin CPU time left for the rest of the run.
    cpu_left: Duration,
    /// Rows and bytes output so far, against the output limits.
    rows_out: u64,
    bytes_out: u64,
}

impl PluginRun {
    fn new(
        engine: &Engine,
        pre: &Pre,
        plugin: PluginId,
        limits: &Limits,
        cancel: Arc<AtomicBool>,
    ) -> Result<Self, PluginError> {
        let state = RunState::new(limits.memory_bytes, limits.log_bytes, cancel);
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_callback(|ctx| {
            let state = ctx.data();
            if state.cancel.load(Ordering::Relaxed) {
                return Err(wasmtime::Error::new(Interrupted::Cancelled));
            }
            if Instant::now() >= state.deadline {
                return Err(wasmtime::Error::new(Interrupted::Deadline));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        let started = Instant::now();
        store.data_mut().deadline = started + limits.cpu_time;
        store.set_epoch_deadline(1);
        let instantiated = pre.instantiate(&mut store);
        let cpu_left = limits.cpu_time.saturating_sub(started.elapsed());
        let exports = match instantiated {
            Ok(exports) => exports,
            Err(e) if is_pool_exhausted(&e) => return Err(PluginError::Busy(format!("{e:#}"))),
            Err(e) => return Err(classify(&store, &plugin, limits, Export::Instantiate, e)),
        };
        Ok(PluginRun {
            store,
            exports,
            plugin,
            reads: None,
            limits: limits.clone(),
            cpu_left,
            rows_out: 0,
            bytes_out: 0,
        })
    }

    /// Calls one export under the run's deadline and turns any failure into a [`PluginError`].
    fn call<R>(
        &mut self,
        export: Export,
        f: impl FnOnce(&Exports, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        self.store.data_mut().deadline = started + self.cpu_left;
        self.store.set_epoch_deadline(1);
        let result = f(&self.exports, &mut self.store);
        self.cpu_left = self.cpu_left.saturating_sub(started.elapsed());
        result.map_err(|e| classify(&self.store, &self.plugin, &self.limits, export, e))
    }

    fn failed(&self, export: Export, e: Failure) -> PluginError {
        PluginError::Failed {
            plugin: self.plugin.clone(),
            export,
            message: e.message,
            row: e.row,
        }
    }

    /// Calls `describe`: the plugin's name, version and abilities.
    pub fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        self.call(Export::Describe, |b, s| b.describe(s))
    }

    /// Calls `init` with the source the run reads and the user's params (a JSON object's
    /// text).
    pub fn init(
        &mut self,
        source_name: &str,
        backend: Backend,
        params: &str,
    ) -> Result<(), PluginError> {
        let reads = self
            .call(Export::Init, |b, s| b.init(s, source_name, backend, params))?
            .map_err(|e| self.failed(Export::Init, e))?;
        if reads.is_some() {
            self.reads = reads;
        }
        Ok(())
    }

    /// Calls `build-query`: the query to run, or `None` when the user supplies it.
    pub fn build_query(&mut self) -> Result<Option<Query>, PluginError> {
        self.call(Export::BuildQuery, |b, s| b.build_query(s))?
            .map_err(|e| self.failed(Export::BuildQuery, e))
    }

    /// Hands one batch to the plugin (the columns it reads) and returns its checked
    /// output: the plugin's rows, or the input as the plugin's edit leaves it.
    pub fn transform(&mut self, mut input: Batch) -> Result<Batch, PluginError> {
        if input.num_rows > self.limits.batch_rows as usize {
            return Err(self.limit(Export::Transform, Limit::BatchRows(self.limits.batch_rows)));
        }
        let reads = self
            .reads
            .as_ref()
            .map(|names| column_indices(&input, names));
        let output = self
            .call(Export::Transform, |b, s| {
                b.transform(s, &mut input, reads.as_deref())
            })?
            .map_err(|e| self.failed(Export::Transform, e))?;
        let invalid = |error| PluginError::InvalidBatch {
            plugin: self.plugin.clone(),
            export: Export::Transform,
            error,
        };
        let batch = match output {
            Output::Rows(batch) => {
                // Before validating, which would read every one of a lying batch's rows.
                self.check_rows(Export::Transform, batch.num_rows)?;
                batch.validate().map_err(invalid)?;
                batch
            }
            // The input is valid, and so is any selection of its rows: only the columns
            // the plugin sent need checking, which `set_column` does.
            Output::Edit { rows, columns } => {
                let mut batch = match rows {
                    Some(rows) => input.take(&rows).map_err(invalid)?,
                    None => input,
                };
                for column in columns {
                    batch.set_column(column).map_err(invalid)?;
                }
                batch
            }
        };
        self.count_output(Export::Transform, batch)
    }

    /// Calls `finish`: trailing rows (aggregates), checked like [`PluginRun::transform`]'s.
    pub fn finish(&mut self) -> Result<Option<Batch>, PluginError> {
        let output = self
            .call(Export::Finish, |b, s| b.finish(s))?
            .map_err(|e| self.failed(Export::Finish, e))?;
        let Some(batch) = output else {
            return Ok(None);
        };
        self.check_rows(Export::Finish, batch.num_rows)?;
        batch
            .validate()
            .map_err(|error| PluginError::InvalidBatch {
                plugin: self.plugin.clone(),
                export: Export::Finish,
                error,
            })?;
        self.count_output(Export::Finish, batch).map(Some)
    }

    /// Calls `partial`: this instance's aggregate state, for another instance's
    /// [`PluginRun::merge`]. Only for plugins whose info says `merges`.
    pub fn partial(&mut self) -> Result<Vec<u8>, PluginError> {
        self.call(Export::Partial, |b, s| {
            b.partial(s).unwrap_or_else(|| Ok(Err(not_merging())))
        })?
        .map_err(|e| self.failed(Export::Partial, e))
    }

    /// Calls `merge` with other instances' [`PluginRun::partial`] states; `finish` follows.
    pub fn merge(&mut self, partials: Vec<Vec<u8>>) -> Result<(), PluginError> {
        self.call(Export::Merge, |b, s| {
            b.merge(s, partials)
                .unwrap_or_else(|| Ok(Err(not_merging())))
        })?
        .map_err(|e| self.failed(Export::Merge, e))
    }

    fn limit(&self, export: Export, limit: Limit) -> PluginError {
        PluginError::Limit {
            plugin: self.plugin.clone(),
            export,
            limit,
        }
    }

    /// Refuses an output batch of more rows than a batch may hold.
    fn check_rows(&self, export: Export, num_rows: usize) -> Result<(), PluginError> {
        if num_rows > self.limits.batch_rows as usize {
            return Err(self.limit(export, Limit::BatchRows(self.limits.batch_rows)));
        }
        Ok(())
    }

    /// Counts a checked output batch against the output limits.
    fn count_output(&mut self, export: Export, batch: Batch) -> Result<Batch, PluginError> {
        self.check_rows(export, batch.num_rows)?;
        self.rows_out += batch.num_rows as u64;
        self.bytes_out += batch.byte_size() as u64;
        if self.rows_out > self.limits.output_rows {
            return Err(self.limit(export, Limit::OutputRows(self.limits.output_rows)));
        }
        if self.bytes_out > self.limits.output_bytes {
            return Err(self.limit(export, Limit::OutputBytes(self.limits.output_bytes)));
        }
        Ok(batch)
    }

    /// The log lines written so far (by the log interface, stdout and stderr).
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut log = self
            .store
            .data()
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut log.lines)
    }

    /// Plugin CPU time used so far.
    pub fn cpu_used(&self) -> Duration {
        self.limits.cpu_time.saturating_sub(self.cpu_left)
    }
}

/// The positions in `batch` of the columns named in `names`, each once; names the batch
/// lacks are left out, and the plugin's own lookup says what is missing.
fn column_indices(batch: &Batch, names: &[String]) -> Vec<usize> {
    let mut indices = Vec::with_capacity(names.len());
    for name in names {
        if let Some(i) = batch.columns.iter().position(|c| &c.name == name)
            && !indices.contains(&i)
        {
            indices.push(i);
        }
    }
    indices
}

/// The error of a merge call on a plugin that does not merge: a host bug, not the plugin's.
fn not_merging() -> Failure {
    Failure {
        message: "the host asked a plugin that exports no `merge` to merge".into(),
        row: None,
    }
}

fn is_pool_exhausted(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>())
}

/// Names the cause of a failed call: a limit the store recorded, an interrupt, a trap.
fn classify(
    store: &Store<RunState>,
    plugin: &PluginId,
    limits: &Limits,
    export: Export,
    e: wasmtime::Error,
) -> PluginError {
    let plugin = plugin.clone();
    let limit = |limit| PluginError::Limit {
        plugin: plugin.clone(),
        export,
        limit,
    };
    let state = store.data();
    if state.memory.hit {
        return limit(Limit::Memory(limits.memory_bytes));
    }
    if e.is::<LogFull>() || state.log_overflowed() {
        return limit(Limit::LogBytes(limits.log_bytes));
    }
    match e.downcast_ref::<Interrupted>() {
        Some(Interrupted::Deadline) => return limit(Limit::CpuTime(limits.cpu_time)),
        Some(Interrupted::Cancelled) => return PluginError::Cancelled { plugin, export },
        None => {}
    }
    let trace = e.downcast_ref::<wasmtime::WasmBacktrace>();
    let backtrace = trace.map(|b| b.to_string()).unwrap_or_default();
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => limit(Limit::Stack(MAX_WASM_STACK)),
        Some(Trap::MemoryOutOfBounds) if trace.is_some_and(is_recursion) => {
            limit(Limit::Stack(MAX_WASM_STACK))
        }
        Some(Trap::Interrupt) => limit(Limit::CpuTime(limits.cpu_time)),
        Some(trap) => {
            let logs = state
                .log
                .lock()
                .map(|l| {
                    l.lines
                        .iter()
                        .rev()
                        .take(3)
                        .rev()
                        .map(|l| l.message.clone())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            let message = if logs.is_empty() {
                trap.to_string()
            } else {
                format!("{trap}; last output: {logs}")
            };
            PluginError::Trap {
                plugin,
                export,
                message,
                backtrace,
            }
        }
        None => PluginError::Host {
            plugin,
            message: format!("{e:#}"),
        },
    }
}

/// Whether a backtrace is one function calling itself over and over. Languages that keep
/// their stack in linear memory (Rust, C) overflow it with an out-of-bounds access rather
/// than a wasm stack overflow; the repeated frames are what tell the two apart.
fn is_recursion(trace: &wasmtime::WasmBacktrace) -> bool {
    let frames = trace.frames();
    if frames.len() < 16 {
        return false;
    }
    let mut counts = HashMap::new();
    for frame in frames {
        *counts
            .entry((frame.module().name(), frame.func_index()))
            .or_insert(0) += 1;
    }
    counts
        .values()
        .max()
        .is_some_and(|&n| n * 2 >= frames.len())
}

#[derive(Debug, thiserror::Error)]
enum Interrupted {
    #[error("deadline reached")]
    Deadline,
    #[error("cancelled")]
    Cancelled,
}
