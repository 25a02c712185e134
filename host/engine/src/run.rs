//! The run pipeline: source → plugin → output.
//!
//! A run resolves its source, starts a fresh plugin instance, asks the plugin for a query
//! (or takes the user's), streams the source's batches through the plugin's `transform`
//! as they arrive, calls `finish` for trailing rows, and writes every output batch to a
//! [`Sink`]. The source runs on the async runtime; the plugin runs on the caller's blocking
//! thread; a small bounded channel between them keeps memory flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use quarry_core::batch::{Batch, ColumnBuilder, Field};
use quarry_runtime::{
    Export, Limits, LoadStats, LoadedPlugin, LogLevel, LogLine, PluginError, PluginRun, Runtime,
};
use quarry_sources::explain::Plan;
use quarry_sources::split::Split;
use quarry_sources::{Query, Source, SourceError, Sources, StreamOptions};

use crate::parallel;

/// Where a run's output goes: a file format, an HTTP body, a test's vector.
pub trait Sink: Send {
    /// The output columns, before the first batch (also when there are no rows).
    fn start(&mut self, fields: &[Field]) -> std::io::Result<()>;
    /// Columns were added at the end (a source met a field it had not seen before);
    /// `fields` is the whole new list, and the rows already written hold null in the new
    /// columns. Returns false when this output cannot add columns once it has begun (a CSV
    /// header, a table's layout): the run then leaves them out, with a warning in its log.
    fn widen(&mut self, fields: &[Field]) -> std::io::Result<bool> {
        let _ = fields;
        Ok(false)
    }
    /// Writes one batch of rows, in the columns last given to `start` or `widen`.
    fn batch(&mut self, batch: &Batch) -> std::io::Result<()>;
    /// Whether this output takes no more rows (an answer at its size cap): the run then
    /// stops as if its row limit were reached, and is reported truncated.
    fn is_full(&self) -> bool {
        false
    }
    /// After the last batch: closes the output (a JSON array, a table's row count) and
    /// flushes.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// A plugin chosen for a run, with what loading it cost.
#[derive(Clone)]
pub struct PluginChoice {
    /// The loaded plugin.
    pub plugin: Arc<LoadedPlugin>,
    /// What loading it cost.
    pub load: LoadStats,
}

/// Everything a run needs to know.
#[derive(Clone)]
pub struct RunRequest {
    /// The source's name, or `sqlite:PATH`.
    pub source: String,
    /// The plugin, if any; without one the rows go straight to the output.
    pub plugin: Option<PluginChoice>,
    /// The params object as JSON text.
    pub params: String,
    /// Query text in the source's language, used when the plugin builds none.
    pub query: Option<String>,
    /// Stop after this many output rows.
    pub limit: Option<u64>,
    /// Rows per batch from the source.
    pub batch_rows: usize,
    /// The plugin's limits; `batch_rows` also caps the source's batches.
    pub limits: Limits,
    /// The longest the database may spend on the query.
    pub timeout: Duration,
    /// Set to stop the run: the source stops reading and the plugin is interrupted.
    pub cancel: Arc<AtomicBool>,
    /// Keep the first batch from the database, before the plugin sees it (read as one
    /// stream).
    pub preview: bool,
    /// How many streams the run may read at once (1: one). A query is split only where
    /// the source can do it safely, and a plugin only when it declares a stateless
    /// transform or merges its aggregates; otherwise the run reads one stream.
    pub parallel: usize,
    /// The column whose ranges partition a SQL query (`--partition-by`); SQLite uses the
    /// rowid without one.
    pub partition_by: Option<String>,
    /// The steps of a pipeline after `plugin`: each transforms the output of the step
    /// before it (only `plugin`, the first, may build the query). A pipeline of several
    /// steps reads one stream.
    pub then: Vec<Step>,
}

/// A step of a pipeline after the first: a plugin and its params.
#[derive(Clone)]
pub struct Step {
    /// The plugin; it must transform rows.
    pub plugin: PluginChoice,
    /// Its params object as JSON text.
    pub params: String,
}

/// The batch size and timeout of a run whose caller sets neither: the source's own
/// (`batch_rows` and `timeout` in `quarry.toml`), else Quarry's. The command line and the
/// server both take them from here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunDefaults {
    /// Rows per batch from the source.
    pub batch_rows: usize,
    /// The longest the database may spend on the query.
    pub timeout: Duration,
}

