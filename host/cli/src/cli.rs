//! The `quarry` command line: the arguments every command shares, and the dispatch to one
//! module per command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
        /// The store `quarry serve --store` uses: sqlite:PATH [default: the data
        /// directory's quarry.db].
        #[arg(long, value_name = "URL", global = true)]
        store: Option<String>,
        #[command(subcommand)]
        command: crate::users::UsersCommand,
    },
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
        Command::Users { store, command } => tokio.block_on(crate::users::users(
            &cli.data_dir,
            store.as_deref(),
            command,
        )),
    }
}
