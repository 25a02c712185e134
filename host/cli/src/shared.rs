//! What several commands use: the plugin limit flags, the runtime, loading plugins,
//! scripts and params.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use clap::builder::TypedValueParser as _;
use quarry_core::size::parse as parse_bytes;
use quarry_engine::output::Format;
use quarry_engine::run::PluginChoice;
use quarry_runtime::{Limits, Runtime, script};

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
