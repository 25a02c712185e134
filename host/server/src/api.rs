//! The JSON API handlers. Each one's `#[utoipa::path]` documents it in `/api/openapi.json`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::stream::{self, ChannelWriter, Events, Msg, Rows};
use super::{ApiError, App};
use crate::auth::Caller;
use crate::bodies::{
    AddedUser, Compiling, ErrorAnswer, ExplainAnswer, HistoryAnswer, NewUser, PluginAnswer,
    PluginsAnswer, Rename, RunAnswer, RunBody, RunJson, RunStep, SavedSnippet, SchemaAnswer,
    ScriptBody, SnippetAnswer, SnippetLink, SnippetsAnswer, SourceInfo, SourcesAnswer, StepInfo,
    UploadState, UploadStatus, Uploaded, UsersAnswer,
};
use crate::hosts::Upload;
use crate::store::{PipelineStep, PluginKind, PluginMeta, Snippet, is_sha256};
use crate::users::Role;
use quarry_core::size;
use quarry_engine::output::{self, Format};
use quarry_engine::run::{PluginChoice, RunDefaults, RunReport, RunRequest, Step, run_blocking};
use quarry_runtime::script::MAX_SCRIPT_BYTES;
use quarry_runtime::{LoadStats, LoadedPlugin, sha256_hex};

type AppState = State<Arc<App>>;

/// The API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Quarry",
        description = "Run sandboxed WebAssembly plugins and scripts over databases. Every error is the envelope `{\"ok\": false, \"error\": {\"kind\", \"message\"}}` with a fitting status."
    ),
    paths(
        sources,
        source_schema,
        list_plugins,
        upload_plugin,
        get_plugin,
        plugin_wasm,
        plugin_script,
        put_script,
        get_upload,
        run,
        run_page,
        history,
        delete_plugin,
        rename_plugin,
        delete_snippet,
        list_users,
        add_user,
        remove_user,
        cancel_run,
        put_snippet,
        list_snippets,
        get_snippet,
        openapi,
    ),
    components(schemas(PluginKind))
)]
struct ApiDoc;

/// `GET /api/openapi.json`: this document, built from the handlers and their types.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        use utoipa::OpenApi as _;
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.as_str(),
    )
        .into_response()
}

fn ok(status: StatusCode, body: impl serde::Serialize) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&body).expect("answers serialize"),
    )
        .into_response()
}

/// A request body, or the envelope saying why it could not be read.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_body"
        };
        ApiError::new(status, kind, e.body_text())
    })
}

/// Refuses a run the caller's role does not allow: a viewer runs a stored plugin that
/// builds its own query, or exactly a saved snippet; nobody runs on a source their role
/// may not use (which, to them, does not exist).
async fn may_run(app: &App, caller: &Caller, run: &RunBody) -> Result<(), ApiError> {
    if !app.may_use(caller, &run.source) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source named `{}`", run.source),
        ));
    }
    if caller.role >= Role::Author {
        return Ok(());
    }
    let steps = steps(run)?;
    let stored_only = steps.script.is_none()
        && steps
            .then
            .iter()
            .all(|step| step.plugin.is_some() && step.script.is_none());
    let stored_plugin_alone = steps.plugin.is_some() && stored_only && run.query.is_none();
    let then = steps.then.iter().map(|step| PipelineStep {
        plugin: step.plugin.clone().unwrap_or_default(),
        params: step.params.clone().unwrap_or_else(|| json!({})),
    });
    let as_saved = Snippet {
        name: None,
        plugin: steps.plugin.clone(),
        source: run.source.clone(),
        params: steps.params.clone().unwrap_or_else(|| json!({})),
        query: run.query.clone(),
        then: (!steps.then.is_empty()).then(|| then.collect()),
        chart: None,
    };
    let saved = stored_only
        && app
            .store
            .snippet(&crate::store::snippet_id(&as_saved))
            .await?
            .map(|saved| Snippet {
                name: None,
                chart: None,
                ..saved
            })
            == Some(as_saved);
    if stored_plugin_alone || saved {
        return Ok(());
    }
    caller.require(
        Role::Author,
        "run scripts or queries of their own (a viewer runs stored plugins and saved snippets)",
    )
}

/// Runs `request` on the blocking thread it is called on, counts it for `/metrics`, and
/// writes it to the history as run `id` of `user`.
fn counted_run(
    app: &App,
    id: &str,
    user: &str,
    handle: &tokio::runtime::Handle,
    request: RunRequest,
    sink: &mut dyn quarry_engine::run::Sink,
    progress: impl FnMut(quarry_engine::run::Progress),
) -> RunReport {
    // A name that is no source is not a label: the counters stay bounded.
    let source = match app.sources.get(&request.source) {
        Ok(source) => source.name().to_owned(),
        Err(_) => "unknown".to_owned(),
    };
    let recorded = request.clone();
    let report = run_blocking(&app.runtime, &app.sources, handle, request, sink, progress);
    let outcome = app.metrics.run(&source, &report);
    handle.block_on(app.history.record(id, user, &recorded, &report, &outcome));
    report
}

/// A JSON request body as `T`: refused unless it says it is JSON (415), with serde's
/// message (naming the field) when it is not what `T` wants.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    crate::browser::json_content(headers)?;
    serde_json::from_slice(&body(request_body)?).map_err(|e| {
        ApiError::bad_request("bad_json", format!("the request body is not valid: {e}"))
    })
}

/// `GET /api/sources`: the sources runs may use.
#[utoipa::path(get, path = "/api/sources", tag = "sources",
    responses((status = 200, description = "Every source", body = SourcesAnswer)))]
pub async fn sources(State(app): AppState, Extension(caller): Extension<Caller>) -> Response {
    let sources = app
        .sources
        .iter()
        .filter(|s| app.may_use(&caller, s.name()))
        .map(|s| SourceInfo {
            name: s.name().to_owned(),
            backend: s.backend(),
            address: s.address(),
        })
        .collect();
    ok(StatusCode::OK, SourcesAnswer { ok: true, sources })
}

