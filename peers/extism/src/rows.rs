//! A Quarry batch as JSON rows, `[{"column": value, …}, …]`: the input an Extism plugin
//! is usually given. Serialized with serde straight from the columnar buffers, with no
//! intermediate `serde_json::Value`, so the peer's encoding costs no more than it must.

use quarry::batch::{Batch, Cell, DataType};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// All rows of a batch, as a JSON array of objects.
pub struct Rows<'a>(pub &'a Batch);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.num_rows))?;
        for row in 0..self.0.num_rows {
            seq.serialize_element(&Row { batch: self.0, row })?;
        }
        seq.end()
    }
}

struct Row<'a> {
    batch: &'a Batch,
    row: usize,
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.batch.columns.len()))?;
        for column in &self.batch.columns {
            map.serialize_entry(
                &column.name,
                &Value(column.data_type, column.cell(self.row)),
            )?;
        }
        map.end()
    }
}

/// One cell as Quarry's JSON output writes it: numbers and booleans as themselves,
/// timestamps and dates as ISO 8601 text, bytes as base64, null as null.
struct Value<'a>(DataType, Cell<'a>);

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (_, Cell::Null) => s.serialize_unit(),
            (_, Cell::Boolean(b)) => s.serialize_bool(b),
            (DataType::Int64, Cell::Int64(i)) => s.serialize_i64(i),
            // serde_json writes a non-finite float as null.
            (_, Cell::Float64(f)) => s.serialize_f64(f),
            (_, Cell::Text(text)) => s.serialize_str(text),
            (data_type, cell) => {
                s.serialize_str(&quarry::output::cell_text(data_type, cell).unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry::batch::ColumnBuilder;

    #[test]
    fn writes_each_type_the_way_quarry_does() {
        let mut distance = ColumnBuilder::new("distance", DataType::Int64, 2);
        distance.push_i64(1400);
        distance.push_null();
        let mut carrier = ColumnBuilder::new("carrier", DataType::Text, 2);
        carrier.push_str("UA");
        carrier.push_str("A\"A");
        let mut time_hour = ColumnBuilder::new("time_hour", DataType::Timestamp, 2);
        time_hour.push_i64(1_357_038_000_000_000);
        time_hour.push_i64(0);
        let mut speed = ColumnBuilder::new("speed", DataType::Float64, 2);
        speed.push_f64(370.5);
        speed.push_f64(f64::NAN);
        let batch = Batch {
            num_rows: 2,
            columns: vec![
                distance.finish(),
                carrier.finish(),
                time_hour.finish(),
                speed.finish(),
            ],
        };
        let json = serde_json::to_string(&Rows(&batch)).unwrap();
        assert_eq!(
            json,
            r#"[{"distance":1400,"carrier":"UA","time_hour":"2013-01-01T11:00:00Z","speed":370.5},{"distance":null,"carrier":"A\"A","time_hour":"1970-01-01T00:00:00Z","speed":null}]"#
        );
    }
}
