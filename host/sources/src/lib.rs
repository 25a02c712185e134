//! Data sources: one [`Source`] trait, one module per backend.
//!
//! A source runs one read-only query and streams its rows as [`Batch`]es into a bounded
//! channel, so a plugin sees the first batch before the last row is read and memory stays
//! flat however large the result.
//!
//! # Layout
//!
//! - this file: the [`Source`] trait, [`StreamOptions`], [`SourceError`] and [`Sources`].
//! - [`sqlite`]: SQLite files, read-only; [`demo`]: the embedded nycflights13 database.
//! - [`postgres`]: PostgreSQL and CockroachDB; [`scylla`]: ScyllaDB and Apache Cassandra;
//!   [`mongo`]: MongoDB and MongoDB-wire servers. Each maps its types to the batch's.
//! - [`config`]: the `[[source]]` tables of `quarry.toml`.
//! - [`seed`]: `quarry seed`, the demo copied into a server source.

#![warn(missing_docs)]

pub mod config;
pub mod demo;
pub mod explain;
pub mod mongo;
pub mod postgres;
pub mod schema;
pub mod scylla;
pub mod seed;
pub mod split;
pub mod sqlite;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use quarry_core::batch::Batch;
pub use quarry_core::contract::{Backend, MongoAggregate, MongoFind, Query, Statement, Value};

/// Settings for one streamed query.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Rows per batch handed to the plugin.
    pub batch_rows: usize,
    /// Stop after this many rows (the run's `--limit` when there is no plugin).
    pub max_rows: Option<u64>,
    /// The longest the database may work on the query.
    pub timeout: Duration,
    /// Set when the run is cancelled; the source stops at the next row.
    pub cancel: Arc<AtomicBool>,
    /// Warnings for the run's log (an unmapped column type, mixed types in a field).
    pub notes: Arc<Mutex<Vec<String>>>,
}

impl StreamOptions {
    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Adds a warning to the run's log.
    pub fn note(&self, message: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

/// The sending half of a run's batch channel.
pub type BatchSender = mpsc::Sender<Batch>;

/// Why a source could not run a query.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No source has this name.
    #[error("unknown source `{name}`; known sources: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        known: String,
    },
    /// The query is in another backend's dialect.
    #[error("source `{source_name}` ({backend}) cannot run a {kind} query")]
    WrongDialect {
        /// The source.
        source_name: String,
        /// The source's backend.
        backend: &'static str,
        /// The kind of query (`SQL`, `CQL`, `MongoDB find`, `MongoDB aggregate`).
        kind: &'static str,
    },
    /// The query is malformed, or the database failed it.
    #[error("source `{source_name}`: {message}")]
    Query {
        /// The source.
        source_name: String,
        /// What went wrong, in the driver's or database's words.
        message: String,
    },
    /// A guard refused a statement that could write.
    #[error("source `{source_name}`: only read-only statements may run; refused: {statement}")]
    NotReadOnly {
        /// The source.
        source_name: String,
        /// The statement refused.
        statement: String,
    },
    /// The query ran past the run's timeout.
    #[error("source `{source_name}`: the query ran longer than its {timeout:?} timeout")]
    Timeout {
        /// The source.
        source_name: String,
        /// The run's timeout.
        timeout: Duration,
    },
    /// The server gave up on the query by a limit of its own (Cassandra's
    /// `read_request_timeout`, say), before the run's timeout.
    #[error(
        "source `{source_name}`: the server timed the query out before the run's {timeout:?} timeout: {message}"
    )]
    ServerTimeout {
        /// The source.
        source_name: String,
        /// The run's timeout.
        timeout: Duration,
        /// The server's message.
        message: String,
    },
    /// The database cannot be reached or opened (down, a wrong address, a missing file).
    #[error("source `{source_name}` is unavailable: {message}")]
    Unavailable {
        /// The source.
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// The run was cancelled before the query ended.
    #[error("the run was cancelled")]
    Cancelled,
}

/// A database a run can read from.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// The name runs choose the source by.
    fn name(&self) -> &str;

    /// The database family, for the query dialect.
    fn backend(&self) -> Backend;

    /// Where the data lives, for listings: a file, or hosts and database; never a password.
    fn address(&self) -> String;

    /// Turns text the user typed into this backend's query.
    fn parse_query(&self, text: &str) -> Result<Query, SourceError> {
        Ok(Query::Sql(Statement {
            text: text.to_owned(),
            params: Vec::new(),
        }))
    }

    /// Runs `query` and sends its rows in batches of `options.batch_rows` until the result
    /// ends, `options.max_rows` is reached, or the receiver goes away.
    async fn stream(
        &self,
        query: Query,
        options: StreamOptions,
        out: BatchSender,
    ) -> Result<(), SourceError>;

    /// Checks that the source answers; returns a short description of the server.
    async fn check(&self) -> Result<String, SourceError>;

    /// The database's plan for `query`, without reading its rows (a CQL trace reads the
    /// first page), within `timeout`.
    async fn explain(&self, query: &Query, timeout: Duration)
    -> Result<explain::Plan, SourceError>;

    /// The tables or collections the source holds, with their columns (or a sample's
    /// fields), types, keys and indexes.
    async fn schema(&self) -> Result<schema::Schema, SourceError>;

    /// Splits `query` into at most `streams` queries whose rows together are its rows,
    /// each once, to be read at the same time; `by` names the column whose ranges make the
    /// partitions, where the backend takes one (`--partition-by`). A query that cannot be
    /// split safely (or is too small to gain) stays whole, with the reason.
    async fn split(
        &self,
        query: &Query,
        streams: usize,
        by: Option<&str>,
    ) -> Result<split::Split, SourceError> {
        let _ = (query, streams, by);
        Ok(split::Split::Whole(format!(
            "{} sources are read as one stream",
            self.backend().name()
        )))
    }
}

/// The configured sources by name. `demo` is always there.
#[derive(Clone)]
pub struct Sources {
    by_name: BTreeMap<String, Arc<dyn Source>>,
    /// Per-source defaults from the configuration.
    settings: BTreeMap<String, crate::config::SourceSettings>,
}

/// The name of the embedded demo source.
pub const DEMO: &str = "demo";

impl Sources {
    /// The embedded demo database, kept in `data_dir`.
    pub fn with_demo(data_dir: impl Into<PathBuf>) -> Self {
        let demo: Arc<dyn Source> = Arc::new(demo::DemoSource::new(data_dir.into()));
        Sources {
            by_name: BTreeMap::from([(DEMO.to_owned(), demo)]),
            settings: BTreeMap::new(),
        }
    }

    /// Adds or replaces a source, with its configured defaults.
    pub fn insert(&mut self, source: Arc<dyn Source>, settings: crate::config::SourceSettings) {
        self.settings.insert(source.name().to_owned(), settings);
        self.by_name.insert(source.name().to_owned(), source);
    }

    /// The configured defaults of a source (none for `demo` and `sqlite:PATH`).
    pub fn settings(&self, name: &str) -> crate::config::SourceSettings {
        self.settings.get(name).cloned().unwrap_or_default()
    }

    /// A source by name; `sqlite:PATH` opens a SQLite file read-only without configuration.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Source>, SourceError> {
        if let Some(source) = self.by_name.get(name) {
            return Ok(source.clone());
        }
        if let Some(path) = name.strip_prefix("sqlite:") {
            return Ok(Arc::new(sqlite::SqliteSource::open(name, path)?));
        }
        Err(SourceError::Unknown {
            name: name.to_owned(),
            known: self.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Every source, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Source>> {
        self.by_name.values()
    }
}
