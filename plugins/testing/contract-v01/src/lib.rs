//! Test fixture: a plugin built the way every plugin was before contract 0.2, from the
//! frozen copy of the 0.1 WIT (`plugins/wit/v0.1`) with raw bindings and no SDK, so that
//! the host's tests show 0.1 plugins keep running unchanged.
//!
//! It appends `speed_mph` (`distance / air_time * 60`, null when either is null or the air
//! time is 0) to every batch, which it receives whole and returns whole, and writes one
//! log line per run through the 0.1 log import.

wit_bindgen::generate!({
    path: "../../wit/v0.1",
    world: "plugin",
});

use quarry::plugin::log::write;
use quarry::plugin::types::{Column, DataType, Level, Vector};

struct ContractV01;

impl Guest for ContractV01 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "contract-v01".into(),
            version: "0.1.0".into(),
            description: "appends speed_mph; built on contract 0.1".into(),
            params_schema: None,
            builds_query: false,
            transforms: true,
        }
    }

    fn init(source: Source, _params: String) -> Result<(), PluginError> {
        write(Level::Info, &format!("0.1 plugin reading {}", source.name));
        Ok(())
    }

    fn build_query() -> Result<Option<Query>, PluginError> {
        Ok(None)
    }

    fn transform(mut input: Batch) -> Result<Batch, PluginError> {
        let number = |name: &str| {
            let column = input.columns.iter().find(|c| c.name == name);
            let column = column.ok_or_else(|| PluginError {
                message: format!("no column `{name}`"),
                row: None,
            })?;
            Ok::<_, PluginError>(move |row: usize| {
                let valid = column
                    .validity
                    .as_ref()
                    .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0);
                match &column.values {
                    Vector::Int64(v) if valid => Some(v[row] as f64),
                    Vector::Float64(v) if valid => Some(v[row]),
                    _ => None,
                }
            })
        };
        let (distance, air_time) = (number("distance")?, number("air_time")?);
        let rows = input.num_rows as usize;
        let mut validity = vec![0u8; rows.div_ceil(8)];
        let mut speeds = vec![0.0; rows];
        for row in 0..rows {
            if let (Some(miles), Some(minutes)) = (distance(row), air_time(row))
                && minutes != 0.0
            {
                speeds[row] = miles / minutes * 60.0;
                validity[row / 8] |= 1 << (row % 8);
            }
        }
        input.columns.push(Column {
            name: "speed_mph".into(),
            data_type: DataType::Float64,
            validity: Some(validity),
            values: Vector::Float64(speeds),
        });
        Ok(input)
    }

    fn finish() -> Result<Option<Batch>, PluginError> {
        Ok(None)
    }
}

export!(ContractV01);
