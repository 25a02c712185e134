//! Batches: reading by column or by row, and deriving new batches from old ones.

use crate::{Column, Error, Value, raw};

/// A slice of a result set: columns that each hold [`num_rows`](Batch::num_rows) values.
///
/// Read it column-wise (the fast path: look each column up once, then loop over rows)
/// or row-wise with [`rows`](Batch::rows). Derive new batches with
/// [`with_column`](Batch::with_column) (map), [`filter`](Batch::filter) and
/// [`take`](Batch::take) (filter), or [`Batch::new`] from built columns (aggregate).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    // Kept as the host sent it, even where it disagrees with the columns, so that
    // `from_raw` and `into_raw` round-trip exactly.
    num_rows: u32,
    columns: Vec<Column>,
}

impl Batch {
    /// A batch of these columns, which must all have the same number of rows. No
    /// columns make an empty batch.
    pub fn new(columns: Vec<Column>) -> Result<Self, Error> {
        let num_rows = columns.first().map_or(0, Column::len);
        if let Some(odd) = columns.iter().find(|column| column.len() != num_rows) {
            return Err(Error::new(format!(
                "column `{}` has {} rows, but column `{}` has {num_rows}",
                odd.name(),
                odd.len(),
                columns[0].name()
            )));
        }
        Ok(Batch {
            num_rows: rows_u32(num_rows)?,
            columns,
        })
    }

    /// A batch with no rows and no columns, which is what a plugin that outputs
    /// nothing for a batch returns from `transform`.
    pub fn empty() -> Self {
        Batch::default()
    }

    /// Wraps the contract's batch as it is, without checking it: what the host sends is
    /// already checked, and tests of the host need to send malformed batches back.
    pub fn from_raw(raw: raw::Batch) -> Self {
        Batch {
            num_rows: raw.num_rows,
            columns: raw.columns.into_iter().map(Column::from_raw).collect(),
        }
    }

    /// The contract's batch.
    pub fn into_raw(self) -> raw::Batch {
        raw::Batch {
            num_rows: self.num_rows,
            columns: self.columns.into_iter().map(Column::into_raw).collect(),
        }
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.num_rows as usize
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The columns, in order, by value.
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The position of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name() == name)
    }

    /// The column named `name`, or an error that lists the columns there are.
    pub fn column(&self, name: &str) -> Result<&Column, Error> {
        match self.column_index(name) {
            Some(index) => Ok(&self.columns[index]),
            None => Err(self.no_such_column(name)),
        }
    }

    /// This batch with `column` appended. The column must have `num_rows` rows (or, on a
    /// batch without columns or rows, sets it) and a name not already taken.
    pub fn with_column(mut self, column: Column) -> Result<Self, Error> {
        if self.column_index(column.name()).is_some() {
            return Err(Error::new(format!(
                "the batch already has a column `{}`; use replace_column to replace it",
                column.name()
            )));
        }
        if self.columns.is_empty() && self.num_rows == 0 {
            self.num_rows = rows_u32(column.len())?;
        }
        self.check_len(&column)?;
        self.columns.push(column);
        Ok(self)
    }

    /// This batch with the column of the same name as `column` replaced by it, in the
    /// same position.
    pub fn replace_column(mut self, column: Column) -> Result<Self, Error> {
        let index = self
            .column_index(column.name())
            .ok_or_else(|| self.no_such_column(column.name()))?;
        self.check_len(&column)?;
        self.columns[index] = column;
        Ok(self)
    }

    /// Replaces the column of the same name, or appends; unchecked, for
    /// [`Output::set`](crate::Output::set), whose result the host checks.
    pub(crate) fn set_column(&mut self, column: Column) {
        match self.column_index(column.name()) {
            Some(index) => self.columns[index] = column,
            None => self.columns.push(column),
        }
    }

    /// The rows whose entry in `keep` is true, in order. `keep` has one entry per row.
    pub fn filter(&self, keep: &[bool]) -> Result<Self, Error> {
        if keep.len() != self.num_rows() {
            return Err(Error::new(format!(
                "the filter mask has {} entries for {} rows",
                keep.len(),
                self.num_rows
            )));
        }
        let rows: Vec<usize> = (0..keep.len()).filter(|&row| keep[row]).collect();
        self.take(&rows)
    }

    /// The rows at `rows`, in that order; a row may appear more than once.
    pub fn take(&self, rows: &[usize]) -> Result<Self, Error> {
        if let Some(&row) = rows.iter().find(|&&row| row >= self.num_rows()) {
            return Err(Error::new(format!(
                "cannot take row {row} of a batch of {} rows",
                self.num_rows
            )));
        }
        Ok(Batch {
            num_rows: rows_u32(rows.len())?,
            columns: self
                .columns
                .iter()
                .map(|column| column.take(rows))
                .collect(),
        })
    }

    /// Row `index`, for reading by column name. Panics past the last row.
    pub fn row(&self, index: usize) -> Row<'_> {
        assert!(
            index < self.num_rows(),
            "row {index} is out of range: the batch has {} rows",
            self.num_rows
        );
        Row { batch: self, index }
    }

    /// Every row, in order. Each getter looks its column up by name; in a hot loop,
    /// look the columns up once with [`column`](Batch::column) instead.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.num_rows()).map(|index| Row { batch: self, index })
    }

    fn check_len(&self, column: &Column) -> Result<(), Error> {
        if column.len() == self.num_rows() {
            return Ok(());
        }
        Err(Error::new(format!(
            "column `{}` has {} rows, but the batch has {}",
            column.name(),
            column.len(),
            self.num_rows
        )))
    }

    fn no_such_column(&self, name: &str) -> Error {
        let names: Vec<&str> = self.columns.iter().map(Column::name).collect();
        Error::new(format!(
            "no column `{name}`; the columns are: {}",
            names.join(", ")
        ))
    }
}

