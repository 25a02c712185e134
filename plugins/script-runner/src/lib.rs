//! The script runner: a plugin that runs a user's JavaScript with QuickJS (rquickjs).
//!
//! A script is plain JavaScript that defines some of these global functions:
//!
//! ```js
//! function buildQuery(source, params) { return "SELECT ..."; }  // the query to run
//! function transform(rows) { return rows; }                     // each batch, as row objects
//! function finish() { return [{ total: 1 }]; }                  // rows after the last batch
//! ```
//!
//! or, in place of `transform`, `transformColumns(columns, length)`, which gets each
//! batch as one object of column arrays (`{distance: [1400, 200], ...}`) and returns
//! one: no object per row, so it is faster over many columns (about 2.4× for a map
//! over the 19 flights columns).
//!
//! The host passes the script and the user's params as this plugin's params
//! (`{"script": "...", "params": {...}}`). `init` evaluates the script once, as
//! `script.js`, so every error names `script.js:LINE:COLUMN`. The globals `source`
//! (`{name, backend}`) and `params` are set before it runs, and `log(...)` (with
//! `log.debug`, `log.warn`, `log.error` and a `console` that maps onto them) writes to
//! the run's log.
//!
//! `transform(rows)` gets an array of plain objects, one per row, keyed by column name
//! (see [`rows::cell`] for how values look) and returns an array of row objects, or
//! nothing to keep the (possibly modified) input array. `transformColumns` likewise
//! returns an object of equally long column arrays, or nothing to keep its (possibly
//! modified) input object. Output column types are inferred from the values
//! ([`rows::Output`]).
//!
//! The host's limits (memory, CPU deadline, output, log, wasm stack) apply as to any
//! plugin. QuickJS's own stack check cannot see the interpreter's recursion in wasm (it
//! recurses on the engine's stack, not in linear memory), so runaway recursion ends at the
//! host's wasm stack limit, without a line number.

pub mod rows;

use quarry_plugin::{
    Backend, Batch, DataType, Error, Info, Level, MongoAggregate, MongoFind, Plugin, Query, Source,
    Statement, Value as SqlValue,
};
use rquickjs::{Array, Atom, Context, Ctx, Function, Object, Runtime, Value, context::EvalOptions};
use serde::Deserialize;
use std::collections::HashMap;

use rows::{Cell, Output};

/// The runner's params: the script and the user's own params for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub script: String,
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// The file name errors give for the user's script.
const SCRIPT_NAME: &str = "script.js";

/// Defines `log`, its levels and `console` over the host's log, before the user's script.
const PRELUDE: &str = r#"
(() => {
  const write = globalThis.__quarry_log;
  delete globalThis.__quarry_log;
  const text = (args) => args
    .map((a) => (typeof a === "string" ? a : (a instanceof Error ? String(a) : JSON.stringify(a))))
    .join(" ");
  const at = (level) => (...args) => { write(level, text(args)); };
  const log = at(2);
  log.trace = at(0);
  log.debug = at(1);
  log.info = log;
  log.warn = at(3);
  log.error = at(4);
  globalThis.log = log;
  globalThis.console = { log, info: log, debug: log.debug, warn: log.warn, error: log.error };
})();
"#;

pub struct ScriptRunner {
    // Field order: the context is dropped before the runtime.
    context: Context,
    _runtime: Runtime,
    source: Source,
    /// The types of the columns output so far: later batches keep them.
    types: HashMap<String, DataType>,
}

impl ScriptRunner {
    /// Remembers the column types of an output batch.
    /// Runs the script's `transformColumns` or `transform` over one batch.
    fn transform_batch(&mut self, input: Batch) -> Result<Batch, Error> {
        let types = &self.types;
        let output = self.context.with(|ctx| {
            if let Some(transform) = Self::function(&ctx, "transformColumns")? {
                let columns = columns_in(&ctx, &input).map_err(|e| js_error(&ctx, e))?;
                let result: Value = transform
                    .call((columns.clone(), input.num_rows()))
                    .map_err(|e| js_error(&ctx, e))?;
                let result = if result.is_undefined() {
                    columns.into_value()
                } else {
                    result
                };
                return columns_out(&ctx, result, &input, types);
            }
            let Some(transform) = Self::function(&ctx, "transform")? else {
                return Ok(input);
            };
            let rows = rows_in(&ctx, &input).map_err(|e| js_error(&ctx, e))?;
            let result: Value = transform
                .call((rows.clone(),))
                .map_err(|e| js_error(&ctx, e))?;
            let result = if result.is_undefined() {
                rows.into_value()
            } else {
                result
            };
            rows_out(&ctx, result, &input, types, "transform")
        })?;
        Ok(self.output(output))
    }

