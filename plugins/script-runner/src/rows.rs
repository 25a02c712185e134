//! Batches to and from JavaScript values, independent of the engine: reading a batch
//! cell by cell as JS-shaped values, and building the output batch from the values of
//! the rows a script returns, with column types inferred from them.

use std::borrow::Cow;
use std::collections::HashMap;

use quarry_plugin::{
    Batch, BoolBuilder, Column, DataType, Error, Float64Builder, Int64Builder, TextBuilder,
};

/// One input value, as JavaScript will see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Num(f64),
    /// A BigInt: the script asks for an int64 column.
    Int(i64),
    Str(Cow<'a, str>),
    Bool(bool),
}

/// Row `row` of `column` as a JS-shaped value: int64, float64, timestamp (µs since the
/// epoch) and date (days) are numbers; the text kinds are strings; bytes are base64
/// strings, as the API and the page show them; booleans are booleans. Integers beyond
/// 2^53 lose precision, as they would in any JavaScript number.
#[inline]
pub fn cell(column: &Column, row: usize) -> Cell<'_> {
    match column.data_type() {
        DataType::Boolean => column.bool(row).map_or(Cell::Null, Cell::Bool),
        DataType::Int64 | DataType::Timestamp | DataType::Date | DataType::Float64 => {
            column.f64(row).map_or(Cell::Null, Cell::Num)
        }
        DataType::Text | DataType::Uuid | DataType::Decimal | DataType::Json => column
            .text(row)
            .map_or(Cell::Null, |s| Cell::Str(Cow::Borrowed(s))),
        DataType::Bytes => column
            .bytes(row)
            .map_or(Cell::Null, |b| Cell::Str(Cow::Owned(base64(b)))),
    }
}

/// `bytes` in standard base64, with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An output column while it is being built. Its type is inferred from its first
/// non-null value; until then only the nulls are counted.
enum Data {
    Nulls(usize),
    Num(Vec<Option<f64>>),
    Int(Int64Builder),
    Str(TextBuilder),
    Bool(BoolBuilder),
}

struct OutColumn {
    name: String,
    data: Data,
    len: usize,
}

impl OutColumn {
    fn push_null(&mut self) {
        match &mut self.data {
            Data::Nulls(n) => *n += 1,
            Data::Num(v) => v.push(None),
            Data::Int(b) => b.push(None),
            Data::Str(b) => b.push(None),
            Data::Bool(b) => b.push(None),
        }
        self.len += 1;
    }

    fn kind(&self) -> &'static str {
        match self.data {
            Data::Nulls(_) => "null",
            Data::Num(_) => "number",
            Data::Int(_) => "BigInt",
            Data::Str(_) => "string",
            Data::Bool(_) => "boolean",
        }
    }
}

/// Builds the output batch from the rows the script returns, row by row
/// ([`Output::begin_row`], [`Output::set`], [`Output::end_row`]), or column by column
/// ([`Output::add_column`], [`Output::push`]).
///
/// Columns appear in first-seen key order; a row without a key gets null there. A
/// column's type comes from its first non-null value: number → float64, BigInt → int64,
/// string → text, boolean → boolean. A column the run already output, or the input has,
/// keeps that column's type where its values allow: a number column that was int64,
/// timestamp or date stays so while its values are whole (untouched columns round-trip),
/// and a column of nulls only takes the earlier type (so a batch where a column happens
/// to be all null does not change the run's columns).
pub struct Output<'a> {
    input: &'a Batch,
    /// Column types of the run's earlier output batches.
    earlier: &'a HashMap<String, DataType>,
    columns: Vec<OutColumn>,
    by_name: HashMap<String, usize>,
    rows: usize,
    /// Position of the next key within the current row: keys usually come in the same
    /// order in every row, so the column at this position is tried before the map.
    position: usize,
}

impl<'a> Output<'a> {
    pub fn new(input: &'a Batch, earlier: &'a HashMap<String, DataType>) -> Self {
        Output {
            input,
            earlier,
            columns: Vec::new(),
            by_name: HashMap::new(),
            rows: 0,
            position: 0,
        }
    }

    /// Starts the next output row.
    pub fn begin_row(&mut self) {
        self.rows += 1;
        self.position = 0;
    }

    /// Ends the current row: columns it did not mention get a null.
    pub fn end_row(&mut self) {
        let rows = self.rows;
        for column in &mut self.columns {
            if column.len < rows {
                column.push_null();
            }
        }
    }

