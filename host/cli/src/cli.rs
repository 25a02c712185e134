//! The `quarry` command line: argument definitions and the commands behind them.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

use clap::builder::TypedValueParser as _;
use quarry_core::size::parse as parse_bytes;
use quarry_engine::compare::{Collected, first_difference};
use quarry_engine::output::{self, Format};
use quarry_engine::run::{
    PluginChoice, Progress, RunDefaults, RunError, RunReport, RunRequest, Sink, run_blocking,
};
use quarry_runtime::{Limits, PluginError, Runtime, script};
use quarry_sources::config::Config;
use quarry_sources::{DEMO, demo};

#[derive(Parser, Debug)]
#[command(
    name = "quarry",
    version,
    about = "Run sandboxed WebAssembly plugins over your databases."
)]
pub struct Cli {
    /// Where Quarry keeps its data: the demo database and compiled plugins.
    #[arg(
        long,
        env = "QUARRY_DATA",
        default_value = "quarry-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// The sources file; without it, ./quarry.toml is read when it exists.
    #[arg(long, env = "QUARRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// What to log on stderr: a level (error, warn, info, debug, trace) or a RUST_LOG-style
    /// filter [default: $RUST_LOG, else info for `serve` and warn for the other commands].
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// How log lines are written.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a query, optionally through a plugin, and print the rows.
    Run(RunArgs),
    /// Work with plugin files.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// List the sources and check that each one answers.
    Sources,
    /// Measure throughput and plugin lifecycle costs, on the demo data or your own.
    Bench(quarry_bench::BenchArgs),
    /// Serve the playground page and its JSON API.
    Serve(ServeArgs),
    /// Copy the demo data (nycflights13) into configured server sources. This writes to
    /// the database: each table is dropped and loaded again unless it already holds the
    /// demo's rows.
    Seed(SeedArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// The largest plugin upload, e.g. 16MiB.
    #[arg(long, value_parser = parse_bytes, default_value = "16MiB")]
    pub max_upload: u64,
    /// Runs (and plugin compilations) in progress at once [default: two per core].
    #[arg(long)]
    pub max_runs: Option<usize>,
    /// Runs that may wait for a slot; beyond this a run is answered 503 busy.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Add this .wasm plugin, or every .wasm plugin in this directory, to the library when
    /// starting; repeatable (QUARRY_PLUGINS takes a `:`-separated list).
    #[arg(long, env = "QUARRY_PLUGINS", value_delimiter = ':')]
    pub plugins: Vec<PathBuf>,
    /// The script runner (script_runner.wasm) that runs JavaScript scripts [default:
    /// $QUARRY_SCRIPT_RUNNER, else the one `cargo plugins` built beside this executable].
    #[arg(long)]
    pub script_runner: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// A configured server source to seed; give it more than once for several.
    #[arg(long, required = true)]
    pub source: Vec<String>,
    /// Seed only this table (airlines, airports, planes, weather, flights); repeatable.
    #[arg(long)]
    pub table: Vec<String>,
    /// At most this many rows per table, for a quick try.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Show what a plugin says about itself, its size, SHA-256 and imports.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a plugin project (Rust, TypeScript or Python) that builds with one command.
    New(crate::scaffold::NewArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plugin (.wasm component) to run; without it the query's rows are printed as they come.
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// A JavaScript script (a .js file defining transform(rows) or
    /// transformColumns(columns, length), buildQuery(source, params) and/or finish()) to
    /// run instead of a plugin.
    #[arg(long, conflicts_with = "plugin")]
    pub script: Option<PathBuf>,
    /// The script runner for --script [default: $QUARRY_SCRIPT_RUNNER, else the one
    /// `cargo plugins` built beside this executable].
    #[arg(long)]
    pub script_runner: Option<PathBuf>,
    /// The plugin's params: a JSON object, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    pub params: String,
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
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Per-run plugin limits; each defaults to a safe value.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Memory a plugin may use, e.g. 64MiB.
    #[arg(long, value_parser = parse_bytes)]
    pub max_memory: Option<u64>,
    /// Plugin CPU time per run, in seconds.
    #[arg(long)]
    pub max_cpu_time: Option<f64>,
    /// Rows a run may output.
    #[arg(long)]
    pub max_output_rows: Option<u64>,
    /// Bytes a run may output, e.g. 1GiB.
    #[arg(long, value_parser = parse_bytes)]
    pub max_output_bytes: Option<u64>,
    /// Bytes of plugin log a run may write, e.g. 1MiB.
    #[arg(long, value_parser = parse_bytes)]
    pub max_log_bytes: Option<u64>,
}

impl LimitArgs {
    pub fn apply(&self, mut limits: Limits) -> anyhow::Result<Limits> {
        if let Some(m) = self.max_memory {
            limits.memory_bytes = m;
        }
        if let Some(secs) = self.max_cpu_time {
            limits.cpu_time = Duration::try_from_secs_f64(secs)
                .context("--max-cpu-time must be a positive number")?;
        }
        if let Some(n) = self.max_output_rows {
            limits.output_rows = n;
        }
        if let Some(b) = self.max_output_bytes {
            limits.output_bytes = b;
        }
        if let Some(b) = self.max_log_bytes {
            limits.log_bytes = b as usize;
        }
        Ok(limits)
    }
}

pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    crate::logging::init(cli.log_level.as_deref(), cli.log_format, default_level)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run(args) => run(&cli.data_dir, &config, args, &tokio),
        Command::Sources => list_sources(&cli.data_dir, &config, &tokio),
        Command::Plugin {
            command: PluginCommand::Inspect { file, json },
        } => inspect(&cli.data_dir, &file, json),
        Command::Plugin {
            command: PluginCommand::New(args),
        } => crate::scaffold::main(args),
        Command::Bench(args) => quarry_bench::main(&cli.data_dir, &config, args, &tokio),
        Command::Seed(args) => seed(&cli.data_dir, &config, args, &tokio),
        Command::Serve(args) => serve(&cli.data_dir, &config, args, &tokio),
    }
}

