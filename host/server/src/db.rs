//! The server's database, "the store": the plugin library and snippets, users, sessions,
//! the run history, upload states and the runs in progress, shared by every host that
//! names the same store.
//!
//! Two kinds, one schema:
//! - `sqlite:PATH`, the default (`<data>/quarry.db`): one file, for one host or a few
//!   processes on one machine;
//! - `postgresql://…`, PostgreSQL or CockroachDB, for several hosts behind a load balancer.
//!
//! The store's modules write their SQL once, with `$1`-style parameters, in the subset
//! both dialects share; [`Db`] runs it on either. Each schema version is a migration, run
//! once, in a transaction, when a server or a `quarry users` command opens the store;
//! migrations are only ever appended. SQLite keeps the version in `PRAGMA user_version`,
//! PostgreSQL in the table `quarry_migrations`, written under an advisory lock so that
//! hosts starting together migrate once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use rusqlite::Connection;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use quarry_sources::Backend;

/// The migrations, in order, in SQLite's words; [`for_postgres`] says them in PostgreSQL's
/// (and CockroachDB's).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
         name TEXT PRIMARY KEY,
         role TEXT NOT NULL CHECK (role IN ('viewer', 'author', 'admin')),
         token_sha256 TEXT NOT NULL UNIQUE,
         created_at TEXT NOT NULL
     );
     CREATE TABLE sessions (
         id_sha256 TEXT PRIMARY KEY,
         \"user\" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
         expires_at INTEGER NOT NULL
     );",
    "CREATE TABLE runs (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id TEXT NOT NULL,
         \"user\" TEXT NOT NULL,
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
     CREATE INDEX runs_by_user ON runs (\"user\", seq);",
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
    "CREATE TABLE uploads (
         sha256 TEXT PRIMARY KEY,
         state TEXT NOT NULL CHECK (state IN ('compiling', 'done', 'failed')),
         detail TEXT,
         updated_at INTEGER NOT NULL
     );
     CREATE TABLE running (
         id TEXT PRIMARY KEY,
         \"user\" TEXT NOT NULL,
         host TEXT NOT NULL,
         started_at INTEGER NOT NULL
     );
     CREATE TABLE cancels (
         id TEXT PRIMARY KEY,
         requested_at INTEGER NOT NULL
     );",
    // Saved snippets: a name (also in the body), so that they can be listed.
    "ALTER TABLE snippets ADD COLUMN name TEXT;
     CREATE INDEX snippets_named ON snippets (created_at) WHERE name IS NOT NULL;",
    // A pipeline's steps after the first, as JSON.
    "ALTER TABLE runs ADD COLUMN steps TEXT;",
];

/// A migration in PostgreSQL's types: 64-bit integers, a sequence for the history's
/// order, `BYTEA` and `DOUBLE PRECISION`.
fn for_postgres(migration: &str) -> String {
    migration
        .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
        .replace("INTEGER", "BIGINT")
        .replace("BLOB", "BYTEA")
        .replace("REAL", "DOUBLE PRECISION")
}

/// Connections a host keeps to a PostgreSQL store.
const POSTGRES_POOL: usize = 16;

/// Where the store is: `--store`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL or CockroachDB database (a libpq URL).
    Postgres(String),
}

impl StoreUrl {
    /// `--store`, or the default: `<data_dir>/quarry.db`.
    pub fn parse(data_dir: &Path, store: Option<&str>) -> Result<StoreUrl, StoreUrlError> {
        match store {
            None => Ok(StoreUrl::Sqlite(data_dir.join("quarry.db"))),
            Some(url) => match url.split_once(':') {
                Some(("sqlite", path)) if !path.is_empty() => {
                    Ok(StoreUrl::Sqlite(PathBuf::from(path)))
                }
                Some(("postgresql" | "postgres", _)) => url
                    .parse::<tokio_postgres::Config>()
                    .map(|_| StoreUrl::Postgres(url.to_owned()))
                    .map_err(|e| StoreUrlError::BadPostgres(e.to_string())),
                _ => Err(StoreUrlError::Unknown(url.to_owned())),
            },
        }
    }

    /// The store as logs and errors name it: the file, or the server and database
    /// without the password.
    pub fn shown(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => path.display().to_string(),
            StoreUrl::Postgres(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(config) => {
                    let hosts: Vec<String> = config
                        .get_hosts()
                        .iter()
                        .map(|h| match h {
                            tokio_postgres::config::Host::Tcp(h) => h.clone(),
                            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                        })
                        .collect();
                    let ports: Vec<String> =
                        config.get_ports().iter().map(u16::to_string).collect();
                    format!(
                        "postgresql://{}{}/{}",
                        hosts.join(","),
                        if ports.is_empty() {
                            String::new()
                        } else {
                            format!(":{}", ports.join(","))
                        },
                        config.get_dbname().unwrap_or("")
                    )
                }
                Err(_) => "postgresql://…".to_owned(),
            },
        }
    }
}

