//! An aggregate: collects a delay column per group while consuming every batch, then
//! outputs one row per group from `finish`: its count, mean, median and 95th
//! percentile. It reads only its two columns, and it merges: several instances can each
//! collect part of the rows, and one combines their groups before `finish`.

use std::collections::BTreeMap;

use quarry_plugin::{
    Batch, Column, Error, Float64Builder, Info, Int64Builder, Merge, Output, Plugin, Source,
    TextBuilder, Value,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "arrival")]
    column: String,
    #[serde(default = "carrier")]
    group_by: String,
}

fn arrival() -> String {
    "arr_delay".into()
}

fn carrier() -> String {
    "carrier".into()
}

struct DelayStats {
    column: String,
    group_by: String,
    /// Every non-null value, per group key; a BTreeMap of Strings iterates in byte order.
    groups: BTreeMap<String, Vec<f64>>,
}

impl Plugin for DelayStats {
    type Params = Params;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .transforms()
            .params_schema(serde_json::json!({
                "type": "object",
                "properties": {
                    "column": {"type": "string", "default": "arr_delay", "description": "The numeric column to summarize"},
                    "group_by": {"type": "string", "default": "carrier", "description": "The column to group by"},
                },
                "additionalProperties": false,
            }))
    }

    fn init(_source: &Source, params: Params) -> Result<Self, Error> {
        Ok(DelayStats {
            column: params.column,
            group_by: params.group_by,
            groups: BTreeMap::new(),
        })
    }

    fn reads(&self) -> Option<Vec<String>> {
        Some(vec![self.column.clone(), self.group_by.clone()])
    }

    fn transform(&mut self, input: Batch) -> Result<Output, Error> {
        let values = input.column(&self.column)?.expect_f64()?;
        let keys = input.column(&self.group_by)?;
        for (row, value) in values.f64s().enumerate() {
            let Some(value) = value else { continue };
            // Text keys (the usual case) are looked up without a String per row.
            if let Some(values) = keys.text(row).and_then(|key| self.groups.get_mut(key)) {
                values.push(value);
            } else if let Some(key) = group_key(keys, row) {
                self.groups.entry(key).or_default().push(value);
            }
        }
        // Everything comes out of finish.
        Ok(Output::none())
    }

    fn finish(&mut self) -> Result<Option<Batch>, Error> {
        let mut key = TextBuilder::new(&self.group_by);
        let mut count = Int64Builder::new("count");
        let mut mean = Float64Builder::new("mean");
        let mut p50 = Float64Builder::new("p50");
        let mut p95 = Float64Builder::new("p95");
        for (group, values) in &mut self.groups {
            let stats = Stats::of(values);
            key.push(Some(group));
            count.push(Some(stats.count));
            mean.push(Some(stats.mean));
            p50.push(Some(stats.p50));
            p95.push(Some(stats.p95));
        }
        let columns = vec![
            key.finish(),
            count.finish(),
            mean.finish(),
            p50.finish(),
            p95.finish(),
        ];
        Batch::new(columns).map(Some)
    }
}

impl Merge for DelayStats {
    /// The groups as one record each: the key's length (u32, little-endian), the key, the
    /// number of values (u32) and the values (f64).
    fn partial(&mut self) -> Result<Vec<u8>, Error> {
        let mut state = Vec::new();
        for (key, values) in &self.groups {
            state.extend_from_slice(&(key.len() as u32).to_le_bytes());
            state.extend_from_slice(key.as_bytes());
            state.extend_from_slice(&(values.len() as u32).to_le_bytes());
            for value in values {
                state.extend_from_slice(&value.to_le_bytes());
            }
        }
        Ok(state)
    }

    fn merge(&mut self, partials: Vec<Vec<u8>>) -> Result<(), Error> {
        for state in &partials {
            let mut rest = state.as_slice();
            while !rest.is_empty() {
                let key = take(&mut rest, 4).and_then(|n| take(&mut rest, u32_at(n)));
                let key = key.and_then(|k| std::str::from_utf8(k).ok());
                let count = take(&mut rest, 4).map(u32_at);
                let values = count.and_then(|n| take(&mut rest, n * 8));
                let (Some(key), Some(values)) = (key, values) else {
                    return Err(Error::new(
                        "merge: a partial state is truncated or not UTF-8",
                    ));
                };
                let group = self.groups.entry(key.to_owned()).or_default();
                group.extend(
                    values
                        .chunks_exact(8)
                        .map(|v| f64::from_le_bytes(v.try_into().expect("chunks of 8 bytes"))),
                );
            }
        }
        Ok(())
    }
}

/// The first `n` bytes of `rest`, which then starts after them.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

fn u32_at(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize
}

