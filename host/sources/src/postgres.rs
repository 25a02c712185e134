//! PostgreSQL and CockroachDB, through `tokio-postgres`.
//!
//! One backend, two flavours: the server's version string tells them apart. Every run
//! takes a connection from a `deadpool-postgres` pool, opens a `READ ONLY` transaction with a `statement_timeout`,
//! prepares the statement (extended protocol: one statement, never the simple protocol on
//! plugin text), binds its parameters, and fetches the result through a portal one batch
//! at a time. The transaction is always rolled back.
//!
//! Values are decoded straight from the binary wire format into column builders.
//!
//! TLS (rustls) is used when the URL says `sslmode=require`; the server's certificate is
//! then verified against the Mozilla roots and the source's `tls_ca_file`, if any. Without
//! `sslmode=require` connections are plain, as on a local or compose network.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use postgres_protocol::types as wire;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use quarry_core::guard::sql::guard;

use super::explain::{self, Plan};
use super::schema::{Field, Index, Schema, Table};
use super::split::{self, Split};
use super::{Backend, BatchSender, Query, Source, SourceError, StreamOptions, Value};
use quarry_core::batch::{Batch, ColumnBuilder, DataType};

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// A PostgreSQL or CockroachDB database, with a pool of connections.
pub struct PostgresSource {
    name: String,
    /// A libpq-style URL or key=value string, with the password already filled in.
    config: tokio_postgres::Config,
    /// At most this many connections at once.
    pool_size: usize,
    /// Made on first use, once the credentials and TLS settings are final.
    pool: OnceLock<Pool>,
    /// `Backend` as a number: what the configuration said until the server says otherwise.
    flavour: Arc<AtomicU8>,
    /// How to make TLS connections when the URL requires them.
    tls: MakeRustlsConnect,
}

