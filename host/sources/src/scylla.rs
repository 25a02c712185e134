//! ScyllaDB and Cassandra, through the `scylla` driver.
//!
//! One session per source, opened on first use. Only a single `SELECT` may run: anything
//! else is refused before it is sent. Statements are prepared once and cached; parameters
//! are bound by the prepared statement's types; results are read in pages of at least
//! [`MIN_PAGE_ROWS`], and rows become batches of the run's size as they arrive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{
    DbError, NextPageError, NextRowError, PagerExecutionError, PrepareError, RequestAttemptError,
    RequestError,
};
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlDate, CqlTimestamp, CqlValue, Row};
use tokio::sync::{Mutex, OnceCell};

use super::explain::{Plan, PlanNode};
use super::schema::{Field, Index, Schema, Table};
use super::split::{self, Split};
use super::{Backend, BatchSender, Query, Source, SourceError, StreamOptions, Value};
use quarry_core::batch::{Batch, ColumnBuilder, DataType};

/// The smallest page asked of the server: the DataStax drivers' default fetch size.
const MIN_PAGE_ROWS: usize = 5000;

/// A ScyllaDB or Cassandra cluster, one session per source.
pub struct ScyllaSource {
    name: String,
    contact_points: Vec<String>,
    keyspace: Option<String>,
    /// User and password, when the cluster requires them.
    credentials: Option<(String, String)>,
    session: OnceCell<Session>,
    /// Prepared statements by text, so each is prepared once per process.
    prepared: Mutex<HashMap<String, PreparedStatement>>,
}