/// A `--store` that names no store Quarry can open.
#[derive(Debug, thiserror::Error)]
pub enum StoreUrlError {
    /// `postgresql://…` that does not parse.
    #[error("--store: not a PostgreSQL URL: {0}")]
    BadPostgres(String),
    /// Anything else.
    #[error("--store takes sqlite:PATH or postgresql://…, not `{0}`")]
    Unknown(String),
}

/// The database file of `--store sqlite:PATH` (or the default); `None` for a PostgreSQL
/// store.
pub fn store_file(data_dir: &Path, store: Option<&str>) -> Result<Option<PathBuf>, StoreUrlError> {
    Ok(match StoreUrl::parse(data_dir, store)? {
        StoreUrl::Sqlite(path) => Some(path),
        StoreUrl::Postgres(_) => None,
    })
}

/// Why the store failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DbError {
    /// It cannot be reached (down, restarting, refusing connections): worth retrying.
    #[error("the store {store} cannot be reached: {message}")]
    Unavailable {
        /// The store, without its password.
        store: String,
        /// What the driver said.
        message: String,
    },
    /// It answered with an error.
    #[error("the store {store}: {message}")]
    Failed {
        /// The store, without its password.
        store: String,
        /// What the database said.
        message: String,
    },
}

/// A value in or out of the store.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub(crate) fn text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub(crate) fn real(&self) -> Option<f64> {
        match self {
            Value::Real(r) => Some(*r),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub(crate) fn blob(self) -> Option<Vec<u8>> {
        match self {
            Value::Blob(b) => Some(b),
            Value::Text(s) => Some(s.into_bytes()),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(r: f64) -> Value {
        Value::Real(r)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Blob(b.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A row: its columns in the order the statement selects them.
pub(crate) type Row = Vec<Value>;

/// What a statement gave.
enum Answer {
    /// The rows it changed.
    Changed(u64),
    /// The rows it selected.
    Rows(Vec<Row>),
}

/// The store, open, with its schema up to date.
pub struct Db {
    kind: Kind,
    /// The store as messages name it.
    shown: String,
}

enum Kind {
    Sqlite(Mutex<Connection>),
    Postgres(deadpool_postgres::Pool),
}

impl Db {
    /// Opens the store (creating a SQLite file and its directory) and runs the migrations
    /// it has not had.
    pub async fn open(url: &StoreUrl) -> Result<Db, DbError> {
        let shown = url.shown();
        let failed = |message: String| DbError::Failed {
            store: shown.clone(),
            message,
        };
        match url {
            StoreUrl::Sqlite(file) => {
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
                }
                let db = open_sqlite(file).map_err(|e| failed(e.to_string()))?;
                Ok(Db {
                    kind: Kind::Sqlite(Mutex::new(db)),
                    shown,
                })
            }
            StoreUrl::Postgres(text) => {
                let config = text
                    .parse::<tokio_postgres::Config>()
                    .map_err(|e| failed(e.to_string()))?;
                let pool = quarry_sources::postgres::store_pool(config, POSTGRES_POOL)
                    .map_err(|e| failed(e.to_string()))?;
                let db = Db {
                    kind: Kind::Postgres(pool),
                    shown,
                };
                db.migrate_postgres().await?;
                Ok(db)
            }
        }
    }

    /// The store as messages name it (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether the store answers and can be written.
    pub async fn check(&self) -> Result<(), DbError> {
        match &self.kind {
            Kind::Sqlite(db) => lock(db)
                .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                .map_err(|e| self.sqlite_error(e)),
            Kind::Postgres(_) => self.query("SELECT 1", &[]).await.map(drop),
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self.run(sql, params, false).await? {
            Answer::Changed(n) => Ok(n),
            Answer::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    /// Runs a query; returns its rows.
    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self.run(sql, params, true).await? {
            Answer::Rows(rows) => Ok(rows),
            Answer::Changed(_) => Ok(Vec::new()),
        }
    }

    /// Runs `sql` (prepared once per connection), for its rows or for the count of rows it
    /// changed.
    async fn run(&self, sql: &str, params: &[Value], rows: bool) -> Result<Answer, DbError> {
        match &self.kind {
            Kind::Sqlite(db) => {
                let db = lock(db);
                let failed = |e| self.sqlite_error(e);
                let mut statement = db.prepare_cached(&sqlite_sql(sql)).map_err(failed)?;
                let params = rusqlite::params_from_iter(params.iter().map(SqliteValue));
                if !rows {
                    let changed = statement.execute(params).map_err(failed)?;
                    return Ok(Answer::Changed(changed as u64));
                }
                let width = statement.column_count();
                let found = statement
                    .query_map(params, |r| {
                        (0..width).map(|i| r.get_ref(i).map(from_sqlite)).collect()
                    })
                    .map_err(failed)?;
                Ok(Answer::Rows(
                    found.collect::<Result<_, _>>().map_err(failed)?,
                ))
            }
            Kind::Postgres(pool) => {
                for last in [false, true] {
                    let client = pool.get().await.map_err(|e| self.pool_error(e))?;
                    let params = postgres_params(params);
                    let done = match client.prepare_cached(sql).await {
                        Ok(statement) if rows => client
                            .query(&statement, &params)
                            .await
                            .map(|found| Answer::Rows(found.iter().map(from_postgres).collect())),
                        Ok(statement) => client
                            .execute(&statement, &params)
                            .await
                            .map(Answer::Changed),
                        Err(e) => Err(e),
                    };
                    if let Some(done) = self.settle(done, client, last) {
                        return done;
                    }
                }
                unreachable!("the last try settles")
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// What a statement on a pooled connection came to; `None` to try once more on a
    /// new connection, when this one was found closed (the server restarted since it was
    /// opened) and `last` is false. A closed connection is not put back in the pool.
    fn settle<T>(
        &self,
        done: Result<T, tokio_postgres::Error>,
        client: deadpool_postgres::Object,
        last: bool,
    ) -> Option<Result<T, DbError>> {
        match done {
            Ok(value) => Some(Ok(value)),
            Err(e) => {
                if e.is_closed() {
                    let _ = deadpool_postgres::Object::take(client);
                    if !last {
                        return None;
                    }
                }
                Some(Err(self.postgres_error(&e)))
            }
        }
    }

    fn sqlite_error(&self, e: rusqlite::Error) -> DbError {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let message = e.to_string();
        let store = self.shown.clone();
        if busy {
            DbError::Unavailable { store, message }
        } else {
            DbError::Failed { store, message }
        }
    }

    fn postgres_error(&self, e: &tokio_postgres::Error) -> DbError {
        use tokio_postgres::error::SqlState;
        let message = quarry_sources::postgres::describe(e);
        let store = self.shown.clone();
        let gone = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ];
        let connection = e.code().is_some_and(|c| c.code().starts_with("08"));
        if e.is_closed() || connection || e.code().is_some_and(|c| gone.contains(c)) {
            DbError::Unavailable { store, message }
        } else {
            DbError::Failed { store, message }
        }
    }

    fn pool_error(&self, e: deadpool_postgres::PoolError) -> DbError {
        use deadpool_postgres::PoolError;
        let message = match &e {
            PoolError::Backend(e) => quarry_sources::postgres::describe(e),
            other => other.to_string(),
        };
        DbError::Unavailable {
            store: self.shown.clone(),
            message,
        }
    }

    /// Brings a PostgreSQL or CockroachDB store's schema up to date, in one transaction.
    /// On PostgreSQL an advisory lock makes hosts that start together take turns;
    /// CockroachDB has no advisory locks but serializes the transactions themselves.
    async fn migrate_postgres(&self) -> Result<(), DbError> {
        let Kind::Postgres(pool) = &self.kind else {
            return Ok(());
        };
        let mut client = pool.get().await.map_err(|e| self.pool_error(e))?;
        let failed = |e: tokio_postgres::Error| self.postgres_error(&e);
        let flavour = quarry_sources::postgres::flavour(&client)
            .await
            .map_err(failed)?;
        let tx = client.transaction().await.map_err(failed)?;
        if flavour == Backend::Postgres {
            // "quarry" in ASCII: the lock's key.
            tx.execute("SELECT pg_advisory_xact_lock(113117097114114121)", &[])
                .await
                .map_err(failed)?;
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS quarry_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(failed)?;
        let applied: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM quarry_migrations",
                &[],
            )
            .await
            .map_err(failed)?
            .get(0);
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
            tx.batch_execute(&for_postgres(migration))
                .await
                .map_err(failed)?;
            tx.execute(
                "INSERT INTO quarry_migrations (version) VALUES ($1)",
                &[&(i as i64 + 1)],
            )
            .await
            .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)
    }
}

fn lock(db: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    db.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the SQLite file with its schema up to date.
fn open_sqlite(file: &Path) -> Result<Connection, rusqlite::Error> {
    let mut db = Connection::open(file)?;
    // Other processes on the same file (a second host, `quarry users`) wait their turn.
    db.busy_timeout(Duration::from_secs(5))?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(migration)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(db)
}

/// `$1` parameters as SQLite numbers them, `?1`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

struct SqliteValue<'a>(&'a Value);

impl rusqlite::ToSql for SqliteValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn postgres_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Real(r) => r.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn from_postgres(row: &tokio_postgres::Row) -> Row {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let value = match *ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|v| Value::Int(v.into()))),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|v| Value::Int(v.into()))),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)
                    .map(|v| v.map(|v| Value::Int(v.into()))),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real)),
                Type::FLOAT4 => row
                    .try_get::<_, Option<f32>>(i)
                    .map(|v| v.map(|v| Value::Real(v.into()))),
                Type::BYTEA => row
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map(|v| v.map(Value::Blob)),
                _ => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(Value::Text)),
            };
            value.ok().flatten().unwrap_or(Value::Null)
        })
        .collect()
}

/// Seconds since 1970.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