fn serve(
    data_dir: &Path,
    config: &Config,
    args: ServeArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let limits = args.limits.apply(Limits::default())?;
    let runtime = Arc::new(runtime(data_dir, &limits)?);
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let settings = quarry_server::Settings {
        max_upload: args.max_upload,
        limits,
        max_runs: args
            .max_runs
            .unwrap_or_else(quarry_server::default_max_runs),
        max_queue: args.max_queue,
        ..Default::default()
    };
    let app = quarry_server::App::new(runtime, sources, data_dir, settings)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    match args.script_runner.or_else(script::find_runner) {
        Some(path) => {
            let wasm = std::fs::read(&path)
                .with_context(|| format!("cannot read the script runner {}", path.display()))?;
            app.install_runner(&wasm).map_err(|e| {
                anyhow::anyhow!("the script runner {} was refused: {e}", path.display())
            })?;
        }
        None => eprintln!("warning: {}", script::NO_RUNNER),
    }
    for path in &args.plugins {
        let (added, refused) = app
            .preload(path, say_compiling)
            .with_context(|| format!("cannot read plugins from {}", path.display()))?;
        eprintln!("added {added} plugin(s) from {}", path.display());
        for (path, why) in refused {
            eprintln!("warning: {} was refused: {why}", path.display());
        }
    }
    // The first run should not wait for the demo database to be built.
    quarry_sources::demo::ensure(data_dir)?;
    let app = Arc::new(app);
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        eprintln!("Quarry is serving on http://{}", listener.local_addr()?);
        quarry_server::serve(listener, app, shutdown_signal()).await?;
        eprintln!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl+C, or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    eprintln!("shutting down: finishing the runs in progress…");
}