/// How long a schema may take to read before the answer is a timeout.
const SCHEMA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `GET /api/sources/{name}/schema`: what a source holds, for the schema browser and
/// autocomplete.
#[utoipa::path(get, path = "/api/sources/{name}/schema", tag = "sources",
    params(("name" = String, Path, description = "The source's name, as `GET /api/sources` lists it")),
    responses(
        (status = 200, description = "Its tables or collections, columns or sampled fields, keys and indexes", body = SchemaAnswer),
        (status = 404, description = "No such source (or not one the caller may use)", body = ErrorAnswer),
        (status = 503, description = "The source cannot be reached", body = ErrorAnswer),
        (status = 504, description = "The source took longer than 30 s to answer", body = ErrorAnswer),
    ))]
pub async fn source_schema(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // Only configured sources (not `sqlite:PATH`), and only those the caller may use: one
    // it may not is as unknown as one that does not exist.
    let source = app
        .sources
        .iter()
        .find(|s| s.name() == name && app.may_use(&caller, s.name()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_source",
                format!("no source named `{name}`; `GET /api/sources` lists them"),
            )
        })?;
    let schema = tokio::time::timeout(SCHEMA_TIMEOUT, source.schema())
        .await
        .map_err(|_| quarry_sources::SourceError::Timeout {
            source_name: name.clone(),
            timeout: SCHEMA_TIMEOUT,
        })??;
    Ok(ok(
        StatusCode::OK,
        SchemaAnswer {
            ok: true,
            source: name,
            backend: source.backend(),
            tables: schema.tables,
        },
    ))
}

/// What `GET /api/plugins` takes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PluginSearch {
    /// Only plugins and scripts whose name, shown name, description or SHA-256 holds
    /// these words (any case).
    q: Option<String>,
}

/// `GET /api/plugins`: the library.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", params(PluginSearch),
    responses((status = 200, description = "Every plugin and script, or those the search finds", body = PluginsAnswer)))]
pub async fn list_plugins(
    State(app): AppState,
    axum::extract::Query(search): axum::extract::Query<PluginSearch>,
) -> Result<Response, ApiError> {
    let mut plugins = app.store.plugins().await?;
    let words: Vec<String> = search
        .q
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    if !words.is_empty() {
        plugins.retain(|p| {
            let text = format!(
                "{} {} {} {}",
                p.name,
                p.label.as_deref().unwrap_or(""),
                p.description,
                p.sha256
            )
            .to_lowercase();
            words.iter().all(|word| text.contains(word))
        });
    }
    Ok(ok(StatusCode::OK, PluginsAnswer { ok: true, plugins }))
}

/// `GET /api/plugins/{sha256}`: one library entry.
#[utoipa::path(get, path = "/api/plugins/{sha256}", tag = "plugins",
    params(("sha256" = String, Path, description = "The plugin's SHA-256, 64 hex digits")),
    responses(
        (status = 200, description = "The plugin", body = PluginAnswer),
        (status = 404, description = "No such plugin", body = ErrorAnswer),
    ))]
pub async fn get_plugin(
    State(app): AppState,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let plugin = stored(&app, &sha256).await?;
    Ok(ok(StatusCode::OK, PluginAnswer { ok: true, plugin }))
}

/// `GET /api/plugins/{sha256}/wasm`: a compiled plugin's bytes, to download.
#[utoipa::path(get, path = "/api/plugins/{sha256}/wasm", tag = "plugins",
    params(("sha256" = String, Path, description = "The plugin's SHA-256")),
    responses(
        (status = 200, description = "The component", content_type = "application/wasm", body = Vec<u8>),
        (status = 404, description = "No such plugin, or a script", body = ErrorAnswer),
    ))]
pub async fn plugin_wasm(
    State(app): AppState,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let meta = stored(&app, &sha256).await?;
    if meta.kind == PluginKind::Script {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_wasm",
            format!("{sha256} is a script; its text is at /api/plugins/{sha256}/script"),
        ));
    }
    let wasm = app.store.plugin_wasm(&sha256).await?;
    let file: String = format!("{}-{}.wasm", meta.name, meta.version)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/wasm".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        wasm,
    )
        .into_response())
}

/// `GET /api/plugins/{sha256}/script`: a stored script's text.
#[utoipa::path(get, path = "/api/plugins/{sha256}/script", tag = "plugins",
    params(("sha256" = String, Path, description = "The script's SHA-256")),
    responses(
        (status = 200, description = "The script", content_type = "text/javascript", body = String),
        (status = 404, description = "No such script, or a compiled plugin", body = ErrorAnswer),
    ))]
pub async fn plugin_script(
    State(app): AppState,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let meta = stored(&app, &sha256).await?;
    if meta.kind != PluginKind::Script {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_script",
            format!(
                "{sha256} is a compiled plugin, not a script; its bytes are at /api/plugins/{sha256}/wasm"
            ),
        ));
    }
    let (text, _) = app.store.script(&sha256).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        text,
    )
        .into_response())
}

/// A script as a plugin run by the current runner, after the checks every script gets:
/// not empty, not too large.
fn script_plugin(app: &App, text: &str, name: Option<&str>) -> Result<LoadedPlugin, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty",
            "the script is empty; define transform(rows) or transformColumns(columns, length), buildQuery(source, params) or finish()",
        ));
    }
    if text.len() > MAX_SCRIPT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the script is {}; scripts may be at most {}",
                size::format(text.len() as u64),
                size::format(MAX_SCRIPT_BYTES as u64)
            ),
        ));
    }
    // Unnamed, a script is called by its first comment line, as the starters begin.
    let first_comment = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .and_then(|line| line.strip_prefix("//"))
        .map(|comment| comment.trim().trim_end_matches(['.', ',', ':', ';']));
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(first_comment.filter(|c| !c.is_empty()))
        .unwrap_or("script");
    let name: String = name.chars().take(80).collect();
    Ok(app.runner()?.with_script(text, &name))
}

