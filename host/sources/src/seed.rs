//! `quarry seed`: copies the embedded nycflights13 demo into a server source, so that every
//! backend holds the same data and a plugin gives the same answer on each. The
//! docker-compose init jobs run it.
//!
//! This is the one place Quarry writes to a database. It is an operator's command, run with
//! the credentials in the source's configuration; no plugin, query or web request reaches it.
//!
//! Each table is dropped and created again, unless it already holds exactly the rows it
//! would get (so an init job that runs on every `docker compose up` costs one count per
//! table). Column types follow the demo's: int64 → bigint, float64 → double, text → text,
//! timestamp → timestamptz (SQL), timestamp (CQL), date (BSON). ScyllaDB needs a primary
//! key in every table; `flights` is partitioned by route, ordered by time, and gets an extra
//! `id` column (the demo's row number), because no set of its own columns is unique.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::mongo::MongoSource;
use crate::postgres::PostgresSource;
use crate::scylla::ScyllaSource;
use crate::sqlite::{SqliteSource, declared_type};
use crate::{Query, Source, Statement, StreamOptions};
use quarry_core::batch::{Batch, Cell, DataType};

/// The demo's tables, in the order they are seeded.
pub(crate) const TABLES: [&str; 5] = ["airlines", "airports", "planes", "weather", "flights"];

/// Rows per write: one `COPY`, one `insert_many`.
const CHUNK_ROWS: usize = 16_384;
/// CQL inserts in flight at once.
const CQL_CONCURRENCY: usize = 128;

/// A server source that can be seeded.
pub enum Target {
    /// PostgreSQL or CockroachDB.
    Postgres(PostgresSource),
    /// MongoDB.
    Mongo(MongoSource),
    /// ScyllaDB or Cassandra.
    Scylla(ScyllaSource),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Postgres(s) => s.name(),
            Target::Mongo(s) => s.name(),
            Target::Scylla(s) => s.name(),
        }
    }
}

/// What seeding did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table's name.
    pub table: String,
    /// Rows the table holds afterwards.
    pub rows: u64,
    /// The table already held these rows and was left alone.
    pub kept: bool,
}

