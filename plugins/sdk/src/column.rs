//! Reading one column: typed, null-aware accessors over the Arrow layout.

use crate::builder::Validity;
use crate::raw::{self, VarData, Vector};
use crate::{DataType, Error, Value};

/// One column of a [`Batch`](crate::Batch): a name, a logical type, and one value or
/// null per row.
///
/// # Reading
///
/// Each accessor reads one storage kind and returns `None` for a null, and also for a
/// column of another kind, so that a typed reader never fails halfway through a batch:
///
/// | accessor | reads columns stored as | data types |
/// | --- | --- | --- |
/// | [`bool`](Column::bool) | boolean | boolean |
/// | [`i64`](Column::i64) | int64 | int64, timestamp, date |
/// | [`f64`](Column::f64) | float64 or int64 (converted with `as f64`) | float64, int64, timestamp, date |
/// | [`text`](Column::text) | text | text, uuid, decimal, json |
/// | [`bytes`](Column::bytes) | bytes or text (the UTF-8 bytes) | bytes and the text kinds |
///
/// To reject a column of the wrong kind with an error that names it, check once before
/// the loop with [`expect_i64`](Column::expect_i64) and friends:
/// `batch.column("distance")?.expect_f64()?`.
///
/// Row indices past the end panic, like slice indexing.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    raw: raw::Column,
}

impl Column {
    /// Wraps the contract's column as it is, without checking it.
    pub fn from_raw(raw: raw::Column) -> Self {
        Column { raw }
    }

    /// The contract's column.
    pub fn into_raw(self) -> raw::Column {
        self.raw
    }

    /// The column as the contract's type, for inspection.
    pub fn as_raw(&self) -> &raw::Column {
        &self.raw
    }

    pub(crate) fn assemble(
        name: String,
        data_type: DataType,
        validity: Option<Vec<u8>>,
        values: Vector,
    ) -> Self {
        Column::from_raw(raw::Column {
            name,
            data_type,
            validity,
            values,
        })
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.raw.name
    }

