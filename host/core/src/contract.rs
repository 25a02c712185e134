//! The plugin contract's query types: what a plugin builds and a source runs.

use serde::{Deserialize, Serialize};

/// The database family behind a source; plugins see it to write the right dialect, and
/// `quarry.toml` names it as `backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite, the embedded demo and `sqlite:PATH` files.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// CockroachDB, through the PostgreSQL driver.
    Cockroach,
    /// ScyllaDB or Apache Cassandra: both speak CQL, through the same driver, and plugins
    /// see both as `scylla`.
    #[serde(alias = "cassandra")]
    Scylla,
    /// MongoDB or a MongoDB-wire server.
    Mongo,
}

impl Backend {
    /// The lowercase name, as `quarry.toml` and the contract spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Cockroach => "cockroach",
            Backend::Scylla => "scylla",
            Backend::Mongo => "mongo",
        }
    }
}

/// A scalar query parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Value {
    /// Null.
    Null,
    /// A boolean.
    Boolean(bool),
    /// A signed 64-bit integer.
    Int64(i64),
    /// A 64-bit float.
    Float64(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A statement in the backend's own dialect, with bound parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statement {
    /// The statement, with the backend's own placeholders.
    pub text: String,
    /// Values for the placeholders, in order.
    pub params: Vec<Value>,
}

/// A MongoDB `find`. The JSON fields are MongoDB Extended JSON (relaxed).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MongoFind {
    /// The collection to read.
    pub collection: String,
    /// The filter document.
    pub filter: String,
    /// Which fields to return; all when `None`.
    pub projection: Option<String>,
    /// The sort document.
    pub sort: Option<String>,
    /// Documents to skip first.
    pub skip: Option<u64>,
    /// Most documents to return.
    pub limit: Option<u64>,
}

/// A MongoDB `aggregate`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MongoAggregate {
    /// The collection to read.
    pub collection: String,
    /// The pipeline, a JSON array of stages in Extended JSON.
    pub pipeline: String,
}

/// The query a run executes, built by a plugin or parsed from the user's text.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Query {
    /// A SQL statement (SQLite, PostgreSQL, CockroachDB).
    Sql(Statement),
    /// A CQL statement (ScyllaDB, Cassandra).
    Cql(Statement),
    /// A MongoDB `find`.
    MongoFind(MongoFind),
    /// A MongoDB `aggregate`.
    MongoAggregate(MongoAggregate),
}

impl Query {
    /// The query text as a user would type it (parameters not included).
    pub fn text(&self) -> &str {
        match self {
            Query::Sql(s) | Query::Cql(s) => &s.text,
            Query::MongoFind(f) => &f.filter,
            Query::MongoAggregate(a) => &a.pipeline,
        }
    }
}