    fn output(&mut self, batch: Batch) -> Batch {
        for column in batch.columns() {
            self.types
                .entry(column.name().to_owned())
                .or_insert(column.data_type());
        }
        batch
    }
}

/// Turns a pending JS exception (or a Rust-side rquickjs error) into a plugin error. The
/// first line is `Name: message (script.js:LINE:COLUMN)`; the JS stack follows when it
/// has more than the one frame.
fn js_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> Error {
    if !matches!(error, rquickjs::Error::Exception) {
        return Error::new(format!("QuickJS: {error}"));
    }
    let thrown = ctx.catch();
    let Some(exception) = thrown.as_exception() else {
        let shown = ctx
            .json_stringify(thrown.clone())
            .ok()
            .flatten()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| thrown.type_name().to_owned());
        return Error::new(format!("the script threw {shown}"));
    };
    let message = exception.message().unwrap_or_default();
    let name: String = exception
        .get::<_, String>("name")
        .unwrap_or_else(|_| "Error".into());
    let stack = exception.stack().unwrap_or_default();
    let stack = stack.trim_end();
    let first = match location(stack) {
        Some(place) => format!("{name}: {message} ({place})"),
        None => format!("{name}: {message}"),
    };
    // One frame says no more than the location; more show the calls that led there.
    if stack.lines().count() > 1 {
        Error::new(format!("{first}\n{stack}"))
    } else {
        Error::new(first)
    }
}

/// The first `script.js:LINE:COLUMN` of a stack: where in the user's script it failed.
fn location(stack: &str) -> Option<&str> {
    let start = stack.find(SCRIPT_NAME)?;
    let rest = &stack[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn cell_to_js<'js>(ctx: &Ctx<'js>, cell: Cell<'_>) -> rquickjs::Result<Value<'js>> {
    Ok(match cell {
        Cell::Null => Value::new_null(ctx.clone()),
        Cell::Num(x) => Value::new_number(ctx.clone(), x),
        Cell::Int(x) => rquickjs::BigInt::from_i64(ctx.clone(), x)?.into_value(),
        Cell::Bool(b) => Value::new_bool(ctx.clone(), b),
        Cell::Str(s) => rquickjs::String::from_str(ctx.clone(), &s)?.into_value(),
    })
}

/// The array of row objects for `batch`.
fn rows_in<'js>(ctx: &Ctx<'js>, batch: &Batch) -> rquickjs::Result<Array<'js>> {
    let keys: Vec<Atom<'js>> = batch
        .columns()
        .iter()
        .map(|c| Atom::from_str(ctx.clone(), c.name()))
        .collect::<rquickjs::Result<_>>()?;
    let rows = Array::new(ctx.clone())?;
    for row in 0..batch.num_rows() {
        let object = Object::new(ctx.clone())?;
        for (column, key) in batch.columns().iter().zip(&keys) {
            object.set(key.clone(), cell_to_js(ctx, rows::cell(column, row))?)?;
        }
        rows.set(row, object)?;
    }
    Ok(rows)
}

