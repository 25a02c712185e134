//! SQLite sources: the embedded demo database and users' own database files.
//!
//! Every run opens its own read-only connection with `query_only` set and ATTACH disabled,
//! refuses statements SQLite itself does not call read-only, and streams rows into batches
//! on a blocking thread. A progress handler enforces the timeout and cancellation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, limits::Limit};

use super::explain::{self, Plan};
use super::schema::{Field, Index, Schema, Table};
use super::split::{self, Split};
use super::{Backend, BatchSender, Query, Source, SourceError, StreamOptions, Value};
use quarry_core::batch::{Batch, ColumnBuilder, DataType};
use quarry_core::datetime;

/// A SQLite database file, opened read-only for each run.
pub struct SqliteSource {
    name: String,
    path: PathBuf,
}

impl SqliteSource {
    /// A source for the file at `path`; nothing is opened yet.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        SqliteSource {
            name: name.into(),
            path: path.into(),
        }
    }

    /// A source for an existing database file; a missing file is an error, not a new database.
    pub fn open(name: &str, path: impl AsRef<Path>) -> Result<Self, SourceError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(SourceError::Unavailable {
                source_name: name.to_owned(),
                message: format!("no SQLite database at {}", path.display()),
            });
        }
        Ok(SqliteSource::new(name, path))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl Source for SqliteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn address(&self) -> String {
        self.path.display().to_string()
    }

    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError> {
        let (name, path) = (self.name.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || stream_blocking(&name, &path, query, &options, &out))
            .await
            .map_err(|e| SourceError::Query {
                source_name: self.name.clone(),
                message: e.to_string(),
            })?
    }

    /// Ranges of the rowid (or of the `by` column, which must hold integers) of a
    /// single-table scan.
    async fn split(
        &self,
        query: &Query,
        streams: usize,
        by: Option<&str>,
    ) -> Result<Split, SourceError> {
        let Query::Sql(statement) = query else {
            return Ok(Split::Whole("not SQL".into()));
        };
        let scan = match split::scan(&statement.text) {
            Ok(scan) => scan,
            Err(why) => return Ok(Split::Whole(why)),
        };
        // The rowid unless the user named another column.
        let by = by.filter(|column| !column.eq_ignore_ascii_case("rowid"));
        let column = by.unwrap_or("rowid").to_owned();
        if !split::is_identifier(&column) {
            return Err(SourceError::Query {
                source_name: self.name.clone(),
                message: format!("the partition column must be a column name, not `{column}`"),
            });
        }
        let (name, path, table) = (self.name.clone(), self.path.clone(), scan.table.to_owned());
        let range_column = column.clone();
        let range = tokio::task::spawn_blocking(move || {
            let conn = open_read_only(&name, &path, None)?;
            let sql = format!(
                "SELECT min({range_column}), max({range_column}), typeof(min({range_column})) FROM {table}"
            );
            conn.query_row(&sql, [], |r| {
                Ok((r.get::<_, Option<i64>>(0).ok().flatten(), r.get::<_, Option<i64>>(1).ok().flatten(), r.get::<_, String>(2)?))
            })
            .map_err(|e| query_error(&name, e))
        })
        .await
        .map_err(|e| SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        })?;
        let (min, max) = match range {
            Ok((Some(min), Some(max), kind)) if kind == "integer" => (min, max),
            Ok((_, _, kind)) if kind == "null" => {
                return Ok(Split::Whole("the table is empty".into()));
            }
            Ok(_) => {
                return Ok(Split::Whole(format!(
                    "the partition column `{column}` does not hold integers"
                )));
            }
            // A view or a WITHOUT ROWID table has no rowid.
            Err(SourceError::Query { message, .. }) if by.is_none() => {
                return Ok(Split::Whole(format!("no rowid to split by ({message})")));
            }
            Err(e) => return Err(e),
        };
        // The rowid's span counts the rows closely; a column the user chose is split as asked.
        let parts = match by {
            None => split::worth((max - min).saturating_add(1) as u64, streams),
            Some(_) => streams,
        };
        if parts < 2 {
            return Ok(Split::Whole(format!(
                "{} rows are too few to split (at least {} a partition)",
                max - min + 1,
                split::MIN_PARTITION_ROWS
            )));
        }
        Ok(Split::Parts(split::ranges(
            &scan,
            &column,
            &split::bounds(min, max, parts),
            &statement.params,
        )))
    }

    async fn explain(&self, query: &Query, timeout: Duration) -> Result<Plan, SourceError> {
        let Query::Sql(statement) = query else {
            return Err(SourceError::WrongDialect {
                source_name: self.name.clone(),
                backend: "sqlite",
                kind: query_kind(query),
            });
        };
        let (name, path, statement) = (self.name.clone(), self.path.clone(), statement.clone());
        tokio::task::spawn_blocking(move || explain_blocking(&name, &path, &statement, timeout))
            .await
            .map_err(|e| SourceError::Query {
                source_name: self.name.clone(),
                message: e.to_string(),
            })?
    }

    async fn schema(&self) -> Result<Schema, SourceError> {
        let (name, path) = (self.name.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let conn = open_read_only(&name, &path, None)?;
            schema_of(&conn).map_err(|e| query_error(&name, e))
        })
        .await
        .map_err(|e| SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        })?
    }

    async fn check(&self) -> Result<String, SourceError> {
        let (name, path) = (self.name.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let conn = open_read_only(&name, &path, None)?;
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| query_error(&name, e))?;
            Ok(format!(
                "SQLite {} at {}, {tables} tables",
                rusqlite::version(),
                path.display()
            ))
        })
        .await
        .map_err(|e| SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        })?
    }
}

