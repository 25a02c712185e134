//! A filter: keeps the rows whose delay column is at least `min_delay` minutes. Rows
//! where that column is null (cancelled flights) are dropped; columns are unchanged. It
//! reads the one column it tests and sends back the indices of the rows it keeps.

use quarry_plugin::{Batch, Column, Error, Info, Output, Plugin, Source};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "an_hour")]
    min_delay: i64,
    #[serde(default = "departure")]
    column: String,
}

fn an_hour() -> i64 {
    60
}

fn departure() -> String {
    "dep_delay".into()
}

struct Delayed {
    min_delay: i64,
    column: String,
}

impl Plugin for Delayed {
    type Params = Params;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .transforms()
            .stateless()
            .params_schema(serde_json::json!({
                "type": "object",
                "properties": {
                    "min_delay": {"type": "integer", "default": 60, "description": "Minimum delay in minutes"},
                    "column": {"type": "string", "default": "dep_delay", "description": "The delay column: dep_delay or arr_delay"},
                },
                "additionalProperties": false,
            }))
    }

    fn init(_source: &Source, params: Params) -> Result<Self, Error> {
        Ok(Delayed {
            min_delay: params.min_delay,
            column: params.column,
        })
    }

    fn reads(&self) -> Option<Vec<String>> {
        Some(vec![self.column.clone()])
    }

    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        let delay = input.column(&self.column)?.expect_f64()?;
        let keep = (0..input.num_rows() as u32)
            .filter(|&row| at_least(delay, row as usize, self.min_delay))
            .collect();
        Ok(Output::keep(keep))
    }
}

/// Whether row `row` of `delay` is at least `min`; compares integers exactly and
/// floats (from backends that send them) as floats.
fn at_least(delay: &Column, row: usize, min: i64) -> bool {
    match delay.i64(row) {
        Some(minutes) => minutes >= min,
        None => delay.f64(row).is_some_and(|minutes| minutes >= min as f64),
    }
}

quarry_plugin::export!(Delayed);

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_plugin::{Float64Builder, Int64Builder, TextBuilder};

    fn delayed(params: &str) -> Delayed {
        Delayed::init(
            &Source {
                name: "demo".into(),
                backend: quarry_plugin::Backend::Sqlite,
            },
            serde_json::from_str(params).unwrap(),
        )
        .unwrap()
    }

    fn flights() -> Batch {
        let mut carrier = TextBuilder::new("carrier");
        carrier.extend([Some("UA"), Some("AA"), Some("B6"), Some("DL")]);
        let mut dep = Int64Builder::new("dep_delay");
        dep.extend([Some(59), Some(60), None, Some(301)]);
        let mut arr = Float64Builder::new("arr_delay");
        arr.extend([Some(10.5), None, Some(12.0), Some(-3.0)]);
        Batch::new(vec![carrier.finish(), dep.finish(), arr.finish()]).unwrap()
    }

    /// The plugin's output applied to `input`, as the host applies it.
    fn run(plugin: &mut Delayed, input: Batch) -> Result<Batch, Error> {
        plugin.transform(input.clone())?.apply(input)
    }

    fn carriers(batch: &Batch) -> Vec<&str> {
        batch
            .column("carrier")
            .unwrap()
            .texts()
            .map(Option::unwrap)
            .collect()
    }

    #[test]
    fn keeps_delays_at_or_above_the_minimum_and_drops_nulls() {
        let output = run(&mut delayed("{}"), flights()).unwrap();
        assert_eq!(carriers(&output), ["AA", "DL"]);
        assert_eq!(output.num_columns(), 3);
    }

    #[test]
    fn reads_float_columns_and_other_thresholds() {
        let output = run(
            &mut delayed(r#"{"column": "arr_delay", "min_delay": 11}"#),
            flights(),
        )
        .unwrap();
        assert_eq!(carriers(&output), ["B6"]);
        let output = run(&mut delayed(r#"{"min_delay": -100}"#), flights()).unwrap();
        assert_eq!(carriers(&output), ["UA", "AA", "DL"]);
    }

    #[test]
    fn a_missing_or_text_column_is_an_error() {
        let error = run(&mut delayed(r#"{"column": "late"}"#), flights()).unwrap_err();
        assert!(error.message().starts_with("no column `late`"), "{error}");
        let error = run(&mut delayed(r#"{"column": "carrier"}"#), flights()).unwrap_err();
        assert_eq!(
            error.message(),
            "column `carrier` is text, expected a number"
        );
    }
}