impl ScyllaSource {
    /// A source for the cluster at `contact_points`, in `keyspace`; it connects on first use.
    pub fn new(name: &str, contact_points: Vec<String>, keyspace: Option<String>) -> Self {
        ScyllaSource {
            name: name.to_owned(),
            contact_points,
            keyspace,
            credentials: None,
            session: OnceCell::new(),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// User and password from the configuration; no user, no authentication.
    pub fn set_credentials(&mut self, user: Option<&str>, password: Option<&str>) {
        self.credentials = user.map(|u| (u.to_owned(), password.unwrap_or_default().to_owned()));
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Unavailable {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }

    /// The statement's params, bound to the prepared statement's placeholders' types.
    fn bound(
        &self,
        prepared: &PreparedStatement,
        statement: &super::Statement,
    ) -> Result<Vec<Option<CqlValue>>, SourceError> {
        let specs = prepared.get_variable_col_specs();
        if specs.len() != statement.params.len() {
            return Err(self.error(format!(
                "the statement has {} placeholders but {} parameters were given",
                specs.len(),
                statement.params.len()
            )));
        }
        statement
            .params
            .iter()
            .zip(specs.iter())
            .enumerate()
            .map(|(i, (v, spec))| {
                bind(v, spec.typ()).map_err(|e| {
                    self.error(format!(
                        "parameter {} (column `{}`, {}): {e}",
                        i + 1,
                        spec.name(),
                        cql_name(spec.typ())
                    ))
                })
            })
            .collect()
    }

    fn error(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Query {
            source_name: self.name.clone(),
            message: e.to_string(),
        }
    }

    /// A driver error as the run reports it: the server timed out (504), is down or
    /// overloaded (503), or refused the query (400).
    fn failed(
        &self,
        failure: Failure,
        e: impl std::fmt::Display,
        timeout: Duration,
    ) -> SourceError {
        match failure {
            Failure::Timeout => SourceError::Timeout {
                source_name: self.name.clone(),
                timeout,
            },
            Failure::ServerTimeout => SourceError::ServerTimeout {
                source_name: self.name.clone(),
                timeout,
                message: e.to_string(),
            },
            Failure::Unavailable => self.unavailable(e),
            Failure::Query => self.error(e),
        }
    }

    async fn session(&self) -> Result<&Session, SourceError> {
        self.session
            .get_or_try_init(|| async {
                let mut builder = self.builder();
                if let Some(keyspace) = &self.keyspace {
                    builder = builder.use_keyspace(keyspace, false);
                }
                builder.build().await.map_err(|e| self.unavailable(e))
            })
            .await
    }

    fn builder(&self) -> SessionBuilder {
        let mut builder = SessionBuilder::new()
            .known_nodes(&self.contact_points)
            .connection_timeout(Duration::from_secs(5));
        if let Some((user, password)) = &self.credentials {
            builder = builder.user(user, password);
        }
        builder
    }

    /// The configured keyspace.
    pub fn keyspace(&self) -> Option<&str> {
        self.keyspace.as_deref()
    }

    /// A new session with no keyspace (which may not exist yet): runs use
    /// [`Source::stream`]; only `quarry seed` writes through this.
    pub(crate) async fn admin_session(&self) -> Result<Session, SourceError> {
        self.builder()
            .build()
            .await
            .map_err(|e| self.unavailable(e))
    }

    /// The prepared statement for `text`, from the cache or the server; `timeout` is the
    /// run's, for the error when the server times the preparation out.
    async fn prepare(
        &self,
        session: &Session,
        text: &str,
        timeout: Duration,
    ) -> Result<PreparedStatement, SourceError> {
        let mut cache = self.prepared.lock().await;
        if let Some(p) = cache.get(text) {
            return Ok(p.clone());
        }
        let prepared = session
            .prepare(text)
            .await
            .map_err(|e| self.failed(Failure::of_prepare(&e), e, timeout))?;
        cache.insert(text.to_owned(), prepared.clone());
        Ok(prepared)
    }
}

#[async_trait::async_trait]
impl Source for ScyllaSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn backend(&self) -> Backend {
        Backend::Scylla
    }

    fn address(&self) -> String {
        format!(
            "{} keyspace {}",
            self.contact_points.join(","),
            self.keyspace.as_deref().unwrap_or("(none)")
        )
    }

    fn parse_query(&self, text: &str) -> Result<Query, SourceError> {
        Ok(Query::Cql(super::Statement {
            text: text.to_owned(),
            params: Vec::new(),
        }))
    }

    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError> {
        let Query::Cql(statement) = query else {
            return Err(SourceError::WrongDialect {
                source_name: self.name.clone(),
                backend: "scylla",
                kind: super::sqlite::query_kind(&query),
            });
        };
        guard(&statement.text).map_err(|refused| SourceError::NotReadOnly {
            source_name: self.name.clone(),
            statement: refused.0,
        })?;
        let session = self.session().await?;
        let mut prepared = self
            .prepare(session, &statement.text, options.timeout)
            .await?;
        // Pages of at least MIN_PAGE_ROWS, cut into batches of the run's size below: each
        // page is a round trip, and 1,024-row pages halved the rate of a full scan.
        let page_rows = options.batch_rows.max(MIN_PAGE_ROWS);
        prepared.set_page_size(i32::try_from(page_rows).unwrap_or(i32::MAX));
        prepared.set_request_timeout(Some(options.timeout));
        let values = self.bound(&prepared, &statement)?;
        let pager = session
            .execute_iter(prepared, values)
            .await
            .map_err(|e| self.failed(Failure::of_pager(&e), e, options.timeout))?;
        let columns: Vec<(String, DataType)> = pager
            .column_specs()
            .iter()
            .map(|c| (c.name().to_owned(), quarry_type(c.typ())))
            .collect();
        let mut rows = pager.rows_stream::<Row>().map_err(|e| self.error(e))?;
        let mut builders = new_builders(&columns, options.batch_rows);
        let (mut in_batch, mut total) = (0usize, 0u64);
        loop {
            if options.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            let full = options.max_rows.is_some_and(|m| total >= m);
            let next = if full {
                None
            } else {
                rows.next()
                    .await
                    .transpose()
                    .map_err(|e| self.failed(Failure::of_row(&e), e, options.timeout))?
            };
            let done = next.is_none();
            if let Some(row) = next {
                for (b, value) in builders.iter_mut().zip(row.columns) {
                    push(b, value);
                }
                in_batch += 1;
                total += 1;
            }
            if in_batch >= options.batch_rows || (done && in_batch > 0) {
                let batch = Batch {
                    num_rows: in_batch,
                    columns: builders.iter_mut().map(ColumnBuilder::finish).collect(),
                };
                in_batch = 0;
                if out.send(batch).await.is_err() {
                    return Ok(());
                }
            }
            if done {
                if total == 0 {
                    let _ = out
                        .send(Batch {
                            num_rows: 0,
                            columns: builders.iter_mut().map(ColumnBuilder::finish).collect(),
                        })
                        .await;
                }
                return Ok(());
            }
        }
    }

    /// Token ranges of a full scan, or of an `ALLOW FILTERING` scan, each its own paged
    /// stream, as the Spark connector and DSBulk read a table.
    async fn split(
        &self,
        query: &Query,
        streams: usize,
        _by: Option<&str>,
    ) -> Result<Split, SourceError> {
        let Query::Cql(statement) = query else {
            return Ok(Split::Whole("not CQL".into()));
        };
        let scan = match split::scan(&statement.text) {
            Ok(scan) => scan,
            Err(why) => return Ok(Split::Whole(why)),
        };
        let (filter, allow_filtering) = match scan.filter {
            None => (None, false),
            Some(filter) => match split::strip_allow_filtering(filter) {
                Some(rest) => (Some(rest), true),
                None => {
                    return Ok(Split::Whole(
                        "a WHERE clause without ALLOW FILTERING reads by key, not by scanning"
                            .into(),
                    ));
                }
            },
        };
        let (keyspace, table) = match scan.table.split_once('.') {
            Some((keyspace, table)) => (keyspace.to_owned(), table.to_owned()),
            None => match &self.keyspace {
                Some(keyspace) => (keyspace.clone(), scan.table.to_owned()),
                None => {
                    return Ok(Split::Whole(
                        "no keyspace to find the table's partition key in".into(),
                    ));
                }
            },
        };
        let unquote = |name: &str| match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(quoted) => quoted.to_owned(),
            None => name.to_lowercase(),
        };
        let session = self.session().await?;
        let pager = session
            .query_iter(
                "SELECT column_name, position FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = ? AND kind = 'partition_key' ALLOW FILTERING",
                (unquote(&keyspace), unquote(&table)),
            )
            .await
            .map_err(|e| self.error(e))?;
        let mut rows = pager
            .rows_stream::<(String, i32)>()
            .map_err(|e| self.error(e))?;
        let mut key = Vec::new();
        while let Some(row) = rows.next().await {
            key.push(row.map_err(|e| self.error(e))?);
        }
        if key.is_empty() {
            return Ok(Split::Whole(format!(
                "no partition key found for {}",
                scan.table
            )));
        }
        key.sort_by_key(|(_, position)| *position);
        let token = format!(
            "token({})",
            key.iter()
                .map(|(name, _)| format!("\"{}\"", name.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let parts = split::token_bounds(streams)
            .windows(2)
            .enumerate()
            .map(|(i, range)| {
                let mut conditions = Vec::new();
                if i > 0 {
                    conditions.push(format!("{token} > {}", range[0]));
                }
                if i < streams - 1 {
                    conditions.push(format!("{token} <= {}", range[1]));
                }
                conditions.extend(filter.map(str::to_owned));
                let mut text = format!(
                    "{} FROM {} WHERE {}",
                    scan.select,
                    scan.table,
                    conditions.join(" AND ")
                );
                if allow_filtering {
                    text.push_str(" ALLOW FILTERING");
                }
                Query::Cql(super::Statement {
                    text,
                    params: statement.params.clone(),
                })
            })
            .collect();
        Ok(Split::Parts(parts))
    }

    /// Cassandra and ScyllaDB have no `EXPLAIN`: the plan is the trace of the query's
    /// first page (of [`EXPLAIN_PAGE`] rows), the coordinator's and replicas' steps in
    /// order, grouped by node, with the microseconds each had spent.
    async fn explain(&self, query: &Query, timeout: Duration) -> Result<Plan, SourceError> {
        let Query::Cql(statement) = query else {
            return Err(SourceError::WrongDialect {
                source_name: self.name.clone(),
                backend: "scylla",
                kind: super::sqlite::query_kind(query),
            });
        };
        guard(&statement.text).map_err(|refused| SourceError::NotReadOnly {
            source_name: self.name.clone(),
            statement: refused.0,
        })?;
        let session = self.session().await?;
        let mut prepared = self.prepare(session, &statement.text, timeout).await?;
        prepared.set_page_size(EXPLAIN_PAGE);
        prepared.set_request_timeout(Some(timeout));
        prepared.set_tracing(true);
        let values = self.bound(&prepared, statement)?;
        let pager = session
            .execute_iter(prepared, values)
            .await
            .map_err(|e| self.failed(Failure::of_pager(&e), e, timeout))?;
        let mut rows = pager.rows_stream::<Row>().map_err(|e| self.error(e))?;
        if let Some(Err(e)) = rows.next().await {
            return Err(self.failed(Failure::of_row(&e), e, timeout));
        }
        let id = *rows
            .tracing_ids()
            .first()
            .ok_or_else(|| self.error("the server kept no trace of the query"))?;
        drop(rows);
        let info = session
            .get_tracing_info(&id)
            .await
            .map_err(|e| self.error(format!("reading the query's trace: {e}")))?;
        let mut tree: Vec<PlanNode> = Vec::new();
        let mut events = Vec::with_capacity(info.events.len());
        for event in &info.events {
            let node = event.source.map_or("?".to_owned(), |ip| ip.to_string());
            let activity = event.activity.clone().unwrap_or_default();
            let elapsed = event.source_elapsed.unwrap_or(0);
            events.push(serde_json::json!({
                "node": node, "activity": activity, "elapsed_us": elapsed,
                "thread": event.thread,
            }));
            let label = format!("node {node}");
            let group = match tree.iter().position(|n| n.label == label) {
                Some(i) => &mut tree[i],
                None => {
                    tree.push(PlanNode::leaf(label));
                    tree.last_mut().expect("pushed above")
                }
            };
            group
                .children
                .push(PlanNode::leaf(format!("{activity} ({elapsed} µs)")));
        }
        Ok(Plan {
            method: "tracing".into(),
            tree,
            raw: serde_json::json!({
                "command": info.command,
                "request": info.request,
                "coordinator": info.coordinator.map(|ip| ip.to_string()),
                "duration_us": info.duration,
                "parameters": info.parameters,
                "events": events,
            }),
        })
    }

    async fn schema(&self) -> Result<Schema, SourceError> {
        let session = self.session().await?;
        let (filter, values) = match &self.keyspace {
            Some(keyspace) => (" WHERE keyspace_name = ?", vec![keyspace.clone()]),
            None => ("", Vec::new()),
        };
        let columns = session.query_iter(format!("{SCHEMA_COLUMNS}{filter}"), values.clone());
        let indexes = session.query_iter(format!("{SCHEMA_INDEXES}{filter}"), values);
        let mut rows = columns
            .await
            .map_err(|e| self.error(e))?
            .rows_stream::<(String, String, String, String, i32, String)>()
            .map_err(|e| self.error(e))?;
        // (table, kind order, position, field): partition key, clustering key, then the
        // other columns by name, as `DESCRIBE` lists them.
        let mut found = Vec::new();
        while let Some(row) = rows.next().await {
            let (keyspace, table, column, kind, position, data_type) =
                row.map_err(|e| self.error(e))?;
            if self.keyspace.is_none() && SYSTEM_KEYSPACES.contains(&keyspace.as_str()) {
                continue;
            }
            let (order, key) = match kind.as_str() {
                "partition_key" => (0, Some("partition")),
                "clustering" => (1, Some("clustering")),
                _ => (2, None),
            };
            let table = match self.keyspace {
                Some(_) => table,
                None => format!("{keyspace}.{table}"),
            };
            let field = Field {
                key,
                ..Field::new(column, data_type)
            };
            found.push((table, order, position, field));
        }
        found.sort_by(|a, b| (&a.0, a.1, a.2, &a.3.name).cmp(&(&b.0, b.1, b.2, &b.3.name)));
        let mut tables: Vec<Table> = Vec::new();
        for (name, _, _, field) in found {
            if tables.last().is_none_or(|t| t.name != name) {
                tables.push(Table {
                    name,
                    kind: "table",
                    columns: Vec::new(),
                    indexes: Vec::new(),
                    sampled: None,
                });
            }
            tables.last_mut().expect("pushed above").columns.push(field);
        }
        // Secondary indexes: the column each one targets.
        if let Ok(pager) = indexes.await
            && let Ok(mut rows) = pager.rows_stream::<(
                String,
                String,
                String,
                std::collections::HashMap<String, String>,
            )>()
        {
            while let Some(Ok((keyspace, table, index, options))) = rows.next().await {
                let name = match self.keyspace {
                    Some(_) => table,
                    None => format!("{keyspace}.{table}"),
                };
                if let Some(table) = tables.iter_mut().find(|t| t.name == name) {
                    table.indexes.push(Index {
                        name: index,
                        columns: options.get("target").cloned().into_iter().collect(),
                        unique: false,
                    });
                }
            }
        }
        Ok(Schema { tables })
    }

    async fn check(&self) -> Result<String, SourceError> {
        let session = self.session().await?;
        let pager = session
            .query_iter("SELECT release_version FROM system.local", &[])
            .await
            .map_err(|e| self.unavailable(e))?;
        let mut rows = pager
            .rows_stream::<(String,)>()
            .map_err(|e| self.unavailable(e))?;
        let version = match rows.next().await {
            Some(Ok((v,))) => v,
            _ => "unknown".to_owned(),
        };
        Ok(format!("Cassandra protocol, release {version}"))
    }
}

/// Rows of the first page a CQL explain reads and traces.
const EXPLAIN_PAGE: i32 = 100;

/// Every column of every table, by keyspace (`WHERE keyspace_name = ?` narrows it).
const SCHEMA_COLUMNS: &str = "SELECT keyspace_name, table_name, column_name, kind, position, type FROM system_schema.columns";

/// Every secondary index, by keyspace.
const SCHEMA_INDEXES: &str =
    "SELECT keyspace_name, table_name, index_name, options FROM system_schema.indexes";

/// The server's own keyspaces, left out of a schema that lists every keyspace.
const SYSTEM_KEYSPACES: [&str; 7] = [
    "system",
    "system_auth",
    "system_distributed",
    "system_schema",
    "system_traces",
    "system_views",
    "system_virtual_schema",
];

/// What a driver error means for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// The run's timeout, which the driver enforces as the request timeout.
    Timeout,
    /// The server's own limit (`read_request_timeout`, `range_request_timeout`).
    ServerTimeout,
    /// No connection, a broken one, or a node that cannot serve now.
    Unavailable,
    /// The server refused the query, or its answer could not be read.
    Query,
}

impl Failure {
    fn of_attempt(e: &RequestAttemptError) -> Failure {
        match e {
            RequestAttemptError::DbError(
                DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. },
                _,
            ) => Failure::ServerTimeout,
            RequestAttemptError::DbError(
                DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::RateLimitReached { .. },
                _,
            )
            | RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => Failure::Unavailable,
            _ => Failure::Query,
        }
    }

    fn of_request(e: &RequestError) -> Failure {
        match e {
            RequestError::RequestTimeout(_) => Failure::Timeout,
            RequestError::ConnectionPoolError(_) | RequestError::EmptyPlan => Failure::Unavailable,
            RequestError::LastAttemptError(a) => Failure::of_attempt(a),
            _ => Failure::Query,
        }
    }

    fn of_prepare(e: &PrepareError) -> Failure {
        match e {
            PrepareError::ConnectionPoolError(_) => Failure::Unavailable,
            PrepareError::AllAttemptsFailed { first_attempt } => Failure::of_attempt(first_attempt),
            _ => Failure::Query,
        }
    }

    fn of_page(e: &NextPageError) -> Failure {
        match e {
            NextPageError::RequestFailure(r) => Failure::of_request(r),
            _ => Failure::Query,
        }
    }

    fn of_pager(e: &PagerExecutionError) -> Failure {
        match e {
            PagerExecutionError::PrepareError(p) => Failure::of_prepare(p),
            PagerExecutionError::NextPageError(n) => Failure::of_page(n),
            _ => Failure::Query,
        }
    }

    fn of_row(e: &NextRowError) -> Failure {
        match e {
            NextRowError::NextPageError(n) => Failure::of_page(n),
            _ => Failure::Query,
        }
    }
}

fn new_builders(columns: &[(String, DataType)], rows: usize) -> Vec<ColumnBuilder> {
    columns
        .iter()
        .map(|(name, t)| ColumnBuilder::new(name.clone(), *t, rows))
        .collect()
}

pub use quarry_core::guard::cql::guard;

/// The Quarry type of a CQL type.
pub(crate) fn quarry_type(t: &ColumnType<'_>) -> DataType {
    match t {
        ColumnType::Native(n) => match n {
            NativeType::Ascii | NativeType::Text => DataType::Text,
            NativeType::Boolean => DataType::Boolean,
            NativeType::Blob => DataType::Bytes,
            NativeType::Counter
            | NativeType::BigInt
            | NativeType::Int
            | NativeType::SmallInt
            | NativeType::TinyInt => DataType::Int64,
            NativeType::Varint | NativeType::Decimal => DataType::Decimal,
            NativeType::Float | NativeType::Double => DataType::Float64,
            NativeType::Timestamp => DataType::Timestamp,
            NativeType::Date => DataType::Date,
            NativeType::Uuid | NativeType::Timeuuid => DataType::Uuid,
            NativeType::Time | NativeType::Duration | NativeType::Inet => DataType::Text,
            _ => DataType::Text,
        },
        _ => DataType::Json,
    }
}

/// Appends a driver value to a column of the type [`quarry_type`] chose.
fn push(b: &mut ColumnBuilder, value: Option<CqlValue>) {
    let Some(v) = value else {
        b.push_null();
        return;
    };
    match (b.data_type(), v) {
        (_, CqlValue::Empty) => b.push_null(),
        (DataType::Json, v) => b.push_str(&json(&v).to_string()),
        (DataType::Boolean, CqlValue::Boolean(x)) => b.push_bool(x),
        (DataType::Int64, v) => match integer(&v) {
            Some(i) => b.push_i64(i),
            None => b.push_null(),
        },
        (DataType::Float64, CqlValue::Float(f)) => b.push_f64(f.into()),
        (DataType::Float64, CqlValue::Double(f)) => b.push_f64(f),
        (DataType::Timestamp, CqlValue::Timestamp(t)) => b.push_i64(t.0.saturating_mul(1000)),
        (DataType::Date, CqlValue::Date(d)) => b.push_i64(i64::from(d.0) - (1 << 31)),
        (DataType::Bytes, CqlValue::Blob(bytes)) => b.push_bytes(&bytes),
        (_, v) => b.push_str(&text(&v)),
    }
}

fn integer(v: &CqlValue) -> Option<i64> {
    Some(match v {
        CqlValue::TinyInt(i) => (*i).into(),
        CqlValue::SmallInt(i) => (*i).into(),
        CqlValue::Int(i) => (*i).into(),
        CqlValue::BigInt(i) => *i,
        CqlValue::Counter(c) => c.0,
        _ => return None,
    })
}

/// A value as text: exact decimals and varints, ISO times, canonical UUIDs.
fn text(v: &CqlValue) -> String {
    match v {
        CqlValue::Ascii(s) | CqlValue::Text(s) => s.clone(),
        CqlValue::Varint(n) => varint_text(n.as_signed_bytes_be_slice()),
        CqlValue::Decimal(d) => {
            let (bytes, scale) = d.as_signed_be_bytes_slice_and_exponent();
            with_scale(varint_text(bytes), scale)
        }
        CqlValue::Uuid(u) => u.to_string(),
        CqlValue::Timeuuid(u) => u.to_string(),
        CqlValue::Inet(ip) => ip.to_string(),
        CqlValue::Time(t) => {
            let (secs, nanos) = (t.0 / 1_000_000_000, t.0 % 1_000_000_000);
            let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            if nanos != 0 {
                s.push_str(&format!(".{nanos:09}"));
            }
            s
        }
        CqlValue::Duration(d) => {
            format!("P{}M{}DT{}S", d.months, d.days, d.nanoseconds as f64 / 1e9)
        }
        CqlValue::Timestamp(t) => quarry_core::datetime::format_timestamp(t.0.saturating_mul(1000)),
        CqlValue::Date(d) => quarry_core::datetime::format_date(i64::from(d.0) - (1 << 31)),
        CqlValue::Boolean(b) => b.to_string(),
        CqlValue::Float(f) => f.to_string(),
        CqlValue::Double(f) => f.to_string(),
        CqlValue::Blob(b) => format!("0x{}", hex::encode(b)),
        other => integer(other).map_or_else(|| json(other).to_string(), |i| i.to_string()),
    }
}

/// Collections, tuples and UDTs as JSON: maps with text keys become objects, other maps
/// lists of `[key, value]` pairs; UDTs objects of their fields.
fn json(v: &CqlValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items) => {
            J::Array(items.iter().map(json).collect())
        }
        CqlValue::Tuple(items) => J::Array(
            items
                .iter()
                .map(|i| i.as_ref().map_or(J::Null, json))
                .collect(),
        ),
        CqlValue::Map(pairs) => {
            if pairs
                .iter()
                .all(|(k, _)| matches!(k, CqlValue::Text(_) | CqlValue::Ascii(_)))
            {
                J::Object(pairs.iter().map(|(k, v)| (text(k), json(v))).collect())
            } else {
                J::Array(
                    pairs
                        .iter()
                        .map(|(k, v)| J::Array(vec![json(k), json(v)]))
                        .collect(),
                )
            }
        }
        CqlValue::UserDefinedType { fields, .. } => J::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map_or(J::Null, json)))
                .collect(),
        ),
        CqlValue::Boolean(b) => J::Bool(*b),
        CqlValue::Float(f) => serde_json::Number::from_f64((*f).into()).map_or(J::Null, J::Number),
        CqlValue::Double(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        CqlValue::Empty => J::Null,
        other => match integer(other) {
            Some(i) => J::from(i),
            None => J::String(text(other)),
        },
    }
}