/// The batch for the array of row objects `value` that the script returned.
fn rows_out<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    input: &Batch,
    earlier: &HashMap<String, DataType>,
    what: &str,
) -> Result<Batch, Error> {
    let js = |e| js_error(ctx, e);
    let Some(rows) = value.as_array() else {
        return Err(Error::new(format!(
            "{what} must return an array of row objects, not {}",
            value.type_name()
        )));
    };
    let mut output = Output::new(input, earlier);
    // The keys of the first row, with their output column: later rows usually have the
    // same keys in the same order, which an atom comparison confirms.
    let mut known: Vec<(Atom<'js>, usize)> = Vec::new();
    for index in 0..rows.len() {
        let row: Value = rows.get(index).map_err(js)?;
        let Some(object) = row.as_object() else {
            return Err(Error::at_row(
                index,
                format!("row {index} is {}, not an object", row.type_name()),
            ));
        };
        output.begin_row();
        for (position, prop) in object.props::<Atom, Value>().enumerate() {
            let (key, value) = prop.map_err(js)?;
            let column = match known.get(position) {
                Some((k, column)) if *k == key => *column,
                _ => {
                    let name = key.to_string().map_err(js)?;
                    let column = output.column_index(&name);
                    if index == 0 {
                        known.push((key.clone(), column));
                    }
                    column
                }
            };
            let cell = js_cell(ctx, value, index, || key.to_string().unwrap_or_default())?;
            output.set(column, cell)?;
        }
        output.end_row();
    }
    output.finish()
}

/// The cell for the JS `value` of row `row`; `name` names its column for an error.
fn js_cell<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    row: usize,
    name: impl FnOnce() -> String,
) -> Result<Cell<'static>, Error> {
    Ok(if value.is_null() || value.is_undefined() {
        Cell::Null
    } else if let Some(x) = value.as_number() {
        Cell::Num(x)
    } else if let Some(b) = value.as_bool() {
        Cell::Bool(b)
    } else if let Some(s) = value.as_string() {
        Cell::Str(s.to_string().map_err(|e| js_error(ctx, e))?.into())
    } else if let Some(big) = value.as_big_int() {
        Cell::Int(big.clone().to_i64().map_err(|_| {
            Error::at_row(
                row,
                format!("row {row}, `{}`: a BigInt beyond int64", name()),
            )
        })?)
    } else {
        return Err(Error::at_row(
            row,
            format!(
                "row {row}, `{}`: {} is not a cell value (number, BigInt, string, boolean or null)",
                name(),
                match value.type_name() {
                    kind @ ("object" | "array" | "undefined" | "int") => format!("an {kind}"),
                    kind => format!("a {kind}"),
                }
            ),
        ));
    })
}

/// The columns of `batch` as one object: each column's name → an array of its cells.
fn columns_in<'js>(ctx: &Ctx<'js>, batch: &Batch) -> rquickjs::Result<Object<'js>> {
    let columns = Object::new(ctx.clone())?;
    for column in batch.columns() {
        let values = Array::new(ctx.clone())?;
        for row in 0..batch.num_rows() {
            values.set(row, cell_to_js(ctx, rows::cell(column, row))?)?;
        }
        columns.set(column.name(), values)?;
    }
    Ok(columns)
}

/// The batch for the object of column arrays `value` that `transformColumns` returned.
fn columns_out<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    input: &Batch,
    earlier: &HashMap<String, DataType>,
) -> Result<Batch, Error> {
    let js = |e| js_error(ctx, e);
    let Some(object) = value.as_object().filter(|o| !o.is_array()) else {
        return Err(Error::new(format!(
            "transformColumns must return an object of column arrays ({{name: [values]}}), not {}",
            if value.is_array() {
                "an array"
            } else {
                value.type_name()
            }
        )));
    };
    let mut output = Output::new(input, earlier);
    // The first column's name and length: every column must have as many values.
    let mut first: Option<(String, usize)> = None;
    for prop in object.props::<String, Value>() {
        let (name, values) = prop.map_err(js)?;
        let Some(values) = values.as_array() else {
            return Err(Error::new(format!(
                "transformColumns: column `{name}` must be an array, not {}",
                values.type_name()
            )));
        };
        let len = values.len();
        match &first {
            None => first = Some((name.clone(), len)),
            Some((first, rows)) if *rows != len => {
                return Err(Error::new(format!(
                    "transformColumns: column `{name}` has {len} values, but `{first}` has {rows}"
                )));
            }
            Some(_) => {}
        }
        let column = output.add_column(&name);
        for row in 0..len {
            let value: Value = values.get(row).map_err(js)?;
            output.push(column, js_cell(ctx, value, row, || name.clone())?)?;
        }
    }
    output.finish()
}

