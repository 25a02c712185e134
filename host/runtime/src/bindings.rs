//! The generated bindings of the contract's versions (`plugins/wit/v0.1`, `plugins/wit/v0.2`),
//! and the conversions between them and the host's own types. Nothing outside `plugin/`
//! sees a generated type.
//!
//! Both versions share their data types (batches, queries, values), so one macro writes
//! those conversions for each; what differs (`plugin-info`, `init`, `transform`'s output,
//! the aggregate exports) is written per version below it.

use quarry_core::batch::{Batch, Column, DataType, Values, VarData};
use quarry_core::contract::{
    self as source, Backend, MongoAggregate, MongoFind, Query, Statement, Value,
};

pub mod v01 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../../plugins/wit/v0.1",
        // Writing to the log may trap: that is how the log size limit stops a plugin.
        imports: { "quarry:plugin/log.write": trappable },
    });
    pub use quarry::plugin::{log, types as wit};
}

pub mod v02 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../../plugins/wit/v0.2",
        imports: { "quarry:plugin/log.write": trappable },
    });
    pub use quarry::plugin::{log, types as wit};
}

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
    /// The input columns `transform` reads; `None` for all of them.
    pub reads: Option<Vec<String>>,
    /// Whether `transform` keeps no state between batches, so that batches may go
    /// through several instances.
    pub stateless: bool,
    /// Whether the plugin exports `partial` and `merge`, so that several instances may
    /// aggregate parts of the rows.
    pub merges: bool,
    /// The contract the plugin was built against: `"0.1"` or `"0.2"`.
    pub contract: &'static str,
}

impl From<v01::wit::PluginInfo> for PluginInfo {
    fn from(i: v01::wit::PluginInfo) -> Self {
        PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            params_schema: i.params_schema,
            builds_query: i.builds_query,
            transforms: i.transforms,
            reads: None,
            stateless: false,
            merges: false,
            contract: "0.1",
        }
    }
}

impl From<v02::wit::PluginInfo> for PluginInfo {
    fn from(i: v02::wit::PluginInfo) -> Self {
        PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            params_schema: i.params_schema,
            builds_query: i.builds_query,
            transforms: i.transforms,
            reads: i.reads,
            stateless: i.stateless,
            merges: false,
            contract: "0.2",
        }
    }
}

/// A plugin's own error, from either version.
pub struct Failure {
    pub message: String,
    pub row: Option<u32>,
}

/// What a 0.2 `transform` returns, in host types.
pub enum Output {
    /// Replace the batch.
    Rows(Batch),
    /// Select rows of the input (all when `None`), then set these columns.
    Edit {
        rows: Option<Vec<u32>>,
        columns: Vec<Column>,
    },
}

impl From<v02::wit::Output> for Output {
    fn from(o: v02::wit::Output) -> Self {
        match o {
            v02::wit::Output::Rows(batch) => Output::Rows(batch.into()),
            v02::wit::Output::Edit(edit) => Output::Edit {
                rows: edit.rows,
                columns: edit.columns.into_iter().map(Column::from).collect(),
            },
        }
    }
}

/// The conversions of the types every contract version shares, for the version `$v`.
macro_rules! shared_types {
    ($v:ident) => {
        const _: () = {
            use $v::wit;

            impl From<wit::PluginError> for Failure {
                fn from(e: wit::PluginError) -> Self {
                    Failure {
                        message: e.message,
                        row: e.row,
                    }
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

            impl $v::wit::Source {
                /// The source a run reads from, as the plugin sees it.
                pub fn new(name: &str, backend: source::Backend) -> Self {
                    wit::Source {
                        name: name.to_owned(),
                        backend: backend.into(),
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
            impl From<Column> for wit::Column {
                fn from(c: Column) -> Self {
                    wit::Column {
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
                    }
                }
            }

            /// Moves the buffers; the result still has to be validated.
            impl From<wit::Column> for Column {
                fn from(c: wit::Column) -> Self {
                    Column {
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
                    }
                }
            }

            impl From<Batch> for wit::Batch {
                fn from(b: Batch) -> Self {
                    // Batches the host builds never exceed `Limits::batch_rows`, far below
                    // u32::MAX.
                    wit::Batch {
                        num_rows: b.num_rows as u32,
                        columns: b.columns.into_iter().map(wit::Column::from).collect(),
                    }
                }
            }

            /// The result still has to pass [`Batch::validate`].
            impl From<wit::Batch> for Batch {
                fn from(b: wit::Batch) -> Self {
                    Batch {
                        num_rows: b.num_rows as usize,
                        columns: b.columns.into_iter().map(Column::from).collect(),
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
        };
    };
}

shared_types!(v01);
shared_types!(v02);

#[cfg(test)]
mod tests {
    use super::*;
    use v02::wit;

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
