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
    Null,
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A statement in the backend's own dialect, with bound parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statement {
    pub text: String,
    pub params: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MongoFind {
    pub collection: String,
    pub filter: String,
    pub projection: Option<String>,
    pub sort: Option<String>,
    pub skip: Option<u64>,
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MongoAggregate {
    pub collection: String,
    pub pipeline: String,
}

/// The query a run executes, built by a plugin or parsed from the user's text.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Query {
    Sql(Statement),
    Cql(Statement),
    MongoFind(MongoFind),
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
