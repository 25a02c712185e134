//! Output formats: an aligned text table, JSON, NDJSON and CSV (RFC 4180, with a header).
//!
//! Every format streams: a batch is written as soon as it arrives. Cells are rendered
//! straight from the columnar buffers, without intermediate JSON values. Timestamps and
//! dates print as ISO 8601 in UTC, bytes as base64, nulls as JSON `null` / an empty CSV
//! field / `NULL` in the table.

use std::borrow::Cow;
use std::io::{self, Write};

use base64::Engine as _;

use crate::batch::{Batch, Cell, DataType, Field};
use crate::datetime;
use crate::run::Sink;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}

/// A sink writing `format` to `out`.
pub fn sink<W: Write + Send + 'static>(format: Format, out: W) -> Box<dyn Sink> {
    match format {
        Format::Table => Box::new(Table::new(out)),
        Format::Json => Box::new(Json {
            out,
            fields: Vec::new(),
            rows: 0,
            lines: false,
        }),
        Format::Ndjson => Box::new(Json {
            out,
            fields: Vec::new(),
            rows: 0,
            lines: true,
        }),
        Format::Csv => Box::new(Csv {
            out: csv::Writer::from_writer(out),
        }),
    }
}

/// A cell as text, the way CSV and the table show it; `None` for null.
pub fn cell_text(data_type: DataType, cell: Cell<'_>) -> Option<Cow<'_, str>> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Boolean(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        Cell::Int64(i) => Cow::Owned(match data_type {
            DataType::Timestamp => datetime::format_timestamp(i),
            DataType::Date => datetime::format_date(i),
            _ => i.to_string(),
        }),
        Cell::Float64(f) => Cow::Owned(f.to_string()),
        Cell::Text(s) => Cow::Borrowed(s),
        Cell::Bytes(b) => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(b)),
    })
}

/// Writes a cell as a JSON value.
pub fn write_json_cell(
    out: &mut impl Write,
    data_type: DataType,
    cell: Cell<'_>,
) -> io::Result<()> {
    match (data_type, cell) {
        (_, Cell::Null) => out.write_all(b"null"),
        (_, Cell::Boolean(b)) => out.write_all(if b { b"true" } else { b"false" }),
        (DataType::Int64, Cell::Int64(i)) => write!(out, "{i}"),
        (_, Cell::Float64(f)) if !f.is_finite() => out.write_all(b"null"),
        (_, Cell::Float64(f)) => serde_json::to_writer(out, &f).map_err(io::Error::other),
        // JSON columns are embedded as JSON when they are valid, as a string otherwise.
        (DataType::Json, Cell::Text(s))
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() =>
        {
            out.write_all(s.as_bytes())
        }
        (data_type, cell) => {
            let text = cell_text(data_type, cell).unwrap_or_default();
            serde_json::to_writer(out, text.as_ref()).map_err(io::Error::other)
        }
    }
}

struct Json<W> {
    out: W,
    /// Column names, JSON-escaped once with their quotes and colon.
    fields: Vec<(String, DataType)>,
    rows: u64,
    /// NDJSON: one object per line, no enclosing array.
    lines: bool,
}

impl<W> Json<W> {
    fn set_fields(&mut self, fields: &[Field]) {
        self.fields = fields
            .iter()
            .map(|f| {
                (
                    format!("{}:", serde_json::to_string(&f.name).unwrap_or_default()),
                    f.data_type,
                )
            })
            .collect();
    }
}

impl<W: Write + Send> Sink for Json<W> {
    fn start(&mut self, fields: &[Field]) -> io::Result<()> {
        self.set_fields(fields);
        if !self.lines {
            self.out.write_all(b"[")?;
        }
        Ok(())
    }

    /// Objects name their keys, so later rows simply carry more of them.
    fn widen(&mut self, fields: &[Field]) -> io::Result<bool> {
        self.set_fields(fields);
        Ok(true)
    }