impl PostgresSource {
    /// A source for `url`, with at most `pool_size` connections at once; nothing connects
    /// yet. A URL that does not parse is an error.
    pub fn new(
        name: &str,
        url: &str,
        backend: Backend,
        pool_size: usize,
    ) -> Result<Self, SourceError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| SourceError::Unavailable {
            source_name: name.to_owned(),
            message: format!("bad connection URL: {e}"),
        })?;
        Ok(PostgresSource {
            name: name.to_owned(),
            config,
            pool_size: pool_size.max(1),
            pool: OnceLock::new(),
            flavour: Arc::new(AtomicU8::new(backend as u8)),
            tls: MakeRustlsConnect::new(tls_config(None).map_err(|e| {
                SourceError::Unavailable {
                    source_name: name.to_owned(),
                    message: e.to_string(),
                }
            })?),
        })
    }

    /// Trusts the CA certificates in the PEM file `path` for TLS, besides the Mozilla roots.
    pub fn set_tls_ca_file(&mut self, path: &Path) -> Result<(), TlsError> {
        self.tls = MakeRustlsConnect::new(tls_config(Some(path))?);
        self.pool = OnceLock::new();
        Ok(())
    }

    /// Fills in what the configuration gives besides the URL.
    pub fn set_credentials(
        &mut self,
        user: Option<&str>,
        password: Option<&str>,
        database: Option<&str>,
    ) {
        if let Some(user) = user {
            self.config.user(user);
        }
        if let Some(password) = password {
            self.config.password(password);
        }
        if let Some(database) = database {
            self.config.dbname(database);
        }
        self.pool = OnceLock::new();
    }

    fn host_list(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(
                self.config
                    .get_ports()
                    .iter()
                    .chain(std::iter::repeat(&5432)),
            )
            .map(|(h, p)| match h {
                tokio_postgres::config::Host::Tcp(h) => format!("{h}:{p}"),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "{}/{}",
            hosts.join(","),
            self.config.get_dbname().unwrap_or("")
        )
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Unavailable {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }

    fn query_error(&self, e: tokio_postgres::Error) -> SourceError {
        use tokio_postgres::error::SqlState;
        let server_went_away = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ];
        if e.is_closed() || e.code().is_some_and(|c| server_went_away.contains(c)) {
            let reason = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned());
            return self.unavailable(format!(
                "the server closed the connection mid-run ({reason}); run again"
            ));
        }
        let message = match e.as_db_error() {
            Some(db) => match db.hint() {
                Some(hint) => format!("{} (hint: {hint})", db.message()),
                None => db.message().to_owned(),
            },
            None => e.to_string(),
        };
        SourceError::Query {
            source_name: self.name.clone(),
            message,
        }
    }

    /// The pool, made on first use: it waits for a free connection when all `pool_size`
    /// are in use, reuses an idle one that is still open, and learns the flavour from each
    /// new connection.
    fn pool(&self) -> &Pool {
        self.pool.get_or_init(|| {
            let settings = ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            };
            let manager = if self.config.get_ssl_mode() == SslMode::Require {
                Manager::from_config(self.config.clone(), self.tls.clone(), settings)
            } else {
                Manager::from_config(self.config.clone(), NoTls, settings)
            };
            let flavour = Arc::clone(&self.flavour);
            let learn_flavour = deadpool_postgres::Hook::async_fn(move |client, _| {
                let flavour = Arc::clone(&flavour);
                Box::pin(async move {
                    let found = detect_flavour(client)
                        .await
                        .map_err(deadpool_postgres::HookError::Backend)?;
                    flavour.store(found as u8, Ordering::Relaxed);
                    Ok(())
                })
            });
            Pool::builder(manager)
                .max_size(self.pool_size)
                .post_create(learn_flavour)
                .build()
                .expect("a pool with a runtime and no timeouts always builds")
        })
    }

    /// A connection from the pool: an idle one that is still open, or a new one.
    async fn client(&self) -> Result<deadpool_postgres::Object, SourceError> {
        self.pool().get().await.map_err(|e| match e {
            PoolError::Backend(e) => self.unavailable(describe(&e)),
            PoolError::PostCreateHook(deadpool_postgres::HookError::Backend(e)) => {
                self.unavailable(describe(&e))
            }
            other => self.unavailable(other),
        })
    }

    /// A new connection outside the pool, with no read-only transaction: runs use
    /// [`Source::stream`]; only `quarry seed` writes through this.
    pub async fn connect(&self) -> Result<Client, SourceError> {
        let client = if self.config.get_ssl_mode() == SslMode::Require {
            let (client, connection) = self
                .config
                .connect(self.tls.clone())
                .await
                .map_err(|e| self.unavailable(describe(&e)))?;
            tokio::spawn(connection);
            client
        } else {
            let (client, connection) = self
                .config
                .connect(NoTls)
                .await
                .map_err(|e| self.unavailable(describe(&e)))?;
            tokio::spawn(connection);
            client
        };
        let flavour = detect_flavour(&client)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.flavour.store(flavour as u8, Ordering::Relaxed);
        Ok(client)
    }

    async fn run(
        &self,
        client: &mut Client,
        query: Query,
        options: &StreamOptions,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let Query::Sql(statement) = query else {
            return Err(SourceError::WrongDialect {
                source_name: self.name.clone(),
                backend: self.backend().name(),
                kind: super::sqlite::query_kind(&query),
            });
        };
        guard(&statement.text).map_err(|refused| SourceError::NotReadOnly {
            source_name: self.name.clone(),
            statement: refused.0,
        })?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.query_error(e))?;
        // Our own text, never the plugin's: the simple protocol is fine here.
        let timeout_ms = options.timeout.as_millis().max(1);
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))
            .await
            .map_err(|e| self.query_error(e))?;
        let prepared = tx
            .prepare(&statement.text)
            .await
            .map_err(|e| self.query_error(e))?;
        if prepared.params().len() != statement.params.len() {
            return Err(SourceError::Query {
                source_name: self.name.clone(),
                message: format!(
                    "the statement has {} placeholders but {} parameters were given",
                    prepared.params().len(),
                    statement.params.len()
                ),
            });
        }
        let params: Vec<Param<'_>> = statement.params.iter().map(Param).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let portal = tx
            .bind(&prepared, &params)
            .await
            .map_err(|e| self.query_error(e))?;

        let columns: Vec<(String, Type)> = prepared
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().clone()))
            .collect();
        let mut decoders: Vec<Decoder> = columns
            .iter()
            .map(|(name, ty)| Decoder::new(name, ty))
            .collect();
        for d in decoders.iter().filter(|d| d.fallback) {
            options.note(format!(
                "source `{}`: column `{}` has type {}, which Quarry does not map; it is passed as text",
                self.name, d.name, d.type_name
            ));
        }
        let page = options.batch_rows.min(i32::MAX as usize) as i32;
        let mut total: u64 = 0;
        loop {
            if options.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            let rows = tx
                .query_portal(&portal, page)
                .await
                .map_err(|e| self.timeout_or(e, options.timeout))?;
            if rows.is_empty() {
                break;
            }
            let mut take = rows.len();
            if let Some(max) = options.max_rows {
                take = take.min(max.saturating_sub(total) as usize);
            }
            let batch = decode(&rows[..take], &mut decoders, &self.name)?;
            total += take as u64;
            if out.send(batch).await.is_err() || options.max_rows.is_some_and(|max| total >= max) {
                break;
            }
        }
        let _ = tx.rollback().await;
        Ok(())
    }

    fn timeout_or(&self, e: tokio_postgres::Error, timeout: Duration) -> SourceError {
        if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            return SourceError::Timeout {
                source_name: self.name.clone(),
                timeout,
            };
        }
        self.query_error(e)
    }
}

