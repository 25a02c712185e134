//! The run's log: the `log!` family of macros over the imported `log.write`.

use crate::Level;

/// Writes one line to the run's log (the host caps its total size). Outside
/// WebAssembly, as in a plugin's native unit tests, the line goes to stderr instead.
///
/// Prefer the macros: [`log!`](crate::log), [`info!`](crate::info), [`warn!`](crate::warn)...
pub fn write_log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::quarry::plugin::log::write(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// Writes a formatted line to the run's log: `log!(Level::Info, "{n} rows")`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::write_log($level, &::std::format!($($arg)+))
    };
}

/// `log!` at [`Level::Trace`](crate::Level::Trace).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Trace, $($arg)+) };
}

/// `log!` at [`Level::Debug`](crate::Level::Debug).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Debug, $($arg)+) };
}

/// `log!` at [`Level::Info`](crate::Level::Info).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Info, $($arg)+) };
}

/// `log!` at [`Level::Warn`](crate::Level::Warn).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Warn, $($arg)+) };
}

/// `log!` at [`Level::Error`](crate::Level::Error).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Error, $($arg)+) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn native_logging_does_not_need_the_host() {
        let rows = 3;
        crate::info!("{rows} rows");
        crate::log!(crate::Level::Debug, "done");
    }
}
