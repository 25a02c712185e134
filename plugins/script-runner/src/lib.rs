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

pub mod columns;
pub mod convert;
pub mod rows;

use quarry_plugin::{
    Backend, Batch, DataType, Error, Info, Level, MongoAggregate, MongoFind, Plugin, Query, Source,
    Statement, Value as SqlValue,
};
use rquickjs::{Array, Atom, Context, Ctx, Function, Object, Runtime, Value, context::EvalOptions};
use serde::Deserialize;
use std::collections::HashMap;

use columns::Change;
use convert::{SCRIPT_NAME, array_from, cell_to_js, js_cell, js_error};
use rows::Output;

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
    /// The input columns the script declared it reads (its global `reads`), if it did.
    reads: Option<Vec<String>>,
    /// The types of the columns output so far: later batches keep them.
    types: HashMap<String, DataType>,
}

impl ScriptRunner {
    /// The output batch for `input`, as the host makes it from `transform`'s answer.
    #[cfg(test)]
    fn transform_batch(&mut self, input: Batch) -> Result<Batch, Error> {
        Plugin::transform(self, input.clone())?.apply(input)
    }

    /// Runs the script's `transformColumns` or `transform` over one batch.
    fn change(&mut self, input: Batch) -> Result<Change, Error> {
        let (types, reads) = (&self.types, self.reads.is_some());
        let change = self.context.with(|ctx| {
            if let Some(transform) = Self::function(&ctx, "transformColumns")? {
                return columns::transform(&ctx, transform, input, types);
            }
            let Some(transform) = Self::function(&ctx, "transform")? else {
                return Ok(Change::Edit(Vec::new()));
            };
            let rows = rows_in(&ctx, &input).map_err(|e| js_error(&ctx, e))?;
            let result: Value = transform
                .call((rows.clone(),))
                .map_err(|e| js_error(&ctx, e))?;
            // Rows changed in place, of a script that declared what it reads: only those
            // columns and the ones it added go back, the host keeps the others.
            let in_place = result.is_undefined() || result == *rows.as_value();
            let edit = reads && in_place && rows.len() == input.num_rows();
            let result = if result.is_undefined() {
                rows.into_value()
            } else {
                result
            };
            let batch = rows_out(&ctx, result, &input, types, "transform")?;
            Ok(if edit {
                Change::Edit(batch.into_columns())
            } else {
                Change::Rows(batch)
            })
        })?;
        // Later batches keep the types of the columns output so far.
        let columns = match &change {
            Change::Edit(columns) => columns.as_slice(),
            Change::Rows(batch) => batch.columns(),
        };
        for column in columns {
            self.types
                .entry(column.name().to_owned())
                .or_insert(column.data_type());
        }
        Ok(change)
    }
}

/// The array of row objects for `batch`.
fn rows_in<'js>(ctx: &Ctx<'js>, batch: &Batch) -> rquickjs::Result<Array<'js>> {
    let keys: Vec<Atom<'js>> = batch
        .columns()
        .iter()
        .map(|c| Atom::from_str(ctx.clone(), c.name()))
        .collect::<rquickjs::Result<_>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let object = Object::new(ctx.clone())?;
        for (column, key) in batch.columns().iter().zip(&keys) {
            object.set(key.clone(), cell_to_js(ctx, rows::cell(column, row))?)?;
        }
        rows.push(object.into_value());
    }
    array_from(ctx, rows)
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