/// Row `row`'s group key as text; numbers group by their decimal form. Null keys
/// have no group.
fn group_key(keys: &Column, row: usize) -> Option<String> {
    match keys.value(row) {
        Value::Null => None,
        Value::Text(text) => Some(text),
        Value::Int64(number) => Some(number.to_string()),
        Value::Float64(number) => Some(number.to_string()),
        Value::Boolean(flag) => Some(flag.to_string()),
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// One group's summary.
#[derive(Debug, PartialEq)]
struct Stats {
    count: i64,
    mean: f64,
    p50: f64,
    p95: f64,
}

impl Stats {
    /// Summarizes `values`, which must not be empty (a group exists only once it has a
    /// value); sorts them in place.
    fn of(values: &mut [f64]) -> Stats {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        Stats {
            count: n as i64,
            mean: values.iter().sum::<f64>() / n as f64,
            p50: values[nearest_rank(50, n)],
            p95: values[nearest_rank(95, n)],
        }
    }
}

/// The index of the `percent`th percentile of `n` sorted values by the nearest-rank
/// method, ceil(percent / 100 * n) - 1, in integers so that no rounding creeps in;
/// `percent` and `n` are positive.
fn nearest_rank(percent: usize, n: usize) -> usize {
    (percent * n).div_ceil(100) - 1
}

quarry_plugin::export_aggregate!(DelayStats);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_definition() {
        assert_eq!(nearest_rank(50, 1), 0);
        assert_eq!(nearest_rank(95, 1), 0);
        assert_eq!(nearest_rank(50, 2), 0);
        assert_eq!(nearest_rank(50, 3), 1);
        assert_eq!(nearest_rank(50, 4), 1);
        assert_eq!(nearest_rank(95, 20), 18);
        assert_eq!(nearest_rank(95, 21), 19);
        assert_eq!(nearest_rank(95, 100), 94);
        assert_eq!(nearest_rank(95, 101), 95);
        for n in 1..1000 {
            let exact = ((95.0 * n as f64) / 100.0).ceil() as usize - 1;
            assert_eq!(nearest_rank(95, n), exact, "n = {n}");
        }
    }

    #[test]
    fn stats_of_a_group() {
        let mut values = [7.0, -2.0, 30.0, 1.0, 4.0];
        let stats = Stats::of(&mut values);
        assert_eq!(
            stats,
            Stats {
                count: 5,
                mean: 8.0,
                p50: 4.0,
                p95: 30.0
            }
        );
    }

    fn batch(carriers: &[Option<&str>], delays: &[Option<i64>]) -> Batch {
        let mut carrier = TextBuilder::new("carrier");
        carrier.extend(carriers.iter().copied());
        let mut delay = Int64Builder::new("arr_delay");
        delay.extend(delays.iter().copied());
        Batch::new(vec![carrier.finish(), delay.finish()]).unwrap()
    }

    #[test]
    fn groups_across_batches_sorted_by_key_skipping_nulls() {
        let source = Source {
            name: "demo".into(),
            backend: quarry_plugin::Backend::Sqlite,
        };
        let mut plugin = DelayStats::init(&source, serde_json::from_str("{}").unwrap()).unwrap();
        let first = batch(
            &[Some("UA"), Some("AA"), None, Some("9E")],
            &[Some(10), Some(3), Some(99), None],
        );
        let output = plugin.transform(first).unwrap();
        assert_eq!(output, Output::none());
        let second = batch(
            &[Some("UA"), Some("B6"), Some("UA")],
            &[Some(-4), None, Some(1)],
        );
        plugin.transform(second).unwrap();

        let output = plugin.finish().unwrap().unwrap();
        let names: Vec<&str> = output.columns().iter().map(Column::name).collect();
        assert_eq!(names, ["carrier", "count", "mean", "p50", "p95"]);
        let keys: Vec<_> = output.column("carrier").unwrap().texts().collect();
        assert_eq!(keys, [Some("AA"), Some("UA")], "9E and B6 have no values");
        let counts: Vec<_> = output.column("count").unwrap().i64s().collect();
        assert_eq!(counts, [Some(1), Some(3)]);
        let means: Vec<_> = output.column("mean").unwrap().f64s().collect();
        assert_eq!(means, [Some(3.0), Some(7.0 / 3.0)]);
        let p50: Vec<_> = output.column("p50").unwrap().f64s().collect();
        assert_eq!(p50, [Some(3.0), Some(1.0)]);
        let p95: Vec<_> = output.column("p95").unwrap().f64s().collect();
        assert_eq!(p95, [Some(3.0), Some(10.0)]);
    }

    #[test]
    fn two_instances_merged_answer_what_one_does() {
        let source = Source {
            name: "demo".into(),
            backend: quarry_plugin::Backend::Sqlite,
        };
        let start = || DelayStats::init(&source, serde_json::from_str("{}").unwrap()).unwrap();
        let first = || {
            batch(
                &[Some("UA"), Some("AA"), Some("ü")],
                &[Some(10), Some(3), Some(7)],
            )
        };
        let second = || batch(&[Some("UA"), Some("B6")], &[Some(-4), Some(1)]);

        let mut one = start();
        one.transform(first()).unwrap();
        one.transform(second()).unwrap();
        let (mut a, mut b) = (start(), start());
        a.transform(first()).unwrap();
        b.transform(second()).unwrap();
        let state = b.partial().unwrap();
        a.merge(vec![state.clone(), Vec::new()]).unwrap();
        assert_eq!(a.finish().unwrap(), one.finish().unwrap());

        let error = a
            .merge(vec![state[..state.len() - 1].to_vec()])
            .unwrap_err();
        assert!(error.message().contains("truncated"), "{error}");
    }

    #[test]
    fn numeric_keys_group_as_text_in_byte_order() {
        let mut month = Int64Builder::new("month");
        month.extend([Some(10), Some(9), Some(10)]);
        let mut delay = Int64Builder::new("dep_delay");
        delay.extend([Some(1), Some(2), Some(3)]);
        let input = Batch::new(vec![month.finish(), delay.finish()]).unwrap();
        let source = Source {
            name: "demo".into(),
            backend: quarry_plugin::Backend::Sqlite,
        };
        let params =
            serde_json::from_str(r#"{"column": "dep_delay", "group_by": "month"}"#).unwrap();
        let mut plugin = DelayStats::init(&source, params).unwrap();
        plugin.transform(input).unwrap();
        let output = plugin.finish().unwrap().unwrap();
        let keys: Vec<_> = output.column("month").unwrap().texts().collect();
        assert_eq!(keys, [Some("10"), Some("9")]);
    }
}