/// A big-endian two's-complement integer of any length as decimal text.
fn varint_text(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "0".to_owned();
    }
    let negative = bytes[0] & 0x80 != 0;
    // The magnitude, big-endian: negate two's complement when negative.
    let mut magnitude: Vec<u8> = if negative {
        bytes.iter().map(|b| !b).collect()
    } else {
        bytes.to_vec()
    };
    if negative {
        for byte in magnitude.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
    }
    // Repeated division by 10^9 over the base-256 digits.
    let mut groups = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut remainder: u64 = 0;
        for byte in magnitude.iter_mut() {
            let acc = (remainder << 8) | u64::from(*byte);
            *byte = (acc / 1_000_000_000) as u8;
            remainder = acc % 1_000_000_000;
        }
        groups.push(remainder);
    }
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    match groups.split_last() {
        None => return "0".to_owned(),
        Some((most, rest)) => {
            text.push_str(&most.to_string());
            for g in rest.iter().rev() {
                text.push_str(&format!("{g:09}"));
            }
        }
    }
    text
}

/// `12340` with scale 3 is `12.340`; a negative scale multiplies by powers of ten.
fn with_scale(digits: String, scale: i32) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d.to_owned()),
        None => ("", digits),
    };
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale - digits.len() + 1))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// A plugin's parameter as the CQL value the prepared statement expects. Plugins have few
/// types (int64, float64, text, boolean, bytes), so each is accepted wherever it fits:
/// an int64 for every integer column while its value fits, text for timestamp, date,
/// time, inet, uuid and the exact numbers. An error says what did not fit, and why.
fn bind(v: &Value, t: &ColumnType<'_>) -> Result<Option<CqlValue>, String> {
    let native = match t {
        ColumnType::Native(n) => n,
        _ => {
            return Err(format!(
                "cannot bind {} to a {} column",
                value_kind(v),
                cql_name(t)
            ));
        }
    };
    let wrong = || {
        Err(format!(
            "cannot bind {} to a {} column",
            value_kind(v),
            cql_name(t)
        ))
    };
    let fit = |i: i64, range: &str| format!("{i} is out of range for {} ({range})", cql_name(t));
    Ok(Some(match (v, native) {
        (Value::Null, _) => return Ok(None),
        (Value::Text(s), NativeType::Text) => CqlValue::Text(s.clone()),
        (Value::Text(s), NativeType::Ascii) if s.is_ascii() => CqlValue::Ascii(s.clone()),
        (Value::Text(s), NativeType::Ascii) => return Err(format!("`{s}` is not ASCII")),
        (Value::Text(s), NativeType::Timestamp) => {
            match quarry_core::datetime::parse_timestamp(s) {
                Some(micros) => CqlValue::Timestamp(CqlTimestamp(micros.div_euclid(1000))),
                None => {
                    return Err(format!(
                        "`{s}` is not a timestamp like 2013-01-01T00:00:00Z"
                    ));
                }
            }
        }
        (Value::Text(s), NativeType::Date) => match quarry_core::datetime::parse_date(s) {
            Some(days) => CqlValue::Date(CqlDate((days + (1 << 31)) as u32)),
            None => return Err(format!("`{s}` is not a date like 2013-01-01")),
        },
        (Value::Text(s), NativeType::Time) => CqlValue::Time(
            parse_time(s).ok_or_else(|| format!("`{s}` is not a time like 13:45:00"))?,
        ),
        (Value::Text(s), NativeType::Inet) => CqlValue::Inet(
            s.parse::<IpAddr>()
                .map_err(|_| format!("`{s}` is not an IP address like 10.0.0.1"))?,
        ),
        (Value::Text(s), NativeType::Uuid | NativeType::Timeuuid) => {
            let uuid = uuid::Uuid::parse_str(s).map_err(|_| {
                format!("`{s}` is not a UUID like 123e4567-e89b-12d3-a456-426614174000")
            })?;
            if *native == NativeType::Uuid {
                CqlValue::Uuid(uuid)
            } else if uuid.get_version_num() == 1 {
                CqlValue::Timeuuid(uuid.into())
            } else {
                return Err(format!("`{s}` is not a time-based (version 1) UUID"));
            }
        }
        (Value::Text(s), NativeType::Varint) => {
            CqlValue::Varint(parse_varint(s).ok_or_else(|| format!("`{s}` is not an integer"))?)
        }
        (Value::Text(s), NativeType::Decimal) => CqlValue::Decimal(
            parse_decimal(s).ok_or_else(|| format!("`{s}` is not a decimal number like 12.50"))?,
        ),
        (Value::Int64(i), NativeType::BigInt) => CqlValue::BigInt(*i),
        (Value::Int64(i), NativeType::Int) => {
            CqlValue::Int(i32::try_from(*i).map_err(|_| fit(*i, "±2^31"))?)
        }
        (Value::Int64(i), NativeType::SmallInt) => {
            CqlValue::SmallInt(i16::try_from(*i).map_err(|_| fit(*i, "-32768 to 32767"))?)
        }
        (Value::Int64(i), NativeType::TinyInt) => {
            CqlValue::TinyInt(i8::try_from(*i).map_err(|_| fit(*i, "-128 to 127"))?)
        }
        (Value::Int64(i), NativeType::Varint) => CqlValue::Varint(
            scylla::value::CqlVarint::from_signed_bytes_be(i.to_be_bytes().to_vec()),
        ),
        (Value::Int64(i), NativeType::Decimal) => CqlValue::Decimal(
            scylla::value::CqlDecimal::from_signed_be_bytes_and_exponent(
                i.to_be_bytes().to_vec(),
                0,
            ),
        ),
        (Value::Int64(i), NativeType::Double) => CqlValue::Double(*i as f64),
        (Value::Int64(i), NativeType::Float) => CqlValue::Float(*i as f32),
        (Value::Int64(i), NativeType::Timestamp) => CqlValue::Timestamp(CqlTimestamp(*i)),
        (Value::Float64(f), NativeType::Double) => CqlValue::Double(*f),
        (Value::Float64(f), NativeType::Float) => CqlValue::Float(*f as f32),
        (Value::Boolean(b), NativeType::Boolean) => CqlValue::Boolean(*b),
        (Value::Bytes(b), NativeType::Blob) => CqlValue::Blob(b.clone()),
        _ => return wrong(),
    }))
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Text(_) => "text",
        Value::Int64(_) => "an integer",
        Value::Float64(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Bytes(_) => "bytes",
    }
}