/// `POST /api/scripts`: stores a script (JSON `{"script": TEXT, "name": NAME}`) in the
/// library, once it starts: it is evaluated, with empty params, under the run limits.
#[utoipa::path(post, path = "/api/scripts", tag = "plugins",
    request_body = ScriptBody,
    responses(
        (status = 201, description = "Stored", body = Uploaded),
        (status = 200, description = "Stored before", body = Uploaded),
        (status = 400, description = "Not a script body, or empty", body = ErrorAnswer),
        (status = 415, description = "The body is not `application/json`", body = ErrorAnswer),
        (status = 413, description = "Larger than scripts may be", body = ErrorAnswer),
        (status = 422, description = "The script does not start", body = ErrorAnswer),
        (status = 503, description = "No script runner, or every run slot busy", body = ErrorAnswer),
    ))]
pub async fn put_script(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ScriptBody = json_body(&headers, request_body)?;
    let script = script_plugin(&app, &body.script, body.name.as_deref())?;
    let slot = app.gate.enter().await?;
    let store = app.clone();
    let (script, runner) = blocking(move || {
        let _slot = slot;
        let runner = store.runner()?;
        let mut run = store
            .runtime
            .start(&script, &store.settings.limits, Arc::default())
            .map_err(ApiError::upload)?;
        run.init(
            "demo",
            quarry_sources::Backend::Sqlite,
            &script.init_params("{}"),
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "script_error",
                e.to_string(),
            )
        })?;
        Ok::<_, ApiError>((script, runner))
    })
    .await??;
    let (meta, created) = app
        .store
        .put_script(&script, &runner.sha256, &caller.name)
        .await?;
    Ok(uploaded(meta, created))
}

/// A library entry's listing, or 404 `unknown_plugin`.
async fn stored(app: &App, sha256: &str) -> Result<PluginMeta, ApiError> {
    app.store
        .plugin(sha256)
        .await?
        .ok_or_else(|| unknown_plugin(sha256))
}

fn unknown_plugin(sha256: &str) -> ApiError {
    let shown: String = sha256.chars().take(80).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_plugin",
        format!("no plugin {shown} in the library"),
    )
}

/// `POST /api/plugins`: the plugin as the raw body (`application/wasm`), or as the file
/// field of a multipart form. It is compiled and its `describe()` called before it is
/// stored; the same bytes twice give the same entry. With `Prefer: respond-async` the
/// answer comes at once (202) and the compiling goes on in the background: a 12–18 MB
/// JS or Python component takes seconds. `GET /api/uploads/{sha256}` says how it went.
#[utoipa::path(post, path = "/api/plugins", tag = "plugins",
    request_body(content(
        (Vec<u8> = "application/wasm"),
        (Vec<u8> = "multipart/form-data"),
    ), description = "The component's bytes, or a form whose file field holds them"),
    params(("prefer" = Option<String>, Header, description = "`respond-async`: answer 202 at once and compile in the background")),
    responses(
        (status = 201, description = "Compiled, described and stored", body = Uploaded),
        (status = 200, description = "Stored before", body = Uploaded),
        (status = 202, description = "Compiling (with `Prefer: respond-async`)", body = Compiling),
        (status = 400, description = "Not a WebAssembly component, or an empty upload", body = ErrorAnswer),
        (status = 415, description = "Neither `application/wasm` nor a multipart form", body = ErrorAnswer),
        (status = 413, description = "Larger than the upload limit", body = ErrorAnswer),
        (status = 422, description = "A component that is not a Quarry plugin", body = ErrorAnswer),
        (status = 503, description = "Every compile slot busy", body = ErrorAnswer),
    ))]
pub async fn upload_plugin(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let max = app.settings.max_upload;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the plugin is larger than the upload limit of {} (quarry serve --max-upload changes it)",
                size::format(max)
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let raw_wasm = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/wasm");
    if !multipart && !raw_wasm {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the plugin as `Content-Type: application/wasm`, or as the file of a \
             multipart/form-data form",
        ));
    }
    let wasm = if multipart {
        read_multipart_file(request, max).await?
    } else {
        read_limited(request.into_body(), max).await?
    }
    .ok_or_else(too_large)?;
    if wasm.is_empty() {
        return Err(ApiError::bad_request(
            "empty",
            "the upload is empty; send the plugin's .wasm file",
        ));
    }
    // Garbage is refused before it takes a compile slot.
    quarry_core::upload::check(&wasm).map_err(|problem| ApiError::upload(problem.into()))?;
    let respond_async = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        });
    if !respond_async {
        let (meta, created) = compile_and_store(app, wasm, caller.name).await?;
        return Ok(uploaded(meta, created));
    }
    let sha256 = sha256_hex(&wasm);
    if let Some(meta) = app.store.plugin(&sha256).await? {
        return Ok(uploaded(meta, false));
    }
    // Any host may compile it; the store says whether one already is.
    if app.hosts.begin_upload(&sha256).await? {
        let (app, sha256) = (app.clone(), sha256.clone());
        tokio::spawn(async move {
            let upload = match compile_and_store(app.clone(), wasm, caller.name).await {
                Ok((_, created)) => Upload::Done { created },
                Err(error) => Upload::Failed(error),
            };
            app.hosts.finish_upload(&sha256, &upload).await;
        });
    }
    let poll = Some(format!("/api/uploads/{sha256}"));
    Ok(ok(
        StatusCode::ACCEPTED,
        Compiling {
            ok: true,
            status: UploadStatus::Compiling,
            sha256,
            poll,
        },
    ))
}

fn uploaded(plugin: PluginMeta, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    ok(
        status,
        Uploaded {
            ok: true,
            status: UploadStatus::Done,
            created,
            plugin,
        },
    )
}

/// Compiles a checked upload in a run slot, calls its `describe()` and stores it.
async fn compile_and_store(
    app: Arc<App>,
    wasm: Vec<u8>,
    uploader: String,
) -> Result<(PluginMeta, bool), ApiError> {
    let slot = app.gate.enter().await?;
    let runtime = app.runtime.clone();
    let (wasm, plugin) = blocking(move || {
        let _slot = slot;
        let (plugin, _) = runtime.load(&wasm).map_err(ApiError::upload)?;
        Ok::<_, ApiError>((wasm, plugin))
    })
    .await??;
    // The runtime keeps the plugin in memory for the first run.
    Ok(app.store.put_upload(&wasm, &plugin, &uploader).await?)
}