/// `EXPLAIN QUERY PLAN` of one read-only statement, on a read-only connection.
fn explain_blocking(
    name: &str,
    path: &Path,
    statement: &super::Statement,
    timeout: Duration,
) -> Result<Plan, SourceError> {
    let deadline = Instant::now() + timeout;
    let conn = open_read_only(
        name,
        path,
        Some(Box::new(move || Instant::now() > deadline)),
    )?;
    let not_read_only = || SourceError::NotReadOnly {
        source_name: name.to_owned(),
        statement: statement.text.clone(),
    };
    let refused = |e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) {
            not_read_only()
        } else {
            query_error(name, e)
        }
    };
    // Prepared alone first: the plan of a statement that could write is refused as the
    // statement itself would be.
    if !conn.prepare(&statement.text).map_err(refused)?.readonly() {
        return Err(not_read_only());
    }
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", statement.text))
        .map_err(refused)?;
    if stmt.parameter_count() != statement.params.len() {
        return Err(SourceError::Query {
            source_name: name.to_owned(),
            message: format!(
                "the statement has {} placeholders but {} parameters were given",
                stmt.parameter_count(),
                statement.params.len()
            ),
        });
    }
    for (i, value) in statement.params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, SqlValue(value))
            .map_err(|e| query_error(name, e))?;
    }
    let mut found = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(|e| query_error(name, e))? {
        let step = (|| Ok((row.get(0)?, row.get(1)?, row.get(3)?)))()
            .map_err(|e: rusqlite::Error| query_error(name, e))?;
        found.push(step);
    }
    let raw = found
        .iter()
        .map(|(id, parent, detail)| serde_json::json!({"id": id, "parent": parent, "detail": detail}))
        .collect();
    Ok(Plan {
        method: "EXPLAIN QUERY PLAN".into(),
        tree: explain::tree_of_rows(&found),
        raw: serde_json::Value::Array(raw),
    })
}