#[async_trait::async_trait]
impl Source for PostgresSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> String {
        self.host_list()
    }

    fn backend(&self) -> Backend {
        if self.flavour.load(Ordering::Relaxed) == Backend::Cockroach as u8 {
            Backend::Cockroach
        } else {
            Backend::Postgres
        }
    }

    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError> {
        let mut checkout = Checkout(Some(self.client().await?));
        let client = checkout.0.as_mut().expect("just checked out");
        let result = self.run(client, query, &options, &out).await;
        if result.is_ok() {
            checkout.reuse();
        }
        result.map_err(|e| match e {
            SourceError::Timeout { .. } | SourceError::Cancelled => e,
            SourceError::Query { ref message, .. } if message.contains("statement timeout") => {
                SourceError::Timeout {
                    source_name: self.name.clone(),
                    timeout: options.timeout,
                }
            }
            other => other,
        })
    }

    /// Ranges of the `by` column (`--partition-by`; its values must convert to integers)
    /// of a single-table scan, as Spark's JDBC reader splits a table.
    async fn split(
        &self,
        query: &Query,
        streams: usize,
        by: Option<&str>,
    ) -> Result<Split, SourceError> {
        let Query::Sql(statement) = query else {
            return Ok(Split::Whole("not SQL".into()));
        };
        let Some(column) = by else {
            return Ok(Split::Whole(
                "a PostgreSQL or CockroachDB query is split by the ranges of a column: give --partition-by COLUMN".into(),
            ));
        };
        let scan = match split::scan(&statement.text) {
            Ok(scan) => scan,
            Err(why) => return Ok(Split::Whole(why)),
        };
        if !split::is_identifier(column) {
            return Err(SourceError::Query {
                source_name: self.name.clone(),
                message: format!("the partition column must be a column name, not `{column}`"),
            });
        }
        let mut client = self.client().await?;
        let sql = format!(
            "SELECT min({column})::int8, max({column})::int8 FROM {}",
            scan.table
        );
        let transaction = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.query_error(e))?;
        let row = match transaction.query_one(sql.as_str(), &[]).await {
            Ok(row) => row,
            Err(e) => {
                return Ok(Split::Whole(format!(
                    "the partition column `{column}` has no integer range ({})",
                    describe(&e)
                )));
            }
        };
        let (Some(min), Some(max)) = (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
        else {
            return Ok(Split::Whole("the table is empty".into()));
        };
        Ok(Split::Parts(split::ranges(
            &scan,
            column,
            &split::bounds(min, max, streams),
            &statement.params,
        )))
    }

    /// `EXPLAIN (FORMAT JSON)` on PostgreSQL, `EXPLAIN` (its drawn tree) on CockroachDB, in
    /// a read-only transaction with the statement timeout.
    async fn explain(&self, query: &Query, timeout: Duration) -> Result<Plan, SourceError> {
        let Query::Sql(statement) = query else {
            return Err(SourceError::WrongDialect {
                source_name: self.name.clone(),
                backend: self.backend().name(),
                kind: super::sqlite::query_kind(query),
            });
        };
        guard(&statement.text).map_err(|refused| SourceError::NotReadOnly {
            source_name: self.name.clone(),
            statement: refused.0,
        })?;
        let mut checkout = Checkout(Some(self.client().await?));
        let client = checkout.0.as_mut().expect("just checked out");
        let cockroach = self.backend() == Backend::Cockroach;
        let method = if cockroach {
            "EXPLAIN"
        } else {
            "EXPLAIN (FORMAT JSON)"
        };
        let lines = async {
            let tx = client.build_transaction().read_only(true).start().await?;
            let timeout_ms = timeout.as_millis().max(1);
            tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))
                .await?;
            let params: Vec<Param<'_>> = statement.params.iter().map(Param).collect();
            let params: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let rows = tx
                .query(format!("{method} {}", statement.text).as_str(), &params)
                .await?;
            let lines: Vec<String> = rows
                .iter()
                .map(|row| String::from_utf8_lossy(row.get::<_, Raw>(0).0).into_owned())
                .collect();
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(lines)
        }
        .await
        .map_err(|e| match self.query_error(e) {
            SourceError::Query { message, .. } if message.contains("statement timeout") => {
                SourceError::Timeout {
                    source_name: self.name.clone(),
                    timeout,
                }
            }
            other => other,
        })?;
        checkout.reuse();
        if cockroach {
            return Ok(Plan {
                method: method.into(),
                tree: explain::tree_of_lines(&lines),
                raw: serde_json::json!(lines),
            });
        }
        let raw: serde_json::Value =
            serde_json::from_str(lines.first().map_or("null", String::as_str)).map_err(|e| {
                SourceError::Query {
                    source_name: self.name.clone(),
                    message: format!("the server's plan is not JSON: {e}"),
                }
            })?;
        Ok(Plan {
            method: method.into(),
            tree: explain::tree_of_postgres(&raw),
            raw,
        })
    }

    async fn schema(&self) -> Result<Schema, SourceError> {
        let client = self.client().await?;
        let rows = client
            .query(SCHEMA_COLUMNS, &[])
            .await
            .map_err(|e| self.query_error(e))?;
        let mut tables: Vec<Table> = Vec::new();
        for row in rows {
            let name = qualified(row.get(0), row.get(1));
            if tables.last().is_none_or(|t| t.name != name) {
                let kind = match row.get::<_, &str>(2) {
                    "VIEW" => "view",
                    _ => "table",
                };
                tables.push(Table {
                    name,
                    kind,
                    columns: Vec::new(),
                    indexes: Vec::new(),
                    sampled: None,
                });
            }
            let table = tables.last_mut().expect("pushed above");
            table.columns.push(Field {
                key: row.get::<_, bool>(6).then_some("primary"),
                nullable: Some(row.get(5)),
                ..Field::new(row.get::<_, String>(3), row.get::<_, String>(4))
            });
        }
        // Indexes from the catalog, which CockroachDB emulates in part: without them the
        // schema is still whole.
        if let Ok(rows) = client.query(SCHEMA_INDEXES, &[]).await {
            for row in rows {
                let name = qualified(row.get(0), row.get(1));
                if let Some(table) = tables.iter_mut().find(|t| t.name == name) {
                    let columns: Vec<Option<String>> = row.get(4);
                    table.indexes.push(Index {
                        name: row.get(2),
                        columns: columns.into_iter().flatten().collect(),
                        unique: row.get(3),
                    });
                }
            }
        }
        Ok(Schema { tables }.sorted())
    }

    async fn check(&self) -> Result<String, SourceError> {
        let client = self.client().await?;
        let version: String = client
            .query_one("SELECT version()", &[])
            .await
            .map_err(|e| self.unavailable(e))?
            .get(0);
        Ok(version)
    }
}

