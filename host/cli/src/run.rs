//! `quarry run`: a query through an optional plugin or script, printed as a table, JSON,
//! NDJSON or CSV; with several `--source`s, compare mode.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use quarry_engine::compare::{Collected, first_difference};
use quarry_engine::output::{self, Format};
use quarry_engine::run::{
    Progress, RunDefaults, RunError, RunReport, RunRequest, Sink, Step, default_parallel,
    explain_blocking, run_blocking,
};
use quarry_runtime::{Limits, PluginError, Runtime};
use quarry_sources::config::Config;
use quarry_sources::{DEMO, demo};

use crate::shared::{LimitArgs, format_parser, load_plugin, load_script, read_params, runtime};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plugin (.wasm component) to run; without it the query's rows are printed as they
    /// come. Give it more than once for a pipeline: the first may build the query, and each
    /// transforms the rows of the one before.
    #[arg(long)]
    pub plugin: Vec<PathBuf>,
    /// A JavaScript script (a .js file defining transform(rows) or
    /// transformColumns(columns, length), buildQuery(source, params) and/or finish()) to
    /// run instead of a plugin.
    #[arg(long, conflicts_with = "plugin")]
    pub script: Option<PathBuf>,
    /// The script runner for --script [default: $QUARRY_SCRIPT_RUNNER, else the one
    /// `cargo plugins` built beside this executable].
    #[arg(long)]
    pub script_runner: Option<PathBuf>,
    /// The plugin's params: a JSON object, or @FILE to read it from a file. In a pipeline,
    /// the first --params is the first plugin's, the second the second's, and so on (a
    /// plugin without one gets `{}`).
    #[arg(long)]
    pub params: Vec<String>,
    /// The source to query: `demo` (the embedded database), a configured source, or
    /// `sqlite:PATH`. Give it more than once to compare the outputs of several sources.
    #[arg(long, default_value = DEMO)]
    pub source: Vec<String>,
    /// The query (SQL for SQLite), used when the plugin does not build one. When comparing,
    /// give it once for every source, or once per --source, in the same order, when the
    /// sources speak different dialects (SQL, CQL, Mongo JSON).
    #[arg(long)]
    pub query: Vec<String>,
    #[arg(long, default_value = "table", value_parser = format_parser())]
    pub format: Format,
    /// Stop after this many output rows.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Rows per batch from the database to the plugin [default: the source's, or 1024].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The longest the database may spend on the query, in seconds [default: the source's, or 30].
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Read up to N partitions of the query at once, each its own stream (and plugin
    /// instance), where that gives the same rows: a single-table scan without ORDER BY,
    /// LIMIT or aggregates, and a plugin with a stateless transform or a merge. Rows then
    /// come in no particular order. [default: the machine's cores; 1 when comparing]
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// The column whose value ranges partition a SQL query for --parallel (it must hold
    /// integers) [default on SQLite: the rowid; PostgreSQL and CockroachDB need one]; for
    /// MongoDB, `_id` (the default, except on FerretDB, which reads every document per range).
    #[arg(long, value_name = "COLUMN")]
    pub partition_by: Option<String>,
    /// Print the database's plan for the query instead of running it: EXPLAIN QUERY PLAN
    /// (SQLite), EXPLAIN (FORMAT JSON) (PostgreSQL), a traced first page (CQL), explain
    /// (MongoDB). A plugin that builds the query is asked for it; nothing is transformed.
    /// With --format json, the query and the plan as JSON.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub(crate) fn run(
    data_dir: &Path,
    config: &Config,
    args: RunArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let steps = args.plugin.len().max(1);
    if args.params.len() > steps {
        bail!(
            "--params was given {} times for {steps} plugin(s): give it at most once per --plugin, in the same order",
            args.params.len()
        );
    }
    let mut params = args
        .params
        .iter()
        .map(|p| read_params(p))
        .collect::<anyhow::Result<Vec<String>>>()?;
    params.resize(steps, "{}".to_owned());
    let limits = args.limits.apply(Limits::default())?;
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let runtime = Arc::new(runtime(data_dir, &limits)?);
    let mut plugins = args
        .plugin
        .iter()
        .map(|path| load_plugin(&runtime, path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let plugin = match (plugins.is_empty(), &args.script) {
        (false, _) => Some(plugins.remove(0)),
        (true, Some(path)) => Some(load_script(&runtime, path, args.script_runner.as_deref())?),
        (true, None) => None,
    };
    let then: Vec<Step> = plugins
        .into_iter()
        .zip(params.iter().skip(1))
        .map(|(plugin, params)| Step {
            plugin,
            params: params.clone(),
        })
        .collect();
    let params = params.swap_remove(0);
    if args.source.iter().any(|s| s == DEMO) && !demo::is_built(data_dir) {
        eprintln!(
            "Building the demo database in {} (first run only)…",
            data_dir.display()
        );
    }
    let queries: Vec<Option<String>> = match args.query.len() {
        0 => vec![None; args.source.len()],
        1 => vec![args.query.first().cloned(); args.source.len()],
        n if n == args.source.len() => args.query.iter().cloned().map(Some).collect(),
        n => bail!(
            "--query was given {n} times for {} sources: give it once for all, or once per --source in the same order",
            args.source.len()
        ),
    };
    let mut requests = Vec::new();
    if args.parallel == Some(0) {
        bail!("--parallel must be at least 1");
    }
    // Compared outputs are matched row by row: one stream per source keeps their order.
    let comparing = args.source.len() > 1;
    let parallel = args
        .parallel
        .unwrap_or(if comparing { 1 } else { default_parallel() });
    for (source, query) in args.source.iter().zip(queries) {
        let defaults = RunDefaults::of(&sources, source);
        let batch_rows = args.batch_size.unwrap_or(defaults.batch_rows);
        if batch_rows == 0 {
            bail!("--batch-size must be at least 1");
        }
        let timeout = match args.timeout {
            Some(secs) => {
                Duration::try_from_secs_f64(secs).context("--timeout must be a positive number")?
            }
            None => defaults.timeout,
        };
        requests.push(RunRequest {
            plugin: plugin.clone(),
            params: params.clone(),
            query,
            limit: args.limit,
            batch_rows,
            limits: limits.clone(),
            timeout,
            parallel,
            partition_by: args.partition_by.clone(),
            then: then.clone(),
            ..RunRequest::new(source.clone())
        });
    }
    let session = Session {
        runtime,
        sources,
        handle: tokio.handle().clone(),
    };
    if args.explain {
        if requests.len() > 1 {
            bail!("--explain takes one --source");
        }
        return explain(&session, &requests[0], args.format);
    }
    if requests.len() > 1 {
        return compare(&session, requests);
    }
    let request = requests.remove(0);
    let mut sink = output::sink(args.format, BufWriter::new(std::io::stdout()));
    let report = session.run(request, sink.as_mut(), std::io::stderr().is_terminal());
    finish(report)
}

/// `--explain`: the query and its plan, as an indented tree or (`--format json`) JSON.
fn explain(session: &Session, request: &RunRequest, format: Format) -> anyhow::Result<ExitCode> {
    let explained = std::thread::scope(|s| {
        s.spawn(|| explain_blocking(&session.runtime, &session.sources, &session.handle, request))
            .join()
            .expect("an explain does not panic")
    });
    for line in &explained.logs {
        eprintln!("[{}] {}", line.level, line.message);
    }
    let (query, plan) = match explained.result {
        Ok(explained) => explained,
        Err(e) => bail!("{e}"),
    };
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({"query": query, "plan": plan}))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{}", query.text())?;
    writeln!(out, "\n{}:", plan.method)?;
    fn tree(
        out: &mut dyn Write,
        nodes: &[quarry_sources::explain::PlanNode],
        depth: usize,
    ) -> std::io::Result<()> {
        for node in nodes {
            writeln!(out, "{}{}", "  ".repeat(depth + 1), node.label)?;
            tree(out, &node.children, depth + 1)?;
        }
        Ok(())
    }
    tree(&mut out, &plan.tree, 0)?;
    Ok(ExitCode::SUCCESS)
}

/// What every run of one command shares.
pub(crate) struct Session {
    runtime: Arc<Runtime>,
    sources: quarry_sources::Sources,
    handle: tokio::runtime::Handle,
}

impl Session {
    /// Runs one request on a thread of its own (the plugin side blocks) while the async
    /// runtime serves the source.
    fn run(&self, request: RunRequest, sink: &mut dyn Sink, show_progress: bool) -> RunReport {
        let mut meter = ProgressMeter::new(show_progress);
        std::thread::scope(|s| {
            s.spawn(|| {
                let report = run_blocking(
                    &self.runtime,
                    &self.sources,
                    &self.handle,
                    request,
                    sink,
                    |p| meter.show(p),
                );
                meter.clear();
                report
            })
            .join()
            .expect("a run does not panic")
        })
    }
}

/// Prints a run's log and truncation notice, and turns its result into an exit code.
pub(crate) fn finish(report: RunReport) -> anyhow::Result<ExitCode> {
    for line in &report.logs {
        eprintln!("[{}] {}", line.level, line.message);
    }
    match report.result {
        Ok(()) => {
            if report.truncated {
                eprintln!(
                    "Output truncated at {} rows (--limit).",
                    report.stats.rows_out
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(RunError::Plugin(PluginError::Trap {
            plugin,
            export,
            message,
            backtrace,
        })) => {
            eprintln!("error: plugin {plugin} trapped in {export}: {message}");
            if !backtrace.is_empty() {
                eprintln!("{backtrace}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// Compare mode: runs every request, then reports whether each output matches the first.
pub(crate) fn compare(session: &Session, requests: Vec<RunRequest>) -> anyhow::Result<ExitCode> {
    let mut outputs = Vec::new();
    for request in requests {
        let name = request.source.clone();
        let mut collected = Collected::default();
        let report = session.run(request, &mut collected, false);
        for line in &report.logs {
            eprintln!("[{name}] [{}] {}", line.level, line.message);
        }
        report
            .result
            .with_context(|| format!("the run on `{name}` failed"))?;
        println!(
            "{name}: {} rows in {:.1} ms",
            collected.rows(),
            report.stats.total_ms
        );
        outputs.push((name, collected));
    }
    let (first, rest) = outputs.split_first().expect("two or more sources");
    let mut all_match = true;
    for (name, output) in rest {
        match first_difference(&first.1, output) {
            None => println!("{} and {name}: the outputs match", first.0),
            Some(difference) => {
                all_match = false;
                println!(
                    "{} and {name} differ; first difference: {difference}",
                    first.0
                );
            }
        }
    }
    Ok(if all_match {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A live row counter on stderr, when stderr is a terminal and the run is long.
pub(crate) struct ProgressMeter {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
}

impl ProgressMeter {
    fn new(enabled: bool) -> Self {
        ProgressMeter {
            enabled,
            started: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, p: Progress) {
        let now = Instant::now();
        if !self.enabled
            || now - self.started < Duration::from_millis(500)
            || self
                .last
                .is_some_and(|t| now - t < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(now);
        let rate = p.rows_in as f64 / (now - self.started).as_secs_f64();
        eprint!(
            "\r\x1b[K{} rows read, {} out, {:.0} rows/s",
            p.rows_in, p.rows_out, rate
        );
        let _ = std::io::stderr().flush();
    }

    fn clear(&self) {
        if self.last.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}
