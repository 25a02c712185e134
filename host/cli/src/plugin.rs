//! `quarry plugin inspect`: what a plugin file says about itself (`quarry plugin new` is
//! in `scaffold.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use quarry_runtime::Limits;

use crate::shared::{load_plugin, runtime};

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

pub(crate) fn inspect(data_dir: &Path, file: &Path, json: bool) -> anyhow::Result<ExitCode> {
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
    writeln!(out, "contract:     {}", info.contract)?;
    match &info.reads {
        Some(columns) => writeln!(out, "reads:        {}", columns.join(", "))?,
        None => writeln!(out, "reads:        every column")?,
    }
    writeln!(
        out,
        "stateless:    {}",
        if info.stateless { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "merges:       {}",
        if info.merges { "yes" } else { "no" }
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