/// Every column of the tables and views a query may read, in table order, with whether
/// it is in the primary key. `USER-DEFINED` and `ARRAY` types are named by their own type.
const SCHEMA_COLUMNS: &str = "\
    SELECT c.table_schema::text, c.table_name::text, t.table_type::text, c.column_name::text, \
        (CASE WHEN c.data_type IN ('USER-DEFINED', 'ARRAY') THEN c.udt_name ELSE c.data_type END)::text, \
        c.is_nullable = 'YES', \
        EXISTS (SELECT 1 FROM information_schema.table_constraints k \
            JOIN information_schema.key_column_usage u \
              ON u.constraint_schema = k.constraint_schema AND u.constraint_name = k.constraint_name \
             AND u.table_name = k.table_name \
            WHERE k.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
              AND k.table_name = c.table_name AND u.column_name = c.column_name) \
    FROM information_schema.columns c \
    JOIN information_schema.tables t \
      ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
    WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema', 'crdb_internal', 'pg_extension') \
    ORDER BY 1, 2, c.ordinal_position";

/// Every index of those tables: its columns in order (none for an expression).
const SCHEMA_INDEXES: &str = "\
    SELECT n.nspname::text, t.relname::text, i.relname::text, ix.indisunique, \
        array_agg(a.attname::text ORDER BY k.ord) \
    FROM pg_index ix \
    JOIN pg_class t ON t.oid = ix.indrelid \
    JOIN pg_class i ON i.oid = ix.indexrelid \
    JOIN pg_namespace n ON n.oid = t.relnamespace \
    CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'crdb_internal') \
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3";