impl RunDefaults {
    /// Quarry's own defaults.
    pub(crate) const BUILT_IN: RunDefaults = RunDefaults {
        batch_rows: 1024,
        timeout: Duration::from_secs(30),
    };

    /// The defaults of a run on `source`.
    pub fn of(sources: &Sources, source: &str) -> RunDefaults {
        let settings = sources.settings(source);
        RunDefaults {
            batch_rows: settings.batch_rows.unwrap_or(Self::BUILT_IN.batch_rows),
            timeout: settings.timeout.unwrap_or(Self::BUILT_IN.timeout),
        }
    }
}

impl RunRequest {
    /// A run of `source` with no plugin, no query and [`RunDefaults::BUILT_IN`].
    pub fn new(source: impl Into<String>) -> Self {
        RunRequest {
            source: source.into(),
            plugin: None,
            params: "{}".to_owned(),
            query: None,
            limit: None,
            batch_rows: RunDefaults::BUILT_IN.batch_rows,
            limits: Limits::default(),
            timeout: RunDefaults::BUILT_IN.timeout,
            cancel: Arc::default(),
            preview: false,
            parallel: 1,
            partition_by: None,
            then: Vec::new(),
        }
    }
}

/// The streams a run may read at once by default: the machine's cores.
pub fn default_parallel() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Time spent in each stage of a run.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStats {
    /// Compiling the plugin or loading it from the cache.
    pub load_ms: f64,
    /// Whether the plugin came from a cache rather than the compiler.
    pub load_from_cache: bool,
    /// Starting the plugin instance.
    pub instantiate_ms: f64,
    /// Waiting for rows from the database.
    pub query_ms: f64,
    /// Inside the plugin's transform and finish.
    pub transform_ms: f64,
    /// The whole run.
    pub total_ms: f64,
    /// Rows from the database.
    pub rows_in: u64,
    /// Rows written to the output.
    pub rows_out: u64,
    /// Streams read at once: the partitions of the query, or 1.
    pub streams: usize,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The params are not a JSON object.
    #[error("params must be a JSON object: {0}")]
    Params(String),
    /// Neither the request nor the plugin gave a query.
    #[error("nothing to run: give a query, or a plugin that builds one")]
    NoQuery,
    /// A step of a pipeline cannot be where it is.
    #[error("{0}")]
    Pipeline(String),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The output could not be written.
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}

/// What happened in a run: the query that ran, the figures, the plugin's log, and whether
/// it succeeded. Logs and figures are kept on failure too; they often explain it.
#[derive(Debug)]
pub struct RunReport {
    /// `Ok` when the run succeeded.
    pub result: Result<(), RunError>,
    /// The query, once known; `None` when the run failed before it had one.
    pub query: Option<Query>,
    /// The output columns.
    pub fields: Vec<Field>,
    /// Time spent, and rows in and out.
    pub stats: RunStats,
    /// The run's warnings, then the plugin's log lines.
    pub logs: Vec<LogLine>,
    /// The output stopped at the row limit.
    pub truncated: bool,
    /// The first batch from the database, when the request asked for a preview.
    pub preview: Option<Batch>,
    /// For a pipeline of several steps, what each step gave, in order.
    pub steps: Vec<StepReport>,
}

/// What one step of a pipeline gave.
#[derive(Clone, Debug, Default)]
pub struct StepReport {
    /// The step's plugin, by name.
    pub name: String,
    /// Rows it output.
    pub rows_out: u64,
    /// Its first output batch with rows.
    pub first: Option<Batch>,
}

/// Progress of a long run, reported after every batch.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Rows from the database so far.
    pub rows_in: u64,
    /// Rows written to the output so far.
    pub rows_out: u64,
}