/// `GET /api/uploads/{sha256}`: where an upload sent with `Prefer: respond-async` is:
/// compiling, done (with the plugin), or failed (the error, with its status).
#[utoipa::path(get, path = "/api/uploads/{sha256}", tag = "plugins",
    params(("sha256" = String, Path, description = "The upload's SHA-256")),
    responses(
        (status = 200, description = "Compiling, or in the library", body = inline(UploadState)),
        (status = 201, description = "This upload added it to the library", body = Uploaded),
        (status = 400, description = "The upload was refused: the refusal, as the upload would have answered", body = ErrorAnswer),
        (status = 404, description = "No such upload", body = ErrorAnswer),
        (status = 413, description = "The upload was refused as too large", body = ErrorAnswer),
        (status = 422, description = "The upload was refused: not a Quarry plugin", body = ErrorAnswer),
        (status = 503, description = "The upload found every compile slot busy", body = ErrorAnswer),
    ))]
pub async fn get_upload(
    State(app): AppState,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_upload",
            "no upload with that SHA-256 is compiling or was stored",
        )
    };
    if !is_sha256(&sha256) {
        return Err(unknown());
    }
    match app.hosts.upload(&sha256).await? {
        Some(Upload::Compiling) => Ok(ok(
            StatusCode::OK,
            Compiling {
                ok: true,
                status: UploadStatus::Compiling,
                sha256,
                poll: None,
            },
        )),
        Some(Upload::Done { created }) => match app.store.plugin(&sha256).await? {
            Some(meta) => Ok(uploaded(meta, created)),
            // Deleted since.
            None => Err(unknown()),
        },
        Some(Upload::Failed(error)) => Err(error),
        None => match app.store.plugin(&sha256).await? {
            Some(meta) => Ok(uploaded(meta, false)),
            None => Err(unknown()),
        },
    }
}

/// The body, or `None` once it is longer than `max`.
async fn read_limited(mut body: Body, max: u64) -> Result<Option<Vec<u8>>, ApiError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request("bad_body", format!("reading the upload failed: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > max {
                return Ok(None);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Some(out))
}

/// The first file field of a multipart form, or `None` once it is longer than `max`.
async fn read_multipart_file(request: Request, max: u64) -> Result<Option<Vec<u8>>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::bad_request(
            "bad_body",
            format!("the multipart form cannot be read: {e}"),
        )
    };
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(&e))?;
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(&e))? {
        if field.file_name().is_none() && field.name() != Some("file") {
            continue;
        }
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        return Ok(Some(out));
    }
    Err(ApiError::bad_request(
        "bad_body",
        "the multipart form has no file field",
    ))
}

/// How `POST /api/runs` answers: one JSON envelope, the page's event stream, or a file in
/// one of the output formats the command line writes too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunFormat {
    Json,
    Events,
    File(Format),
}

fn run_format(query: Option<&str>) -> Result<RunFormat, ApiError> {
    let format = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("format="))
        .unwrap_or("json");
    match format {
        "json" => Ok(RunFormat::Json),
        "events" => Ok(RunFormat::Events),
        "ndjson" => Ok(RunFormat::File(Format::Ndjson)),
        "csv" => Ok(RunFormat::File(Format::Csv)),
        other => Err(ApiError::bad_request(
            "bad_format",
            format!(
                "unknown format `{}`; use json, ndjson, csv or events",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}

/// Removes a run from the runs in progress when it ends, however it ends.
struct Registered {
    app: Arc<App>,
    id: String,
    handle: tokio::runtime::Handle,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let (hosts, id) = (self.app.hosts.clone(), std::mem::take(&mut self.id));
        self.handle.spawn(async move { hosts.end_run(&id).await });
    }
}

fn new_run_id() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
    );
    sha256_hex(seed.as_bytes())[..16].to_owned()
}

/// `POST /api/runs[?format=json|ndjson|csv|events]`: runs a query, through a plugin or a
/// script when one is given. `json` answers once with the rows; `ndjson` and `csv` stream
/// the rows as a file; `events` streams NDJSON events (started, columns, rows, progress,
/// done) for the page.
#[utoipa::path(post, path = "/api/runs", tag = "runs",
    request_body = RunBody,
    params(("format" = Option<String>, Query, description = "json (default), ndjson, csv or events")),
    responses(
        (status = 200, description = "The run's rows, or with `\"explain\": true` the query's plan", content(
            (RunJson = "application/json"),
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 400, description = "Not a run body, bad params, an unknown format, no query, or a query the source refuses", body = ErrorAnswer),
        (status = 415, description = "The body is not `application/json`", body = ErrorAnswer),
        (status = 404, description = "An unknown source or plugin", body = ErrorAnswer),
        (status = 409, description = "Cancelled", body = ErrorAnswer),
        (status = 413, description = "A body over 1 MiB, or a script over its limit", body = ErrorAnswer),
        (status = 422, description = "The plugin failed or hit a limit", body = ErrorAnswer),
        (status = 503, description = "Every run slot busy, the source unavailable, or no script runner", body = ErrorAnswer),
        (status = 504, description = "The query ran past its timeout", body = ErrorAnswer),
    ))]
pub async fn run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    client: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let format = run_format(query.as_deref())?;
    let run: RunBody = json_body(&headers, request_body)?;
    run_as(app, caller, client, format, run).await
}

/// `GET /api/runs/page/{token}`: the `next` page of a JSON answer.
#[utoipa::path(get, path = "/api/runs/page/{token}", tag = "runs",
    params(("token" = String, Path, description = "From the `next` of the previous page")),
    responses(
        (status = 200, description = "The page's rows", body = RunAnswer),
        (status = 400, description = "Not a page token, or what the run answers", body = ErrorAnswer),
        (status = 404, description = "An unknown source or plugin", body = ErrorAnswer),
        (status = 422, description = "The plugin failed or hit a limit", body = ErrorAnswer),
        (status = 503, description = "Every run slot busy, or the source unavailable", body = ErrorAnswer),
    ))]