/// The tables and views of an open database, with their columns and indexes.
fn schema_of(conn: &Connection) -> rusqlite::Result<Schema> {
    let mut list = conn.prepare(
        "SELECT name, type FROM sqlite_schema \
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = list
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut columns =
        conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")?;
    let mut indexes =
        conn.prepare("SELECT name, \"unique\" FROM pragma_index_list(?1) ORDER BY name")?;
    let mut covered = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
    let mut tables = Vec::with_capacity(names.len());
    for (name, kind) in names {
        let columns = columns
            .query_map([&name], |r| {
                let primary = r.get::<_, i64>(3)? > 0;
                Ok(Field {
                    key: primary.then_some("primary"),
                    nullable: Some(!r.get::<_, bool>(2)?),
                    ..Field::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?)
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let listed = indexes
            .query_map([&name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut table_indexes = Vec::with_capacity(listed.len());
        for (index, unique) in listed {
            // An expression in an index has no column name.
            let columns = covered
                .query_map([&index], |r| r.get::<_, Option<String>>(0))?
                .filter_map(Result::transpose)
                .collect::<rusqlite::Result<Vec<_>>>()?;
            table_indexes.push(Index {
                name: index,
                columns,
                unique,
            });
        }
        tables.push(Table {
            name,
            kind: if kind == "view" { "view" } else { "table" },
            columns,
            indexes: table_indexes,
            sampled: None,
        });
    }
    Ok(Schema { tables })
}

fn query_error(name: &str, e: rusqlite::Error) -> SourceError {
    let message = match e {
        rusqlite::Error::MultipleStatement => {
            "the text holds more than one statement; a run executes exactly one".to_owned()
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg,
        other => other.to_string(),
    };
    SourceError::Query {
        source_name: name.to_owned(),
        message,
    }
}

/// Opens a connection that cannot write, attach other files, or load extensions. With
/// `interrupt`, long statements are stopped when it returns true.
fn open_read_only(
    name: &str,
    path: &Path,
    interrupt: Option<Box<dyn FnMut() -> bool + Send>>,
) -> Result<Connection, SourceError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| SourceError::Unavailable {
        source_name: name.to_owned(),
        message: format!("cannot open {}: {e}", path.display()),
    })?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .and_then(|_| conn.pragma_update(None, "query_only", true))
        .map_err(|e| query_error(name, e))?;
    conn.authorizer(Some(authorize));
    if let Some(handler) = interrupt {
        conn.progress_handler(10_000, Some(handler));
    }
    Ok(conn)
}

/// Pragmas that only describe the schema; every other pragma with an argument is refused.
const READ_PRAGMAS: [&str; 11] = [
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "database_list",
    "function_list",
    "pragma_list",
];

/// SQLite asks this for every action a statement would take, when it is prepared: only
/// reading is allowed, so writes, schema changes, ATTACH, transactions and setting pragmas
/// fail before anything runs — on top of the read-only connection and `query_only`.
fn authorize(ctx: rusqlite::hooks::AuthContext<'_>) -> rusqlite::hooks::Authorization {
    use rusqlite::hooks::{AuthAction, Authorization};
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name }
            if !function_name.eq_ignore_ascii_case("load_extension") =>
        {
            Authorization::Allow
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            if pragma_value.is_none() || READ_PRAGMAS.contains(&name.as_str()) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Deny,
    }
}

fn stream_blocking(
    name: &str,
    path: &Path,
    query: Query,
    options: &StreamOptions,
    out: &BatchSender,
) -> Result<(), SourceError> {
    let Query::Sql(statement) = query else {
        return Err(SourceError::WrongDialect {
            source_name: name.to_owned(),
            backend: "sqlite",
            kind: query_kind(&query),
        });
    };
    // The timeout is for SQLite's work: the time spent waiting for the run to take a
    // batch (a slow page, a slow plugin) is added back to the deadline.
    let deadline = Instant::now() + options.timeout;
    let waited = Arc::new(AtomicU64::new(0));
    let cancel: Arc<AtomicBool> = options.cancel.clone();
    let waiting = Arc::clone(&waited);
    let interrupt = move || {
        cancel.load(Ordering::Relaxed)
            || Instant::now() > deadline + Duration::from_nanos(waiting.load(Ordering::Relaxed))
    };
    let send = |batch: Batch| {
        let started = Instant::now();
        let sent = out.blocking_send(batch);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        waited.fetch_add(nanos, Ordering::Relaxed);
        sent
    };
    let conn = open_read_only(name, path, Some(Box::new(interrupt)))?;
    let interrupted = |e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
            if options.is_cancelled() {
                SourceError::Cancelled
            } else {
                SourceError::Timeout {
                    source_name: name.to_owned(),
                    timeout: options.timeout,
                }
            }
        } else {
            query_error(name, e)
        }
    };

    let not_read_only = || SourceError::NotReadOnly {
        source_name: name.to_owned(),
        statement: statement.text.trim().to_owned(),
    };
    let mut stmt = conn.prepare(&statement.text).map_err(|e| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) {
            not_read_only()
        } else {
            interrupted(e)
        }
    })?;
    if !stmt.readonly() {
        return Err(not_read_only());
    }
    if stmt.parameter_count() != statement.params.len() {
        return Err(SourceError::Query {
            source_name: name.to_owned(),
            message: format!(
                "the statement has {} placeholders but {} parameters were given",
                stmt.parameter_count(),
                statement.params.len()
            ),
        });
    }
    for (i, value) in statement.params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, SqlValue(value))
            .map_err(interrupted)?;
    }
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let declared: Vec<Option<DataType>> = stmt
        .columns()
        .iter()
        .map(|c| c.decl_type().and_then(declared_type))
        .collect();

    let mut batcher = Batcher::new(names, declared, options.batch_rows);
    let mut rows = stmt.raw_query();
    let mut total: u64 = 0;
    while let Some(row) = rows.next().map_err(interrupted)? {
        if options.max_rows.is_some_and(|max| total >= max) {
            break;
        }
        batcher
            .push_row(row)
            .map_err(|message| SourceError::Query {
                source_name: name.to_owned(),
                message: format!("row {}: {message}", total + 1),
            })?;
        total += 1;
        if batcher.is_full() && send(batcher.finish()).is_err() {
            return Ok(()); // the run ended early; nobody wants more rows
        }
    }
    let _ = send(batcher.finish());
    Ok(())
}