    /// The same column under another name.
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.raw.name = name.into();
        self
    }

    /// The column's logical type.
    pub fn data_type(&self) -> DataType {
        self.raw.data_type
    }

    /// The number of rows (values, nulls included).
    pub fn len(&self) -> usize {
        match &self.raw.values {
            Vector::Boolean(values) => values.len(),
            Vector::Int64(values) => values.len(),
            Vector::Float64(values) => values.len(),
            Vector::Text(var) | Vector::Bytes(var) => var.offsets.len().saturating_sub(1),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether row `row` is null.
    pub fn is_null(&self, row: usize) -> bool {
        self.check_row(row);
        !self.is_valid(row)
    }

    /// The number of null rows.
    pub fn null_count(&self) -> usize {
        (0..self.len()).filter(|&row| !self.is_valid(row)).count()
    }

    /// Row `row` of a boolean column.
    #[inline]
    pub fn bool(&self, row: usize) -> Option<bool> {
        self.check_row(row);
        match &self.raw.values {
            Vector::Boolean(values) if self.is_valid(row) => Some(values[row]),
            _ => None,
        }
    }

    /// Row `row` of an int64-stored column (int64, timestamp in microseconds since the
    /// epoch, date in days since the epoch).
    #[inline]
    pub fn i64(&self, row: usize) -> Option<i64> {
        self.check_row(row);
        match &self.raw.values {
            Vector::Int64(values) if self.is_valid(row) => Some(values[row]),
            _ => None,
        }
    }

    /// Row `row` of a float64 column, or of an int64-stored one converted with `as f64`:
    /// the way to read a number that one backend stores as an integer and another as a
    /// float.
    #[inline]
    pub fn f64(&self, row: usize) -> Option<f64> {
        self.check_row(row);
        match &self.raw.values {
            Vector::Float64(values) if self.is_valid(row) => Some(values[row]),
            Vector::Int64(values) if self.is_valid(row) => Some(values[row] as f64),
            _ => None,
        }
    }

    /// Row `row` of a text-stored column (text, uuid, decimal, json).
    #[inline]
    pub fn text(&self, row: usize) -> Option<&str> {
        self.check_row(row);
        match &self.raw.values {
            // The host sends valid UTF-8; a malformed value reads as None, not as a panic.
            Vector::Text(var) if self.is_valid(row) => std::str::from_utf8(slot(var, row)?).ok(),
            _ => None,
        }
    }

    /// Row `row` of a bytes column, or the UTF-8 bytes of a text-stored one.
    #[inline]
    pub fn bytes(&self, row: usize) -> Option<&[u8]> {
        self.check_row(row);
        match &self.raw.values {
            Vector::Text(var) | Vector::Bytes(var) if self.is_valid(row) => slot(var, row),
            _ => None,
        }
    }

    /// Row `row` as a [`Value`], whatever the column's kind.
    pub fn value(&self, row: usize) -> Value {
        self.check_row(row);
        if !self.is_valid(row) {
            return Value::Null;
        }
        match &self.raw.values {
            Vector::Boolean(values) => Value::Boolean(values[row]),
            Vector::Int64(values) => Value::Int64(values[row]),
            Vector::Float64(values) => Value::Float64(values[row]),
            Vector::Text(_) => self
                .text(row)
                .map_or(Value::Null, |text| Value::Text(text.into())),
            Vector::Bytes(var) => {
                slot(var, row).map_or(Value::Null, |bytes| Value::Bytes(bytes.into()))
            }
        }
    }

    /// Every row, read as by [`bool`](Column::bool).
    pub fn bools(&self) -> impl ExactSizeIterator<Item = Option<bool>> + '_ {
        (0..self.len()).map(|row| self.bool(row))
    }

    /// Every row, read as by [`i64`](Column::i64).
    pub fn i64s(&self) -> impl ExactSizeIterator<Item = Option<i64>> + '_ {
        self.numbers().map(|number| match number? {
            Number::Int64(value) => Some(value),
            Number::Float64(_) => None,
        })
    }

    /// Every row, read as by [`f64`](Column::f64).
    pub fn f64s(&self) -> impl ExactSizeIterator<Item = Option<f64>> + '_ {
        self.numbers().map(|number| match number? {
            Number::Int64(value) => Some(value as f64),
            Number::Float64(value) => Some(value),
        })
    }

    /// Every row of a numeric column; the fast path under `i64s` and `f64s`, which looks
    /// at the column's kind once rather than once per row.
    fn numbers(&self) -> Numbers<'_> {
        let values = match &self.raw.values {
            Vector::Int64(values) => NumberSlice::Int64(values),
            Vector::Float64(values) => NumberSlice::Float64(values),
            _ => NumberSlice::Neither,
        };
        Numbers {
            values,
            validity: self.raw.validity.as_deref(),
            row: 0,
            len: self.len(),
        }
    }

    /// Every row, read as by [`text`](Column::text).
    pub fn texts(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|row| self.text(row))
    }

    /// Every row, read as by [`bytes`](Column::bytes).
    pub fn blobs(&self) -> impl ExactSizeIterator<Item = Option<&[u8]>> + '_ {
        (0..self.len()).map(|row| self.bytes(row))
    }

    /// This column if [`bool`](Column::bool) can read it, else an error naming it.
    pub fn expect_bool(&self) -> Result<&Self, Error> {
        self.expect(matches!(self.raw.values, Vector::Boolean(_)), "boolean")
    }

    /// This column if [`i64`](Column::i64) can read it, else an error naming it.
    pub fn expect_i64(&self) -> Result<&Self, Error> {
        self.expect(matches!(self.raw.values, Vector::Int64(_)), "an integer")
    }

    /// This column if [`f64`](Column::f64) can read it (float64 or int64-stored), else an
    /// error naming it.
    pub fn expect_f64(&self) -> Result<&Self, Error> {
        let numeric = matches!(self.raw.values, Vector::Int64(_) | Vector::Float64(_));
        self.expect(numeric, "a number")
    }

    /// This column if [`text`](Column::text) can read it, else an error naming it.
    pub fn expect_text(&self) -> Result<&Self, Error> {
        self.expect(matches!(self.raw.values, Vector::Text(_)), "text")
    }

    /// This column if [`bytes`](Column::bytes) can read it, else an error naming it.
    pub fn expect_bytes(&self) -> Result<&Self, Error> {
        let var = matches!(self.raw.values, Vector::Text(_) | Vector::Bytes(_));
        self.expect(var, "bytes or text")
    }

    /// The rows at `rows`, in that order (rows may repeat), with a validity bitmap only
    /// if a taken row is null. Panics on an index past the end; [`Batch::take`](crate::Batch::take) checks them first.
    pub fn take(&self, rows: &[usize]) -> Column {
        let validity = self.raw.validity.as_ref().and_then(|_| {
            let mut validity = Validity::default();
            for &row in rows {
                validity.push(self.is_valid(row));
            }
            validity.into_bitmap()
        });
        let values = match &self.raw.values {
            Vector::Boolean(values) => {
                Vector::Boolean(rows.iter().map(|&row| values[row]).collect())
            }
            Vector::Int64(values) => Vector::Int64(rows.iter().map(|&row| values[row]).collect()),
            Vector::Float64(values) => {
                Vector::Float64(rows.iter().map(|&row| values[row]).collect())
            }
            Vector::Text(var) => Vector::Text(take_var(var, rows)),
            Vector::Bytes(var) => Vector::Bytes(take_var(var, rows)),
        };
        Column::assemble(self.raw.name.clone(), self.raw.data_type, validity, values)
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        match &self.raw.validity {
            None => true,
            // A bitmap too short for the column reads as null past its end.
            Some(bits) => bits
                .get(row / 8)
                .is_some_and(|byte| byte & (1 << (row % 8)) != 0),
        }
    }

    #[inline]
    fn check_row(&self, row: usize) {
        let len = self.len();
        if row >= len {
            self.out_of_range(row, len);
        }
    }

    #[cold]
    #[inline(never)]
    fn out_of_range(&self, row: usize, len: usize) -> ! {
        panic!(
            "row {row} is out of range: column `{}` has {len} rows",
            self.raw.name
        )
    }

    fn expect(&self, ok: bool, wanted: &str) -> Result<&Self, Error> {
        if ok {
            Ok(self)
        } else {
            Err(Error::new(format!(
                "column `{}` is {}, expected {wanted}",
                self.raw.name,
                type_name(self.raw.data_type)
            )))
        }
    }
}