pub async fn run_page(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    client: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    use base64::Engine;
    let not_a_page =
        |why: String| ApiError::bad_request("bad_page", format!("not a page token: {why}"));
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|e| not_a_page(e.to_string()))?;
    let run: RunBody = serde_json::from_slice(&json).map_err(|e| not_a_page(e.to_string()))?;
    run_as(app, caller, client, RunFormat::Json, run).await
}

/// The URL of the page after the first `offset` rows of `run`.
fn next_page(run: &RunBody, offset: u64) -> String {
    use base64::Engine;
    let mut next = run.clone();
    next.offset = Some(offset);
    let json = serde_json::to_vec(&next).unwrap_or_default();
    format!(
        "/api/runs/page/{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// A run for `caller` in `format`, once their role and share allow it.
/// The plan of `request`'s query, in a run slot; the answer is JSON whatever the format.
async fn explain<S: Send + 'static>(
    app: Arc<App>,
    request: quarry_engine::run::RunRequest,
    slot: S,
) -> Result<Response, ApiError> {
    let handle = tokio::runtime::Handle::current();
    let explained = blocking(move || {
        let _slot = slot;
        quarry_engine::run::explain_blocking(&app.runtime, &app.sources, &handle, &request)
    })
    .await?;
    let (query, plan) = explained.result.map_err(|e| ApiError::run(&e))?;
    Ok(ok(
        StatusCode::OK,
        ExplainAnswer {
            ok: true,
            query,
            plan,
            logs: explained.logs,
        },
    ))
}

async fn run_as(
    app: Arc<App>,
    caller: Caller,
    client: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    format: RunFormat,
    run: RunBody,
) -> Result<Response, ApiError> {
    may_run(&app, &caller, &run).await?;
    // Each user, or each client address when nobody signs in, has their share of runs.
    let sharer = match (app.settings.auth, client) {
        (crate::auth::AuthMode::None, Some(Extension(ConnectInfo(address)))) => {
            address.ip().to_string()
        }
        _ => caller.name.clone(),
    };
    let ticket = app.quota.start(&sharer).map_err(|e| e.into_response());
    let ticket = match ticket {
        Ok(ticket) => ticket,
        Err(refusal) => return Ok(refusal),
    };
    // A JSON answer reserves the memory it may hold before it takes a run slot.
    let held =
        match format {
            RunFormat::Json => Some(app.budget.reserve(app.settings.max_answer_bytes).map_err(
                |e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            )?),
            _ => None,
        };
    let slot = app.gate.enter().await?;
    if run.explain {
        let request = prepare(&app, run, format).await?;
        return explain(app, request, slot).await;
    }
    let page = (run.clone(), run.offset.unwrap_or(0));
    let request = prepare(&app, run, format).await?;
    let id = new_run_id();
    app.hosts
        .start_run(&id, &caller.name, request.cancel.clone())
        .await?;
    let handle = tokio::runtime::Handle::current();
    let registered = Registered {
        app: app.clone(),
        id: id.clone(),
        handle: handle.clone(),
    };
    // For the history.
    let (rid, user) = (id.clone(), caller.name.clone());
    // The run's log line (quarry-engine writes it) names the run and, through the request's
    // span, the request.
    let span = tracing::info_span!("run", id = %id);
    if format == RunFormat::Json {
        let (report, rows) = blocking(move || {
            let _span = span.entered();
            let _slot = slot;
            let _ticket = ticket;
            let _registered = registered;
            let app = &_registered.app;
            let held = held.expect("reserved for the JSON format");
            let mut rows = Rows::new(page.1, app.settings.max_answer_bytes, held);
            let report = counted_run(app, &rid, &user, &handle, request, &mut rows, |_| {});
            (report, rows)
        })
        .await?;
        let mut details =
            json!({"query": report.query, "stats": report.stats, "logs": report.logs});
        if !report.steps.is_empty() {
            details["steps"] = json!(steps_info(&report.steps));
        }
        if let Err(e) = &report.result {
            let error = ApiError::run(e);
            let mut body = json!({"ok": false, "error": error.body()});
            body.as_object_mut()
                .unwrap()
                .extend(details.as_object().unwrap().clone());
            return Ok(ok(error.status, body));
        }
        // The answer is written from the batches' own buffers, not copied into one.
        let head = format!(
            "{{\"ok\":true,\"run\":{},\"columns\":{},\"rows\":",
            json!(id),
            stream::columns_json(&rows.fields)
        );
        let mut tail = format!(",\"truncated\":{}", report.truncated);
        if report.truncated {
            let next = next_page(&page.0, page.1 + rows.rows);
            tail.push_str(&format!(",\"next\":{}", json!(next)));
        }
        for (key, value) in details.as_object().unwrap() {
            tail.push_str(&format!(",{}:{value}", json!(key)));
        }
        tail.push('}');
        let (pieces, held) = rows.into_json();
        let length: usize = head.len() + pieces.iter().map(Bytes::len).sum::<usize>() + tail.len();
        let body = std::iter::once(Bytes::from(head))
            .chain(pieces)
            .chain(std::iter::once(Bytes::from(tail)))
            .map(move |piece| {
                // The budget share is given back once the body is sent (or dropped).
                let _ = &held;
                Ok::<_, std::convert::Infallible>(piece)
            });
        let body = Body::from_stream(futures_util::stream::iter(body));
        let headers = [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ];
        return Ok((headers, body).into_response());
    }

    let (tx, mut rx) = mpsc::channel::<Msg>(16);
    let cancel = request.cancel.clone();
    tokio::task::spawn_blocking(move || {
        let _span = span.entered();
        let _slot = slot;
        let _ticket = ticket;
        let _registered = registered;
        let app = &_registered.app;
        match format {
            RunFormat::Events => {
                let mut events = Events::new(tx.clone());
                let _ = events.send(&json!({"event": "started", "run": id}));
                let mut progress_events = Events::new(tx.clone());
                let report = counted_run(app, &rid, &user, &handle, request, &mut events, |p| {
                    progress_events.progress(p)
                });
                events.done(&report);
            }
            RunFormat::Json => unreachable!("answered above"),
            RunFormat::File(file_format) => {
                let mut sink = output::sink(file_format, ChannelWriter::new(tx.clone()));
                let report = counted_run(app, &rid, &user, &handle, request, &mut *sink, |_| {});
                if let Err(e) = &report.result {
                    let _ = tx.blocking_send(Msg::Failed(ApiError::run(e)));
                }
            }
        }
    });

    // The first message decides the status: an error before any output is a plain error.
    let first = match rx.recv().await {
        Some(Msg::Failed(error)) => return Err(error),
        Some(Msg::Data(bytes)) => Some(bytes),
        None => None,
    };
    let content_type = match format {
        RunFormat::File(Format::Csv) => "text/csv; charset=utf-8",
        _ => "application/x-ndjson",
    };
    let guard = CancelOnDrop {
        flag: cancel,
        finished: false,
    };
    let rest = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        match rx.recv().await {
            Some(Msg::Data(bytes)) => Some((Ok(bytes), (rx, guard))),
            Some(Msg::Failed(error)) => {
                Some((Err(std::io::Error::other(error.message)), (rx, guard)))
            }
            None => {
                let mut guard = guard;
                guard.finished = true;
                None
            }
        }
    });
    let stream = futures_util::stream::iter(first.map(Ok::<_, std::io::Error>)).chain(rest);
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    if let RunFormat::File(file_format) = format {
        let extension = if file_format == Format::Csv {
            "csv"
        } else {
            "ndjson"
        };
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"quarry-run.{extension}\"")
                .parse()
                .unwrap(),
        );
    }
    Ok(response)
}