/// The script's global `reads`, when it declares one: the input columns its transform
/// reads, the only ones the host then sends it.
fn declared_reads(ctx: &Ctx<'_>) -> Result<Option<Vec<String>>, Error> {
    // A top-level `const reads` is a global binding but no property of globalThis.
    let reads: Value = ctx
        .eval("typeof reads === 'undefined' ? undefined : reads")
        .map_err(|e| js_error(ctx, e))?;
    if reads.is_undefined() {
        return Ok(None);
    }
    let names = reads.as_array().and_then(|array| {
        (0..array.len())
            .map(|i| array.get::<Value>(i).ok()?.as_string()?.to_string().ok())
            .collect::<Option<Vec<String>>>()
    });
    match names {
        Some(names) => Ok(Some(names)),
        None => Err(Error::new(
            "`reads` names the input columns the script reads: make it an array of column names, such as [\"distance\", \"air_time\"]",
        )),
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
        let reads = context.with(|ctx| {
            let setup = |e| js_error(&ctx, e);
            let globals = ctx.globals();
            let write = Function::new(ctx.clone(), |level_number: i32, message: String| {
                quarry_plugin::write_log(level(level_number), &message);
            })
            .map_err(setup)?;
            globals.set("__quarry_log", write).map_err(setup)?;
            ctx.eval::<(), _>(PRELUDE).map_err(setup)?;
            columns::install(&ctx).map_err(setup)?;
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
            declared_reads(&ctx)
        })?;
        Ok(ScriptRunner {
            context,
            _runtime: runtime,
            source: source.clone(),
            reads,
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

    fn reads(&self) -> Option<Vec<String>> {
        self.reads.clone()
    }

    fn transform(&mut self, input: Batch) -> Result<quarry_plugin::Output, Error> {
        Ok(match self.change(input)? {
            Change::Edit(columns) => columns.into_iter().fold(
                quarry_plugin::Output::unchanged(),
                quarry_plugin::Output::set,
            ),
            Change::Rows(batch) => quarry_plugin::Output::rows(batch),
        })
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

    /// The columns an output sends back, or `None` when it replaces the rows.
    fn edited(output: quarry_plugin::Output) -> Option<Vec<String>> {
        match output.into_raw() {
            quarry_plugin::raw::Output::Edit(edit) => {
                assert_eq!(edit.rows, None, "a map keeps every row");
                Some(edit.columns.into_iter().map(|c| c.name).collect())
            }
            quarry_plugin::raw::Output::Rows(_) => None,
        }
    }

    #[test]
    fn transform_columns_sends_back_only_what_it_changed_or_added() {
        let script = "function transformColumns(c, length) {
  const { distance, air_time, carrier } = c;
  c.km = distance.map((d) => d * 1.609344);
  c.air_time_h = air_time.map((t) => (t == null ? null : t / 60));
  carrier[0] = carrier[0];
}";
        let mut runner = runner(script).unwrap();
        let output = Plugin::transform(&mut runner, flights()).unwrap();
        assert_eq!(
            edited(output.clone()),
            Some(vec!["km".into(), "air_time_h".into()])
        );
        let out = output.apply(flights()).unwrap();
        let names: Vec<_> = out.columns().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            ["carrier", "distance", "air_time", "km", "air_time_h"]
        );
        assert_eq!(out.column("air_time_h").unwrap().f64(1), None);

        // Changed in place, or replaced by a new array: sent back, in place.
        let script = "function transformColumns(c) { c.carrier[1] = 'AA'; c.distance = c.distance.map((d) => d + 1); }";
        let output =
            Plugin::transform(&mut super::tests::runner(script).unwrap(), flights()).unwrap();
        assert_eq!(
            edited(output.clone()),
            Some(vec!["carrier".into(), "distance".into()])
        );
        let out = output.apply(flights()).unwrap();
        assert_eq!(out.column("carrier").unwrap().text(1), Some("AA"));
        assert_eq!(out.column("distance").unwrap().data_type(), DataType::Int64);
        assert_eq!(out.column("distance").unwrap().i64(0), Some(1401));

        // Untouched: nothing crosses back.
        let output = Plugin::transform(
            &mut super::tests::runner("function transformColumns(c) { return c; }").unwrap(),
            flights(),
        )
        .unwrap();
        assert_eq!(edited(output), Some(vec![]));
    }

    #[test]
    fn typed_arrays_come_back_as_numbers() {
        let script = "function transformColumns(c, length) {
  c.half = new Float64Array(length).fill(0.5);
  c.n = new BigInt64Array(length).fill(7n);
  c.small = Int32Array.from(c.distance);
}";
        let out = runner(script).unwrap().transform_batch(flights()).unwrap();
        assert_eq!(out.column("half").unwrap().f64(1), Some(0.5));
        assert_eq!(out.column("n").unwrap().data_type(), DataType::Int64);
        assert_eq!(out.column("n").unwrap().i64(1), Some(7));
        assert_eq!(out.column("small").unwrap().f64(0), Some(1400.0));
        let e = runner("function transformColumns(c, n) { c.x = new Float64Array(n + 1); }")
            .unwrap()
            .transform_batch(flights())
            .unwrap_err();
        assert!(
            e.message()
                .contains("column `x` has 3 values, but the batch has 2 rows"),
            "{e}"
        );
    }

    #[test]
    fn a_columns_object_kept_past_its_batch_fails_clearly() {
        let script =
            "let kept; function transformColumns(c) { if (kept) c.x = kept.distance; kept = c; }";
        let mut runner = runner(script).unwrap();
        runner.transform_batch(flights()).unwrap();
        let e = runner.transform_batch(flights()).unwrap_err();
        assert!(e.message().contains("belonged to an earlier batch"), "{e}");
    }

    #[test]
    fn a_script_may_declare_the_columns_it_reads() {
        let script = "const reads = ['distance'];
function transform(rows) { for (const r of rows) r.km = r.distance * 1.609344; }";
        let mut runner = runner(script).unwrap();
        assert_eq!(runner.reads(), Some(vec!["distance".to_owned()]));
        // The host lends only `distance`; rows changed in place come back as an edit.
        let distance = flights().column("distance").unwrap().clone();
        let lent = Batch::new(vec![distance]).unwrap();
        let output = Plugin::transform(&mut runner, lent).unwrap();
        assert_eq!(edited(output), Some(vec!["distance".into(), "km".into()]));

        assert_eq!(super::tests::runner(UNITS).unwrap().reads(), None);
        let e = super::tests::runner("let reads = 3; function transform(r) {}")
            .err()
            .unwrap();
        assert!(e.message().contains("array of column names"), "{e}");
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
            let e = runner(&script)
                .unwrap()
                .transform_batch(flights())
                .unwrap_err();
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
