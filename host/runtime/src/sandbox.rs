//! What a plugin instance can reach: the one place capabilities are granted (none are).
//!
//! WASI is linked so that components built by ordinary toolchains instantiate, but the
//! context grants nothing: no preopened directories, no environment, no arguments, no
//! sockets, no name lookup, stdin closed. stdout and stderr go into the run's log, which
//! is capped like the log interface itself.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::LogLevel;
use super::bindings::{v01, v02};

/// One line of a run's log.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    /// Its severity; stdout writes at `info`, stderr at `warn`.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The run's log, shared by the log interface and the stdout/stderr streams.
#[derive(Debug, Default)]
pub struct RunLog {
    pub lines: Vec<LogLine>,
    bytes: usize,
    cap: usize,
    /// Set when a write was refused; the trap that follows is reported as the log limit.
    pub overflowed: bool,
}

impl RunLog {
    fn new(cap: usize) -> Self {
        RunLog {
            cap,
            ..RunLog::default()
        }
    }

    /// Appends a line, or refuses it and remembers why.
    fn push(&mut self, level: LogLevel, message: String) -> Result<(), ()> {
        if self.bytes + message.len() > self.cap {
            self.overflowed = true;
            return Err(());
        }
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
        Ok(())
    }
}

/// Refuses memory growth past the run's limit, and remembers that it did.
pub struct MemoryLimiter {
    pub limit: u64,
    pub hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.limit;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The data of one run's store.
pub struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub log: Arc<Mutex<RunLog>>,
    pub memory: MemoryLimiter,
    /// When the current call must have returned, from the run's remaining CPU budget.
    pub deadline: Instant,
    /// Set from outside to stop the run at the next epoch tick.
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl RunState {
    pub fn new(
        memory_limit: u64,
        log_cap: usize,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let log = Arc::new(Mutex::new(RunLog::new(log_cap)));
        let mut wasi = WasiCtx::builder();
        wasi.stdout(LogPipe {
            log: log.clone(),
            level: LogLevel::Info,
        })
        .stderr(LogPipe {
            log: log.clone(),
            level: LogLevel::Warn,
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
        RunState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            log,
            memory: MemoryLimiter {
                limit: memory_limit,
                hit: false,
            },
            deadline: Instant::now(),
            cancel,
        }
    }

    pub fn log_overflowed(&self) -> bool {
        self.log.lock().map(|l| l.overflowed).unwrap_or(true)
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The error a refused log write traps with.
#[derive(Debug, thiserror::Error)]
#[error("the run's log is full")]
pub struct LogFull;

impl v01::wit::Host for RunState {}
impl v02::wit::Host for RunState {}

impl RunState {
    fn write_log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let mut log = self.log.lock().map_err(|_| wasmtime::Error::new(LogFull))?;
        log.push(level, message)
            .map_err(|()| wasmtime::Error::new(LogFull))
    }
}

impl v01::log::Host for RunState {
    fn write(&mut self, level: v01::wit::Level, message: String) -> wasmtime::Result<()> {
        self.write_log(level.into(), message)
    }
}

impl v02::log::Host for RunState {
    fn write(&mut self, level: v02::wit::Level, message: String) -> wasmtime::Result<()> {
        self.write_log(level.into(), message)
    }
}

/// stdout or stderr of a plugin: each write becomes log lines at `level`.
#[derive(Clone)]
struct LogPipe {
    log: Arc<Mutex<RunLog>>,
    level: LogLevel,
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp2 streams are linked; an empty sink satisfies the trait.
        Box::new(tokio::io::sink())
    }
}

#[async_trait::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let text = String::from_utf8_lossy(&bytes);
        let mut log = self
            .log
            .lock()
            .map_err(|_| StreamError::Trap(wasmtime::Error::new(LogFull)))?;
        for line in text.lines().filter(|l| !l.is_empty()) {
            log.push(self.level, line.to_owned())
                .map_err(|()| StreamError::Trap(wasmtime::Error::new(LogFull)))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_refuses_past_its_cap_and_remembers() {
        let mut log = RunLog::new(10);
        assert!(log.push(LogLevel::Info, "12345".into()).is_ok());
        assert!(log.push(LogLevel::Info, "123456".into()).is_err());
        assert!(log.overflowed);
        assert_eq!(log.lines.len(), 1);
    }

    #[test]
    fn memory_limiter_refuses_growth_past_the_limit() {
        let mut limiter = MemoryLimiter {
            limit: 1 << 20,
            hit: false,
        };
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.hit);
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limiter.hit);
    }
}
