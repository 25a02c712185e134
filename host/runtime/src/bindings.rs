//! The generated bindings of `plugins/wit/quarry.wit`, and the conversions between them and
//! the host's own types. Nothing outside `plugin/` sees a generated type.

use quarry_core::batch::{Batch, Column, DataType, Values, VarData};
use quarry_core::contract::{
    self as source, Backend, MongoAggregate, MongoFind, Query, Statement, Value,
};

mod generated {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../../plugins/wit",
        // Writing to the log may trap: that is how the log size limit stops a plugin.
        imports: { "quarry:plugin/log.write": trappable },
    });
}

pub use generated::quarry::plugin::{log, types as wit};
pub use generated::{Plugin, PluginPre};

/// What a plugin says about itself in `describe()`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// What the plugin does, in a sentence or two.
    pub description: String,
    /// JSON Schema of the params object, when the plugin takes params.
    pub params_schema: Option<String>,
    /// Whether the run asks `build-query` for the query.
    pub builds_query: bool,
    /// Whether rows go through `transform`; if not, they go straight to the output.
    pub transforms: bool,
}

impl From<wit::PluginInfo> for PluginInfo {
    fn from(i: wit::PluginInfo) -> Self {
        PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            params_schema: i.params_schema,
            builds_query: i.builds_query,
            transforms: i.transforms,
        }
    }
}

impl From<DataType> for wit::DataType {
    fn from(t: DataType) -> Self {
        match t {
            DataType::Boolean => wit::DataType::Boolean,
            DataType::Int64 => wit::DataType::Int64,
            DataType::Float64 => wit::DataType::Float64,
            DataType::Text => wit::DataType::Text,
            DataType::Bytes => wit::DataType::Bytes,
            DataType::Timestamp => wit::DataType::Timestamp,
            DataType::Date => wit::DataType::Date,
            DataType::Uuid => wit::DataType::Uuid,
            DataType::Decimal => wit::DataType::Decimal,
            DataType::Json => wit::DataType::Json,
        }
    }
}

impl From<wit::DataType> for DataType {
    fn from(t: wit::DataType) -> Self {
        match t {
            wit::DataType::Boolean => DataType::Boolean,
            wit::DataType::Int64 => DataType::Int64,
            wit::DataType::Float64 => DataType::Float64,
            wit::DataType::Text => DataType::Text,
            wit::DataType::Bytes => DataType::Bytes,
            wit::DataType::Timestamp => DataType::Timestamp,
            wit::DataType::Date => DataType::Date,
            wit::DataType::Uuid => DataType::Uuid,
            wit::DataType::Decimal => DataType::Decimal,
            wit::DataType::Json => DataType::Json,
        }
    }
}

fn var_to_wit(v: VarData) -> wit::VarData {
    wit::VarData {
        offsets: v.offsets,
        data: v.data,
    }
}

fn var_from_wit(v: wit::VarData) -> VarData {
    VarData {
        offsets: v.offsets,
        data: v.data,
    }
}

/// Moves the buffers; no cell is copied.
impl From<Batch> for wit::Batch {
    fn from(b: Batch) -> Self {
        let columns = b
            .columns
            .into_iter()
            .map(|c| wit::Column {
                name: c.name,
                data_type: c.data_type.into(),
                validity: c.validity,
                values: match c.values {
                    Values::Boolean(v) => wit::Vector::Boolean(v),
                    Values::Int64(v) => wit::Vector::Int64(v),
                    Values::Float64(v) => wit::Vector::Float64(v),
                    Values::Text(v) => wit::Vector::Text(var_to_wit(v)),
                    Values::Bytes(v) => wit::Vector::Bytes(var_to_wit(v)),
                },
            })
            .collect();
        // Batches the host builds never exceed `Limits::batch_rows`, far below u32::MAX.
        wit::Batch {
            num_rows: b.num_rows as u32,
            columns,
        }
    }
}

/// Moves the buffers; the result still has to pass [`Batch::validate`].
impl From<wit::Batch> for Batch {
    fn from(b: wit::Batch) -> Self {
        let columns = b
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data_type: c.data_type.into(),
                validity: c.validity,
                values: match c.values {
                    wit::Vector::Boolean(v) => Values::Boolean(v),
                    wit::Vector::Int64(v) => Values::Int64(v),
                    wit::Vector::Float64(v) => Values::Float64(v),
                    wit::Vector::Text(v) => Values::Text(var_from_wit(v)),
                    wit::Vector::Bytes(v) => Values::Bytes(var_from_wit(v)),
                },
            })
            .collect();
        Batch {
            num_rows: b.num_rows as usize,
            columns,
        }
    }
}

impl From<Backend> for wit::Backend {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Sqlite => wit::Backend::Sqlite,
            Backend::Postgres => wit::Backend::Postgres,
            Backend::Cockroach => wit::Backend::Cockroach,
            Backend::Scylla => wit::Backend::Scylla,
            Backend::Mongo => wit::Backend::Mongo,
        }
    }
}

impl From<wit::Value> for Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::Null => Value::Null,
            wit::Value::Boolean(b) => Value::Boolean(b),
            wit::Value::Int64(i) => Value::Int64(i),
            wit::Value::Float64(f) => Value::Float64(f),
            wit::Value::Text(s) => Value::Text(s),
            wit::Value::Bytes(b) => Value::Bytes(b),
        }
    }
}

fn statement(s: wit::Statement) -> Statement {
    Statement {
        text: s.text,
        params: s.params.into_iter().map(Value::from).collect(),
    }
}

impl From<wit::Query> for Query {
    fn from(q: wit::Query) -> Self {
        match q {
            wit::Query::Sql(s) => Query::Sql(statement(s)),
            wit::Query::Cql(s) => Query::Cql(statement(s)),
            wit::Query::MongoFind(f) => Query::MongoFind(MongoFind {
                collection: f.collection,
                filter: f.filter,
                projection: f.projection,
                sort: f.sort,
                skip: f.skip,
                limit: f.limit,
            }),
            wit::Query::MongoAggregate(a) => Query::MongoAggregate(MongoAggregate {
                collection: a.collection,
                pipeline: a.pipeline,
            }),
        }
    }
}

/// The source a run reads from, as the plugin sees it.
pub fn source(name: &str, backend: source::Backend) -> wit::Source {
    wit::Source {
        name: name.to_owned(),
        backend: backend.into(),
    }
}

impl From<wit::Level> for crate::LogLevel {
    fn from(l: wit::Level) -> Self {
        use crate::LogLevel;
        match l {
            wit::Level::Trace => LogLevel::Trace,
            wit::Level::Debug => LogLevel::Debug,
            wit::Level::Info => LogLevel::Info,
            wit::Level::Warn => LogLevel::Warn,
            wit::Level::Error => LogLevel::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_types_round_trip() {
        for t in DataType::ALL {
            assert_eq!(DataType::from(wit::DataType::from(t)), t);
        }
    }

    #[test]
    fn batches_round_trip_without_loss() {
        let mut b = quarry_core::batch::ColumnBuilder::new("s", DataType::Json, 2);
        b.push_str("{\"a\":1}");
        b.push_null();
        let host = Batch {
            num_rows: 2,
            columns: vec![b.finish()],
        };
        assert_eq!(Batch::from(wit::Batch::from(host.clone())), host);
    }
}