/// A CQL type as CQL writes it: `int`, `timestamp`, `list<int>`.
fn cql_name(t: &ColumnType<'_>) -> String {
    match t {
        ColumnType::Native(n) => format!("{n:?}").to_lowercase(),
        ColumnType::Collection { .. } => "collection".to_owned(),
        ColumnType::Vector { .. } => "vector".to_owned(),
        ColumnType::UserDefinedType { .. } => "user-defined type".to_owned(),
        ColumnType::Tuple(_) => "tuple".to_owned(),
        _ => format!("{t:?}"),
    }
}

/// `13:45`, `13:45:00` or `13:45:00.123456789` as a CQL time (nanoseconds since midnight).
fn parse_time(s: &str) -> Option<scylla::value::CqlTime> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let number = |p: &str| (p.len() == 2).then(|| p.parse::<i64>().ok()).flatten();
    let (h, m) = (number(parts[0])?, number(parts[1])?);
    let sec = parts.get(2).map_or(Some(0), |p| number(p))?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse::<i64>().ok()?
    };
    Some(scylla::value::CqlTime(
        ((h * 60 + m) * 60 + sec) * 1_000_000_000 + nanos,
    ))
}

/// A decimal integer of any length as a varint.
fn parse_varint(s: &str) -> Option<scylla::value::CqlVarint> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The magnitude in base 256, little-endian, by multiply-and-add.
    let mut magnitude: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in magnitude.iter_mut() {
            let acc = u32::from(*byte) * 10 + carry;
            *byte = acc as u8;
            carry = acc >> 8;
        }
        if carry > 0 {
            magnitude.push(carry as u8);
        }
    }
    magnitude.push(0); // room for the sign bit
    if negative {
        // Two's complement: invert, add one.
        let mut carry = true;
        for byte in magnitude.iter_mut() {
            let (sum, overflow) = (!*byte).overflowing_add(u8::from(carry));
            *byte = sum;
            carry = carry && overflow;
        }
    }
    magnitude.reverse();
    Some(scylla::value::CqlVarint::from_signed_bytes_be(magnitude))
}