    /// The index of the column named `name`, created (with nulls for the rows before) if
    /// it is new.
    pub fn column_index(&mut self, name: &str) -> usize {
        let guess = self.position;
        self.position += 1;
        if let Some(column) = self.columns.get(guess)
            && column.name == name
        {
            return guess;
        }
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        let index = self.columns.len();
        self.columns.push(OutColumn {
            name: name.to_string(),
            data: Data::Nulls(self.rows - 1),
            len: self.rows - 1,
        });
        self.by_name.insert(name.to_string(), index);
        index
    }

    /// Sets the current row's value of column `index`.
    pub fn set(&mut self, index: usize, value: Cell<'_>) -> Result<(), Error> {
        let row = self.rows - 1;
        let column = &self.columns[index];
        if column.len > row {
            return Err(Error::at_row(
                row,
                format!("column `{}` is set twice in one row", column.name),
            ));
        }
        self.put(index, row, value)
    }

    /// Adds column `name` to a batch built column by column: its values follow with
    /// [`Output::push`]. The caller sees that every column gets as many values.
    pub fn add_column(&mut self, name: &str) -> usize {
        let index = self.columns.len();
        self.columns.push(OutColumn {
            name: name.to_string(),
            data: Data::Nulls(0),
            len: 0,
        });
        self.by_name.insert(name.to_string(), index);
        index
    }

    /// Appends the next value of column `index` (of a batch built column by column).
    pub fn push(&mut self, index: usize, value: Cell<'_>) -> Result<(), Error> {
        let row = self.columns[index].len;
        self.rows = self.rows.max(row + 1);
        self.put(index, row, value)
    }

    /// Puts `value` in column `index` as its row `row` (the next one), inferring the
    /// column's type from its first non-null value.
    fn put(&mut self, index: usize, row: usize, value: Cell<'_>) -> Result<(), Error> {
        let input = self.input;
        let column = &mut self.columns[index];
        if let Data::Nulls(nulls) = column.data {
            match &value {
                Cell::Null => {}
                Cell::Num(_) => column.data = Data::Num(vec![None; nulls]),
                Cell::Int(_) => {
                    let mut b = Int64Builder::new(column.name.clone());
                    b.extend(std::iter::repeat_n(None, nulls));
                    column.data = Data::Int(b);
                }
                Cell::Str(_) => {
                    // Text stays uuid, decimal or json when the input column was.
                    let name = column.name.clone();
                    let mut b = match input.column(&name).map(|c| c.data_type()) {
                        Ok(DataType::Uuid) => TextBuilder::uuid(name),
                        Ok(DataType::Decimal) => TextBuilder::decimal(name),
                        Ok(DataType::Json) => TextBuilder::json(name),
                        _ => TextBuilder::new(name),
                    };
                    b.extend(std::iter::repeat_n(None::<&str>, nulls));
                    column.data = Data::Str(b);
                }
                Cell::Bool(_) => {
                    let mut b = BoolBuilder::new(column.name.clone());
                    b.extend(std::iter::repeat_n(None, nulls));
                    column.data = Data::Bool(b);
                }
            }
        }
        match (&mut column.data, value) {
            (_, Cell::Null) => {
                column.push_null();
                return Ok(());
            }
            (Data::Num(v), Cell::Num(x)) => v.push(Some(x)),
            (Data::Int(b), Cell::Int(x)) => b.push(Some(x)),
            (Data::Str(b), Cell::Str(s)) => b.push(Some(&s)),
            (Data::Bool(b), Cell::Bool(x)) => b.push(Some(x)),
            (_, other) => {
                let got = match other {
                    Cell::Num(_) => "a number",
                    Cell::Int(_) => "a BigInt",
                    Cell::Str(_) => "a string",
                    Cell::Bool(_) => "a boolean",
                    Cell::Null => unreachable!(),
                };
                return Err(Error::at_row(
                    row,
                    format!(
                        "column `{}` holds {}s (from its first non-null value), but this row has {got}",
                        column.name,
                        column.kind()
                    ),
                ));
            }
        }
        column.len += 1;
        Ok(())
    }

