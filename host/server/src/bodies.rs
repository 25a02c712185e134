//! The JSON bodies of the API: what requests send and what answers carry. Their schemas,
//! with the handlers' `#[utoipa::path]` attributes, make `/api/openapi.json`, so the
//! document says what the handlers send; a schema-conformance fuzzer checks it
//! against the running server (`tests/server/openapi.rs`).

use quarry_core::{Backend, Query};
use quarry_engine::run::RunStats;
use quarry_runtime::LogLine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{PluginMeta, Snippet};

/// The envelope of every error: `ok` is false, `error` says what and why. A failed run's
/// error also carries the run's `query`, `stats` and `logs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorAnswer {
    /// Always false.
    pub ok: bool,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error inside the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable name for the kind of error, e.g. `bad_json`, `unknown_plugin`, `timeout`.
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// The row of the batch a plugin's error names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
}

/// A configured source, as `GET /api/sources` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceInfo {
    /// The name runs give as `source`.
    pub name: String,
    /// The database family.
    pub backend: Backend,
    /// Where the data lives: a file, or hosts and database; never a password.
    pub address: String,
}

/// `GET /api/sources`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourcesAnswer {
    /// Always true.
    pub ok: bool,
    /// Every source, `demo` first.
    pub sources: Vec<SourceInfo>,
}

/// `GET /api/sources/{name}/schema`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaAnswer {
    /// Always true.
    pub ok: bool,
    /// The source's name.
    pub source: String,
    /// The database family, for the query dialect.
    pub backend: Backend,
    /// Its tables, views or collections, by name.
    pub tables: Vec<quarry_sources::schema::Table>,
}

/// `GET /api/plugins`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginsAnswer {
    /// Always true.
    pub ok: bool,
    /// The library, newest first.
    pub plugins: Vec<PluginMeta>,
}

/// `GET /api/plugins/{sha256}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginAnswer {
    /// Always true.
    pub ok: bool,
    /// The plugin's listing.
    pub plugin: PluginMeta,
}

/// Where an upload is.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// Being compiled; ask again at `poll`.
    Compiling,
    /// In the library.
    Done,
}

/// A plugin or script in the library after an upload: `created` is false when it was there
/// already.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Always true.
    pub ok: bool,
    /// `done`.
    pub status: UploadStatus,
    /// Whether this upload added it.
    pub created: bool,
    /// Its listing.
    pub plugin: PluginMeta,
}

/// An upload sent with `Prefer: respond-async` that is still compiling.
#[derive(Debug, Serialize, ToSchema)]
pub struct Compiling {
    /// Always true.
    pub ok: bool,
    /// `compiling`.
    pub status: UploadStatus,
    /// The upload's SHA-256: its address once it is in the library.
    pub sha256: String,
    /// Where to ask how it is going (`GET /api/uploads/{sha256}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<String>,
}

/// `GET /api/uploads/{sha256}`: still compiling, or in the library.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadState {
    /// Still compiling.
    Compiling(Compiling),
    /// In the library.
    Done(Uploaded),
}

/// `POST /api/scripts`: a script to store in the library.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"script": "function transform(rows) { return rows.filter(r => r.dep_delay > 60); }", "name": "late departures"}))]
pub struct ScriptBody {
    /// The JavaScript: it defines `transform(rows)` or `transformColumns(columns, length)`,
    /// `buildQuery(source, params)` and/or `finish()`.
    pub script: String,
    /// The library's name for it [default: `script`].
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/runs`: what to run.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source": "demo", "query": "SELECT carrier, name FROM airlines ORDER BY carrier"}))]
pub struct RunBody {
    /// A configured source, e.g. `demo`.
    #[schema(example = "demo")]
    pub source: String,
    /// SHA-256 of a library plugin or script.
    #[serde(default)]
    pub plugin: Option<String>,
    /// JavaScript to run (not stored) instead of a plugin.
    #[serde(default)]
    pub script: Option<String>,
    /// The plugin's params: a JSON object [default: `{}`].
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// SQL, CQL or MongoDB JSON, used when the plugin builds no query.
    #[serde(default)]
    #[schema(example = "SELECT carrier, name FROM airlines ORDER BY carrier")]
    pub query: Option<String>,
    /// Stop after this many output rows [default: the server's, for JSON and events].
    #[serde(default)]
    #[schema(minimum = 0)]
    pub limit: Option<u64>,
    /// Also send the first batch from the database (events format).
    #[serde(default)]
    pub preview: bool,
    /// Read up to this many partitions of the query at once, where that gives the same
    /// rows (see `quarry run --parallel`) [default and cap: the server's
    /// `--max-parallel`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub parallel: Option<usize>,
    /// The integer column whose ranges partition a SQL query for `parallel` [default on
    /// SQLite: the rowid], or `_id` for a MongoDB find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<String>,
    /// Leave out this many output rows first: the `next` page of a JSON answer does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub offset: Option<u64>,
    /// Several plugins in one run, instead of `plugin` (or `script`) and `params`: the
    /// first step may build the query, and each transforms the rows of the one before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Vec<RunStep>>,
    /// Answer the database's plan for the query instead of its rows (an
    /// [`ExplainAnswer`], whatever the format): a plugin that builds the query is asked
    /// for it, and nothing is transformed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explain: bool,
}

/// One step of a pipeline: a stored plugin or script, or a script's text, and its params.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    /// SHA-256 of a plugin or script in the library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Or the text of a script to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Its params object [default: `{}`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
}

/// `PATCH /api/plugins/{sha256}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The name the library shows for the plugin (1 to 80 characters).
    pub name: String,
}