/// Runs `request` to completion, writing output to `sink`. Blocks the calling thread (the
/// plugin runs on it); call from a blocking context, e.g. `spawn_blocking`.
pub fn run_blocking(
    runtime: &Runtime,
    sources: &Sources,
    handle: &tokio::runtime::Handle,
    request: RunRequest,
    sink: &mut dyn Sink,
    mut progress: impl FnMut(Progress),
) -> RunReport {
    let started = Instant::now();
    let mut report = RunReport {
        result: Ok(()),
        query: None,
        fields: Vec::new(),
        stats: RunStats::default(),
        logs: Vec::new(),
        truncated: false,
        preview: None,
        steps: Vec::new(),
    };
    if let Some(choice) = &request.plugin {
        report.stats.load_ms = ms(choice.load.compile);
        report.stats.load_from_cache = choice.load.from_cache;
    }
    let notes: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let mut pipeline = Pipeline {
        request: &request,
        report: &mut report,
        plugin: None,
        sink,
        started: false,
        notes: Arc::clone(&notes),
        narrow: false,
        partition_logs: Vec::new(),
        steps: Vec::new(),
    };
    let result = pipeline.run(runtime, sources, handle, &mut progress);
    let mut logs = pipeline.plugin.as_mut().map(|run| run.take_logs());
    if let Some(logs) = &mut logs {
        logs.append(&mut pipeline.partition_logs);
    }
    // A later step's lines say which step wrote them.
    for (i, step) in pipeline.steps.iter_mut().enumerate() {
        logs.get_or_insert_default()
            .extend(step.take_logs().into_iter().map(|line| LogLine {
                message: format!("step {}: {}", i + 2, line.message),
                ..line
            }));
    }
    let notes = std::mem::take(&mut *notes.lock().unwrap_or_else(|e| e.into_inner()));
    report.logs = notes
        .into_iter()
        .map(|message| LogLine {
            level: LogLevel::Warn,
            message,
        })
        .collect();
    report.logs.extend(logs.unwrap_or_default());
    report.result = result;
    report.stats.total_ms = ms(started.elapsed());
    log(&request, &report);
    report
}