/// `-12.50` as a decimal: the digits as a varint with scale 2.
fn parse_decimal(s: &str) -> Option<scylla::value::CqlDecimal> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit())
        || (int.trim_start_matches(['-', '+']).is_empty() && frac.is_empty())
    {
        return None;
    }
    let digits = parse_varint(&format!("{int}{frac}"))?;
    Some(
        scylla::value::CqlDecimal::from_signed_be_bytes_and_exponent(
            digits.as_signed_bytes_be_slice().to_vec(),
            i32::try_from(frac.len()).ok()?,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_select_passes_the_guard() {
        for ok in [
            "SELECT * FROM flights",
            "  select carrier FROM flights WHERE origin = ? ALLOW FILTERING;",
            "-- comment\nSELECT 1 FROM t",
            "/* INSERT */ SELECT a FROM t WHERE b = 'x; DROP TABLE t'",
            "SELECT a FROM t WHERE b = 'it''s; fine'",
        ] {
            assert_eq!(guard(ok), Ok(()), "{ok}");
        }
        for bad in [
            "INSERT INTO flights (a) VALUES (1)",
            "UPDATE flights SET a = 1 WHERE b = 2",
            "DELETE FROM flights WHERE a = 1",
            "BEGIN BATCH INSERT INTO t (a) VALUES (1); APPLY BATCH",
            "TRUNCATE flights",
            "DROP TABLE flights",
            "CREATE TABLE x (a int PRIMARY KEY)",
            "ALTER TABLE flights ADD x int",
            "USE system",
            "GRANT SELECT ON ALL KEYSPACES TO bob",
            "SELECT * FROM t; DROP TABLE t",
            "SELECT * FROM t; -- fine\n DELETE FROM t WHERE a = 1",
            "/* SELECT */ DELETE FROM t WHERE a = 1",
            "// SELECT\nDELETE FROM t WHERE a = 1",
            "sElEcT * FROM t;INSERT INTO t (a) VALUES (1)",
            "SELECT * FROM t WHERE a = $$x$$; DROP TABLE t",
            "",
            "  ;  ",
        ] {
            assert!(guard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn varints_and_decimals_print_exactly() {
        assert_eq!(varint_text(&[0x00]), "0");
        assert_eq!(varint_text(&[0x7f]), "127");
        assert_eq!(varint_text(&[0x80]), "-128");
        assert_eq!(varint_text(&[0xff, 0xff]), "-1");
        // 2^64 = 18446744073709551616 does not fit an i64.
        assert_eq!(
            varint_text(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
            "18446744073709551616"
        );
        assert_eq!(
            varint_text(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
            "-18446744073709551616"
        );
        assert_eq!(with_scale("12340".into(), 3), "12.340");
        assert_eq!(with_scale("-5".into(), 3), "-0.005");
        assert_eq!(with_scale("12".into(), -2), "1200");
    }

    #[test]
    fn cql_values_map_to_columns() {
        use scylla::value::{CqlDuration, CqlTime, CqlVarint};
        let mut b = ColumnBuilder::new("x", DataType::Int64, 4);
        push(&mut b, Some(CqlValue::TinyInt(-3)));
        push(&mut b, Some(CqlValue::Counter(scylla::value::Counter(9))));
        push(&mut b, None);
        let col = b.finish();
        use quarry_core::batch::Cell;
        assert_eq!(
            (col.cell(0), col.cell(1), col.cell(2)),
            (Cell::Int64(-3), Cell::Int64(9), Cell::Null)
        );

        let mut b = ColumnBuilder::new("d", DataType::Date, 1);
        push(&mut b, Some(CqlValue::Date(CqlDate((1 << 31) + 15_706))));
        assert_eq!(b.finish().cell(0), Cell::Int64(15_706));
        let mut b = ColumnBuilder::new("t", DataType::Timestamp, 1);
        push(&mut b, Some(CqlValue::Timestamp(CqlTimestamp(1_500))));
        assert_eq!(b.finish().cell(0), Cell::Int64(1_500_000));

        assert_eq!(
            text(&CqlValue::Varint(CqlVarint::from_signed_bytes_be(vec![
                0x01, 0, 0, 0, 0, 0, 0, 0, 0
            ]))),
            "18446744073709551616"
        );
        assert_eq!(
            text(&CqlValue::Time(CqlTime(3_723_000_000_001))),
            "01:02:03.000000001"
        );
        assert_eq!(
            text(&CqlValue::Duration(CqlDuration {
                months: 1,
                days: 2,
                nanoseconds: 3_500_000_000
            })),
            "P1M2DT3.5S"
        );
        assert_eq!(
            text(&CqlValue::Inet("10.0.0.1".parse().unwrap())),
            "10.0.0.1"
        );

        let map = CqlValue::Map(vec![(
            CqlValue::Text("a".into()),
            CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]),
        )]);
        assert_eq!(json(&map).to_string(), r#"{"a":[1,2]}"#);
        let int_keys = CqlValue::Map(vec![(CqlValue::Int(1), CqlValue::Text("x".into()))]);
        assert_eq!(json(&int_keys).to_string(), r#"[[1,"x"]]"#);
        let udt = CqlValue::UserDefinedType {
            keyspace: "k".into(),
            name: "address".into(),
            fields: vec![
                ("city".into(), Some(CqlValue::Text("NYC".into()))),
                ("zip".into(), None),
            ],
        };
        assert_eq!(json(&udt).to_string(), r#"{"city":"NYC","zip":null}"#);
        let tuple = CqlValue::Tuple(vec![Some(CqlValue::BigInt(1)), None]);
        assert_eq!(json(&tuple).to_string(), "[1,null]");

        assert_eq!(
            quarry_type(&ColumnType::Native(NativeType::Varint)),
            DataType::Decimal
        );
        assert_eq!(
            quarry_type(&ColumnType::Native(NativeType::Timeuuid)),
            DataType::Uuid
        );
        assert_eq!(
            quarry_type(&ColumnType::Native(NativeType::Counter)),
            DataType::Int64
        );
    }

    fn text_of_decimal(d: &scylla::value::CqlDecimal) -> String {
        let (bytes, scale) = d.as_signed_be_bytes_slice_and_exponent();
        with_scale(varint_text(bytes), scale)
    }

    #[test]
    fn parameters_bind_by_the_statement_types() {
        let ts = ColumnType::Native(NativeType::Timestamp);
        assert_eq!(
            bind(&Value::Text("2013-01-01T00:00:00Z".into()), &ts).unwrap(),
            Some(CqlValue::Timestamp(CqlTimestamp(1_356_998_400_000)))
        );
        assert_eq!(bind(&Value::Null, &ts).unwrap(), None);
        assert!(
            bind(&Value::Text("tomorrow".into()), &ts)
                .unwrap_err()
                .contains("not a timestamp")
        );
        assert_eq!(
            bind(&Value::Int64(1 << 40), &ColumnType::Native(NativeType::Int)).unwrap_err(),
            "1099511627776 is out of range for int (±2^31)"
        );
        assert_eq!(
            bind(&Value::Int64(7), &ColumnType::Native(NativeType::SmallInt)).unwrap(),
            Some(CqlValue::SmallInt(7))
        );
        let uuid = "123e4567-e89b-12d3-a456-426614174000";
        assert_eq!(
            bind(
                &Value::Text(uuid.into()),
                &ColumnType::Native(NativeType::Uuid)
            )
            .unwrap(),
            Some(CqlValue::Uuid(uuid.parse().unwrap()))
        );
        let random = "123e4567-e89b-42d3-a456-426614174000";
        assert!(
            bind(
                &Value::Text(random.into()),
                &ColumnType::Native(NativeType::Timeuuid)
            )
            .unwrap_err()
            .contains("version 1")
        );
        assert_eq!(
            bind(
                &Value::Text("10.0.0.1".into()),
                &ColumnType::Native(NativeType::Inet)
            )
            .unwrap(),
            Some(CqlValue::Inet("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            bind(
                &Value::Text("13:45".into()),
                &ColumnType::Native(NativeType::Time)
            )
            .unwrap(),
            Some(CqlValue::Time(scylla::value::CqlTime(49_500_000_000_000)))
        );
        assert_eq!(
            bind(
                &Value::Text("x".into()),
                &ColumnType::Native(NativeType::Int)
            )
            .unwrap_err(),
            "cannot bind text to a int column"
        );
        for (text, back) in [
            ("-12.50", "-12.50"),
            ("0.005", "0.005"),
            ("18446744073709551616", "18446744073709551616"),
        ] {
            let Some(CqlValue::Decimal(d)) = bind(
                &Value::Text(text.into()),
                &ColumnType::Native(NativeType::Decimal),
            )
            .unwrap() else {
                panic!()
            };
            assert_eq!(text_of_decimal(&d), back);
        }
        let Some(CqlValue::Varint(v)) = bind(
            &Value::Text("-300".into()),
            &ColumnType::Native(NativeType::Varint),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(varint_text(v.as_signed_bytes_be_slice()), "-300");
        assert!(
            bind(
                &Value::Text("1e5".into()),
                &ColumnType::Native(NativeType::Varint)
            )
            .is_err()
        );
        assert_eq!(
            bind(
                &Value::Text("JFK".into()),
                &ColumnType::Native(NativeType::Text)
            )
            .unwrap(),
            Some(CqlValue::Text("JFK".into()))
        );
    }
}
