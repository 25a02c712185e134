//! The `quarry` command line: the arguments every command shares, the dispatch to one
//! module per command, and what several commands use (limits, loading plugins and scripts).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use quarry_core::size::parse as parse_bytes;
use quarry_engine::output::Format;
use quarry_engine::run::PluginChoice;
use quarry_runtime::{Limits, Runtime, script};
use quarry_sources::config::Config;

use crate::logging::LogFormat;
use crate::plugin::{PluginCommand, inspect};
use crate::run::{RunArgs, run};
use crate::seed::{SeedArgs, seed};
use crate::serve::{ServeArgs, serve};
use crate::sources::list_sources;

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
    /// Manage who may use `quarry serve --auth token`: users, roles and tokens.
    Users {
        #[command(subcommand)]
        command: crate::users::UsersCommand,
    },
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

pub(crate) fn main(cli: Cli) -> anyhow::Result<ExitCode> {
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
        Command::Bench(args) => Ok(quarry_bench::main(&cli.data_dir, &config, args, &tokio)?),
        Command::Seed(args) => seed(&cli.data_dir, &config, args, &tokio),
        Command::Serve(args) => serve(&cli.data_dir, &config, args, &tokio),
        Command::Users { command } => crate::users::users(&cli.data_dir, command),
    }
}

/// The `--format` parser: the names [`Format::NAMES`] lists.
pub(crate) fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    clap::builder::PossibleValuesParser::new(Format::NAMES.map(|(name, _)| name))
        .map(|name| name.parse::<Format>().expect("a listed name"))
}

/// The runtime with the compile cache in the data directory.
pub(crate) fn runtime(data_dir: &Path, limits: &Limits) -> anyhow::Result<Runtime> {
    Ok(Runtime::in_data_dir(data_dir, limits)?)
}

/// Plugins from this size up take seconds to compile the first time (a TypeScript or
/// Python component: 12–18 MB, about 12 s), so the CLI says so rather than sit silent.
pub(crate) const SLOW_COMPILE_BYTES: usize = 2 << 20;

/// Reads and loads a plugin file, with errors that name the file.
pub(crate) fn load_plugin(runtime: &Runtime, path: &Path) -> anyhow::Result<PluginChoice> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))?;
    let (plugin, load) = runtime
        .load_with(&bytes, || say_compiling(path, bytes.len()))
        .with_context(|| format!("{} was refused", path.display()))?;
    Ok(PluginChoice { plugin, load })
}

/// Called before a plugin of `size` bytes is compiled: says so when it takes a while.
pub(crate) fn say_compiling(path: &Path, size: usize) {
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
pub(crate) fn load_script(
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

pub(crate) fn read_params(params: &str) -> anyhow::Result<String> {
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
