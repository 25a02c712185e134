//! The host's own columnar batch: the same Arrow layout as the WIT contract's `batch`, so
//! crossing the plugin boundary moves buffers instead of copying cells.
//!
//! Sources build batches with [`ColumnBuilder`]; output formats read them cell by cell with
//! [`Column::cell`]; batches that come back from a plugin are checked by [`Batch::validate`]
//! before anything else looks at them.

use std::fmt;

/// Logical type of a column. Each one is stored in one physical [`Values`] case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// True or false.
    Boolean,
    /// Signed 64-bit integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// UTF-8 text.
    Text,
    /// Raw bytes.
    Bytes,
    /// Microseconds since 1970-01-01T00:00:00Z, stored as int64.
    Timestamp,
    /// Days since 1970-01-01, stored as int64.
    Date,
    /// Canonical lowercase hyphenated text.
    Uuid,
    /// An exact decimal literal as text.
    Decimal,
    /// JSON text.
    Json,
}

/// The physical storage of a column, one case per `vector` case of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Physical {
    /// A list of booleans.
    Boolean,
    /// A list of int64.
    Int64,
    /// A list of float64.
    Float64,
    /// UTF-8 text as offsets and bytes.
    Text,
    /// Bytes as offsets and bytes.
    Bytes,
}

impl DataType {
    /// Every logical type, in the contract's order.
    pub const ALL: [DataType; 10] = [
        DataType::Boolean,
        DataType::Int64,
        DataType::Float64,
        DataType::Text,
        DataType::Bytes,
        DataType::Timestamp,
        DataType::Date,
        DataType::Uuid,
        DataType::Decimal,
        DataType::Json,
    ];

    /// The physical case that stores this type.
    pub fn physical(self) -> Physical {
        match self {
            DataType::Boolean => Physical::Boolean,
            DataType::Int64 | DataType::Timestamp | DataType::Date => Physical::Int64,
            DataType::Float64 => Physical::Float64,
            DataType::Text | DataType::Uuid | DataType::Decimal | DataType::Json => Physical::Text,
            DataType::Bytes => Physical::Bytes,
        }
    }