/// A table's name as a query writes it: bare in `public`, else `schema.table`.
fn qualified(schema: &str, table: &str) -> String {
    if schema == "public" {
        table.to_owned()
    } else {
        format!("{schema}.{table}")
    }
}

/// A connection taken from the pool for one run. Unless the run ended well it is closed
/// rather than reused: a run that failed, or whose future was dropped, may have left its
/// transaction or a statement unfinished.
struct Checkout(Option<deadpool_postgres::Object>);

impl Checkout {
    /// Gives the connection back to the pool.
    fn reuse(&mut self) {
        self.0.take();
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// CockroachDB or PostgreSQL, by the server's version string.
async fn detect_flavour(client: &Client) -> Result<Backend, tokio_postgres::Error> {
    let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
    Ok(if version.contains("CockroachDB") {
        Backend::Cockroach
    } else {
        Backend::Postgres
    })
}

/// A pool of up to `size` read-write connections to `config`, for Quarry's own store
/// (`quarry serve --store postgresql://…`): TLS as for a source (when the URL says
/// `sslmode=require`, verified against the Mozilla roots), a 5 s connect timeout unless
/// the URL sets one, and at most 10 s of waiting for a free connection.
pub fn store_pool(mut config: tokio_postgres::Config, size: usize) -> Result<Pool, TlsError> {
    use deadpool_postgres::Runtime;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let settings = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if config.get_ssl_mode() == SslMode::Require {
        Manager::from_config(config, MakeRustlsConnect::new(tls_config(None)?), settings)
    } else {
        Manager::from_config(config, NoTls, settings)
    };
    Ok(Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .expect("a pool with a runtime always builds"))
}

/// Whether the server is PostgreSQL or CockroachDB, from its version string.
pub async fn flavour(client: &Client) -> Result<Backend, tokio_postgres::Error> {
    detect_flavour(client).await
}

/// TLS settings: the Mozilla roots, plus the certificates in `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let bad = |e: &dyn std::fmt::Display| TlsError::CaFile {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let before = roots.len();
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        }
        if roots.len() == before {
            return Err(bad(&"no PEM certificates in the file"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Why TLS for a PostgreSQL source could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read or holds no certificates.
    #[error("tls_ca_file {}: {message}", path.display())]
    CaFile {
        /// The file as configured.
        path: std::path::PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Setup(String),
}

/// The server's message, or the cause under the driver's summary ("db error", "error
/// connecting to server").
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A plugin's parameter, encoded for the type the server expects.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot pass {what} as {ty}; pass text and cast it in SQL, e.g. $1::text::{ty}")
                .into()
        };
        match (self.0, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Boolean(b), &Type::BOOL) => wire::bool_to_sql(*b, out),
            (Value::Int64(i), &Type::INT8) => wire::int8_to_sql(*i, out),
            (Value::Int64(i), &Type::INT4) => wire::int4_to_sql(
                i32::try_from(*i).map_err(|_| mismatch("a large integer"))?,
                out,
            ),
            (Value::Int64(i), &Type::INT2) => wire::int2_to_sql(
                i16::try_from(*i).map_err(|_| mismatch("a large integer"))?,
                out,
            ),
            (Value::Int64(i), &Type::FLOAT8) => wire::float8_to_sql(*i as f64, out),
            (Value::Float64(f), &Type::FLOAT8) => wire::float8_to_sql(*f, out),
            (Value::Float64(f), &Type::FLOAT4) => wire::float4_to_sql(*f as f32, out),
            (Value::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                wire::text_to_sql(s, out)
            }
            (Value::Text(s), t)
                if matches!(
                    *t,
                    Type::TEXT
                        | Type::VARCHAR
                        | Type::BPCHAR
                        | Type::NAME
                        | Type::JSON
                        | Type::UNKNOWN
                ) =>
            {
                wire::text_to_sql(s, out)
            }
            (Value::Bytes(b), &Type::BYTEA) => wire::bytea_to_sql(b, out),
            (Value::Boolean(_), _) => return Err(mismatch("a boolean")),
            (Value::Int64(_), _) => return Err(mismatch("an integer")),
            (Value::Float64(_), _) => return Err(mismatch("a float")),
            (Value::Text(_), _) => return Err(mismatch("text")),
            (Value::Bytes(_), _) => return Err(mismatch("bytes")),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A value as it came off the wire, for any type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How one result column is decoded.
struct Decoder {
    name: String,
    type_name: String,
    ty: Type,
    /// The type is not mapped; values pass as text (or hex when they are not UTF-8).
    fallback: bool,
    builder: ColumnBuilder,
}

/// The Quarry type of a PostgreSQL type, or `None` when it is not mapped.
pub(crate) fn quarry_type(ty: &Type) -> Option<DataType> {
    if let Kind::Array(_) = ty.kind() {
        return Some(DataType::Json);
    }
    if let Kind::Enum(_) = ty.kind() {
        return Some(DataType::Text);
    }
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 | Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => DataType::Decimal,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::XML => {
            DataType::Text
        }
        Type::INET | Type::CIDR | Type::INTERVAL | Type::TIME => DataType::Text,
        Type::BYTEA => DataType::Bytes,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DataType::Timestamp,
        Type::DATE => DataType::Date,
        Type::UUID => DataType::Uuid,
        Type::JSON | Type::JSONB => DataType::Json,
        _ => return None,
    })
}

impl Decoder {
    fn new(name: &str, ty: &Type) -> Self {
        let mapped = quarry_type(ty);
        Decoder {
            name: name.to_owned(),
            type_name: ty.name().to_owned(),
            ty: ty.clone(),
            fallback: mapped.is_none(),
            builder: ColumnBuilder::new(name, mapped.unwrap_or(DataType::Text), 1024),
        }
    }

