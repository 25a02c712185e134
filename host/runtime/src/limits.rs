//! Per-run limits: every one has a safe default, can be changed, and is named in the error
//! when a plugin hits it.

use std::fmt;
use std::time::Duration;

use quarry_core::size::format as bytes;

/// The limits one run works under.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Linear memory a plugin instance may grow to.
    pub memory_bytes: u64,
    /// Time the plugin may spend in its own code over the whole run (database time excluded).
    pub cpu_time: Duration,
    /// Rows a run may output.
    pub output_rows: u64,
    /// Bytes (column buffers) a run may output.
    pub output_bytes: u64,
    /// Bytes of log lines and stdout/stderr a run may write.
    pub log_bytes: usize,
    /// Rows in one batch, in either direction.
    pub batch_rows: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(10),
            output_rows: 10_000_000,
            output_bytes: 1 << 30,
            log_bytes: 1 << 20,
            batch_rows: 65_536,
        }
    }
}

/// Which limit a run hit, with the value in force.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// Linear memory, in bytes.
    Memory(u64),
    /// Plugin CPU time over the run.
    CpuTime(Duration),
    /// Rows output.
    OutputRows(u64),
    /// Bytes output.
    OutputBytes(u64),
    /// Log bytes.
    LogBytes(usize),
    /// Rows in one batch.
    BatchRows(u32),
    /// The wasm stack (an engine setting), hit by unbounded recursion.
    Stack(usize),
}

impl Limit {
    /// A short stable name, used in the JSON API's error kinds.
    pub fn name(&self) -> &'static str {
        match self {
            Limit::Memory(_) => "memory",
            Limit::CpuTime(_) => "cpu_time",
            Limit::OutputRows(_) => "output_rows",
            Limit::OutputBytes(_) => "output_bytes",
            Limit::LogBytes(_) => "log_bytes",
            Limit::BatchRows(_) => "batch_rows",
            Limit::Stack(_) => "stack",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Memory(b) => write!(f, "memory limit ({}; --max-memory raises it)", bytes(*b)),
            Limit::CpuTime(d) => write!(f, "CPU time limit ({d:?}; --max-cpu-time raises it)"),
            Limit::OutputRows(n) => write!(
                f,
                "output row limit ({n} rows; --max-output-rows raises it)"
            ),
            Limit::OutputBytes(b) => {
                write!(
                    f,
                    "output size limit ({}; --max-output-bytes raises it)",
                    bytes(*b)
                )
            }
            Limit::LogBytes(b) => write!(
                f,
                "log size limit ({}; --max-log-bytes raises it)",
                bytes(*b as u64)
            ),
            Limit::BatchRows(n) => write!(f, "batch size limit ({n} rows per batch)"),
            Limit::Stack(b) => write!(
                f,
                "stack limit ({}; unbounded recursion?)",
                bytes(*b as u64)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_messages_say_how_to_raise_them() {
        let message = Limit::Memory(64 << 20).to_string();
        assert_eq!(message, "memory limit (64 MiB; --max-memory raises it)");
    }
}
