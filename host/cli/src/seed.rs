//! `quarry seed`: the demo data copied into configured server sources.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use quarry_sources::config::Config;

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

pub(crate) fn seed(
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