/// Cancels a streamed run when its response body is dropped before the end (the client
/// went away).
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    /// The body was sent to the end.
    finished: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Checks a run request and resolves its source and plugin.
async fn prepare(app: &Arc<App>, run: RunBody, format: RunFormat) -> Result<RunRequest, ApiError> {
    // Only configured sources: `sqlite:PATH` would let a visitor open files on the server.
    if run.source.starts_with("sqlite:") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            "sqlite:PATH sources are for the command line; the server runs only its configured sources",
        ));
    }
    app.sources
        .get(&run.source)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_source", e.to_string()))?;
    let steps = steps(&run)?;
    let params = steps.params.unwrap_or_else(|| json!({}));
    if !params.is_object() {
        return Err(ApiError::bad_request(
            "bad_params",
            "params must be a JSON object",
        ));
    }
    let plugin = choice(app, steps.plugin, steps.script).await?;
    let mut then = Vec::with_capacity(steps.then.len());
    for (i, step) in steps.then.into_iter().enumerate() {
        let params = step.params.unwrap_or_else(|| json!({}));
        if !params.is_object() {
            return Err(ApiError::bad_request(
                "bad_params",
                format!("step {}: params must be a JSON object", i + 2),
            ));
        }
        let plugin = choice(app, step.plugin, step.script)
            .await?
            .ok_or_else(|| {
                ApiError::bad_request(
                    "bad_pipeline",
                    format!("step {}: give a plugin or a script", i + 2),
                )
            })?;
        then.push(Step {
            plugin,
            params: params.to_string(),
        });
    }
    if plugin.is_none() && run.pipeline.is_some() {
        return Err(ApiError::bad_request(
            "bad_pipeline",
            "step 1: give a plugin or a script",
        ));
    }
    let defaults = RunDefaults::of(&app.sources, &run.source);
    if run.offset.is_some() && format != RunFormat::Json {
        return Err(ApiError::bad_request(
            "bad_offset",
            "offset pages the JSON format's answers; the other formats stream every row",
        ));
    }
    // A page's rows are counted from the run's first: the engine stops after the page.
    let limit = match format {
        RunFormat::Json | RunFormat::Events => Some(
            run.limit
                .unwrap_or(app.settings.default_rows)
                .saturating_add(run.offset.unwrap_or(0)),
        ),
        RunFormat::File(_) => run.limit,
    };
    Ok(RunRequest {
        plugin,
        params: params.to_string(),
        query: run.query.filter(|q| !q.trim().is_empty()),
        limit,
        batch_rows: defaults.batch_rows,
        limits: app.settings.limits.clone(),
        timeout: defaults.timeout,
        preview: run.preview,
        parallel: run
            .parallel
            .unwrap_or(app.settings.max_parallel)
            .clamp(1, app.settings.max_parallel.max(1)),
        partition_by: run.partition_by,
        then,
        ..RunRequest::new(run.source)
    })
}

/// The most steps a pipeline may have.
const MAX_STEPS: usize = 8;

/// A run's steps, from `pipeline` or from `plugin`/`script` and `params`: the first, and
/// the ones after it.
struct Steps {
    plugin: Option<String>,
    script: Option<String>,
    params: Option<serde_json::Value>,
    then: Vec<RunStep>,
}

fn steps(run: &RunBody) -> Result<Steps, ApiError> {
    let bad = |message: &str| ApiError::bad_request("bad_pipeline", message.to_owned());
    let Some(pipeline) = &run.pipeline else {
        return Ok(Steps {
            plugin: run.plugin.clone(),
            script: run.script.clone(),
            params: run.params.clone(),
            then: Vec::new(),
        });
    };
    if run.plugin.is_some() || run.script.is_some() || run.params.is_some() {
        return Err(bad(
            "give `pipeline`, or `plugin` (or `script`) and `params`, not both",
        ));
    }
    let Some((first, rest)) = pipeline.split_first() else {
        return Err(bad("a pipeline has at least one step"));
    };
    if pipeline.len() > MAX_STEPS {
        return Err(bad(&format!(
            "a pipeline has at most {MAX_STEPS} steps, not {}",
            pipeline.len()
        )));
    }
    Ok(Steps {
        plugin: first.plugin.clone(),
        script: first.script.clone(),
        params: first.params.clone(),
        then: rest.to_vec(),
    })
}