    /// The output batch.
    pub fn finish(self) -> Result<Batch, Error> {
        let (input, earlier) = (self.input, self.earlier);
        let columns = self
            .columns
            .into_iter()
            .map(|column| {
                let input_type = earlier
                    .get(&column.name)
                    .copied()
                    .or_else(|| input.column(&column.name).ok().map(|c| c.data_type()));
                match column.data {
                    Data::Num(values) => {
                        let integral = values
                            .iter()
                            .flatten()
                            .all(|x| x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15);
                        match int64_builder(&column.name, input_type) {
                            Some(mut b) if integral => {
                                b.extend(values.iter().map(|x| x.map(|x| x as i64)));
                                b.finish()
                            }
                            _ => {
                                let mut b = Float64Builder::new(column.name);
                                b.extend(values);
                                b.finish()
                            }
                        }
                    }
                    Data::Int(b) => b.finish(),
                    Data::Str(b) => b.finish(),
                    Data::Bool(b) => b.finish(),
                    // No value to infer from: the type the run's earlier batches or the
                    // input gave this column, else text.
                    Data::Nulls(n) => match (int64_builder(&column.name, input_type), input_type) {
                        (Some(mut b), _) => {
                            b.extend(std::iter::repeat_n(None, n));
                            b.finish()
                        }
                        (None, Some(DataType::Float64)) => {
                            let mut b = Float64Builder::new(column.name);
                            b.extend(std::iter::repeat_n(None, n));
                            b.finish()
                        }
                        (None, Some(DataType::Boolean)) => {
                            let mut b = BoolBuilder::new(column.name);
                            b.extend(std::iter::repeat_n(None, n));
                            b.finish()
                        }
                        _ => {
                            let mut b = TextBuilder::new(column.name);
                            b.extend(std::iter::repeat_n(None::<&str>, n));
                            b.finish()
                        }
                    },
                }
            })
            .collect();
        if self.rows == 0 {
            return Ok(Batch::empty());
        }
        Batch::new(columns)
    }
}

/// A builder for `name` when `data_type` is one stored as int64 (int64, timestamp, date).
fn int64_builder(name: &str, data_type: Option<DataType>) -> Option<Int64Builder> {
    match data_type? {
        DataType::Int64 => Some(Int64Builder::new(name)),
        DataType::Timestamp => Some(Int64Builder::timestamp(name)),
        DataType::Date => Some(Int64Builder::date(name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_base64_as_the_api_shows_them() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"\x00", "AA=="),
            (b"\x00\xff", "AP8="),
            (b"\x00\xff\x10", "AP8Q"),
            (b"Quarry!", "UXVhcnJ5IQ=="),
        ];
        for (bytes, text) in cases {
            assert_eq!(base64(bytes), text, "{bytes:?}");
        }
    }

    #[test]
    fn infers_types_and_fills_missing_keys_with_null() {
        let mut n = Int64Builder::new("n");
        n.extend([Some(1), Some(2)]);
        let input = Batch::new(vec![n.finish()]).unwrap();
        let earlier = HashMap::new();
        let mut out = Output::new(&input, &earlier);
        out.begin_row();
        let i = out.column_index("n");
        out.set(i, Cell::Num(1.0)).unwrap();
        let i = out.column_index("label");
        out.set(i, Cell::Null).unwrap();
        out.end_row();
        out.begin_row();
        let i = out.column_index("label");
        out.set(i, Cell::Str("x".into())).unwrap();
        let i = out.column_index("ok");
        out.set(i, Cell::Bool(true)).unwrap();
        out.end_row();
        let batch = out.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column("n").unwrap().data_type(), DataType::Int64);
        assert_eq!(batch.column("n").unwrap().i64(1), None);
        let label: Vec<_> = batch.column("label").unwrap().texts().collect();
        assert_eq!(label, [None, Some("x")]);
        let ok: Vec<_> = batch.column("ok").unwrap().bools().collect();
        assert_eq!(ok, [None, Some(true)]);
    }

    #[test]
    fn a_type_change_is_an_error_naming_the_row() {
        let input = Batch::empty();
        let earlier = HashMap::new();
        let mut out = Output::new(&input, &earlier);
        out.begin_row();
        let i = out.column_index("x");
        out.set(i, Cell::Num(1.0)).unwrap();
        out.end_row();
        out.begin_row();
        let i = out.column_index("x");
        let e = out.set(i, Cell::Str("a".into())).unwrap_err();
        assert_eq!(e.row(), Some(1));
        assert!(e.message().contains("holds numbers"), "{e}");
    }
}