/// Seeds `tables` (all of [`TABLES`] when empty) from the demo database at `demo` into
/// `target`, at most `max_rows` rows per table. `progress` hears (table, rows written so far).
pub async fn seed(
    target: &Target,
    demo: &Path,
    tables: &[String],
    max_rows: Option<u64>,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<Vec<TableReport>, SeedError> {
    let tables: Vec<String> = if tables.is_empty() {
        TABLES.iter().map(|t| t.to_string()).collect()
    } else {
        tables.to_vec()
    };
    let fail = |table: Option<&str>| {
        let table = table.map(str::to_owned);
        move |problem: SeedProblem| SeedError {
            target: target.name().to_owned(),
            table,
            problem,
        }
    };
    let mut writer = Writer::connect(target).await.map_err(fail(None))?;
    let mut reports = Vec::new();
    for table in &tables {
        if !TABLES.contains(&table.as_str()) {
            return Err(fail(None)(SeedProblem::UnknownTable(table.clone())));
        }
        let columns = demo_columns(demo, table).map_err(fail(None))?;
        let demo_rows = demo_count(demo, table).map_err(fail(None))?;
        let want = max_rows.map_or(demo_rows, |m| m.min(demo_rows));
        if writer.count(table).await == Some(want) {
            reports.push(TableReport {
                table: table.clone(),
                rows: want,
                kept: true,
            });
            continue;
        }
        writer.create(table, &columns).await.map_err(fail(None))?;
        let rows = copy_table(demo, table, max_rows, &mut writer, progress)
            .await
            .map_err(fail(Some(table)))?;
        writer.finish(table).await.map_err(fail(None))?;
        reports.push(TableReport {
            table: table.clone(),
            rows,
            kept: false,
        });
    }
    Ok(reports)
}

async fn copy_table(
    demo: &Path,
    table: &str,
    max_rows: Option<u64>,
    writer: &mut Writer<'_>,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<u64, SeedProblem> {
    let source = SqliteSource::open("demo", demo)?;
    let query = Query::Sql(Statement {
        text: format!("SELECT * FROM {table} ORDER BY rowid"),
        params: Vec::new(),
    });
    let options = StreamOptions {
        batch_rows: CHUNK_ROWS,
        max_rows,
        timeout: Duration::from_secs(600),
        cancel: Arc::default(),
        notes: Arc::default(),
    };
    let (tx, mut rx) = mpsc::channel(2);
    let reader = tokio::spawn(async move { source.stream(query, options, tx).await });
    let mut written = 0;
    while let Some(batch) = rx.recv().await {
        writer.write(table, &batch, written).await?;
        written += batch.num_rows as u64;
        progress(table, written);
    }
    reader.await??;
    Ok(written)
}

/// A table's columns and types, from its declaration in the demo database.
fn demo_columns(demo: &Path, table: &str) -> Result<Vec<(String, DataType)>, SeedProblem> {
    let conn = open(demo)?;
    let mut statement =
        conn.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = statement.query_map([table], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|r| {
        let (name, decl) = r?;
        Ok((name, declared_type(&decl).unwrap_or(DataType::Text)))
    })
    .collect()
}

fn demo_count(demo: &Path, table: &str) -> Result<u64, SeedProblem> {
    Ok(open(demo)?.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
}

fn open(demo: &Path) -> Result<rusqlite::Connection, SeedProblem> {
    rusqlite::Connection::open_with_flags(demo, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(SeedProblem::OpenDemo)
}

/// Why `quarry seed` stopped, and where.
#[derive(Debug, thiserror::Error)]
#[error("seeding `{target}`: {}{problem}", table.as_ref().map(|t| format!("table `{t}`: ")).unwrap_or_default())]
pub struct SeedError {
    /// The source being seeded.
    pub target: String,
    /// The table being copied, when the copy failed.
    pub table: Option<String>,
    /// What went wrong.
    pub problem: SeedProblem,
}

/// What went wrong while seeding.
#[derive(Debug, thiserror::Error)]
pub enum SeedProblem {
    /// `--table` names a table the demo does not have.
    #[error("no table `{0}` in the demo (it has airlines, airports, planes, weather, flights)")]
    UnknownTable(String),
    /// The demo database cannot be opened.
    #[error("cannot open the demo database: {0}")]
    OpenDemo(rusqlite::Error),
    /// Reading the demo database failed.
    #[error("{0}")]
    Demo(#[from] rusqlite::Error),
    /// Reading the demo through its source failed, or the target cannot be reached.
    #[error("{0}")]
    Source(#[from] crate::SourceError),
    /// PostgreSQL or CockroachDB refused a write.
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// MongoDB refused a write.
    #[error("{0}")]
    Mongo(#[from] mongodb::error::Error),
    /// ScyllaDB or Cassandra refused a statement.
    #[error("{0}")]
    Cql(String),
    /// A CQL source without the keyspace to write into.
    #[error("a scylla source needs `keyspace` to be seeded")]
    NoKeyspace,
    /// The task reading the demo stopped.
    #[error("the reader task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn cql(e: impl std::fmt::Display) -> SeedProblem {
    SeedProblem::Cql(e.to_string())
}

/// The ScyllaDB primary key of each demo table, and whether it needs the extra `id` column.
pub(crate) fn cql_key(table: &str) -> (&'static str, bool) {
    match table {
        "airlines" => ("carrier", false),
        "airports" => ("faa", false),
        "planes" => ("tailnum", false),
        "weather" => ("(origin), time_hour", false),
        _ => ("(origin, dest), time_hour, carrier, flight, id", true),
    }
}

/// SQL primary keys; `flights` has none (PostgreSQL keeps no key; CockroachDB adds its own).
fn sql_key(table: &str) -> Option<&'static str> {
    match table {
        "airlines" => Some("carrier"),
        "airports" => Some("faa"),
        "planes" => Some("tailnum"),
        "weather" => Some("origin, time_hour"),
        _ => None,
    }
}

fn sql_type(t: DataType) -> &'static str {
    match t {
        DataType::Boolean => "BOOLEAN",
        DataType::Int64 => "BIGINT",
        DataType::Float64 => "DOUBLE PRECISION",
        DataType::Text => "TEXT",
        DataType::Bytes => "BYTEA",
        DataType::Timestamp => "TIMESTAMPTZ",
        DataType::Date => "DATE",
        DataType::Uuid => "UUID",
        DataType::Decimal => "NUMERIC",
        DataType::Json => "JSONB",
    }
}

fn cql_type(t: DataType) -> &'static str {
    match t {
        DataType::Boolean => "boolean",
        DataType::Int64 => "bigint",
        DataType::Float64 => "double",
        DataType::Bytes => "blob",
        DataType::Timestamp => "timestamp",
        DataType::Date => "date",
        DataType::Uuid => "uuid",
        DataType::Text | DataType::Decimal | DataType::Json => "text",
    }
}

/// The `CREATE TABLE` for a demo table on a SQL server.
pub(crate) fn sql_create(table: &str, columns: &[(String, DataType)]) -> String {
    let mut defs: Vec<String> = columns
        .iter()
        .map(|(name, t)| format!("{name} {}", sql_type(*t)))
        .collect();
    if let Some(key) = sql_key(table) {
        defs.push(format!("PRIMARY KEY ({key})"));
    }
    format!("CREATE TABLE {table} ({})", defs.join(", "))
}

/// The `CREATE TABLE` for a demo table in a keyspace.
pub(crate) fn cql_create(keyspace: &str, table: &str, columns: &[(String, DataType)]) -> String {
    let (key, id) = cql_key(table);
    let mut defs: Vec<String> = Vec::new();
    if id {
        defs.push("id bigint".into());
    }
    defs.extend(
        columns
            .iter()
            .map(|(name, t)| format!("{name} {}", cql_type(*t))),
    );
    defs.push(format!("PRIMARY KEY ({key})"));
    format!("CREATE TABLE {keyspace}.{table} ({})", defs.join(", "))
}

/// One batch as CSV for `COPY … FROM STDIN WITH CSV`: nulls are empty fields, text is
/// always quoted (so an empty string stays an empty string).
pub(crate) fn csv_rows(batch: &Batch) -> String {
    let mut out = String::new();
    for row in 0..batch.num_rows {
        for (i, column) in batch.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match column.cell(row) {
                Cell::Null => {}
                Cell::Boolean(b) => out.push_str(if b { "t" } else { "f" }),
                Cell::Int64(v) => match column.data_type {
                    DataType::Timestamp => {
                        out.push_str(&quarry_core::datetime::format_timestamp(v))
                    }
                    DataType::Date => out.push_str(&quarry_core::datetime::format_date(v)),
                    _ => out.push_str(&v.to_string()),
                },
                Cell::Float64(f) => out.push_str(&f.to_string()),
                Cell::Text(s) => {
                    out.push('"');
                    out.push_str(&s.replace('"', "\"\""));
                    out.push('"');
                }
                Cell::Bytes(b) => {
                    out.push_str("\"\\x");
                    out.push_str(&hex::encode(b));
                    out.push('"');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A demo cell as a BSON value.
pub(crate) fn bson_value(data_type: DataType, cell: Cell<'_>) -> bson::Bson {
    use bson::Bson;
    match cell {
        Cell::Null => Bson::Null,
        Cell::Boolean(b) => Bson::Boolean(b),
        Cell::Int64(v) => match data_type {
            DataType::Timestamp | DataType::Date => {
                let micros = if data_type == DataType::Date {
                    v.saturating_mul(86_400_000_000)
                } else {
                    v
                };
                Bson::DateTime(bson::DateTime::from_millis(micros.div_euclid(1000)))
            }
            _ => Bson::Int64(v),
        },
        Cell::Float64(f) => Bson::Double(f),
        Cell::Text(s) => Bson::String(s.to_owned()),
        Cell::Bytes(b) => Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: b.to_vec(),
        }),
    }
}

/// A demo cell as a CQL value for the column type [`cql_type`] chose.
pub(crate) fn cql_value(data_type: DataType, cell: Cell<'_>) -> Option<scylla::value::CqlValue> {
    use scylla::value::{CqlDate, CqlTimestamp, CqlValue};
    Some(match cell {
        Cell::Null => return None,
        Cell::Boolean(b) => CqlValue::Boolean(b),
        Cell::Int64(v) => match data_type {
            DataType::Timestamp => CqlValue::Timestamp(CqlTimestamp(v.div_euclid(1000))),
            DataType::Date => CqlValue::Date(CqlDate(((1i64 << 31) + v) as u32)),
            _ => CqlValue::BigInt(v),
        },
        Cell::Float64(f) => CqlValue::Double(f),
        Cell::Text(s) => CqlValue::Text(s.to_owned()),
        Cell::Bytes(b) => CqlValue::Blob(b.to_vec()),
    })
}

/// A connection that writes, per backend.
enum Writer<'a> {
    Postgres(tokio_postgres::Client),
    Mongo(mongodb::Database),
    Scylla {
        session: scylla::client::session::Session,
        keyspace: &'a str,
        insert: Option<scylla::statement::prepared::PreparedStatement>,
    },
}

impl<'a> Writer<'a> {
    async fn connect(target: &'a Target) -> Result<Writer<'a>, SeedProblem> {
        Ok(match target {
            Target::Postgres(s) => Writer::Postgres(s.connect().await?),
            Target::Mongo(s) => Writer::Mongo(s.database().await?),
            Target::Scylla(s) => {
                let keyspace = s.keyspace().ok_or(SeedProblem::NoKeyspace)?;
                let session = s.admin_session().await?;
                let create = format!(
                    "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
                     {{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}}"
                );
                session.query_unpaged(create, &[]).await.map_err(cql)?;
                Writer::Scylla {
                    session,
                    keyspace,
                    insert: None,
                }
            }
        })
    }

    /// The table's row count, or `None` when it does not exist or cannot be counted.
    async fn count(&self, table: &str) -> Option<u64> {
        match self {
            Writer::Postgres(client) => client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .ok()
                .map(|r| r.get::<_, i64>(0) as u64),
            Writer::Mongo(db) => db
                .collection::<bson::Document>(table)
                .count_documents(bson::doc! {})
                .await
                .ok(),
            Writer::Scylla {
                session, keyspace, ..
            } => {
                let mut count = scylla::statement::unprepared::Statement::new(format!(
                    "SELECT count(*) FROM {keyspace}.{table}"
                ));
                count.set_request_timeout(Some(Duration::from_secs(120)));
                let result = session.query_unpaged(count, &[]).await.ok()?;
                let rows = result.into_rows_result().ok()?;
                let (n,) = rows.single_row::<(i64,)>().ok()?;
                Some(n as u64)
            }
        }
    }

    async fn create(
        &mut self,
        table: &str,
        columns: &[(String, DataType)],
    ) -> Result<(), SeedProblem> {
        match self {
            Writer::Postgres(client) => Ok(client
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS {table}; {}",
                    sql_create(table, columns)
                ))
                .await?),
            Writer::Mongo(db) => Ok(db.collection::<bson::Document>(table).drop().await?),
            Writer::Scylla {
                session,
                keyspace,
                insert,
            } => {
                let run = async |text: String| {
                    let mut statement = scylla::statement::unprepared::Statement::new(text);
                    statement.set_request_timeout(Some(Duration::from_secs(60)));
                    session
                        .query_unpaged(statement, &[])
                        .await
                        .map(|_| ())
                        .map_err(cql)
                };
                run(format!("DROP TABLE IF EXISTS {keyspace}.{table}")).await?;
                run(cql_create(keyspace, table, columns)).await?;
                let (_, id) = cql_key(table);
                let names: Vec<&str> = id
                    .then_some("id")
                    .into_iter()
                    .chain(columns.iter().map(|(n, _)| n.as_str()))
                    .collect();
                let marks = vec!["?"; names.len()].join(", ");
                let text = format!(
                    "INSERT INTO {keyspace}.{table} ({}) VALUES ({marks})",
                    names.join(", ")
                );
                *insert = Some(session.prepare(text).await.map_err(cql)?);
                Ok(())
            }
        }
    }

    /// Writes one batch; `first_row` is the number of rows written before it.
    async fn write(
        &mut self,
        table: &str,
        batch: &Batch,
        first_row: u64,
    ) -> Result<(), SeedProblem> {
        match self {
            Writer::Postgres(client) => {
                let names: Vec<&str> = batch.columns.iter().map(|c| c.name.as_str()).collect();
                let copy = format!("COPY {table} ({}) FROM STDIN WITH CSV", names.join(", "));
                let sink = client.copy_in::<_, bytes::Bytes>(&copy).await?;
                futures_util::pin_mut!(sink);
                sink.send(bytes::Bytes::from(csv_rows(batch))).await?;
                sink.finish().await?;
                Ok(())
            }
            Writer::Mongo(db) => {
                let docs = (0..batch.num_rows).map(|row| {
                    batch
                        .columns
                        .iter()
                        .map(|c| (c.name.clone(), bson_value(c.data_type, c.cell(row))))
                        .collect::<bson::Document>()
                });
                db.collection::<bson::Document>(table)
                    .insert_many(docs)
                    .await?;
                Ok(())
            }
            Writer::Scylla {
                session, insert, ..
            } => {
                let insert = insert
                    .as_ref()
                    .ok_or_else(|| cql("the table was not created"))?;
                let (_, id) = cql_key(table);
                let session = &*session;
                let rows = (0..batch.num_rows).map(|row| {
                    let mut values: Vec<Option<scylla::value::CqlValue>> = Vec::new();
                    if id {
                        let n = first_row + row as u64 + 1;
                        values.push(Some(scylla::value::CqlValue::BigInt(n as i64)));
                    }
                    values.extend(
                        batch
                            .columns
                            .iter()
                            .map(|c| cql_value(c.data_type, c.cell(row))),
                    );
                    values
                });
                let mut writes = futures_util::stream::iter(rows)
                    .map(|values| async move { session.execute_unpaged(insert, values).await })
                    .buffer_unordered(CQL_CONCURRENCY);
                while let Some(done) = writes.next().await {
                    done.map_err(cql)?;
                }
                Ok(())
            }
        }
    }

    /// Indexes the route of `flights`, which the example plugins query by.
    async fn finish(&mut self, table: &str) -> Result<(), SeedProblem> {
        if table != "flights" {
            return Ok(());
        }
        match self {
            Writer::Postgres(client) => Ok(client
                .batch_execute(
                    "CREATE INDEX flights_route ON flights (origin, dest, time_hour); ANALYZE flights",
                )
                .await?),
            Writer::Mongo(db) => {
                let index = mongodb::IndexModel::builder()
                    .keys(bson::doc! { "origin": 1, "dest": 1, "time_hour": 1 })
                    .build();
                db.collection::<bson::Document>(table)
                    .create_index(index)
                    .await?;
                Ok(())
            }
            // The partition key is the route already.
            Writer::Scylla { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_core::batch::ColumnBuilder;

    fn columns() -> Vec<(String, DataType)> {
        [
            ("origin", DataType::Text),
            ("dest", DataType::Text),
            ("dep_delay", DataType::Int64),
            ("time_hour", DataType::Timestamp),
        ]
        .map(|(n, t)| (n.to_owned(), t))
        .to_vec()
    }

    #[test]
    fn tables_are_declared_with_keys_each_backend_accepts() {
        assert_eq!(
            sql_create("weather", &columns()),
            "CREATE TABLE weather (origin TEXT, dest TEXT, dep_delay BIGINT, \
             time_hour TIMESTAMPTZ, PRIMARY KEY (origin, time_hour))"
        );
        assert_eq!(
            cql_create("nycflights13", "flights", &columns()),
            "CREATE TABLE nycflights13.flights (id bigint, origin text, dest text, \
             dep_delay bigint, time_hour timestamp, \
             PRIMARY KEY ((origin, dest), time_hour, carrier, flight, id))"
        );
    }

    #[test]
    fn csv_keeps_nulls_apart_from_empty_text() {
        let mut text = ColumnBuilder::new("t", DataType::Text, 3);
        text.push_str("say \"hi\", twice");
        text.push_str("");
        text.push_null();
        let mut at = ColumnBuilder::new("at", DataType::Timestamp, 3);
        at.push_i64(1_356_998_400_000_000);
        at.push_null();
        at.push_i64(0);
        let batch = Batch {
            num_rows: 3,
            columns: vec![text.finish(), at.finish()],
        };
        assert_eq!(
            csv_rows(&batch),
            "\"say \"\"hi\"\", twice\",2013-01-01T00:00:00Z\n\"\",\n,1970-01-01T00:00:00Z\n"
        );
    }

    #[test]
    fn cells_become_driver_values() {
        use scylla::value::{CqlTimestamp, CqlValue};
        let at = Cell::Int64(1_356_998_400_000_000);
        assert_eq!(
            cql_value(DataType::Timestamp, at),
            Some(CqlValue::Timestamp(CqlTimestamp(1_356_998_400_000)))
        );
        assert_eq!(cql_value(DataType::Int64, Cell::Null), None);
        assert_eq!(
            bson_value(DataType::Timestamp, at),
            bson::Bson::DateTime(bson::DateTime::from_millis(1_356_998_400_000))
        );
        assert_eq!(
            bson_value(DataType::Int64, Cell::Int64(7)),
            bson::Bson::Int64(7)
        );
    }
}
