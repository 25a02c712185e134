//! Run output for the API: rows as JSON arrays, the page's event stream, and a writer that
//! feeds a streamed response body from the run's blocking thread.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

use super::ApiError;
use crate::quota::Held;
use quarry_core::batch::{Batch, Cell, DataType, Field};
use quarry_engine::output::write_json_cell;
use quarry_engine::run::{Progress, RunReport, Sink};

/// The largest integer a JavaScript number holds exactly.
const JS_SAFE: i64 = (1 << 53) - 1;

/// What a streamed run sends to its response body.
pub enum Msg {
    Data(Bytes),
    /// The run failed; before any data this becomes the response's status and envelope,
    /// after some data it ends the body abruptly so the client sees an incomplete transfer.
    Failed(ApiError),
}

/// A cell for the JSON API: like the JSON output, but an int64 that a JavaScript number
/// cannot hold exactly is a string.
pub fn write_api_cell(out: &mut Vec<u8>, data_type: DataType, cell: Cell<'_>) {
    match (data_type, cell) {
        (DataType::Int64, Cell::Int64(i)) if !(-JS_SAFE..=JS_SAFE).contains(&i) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            out.push(b'"');
        }
        _ => write_json_cell(out, data_type, cell),
    }
}

pub fn columns_json(fields: &[Field]) -> serde_json::Value {
    fields
        .iter()
        .map(|f| json!({"name": f.name, "type": f.data_type.to_string()}))
        .collect()
}

/// Appends the batch's rows as comma-separated JSON arrays; `first` says whether rows
/// were written before.
pub fn write_rows(out: &mut Vec<u8>, batch: &Batch, rows: std::ops::Range<usize>, mut first: bool) {
    for row in rows {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'[');
        for (i, column) in batch.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_api_cell(out, column.data_type, column.cell(row));
        }
        out.push(b']');
    }
}

/// Collects a run's rows for the JSON answer. Rows from before a column was added are
/// shorter; they are padded with null when the answer is written.
///
/// The answer leaves out its first `offset` rows (a `next` page), stops taking rows once
/// it holds `cap` bytes (it is then full, and the run ends truncated), within the share
/// of the server's memory budget reserved for it.
pub struct Rows {
    pub fields: Vec<Field>,
    /// Each batch's rows as JSON arrays, with the number of columns it had.
    chunks: Vec<(usize, Vec<u8>)>,
    /// Rows in the answer.
    pub rows: u64,
    /// Rows still to leave out.
    skip: u64,
    cap: u64,
    bytes: u64,
    full: bool,
    held: Held,
}

impl Rows {
    pub(crate) fn new(offset: u64, cap: u64, held: Held) -> Rows {
        Rows {
            fields: Vec::new(),
            chunks: Vec::new(),
            rows: 0,
            skip: offset,
            cap,
            bytes: 0,
            full: false,
            held,
        }
    }
}

impl Sink for Rows {
    fn start(&mut self, fields: &[Field]) -> io::Result<()> {
        self.fields = fields.to_vec();
        Ok(())
    }

    fn widen(&mut self, fields: &[Field]) -> io::Result<bool> {
        self.fields = fields.to_vec();
        Ok(true)
    }

