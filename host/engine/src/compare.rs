//! Compare mode: the same plugin and params on several sources, and whether their outputs
//! match. Values are compared by meaning, not storage: `5` (int64) equals `5.0` (float64),
//! floats within a relative 1e-9, timestamps and dates by instant.

use crate::output::cell_text;
use crate::run::Sink;
use quarry_core::batch::{Batch, Cell, DataType, Field};

/// Keeps a run's output in memory for comparison.
#[derive(Default)]
pub struct Collected {
    /// The output columns; batches from before a widening lack the last ones.
    pub fields: Vec<Field>,
    /// Every output batch, in order.
    pub batches: Vec<Batch>,
}

impl Sink for Collected {
    fn start(&mut self, fields: &[Field]) -> std::io::Result<()> {
        self.fields = fields.to_vec();
        Ok(())
    }

    /// Earlier batches keep their narrower columns; readers treat the missing ones as null.
    fn widen(&mut self, fields: &[Field]) -> std::io::Result<bool> {
        self.fields = fields.to_vec();
        Ok(true)
    }

    fn batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        self.batches.push(batch.clone());
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Collected {
    /// Rows in all the batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows).sum()
    }

    fn cells(&self) -> impl Iterator<Item = Vec<(DataType, Cell<'_>)>> {
        self.batches.iter().flat_map(move |b| {
            (0..b.num_rows).map(move |r| {
                (0..self.fields.len())
                    .map(|i| match b.columns.get(i) {
                        Some(c) => (c.data_type, c.cell(r)),
                        None => (self.fields[i].data_type, Cell::Null),
                    })
                    .collect()
            })
        })
    }
}

/// The first way `b` differs from `a`, in words; `None` when they match.
pub fn first_difference(a: &Collected, b: &Collected) -> Option<String> {
    let names = |c: &Collected| c.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    if names(a) != names(b) {
        return Some(format!(
            "the columns differ: [{}] vs [{}]",
            names(a).join(", "),
            names(b).join(", ")
        ));
    }
    for (row, (x, y)) in a.cells().zip(b.cells()).enumerate() {
        for (i, (cx, cy)) in x.iter().zip(&y).enumerate() {
            if !same(*cx, *cy) {
                let show = |(t, c): (DataType, Cell<'_>)| {
                    cell_text(t, c).map_or("NULL".to_owned(), |s| s.into_owned())
                };
                return Some(format!(
                    "row {} column `{}`: {} vs {}",
                    row + 1,
                    a.fields[i].name,
                    show(*cx),
                    show(*cy)
                ));
            }
        }
    }
    if a.rows() != b.rows() {
        return Some(format!(
            "{} rows vs {} rows (the first {} match)",
            a.rows(),
            b.rows(),
            a.rows().min(b.rows())
        ));
    }
    None
}

fn same((ta, a): (DataType, Cell<'_>), (tb, b): (DataType, Cell<'_>)) -> bool {
    let number = |t: DataType, c: Cell<'_>| match (t, c) {
        (DataType::Int64, Cell::Int64(i)) => Some(i as f64),
        (_, Cell::Float64(f)) => Some(f),
        (DataType::Decimal, Cell::Text(s)) => s.parse().ok(),
        _ => None,
    };
    if let (Some(x), Some(y)) = (number(ta, a), number(tb, b)) {
        return x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
    }
    cell_text(ta, a) == cell_text(tb, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_core::batch::ColumnBuilder;

    fn one(name: &str, t: DataType, push: impl FnOnce(&mut ColumnBuilder)) -> Collected {
        let mut b = ColumnBuilder::new(name, t, 1);
        push(&mut b);
        let batch = Batch {
            num_rows: 1,
            columns: vec![b.finish()],
        };
        Collected {
            fields: batch.fields(),
            batches: vec![batch],
        }
    }

    #[test]
    fn values_compare_by_meaning() {
        let int = one("x", DataType::Int64, |b| b.push_i64(5));
        let float = one("x", DataType::Float64, |b| b.push_f64(5.0));
        let decimal = one("x", DataType::Decimal, |b| b.push_str("5.000"));
        assert_eq!(first_difference(&int, &float), None);
        assert_eq!(first_difference(&int, &decimal), None);
        let other = one("x", DataType::Float64, |b| b.push_f64(5.5));
        assert_eq!(
            first_difference(&int, &other).as_deref(),
            Some("row 1 column `x`: 5 vs 5.5")
        );
        let null = one("x", DataType::Int64, |b| b.push_null());
        assert_eq!(
            first_difference(&int, &null).as_deref(),
            Some("row 1 column `x`: 5 vs NULL")
        );
        let renamed = one("y", DataType::Int64, |b| b.push_i64(5));
        assert!(
            first_difference(&int, &renamed)
                .unwrap()
                .starts_with("the columns differ")
        );
        let empty = Collected {
            fields: int.fields.clone(),
            batches: vec![],
        };
        assert_eq!(
            first_difference(&int, &empty).as_deref(),
            Some("1 rows vs 0 rows (the first 0 match)")
        );
    }
}
