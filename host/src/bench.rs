//! `quarry bench`: throughput of the plugin path against no plugin and native Rust, and the
//! plugin lifecycle, measured in one process so the ratios are comparable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Directory holding the built plugins (identity.wasm, units.wasm).
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    pub plugins: PathBuf,
}

pub fn main(_data_dir: &Path, _args: BenchArgs, _tokio: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