    fn push(&mut self, raw: Option<&[u8]>) -> Result<(), Box<dyn std::error::Error + Sync + Send>> {
        let Some(raw) = raw else {
            self.builder.push_null();
            return Ok(());
        };
        let b = &mut self.builder;
        if self.fallback {
            match std::str::from_utf8(raw) {
                Ok(text) => b.push_str(text),
                Err(_) => b.push_str(&format!("\\x{}", hex::encode(raw))),
            }
            return Ok(());
        }
        match self.ty.kind() {
            Kind::Array(_) => {
                b.push_str(&array_json(raw)?.to_string());
                return Ok(());
            }
            Kind::Enum(_) => {
                b.push_str(wire::text_from_sql(raw)?);
                return Ok(());
            }
            _ => {}
        }
        match self.ty {
            Type::BOOL => b.push_bool(wire::bool_from_sql(raw)?),
            Type::INT2 => b.push_i64(wire::int2_from_sql(raw)?.into()),
            Type::INT4 => b.push_i64(wire::int4_from_sql(raw)?.into()),
            Type::INT8 => b.push_i64(wire::int8_from_sql(raw)?),
            Type::OID => b.push_i64(wire::oid_from_sql(raw)?.into()),
            Type::FLOAT4 => b.push_f64(wire::float4_from_sql(raw)?.into()),
            Type::FLOAT8 => b.push_f64(wire::float8_from_sql(raw)?),
            Type::NUMERIC => b.push_str(&numeric_text(raw)?),
            Type::BYTEA => b.push_bytes(wire::bytea_from_sql(raw)),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                b.push_i64(wire::timestamp_from_sql(raw)?.saturating_add(PG_EPOCH_MICROS))
            }
            Type::DATE => b.push_i64(i64::from(wire::date_from_sql(raw)?) + PG_EPOCH_DAYS),
            Type::UUID => b.push_str(&uuid_text(&wire::uuid_from_sql(raw)?)),
            Type::JSONB => b.push_str(wire::text_from_sql(raw.get(1..).unwrap_or_default())?),
            Type::INET | Type::CIDR => b.push_str(&inet_text(raw)?),
            Type::INTERVAL => b.push_str(&interval_text(raw)?),
            Type::TIME => b.push_str(&time_text(wire::time_from_sql(raw)?)),
            Type::CHAR => b.push_str(&(raw.first().copied().unwrap_or(0) as char).to_string()),
            _ => b.push_str(wire::text_from_sql(raw)?),
        }
        Ok(())
    }
}