fn rows_u32(rows: usize) -> Result<u32, Error> {
    u32::try_from(rows).map_err(|_| Error::new(format!("{rows} rows do not fit in one batch")))
}

/// One row of a batch; each getter names a column and reads it like the
/// [`Column`] accessor of the same name, failing only if there is no such column.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    batch: &'a Batch,
    index: usize,
}

impl<'a> Row<'a> {
    /// The row's index within its batch (what [`Error::at_row`] wants).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this row of column `name` is null.
    pub fn is_null(&self, name: &str) -> Result<bool, Error> {
        Ok(self.batch.column(name)?.is_null(self.index))
    }

    /// Reads column `name` as by [`Column::bool`].
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        Ok(self.batch.column(name)?.bool(self.index))
    }

    /// Reads column `name` as by [`Column::i64`].
    pub fn i64(&self, name: &str) -> Result<Option<i64>, Error> {
        Ok(self.batch.column(name)?.i64(self.index))
    }

    /// Reads column `name` as by [`Column::f64`].
    pub fn f64(&self, name: &str) -> Result<Option<f64>, Error> {
        Ok(self.batch.column(name)?.f64(self.index))
    }

    /// Reads column `name` as by [`Column::text`].
    pub fn text(&self, name: &str) -> Result<Option<&'a str>, Error> {
        Ok(self.batch.column(name)?.text(self.index))
    }

    /// Reads column `name` as by [`Column::bytes`].
    pub fn bytes(&self, name: &str) -> Result<Option<&'a [u8]>, Error> {
        Ok(self.batch.column(name)?.bytes(self.index))
    }

    /// Reads column `name` as by [`Column::value`].
    pub fn value(&self, name: &str) -> Result<Value, Error> {
        Ok(self.batch.column(name)?.value(self.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Float64Builder, Int64Builder, TextBuilder};

    fn flights() -> Batch {
        let mut carrier = TextBuilder::new("carrier");
        carrier.extend([Some("UA"), Some("AA"), None, Some("B6")]);
        let mut delay = Int64Builder::new("dep_delay");
        delay.extend([Some(2), None, Some(101), Some(-5)]);
        Batch::new(vec![carrier.finish(), delay.finish()]).unwrap()
    }

    #[test]
    fn columns_are_found_by_name_and_missing_ones_are_listed() {
        let batch = flights();
        assert_eq!((batch.num_rows(), batch.num_columns()), (4, 2));
        assert_eq!(batch.column("dep_delay").unwrap().i64(2), Some(101));
        let error = batch.column("arr_delay").unwrap_err();
        assert_eq!(
            error.message(),
            "no column `arr_delay`; the columns are: carrier, dep_delay"
        );
    }

    #[test]
    fn rows_read_by_name() {
        let batch = flights();
        let late: Vec<(usize, Option<&str>)> = batch
            .rows()
            .filter(|row| row.i64("dep_delay").unwrap().is_some_and(|d| d > 0))
            .map(|row| (row.index(), row.text("carrier").unwrap()))
            .collect();
        assert_eq!(late, [(0, Some("UA")), (2, None)]);
        assert!(batch.row(1).is_null("dep_delay").unwrap());
        assert!(batch.row(0).f64("nope").is_err());
        assert_eq!(
            batch.row(3).value("carrier").unwrap(),
            Value::Text("B6".into())
        );
    }

    #[test]
    fn with_column_appends_and_checks_length_and_name() {
        let mut km = Float64Builder::new("km");
        km.extend([Some(1.0), None, Some(3.0), Some(4.0)]);
        let batch = flights().with_column(km.finish()).unwrap();
        let names: Vec<&str> = batch.columns().iter().map(Column::name).collect();
        assert_eq!(names, ["carrier", "dep_delay", "km"]);

        let short = Float64Builder::new("short").finish();
        let error = flights().with_column(short).unwrap_err();
        assert_eq!(
            error.message(),
            "column `short` has 0 rows, but the batch has 4"
        );
        let twice = flights().column("carrier").unwrap().clone();
        assert!(flights().with_column(twice).is_err());

        let mut count = Int64Builder::new("count");
        count.push(Some(3));
        let built = Batch::empty().with_column(count.finish()).unwrap();
        assert_eq!(built.num_rows(), 1);
    }

    #[test]
    fn replace_column_keeps_the_position() {
        let mut masked = TextBuilder::new("carrier");
        masked.extend([Some("*"), Some("*"), None, Some("*")]);
        let batch = flights().replace_column(masked.finish()).unwrap();
        assert_eq!(batch.columns()[0].text(3), Some("*"));
        assert_eq!(batch.columns()[1].name(), "dep_delay");
        let stray = TextBuilder::new("tailnum").finish();
        assert!(flights().replace_column(stray).is_err());
    }

    #[test]
    fn filter_and_take_select_rows() {
        let batch = flights();
        let kept = batch.filter(&[true, false, true, false]).unwrap();
        assert_eq!(kept.num_rows(), 2);
        let delays: Vec<_> = kept.column("dep_delay").unwrap().i64s().collect();
        assert_eq!(delays, [Some(2), Some(101)]);
        assert_eq!(kept.column("carrier").unwrap().text(1), None);

        assert!(batch.filter(&[true]).is_err());
        assert_eq!(
            batch
                .take(&[3, 3])
                .unwrap()
                .column("carrier")
                .unwrap()
                .text(1),
            Some("B6")
        );
        let error = batch.take(&[4]).unwrap_err();
        assert_eq!(error.message(), "cannot take row 4 of a batch of 4 rows");
        assert_eq!(batch.filter(&[false; 4]).unwrap().num_columns(), 2);
    }

    #[test]
    fn new_rejects_ragged_columns_and_raw_round_trips() {
        let mut one = Int64Builder::new("one");
        one.push(Some(1));
        let error = Batch::new(vec![one.finish(), Int64Builder::new("none").finish()]).unwrap_err();
        assert_eq!(
            error.message(),
            "column `none` has 0 rows, but column `one` has 1"
        );

        let lie = raw::Batch {
            num_rows: 5,
            columns: vec![],
        };
        assert_eq!(Batch::from_raw(lie.clone()).into_raw(), lie);
        assert_eq!(
            Batch::empty().into_raw(),
            raw::Batch {
                num_rows: 0,
                columns: vec![]
            }
        );
    }
}
