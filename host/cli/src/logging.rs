//! Log lines on stderr, through `tracing`: text for people, JSON lines for log pipelines.
//! `quarry serve` logs every request and every run at `info`; the other commands stay quiet
//! below `warn` so that their output is the rows.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event, with its spans' fields.
    Json,
}

/// Installs the process's log subscriber. The filter is `level` when given (a level such
/// as `debug`, or a `RUST_LOG`-style filter such as `quarry_server=debug,info`), else
/// `RUST_LOG`, else `default`.
pub(crate) fn init(level: Option<&str>, format: LogFormat, default: &str) -> anyhow::Result<()> {
    let filter = match level {
        Some(level) => {
            EnvFilter::try_new(level).map_err(|e| anyhow::anyhow!("--log-level `{level}`: {e}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        // A server whose stderr is closed keeps serving: tracing's own report of a failed
        // write would go to stderr too, and panic there.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    Ok(())
}