/// A step's plugin: a stored one by SHA-256, or a script's text; none for neither.
async fn choice(
    app: &Arc<App>,
    plugin: Option<String>,
    script: Option<String>,
) -> Result<Option<PluginChoice>, ApiError> {
    Ok(match (plugin, script) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "bad_request",
                "give a plugin or a script, not both",
            ));
        }
        (None, None) => None,
        (None, Some(text)) => Some(PluginChoice {
            plugin: Arc::new(script_plugin(app, &text, None)?),
            load: LoadStats::IN_MEMORY,
        }),
        (Some(sha256), None) => {
            if !is_sha256(&sha256) {
                return Err(unknown_plugin(&sha256));
            }
            let in_memory = app.runtime.loaded(&sha256).is_some();
            let (plugin, load) = app.plugin(&sha256).await?;
            app.metrics.plugin_load(&load, in_memory);
            Some(PluginChoice { plugin, load })
        }
    })
}

/// Each step's name and rows, for an answer.
pub(crate) fn steps_info(steps: &[quarry_engine::run::StepReport]) -> Vec<StepInfo> {
    steps
        .iter()
        .map(|step| StepInfo {
            name: step.name.clone(),
            rows_out: step.rows_out,
        })
        .collect()
}

/// `POST /api/runs/{id}/cancel`: stops the database query and the plugin.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "The run's id, from its answer or its `started` event")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No run in progress with that id", body = ErrorAnswer),
    ))]
