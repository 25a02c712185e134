//! The HTML pages (askama templates in `web/templates`) and the embedded static assets.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::App;
use crate::auth::{Caller, SESSION_COOKIE, cookie};
use crate::store::{PluginKind, PluginMeta};
use quarry_core::size;

type AppState = State<Arc<App>>;

/// A plugin as the library pages show it.
pub struct PluginRow {
    pub sha256: String,
    pub short_sha: String,
    /// The name the library shows: its label when renamed, else its own.
    pub name: String,
    /// Its own name, when a label is shown instead.
    pub own_name: Option<String>,
    /// Whether the caller may rename and delete it (its uploader or an admin).
    pub may_change: bool,
    pub version: String,
    pub description: String,
    pub size: String,
    pub uploaded_at: String,
    pub kind: String,
}

impl From<&PluginMeta> for PluginRow {
    fn from(m: &PluginMeta) -> Self {
        let kind = match (m.kind, m.builds_query, m.transforms) {
            (PluginKind::Script, ..) => "JavaScript script",
            (_, true, true) => "builds query, transforms",
            (_, true, false) => "builds query",
            (_, false, true) => "transforms",
            (_, false, false) => "neither",
        };
        PluginRow {
            sha256: m.sha256.clone(),
            short_sha: m.sha256[..12].to_owned(),
            name: m.label.clone().unwrap_or_else(|| m.name.clone()),
            own_name: m.label.as_ref().map(|_| m.name.clone()),
            may_change: false,
            version: m.version.clone(),
            description: m.description.clone(),
            size: size::format(m.size),
            uploaded_at: m.uploaded_at.clone(),
            kind: kind.to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "playground.html")]
struct PlaygroundPage {
    initial_state: String,
    account: Option<String>,
    /// For the code editor's `<style>` elements.
    nonce: String,
}

/// The playground page, with the nonce its editor's styles need in the page's policy.
fn playground_page(initial_state: String, caller: &Caller) -> Response {
    let nonce = crate::browser::StyleNonce::new();
    let mut response = render(PlaygroundPage {
        initial_state,
        account: account(caller),
        nonce: nonce.0.clone(),
    });
    response.extensions_mut().insert(nonce);
    response
}

#[derive(Template)]
#[template(path = "plugins.html")]
struct PluginsPage {
    /// Compiled plugins.
    plugins: Vec<PluginRow>,
    /// Shared scripts, listed apart.
    scripts: Vec<PluginRow>,
    /// Saved queries: name and link.
    saved: Vec<(String, String)>,
    max_upload: String,
    account: Option<String>,
}

#[derive(Template)]
#[template(path = "plugin.html")]
struct PluginPage {
    plugin: PluginRow,
    params_schema: String,
    imports: Vec<String>,
    /// A script's text; empty for a compiled plugin.
    script: String,
    account: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
    account: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    next: String,
    problem: Option<String>,
    account: Option<String>,
}

/// The signed-in user's name, for the header's sign-out; none without authentication.
fn account(caller: &Caller) -> Option<String> {
    caller.signed_in.then(|| caller.name.clone())
}

fn render(page: impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the page failed: {e}"),
        )
            .into_response(),
    }
}

