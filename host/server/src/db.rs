//! `<data>/quarry.db`: the server's SQLite database: the plugin library and snippets,
//! users, sessions and the run history.
//!
//! The schema carries its version in `PRAGMA user_version`; each migration runs once, in a
//! transaction, when the server or a `quarry users` command opens the file. Migrations are
//! only ever appended.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// The migrations, in order.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
         name TEXT PRIMARY KEY,
         role TEXT NOT NULL CHECK (role IN ('viewer', 'author', 'admin')),
         token_sha256 TEXT NOT NULL UNIQUE,
         created_at TEXT NOT NULL
     );
     CREATE TABLE sessions (
         id_sha256 TEXT PRIMARY KEY,
         user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
         expires_at INTEGER NOT NULL
     );",
    "CREATE TABLE runs (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id TEXT NOT NULL,
         user TEXT NOT NULL,
         started_at TEXT NOT NULL,
         source TEXT NOT NULL,
         plugin TEXT,
         query TEXT,
         params TEXT NOT NULL,
         rows_in INTEGER NOT NULL,
         rows_out INTEGER NOT NULL,
         ms REAL NOT NULL,
         outcome TEXT NOT NULL,
         error TEXT
     );
     CREATE INDEX runs_by_user ON runs (user, seq);",
    "CREATE TABLE plugins (
         sha256 TEXT PRIMARY KEY,
         kind TEXT NOT NULL CHECK (kind IN ('component', 'script', 'runner')),
         meta TEXT NOT NULL,
         content BLOB NOT NULL,
         uploaded_at TEXT NOT NULL
     );
     CREATE TABLE snippets (
         id TEXT PRIMARY KEY,
         body TEXT NOT NULL,
         created_at TEXT NOT NULL
     );",
];

/// The database file: `sqlite:PATH` from `--store`, else `<data_dir>/quarry.db`.
pub fn store_file(data_dir: &Path, store: Option<&str>) -> Result<PathBuf, StoreUrlError> {
    match store {
        None => Ok(data_dir.join("quarry.db")),
        Some(url) => match url.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(PathBuf::from(path)),
            Some(("postgresql" | "postgres", _)) => Err(StoreUrlError::NotBuilt),
            _ => Err(StoreUrlError::Unknown(url.to_owned())),
        },
    }
}

/// A `--store` that names no store Quarry can open.
#[derive(Debug, thiserror::Error)]
pub enum StoreUrlError {
    /// `postgresql://…`.
    #[error(
        "a PostgreSQL or CockroachDB store is not built yet; use sqlite:PATH (the default is \
         the data directory's quarry.db)"
    )]
    NotBuilt,
    /// Anything else.
    #[error("--store takes sqlite:PATH, not `{0}`")]
    Unknown(String),
}

/// Opens the database `file` (creating it) with its schema up to date; the path is
/// returned for error messages.
pub(crate) fn open(file: &Path) -> Result<(Connection, String), (String, rusqlite::Error)> {
    let path = file.display().to_string();
    let failed = |e| (path.clone(), e);
    let mut db = Connection::open(file).map_err(failed)?;
    db.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
        .map_err(failed)?;
    let applied: usize = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(failed)?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = db.transaction().map_err(failed)?;
        tx.execute_batch(migration).map_err(failed)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok((db, path))
}
