//! The run history: who ran what, when, on which source, and how it ended, in
//! `<data>/quarry.db`. `GET /api/history` shows callers their own runs and admins
//! everyone's; the newest 100,000 runs are kept.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;

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
    db: Mutex<Connection>,
}

impl History {
    /// Opens the history in the database `file`.
    pub fn open(file: &Path) -> Result<History, rusqlite::Error> {
        let (db, _) = crate::db::open(file).map_err(|(_, e)| e)?;
        Ok(History { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a finished run. A failure is logged, not raised: the run has happened.
    pub(crate) fn record(
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
        let started = crate::store::now_rfc3339();
        let error = report.result.as_ref().err().map(|e| e.to_string());
        let db = self.db();
        let written = db
            .execute(
                "INSERT INTO runs (id, user, started_at, source, plugin, query, params, rows_in,
                     rows_out, ms, outcome, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    id,
                    user,
                    started,
                    request.source,
                    plugin,
                    query,
                    request.params,
                    report.stats.rows_in as i64,
                    report.stats.rows_out as i64,
                    report.stats.total_ms,
                    outcome,
                    error
                ],
            )
            .and_then(|_| {
                let last = db.last_insert_rowid();
                if last % 1000 == 0 {
                    db.execute("DELETE FROM runs WHERE seq <= ?1", [last - KEEP])?;
                }
                Ok(())
            });
        if let Err(e) = written {
            tracing::error!(error = %e, run = id, "cannot write the run history");
        }
    }

    /// Runs that pass `filter`, newest first.
    pub fn list(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>, rusqlite::Error> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT seq, id, user, started_at, source, plugin, query, params, rows_in, rows_out,
                    ms, outcome, error
             FROM runs
             WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR source = ?2)
               AND (?3 IS NULL OR seq < ?3)
             ORDER BY seq DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![filter.user, filter.source, filter.before, filter.limit],
            |r| {
                let params: String = r.get(7)?;
                Ok(HistoryEntry {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    user: r.get(2)?,
                    started_at: r.get(3)?,
                    source: r.get(4)?,
                    plugin: r.get(5)?,
                    query: r.get(6)?,
                    params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                    rows_in: r.get::<_, i64>(8)? as u64,
                    rows_out: r.get::<_, i64>(9)? as u64,
                    ms: r.get(10)?,
                    outcome: r.get(11)?,
                    error: r.get(12)?,
                })
            },
        )?;
        rows.collect()
    }
}
