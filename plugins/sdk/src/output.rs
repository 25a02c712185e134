//! What `transform` returns: an edit of the input batch, or rows of its own.

use crate::{Batch, Column, Error, raw};

/// The rows a `transform` outputs for one batch.
///
/// Most transforms edit their input: a map adds or replaces columns, a filter keeps some
/// rows. An edit sends back only what it changes, and the host applies it to the whole
/// batch, columns the plugin never read included, so a map that declares the two columns
/// it [`reads`](crate::Info::reads) costs its own work plus those columns:
///
/// ```
/// # use quarry_plugin::{Float64Builder, Output};
/// let mut gain = Float64Builder::new("gain");
/// gain.extend([Some(6.0), None]);
/// let map = Output::unchanged().set(gain.finish());
/// let filter = Output::keep_where(&[true, false]);
/// # let _ = (map, filter);
/// ```
///
/// A transform that reshapes its input (one row per group, say) returns a batch of its
/// own with [`Output::rows`] or `batch.into()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Output(Kind);

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Edit {
        rows: Option<Vec<u32>>,
        columns: Vec<Column>,
    },
    Rows(Batch),
}

impl Output {
    /// Every input row, every column as it came.
    pub fn unchanged() -> Self {
        Output(Kind::Edit {
            rows: None,
            columns: Vec::new(),
        })
    }

    /// The input rows at these indices, in this order; columns set with
    /// [`set`](Output::set) then hold one value per kept row.
    pub fn keep(rows: Vec<u32>) -> Self {
        Output(Kind::Edit {
            rows: Some(rows),
            columns: Vec::new(),
        })
    }

    /// The input rows whose entry in `mask` is true (one entry per input row).
    pub fn keep_where(mask: &[bool]) -> Self {
        let rows = mask
            .iter()
            .enumerate()
            .filter(|(_, keep)| **keep)
            .map(|(row, _)| row as u32)
            .collect();
        Output::keep(rows)
    }

    /// Nothing for this batch, neither rows nor columns: what an aggregate that answers
    /// from `finish` returns. (A filter that keeps no row returns `keep(vec![])`, which
    /// still has the input's columns.)
    pub fn none() -> Self {
        Output::rows(Batch::empty())
    }

    /// These rows instead of the input's.
    pub fn rows(batch: Batch) -> Self {
        Output(Kind::Rows(batch))
    }

    /// Adds `column` to the output, in place of the input column of the same name if
    /// there is one, else after the others. On [`Output::rows`], replaces or appends in
    /// that batch.
    pub fn set(mut self, column: Column) -> Self {
        match &mut self.0 {
            Kind::Edit { columns, .. } => {
                match columns.iter_mut().find(|c| c.name() == column.name()) {
                    Some(old) => *old = column,
                    None => columns.push(column),
                }
            }
            Kind::Rows(batch) => batch.set_column(column),
        }
        self
    }

    /// The contract's output.
    pub fn into_raw(self) -> raw::Output {
        match self.0 {
            Kind::Edit { rows, columns } => raw::Output::Edit(raw::Edit {
                rows,
                columns: columns.into_iter().map(Column::into_raw).collect(),
            }),
            Kind::Rows(batch) => raw::Output::Rows(batch.into_raw()),
        }
    }

    /// Applies this output to `input` the way the host does, for a plugin's own tests.
    pub fn apply(self, input: Batch) -> Result<Batch, Error> {
        match self.0 {
            Kind::Rows(batch) => Ok(batch),
            Kind::Edit { rows, columns } => {
                let mut batch = match rows {
                    Some(rows) => {
                        let rows: Vec<usize> = rows.into_iter().map(|r| r as usize).collect();
                        input.take(&rows)?
                    }
                    None => input,
                };
                for column in columns {
                    batch = match batch.column_index(column.name()) {
                        Some(_) => batch.replace_column(column)?,
                        None => batch.with_column(column)?,
                    };
                }
                Ok(batch)
            }
        }
    }
}

/// The batch's rows replace the input's.
impl From<Batch> for Output {
    fn from(batch: Batch) -> Self {
        Output::rows(batch)
    }
}
