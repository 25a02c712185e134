//! Masks the values of chosen columns, which become text columns of the same name in
//! the same position: partially (`"4111****"` style, keeping the last characters),
//! fully (`"***"`), or as a short SHA-256 digest that still joins and groups. It reads
//! only the columns it masks, and sends back only those.

use std::collections::BTreeSet;
use std::fmt::Write;

use quarry_plugin::{Batch, Column, Error, Info, Output, Plugin, Source, TextBuilder, Value};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    columns: Vec<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default = "two")]
    keep: usize,
}

fn two() -> usize {
    2
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Every character but the last `keep` becomes `*`.
    #[default]
    Partial,
    /// Every value becomes `***`.
    Redact,
    /// Every value becomes the first 16 hex digits of the SHA-256 of its text.
    Hash,
}

struct Mask {
    columns: BTreeSet<String>,
    mode: Mode,
    keep: usize,
}

impl Plugin for Mask {
    type Params = Params;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .transforms()
            .stateless()
            .params_schema(serde_json::json!({
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "The columns to mask"},
                    "mode": {"enum": ["partial", "redact", "hash"], "default": "partial"},
                    "keep": {"type": "integer", "minimum": 0, "default": 2, "description": "Characters left visible at the end (partial)"},
                },
                "required": ["columns"],
                "additionalProperties": false,
            }))
    }

    fn init(_source: &Source, params: Params) -> Result<Self, Error> {
        if params.columns.is_empty() {
            return Err(Error::new(
                "invalid params: columns: name at least one column",
            ));
        }
        Ok(Mask {
            columns: params.columns.into_iter().collect(),
            mode: params.mode,
            keep: params.keep,
        })
    }

    fn reads(&self) -> Option<Vec<String>> {
        Some(self.columns.iter().cloned().collect())
    }

    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        let mut output = Output::unchanged();
        for name in &self.columns {
            output = output.set(self.mask_column(input.column(name)?));
        }
        Ok(output)
    }
}

impl Mask {
    fn mask_column(&self, column: &Column) -> Column {
        let mut masked = TextBuilder::new(column.name());
        for row in 0..column.len() {
            let value = value_text(column.value(row));
            masked.push(value.map(|value| self.mask(&value)).as_deref());
        }
        masked.finish()
    }

    fn mask(&self, value: &str) -> String {
        match self.mode {
            Mode::Partial => partial(value, self.keep),
            Mode::Redact => "***".into(),
            Mode::Hash => hash(value),
        }
    }
}

/// A value's text: text as it is, numbers and booleans as Rust's `Display` writes them.
fn value_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Text(text) => Some(text),
        Value::Int64(number) => Some(number.to_string()),
        Value::Float64(number) => Some(number.to_string()),
        Value::Boolean(flag) => Some(flag.to_string()),
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// `value` with each character but the last `keep` replaced by `*`. A value of `keep`
/// characters or fewer is all `*`, so that short values do not show in full.
fn partial(value: &str, keep: usize) -> String {
    let chars = value.chars().count();
    if chars <= keep {
        return "*".repeat(chars);
    }
    let hidden = chars - keep;
    let mut masked = "*".repeat(hidden);
    masked.extend(value.chars().skip(hidden));
    masked
}

/// The first 16 hex digits (8 bytes) of the SHA-256 of `value`.
fn hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest[..8]
        .iter()
        .fold(String::with_capacity(16), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

quarry_plugin::export!(Mask);

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_plugin::{DataType, Float64Builder, Int64Builder};

    #[test]
    fn partial_keeps_the_last_characters_counting_unicode() {
        assert_eq!(partial("N14228", 2), "****28");
        assert_eq!(partial("Zürich", 3), "***ich");
        assert_eq!(partial("日本語テキスト", 1), "******ト");
        assert_eq!(partial("UA", 2), "**");
        assert_eq!(partial("A", 2), "*");
        assert_eq!(partial("", 2), "");
        assert_eq!(partial("EWR", 0), "***");
    }

    #[test]
    fn hash_is_a_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(hash("abc"), "ba7816bf8f01cfea");
        assert_eq!(hash(""), "e3b0c44298fc1c14");
    }

    fn mask(params: &str) -> Result<Mask, Error> {
        let source = Source {
            name: "demo".into(),
            backend: quarry_plugin::Backend::Sqlite,
        };
        Mask::init(&source, serde_json::from_str(params).unwrap())
    }

    fn flights() -> Batch {
        let mut tailnum = TextBuilder::new("tailnum");
        tailnum.extend([Some("N14228"), None]);
        let mut flight = Int64Builder::new("flight");
        flight.extend([Some(1545), Some(714)]);
        let mut distance = Float64Builder::new("distance");
        distance.extend([Some(1400.0), Some(2.5)]);
        Batch::new(vec![tailnum.finish(), flight.finish(), distance.finish()]).unwrap()
    }

    /// The plugin's output applied to `input`, as the host applies it.
    fn run(params: &str, input: Batch) -> Result<Batch, Error> {
        mask(params)?.transform(input.clone())?.apply(input)
    }

    fn texts(batch: &Batch, name: &str) -> Vec<Option<String>> {
        batch
            .column(name)
            .unwrap()
            .texts()
            .map(|t| t.map(String::from))
            .collect()
    }

    #[test]
    fn masked_columns_become_text_in_place_and_nulls_stay_null() {
        let output = run(r#"{"columns": ["flight", "tailnum"]}"#, flights()).unwrap();
        let names: Vec<&str> = output.columns().iter().map(Column::name).collect();
        assert_eq!(names, ["tailnum", "flight", "distance"]);
        assert_eq!(texts(&output, "tailnum"), [Some("****28".into()), None]);
        assert_eq!(output.column("flight").unwrap().data_type(), DataType::Text);
        assert_eq!(
            texts(&output, "flight"),
            [Some("**45".into()), Some("*14".into())]
        );
        assert_eq!(output.column("distance").unwrap().f64(0), Some(1400.0));
    }

    #[test]
    fn redact_and_hash_modes() {
        let output = run(r#"{"columns": ["tailnum"], "mode": "redact"}"#, flights()).unwrap();
        assert_eq!(texts(&output, "tailnum"), [Some("***".into()), None]);
        let output = run(
            r#"{"columns": ["distance", "flight"], "mode": "hash"}"#,
            flights(),
        )
        .unwrap();
        assert_eq!(texts(&output, "flight")[0], Some(hash("1545")));
        assert_eq!(
            texts(&output, "distance"),
            [Some(hash("1400")), Some(hash("2.5"))]
        );
    }

    #[test]
    fn unknown_columns_and_empty_lists_are_errors() {
        let error = run(r#"{"columns": ["tailnum", "ssn"]}"#, flights()).unwrap_err();
        assert!(error.message().starts_with("no column `ssn`"), "{error}");
        let error = mask(r#"{"columns": []}"#).err().unwrap();
        assert_eq!(
            error.message(),
            "invalid params: columns: name at least one column"
        );
    }
}