fn decode(rows: &[Row], decoders: &mut [Decoder], source: &str) -> Result<Batch, SourceError> {
    for row in rows {
        for (i, d) in decoders.iter_mut().enumerate() {
            let raw: Option<Raw<'_>> = row.try_get(i).map_err(|e| SourceError::Query {
                source_name: source.to_owned(),
                message: format!("column `{}`: {e}", d.name),
            })?;
            d.push(raw.map(|r| r.0)).map_err(|e| SourceError::Query {
                source_name: source.to_owned(),
                message: format!("column `{}` ({}): {e}", d.name, d.type_name),
            })?;
        }
    }
    Ok(Batch {
        num_rows: rows.len(),
        columns: decoders.iter_mut().map(|d| d.builder.finish()).collect(),
    })
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// NUMERIC's binary form (base-10000 digits, a weight and a display scale) as exact text.
fn numeric_text(raw: &[u8]) -> Result<String, Box<dyn std::error::Error + Sync + Send>> {
    let short = || -> Box<dyn std::error::Error + Sync + Send> { "numeric value too short".into() };
    let word = |i: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
        let b = raw.get(i..i + 2).ok_or_else(short)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16 as i64;
    let sign = word(4)?;
    let dscale = word(6)? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<_, _>>()?;
    let mut int_part = String::new();
    for k in 0..=weight.max(-1) {
        let d = usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut k = weight + 1;
    while frac.len() < dscale {
        let d = usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(0);
        frac.push_str(&format!("{d:04}"));
        k += 1;
    }
    frac.truncate(dscale);
    let negative = sign == 0x4000 && (int_part != "0" || frac.bytes().any(|c| c != b'0'));
    let mut text = String::with_capacity(int_part.len() + frac.len() + 2);
    if negative {
        text.push('-');
    }
    text.push_str(&int_part);
    if !frac.is_empty() {
        text.push('.');
        text.push_str(&frac);
    }
    Ok(text)
}

fn inet_text(raw: &[u8]) -> Result<String, Box<dyn std::error::Error + Sync + Send>> {
    let inet = wire::inet_from_sql(raw)?;
    let full = if inet.addr().is_ipv4() { 32 } else { 128 };
    Ok(if inet.netmask() == full {
        inet.addr().to_string()
    } else {
        format!("{}/{}", inet.addr(), inet.netmask())
    })
}

fn time_text(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

/// An interval as ISO 8601 duration text, e.g. `P1M2DT3H4M5.5S`.
fn interval_text(raw: &[u8]) -> Result<String, Box<dyn std::error::Error + Sync + Send>> {
    if raw.len() != 16 {
        return Err("interval value has the wrong length".into());
    }
    let micros = i64::from_be_bytes(raw[0..8].try_into()?);
    let days = i32::from_be_bytes(raw[8..12].try_into()?);
    let months = i32::from_be_bytes(raw[12..16].try_into()?);
    let mut s = String::from("P");
    if months != 0 {
        s.push_str(&format!("{months}M"));
    }
    if days != 0 {
        s.push_str(&format!("{days}D"));
    }
    if micros != 0 || s == "P" {
        let secs = micros as f64 / 1e6;
        s.push_str(&format!("T{secs}S"));
    }
    Ok(s)
}

/// A PostgreSQL array as JSON: nested lists for each dimension, elements decoded by type.
fn array_json(raw: &[u8]) -> Result<serde_json::Value, Box<dyn std::error::Error + Sync + Send>> {
    use postgres_protocol::types::ArrayDimension;
    use tokio_postgres::fallible_iterator::FallibleIterator;
    let array = wire::array_from_sql(raw)?;
    let element = Type::from_oid(array.element_type()).unwrap_or(Type::TEXT);
    let dims: Vec<ArrayDimension> = array.dimensions().collect()?;
    let mut values = Vec::new();
    let mut items = array.values();
    while let Some(v) = items.next()? {
        values.push(match v {
            None => serde_json::Value::Null,
            Some(v) => element_json(&element, v)?,
        });
    }
    fn nest(values: &mut std::vec::IntoIter<serde_json::Value>, dims: &[i32]) -> serde_json::Value {
        match dims {
            [] => serde_json::Value::Array(Vec::new()),
            [n] => serde_json::Value::Array(values.take(*n as usize).collect()),
            [n, rest @ ..] => {
                serde_json::Value::Array((0..*n).map(|_| nest(values, rest)).collect())
            }
        }
    }
    let lens: Vec<i32> = dims.iter().map(|d| d.len).collect();
    Ok(nest(&mut values.into_iter(), &lens))
}

fn element_json(
    ty: &Type,
    raw: &[u8],
) -> Result<serde_json::Value, Box<dyn std::error::Error + Sync + Send>> {
    let mut d = Decoder::new("element", ty);
    d.push(Some(raw))?;
    let column = d.builder.finish();
    let cell = column.cell(0);
    use quarry_core::batch::Cell;
    Ok(match (column.data_type, cell) {
        (_, Cell::Null) => serde_json::Value::Null,
        (_, Cell::Boolean(b)) => b.into(),
        (DataType::Timestamp, Cell::Int64(i)) => quarry_core::datetime::format_timestamp(i).into(),
        (DataType::Date, Cell::Int64(i)) => quarry_core::datetime::format_date(i).into(),
        (_, Cell::Int64(i)) => i.into(),
        (_, Cell::Float64(f)) => f.into(),
        (DataType::Json, Cell::Text(s)) => serde_json::from_str(s).unwrap_or_else(|_| s.into()),
        (_, Cell::Text(s)) => s.into(),
        (_, Cell::Bytes(b)) => format!("\\x{}", hex::encode(b)).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[u16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits.len() as u16, weight as u16, sign, dscale] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in ndigits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_print_exactly() {
        assert_eq!(
            numeric_text(&numeric(&[12, 3400], 0, 0, 4)).unwrap(),
            "12.3400"
        );
        assert_eq!(
            numeric_text(&numeric(&[12, 3400], 0, 0x4000, 2)).unwrap(),
            "-12.34"
        );
        assert_eq!(
            numeric_text(&numeric(&[1, 0, 5], 2, 0, 0)).unwrap(),
            "100000005"
        );
        assert_eq!(numeric_text(&numeric(&[5], -1, 0, 6)).unwrap(), "0.000500");
        assert_eq!(numeric_text(&numeric(&[], 0, 0, 2)).unwrap(), "0.00");
        assert_eq!(numeric_text(&numeric(&[], 0, 0xC000, 0)).unwrap(), "NaN");
    }

    #[test]
    fn times_and_intervals_print_as_text() {
        assert_eq!(time_text(3_723_000_001), "01:02:03.000001");
        let mut raw = Vec::new();
        raw.extend_from_slice(&5_500_000i64.to_be_bytes());
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(&1i32.to_be_bytes());
        assert_eq!(interval_text(&raw).unwrap(), "P1M2DT5.5S");
    }
}