/// What `buildQuery` may return, after `JSON.stringify`.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Built {
    Text(String),
    Statement {
        text: String,
        #[serde(default)]
        params: Vec<serde_json::Value>,
    },
    Aggregate {
        collection: String,
        pipeline: serde_json::Value,
    },
    Find {
        collection: String,
        #[serde(default)]
        filter: Option<serde_json::Value>,
        #[serde(default)]
        projection: Option<serde_json::Value>,
        #[serde(default)]
        sort: Option<serde_json::Value>,
        #[serde(default)]
        skip: Option<u64>,
        #[serde(default)]
        limit: Option<u64>,
    },
}

const BUILT_SHAPES: &str = "buildQuery must return query text, {text, params} with bind values, \
     {collection, filter, projection, sort, skip, limit} (MongoDB find), {collection, pipeline} \
     (MongoDB aggregate) or null";

fn bind_value(value: serde_json::Value) -> Result<SqlValue, Error> {
    Ok(match value {
        serde_json::Value::Null => SqlValue::Null,
        serde_json::Value::Bool(b) => SqlValue::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int64(i),
            None => SqlValue::Float64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => SqlValue::Text(s),
        other => {
            return Err(Error::new(format!(
                "buildQuery: a bind value must be a number, string, boolean or null, not {other}"
            )));
        }
    })
}

impl Built {
    fn into_query(self, backend: Backend) -> Result<Query, Error> {
        let statement = |text, params: Vec<serde_json::Value>| -> Result<Query, Error> {
            let statement = Statement {
                text,
                params: params
                    .into_iter()
                    .map(bind_value)
                    .collect::<Result<_, _>>()?,
            };
            match backend {
                Backend::Scylla => Ok(Query::Cql(statement)),
                Backend::Mongo => Err(Error::new(
                    "buildQuery returned query text, but this source is MongoDB: return {collection, filter} or {collection, pipeline}",
                )),
                Backend::Sqlite | Backend::Postgres | Backend::Cockroach => {
                    Ok(Query::Sql(statement))
                }
            }
        };
        let json = |v: serde_json::Value| v.to_string();
        match self {
            Built::Text(text) => statement(text, Vec::new()),
            Built::Statement { text, params } => statement(text, params),
            Built::Aggregate {
                collection,
                pipeline,
            } => Ok(Query::MongoAggregate(MongoAggregate {
                collection,
                pipeline: json(pipeline),
            })),
            Built::Find {
                collection,
                filter,
                projection,
                sort,
                skip,
                limit,
            } => Ok(Query::MongoFind(MongoFind {
                collection,
                filter: filter.map_or_else(|| "{}".to_owned(), json),
                projection: projection.map(json),
                sort: sort.map(json),
                skip,
                limit,
            })),
        }
    }
}

/// The JS value of `json` (already valid JSON text).
fn from_json<'js>(ctx: &Ctx<'js>, json: &str) -> rquickjs::Result<Value<'js>> {
    ctx.json_parse(json.as_bytes())
}

impl ScriptRunner {
    /// The script's global function `name`, if it defined one.
    fn function<'js>(ctx: &Ctx<'js>, name: &str) -> Result<Option<Function<'js>>, Error> {
        let value: Value = ctx.globals().get(name).map_err(|e| js_error(ctx, e))?;
        Ok(value.into_function())
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::Cockroach => "cockroach",
        Backend::Scylla => "scylla",
        Backend::Mongo => "mongo",
    }
}

fn level(n: i32) -> Level {
    match n {
        0 => Level::Trace,
        1 => Level::Debug,
        3 => Level::Warn,
        4 => Level::Error,
        _ => Level::Info,
    }
}

impl Plugin for ScriptRunner {
    type Params = Params;

    fn describe() -> Info {
        quarry_plugin::plugin_info!()
            .params_schema(serde_json::json!({
                "type": "object",
                "properties": {
                    "script": {
                        "type": "string",
                        "description": "JavaScript defining transform(rows) or transformColumns(columns, length), buildQuery(source, params) and/or finish()"
                    },
                    "params": {"type": "object", "description": "The script's own params"}
                },
                "required": ["script"],
                "additionalProperties": false
            }))
            .builds_query()
            .transforms()
    }