pub(crate) fn query_kind(query: &Query) -> &'static str {
    match query {
        Query::Sql(_) => "SQL",
        Query::Cql(_) => "CQL",
        Query::MongoFind(_) => "MongoDB find",
        Query::MongoAggregate(_) => "MongoDB aggregate",
    }
}

struct SqlValue<'a>(&'a Value);

impl rusqlite::ToSql for SqlValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput::Borrowed;
        Ok(Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Boolean(b) => ValueRef::Integer(i64::from(*b)),
            Value::Int64(i) => ValueRef::Integer(*i),
            Value::Float64(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

/// The Quarry type of a declared SQLite column type, by name first, then by SQLite's
/// affinity rules. `None` (no declared type, e.g. an expression) means: infer from values.
pub(crate) fn declared_type(decl: &str) -> Option<DataType> {
    let upper = decl.to_ascii_uppercase();
    let base = upper.split('(').next().unwrap_or("").trim();
    Some(match base {
        "" => return None,
        "BOOL" | "BOOLEAN" => DataType::Boolean,
        "TIMESTAMP" | "DATETIME" | "TIMESTAMPTZ" => DataType::Timestamp,
        "DATE" => DataType::Date,
        "UUID" => DataType::Uuid,
        "JSON" | "JSONB" => DataType::Json,
        "DECIMAL" | "NUMERIC" => DataType::Decimal,
        _ if base.contains("INT") => DataType::Int64,
        _ if base.contains("CHAR") || base.contains("CLOB") || base.contains("TEXT") => {
            DataType::Text
        }
        _ if base.contains("BLOB") => DataType::Bytes,
        _ if base.contains("REAL") || base.contains("FLOA") || base.contains("DOUB") => {
            DataType::Float64
        }
        _ => DataType::Decimal,
    })
}

fn inferred_type(value: ValueRef<'_>) -> DataType {
    match value {
        ValueRef::Integer(_) => DataType::Int64,
        ValueRef::Real(_) => DataType::Float64,
        ValueRef::Blob(_) => DataType::Bytes,
        ValueRef::Null | ValueRef::Text(_) => DataType::Text,
    }
}

/// Collects rows into columns. Columns without a declared type take the type of their first
/// non-null value in the first batch (text if there is none); later values are converted.
struct Batcher {
    names: Vec<String>,
    columns: Vec<Option<ColumnBuilder>>,
    /// Nulls seen before an undeclared column's type was known.
    leading_nulls: Vec<usize>,
    rows: usize,
    batch_rows: usize,
}

impl Batcher {
    fn new(names: Vec<String>, declared: Vec<Option<DataType>>, batch_rows: usize) -> Self {
        let columns = names
            .iter()
            .zip(&declared)
            .map(|(name, t)| t.map(|t| ColumnBuilder::new(name.clone(), t, batch_rows)))
            .collect();
        let leading_nulls = vec![0; names.len()];
        Batcher {
            names,
            columns,
            leading_nulls,
            rows: 0,
            batch_rows,
        }
    }

    fn is_full(&self) -> bool {
        self.rows >= self.batch_rows
    }

    fn push_row(&mut self, row: &rusqlite::Row<'_>) -> Result<(), CellError> {
        for i in 0..self.names.len() {
            let value = row.get_ref(i).map_err(|e| CellError::Read(e.to_string()))?;
            let builder = match &mut self.columns[i] {
                Some(b) => b,
                None if matches!(value, ValueRef::Null) => {
                    self.leading_nulls[i] += 1;
                    continue;
                }
                slot @ None => {
                    let mut b = ColumnBuilder::new(
                        self.names[i].clone(),
                        inferred_type(value),
                        self.batch_rows,
                    );
                    (0..self.leading_nulls[i]).for_each(|_| b.push_null());
                    slot.insert(b)
                }
            };
            push_value(builder, value).map_err(|e| CellError::Column {
                column: self.names[i].clone(),
                problem: Box::new(e),
            })?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Batch {
        let mut columns = Vec::with_capacity(self.names.len());
        for i in 0..self.names.len() {
            let builder = self.columns[i].get_or_insert_with(|| {
                let mut b = ColumnBuilder::new(self.names[i].clone(), DataType::Text, self.rows);
                (0..self.leading_nulls[i]).for_each(|_| b.push_null());
                b
            });
            columns.push(builder.finish());
        }
        self.leading_nulls.iter_mut().for_each(|n| *n = 0);
        let batch = Batch {
            num_rows: self.rows,
            columns,
        };
        self.rows = 0;
        batch
    }
}

/// Why a cell of a result cannot join its column.
#[derive(Debug, thiserror::Error)]
enum CellError {
    #[error("{0}")]
    Read(String),
    #[error("column `{column}`: {problem}")]
    Column {
        column: String,
        problem: Box<CellError>,
    },
    #[error("cannot read {value} as {data_type}; CAST it in the query")]
    Mismatch { value: String, data_type: DataType },
}

/// Appends one SQLite value to a column of a fixed type, converting where that is lossless.
fn push_value(b: &mut ColumnBuilder, value: ValueRef<'_>) -> Result<(), CellError> {
    use ValueRef::{Blob, Integer, Null, Real, Text};
    let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
    let mismatch = |what: &str| {
        Err(CellError::Mismatch {
            value: what.to_owned(),
            data_type: b.data_type(),
        })
    };
    match (b.data_type(), value) {
        (_, Null) => b.push_null(),
        (DataType::Int64, Integer(i)) => b.push_i64(i),
        (DataType::Int64, Real(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => b.push_i64(f as i64),
        (DataType::Float64, Integer(i)) => b.push_f64(i as f64),
        (DataType::Float64, Real(f)) => b.push_f64(f),
        (DataType::Boolean, Integer(i)) => b.push_bool(i != 0),
        (DataType::Text | DataType::Json | DataType::Decimal, Text(t)) => b.push_str(&text(t)),
        (DataType::Text | DataType::Decimal, Integer(i)) => b.push_str(&i.to_string()),
        (DataType::Text | DataType::Decimal, Real(f)) => b.push_str(&f.to_string()),
        (DataType::Bytes, Blob(v) | Text(v)) => b.push_bytes(v),
        (DataType::Timestamp, Text(t)) => match datetime::parse_timestamp(&text(t)) {
            Some(micros) => b.push_i64(micros),
            None => return mismatch(&format!("'{}'", text(t))),
        },
        // SQLite's own convention for numbers in time columns: Unix seconds.
        (DataType::Timestamp, Integer(secs)) => b.push_i64(secs.saturating_mul(1_000_000)),
        (DataType::Timestamp, Real(secs)) => b.push_i64((secs * 1e6).round() as i64),
        (DataType::Date, Text(t)) => match datetime::parse_timestamp(&text(t)) {
            Some(micros) => b.push_i64(micros.div_euclid(86_400_000_000)),
            None => return mismatch(&format!("'{}'", text(t))),
        },
        (DataType::Date, Integer(secs)) => b.push_i64(secs.div_euclid(86_400)),
        (DataType::Uuid, Text(t)) => b.push_str(&text(t).to_ascii_lowercase()),
        (DataType::Uuid, Blob(v)) if v.len() == 16 => b.push_str(&format_uuid(v)),
        (_, Integer(_)) => return mismatch("an integer"),
        (_, Real(_)) => return mismatch("a real"),
        (_, Text(t)) => return mismatch(&format!("the text '{}'", text(t))),
        (_, Blob(_)) => return mismatch("a blob"),
    }
    Ok(())
}

fn format_uuid(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_follow_names_then_affinity() {
        assert_eq!(declared_type("INTEGER"), Some(DataType::Int64));
        assert_eq!(declared_type("bigint"), Some(DataType::Int64));
        assert_eq!(declared_type("VARCHAR(20)"), Some(DataType::Text));
        assert_eq!(declared_type("TIMESTAMP"), Some(DataType::Timestamp));
        assert_eq!(declared_type("date"), Some(DataType::Date));
        assert_eq!(declared_type("DOUBLE PRECISION"), Some(DataType::Float64));
        assert_eq!(declared_type("DECIMAL(10,2)"), Some(DataType::Decimal));
        assert_eq!(declared_type("BLOB"), Some(DataType::Bytes));
        assert_eq!(declared_type("BOOLEAN"), Some(DataType::Boolean));
        assert_eq!(declared_type(""), None);
    }

    #[test]
    fn uuid_blobs_format_canonically() {
        let bytes: Vec<u8> = (0u8..16).collect();
        assert_eq!(format_uuid(&bytes), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
