//! Every figure `quarry bench` prints, kept for `--json FILE` so that a CI can track them:
//!
//! ```text
//! {"end_to_end": [{"source", "pipeline", "batch_rows", "median_ms", "rows_per_s", "mb_per_s", "ratio"}],
//!  "transform_alone": [{"transform", "kind": "native" | "plugin" | "script", "median_ms", "rows_per_s", "of_native"}],
//!  "lifecycle": {"instantiate": {"runs", "p50_us", "p99_us"}, "compile": [...], ...},
//!  "http": {"one_client": {...}, "clients": [...]}}
//! ```

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::BenchError;

/// The figures measured so far.
#[derive(Default)]
pub struct Figures {
    end_to_end: Vec<Value>,
    transform_alone: Vec<Value>,
    lifecycle: Map<String, Value>,
    http: Map<String, Value>,
}

impl Figures {
    /// One pipeline at one batch size, end to end.
    pub(crate) fn end_to_end(&mut self, figure: Value) {
        self.end_to_end.push(figure);
    }

    /// One transform on rows already in memory.
    pub(crate) fn transform_alone(&mut self, figure: Value) {
        self.transform_alone.push(figure);
    }

    /// A lifecycle figure under `key`; a key given twice collects a list.
    pub(crate) fn lifecycle(&mut self, key: &str, figure: Value) {
        add(&mut self.lifecycle, key, figure);
    }

    /// An HTTP figure under `key`; a key given twice collects a list.
    pub(crate) fn http(&mut self, key: &str, figure: Value) {
        add(&mut self.http, key, figure);
    }

    /// Everything, as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "end_to_end": self.end_to_end,
            "transform_alone": self.transform_alone,
            "lifecycle": self.lifecycle,
            "http": self.http,
        })
    }

    /// Writes [`Figures::to_json`] to `path`, when there is one.
    pub(crate) fn write(&self, path: Option<&Path>) -> Result<(), BenchError> {
        let Some(path) = path else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&self.to_json()).expect("JSON values serialize");
        std::fs::write(path, text + "\n").map_err(|e| BenchError::Write {
            path: path.to_owned(),
            source: e,
        })?;
        println!("figures written to {}", path.display());
        Ok(())
    }
}

fn add(section: &mut Map<String, Value>, key: &str, figure: Value) {
    match section.get_mut(key) {
        Some(Value::Array(list)) => list.push(figure),
        Some(first) => *first = Value::Array(vec![first.take(), figure]),
        None => {
            section.insert(key.to_owned(), figure);
        }
    }
}