    fn init(source: &Source, params: Params) -> Result<Self, Error> {
        let engine = |e: rquickjs::Error| Error::new(format!("QuickJS: {e}"));
        let runtime = Runtime::new().map_err(engine)?;
        let context = Context::full(&runtime).map_err(engine)?;
        context.with(|ctx| {
            let setup = |e| js_error(&ctx, e);
            let globals = ctx.globals();
            let write = Function::new(ctx.clone(), |level_number: i32, message: String| {
                quarry_plugin::write_log(level(level_number), &message);
            })
            .map_err(setup)?;
            globals.set("__quarry_log", write).map_err(setup)?;
            ctx.eval::<(), _>(PRELUDE).map_err(setup)?;
            let source_json = serde_json::json!({
                "name": source.name,
                "backend": backend_name(source.backend),
            });
            globals
                .set("source", from_json(&ctx, &source_json.to_string()).map_err(setup)?)
                .map_err(setup)?;
            globals
                .set("params", from_json(&ctx, &params.params.to_string()).map_err(setup)?)
                .map_err(setup)?;

            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some(SCRIPT_NAME.into());
            ctx.eval_with_options::<(), _>(params.script.as_bytes(), options)
                .map_err(|e| js_error(&ctx, e))?;
            let defines = |name| Self::function(&ctx, name).map(|f| f.is_some());
            let (by_rows, by_columns) = (defines("transform")?, defines("transformColumns")?);
            if by_rows && by_columns {
                return Err(Error::new(
                    "the script defines both transform(rows) and transformColumns(columns, length): keep one",
                ));
            }
            if !by_rows && !by_columns && !defines("buildQuery")? && !defines("finish")? {
                return Err(Error::new(
                    "the script defines none of transform(rows), transformColumns(columns, length), buildQuery(source, params) and finish()",
                ));
            }
            Ok(())
        })?;
        Ok(ScriptRunner {
            context,
            _runtime: runtime,
            source: source.clone(),
            types: HashMap::new(),
        })
    }

    fn build_query(&mut self) -> Result<Option<Query>, Error> {
        let backend = self.source.backend;
        self.context.with(|ctx| {
            let Some(build) = Self::function(&ctx, "buildQuery")? else {
                return Ok(None);
            };
            let globals = ctx.globals();
            let (source, params): (Value, Value) = (
                globals.get("source").map_err(|e| js_error(&ctx, e))?,
                globals.get("params").map_err(|e| js_error(&ctx, e))?,
            );
            let built: Value = build
                .call((source, params))
                .map_err(|e| js_error(&ctx, e))?;
            if built.is_null() || built.is_undefined() {
                return Ok(None);
            }
            let json = ctx
                .json_stringify(built)
                .map_err(|e| js_error(&ctx, e))?
                .and_then(|s| s.to_string().ok())
                .ok_or_else(|| Error::new(BUILT_SHAPES))?;
            let built: Built = serde_json::from_str(&json)
                .map_err(|_| Error::new(format!("{BUILT_SHAPES}; it returned {json}")))?;
            built.into_query(backend).map(Some)
        })
    }

    fn transform(&mut self, input: Batch) -> Result<quarry_plugin::Output, Error> {
        self.transform_batch(input).map(quarry_plugin::Output::rows)
    }

    fn finish(&mut self) -> Result<Option<Batch>, Error> {
        self.context.with(|ctx| {
            let Some(finish) = Self::function(&ctx, "finish")? else {
                return Ok(None);
            };
            let result: Value = finish.call(()).map_err(|e| js_error(&ctx, e))?;
            if result.is_null() || result.is_undefined() {
                return Ok(None);
            }
            rows_out(&ctx, result, &Batch::empty(), &self.types, "finish").map(Some)
        })
    }
}