pub async fn cancel_run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // Someone else's run is not even there, unless an admin asks.
    if !app.hosts.cancel(&id, &caller).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_run",
            "no run in progress with that id (it may have ended)",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/snippets`: stores a shareable run under an id derived from its content.
#[utoipa::path(post, path = "/api/snippets", tag = "snippets",
    request_body = Snippet,
    responses(
        (status = 201, description = "Stored", body = SnippetLink),
        (status = 200, description = "Stored before", body = SnippetLink),
        (status = 400, description = "Not a snippet", body = ErrorAnswer),
        (status = 415, description = "The body is not `application/json`", body = ErrorAnswer),
        (status = 404, description = "An unknown source or plugin", body = ErrorAnswer),
    ))]
pub async fn put_snippet(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut snippet: Snippet = json_body(&headers, request_body)?;
    if let Some(name) = &snippet.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_SNIPPET_NAME {
            return Err(ApiError::bad_request(
                "bad_name",
                format!("a snippet's name is 1 to {MAX_SNIPPET_NAME} characters"),
            ));
        }
        snippet.name = Some(name.to_owned());
    }
    if snippet.source.starts_with("sqlite:")
        || app.sources.get(&snippet.source).is_err()
        || !app.may_use(&caller, &snippet.source)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source named `{}` here", snippet.source),
        ));
    }
    if let Some(sha256) = &snippet.plugin {
        stored(&app, sha256).await?;
    }
    if let Some(then) = &snippet.then {
        if snippet.plugin.is_none() || then.is_empty() || then.len() >= MAX_STEPS {
            return Err(ApiError::bad_request(
                "bad_pipeline",
                format!(
                    "a pipeline's `then` follows a `plugin` and holds 1 to {} steps",
                    MAX_STEPS - 1
                ),
            ));
        }
        for (i, step) in then.iter().enumerate() {
            stored(&app, &step.plugin).await?;
            if !step.params.is_object() {
                return Err(ApiError::bad_request(
                    "bad_params",
                    format!("step {}: params must be a JSON object", i + 2),
                ));
            }
        }
    }
    if !snippet.params.is_object() {
        return Err(ApiError::bad_request(
            "bad_params",
            "params must be a JSON object",
        ));
    }
    let (id, created) = app.store.put_snippet(&snippet).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let url = format!("/s/{id}");
    Ok(ok(status, SnippetLink { ok: true, id, url }))
}

/// The longest name a saved snippet may have, in characters.
const MAX_SNIPPET_NAME: usize = 200;

/// How many saved snippets `GET /api/snippets` lists.
const LISTED_SNIPPETS: usize = 500;

/// `GET /api/snippets`: the saved (named) snippets, newest first; share links without a
/// name are not listed.
#[utoipa::path(get, path = "/api/snippets", tag = "snippets",
    responses((status = 200, description = "The saved snippets, newest first (at most 500)", body = SnippetsAnswer)))]
pub async fn list_snippets(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let snippets = app
        .store
        .saved_snippets(LISTED_SNIPPETS)
        .await?
        .into_iter()
        // A source the caller may not use does not exist for them, nor do its snippets.
        .filter(|(_, snippet, _)| app.may_use(&caller, &snippet.source))
        .map(|(id, snippet, saved_at)| SavedSnippet {
            url: format!("/s/{id}"),
            id,
            saved_at,
            snippet,
        })
        .collect();
    Ok(ok(StatusCode::OK, SnippetsAnswer { ok: true, snippets }))
}

/// `GET /api/snippets/{id}`: a shared run.
#[utoipa::path(get, path = "/api/snippets/{id}", tag = "snippets",
    params(("id" = String, Path, description = "The snippet's id")),
    responses(
        (status = 200, description = "The snippet", body = SnippetAnswer),
        (status = 404, description = "No such snippet", body = ErrorAnswer),
    ))]
pub async fn get_snippet(
    State(app): AppState,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let snippet = app.store.snippet(&id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_snippet",
            "no snippet with that id",
        )
    })?;
    Ok(ok(
        StatusCode::OK,
        SnippetAnswer {
            ok: true,
            id,
            snippet,
        },
    ))
}

/// Runs `f` on the blocking pool; a panic in it is a 500 envelope, not a dropped request.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// What `GET /api/history` takes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// Only this user's runs (admins; others see only their own).
    user: Option<String>,
    /// Only runs on this source.
    source: Option<String>,
    /// Only runs older than this `seq` (the next page).
    before: Option<i64>,
    /// At most this many, up to 500 [default: 50].
    limit: Option<u32>,
}

/// `GET /api/history`: finished runs, newest first: the caller's own, or an admin's choice
/// of everyone's.
#[utoipa::path(get, path = "/api/history", tag = "runs",
    params(HistoryQuery),
    responses(
        (status = 200, description = "The runs, newest first", body = HistoryAnswer),
        (status = 403, description = "Another user's runs, asked by someone not an admin", body = ErrorAnswer),
    ))]
pub async fn history(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(q): axum::extract::Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let user = match q.user {
        Some(user) if user != caller.name => {
            caller.require(Role::Admin, "see other users' runs")?;
            Some(user)
        }
        Some(user) => Some(user),
        None if caller.role == Role::Admin => None,
        None => Some(caller.name.clone()),
    };
    let filter = crate::history::HistoryFilter {
        user,
        source: q.source,
        before: q.before,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    };
    let runs = app.history.list(&filter).await?;
    Ok(ok(StatusCode::OK, HistoryAnswer { ok: true, runs }))
}

/// `DELETE /api/plugins/{sha256}` (its uploader or an admin): removes a plugin or script
/// from the library.
#[utoipa::path(delete, path = "/api/plugins/{sha256}", tag = "plugins",
    params(("sha256" = String, Path, description = "The plugin's SHA-256")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Neither its uploader nor an admin", body = ErrorAnswer),
        (status = 404, description = "No such plugin", body = ErrorAnswer),
    ))]
pub async fn delete_plugin(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    may_change(&caller, &stored(&app, &sha256).await?, "delete")?;
    if !app.store.delete_plugin(&sha256).await? {
        return Err(unknown_plugin(&sha256));
    }
    tracing::info!(user = %caller.name, plugin = %sha256, "deleted a plugin");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Refuses unless `caller` may `what` the plugin: an admin, or the one who uploaded it.
fn may_change(caller: &Caller, meta: &PluginMeta, what: &str) -> Result<(), ApiError> {
    if caller.role >= Role::Admin || meta.uploaded_by.as_deref() == Some(caller.name.as_str()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("only its uploader or an admin may {what} this plugin"),
    ))
}

/// The longest name the library may show for a plugin, in characters.
const MAX_LABEL: usize = 80;

/// `PATCH /api/plugins/{sha256}` `{"name": NAME}` (its uploader or an admin): the name the
/// library shows for it.
#[utoipa::path(patch, path = "/api/plugins/{sha256}", tag = "plugins",
    params(("sha256" = String, Path, description = "The plugin's SHA-256")),
    request_body = Rename,
    responses(
        (status = 200, description = "Renamed", body = PluginAnswer),
        (status = 400, description = "Not a name", body = ErrorAnswer),
        (status = 403, description = "Neither its uploader nor an admin", body = ErrorAnswer),
        (status = 404, description = "No such plugin", body = ErrorAnswer),
        (status = 415, description = "The body is not `application/json`", body = ErrorAnswer),
    ))]
pub async fn rename_plugin(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: Rename = json_body(&headers, request_body)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_LABEL {
        return Err(ApiError::bad_request(
            "bad_name",
            format!("a plugin's name is 1 to {MAX_LABEL} characters"),
        ));
    }
    may_change(&caller, &stored(&app, &sha256).await?, "rename")?;
    let plugin = app
        .store
        .rename(&sha256, name)
        .await?
        .ok_or_else(|| unknown_plugin(&sha256))?;
    tracing::info!(user = %caller.name, plugin = %sha256, name, "renamed a plugin");
    Ok(ok(StatusCode::OK, PluginAnswer { ok: true, plugin }))
}

/// `DELETE /api/snippets/{id}` (admins): removes a shared run; its link stops working.
#[utoipa::path(delete, path = "/api/snippets/{id}", tag = "snippets",
    params(("id" = String, Path, description = "The snippet's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = ErrorAnswer),
        (status = 404, description = "No such snippet", body = ErrorAnswer),
    ))]
pub async fn delete_snippet(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !app.store.delete_snippet(&id).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_snippet",
            "no shared run has that id",
        ));
    }
    tracing::info!(user = %caller.name, snippet = %id, "deleted a snippet");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn users_failed(e: crate::users::UserError) -> ApiError {
    use crate::users::UserError;
    match e {
        UserError::UnknownRole(_) | UserError::BadName(_) => {
            ApiError::bad_request("bad_user", e.to_string())
        }
        UserError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "user_exists", e.to_string()),
        UserError::Unknown(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_user", e.to_string())
        }
        UserError::Database(e) => e.into(),
        UserError::Random(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "random", e.to_string())
        }
    }
}

/// `GET /api/users` (admins): everyone who may sign in, and their roles.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses(
        (status = 200, description = "The users, by name", body = UsersAnswer),
        (status = 403, description = "Not an admin", body = ErrorAnswer),
    ))]
pub async fn list_users(State(app): AppState) -> Result<Response, ApiError> {
    let users = app.users.list().await.map_err(users_failed)?;
    Ok(ok(StatusCode::OK, UsersAnswer { ok: true, users }))
}

/// `POST /api/users` (admins): adds a user; the answer holds their token, shown this once.
#[utoipa::path(post, path = "/api/users", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "Added", body = AddedUser),
        (status = 400, description = "Not a user name or role", body = ErrorAnswer),
        (status = 403, description = "Not an admin", body = ErrorAnswer),
        (status = 409, description = "The name is taken", body = ErrorAnswer),
        (status = 415, description = "The body is not `application/json`", body = ErrorAnswer),
    ))]
pub async fn add_user(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    request_body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewUser = json_body(&headers, request_body)?;
    let role = new.role.parse().map_err(users_failed)?;
    let token = app.users.add(&new.name, role).await.map_err(users_failed)?;
    tracing::info!(user = %caller.name, added = %new.name, role = %new.role, "added a user");
    Ok(ok(
        StatusCode::CREATED,
        AddedUser {
            ok: true,
            name: new.name,
            token,
        },
    ))
}

/// `DELETE /api/users/{name}` (admins): their token and sessions stop working at once.
#[utoipa::path(delete, path = "/api/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = ErrorAnswer),
        (status = 404, description = "No such user", body = ErrorAnswer),
    ))]
pub async fn remove_user(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    app.users.remove(&name).await.map_err(users_failed)?;
    tracing::info!(user = %caller.name, removed = %name, "removed a user");
    Ok(StatusCode::NO_CONTENT.into_response())
}