    /// The name used in the contract, the JSON API and error messages.
    pub fn name(self) -> &'static str {
        match self {
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

    /// Whether values are numbers (int64, float64, decimal); the table aligns them right.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            DataType::Int64 | DataType::Float64 | DataType::Decimal
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Variable-length values: value i is `data[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VarData {
    /// Start of each value in `data`, plus the end of the last; the first is 0.
    pub offsets: Vec<u32>,
    /// All values' bytes, back to back.
    pub data: Vec<u8>,
}

impl VarData {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        VarData {
            offsets,
            data: Vec::with_capacity(bytes),
        }
    }

    fn get(&self, row: usize) -> &[u8] {
        &self.data[self.offsets[row] as usize..self.offsets[row + 1] as usize]
    }

    fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        // Batches are capped well below 4 GiB of variable data per column (see Limits).
        self.offsets.push(self.data.len() as u32);
    }
}

/// The values of one column; one entry per row, nulls hold a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Boolean values.
    Boolean(Vec<bool>),
    /// Int64 values, also timestamps and dates.
    Int64(Vec<i64>),
    /// Float64 values.
    Float64(Vec<f64>),
    /// UTF-8 values, also uuids, decimals and JSON.
    Text(VarData),
    /// Byte-string values.
    Bytes(VarData),
}

impl Values {
    /// The physical case of these values.
    pub fn physical(&self) -> Physical {
        match self {
            Values::Boolean(_) => Physical::Boolean,
            Values::Int64(_) => Physical::Int64,
            Values::Float64(_) => Physical::Float64,
            Values::Text(_) => Physical::Text,
            Values::Bytes(_) => Physical::Bytes,
        }
    }

    /// Number of entries, counted the way the layout defines them.
    fn len(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::Int64(v) => v.len(),
            Values::Float64(v) => v.len(),
            Values::Text(v) | Values::Bytes(v) => v.offsets.len().saturating_sub(1),
        }
    }

    /// Bytes held, for the output-size limit.
    pub fn byte_size(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::Int64(v) => v.len() * 8,
            Values::Float64(v) => v.len() * 8,
            Values::Text(v) | Values::Bytes(v) => v.offsets.len() * 4 + v.data.len(),
        }
    }
}

/// One named, typed column of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Column name, as the output shows it.
    pub name: String,
    /// Logical type of the values.
    pub data_type: DataType,
    /// Arrow validity bitmap, LSB first; `None` when the column has no nulls.
    pub validity: Option<Vec<u8>>,
    /// One entry per row.
    pub values: Values,
}

/// One cell, borrowed from its column, for output formats and comparisons.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Null,
    /// A boolean.
    Boolean(bool),
    /// An int64, also a timestamp or date.
    Int64(i64),
    /// A float64.
    Float64(f64),
    /// Text, also a uuid, decimal or JSON.
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl Column {
    /// Whether `row` holds a value rather than a null.
    pub fn is_valid(&self, row: usize) -> bool {
        match &self.validity {
            None => true,
            Some(bits) => bits[row / 8] & (1 << (row % 8)) != 0,
        }
    }

    /// The cell at `row`. The batch must have passed [`Batch::validate`].
    pub fn cell(&self, row: usize) -> Cell<'_> {
        if !self.is_valid(row) {
            return Cell::Null;
        }
        match &self.values {
            Values::Boolean(v) => Cell::Boolean(v[row]),
            Values::Int64(v) => Cell::Int64(v[row]),
            Values::Float64(v) => Cell::Float64(v[row]),
            // Validated UTF-8 on every path that builds a text column.
            Values::Text(v) => Cell::Text(std::str::from_utf8(v.get(row)).unwrap_or_default()),
            Values::Bytes(v) => Cell::Bytes(v.get(row)),
        }
    }

    /// Number of nulls in the first `num_rows` rows.
    pub fn null_count(&self, num_rows: usize) -> usize {
        (0..num_rows).filter(|&row| !self.is_valid(row)).count()
    }

    /// Bytes held by this column, for the output-size limit.
    pub fn byte_size(&self) -> usize {
        self.name.len() + self.validity.as_ref().map_or(0, Vec::len) + self.values.byte_size()
    }

    /// The rows at `rows`, each below the column's length.
    fn take(&self, rows: &[u32]) -> Column {
        let gather = |v: &VarData| {
            let bytes = rows.iter().map(|&r| v.get(r as usize).len()).sum();
            let mut out = VarData::with_capacity(rows.len(), bytes);
            for &r in rows {
                out.push(v.get(r as usize));
            }
            out
        };
        let values = match &self.values {
            Values::Boolean(v) => Values::Boolean(rows.iter().map(|&r| v[r as usize]).collect()),
            Values::Int64(v) => Values::Int64(rows.iter().map(|&r| v[r as usize]).collect()),
            Values::Float64(v) => Values::Float64(rows.iter().map(|&r| v[r as usize]).collect()),
            Values::Text(v) => Values::Text(gather(v)),
            Values::Bytes(v) => Values::Bytes(gather(v)),
        };
        let validity = self.validity.as_ref().map(|_| {
            let mut bits = vec![0u8; rows.len().div_ceil(8)];
            for (i, &r) in rows.iter().enumerate() {
                bits[i / 8] |= u8::from(self.is_valid(r as usize)) << (i % 8);
            }
            bits
        });
        Column {
            name: self.name.clone(),
            data_type: self.data_type,
            validity,
            values,
        }
    }
}

/// A slice of a result set; every column holds exactly `num_rows` entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Number of rows.
    pub num_rows: usize,
    /// The columns, in output order.
    pub columns: Vec<Column>,
}

/// Name and type of one output column.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Logical type.
    #[serde(rename = "type", serialize_with = "serialize_type")]
    pub data_type: DataType,
}

fn serialize_type<S: serde::Serializer>(t: &DataType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

/// Why a batch does not follow the layout rules.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum BatchError {
    /// A column holds a different number of values than the batch has rows.
    #[error("column `{column}` holds {actual} values but the batch says it has {expected} rows")]
    Length {
        /// The column's name.
        column: String,
        /// Rows the batch declares.
        expected: usize,
        /// Values the column holds.
        actual: usize,
    },
    /// A column's values are not the physical case its type needs.
    #[error("column `{column}` is declared {data_type} but holds {physical:?} values")]
    TypeMismatch {
        /// The column's name.
        column: String,
        /// The declared type.
        data_type: DataType,
        /// The physical case found.
        physical: Physical,
    },
    /// The first offset of a text or bytes column is not 0.
    #[error("column `{column}`: the first offset is {first}, it must be 0")]
    FirstOffset {
        /// The column's name.
        column: String,
        /// The first offset.
        first: u32,
    },
    /// An offset is smaller than the one before it.
    #[error("column `{column}`: offsets decrease at row {row}")]
    OffsetsNotMonotonic {
        /// The column's name.
        column: String,
        /// The row whose end offset is smaller than its start.
        row: usize,
    },
    /// The last offset points past the end of the data.
    #[error(
        "column `{column}`: offset {offset} at row {row} is past the end of its {len} data bytes"
    )]
    OffsetOutOfRange {
        /// The column's name.
        column: String,
        /// The row whose end offset is too large.
        row: usize,
        /// The offset.
        offset: u32,
        /// Length of the data, in bytes.
        len: usize,
    },
    /// The validity bitmap is shorter than the rows need.
    #[error("column `{column}`: the validity bitmap has {actual} bytes, {expected} are needed")]
    ValidityTooShort {
        /// The column's name.
        column: String,
        /// Bytes the rows need.
        expected: usize,
        /// Bytes the bitmap has.
        actual: usize,
    },
    /// A text value is not valid UTF-8, or starts inside a character.
    #[error("column `{column}`: row {row} is not valid UTF-8")]
    NotUtf8 {
        /// The column's name.
        column: String,
        /// The row that holds the bad byte.
        row: usize,
    },
    /// A row selection names a row the batch does not have.
    #[error("row {row} is selected but the batch has {num_rows} rows")]
    RowOutOfRange {
        /// The selected row.
        row: u32,
        /// Rows the batch has.
        num_rows: usize,
    },
}

impl Batch {
    /// Name and type of each column.
    pub fn fields(&self) -> Vec<Field> {
        self.columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                data_type: c.data_type,
            })
            .collect()
    }

    /// Bytes held by this batch, for the output-size limit.
    pub fn byte_size(&self) -> usize {
        self.columns.iter().map(Column::byte_size).sum()
    }

    /// Checks every rule of the layout, so that reading any cell afterwards cannot fail.
    pub fn validate(&self) -> Result<(), BatchError> {
        for column in &self.columns {
            validate_column(column, self.num_rows)?;
        }
        Ok(())
    }

    /// The rows at `rows`, in that order (a row may come more than once).
    pub fn take(&self, rows: &[u32]) -> Result<Batch, BatchError> {
        if let Some(&row) = rows.iter().find(|&&row| row as usize >= self.num_rows) {
            return Err(BatchError::RowOutOfRange {
                row,
                num_rows: self.num_rows,
            });
        }
        let columns = self.columns.iter().map(|c| c.take(rows)).collect();
        Ok(Batch {
            num_rows: rows.len(),
            columns,
        })
    }

    /// Puts `column` in place of the column of the same name, or appends it when there
    /// is none; it must hold one entry per row.
    pub fn set_column(&mut self, column: Column) -> Result<(), BatchError> {
        validate_column(&column, self.num_rows)?;
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(old) => *old = column,
            None => self.columns.push(column),
        }
        Ok(())
    }

    /// The first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.num_rows {
            return;
        }
        for column in &mut self.columns {
            if let Some(bits) = &mut column.validity {
                bits.truncate(n.div_ceil(8));
            }
            match &mut column.values {
                Values::Boolean(v) => v.truncate(n),
                Values::Int64(v) => v.truncate(n),
                Values::Float64(v) => v.truncate(n),
                Values::Text(v) | Values::Bytes(v) => {
                    v.offsets.truncate(n + 1);
                    v.data.truncate(v.offsets[n] as usize);
                }
            }
        }
        self.num_rows = n;
    }
}

fn validate_column(column: &Column, num_rows: usize) -> Result<(), BatchError> {
    let name = || column.name.clone();
    let physical = column.values.physical();
    if column.data_type.physical() != physical {
        return Err(BatchError::TypeMismatch {
            column: name(),
            data_type: column.data_type,
            physical,
        });
    }
    if let Some(bits) = &column.validity
        && bits.len() < num_rows.div_ceil(8)
    {
        return Err(BatchError::ValidityTooShort {
            column: name(),
            expected: num_rows.div_ceil(8),
            actual: bits.len(),
        });
    }
    let var = match &column.values {
        Values::Text(v) | Values::Bytes(v) => v,
        values => {
            return if values.len() == num_rows {
                Ok(())
            } else {
                Err(BatchError::Length {
                    column: name(),
                    expected: num_rows,
                    actual: values.len(),
                })
            };
        }
    };
    if var.offsets.len() != num_rows + 1 {
        return Err(BatchError::Length {
            column: name(),
            expected: num_rows,
            actual: var.offsets.len().saturating_sub(1),
        });
    }
    if var.offsets[0] != 0 {
        return Err(BatchError::FirstOffset {
            column: name(),
            first: var.offsets[0],
        });
    }
    // The checks over every row fold without branching, so that they vectorize; the row
    // is looked for only when one fails.
    let descending = var
        .offsets
        .windows(2)
        .fold(false, |bad, pair| bad | (pair[1] < pair[0]));
    if descending {
        let row = var.offsets.windows(2).position(|pair| pair[1] < pair[0]);
        return Err(BatchError::OffsetsNotMonotonic {
            column: name(),
            row: row.unwrap_or_default(),
        });
    }
    let last = var.offsets[num_rows];
    if last as usize > var.data.len() {
        return Err(BatchError::OffsetOutOfRange {
            column: name(),
            row: num_rows - 1,
            offset: last,
            len: var.data.len(),
        });
    }
    if physical == Physical::Text {
        let used = &var.data[..last as usize];
        std::str::from_utf8(used).map_err(|e| BatchError::NotUtf8 {
            column: name(),
            row: row_of_byte(&var.offsets, e.valid_up_to()),
        })?;
        // A value may not start inside a character: at a UTF-8 continuation byte.
        let starts = &var.offsets[..num_rows];
        let continuation = |&offset: &u32| {
            used.get(offset as usize)
                .is_some_and(|&b| (b as i8) < -0x40)
        };
        if starts
            .iter()
            .fold(false, |bad, offset| bad | continuation(offset))
        {
            return Err(BatchError::NotUtf8 {
                column: name(),
                row: starts.iter().position(continuation).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// The row whose value holds byte `at`.
fn row_of_byte(offsets: &[u32], at: usize) -> usize {
    offsets
        .partition_point(|&o| o as usize <= at)
        .saturating_sub(1)
}

/// Builds one column row by row; the validity bitmap is only kept if a null arrives.
pub struct ColumnBuilder {
    name: String,
    data_type: DataType,
    validity: Vec<u8>,
    has_nulls: bool,
    len: usize,
    values: Values,
}

impl ColumnBuilder {
    /// An empty builder, with room for `capacity` rows.
    pub fn new(name: impl Into<String>, data_type: DataType, capacity: usize) -> Self {
        let values = match data_type.physical() {
            Physical::Boolean => Values::Boolean(Vec::with_capacity(capacity)),
            Physical::Int64 => Values::Int64(Vec::with_capacity(capacity)),
            Physical::Float64 => Values::Float64(Vec::with_capacity(capacity)),
            Physical::Text => Values::Text(VarData::with_capacity(capacity, capacity * 8)),
            Physical::Bytes => Values::Bytes(VarData::with_capacity(capacity, capacity * 8)),
        };
        ColumnBuilder {
            name: name.into(),
            data_type,
            validity: Vec::with_capacity(capacity.div_ceil(8)),
            has_nulls: false,
            len: 0,
            values,
        }
    }

    /// The column's logical type.
    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn set_valid(&mut self, valid: bool) {
        let (byte, bit) = (self.len / 8, self.len % 8);
        if byte == self.validity.len() {
            self.validity.push(0);
        }
        if valid {
            self.validity[byte] |= 1 << bit;
        } else {
            self.has_nulls = true;
        }
        self.len += 1;
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        match &mut self.values {
            Values::Boolean(v) => v.push(false),
            Values::Int64(v) => v.push(0),
            Values::Float64(v) => v.push(0.0),
            Values::Text(v) | Values::Bytes(v) => v.push(&[]),
        }
        self.set_valid(false);
    }

    /// Panics if the column is not boolean: a builder is fed by code that chose its type.
    pub fn push_bool(&mut self, value: bool) {
        let Values::Boolean(v) = &mut self.values else {
            panic!("{} is not boolean", self.name)
        };
        v.push(value);
        self.set_valid(true);
    }

    /// Appends `value`. Panics if the column is not int64, timestamp or date.
    pub fn push_i64(&mut self, value: i64) {
        let Values::Int64(v) = &mut self.values else {
            panic!("{} is not int64", self.name)
        };
        v.push(value);
        self.set_valid(true);
    }

    /// Appends `value`. Panics if the column is not float64.
    pub fn push_f64(&mut self, value: f64) {
        let Values::Float64(v) = &mut self.values else {
            panic!("{} is not float64", self.name)
        };
        v.push(value);
        self.set_valid(true);
    }

    /// Appends `value`. Panics if the column is not text, uuid, decimal or JSON.
    pub fn push_str(&mut self, value: &str) {
        let Values::Text(v) = &mut self.values else {
            panic!("{} is not text", self.name)
        };
        v.push(value.as_bytes());
        self.set_valid(true);
    }

    /// Appends `value`. Panics if the column is not bytes.
    pub fn push_bytes(&mut self, value: &[u8]) {
        let Values::Bytes(v) = &mut self.values else {
            panic!("{} is not bytes", self.name)
        };
        v.push(value);
        self.set_valid(true);
    }

    /// The finished column; the builder starts over, empty, with the same name and type.
    pub fn finish(&mut self) -> Column {
        let fresh = ColumnBuilder::new(self.name.clone(), self.data_type, self.len);
        let done = std::mem::replace(self, fresh);
        Column {
            name: done.name,
            data_type: done.data_type,
            validity: done.has_nulls.then_some(done.validity),
            values: done.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_column(values: &[Option<&str>]) -> Column {
        let mut b = ColumnBuilder::new("t", DataType::Text, values.len());
        for v in values {
            match v {
                Some(s) => b.push_str(s),
                None => b.push_null(),
            }
        }
        b.finish()
    }

    #[test]
    fn builder_keeps_validity_only_with_nulls() {
        let no_nulls = text_column(&[Some("a"), Some("")]);
        assert_eq!(no_nulls.validity, None);
        let with_nulls = text_column(&[Some("a"), None, Some("ü")]);
        assert_eq!(with_nulls.validity, Some(vec![0b101]));
        assert_eq!(with_nulls.cell(1), Cell::Null);
        assert_eq!(with_nulls.cell(2), Cell::Text("ü"));
    }

    #[test]
    fn take_gathers_rows_with_their_nulls_and_set_column_replaces_by_name() {
        let mut n = ColumnBuilder::new("n", DataType::Int64, 3);
        n.push_i64(1);
        n.push_null();
        n.push_i64(3);
        let mut batch = Batch {
            num_rows: 3,
            columns: vec![text_column(&[Some("a"), Some("bc"), None]), n.finish()],
        };
        let taken = batch.take(&[2, 0, 0]).unwrap();
        taken.validate().unwrap();
        fn cells(b: &Batch, c: usize) -> Vec<Cell<'_>> {
            (0..b.num_rows).map(|r| b.columns[c].cell(r)).collect()
        }
        assert_eq!(
            cells(&taken, 0),
            [Cell::Null, Cell::Text("a"), Cell::Text("a")]
        );
        assert_eq!(
            cells(&taken, 1),
            [Cell::Int64(3), Cell::Int64(1), Cell::Int64(1)]
        );
        assert_eq!(
            batch.take(&[3]),
            Err(BatchError::RowOutOfRange {
                row: 3,
                num_rows: 3
            })
        );

        let mut t = ColumnBuilder::new("t", DataType::Float64, 3);
        (0..3).for_each(|i| t.push_f64(i as f64));
        batch.set_column(t.finish()).unwrap();
        assert_eq!(
            (batch.columns.len(), batch.columns[0].data_type),
            (2, DataType::Float64)
        );
        let mut short = ColumnBuilder::new("x", DataType::Int64, 1);
        short.push_i64(1);
        assert!(matches!(
            batch.set_column(short.finish()),
            Err(BatchError::Length { .. })
        ));
        assert_eq!(batch.columns.len(), 2);
    }

    #[test]
    fn validate_catches_each_layout_error() {
        let batch = |col: Column, rows| Batch {
            num_rows: rows,
            columns: vec![col],
        };
        let good = text_column(&[Some("ab"), Some("c")]);
        assert_eq!(batch(good.clone(), 2).validate(), Ok(()));
        assert!(matches!(
            batch(good.clone(), 3).validate(),
            Err(BatchError::Length { .. })
        ));

        let mut backwards = good.clone();
        backwards.values = Values::Text(VarData {
            offsets: vec![0, 2, 1],
            data: b"abc".to_vec(),
        });
        assert!(matches!(
            batch(backwards, 2).validate(),
            Err(BatchError::OffsetsNotMonotonic { row: 1, .. })
        ));

        let mut past_end = good.clone();
        past_end.values = Values::Text(VarData {
            offsets: vec![0, 2, 9],
            data: b"abc".to_vec(),
        });
        assert!(matches!(
            batch(past_end, 2).validate(),
            Err(BatchError::OffsetOutOfRange { .. })
        ));

        let mut not_utf8 = good.clone();
        not_utf8.values = Values::Text(VarData {
            offsets: vec![0, 1, 2],
            data: vec![b'a', 0xff],
        });
        assert!(matches!(
            batch(not_utf8, 2).validate(),
            Err(BatchError::NotUtf8 { row: 1, .. })
        ));

        // A boundary inside a multi-byte character is not valid UTF-8 either.
        let mut split = good.clone();
        split.values = Values::Text(VarData {
            offsets: vec![0, 1, 2],
            data: "ü".into(),
        });
        assert!(matches!(
            batch(split, 2).validate(),
            Err(BatchError::NotUtf8 { row: 1, .. })
        ));

        let mut short_bits = good.clone();
        short_bits.validity = Some(vec![]);
        assert!(matches!(
            batch(short_bits, 2).validate(),
            Err(BatchError::ValidityTooShort { .. })
        ));

        let mut wrong_type = good;
        wrong_type.data_type = DataType::Int64;
        assert!(matches!(
            batch(wrong_type, 2).validate(),
            Err(BatchError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn truncate_keeps_prefix() {
        let mut b = Batch {
            num_rows: 3,
            columns: vec![text_column(&[Some("a"), None, Some("cc")])],
        };
        b.truncate(2);
        assert_eq!(b.validate(), Ok(()));
        assert_eq!(b.num_rows, 2);
        assert_eq!(b.columns[0].cell(0), Cell::Text("a"));
        assert_eq!(b.columns[0].cell(1), Cell::Null);
    }
}