fn seed(
    data_dir: &Path,
    config: &Config,
    args: SeedArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let targets = args
        .source
        .iter()
        .map(|name| config.seed_target(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let demo = quarry_sources::demo::ensure(data_dir)?;
    let meter = std::io::stderr().is_terminal();
    for (name, target) in args.source.iter().zip(&targets) {
        eprintln!("seeding `{name}` from the demo data…");
        let mut progress = |table: &str, rows: u64| {
            if meter {
                eprint!("\r\x1b[K  {table}: {rows} rows");
            }
        };
        let reports = tokio
            .block_on(quarry_sources::seed::seed(
                target,
                &demo,
                &args.table,
                args.limit,
                &mut progress,
            ))
            .map_err(anyhow::Error::msg)?;
        if meter {
            eprint!("\r\x1b[K");
        }
        for r in reports {
            let done = if r.kept {
                "already there, kept"
            } else {
                "loaded"
            };
            eprintln!("  {:<9} {:>7} rows  {done}", r.table, r.rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The runtime with the compile cache in the data directory.
/// The `--format` parser: the names [`Format::NAMES`] lists.
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    clap::builder::PossibleValuesParser::new(Format::NAMES.map(|(name, _)| name))
        .map(|name| name.parse::<Format>().expect("a listed name"))
}

pub fn runtime(data_dir: &Path, limits: &Limits) -> anyhow::Result<Runtime> {
    Ok(Runtime::in_data_dir(data_dir, limits)?)
}

/// Plugins from this size up take seconds to compile the first time (a TypeScript or
/// Python component: 12–18 MB, about 12 s), so the CLI says so rather than sit silent.
const SLOW_COMPILE_BYTES: usize = 2 << 20;

/// Reads and loads a plugin file, with errors that name the file.
pub fn load_plugin(runtime: &Runtime, path: &Path) -> anyhow::Result<PluginChoice> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))?;
    let (plugin, load) = runtime
        .load_with(&bytes, || say_compiling(path, bytes.len()))
        .with_context(|| format!("{} was refused", path.display()))?;
    Ok(PluginChoice { plugin, load })
}

/// Called before a plugin of `size` bytes is compiled: says so when it takes a while.
fn say_compiling(path: &Path, size: usize) {
    if size >= SLOW_COMPILE_BYTES {
        eprintln!(
            "compiling {} ({}); this happens once, later runs load it from the cache…",
            path.display(),
            quarry_core::size::format(size as u64)
        );
    }
}

/// Reads a script file and makes it a plugin run by the script runner at `runner` (or
/// the one `cargo plugins` built).
pub fn load_script(
    runtime: &Runtime,
    path: &Path,
    runner: Option<&Path>,
) -> anyhow::Result<PluginChoice> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read script {}", path.display()))?;
    let runner = runner
        .map(Path::to_path_buf)
        .or_else(script::find_runner)
        .ok_or_else(|| anyhow::anyhow!(script::NO_RUNNER))?;
    let wasm = std::fs::read(&runner)
        .with_context(|| format!("cannot read the script runner {}", runner.display()))?;
    let (plugin, load) = runtime
        .load(&wasm)
        .with_context(|| format!("the script runner {} was refused", runner.display()))?;
    let name = path
        .file_stem()
        .map_or("script".into(), |s| s.to_string_lossy());
    Ok(PluginChoice {
        plugin: Arc::new(plugin.with_script(&text, &name)),
        load,
    })
}

fn read_params(params: &str) -> anyhow::Result<String> {
    let text = match params.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read params file {path}"))?,
        None => params.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--params is not valid JSON: {e}"))?;
    if !value.is_object() {
        bail!("--params must be a JSON object, like {{\"origin\": \"JFK\"}}");
    }
    Ok(text)
}

fn run(
    data_dir: &Path,
    config: &Config,
    args: RunArgs,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let params = read_params(&args.params)?;
    let limits = args.limits.apply(Limits::default())?;
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let runtime = Arc::new(runtime(data_dir, &limits)?);
    let plugin = match (&args.plugin, &args.script) {
        (Some(path), _) => Some(load_plugin(&runtime, path)?),
        (None, Some(path)) => Some(load_script(&runtime, path, args.script_runner.as_deref())?),
        (None, None) => None,
    };
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
            ..RunRequest::new(source.clone())
        });
    }
    let session = Session {
        runtime,
        sources,
        handle: tokio.handle().clone(),
    };
    if requests.len() > 1 {
        return compare(&session, requests);
    }
    let request = requests.remove(0);
    let mut sink = output::sink(args.format, BufWriter::new(std::io::stdout()));
    let report = session.run(request, sink.as_mut(), std::io::stderr().is_terminal());
    finish(report)
}

/// What every run of one command shares.
struct Session {
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
fn finish(report: RunReport) -> anyhow::Result<ExitCode> {
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
fn compare(session: &Session, requests: Vec<RunRequest>) -> anyhow::Result<ExitCode> {
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
struct ProgressMeter {
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

fn list_sources(
    data_dir: &Path,
    config: &Config,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let sources = config.sources(data_dir).map_err(anyhow::Error::msg)?;
    let mut all_ok = true;
    for source in sources.iter() {
        let check = tokio.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), source.check()).await
        });
        let status = match check {
            Ok(Ok(server)) => format!("ok: {server}"),
            Ok(Err(e)) => {
                all_ok = false;
                format!("FAILED: {e}")
            }
            Err(_) => {
                all_ok = false;
                "FAILED: no answer within 10 s".to_owned()
            }
        };
        println!(
            "{:<12} {:<10} {}\n{:<23} {status}",
            source.name(),
            source.backend().name(),
            source.address(),
            ""
        );
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn inspect(data_dir: &Path, file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = runtime(data_dir, &Limits::default())?;
    let choice = load_plugin(&runtime, file)?;
    let plugin = &choice.plugin;
    if json {
        let out = serde_json::json!({
            "file": file,
            "size": plugin.size,
            "sha256": plugin.sha256,
            "info": plugin.info,
            "imports": plugin.imports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let info = &plugin.info;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}", info.name, info.version)?;
    if !info.description.is_empty() {
        writeln!(out, "{}", info.description)?;
    }
    writeln!(out)?;
    writeln!(out, "file:         {}", file.display())?;
    writeln!(out, "size:         {} bytes", plugin.size)?;
    writeln!(out, "sha256:       {}", plugin.sha256)?;
    writeln!(
        out,
        "builds query: {}",
        if info.builds_query { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "transforms:   {}",
        if info.transforms { "yes" } else { "no" }
    )?;
    match &info.params_schema {
        Some(schema) => {
            let pretty = serde_json::from_str::<serde_json::Value>(schema)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| schema.clone());
            writeln!(out, "params schema:\n{pretty}")?;
        }
        None => writeln!(out, "params:       none")?,
    }
    writeln!(out, "imports:")?;
    for import in &plugin.imports {
        writeln!(out, "  {import}")?;
    }
    Ok(ExitCode::SUCCESS)
}