    fn batch(&mut self, batch: &Batch) -> io::Result<()> {
        let skipped = self.skip.min(batch.num_rows as u64) as usize;
        self.skip -= skipped as u64;
        let mut out = Vec::new();
        for row in skipped..batch.num_rows {
            // Every answer has a row, however large, so that `next` moves on.
            if self.rows > 0 && self.bytes + out.len() as u64 >= self.cap {
                self.full = true;
                break;
            }
            let first = out.is_empty();
            write_rows(&mut out, batch, row..row + 1, first);
            self.rows += 1;
        }
        self.bytes += out.len() as u64;
        self.chunks.push((batch.columns.len(), out));
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.full
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Rows {
    /// The `rows` array, in pieces for the response body (the batches' own buffers, not a
    /// copy), and the budget share they hold until the body is sent.
    pub fn into_json(self) -> (Vec<Bytes>, Held) {
        let width = self.fields.len();
        let mut pieces = Vec::with_capacity(self.chunks.len() * 2 + 2);
        pieces.push(Bytes::from_static(b"["));
        let mut first = true;
        for (columns, chunk) in self.chunks {
            if chunk.is_empty() {
                continue;
            }
            if !first {
                pieces.push(Bytes::from_static(b","));
            }
            first = false;
            if columns == width {
                pieces.push(Bytes::from(chunk));
            } else {
                // Re-split this batch's rows to pad each one.
                let rows: Vec<serde_json::Value> =
                    serde_json::from_slice(&[b"[", chunk.as_slice(), b"]"].concat())
                        .unwrap_or_default();
                let padded: Vec<String> = rows
                    .into_iter()
                    .map(|mut row| {
                        if let Some(cells) = row.as_array_mut() {
                            cells.resize(width, serde_json::Value::Null);
                        }
                        row.to_string()
                    })
                    .collect();
                pieces.push(Bytes::from(padded.join(",")));
            }
        }
        pieces.push(Bytes::from_static(b"]"));
        (pieces, self.held)
    }
}

/// Feeds a response body: buffers writes and sends them in chunks of 64 KiB. Fails with
/// `BrokenPipe` once the client has gone, which stops the run.
pub struct ChannelWriter {
    tx: mpsc::Sender<Msg>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Msg>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Msg::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The first rows of each step of a pipeline the event stream shows.
const STEP_ROWS: usize = 20;

/// The playground's event stream: one JSON object per line (see the OpenAPI document).
pub struct Events {
    tx: mpsc::Sender<Msg>,
    last_progress: Option<Instant>,
}

impl Events {
    pub fn new(tx: mpsc::Sender<Msg>) -> Self {
        Events {
            tx,
            last_progress: None,
        }
    }

    pub fn send(&self, event: &serde_json::Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.send_line(line)
    }

    fn send_line(&self, line: Vec<u8>) -> io::Result<()> {
        self.tx
            .blocking_send(Msg::Data(Bytes::from(line)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// A progress event, at most every 50 ms (and never the first batch's, which the
    /// rows themselves show).
    pub fn progress(&mut self, p: Progress) {
        let due = self
            .last_progress
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(50));
        if due {
            self.last_progress = Some(Instant::now());
            let _ = self
                .send(&json!({"event": "progress", "rows_in": p.rows_in, "rows_out": p.rows_out}));
        }
    }

    /// The last events: the preview when there is one, then `done`.
    pub fn done(&self, report: &RunReport) {
        if let Some(batch) = &report.preview {
            let mut rows = b"{\"event\":\"preview\",\"columns\":".to_vec();
            rows.extend_from_slice(columns_json(&batch.fields()).to_string().as_bytes());
            rows.extend_from_slice(b",\"rows\":[");
            write_rows(&mut rows, batch, 0..batch.num_rows, true);
            rows.extend_from_slice(b"]}\n");
            let _ = self.send_line(rows);
        }
        // A pipeline's steps: each one's rows and its first rows.
        for (i, step) in report.steps.iter().enumerate() {
            let mut line = format!(
                "{{\"event\":\"step\",\"step\":{},\"name\":{},\"rows_out\":{}",
                i + 1,
                json!(step.name),
                step.rows_out
            )
            .into_bytes();
            if let Some(batch) = &step.first {
                line.extend_from_slice(b",\"columns\":");
                line.extend_from_slice(columns_json(&batch.fields()).to_string().as_bytes());
                line.extend_from_slice(b",\"rows\":[");
                write_rows(&mut line, batch, 0..batch.num_rows.min(STEP_ROWS), true);
                line.push(b']');
            }
            line.extend_from_slice(b"}\n");
            let _ = self.send_line(line);
        }
        let mut done = json!({
            "event": "done",
            "ok": report.result.is_ok(),
            "truncated": report.truncated,
            "query": report.query,
            "stats": report.stats,
            "logs": report.logs,
        });
        if let Err(e) = &report.result {
            done["error"] = ApiError::run(e).body();
        }
        let _ = self.send(&done);
    }
}

impl Sink for Events {
    fn start(&mut self, fields: &[Field]) -> io::Result<()> {
        self.send(&json!({"event": "columns", "columns": columns_json(fields)}))
    }

    fn widen(&mut self, fields: &[Field]) -> io::Result<bool> {
        self.start(fields)?;
        Ok(true)
    }

    fn batch(&mut self, batch: &Batch) -> io::Result<()> {
        let mut line = b"{\"event\":\"rows\",\"rows\":[".to_vec();
        write_rows(&mut line, batch, 0..batch.num_rows, true);
        line.extend_from_slice(b"]}\n");
        self.send_line(line)
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_core::batch::ColumnBuilder;

    #[test]
    fn integers_a_javascript_number_cannot_hold_are_strings() {
        let mut b = ColumnBuilder::new("n", DataType::Int64, 4);
        for v in [JS_SAFE, JS_SAFE + 1, -JS_SAFE - 1, i64::MAX] {
            b.push_i64(v);
        }
        let batch = Batch {
            num_rows: 4,
            columns: vec![b.finish()],
        };
        let mut out = Vec::new();
        write_rows(&mut out, &batch, 0..batch.num_rows, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"[9007199254740991],["9007199254740992"],["-9007199254740992"],["9223372036854775807"]"#
        );
    }

    #[test]
    fn rows_from_before_a_column_was_added_are_padded() {
        let batch = |names: &[&str]| Batch {
            num_rows: 1,
            columns: names
                .iter()
                .map(|n| {
                    let mut b = ColumnBuilder::new(*n, DataType::Int64, 1);
                    b.push_i64(1);
                    b.finish()
                })
                .collect(),
        };
        let budget = crate::quota::Budget::new(1 << 20);
        let mut rows = Rows::new(0, 1 << 20, budget.reserve(1 << 20).unwrap());
        let first = batch(&["a"]);
        rows.start(&first.fields()).unwrap();
        rows.batch(&first).unwrap();
        let wider = batch(&["a", "b"]);
        rows.widen(&wider.fields()).unwrap();
        rows.batch(&wider).unwrap();
        let (pieces, _) = rows.into_json();
        assert_eq!(pieces.concat(), b"[[1,null],[1,1]]");
    }
}
