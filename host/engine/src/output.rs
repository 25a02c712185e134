//! Output formats: an aligned text table, JSON, NDJSON and CSV (RFC 4180, with a header).
//!
//! Every format streams: a batch is written as soon as it arrives. Cells are rendered
//! straight from the columnar buffers, without intermediate JSON values. Timestamps and
//! dates print as ISO 8601 in UTC, bytes as base64, nulls as JSON `null` / an empty CSV
//! field / `NULL` in the table.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};

use base64::Engine as _;

use crate::run::Sink;
use quarry_core::batch::{Batch, Cell, DataType, Field};
use quarry_core::datetime;

/// How a run's rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table, for people.
    Table,
    /// One JSON array of row objects.
    Json,
    /// One JSON object a line.
    Ndjson,
    /// RFC 4180 CSV with a header.
    Csv,
}

impl Format {
    /// Every format, by the name users type.
    pub const NAMES: [(&'static str, Format); 4] = [
        ("table", Format::Table),
        ("json", Format::Json),
        ("ndjson", Format::Ndjson),
        ("csv", Format::Csv),
    ];
}

/// A format name that is none of [`Format::NAMES`].
#[derive(Debug, thiserror::Error)]
#[error("unknown format `{0}`: table, json, ndjson or csv")]
pub struct UnknownFormat(String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, UnknownFormat> {
        Format::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, format)| *format)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
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
            buffer: Vec::new(),
        }),
        Format::Ndjson => Box::new(Json {
            out,
            fields: Vec::new(),
            rows: 0,
            lines: true,
            buffer: Vec::new(),
        }),
        Format::Csv => Box::new(Csv {
            out: csv::Writer::from_writer(out),
            text: String::new(),
        }),
    }
}

/// A cell as text, the way CSV and the table show it; `None` for null.
pub fn cell_text(data_type: DataType, cell: Cell<'_>) -> Option<Cow<'_, str>> {
    match cell {
        Cell::Null => None,
        Cell::Boolean(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        Cell::Text(s) => Some(Cow::Borrowed(s)),
        _ => {
            let mut text = String::new();
            render_text(&mut text, data_type, cell);
            Some(Cow::Owned(text))
        }
    }
}

/// A cell as text into `out`, as [`cell_text`] gives it (nothing for null): the way to
/// write many cells with one reused buffer.
pub(crate) fn render_text(out: &mut String, data_type: DataType, cell: Cell<'_>) {
    // Writing to a String cannot fail.
    let _ = match cell {
        Cell::Null => Ok(()),
        Cell::Boolean(b) => out.write_str(if b { "true" } else { "false" }),
        Cell::Int64(i) => match data_type {
            DataType::Timestamp => datetime::write_timestamp(out, i),
            DataType::Date => datetime::write_date(out, i),
            _ => out.write_str(itoa::Buffer::new().format(i)),
        },
        Cell::Float64(f) => write!(out, "{f}"),
        Cell::Text(s) => out.write_str(s),
        Cell::Bytes(b) => {
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            Ok(())
        }
    };
}

/// Writes a cell as a JSON value.
pub fn write_json_cell(out: &mut Vec<u8>, data_type: DataType, cell: Cell<'_>) {
    match (data_type, cell) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (_, Cell::Boolean(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (DataType::Int64, Cell::Int64(i)) => {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes())
        }
        // ISO 8601 needs no escaping.
        (DataType::Timestamp | DataType::Date, Cell::Int64(i)) => {
            out.push(b'"');
            let mut text = Utf8Sink(out);
            let _ = match data_type {
                DataType::Date => datetime::write_date(&mut text, i),
                _ => datetime::write_timestamp(&mut text, i),
            };
            out.push(b'"');
        }
        (_, Cell::Float64(f)) if !f.is_finite() => out.extend_from_slice(b"null"),
        (_, Cell::Float64(f)) => {
            let _ = serde_json::to_writer(out, &f);
        }
        // JSON columns are embedded as JSON when they are valid, as a string otherwise.
        (DataType::Json, Cell::Text(s))
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() =>
        {
            out.extend_from_slice(s.as_bytes())
        }
        (_, Cell::Text(s)) => write_json_string(out, s),
        (data_type, cell) => {
            let text = cell_text(data_type, cell).unwrap_or_default();
            write_json_string(out, &text);
        }
    }
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

/// `fmt::Write` into a byte buffer, for text that is known to be UTF-8.
struct Utf8Sink<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct Json<W> {
    out: W,
    /// Column names, JSON-escaped once with their quotes and colon.
    fields: Vec<(String, DataType)>,
    rows: u64,
    /// NDJSON: one object per line, no enclosing array.
    lines: bool,
    /// The current batch, rendered.
    buffer: Vec<u8>,
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
        // The batch is rendered into one buffer, written at once.
        let out = &mut self.buffer;
        out.clear();
        for row in 0..batch.num_rows {
            if !self.lines {
                out.extend_from_slice(if self.rows == 0 { b"\n" } else { b",\n" });
            }
            out.push(b'{');
            for (i, ((key, data_type), column)) in
                self.fields.iter().zip(&batch.columns).enumerate()
            {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.as_bytes());
                write_json_cell(out, *data_type, column.cell(row));
            }
            out.extend_from_slice(if self.lines { b"}\n" } else { b"}" });
            self.rows += 1;
        }
        self.out.write_all(out)
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
    /// The current cell, rendered.
    text: String,
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
                self.text.clear();
                render_text(&mut self.text, column.data_type, column.cell(row));
                self.out.write_field(&self.text).map_err(io::Error::other)?;
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
    use quarry_core::batch::ColumnBuilder;
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