    fn batch(&mut self, batch: &Batch) -> io::Result<()> {
        for row in 0..batch.num_rows {
            if !self.lines {
                self.out
                    .write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
            }
            self.out.write_all(b"{")?;
            for (i, ((key, data_type), column)) in
                self.fields.iter().zip(&batch.columns).enumerate()
            {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(key.as_bytes())?;
                write_json_cell(&mut self.out, *data_type, column.cell(row))?;
            }
            self.out.write_all(if self.lines { b"}\n" } else { b"}" })?;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.lines {
            self.out
                .write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()
    }
}

struct Csv<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write + Send> Sink for Csv<W> {
    fn start(&mut self, fields: &[Field]) -> io::Result<()> {
        if fields.is_empty() {
            return Ok(());
        }
        self.out
            .write_record(fields.iter().map(|f| f.name.as_str()))
            .map_err(io::Error::other)
    }

    fn batch(&mut self, batch: &Batch) -> io::Result<()> {
        for row in 0..batch.num_rows {
            for column in &batch.columns {
                let text = cell_text(column.data_type, column.cell(row));
                self.out
                    .write_field(text.as_deref().unwrap_or(""))
                    .map_err(io::Error::other)?;
            }
            self.out
                .write_record(None::<&[u8]>)
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The widest a table column gets; longer values are cut with `…`.
const MAX_WIDTH: usize = 40;

/// An aligned text table. Column widths come from the header and the first batch; later
/// rows are cut to fit so the table can stream.
struct Table<W> {
    out: W,
    fields: Vec<Field>,
    widths: Vec<usize>,
    rows: u64,
}

impl<W: Write> Table<W> {
    fn new(out: W) -> Self {
        Table {
            out,
            fields: Vec::new(),
            widths: Vec::new(),
            rows: 0,
        }
    }

    fn write_row(&mut self, cells: &[(String, bool)]) -> io::Result<()> {
        let mut line = String::new();
        for (i, ((text, right), width)) in cells.iter().zip(&self.widths).enumerate() {
            if i > 0 {
                line.push_str(" │ ");
            }
            let shown = fit(text, *width);
            let pad = width.saturating_sub(shown.chars().count());
            if *right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&shown);
            } else {
                line.push_str(&shown);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(self.out, "{}", line.trim_end())
    }

    fn header(&mut self) -> io::Result<()> {
        let names: Vec<(String, bool)> = self
            .fields
            .iter()
            .map(|f| (f.name.clone(), false))
            .collect();
        self.write_row(&names)?;
        let rule: Vec<String> = self.widths.iter().map(|w| "─".repeat(*w)).collect();
        writeln!(self.out, "{}", rule.join("─┼─"))
    }
}

fn fit(text: &str, width: usize) -> Cow<'_, str> {
    let text = if text.contains(['\n', '\r', '\t']) {
        Cow::Owned(text.replace(['\n', '\r', '\t'], " "))
    } else {
        Cow::Borrowed(text)
    };
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    Cow::Owned(cut)
}

fn table_cells(batch: &Batch, row: usize) -> Vec<(String, bool)> {
    batch
        .columns
        .iter()
        .map(|c| match cell_text(c.data_type, c.cell(row)) {
            None => ("NULL".to_owned(), false),
            Some(text) => (text.into_owned(), c.data_type.is_numeric()),
        })
        .collect()
}

impl<W: Write + Send> Sink for Table<W> {
    fn start(&mut self, fields: &[Field]) -> io::Result<()> {
        self.fields = fields.to_vec();
        Ok(())
    }

    fn batch(&mut self, batch: &Batch) -> io::Result<()> {
        let rows: Vec<Vec<(String, bool)>> =
            (0..batch.num_rows).map(|r| table_cells(batch, r)).collect();
        if self.rows == 0 {
            self.widths = self
                .fields
                .iter()
                .map(|f| f.name.chars().count().min(MAX_WIDTH))
                .collect();
            for row in &rows {
                for (width, (text, _)) in self.widths.iter_mut().zip(row) {
                    *width = (*width).max(text.chars().count()).min(MAX_WIDTH);
                }
            }
            self.header()?;
        }
        for row in &rows {
            self.write_row(row)?;
        }
        self.rows += batch.num_rows as u64;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.rows == 0 && !self.fields.is_empty() {
            self.widths = self.fields.iter().map(|f| f.name.chars().count()).collect();
            self.header()?;
        }
        let plural = if self.rows == 1 { "" } else { "s" };
        writeln!(self.out, "({} row{plural})", self.rows)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ColumnBuilder;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back after the sink is done with it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn sample() -> Batch {
        let mut name = ColumnBuilder::new("name", DataType::Text, 3);
        name.push_str("a,\"b\"");
        name.push_str("");
        name.push_null();
        let mut at = ColumnBuilder::new("at", DataType::Timestamp, 3);
        at.push_i64(1_356_998_400_000_000);
        at.push_null();
        at.push_i64(0);
        let mut big = ColumnBuilder::new("big", DataType::Int64, 3);
        big.push_i64(i64::MAX);
        big.push_i64(-1);
        big.push_i64(0);
        Batch {
            num_rows: 3,
            columns: vec![name.finish(), at.finish(), big.finish()],
        }
    }

    fn render(format: Format) -> String {
        let out = Shared::default();
        let mut s = sink(format, out.clone());
        let batch = sample();
        s.start(&batch.fields()).unwrap();
        s.batch(&batch).unwrap();
        s.finish().unwrap();
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn csv_quotes_and_prints_iso_times() {
        assert_eq!(
            render(Format::Csv),
            "name,at,big\n\"a,\"\"b\"\"\",2013-01-01T00:00:00Z,9223372036854775807\n,,-1\n,1970-01-01T00:00:00Z,0\n"
        );
    }

    #[test]
    fn json_keeps_nulls_and_exact_integers() {
        let text = render(Format::Json);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[0]["name"], "a,\"b\"");
        assert_eq!(parsed[1]["name"], "");
        assert!(parsed[2]["name"].is_null());
        assert_eq!(parsed[0]["at"], "2013-01-01T00:00:00Z");
        assert!(text.contains("9223372036854775807"));
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let text = render(Format::Ndjson);
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).unwrap();
        }
    }

    #[test]
    fn table_aligns_numbers_and_shows_null() {
        let text = render(Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("name"));
        assert!(lines[3].contains("NULL"));
        assert!(lines[3].ends_with("                  -1"), "{text}");
        assert!(lines[4].starts_with("NULL "), "{text}");
        assert_eq!(lines.last(), Some(&"(3 rows)"));
    }
}
