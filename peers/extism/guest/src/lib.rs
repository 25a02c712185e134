//! The `units` map as an Extism plugin, written the way Extism plugins usually are: the
//! input is a JSON array of row objects, the output the same rows with three keys added.
//! It computes what Quarry's `units` example (plugins/examples/units) computes.

use extism_pdk::*;
use serde_json::{Map, Value};

const KM_PER_MILE: f64 = 1.609344;

/// One flight, keyed by column name.
type Row = Map<String, Value>;

/// Adds `distance_km`, `air_time_h` and `speed_kmh` to each flight. A null input gives a
/// null output; the speed is also null when the air time is zero.
#[plugin_fn]
pub fn units(Json(mut rows): Json<Vec<Row>>) -> FnResult<Json<Vec<Row>>> {
    for row in &mut rows {
        let distance_km = row
            .get("distance")
            .and_then(Value::as_f64)
            .map(|miles| miles * KM_PER_MILE);
        let air_time_h = row
            .get("air_time")
            .and_then(Value::as_f64)
            .map(|minutes| minutes / 60.0);
        let speed_kmh = match (distance_km, air_time_h) {
            (Some(km), Some(hours)) if hours != 0.0 => Some(km / hours),
            _ => None,
        };
        row.insert("distance_km".into(), distance_km.into());
        row.insert("air_time_h".into(), air_time_h.into());
        row.insert("speed_kmh".into(), speed_kmh.into());
    }
    Ok(Json(rows))
}