quarry_plugin::export!(ScriptRunner);

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_plugin::{Int64Builder, TextBuilder};

    const UNITS: &str = "function transform(rows) {
  for (const r of rows) {
    r.distance_km = r.distance == null ? null : r.distance * 1.609344;
    r.air_time_h = r.air_time == null ? null : r.air_time / 60;
    r.speed_kmh = r.distance_km != null && r.air_time_h ? r.distance_km / r.air_time_h : null;
  }
}";

    fn source(backend: Backend) -> Source {
        Source {
            name: "demo".into(),
            backend,
        }
    }

    fn runner(script: &str) -> Result<ScriptRunner, Error> {
        runner_with(script, serde_json::json!({}), Backend::Sqlite)
    }

    fn runner_with(
        script: &str,
        params: serde_json::Value,
        backend: Backend,
    ) -> Result<ScriptRunner, Error> {
        ScriptRunner::init(
            &source(backend),
            Params {
                script: script.into(),
                params,
            },
        )
    }

    fn flights() -> Batch {
        let mut carrier = TextBuilder::new("carrier");
        carrier.extend([Some("UA"), None]);
        let mut distance = Int64Builder::new("distance");
        distance.extend([Some(1400), Some(200)]);
        let mut air_time = Int64Builder::new("air_time");
        air_time.extend([Some(227), None]);
        Batch::new(vec![carrier.finish(), distance.finish(), air_time.finish()]).unwrap()
    }

    #[test]
    fn a_map_in_place_keeps_the_input_types_and_adds_columns() {
        let out = runner(UNITS).unwrap().transform_batch(flights()).unwrap();
        let names: Vec<_> = out.columns().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "carrier",
                "distance",
                "air_time",
                "distance_km",
                "air_time_h",
                "speed_kmh"
            ]
        );
        assert_eq!(out.column("distance").unwrap().i64(0), Some(1400));
        assert_eq!(out.column("carrier").unwrap().text(1), None);
        let speed: Vec<_> = out.column("speed_kmh").unwrap().f64s().collect();
        assert_eq!(speed, [Some((1400.0 * 1.609344) / (227.0 / 60.0)), None]);
    }

    #[test]
    fn a_batch_where_a_new_column_is_all_null_keeps_its_earlier_type() {
        let mut runner = runner(UNITS).unwrap();
        let first = runner.transform_batch(flights()).unwrap();
        assert_eq!(
            first.column("speed_kmh").unwrap().data_type(),
            DataType::Float64
        );
        // Every flight cancelled: no air time, so no speed.
        let mut distance = Int64Builder::new("distance");
        distance.extend([Some(200)]);
        let mut air_time = Int64Builder::new("air_time");
        air_time.push(None);
        let cancelled = Batch::new(vec![distance.finish(), air_time.finish()]).unwrap();
        let second = runner.transform_batch(cancelled).unwrap();
        assert_eq!(
            second.column("speed_kmh").unwrap().data_type(),
            DataType::Float64
        );
        assert_eq!(
            second.column("air_time_h").unwrap().data_type(),
            DataType::Float64
        );
    }

    #[test]
    fn transform_columns_gets_and_returns_column_arrays() {
        let script = "function transformColumns(c, length) {
  c.distance_km = c.distance.map((d) => d * 1.609344);
  c.rows = Array(length).fill(BigInt(length));
  c.carrier[1] = 'AA';
  delete c.air_time;
}";
        let out = runner(script).unwrap().transform_batch(flights()).unwrap();
        let names: Vec<_> = out.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["carrier", "distance", "distance_km", "rows"]);
        assert_eq!(out.column("distance").unwrap().data_type(), DataType::Int64);
        let km: Vec<_> = out.column("distance_km").unwrap().f64s().collect();
        assert_eq!(km, [Some(1400.0 * 1.609344), Some(200.0 * 1.609344)]);
        let carrier: Vec<_> = out.column("carrier").unwrap().texts().collect();
        assert_eq!(carrier, [Some("UA"), Some("AA")]);
        assert_eq!(out.column("rows").unwrap().i64(1), Some(2));

        // A filter returns shorter columns; a new object replaces the batch.
        let script = "function transformColumns(c) {
  const keep = c.air_time.map((t) => t != null);
  return { carrier: c.carrier.filter((_, i) => keep[i]), air_time: c.air_time.filter((t) => t != null) };
}";
        let out = runner(script).unwrap().transform_batch(flights()).unwrap();
        assert_eq!(out.num_rows(), 1);
        assert_eq!(out.column("carrier").unwrap().text(0), Some("UA"));
        assert_eq!(out.column("air_time").unwrap().i64(0), Some(227));
    }

    #[test]
    fn transform_columns_errors_name_the_column() {
        let errors = [
            ("return [1, 2];", "not an array"),
            ("return { a: 1 };", "column `a` must be an array, not int"),
            (
                "return { a: [1, 2], b: [1] };",
                "column `b` has 1 values, but `a` has 2",
            ),
            (
                "return { a: [1, {}] };",
                "row 1, `a`: an object is not a cell value",
            ),
            ("return { a: [1, 'x'] };", "column `a` holds numbers"),
        ];
        for (body, expected) in errors {
            let script = format!("function transformColumns(c) {{ {body} }}");
            let e = runner(&script).unwrap().transform_batch(flights()).unwrap_err();
            assert!(e.message().contains(expected), "{body}: {e}");
        }
        let e = runner("function transform(r) {}\nfunction transformColumns(c) {}")
            .err()
            .unwrap();
        assert!(e.message().contains("keep one"), "{e}");
    }

    #[test]
    fn finish_returns_aggregates_with_bigint_counts() {
        let script = "let n = 0; function transform(rows) { n += rows.length; return []; }
function finish() { return [{ flights: BigInt(n), label: params.label }]; }";
        let mut runner =
            runner_with(script, serde_json::json!({"label": "all"}), Backend::Sqlite).unwrap();
        assert_eq!(runner.transform_batch(flights()).unwrap().num_rows(), 0);
        let out = runner.finish().unwrap().unwrap();
        assert_eq!(out.column("flights").unwrap().i64(0), Some(2));
        assert_eq!(out.column("label").unwrap().text(0), Some("all"));
    }

    #[test]
    fn build_query_gives_sql_cql_or_mongo_by_backend() {
        let script = "function buildQuery(source, params) {
  if (source.backend === 'mongo') return { collection: 'flights', filter: { carrier: params.carrier }, limit: 5 };
  return { text: 'SELECT * FROM flights WHERE carrier = ?', params: [params.carrier] };
}";
        let params = serde_json::json!({"carrier": "UA"});
        let sql = runner_with(script, params.clone(), Backend::Sqlite)
            .unwrap()
            .build_query()
            .unwrap();
        assert_eq!(
            sql,
            Some(Query::Sql(Statement {
                text: "SELECT * FROM flights WHERE carrier = ?".into(),
                params: vec![SqlValue::Text("UA".into())],
            }))
        );
        let cql = runner_with(script, params.clone(), Backend::Scylla)
            .unwrap()
            .build_query()
            .unwrap();
        assert!(matches!(cql, Some(Query::Cql(_))), "{cql:?}");
        let mongo = runner_with(script, params, Backend::Mongo)
            .unwrap()
            .build_query()
            .unwrap();
        assert_eq!(
            mongo,
            Some(Query::MongoFind(MongoFind {
                collection: "flights".into(),
                filter: r#"{"carrier":"UA"}"#.into(),
                projection: None,
                sort: None,
                skip: None,
                limit: Some(5),
            }))
        );
        let e = runner("function buildQuery() { return 42; }")
            .unwrap()
            .build_query()
            .unwrap_err();
        assert!(e.message().contains("it returned 42"), "{e}");
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = runner("function transform(rows) {\n  return rows.map(r => r.x +);\n}")
            .err()
            .unwrap();
        assert!(e.message().contains("SyntaxError"), "{e}");
        assert!(e.message().contains("(script.js:2:"), "{e}");
        let e = runner("function transform(rows) {\n  return rows[5].x;\n}")
            .unwrap()
            .transform_batch(flights())
            .unwrap_err();
        assert!(e.message().starts_with("TypeError"), "{e}");
        assert!(e.message().contains("(script.js:2:"), "{e}");
        let e = runner("function transform(rows) {\n\n  throw new Error('no ' + rows.length);\n}")
            .unwrap()
            .transform_batch(flights())
            .unwrap_err();
        assert!(e.message().starts_with("Error: no 2 (script.js:3:"), "{e}");
        let e = runner("function transform(rows) { throw 'plain'; }")
            .unwrap()
            .transform_batch(flights())
            .unwrap_err();
        assert_eq!(e.message(), r#"the script threw "plain""#);
        let e = runner("var x = 1;").err().unwrap();
        assert!(e.message().contains("defines none"), "{e}");
    }
}