/// What one step of a pipeline gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepInfo {
    /// The step's plugin, by name.
    pub name: String,
    /// Rows it output.
    pub rows_out: u64,
}

/// What `POST /api/runs` answers as JSON: the rows, or with `"explain": true` the plan.
/// (For the API's document only.)
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RunJson {
    /// The run's rows.
    Rows(RunAnswer),
    /// The query's plan.
    Plan(ExplainAnswer),
}

/// `POST /api/runs` with `"explain": true`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainAnswer {
    /// Always true.
    pub ok: bool,
    /// The query the run would send.
    pub query: Query,
    /// The database's plan for it.
    pub plan: quarry_sources::explain::Plan,
    /// The plugin's log lines from `init` and `build-query`.
    pub logs: Vec<LogLine>,
}

/// An output column of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// Its type: boolean, int64, float64, text, bytes, timestamp, date, uuid, decimal, json.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A run's answer in the `json` format. The handler writes it straight from the columnar
/// batches, without building this value; this is its shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAnswer {
    /// Always true.
    pub ok: bool,
    /// The run's id (for `POST /api/runs/{id}/cancel` while it runs).
    pub run: String,
    /// The output columns.
    pub columns: Vec<ColumnInfo>,
    /// The output rows, one array of cells per row, in column order.
    #[schema(value_type = Vec<Vec<Value>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The output stopped at the row limit, or at the size an answer may have.
    pub truncated: bool,
    /// When truncated: the following page, a URL on this server that a plain `GET`
    /// answers in this same shape (the run again, its first rows left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The query that ran, when one did.
    pub query: Option<Query>,
    /// Time in each stage, and rows in and out.
    pub stats: RunStats,
    /// The plugin's log, and the source's warnings.
    pub logs: Vec<LogLine>,
    /// For a pipeline: each step's name and rows, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepInfo>>,
}

/// `GET /api/history`: finished runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryAnswer {
    /// Always true.
    pub ok: bool,
    /// The runs.
    pub runs: Vec<crate::history::HistoryEntry>,
}

/// `GET /api/users`: everyone who may sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersAnswer {
    /// Always true.
    pub ok: bool,
    /// The users, by name.
    pub users: Vec<crate::users::User>,
}

/// `POST /api/users`: who to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "grace", "role": "viewer"}))]
pub struct NewUser {
    /// Letters, digits, `.`, `_`, `-` or `@`.
    pub name: String,
    /// `viewer`, `author` or `admin`.
    pub role: String,
}

/// `POST /api/users`: the new user's token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedUser {
    /// Always true.
    pub ok: bool,
    /// The user's name.
    pub name: String,
    /// Their token, for `Authorization: Bearer` or the sign-in form.
    pub token: String,
}

/// `POST /api/snippets`: a shared run's link.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnippetLink {
    /// Always true.
    pub ok: bool,
    /// The snippet's id.
    pub id: String,
    /// The playground's page for it.
    pub url: String,
}

/// `GET /api/snippets`: the saved queries.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnippetsAnswer {
    /// Always true.
    pub ok: bool,
    /// The named snippets, newest first.
    pub snippets: Vec<SavedSnippet>,
}

/// One saved query.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedSnippet {
    /// The snippet's id.
    pub id: String,
    /// The playground's page for it.
    pub url: String,
    /// When it was first saved (RFC 3339, UTC).
    pub saved_at: String,
    /// What the playground fills in, with its name.
    pub snippet: Snippet,
}

/// `GET /api/snippets/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnippetAnswer {
    /// Always true.
    pub ok: bool,
    /// The snippet's id.
    pub id: String,
    /// What the playground fills in.
    pub snippet: Snippet,
}