pub fn error_page(status: StatusCode, message: String) -> Response {
    let mut response = render(ErrorPage {
        status: status.as_u16(),
        message,
        account: None,
    });
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
pub struct PlaygroundQuery {
    plugin: Option<String>,
}

/// JSON for a `<script>` element: `<` escaped so no text can close the element.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

async fn playground_state(
    app: &App,
    caller: &Caller,
    selected: Option<String>,
    snippet: serde_json::Value,
    problem: Option<String>,
) -> Result<String, crate::store::StoreError> {
    let sources: Vec<serde_json::Value> = app
        .sources
        .iter()
        .filter(|s| app.may_use(caller, s.name()))
        .map(|s| json!({"name": s.name(), "backend": s.backend().name()}))
        .collect();
    let plugins: Vec<serde_json::Value> = app
        .store
        .plugins()
        .await?
        .iter()
        .map(|p| {
            let schema = p
                .params_schema
                .as_deref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
            json!({
                "sha256": p.sha256, "kind": p.kind, "name": p.name, "version": p.version,
                "description": p.description, "builds_query": p.builds_query,
                "transforms": p.transforms, "params_schema": schema,
            })
        })
        .collect();
    Ok(script_json(&json!({
        "sources": sources,
        "plugins": plugins,
        "selected_plugin": selected,
        "snippet": snippet,
        "snippet_problem": problem,
        "scripts": app.has_script_runner(),
        "starter_scripts": quarry_runtime::script::STARTERS
            .iter()
            .map(|(name, text)| json!({"name": name, "text": text}))
            .collect::<Vec<_>>(),
    })))
}

/// `/`: the playground; `?plugin=SHA256` preselects a library plugin.
pub async fn playground(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PlaygroundQuery>,
) -> Response {
    let selected = match q.plugin {
        Some(sha) if matches!(app.store.plugin(&sha).await, Ok(Some(_))) => Some(sha),
        _ => None,
    };
    match playground_state(&app, &caller, selected, serde_json::Value::Null, None).await {
        Ok(initial_state) => playground_page(initial_state, &caller),
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `/s/{id}`: the playground filled from a shared snippet, which it runs at once.
pub async fn snippet(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let snippet = match app.store.snippet(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error_page(StatusCode::NOT_FOUND, "No shared run has that link.".into());
        }
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    // The link names code by hash and a source by name: say so when either is not here.
    let missing = match snippet.plugin.as_deref() {
        Some(sha) => match app.store.plugin(sha).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(sha),
            Err(e) => return error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        None => None,
    };
    let problem = if let Some(sha) = missing {
        Some(format!(
            "This link runs plugin {sha}, which is not in this server's library."
        ))
    } else if app.sources.get(&snippet.source).is_err()
        || snippet.source.starts_with("sqlite:")
        || !app.may_use(&caller, &snippet.source)
    {
        Some(format!(
            "This link runs on source `{}`, which this server does not have.",
            snippet.source
        ))
    } else {
        None
    };
    let mut shared = serde_json::to_value(&snippet).unwrap_or_default();
    shared["id"] = json!(id);
    match playground_state(&app, &caller, snippet.plugin.clone(), shared, problem).await {
        Ok(initial_state) => playground_page(initial_state, &caller),
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `/plugins`: the library and the upload form.
pub async fn plugins(State(app): AppState, Extension(caller): Extension<Caller>) -> Response {
    let plugins = match app.store.plugins().await {
        Ok(plugins) => plugins,
        Err(e) => return error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let row = |m: &PluginMeta| PluginRow {
        may_change: caller.role >= crate::users::Role::Admin
            || m.uploaded_by.as_deref() == Some(caller.name.as_str()),
        ..PluginRow::from(m)
    };
    let (scripts, plugins): (Vec<&PluginMeta>, Vec<&PluginMeta>) =
        plugins.iter().partition(|m| m.kind == PluginKind::Script);
    let saved = app
        .store
        .saved_snippets(100)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, snippet, _)| app.may_use(&caller, &snippet.source))
        .map(|(id, snippet, _)| (snippet.name.unwrap_or_default(), format!("/s/{id}")))
        .collect();
    render(PluginsPage {
        plugins: plugins.into_iter().map(row).collect(),
        scripts: scripts.into_iter().map(row).collect(),
        saved,
        max_upload: size::format(app.settings.max_upload),
        account: account(&caller),
    })
}

/// `/plugins/{sha256}`: one plugin's description, schema and download.
pub async fn plugin(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(sha256): Path<String>,
) -> Response {
    let meta = match app.store.plugin(&sha256).await {
        Ok(Some(meta)) => meta,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No plugin with that SHA-256 in the library.".into(),
            );
        }
        Err(e) => return error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let params_schema = meta
        .params_schema
        .as_deref()
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(s)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| s.to_owned())
        })
        .unwrap_or_default();
    let script = match meta.kind {
        PluginKind::Script => match app.store.script(&sha256).await {
            Ok((text, _)) => text,
            Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        _ => String::new(),
    };
    render(PluginPage {
        plugin: PluginRow::from(&meta),
        params_schema,
        imports: meta.imports.clone(),
        script,
        account: account(&caller),
    })
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// Where to go after signing in: a path on this server, else the playground.
fn local_path(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

/// `GET /signin`: the form that turns a token into a session.
pub async fn sign_in_form(State(app): AppState, Query(q): Query<SignInQuery>) -> Response {
    if app.settings.auth == crate::auth::AuthMode::None {
        return axum::response::Redirect::to("/").into_response();
    }
    render(SignInPage {
        next: local_path(q.next),
        problem: None,
        account: None,
    })
}

/// `POST /signin`: a token from the form; a session cookie and the page asked for, or the
/// form again.
pub async fn sign_in(State(app): AppState, Form(form): Form<SignInForm>) -> Response {
    let next = local_path(form.next);
    match app.users.sign_in(form.token.trim()).await {
        Ok(Some((session, user))) => {
            tracing::info!(user = %user.name, "signed in");
            let secure = if app.settings.allowed.is_https() {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                crate::users::SESSION_LIFETIME.as_secs()
            );
            (
                [(header::SET_COOKIE, cookie)],
                axum::response::Redirect::to(&next),
            )
                .into_response()
        }
        Ok(None) => {
            let mut page = render(SignInPage {
                next,
                problem: Some("That token is not one this server gave out.".into()),
                account: None,
            });
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            page
        }
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `POST /signout`: ends the session and clears its cookie.
pub async fn sign_out(State(app): AppState, headers: axum::http::HeaderMap) -> Response {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        let _ = app.users.sign_out(session).await;
    }
    let cleared = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        [(header::SET_COOKIE, cleared)],
        axum::response::Redirect::to("/signin"),
    )
        .into_response()
}

/// The files in `web/static`, compiled into the binary.
const ASSETS: [(&str, &str, &str); 6] = [
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/static/chart.js"),
    ),
    (
        "grid.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/static/grid.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/static/editor.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/static/style.css"),
    ),
    (
        "playground.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/static/playground.js"),
    ),
    (
        "plugins.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/static/plugins.js"),
    ),
];

/// An asset, revalidated on every use: a browser that has it (its ETag, the SHA-256 of
/// its content) gets a 304 instead of the bytes again (the editor's bundle is 0.5 MB).
pub async fn asset(Path(file): Path<String>, headers: axum::http::HeaderMap) -> Response {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, body)| {
                format!("\"{}\"", &quarry_runtime::sha256_hex(body.as_bytes())[..20])
            })
            .collect()
    });
    let Some(i) = ASSETS.iter().position(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let (_, content_type, body) = ASSETS[i];
    let tag = tags[i].as_str();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let head = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, tag),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, head).into_response();
    }
    (head, body).into_response()
}