/// One number of an int64- or float64-stored column.
#[derive(Clone, Copy)]
enum Number {
    Int64(i64),
    Float64(f64),
}

#[derive(Clone, Copy)]
enum NumberSlice<'a> {
    Int64(&'a [i64]),
    Float64(&'a [f64]),
    Neither,
}

/// The rows of a column as numbers: `None` for a null, and for every row of a column that
/// is not numeric.
struct Numbers<'a> {
    values: NumberSlice<'a>,
    validity: Option<&'a [u8]>,
    row: usize,
    len: usize,
}

impl Iterator for Numbers<'_> {
    type Item = Option<Number>;

    #[inline]
    fn next(&mut self) -> Option<Option<Number>> {
        if self.row >= self.len {
            return None;
        }
        let row = self.row;
        self.row += 1;
        let valid = self.validity.is_none_or(|bits| {
            bits.get(row / 8)
                .is_some_and(|byte| byte & (1 << (row % 8)) != 0)
        });
        if !valid {
            return Some(None);
        }
        Some(match self.values {
            NumberSlice::Int64(values) => values.get(row).copied().map(Number::Int64),
            NumberSlice::Float64(values) => values.get(row).copied().map(Number::Float64),
            NumberSlice::Neither => None,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.row;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Numbers<'_> {}

/// The contract's name of a data type, for messages.
pub(crate) fn type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "boolean",
        DataType::Int64 => "int64",
        DataType::Float64 => "float64",
        DataType::Text => "text",
        DataType::Bytes => "bytes",
        DataType::Timestamp => "timestamp",
        DataType::Date => "date",
        DataType::Uuid => "uuid",
        DataType::Decimal => "decimal",
        DataType::Json => "json",
    }
}

/// Value `row` of a var-data vector, or `None` when its offsets are out of bounds.
fn slot(var: &VarData, row: usize) -> Option<&[u8]> {
    let start = *var.offsets.get(row)? as usize;
    let end = *var.offsets.get(row + 1)? as usize;
    var.data.get(start..end)
}

fn take_var(var: &VarData, rows: &[usize]) -> VarData {
    let mut out = crate::builder::VarBuilder::default();
    for &row in rows {
        out.push(slot(var, row).unwrap_or_default());
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BytesBuilder, Float64Builder, Int64Builder, TextBuilder};

    fn delays() -> Column {
        let mut builder = Int64Builder::new("dep_delay");
        builder.extend([Some(-3), None, Some(42)]);
        builder.finish()
    }

    #[test]
    fn typed_reads_follow_validity() {
        let column = delays();
        assert_eq!(column.len(), 3);
        assert_eq!(
            column.i64s().collect::<Vec<_>>(),
            [Some(-3), None, Some(42)]
        );
        assert_eq!(
            column.f64s().collect::<Vec<_>>(),
            [Some(-3.0), None, Some(42.0)]
        );
        assert!(column.is_null(1) && !column.is_null(2));
        assert_eq!(column.null_count(), 1);
        assert_eq!(column.value(2), Value::Int64(42));
        assert_eq!(column.value(1), Value::Null);
    }

    #[test]
    fn reading_another_kind_gives_none_and_expect_names_the_column() {
        let column = delays();
        assert_eq!(column.text(0), None);
        assert_eq!(column.bool(0), None);
        assert!(column.expect_f64().is_ok());
        assert!(column.expect_i64().is_ok());
        let error = column.expect_text().unwrap_err();
        assert_eq!(
            error.message(),
            "column `dep_delay` is int64, expected text"
        );

        let mut floats = Float64Builder::new("distance");
        floats.push(Some(1.5));
        let floats = floats.finish();
        assert_eq!(floats.i64(0), None);
        assert_eq!(floats.f64(0), Some(1.5));
        assert!(floats.expect_i64().is_err());
    }

    #[test]
    fn text_and_bytes_read_through_offsets() {
        let mut builder = TextBuilder::new("dest");
        builder.extend([Some("IAH"), None, Some(""), Some("Zürich")]);
        let column = builder.finish();
        assert_eq!(
            column.texts().collect::<Vec<_>>(),
            [Some("IAH"), None, Some(""), Some("Zürich")]
        );
        assert_eq!(column.bytes(0), Some(&b"IAH"[..]));
        assert_eq!(column.value(3), Value::Text("Zürich".into()));

        let mut builder = BytesBuilder::new("blob");
        builder.extend([Some(&[0xff, 0][..]), None]);
        let column = builder.finish();
        assert_eq!(
            column.blobs().collect::<Vec<_>>(),
            [Some(&[0xff, 0][..]), None]
        );
        assert_eq!(column.text(0), None);
        assert_eq!(column.value(0), Value::Bytes(vec![0xff, 0]));
    }

    #[test]
    fn malformed_vectors_read_as_null_instead_of_panicking() {
        let column = Column::from_raw(raw::Column {
            name: "bad".into(),
            data_type: DataType::Text,
            // One byte of bitmap for nine rows: row 8 has no bit.
            validity: Some(vec![0xff]),
            values: Vector::Text(VarData {
                offsets: vec![0, 1, 2, 9, 3, 4, 5, 6, 7, 8],
                data: vec![b'a', 0xff, b'c', b'd', b'e', b'f', b'g', b'h'],
            }),
        });
        assert_eq!(column.len(), 9);
        assert_eq!(column.text(0), Some("a"));
        assert_eq!(column.text(1), None, "invalid UTF-8");
        assert_eq!(column.bytes(1), Some(&[0xff][..]));
        assert_eq!(column.text(2), None, "offset past the data");
        assert_eq!(column.bytes(3), None, "offsets going backwards");
        assert_eq!(column.text(7), Some("g"));
        assert!(column.is_null(8), "row past the bitmap");
    }

    #[test]
    #[should_panic(expected = "row 3 is out of range: column `dep_delay` has 3 rows")]
    fn reading_past_the_end_panics_like_indexing() {
        delays().i64(3);
    }

    #[test]
    fn take_gathers_values_and_validity() {
        let column = delays().take(&[2, 1, 0, 2]);
        assert_eq!(
            column.i64s().collect::<Vec<_>>(),
            [Some(42), None, Some(-3), Some(42)]
        );
        assert_eq!(column.as_raw().validity, Some(vec![0b1101]));

        let dense = delays().take(&[0, 2]);
        assert_eq!(dense.as_raw().validity, None, "no nulls taken, no bitmap");

        let mut builder = TextBuilder::new("origin");
        builder.extend([Some("EWR"), Some("JFK"), Some("LGA")]);
        let column = builder.finish().take(&[2, 0]);
        assert_eq!(
            column.texts().collect::<Vec<_>>(),
            [Some("LGA"), Some("EWR")]
        );
        assert_eq!(column.as_raw().validity, None);
    }
}