/// One line for every run, at its end: what ran, how much, how long, and how it ended. The
/// server wraps it in a span with the run's id. Both outcomes are `info`: a failed run is
/// most often the user's mistake, which the command line and the API already report.
fn log(request: &RunRequest, report: &RunReport) {
    let plugin = request
        .plugin
        .as_ref()
        .map_or("-", |choice| choice.plugin.sha256.as_str());
    let stats = &report.stats;
    match &report.result {
        Ok(()) => tracing::info!(
            source = %request.source,
            plugin,
            rows_in = stats.rows_in,
            rows_out = stats.rows_out,
            ms = stats.total_ms.round(),
            "run finished"
        ),
        Err(e) => tracing::info!(
            source = %request.source,
            plugin,
            rows_in = stats.rows_in,
            rows_out = stats.rows_out,
            ms = stats.total_ms.round(),
            error = %e,
            "run failed"
        ),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Refuses params that are not a JSON object.
fn check_params(request: &RunRequest) -> Result<(), RunError> {
    let params: serde_json::Value =
        serde_json::from_str(&request.params).map_err(|e| RunError::Params(e.to_string()))?;
    if !params.is_object() {
        return Err(RunError::Params(format!("got {}", json_kind(&params))));
    }
    Ok(())
}

/// Starts `request`'s plugin, if it has one, in `slot` (where its log stays when it
/// fails), and returns the query the run sends: the plugin's, else the request's text.
fn start_plugin(
    runtime: &Runtime,
    request: &RunRequest,
    source: &dyn quarry_sources::Source,
    slot: &mut Option<quarry_runtime::PluginRun>,
    stats: &mut RunStats,
) -> Result<Query, RunError> {
    let mut plugin_query = None;
    if let Some(choice) = &request.plugin {
        let started = Instant::now();
        let run =
            slot.insert(runtime.start(&choice.plugin, &request.limits, request.cancel.clone())?);
        stats.instantiate_ms = ms(started.elapsed());
        run.init(
            source.name(),
            source.backend(),
            &choice.plugin.init_params(&request.params),
        )?;
        if choice.plugin.info.builds_query {
            plugin_query = run.build_query()?;
        }
    }
    match (plugin_query, &request.query) {
        (Some(query), _) => Ok(query),
        (None, Some(text)) => Ok(source.parse_query(text)?),
        (None, None) => Err(RunError::NoQuery),
    }
}

/// What [`explain_blocking`] answers.
#[derive(Debug)]
pub struct Explained {
    /// The query the run would send, or the error that stopped it before the plan.
    pub result: Result<(Query, Plan), RunError>,
    /// The plugin's log lines, from `init` and `build-query`.
    pub logs: Vec<LogLine>,
}

/// The query `request` would send and the database's plan for it, without reading its
/// rows: a plugin that builds the query is asked for it, and nothing is transformed.
/// Blocks the calling thread, as [`run_blocking`] does.
pub fn explain_blocking(
    runtime: &Runtime,
    sources: &Sources,
    handle: &tokio::runtime::Handle,
    request: &RunRequest,
) -> Explained {
    let mut plugin = None;
    let mut stats = RunStats::default();
    let result = (|| {
        check_params(request)?;
        let source = sources.get(&request.source)?;
        let query = start_plugin(runtime, request, source.as_ref(), &mut plugin, &mut stats)?;
        let timeout = request.timeout;
        let plan = handle
            .block_on(async {
                tokio::time::timeout(timeout, source.explain(&query, timeout)).await
            })
            .map_err(|_| SourceError::Timeout {
                source_name: request.source.clone(),
                timeout,
            })??;
        Ok((query, plan))
    })();
    Explained {
        result,
        logs: plugin.map(|mut run| run.take_logs()).unwrap_or_default(),
    }
}

struct Pipeline<'a> {
    request: &'a RunRequest,
    report: &'a mut RunReport,
    plugin: Option<quarry_runtime::PluginRun>,
    sink: &'a mut dyn Sink,
    /// The output's columns are fixed and announced to the sink.
    started: bool,
    /// Warnings from the source, for the run's log.
    notes: Arc<std::sync::Mutex<Vec<String>>>,
    /// The sink refused to add columns: later columns are cut off.
    narrow: bool,
    /// The log lines of the plugin instances of partitions after the first.
    partition_logs: Vec<LogLine>,
    /// The instances of a pipeline's steps after the first.
    steps: Vec<quarry_runtime::PluginRun>,
}

impl Pipeline<'_> {
    fn run(
        &mut self,
        runtime: &Runtime,
        sources: &Sources,
        handle: &tokio::runtime::Handle,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), RunError> {
        let request = self.request;
        check_params(request)?;
        let source = sources.get(&request.source)?;
        let query = start_plugin(
            runtime,
            request,
            source.as_ref(),
            &mut self.plugin,
            &mut self.report.stats,
        )?;
        self.start_steps(runtime, source.as_ref())?;
        let transforms = request
            .plugin
            .as_ref()
            .is_some_and(|choice| choice.plugin.info.transforms)
            || !self.steps.is_empty();
        self.report.query = Some(query.clone());

        // Without a plugin that transforms, the row limit can stop the database early; one
        // row more than the limit tells whether the output was cut.
        let max_rows = if transforms {
            None
        } else {
            request.limit.map(|n| n.saturating_add(1))
        };
        let options = StreamOptions {
            batch_rows: request
                .batch_rows
                .clamp(1, request.limits.batch_rows as usize),
            max_rows,
            timeout: request.timeout,
            cancel: request.cancel.clone(),
            notes: self.notes.clone(),
        };
        self.report.stats.streams = 1;
        if let Some(parts) = self.partitions(&source, &query, transforms, handle)? {
            return self.run_parallel(
                runtime, handle, &source, parts, &options, transforms, progress,
            );
        }
        let (tx, mut rx) = mpsc::channel::<Batch>(4);
        let streaming = handle.spawn(stream(source, query, options, tx));

        let mut result = self.pump(&mut rx, transforms, progress);
        drop(rx); // stops the source if the pump ended early
        let source_result = handle.block_on(streaming).unwrap_or_else(|e| {
            Err(SourceError::Query {
                source_name: request.source.clone(),
                message: e.to_string(),
            })
        });
        if request.cancel.load(Ordering::Relaxed) {
            return result.and(Err(RunError::Source(SourceError::Cancelled)));
        }
        result = result.and(source_result.map_err(RunError::from));
        result?;

        if self.report.truncated {
            return self.finish_output();
        }
        if let Some(run) = &mut self.plugin {
            let started = Instant::now();
            let tail = run.finish();
            self.report.stats.transform_ms += ms(started.elapsed());
            if let Some(batch) = tail? {
                let batch = self.through(batch, 0)?;
                self.emit(batch, Export::Finish)?;
            }
        }
        // Each later step finishes after the steps before it, its rows going through
        // the steps after it.
        for i in 0..self.steps.len() {
            if self.report.truncated {
                break;
            }
            let started = Instant::now();
            let tail = self.steps[i].finish();
            self.report.stats.transform_ms += ms(started.elapsed());
            if let Some(batch) = tail? {
                let batch = self.through(batch, i + 1)?;
                self.emit(batch, Export::Finish)?;
            }
        }
        self.finish_output()
    }

    /// Starts the pipeline's steps after the first, each initialised with its params;
    /// each must transform rows.
    fn start_steps(
        &mut self,
        runtime: &Runtime,
        source: &dyn quarry_sources::Source,
    ) -> Result<(), RunError> {
        let request = self.request;
        if request.then.is_empty() {
            return Ok(());
        }
        let Some(first) = &request.plugin else {
            return Err(RunError::Pipeline(
                "a pipeline's later steps follow a first plugin".into(),
            ));
        };
        self.report.steps.push(StepReport {
            name: first.plugin.info.name.clone(),
            ..StepReport::default()
        });
        for (i, step) in request.then.iter().enumerate() {
            let info = &step.plugin.plugin.info;
            if !info.transforms {
                return Err(RunError::Pipeline(format!(
                    "step {} (`{}`) does not transform rows: only a pipeline's first step may just build the query",
                    i + 2,
                    info.name
                )));
            }
            let params: serde_json::Value = serde_json::from_str(&step.params)
                .map_err(|e| RunError::Params(format!("step {}: {e}", i + 2)))?;
            if !params.is_object() {
                return Err(RunError::Params(format!(
                    "step {}: got {}",
                    i + 2,
                    json_kind(&params)
                )));
            }
            let run =
                runtime.start(&step.plugin.plugin, &request.limits, request.cancel.clone())?;
            // Kept before `init`, so that its log survives a failing `init`.
            let run = {
                self.steps.push(run);
                self.steps.last_mut().expect("pushed above")
            };
            run.init(
                source.name(),
                source.backend(),
                &step.plugin.plugin.init_params(&step.params),
            )?;
            self.report.steps.push(StepReport {
                name: info.name.clone(),
                ..StepReport::default()
            });
        }
        Ok(())
    }

    /// Sends `batch`, the output of step `from` (0: the first plugin), through the
    /// pipeline's later steps, counting what each gives.
    fn through(&mut self, mut batch: Batch, from: usize) -> Result<Batch, RunError> {
        self.count_step(from, &batch);
        for i in from..self.steps.len() {
            let started = Instant::now();
            let output = self.steps[i].transform(batch);
            self.report.stats.transform_ms += ms(started.elapsed());
            batch = output?;
            self.count_step(i + 1, &batch);
        }
        Ok(batch)
    }

    fn count_step(&mut self, step: usize, batch: &Batch) {
        if let Some(report) = self.report.steps.get_mut(step) {
            report.rows_out += batch.num_rows as u64;
            if report.first.is_none() && batch.num_rows > 0 {
                report.first = Some(batch.clone());
            }
        }
    }

    /// The partitions to read at once: when the request allows several streams, the
    /// plugin (if it transforms) may be split, and the source can split the query.
    fn partitions(
        &mut self,
        source: &Arc<dyn Source>,
        query: &Query,
        transforms: bool,
        handle: &tokio::runtime::Handle,
    ) -> Result<Option<Vec<Query>>, RunError> {
        let request = self.request;
        if request.parallel < 2 || request.preview {
            return Ok(None);
        }
        if !request.then.is_empty() {
            if request.partition_by.is_some() {
                self.notes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push("read as one stream: a pipeline of several steps reads one".into());
            }
            return Ok(None);
        }
        let explain = |pipeline: &mut Self, why: String| {
            // Said when the user named a partition column; otherwise one stream is the norm.
            if request.partition_by.is_some() {
                pipeline
                    .notes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("read as one stream: {why}"));
            }
        };
        let merges = transforms
            && request
                .plugin
                .as_ref()
                .is_some_and(|c| c.plugin.info.merges);
        if request.limit.is_some() && !merges {
            // Rows up to a limit: the first rows of one stream, which stops early.
            explain(
                self,
                "a row limit reads the first rows of one stream".into(),
            );
            return Ok(None);
        }
        if let Some(choice) = &request.plugin {
            let info = &choice.plugin.info;
            if transforms && !info.stateless && !info.merges {
                explain(self, "the plugin keeps state between batches (it declares neither a stateless transform nor merge)".into());
                return Ok(None);
            }
        }
        let split = handle.block_on(source.split(
            query,
            request.parallel,
            request.partition_by.as_deref(),
        ))?;
        match split {
            Split::Parts(parts) if parts.len() > 1 => Ok(Some(parts)),
            Split::Parts(_) => Ok(None),
            Split::Whole(why) => {
                explain(self, why);
                Ok(None)
            }
        }
    }

    /// Reads every partition at once, each through its own plugin instance, then
    /// finishes: a merging plugin's first instance merges the others' partial states and
    /// answers; a stateless plugin's instances each finish.
    #[allow(clippy::too_many_arguments)]
    fn run_parallel(
        &mut self,
        runtime: &Runtime,
        handle: &tokio::runtime::Handle,
        source: &Arc<dyn Source>,
        parts: Vec<Query>,
        options: &StreamOptions,
        transforms: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), RunError> {
        let request = self.request;
        self.report.stats.streams = parts.len();
        let mut instances = Vec::new();
        if let (true, Some(choice), Some(first)) = (transforms, &request.plugin, self.plugin.take())
        {
            instances.push(first);
            let params = choice.plugin.init_params(&request.params);
            for _ in 1..parts.len() {
                let started = Instant::now();
                let mut run =
                    runtime.start(&choice.plugin, &request.limits, request.cancel.clone())?;
                self.report.stats.instantiate_ms += ms(started.elapsed());
                run.init(source.name(), source.backend(), &params)?;
                instances.push(run);
            }
        }
        let (finished, result) =
            parallel::run(handle, source, parts, options, instances, |delivery| {
                self.report.stats.rows_in += delivery.rows_in;
                self.report.stats.transform_ms += ms(delivery.transform);
                if !self.started && !transforms {
                    self.start_output(&delivery.batch)?;
                }
                self.emit(delivery.batch, Export::Transform)?;
                progress(Progress {
                    rows_in: self.report.stats.rows_in,
                    rows_out: self.report.stats.rows_out,
                });
                Ok::<_, RunError>(!self.report.truncated)
            });
        self.report.stats.query_ms += ms(finished.waited);
        let mut instances = finished.instances.into_iter();
        if transforms {
            self.plugin = instances.next();
        }
        let mut others: Vec<PluginRun> = instances.collect();
        let outcome = (|| {
            if request.cancel.load(Ordering::Relaxed) {
                return result.and(Err(RunError::Source(SourceError::Cancelled)));
            }
            result?;
            if self.report.truncated {
                return self.finish_output();
            }
            let started = Instant::now();
            let mut tails = Vec::new();
            let merges = request
                .plugin
                .as_ref()
                .is_some_and(|c| c.plugin.info.merges);
            if let Some(first) = &mut self.plugin {
                if merges {
                    let partials = others
                        .iter_mut()
                        .map(PluginRun::partial)
                        .collect::<Result<_, _>>()?;
                    first.merge(partials)?;
                    tails.push(first.finish()?);
                } else {
                    tails.push(first.finish()?);
                    for other in &mut others {
                        tails.push(other.finish()?);
                    }
                }
            }
            self.report.stats.transform_ms += ms(started.elapsed());
            for tail in tails.into_iter().flatten() {
                self.emit(tail, Export::Finish)?;
            }
            self.finish_output()
        })();
        for other in &mut others {
            self.partition_logs.append(&mut other.take_logs());
        }
        outcome
    }

    /// Moves batches from the source through the plugin to the sink until the source ends
    /// or the row limit is reached.
    fn pump(
        &mut self,
        rx: &mut mpsc::Receiver<Batch>,
        transforms: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), RunError> {
        loop {
            let waited = Instant::now();
            let Some(batch) = rx.blocking_recv() else {
                return Ok(());
            };
            self.report.stats.query_ms += ms(waited.elapsed());
            self.report.stats.rows_in += batch.num_rows as u64;
            if self.request.preview && self.report.preview.is_none() {
                self.report.preview = Some(batch.clone());
            }
            if !self.started && !transforms {
                self.start_output(&batch)?;
            }
            let first_transforms = self
                .request
                .plugin
                .as_ref()
                .is_some_and(|c| c.plugin.info.transforms);
            let output = match (&mut self.plugin, first_transforms) {
                (Some(run), true) => {
                    let started = Instant::now();
                    let output = run.transform(batch);
                    self.report.stats.transform_ms += ms(started.elapsed());
                    output?
                }
                _ => batch,
            };
            let output = self.through(output, 0)?;
            self.emit(output, Export::Transform)?;
            progress(Progress {
                rows_in: self.report.stats.rows_in,
                rows_out: self.report.stats.rows_out,
            });
            if self.report.truncated {
                return Ok(());
            }
        }
    }

    fn start_output(&mut self, batch: &Batch) -> Result<(), RunError> {
        self.started = true;
        self.report.fields = batch.fields();
        self.sink.start(&self.report.fields)?;
        Ok(())
    }

    /// Writes one output batch, holding the columns steady and the row limit.
    fn emit(&mut self, mut batch: Batch, export: Export) -> Result<(), RunError> {
        // No rows: nothing to write, and once the output has begun no columns to check
        // (an edit of an empty batch has only the input's).
        if batch.num_rows == 0 && (self.started || batch.columns.is_empty()) {
            return Ok(());
        }
        if !self.started {
            self.start_output(&batch)?;
        } else if batch.fields() != self.report.fields {
            self.fit_columns(&mut batch, export)?;
        }
        if let Some(limit) = self.request.limit {
            let room = limit.saturating_sub(self.report.stats.rows_out) as usize;
            if batch.num_rows > room {
                batch.truncate(room);
                self.report.truncated = true;
            }
        }
        self.report.stats.rows_out += batch.num_rows as u64;
        if batch.num_rows > 0 {
            self.sink.batch(&batch)?;
            if self.sink.is_full() {
                self.report.truncated = true;
            }
        }
        Ok(())
    }

    /// Takes a batch whose columns differ from the output's: columns added at the end widen
    /// the output (or are cut off when the sink cannot widen); any other change is an error.
    /// Partitions read at once may meet a document source's fields in another order, or
    /// miss some: their batches are fitted to the output's columns by name first.
    fn fit_columns(&mut self, batch: &mut Batch, export: Export) -> Result<(), RunError> {
        if self.report.stats.streams > 1
            && let Some(fitted) = by_name(batch, &self.report.fields)
        {
            *batch = fitted;
            if batch.fields() == self.report.fields {
                return Ok(());
            }
        }
        let fields = batch.fields();
        let known = self.report.fields.len();
        if fields.len() <= known || fields[..known] != self.report.fields[..] {
            let describe = |fields: &[Field]| {
                fields
                    .iter()
                    .map(|f| format!("{} {}", f.name, f.data_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let plugin = self.request.plugin.as_ref().map(|c| c.plugin.id.clone());
            return Err(RunError::Plugin(PluginError::SchemaChanged {
                plugin: plugin.unwrap_or(quarry_runtime::PluginId("source".into())),
                export,
                before: describe(&self.report.fields),
                after: describe(&fields),
            }));
        }
        if !self.narrow && self.sink.widen(&fields)? {
            self.report.fields = fields;
            return Ok(());
        }
        if !self.narrow {
            self.narrow = true;
            let added: Vec<&str> = fields[known..].iter().map(|f| f.name.as_str()).collect();
            self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
                "column(s) {} appeared after the output began, and this output format cannot add columns: they are left out (use JSON or NDJSON, or name the fields in the query)",
                added.join(", ")
            ));
        }
        batch.columns.truncate(known);
        Ok(())
    }

    fn finish_output(&mut self) -> Result<(), RunError> {
        if !self.started {
            self.sink.start(&[])?;
        }
        self.sink.finish()?;
        Ok(())
    }
}

/// `batch` with the columns of `fields` first, in that order (null where the batch lacks
/// one), then its other columns; `None` when a column of the same name has another type.
fn by_name(batch: &Batch, fields: &[Field]) -> Option<Batch> {
    let mut columns = Vec::with_capacity(fields.len().max(batch.columns.len()));
    for field in fields {
        match batch.columns.iter().find(|c| c.name == field.name) {
            Some(column) if column.data_type == field.data_type => columns.push(column.clone()),
            Some(_) => return None,
            None => {
                let mut nulls =
                    ColumnBuilder::new(field.name.clone(), field.data_type, batch.num_rows);
                (0..batch.num_rows).for_each(|_| nulls.push_null());
                columns.push(nulls.finish());
            }
        }
    }
    let added = batch
        .columns
        .iter()
        .filter(|c| !fields.iter().any(|f| f.name == c.name));
    columns.extend(added.cloned());
    Some(Batch {
        num_rows: batch.num_rows,
        columns,
    })
}

async fn stream(
    source: Arc<dyn Source>,
    query: Query,
    options: StreamOptions,
    tx: mpsc::Sender<Batch>,
) -> Result<(), SourceError> {
    source.stream(query, options, tx).await
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
