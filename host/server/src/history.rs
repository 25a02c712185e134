//! The run history: who ran what, when, on which source, and how it ended, in
//! the store. `GET /api/history` shows callers their own runs and admins
//! everyone's; the newest 100,000 runs are kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::db::{Db, DbError, Row, Value};

use quarry_engine::run::{RunReport, RunRequest};

/// Runs kept; older ones are deleted as new ones arrive.
const KEEP: i64 = 100_000;

/// One finished run.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Position in the history: larger is newer (`before` pages by it).
    pub seq: i64,
    /// The run's id.
    pub id: String,
    /// Who ran it.
    pub user: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// The source it read.
    pub source: String,
    /// SHA-256 of its plugin or script; none for a plain query.
    pub plugin: Option<String>,
    /// The query that ran (built by the plugin, or given).
    pub query: Option<String>,
    /// The params object.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Rows read from the source.
    pub rows_in: u64,
    /// Rows output.
    pub rows_out: u64,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// `ok`, or the error's kind.
    pub outcome: String,
    /// The error's message, when it failed.
    pub error: Option<String>,
    /// For a pipeline: the steps after `plugin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<crate::store::PipelineStep>>,
}

/// Which runs `GET /api/history` lists.
#[derive(Debug, Default)]
pub struct HistoryFilter {
    /// Only this user's.
    pub user: Option<String>,
    /// Only on this source.
    pub source: Option<String>,
    /// Only older than this `seq`.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The history table.
pub struct History {
    db: Arc<Db>,
    /// Runs this host has written: every thousandth prunes the oldest.
    written: AtomicU64,
}

impl History {
    /// The history in `db`.
    pub fn new(db: Arc<Db>) -> History {
        History {
            db,
            written: AtomicU64::new(0),
        }
    }

    /// Writes a finished run. A failure is logged, not raised: the run has happened.
    pub(crate) async fn record(
        &self,
        id: &str,
        user: &str,
        request: &RunRequest,
        report: &RunReport,
        outcome: &str,
    ) {
        let plugin = request
            .plugin
            .as_ref()
            .map(|choice| choice.plugin.sha256.clone());
        let query = report
            .query
            .as_ref()
            .map(|q| q.text().to_owned())
            .or_else(|| request.query.clone());
        let error = report.result.as_ref().err().map(|e| e.to_string());
        let steps = (!request.then.is_empty()).then(|| {
            let steps: Vec<crate::store::PipelineStep> = request
                .then
                .iter()
                .map(|step| crate::store::PipelineStep {
                    plugin: step.plugin.plugin.sha256.clone(),
                    params: serde_json::from_str(&step.params).unwrap_or(serde_json::Value::Null),
                })
                .collect();
            serde_json::to_string(&steps).unwrap_or_default()
        });
        let written = self
            .db
            .execute(
                "INSERT INTO runs (id, \"user\", started_at, source, plugin, query, params,
                     rows_in, rows_out, ms, outcome, error, steps)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    id.into(),
                    user.into(),
                    crate::store::now_rfc3339().into(),
                    (&request.source).into(),
                    plugin.into(),
                    query.into(),
                    (&request.params).into(),
                    (report.stats.rows_in as i64).into(),
                    (report.stats.rows_out as i64).into(),
                    report.stats.total_ms.into(),
                    outcome.into(),
                    error.into(),
                    steps.into(),
                ],
            )
            .await;
        let pruned = match written {
            Ok(_) if self.written.fetch_add(1, Ordering::Relaxed) % 1000 == 999 => self
                .db
                .execute(
                    "DELETE FROM runs WHERE seq < (SELECT seq FROM runs ORDER BY seq DESC
                     LIMIT 1 OFFSET $1)",
                    &[KEEP.into()],
                )
                .await
                .map(drop),
            other => other.map(drop),
        };
        if let Err(e) = pruned {
            tracing::error!(error = %e, run = id, "cannot write the run history");
        }
    }

    /// Runs that pass `filter`, newest first.
    pub async fn list(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>, DbError> {
        let rows = self
            .db
            .query(
                "SELECT seq, id, \"user\", started_at, source, plugin, query, params, rows_in,
                        rows_out, ms, outcome, error, steps
                 FROM runs
                 WHERE (CAST($1 AS TEXT) IS NULL OR \"user\" = $1)
                   AND (CAST($2 AS TEXT) IS NULL OR source = $2)
                   AND (CAST($3 AS BIGINT) IS NULL OR seq < $3)
                 ORDER BY seq DESC LIMIT $4",
                &[
                    filter.user.clone().into(),
                    filter.source.clone().into(),
                    filter.before.into(),
                    i64::from(filter.limit).into(),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(entry).collect())
    }
}

/// A `runs` row, in the order `list` selects its columns.
fn entry(row: Row) -> HistoryEntry {
    let mut columns = row.into_iter();
    let mut next = || columns.next().unwrap_or(Value::Null);
    let seq = next().int().unwrap_or(0);
    let text = |v: Value| v.text().unwrap_or_default();
    HistoryEntry {
        seq,
        id: text(next()),
        user: text(next()),
        started_at: text(next()),
        source: text(next()),
        plugin: next().text(),
        query: next().text(),
        params: serde_json::from_str(&text(next())).unwrap_or(serde_json::Value::Null),
        rows_in: next().int().unwrap_or(0) as u64,
        rows_out: next().int().unwrap_or(0) as u64,
        ms: next().real().unwrap_or(0.0),
        outcome: text(next()),
        error: next().text(),
        then: next()
            .text()
            .and_then(|steps| serde_json::from_str(&steps).ok()),
    }
}
