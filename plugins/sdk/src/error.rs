//! The error a plugin returns to the host.

use std::fmt;

use crate::raw;

/// A plugin's failure as the host shows it: a message and, when one row caused it, that
/// row's index within the batch being transformed.
///
/// `?` converts the usual suspects (`serde_json::Error`, `std::io::Error`, `String`,
/// `&str`), so most plugin code never names this type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
    row: Option<u32>,
}

impl Error {
    /// An error not tied to a row.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            row: None,
        }
    }

    /// An error caused by row `row` (0-based, within the batch passed to `transform`).
    pub fn at_row(row: usize, message: impl Into<String>) -> Self {
        Error::new(message).with_row(row)
    }

    /// The same error, pointing at row `row`.
    pub fn with_row(mut self, row: usize) -> Self {
        // A batch holds at most u32::MAX rows, so every real row index fits.
        self.row = Some(u32::try_from(row).unwrap_or(u32::MAX));
        self
    }

    /// The message, without the row.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The row that caused the error, if one did.
    pub fn row(&self) -> Option<usize> {
        self.row.map(|row| row as usize)
    }

    /// The contract's `plugin-error`.
    pub fn into_raw(self) -> raw::PluginError {
        raw::PluginError {
            message: self.message,
            row: self.row,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "{} (row {row})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl From<raw::PluginError> for Error {
    fn from(raw: raw::PluginError) -> Self {
        Error {
            message: raw.message,
            row: raw.row,
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::new(message)
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::new(error.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::new(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_the_row_and_raw_keeps_it() {
        let error = Error::at_row(2, "bad value");
        assert_eq!(error.to_string(), "bad value (row 2)");
        assert_eq!(error.row(), Some(2));
        let raw = error.into_raw();
        assert_eq!((raw.message.as_str(), raw.row), ("bad value", Some(2)));
        assert_eq!(Error::new("plain").to_string(), "plain");
    }

    #[test]
    fn json_errors_convert_with_question_mark() {
        fn parse() -> Result<serde_json::Value, Error> {
            Ok(serde_json::from_str("{")?)
        }
        assert!(parse().unwrap_err().message().contains("EOF"));
    }
}
