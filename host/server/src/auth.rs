//! Who is asking, and whether their role allows it.
//!
//! With `--auth token` every API call carries `Authorization: Bearer TOKEN` and every page
//! a session cookie from the sign-in form; without one, an API call is answered `401` and a
//! page sends the browser to `/signin`. With `--auth none` (one person on their own
//! machine) every request is the local admin.
//!
//! What each role may do is decided here, by method and path ([`required_role`]), before
//! any handler runs; the run handler adds what depends on the body (a viewer runs stored
//! plugins and saved snippets only), and [`App::may_use`] hides the sources a role may not
//! use.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::users::{Role, User};
use crate::{ApiError, App};

/// Whether the server asks who is calling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Everyone who reaches the port is the local admin: for one person on their own
    /// machine, on a loopback address.
    #[default]
    None,
    /// Every API call and page needs a token or a signed-in session.
    Token,
}

/// The caller of a request, as the handlers see it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's name (`local` without authentication).
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Whether they signed in (token mode), so pages offer a sign-out.
    pub signed_in: bool,
}

impl Caller {
    /// The caller without authentication.
    pub(crate) fn local() -> Caller {
        Caller {
            name: "local".into(),
            role: Role::Admin,
            signed_in: false,
        }
    }

    /// Refuses with 403 unless the caller's role is at least `role`.
    pub(crate) fn require(&self, role: Role, to: &str) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} is a {}: only an {} or above may {to}",
                self.name,
                self.role.name(),
                role.name()
            ),
        ))
    }
}

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "quarry_session";

/// Paths anyone may open: what the sign-in page needs, and the operator's checks.
fn is_open(path: &str) -> bool {
    path.starts_with("/static/") || matches!(path, "/signin" | "/metrics" | "/healthz" | "/readyz")
}

/// The least role that may send `method` to `path`; the run handler checks more.
pub fn required_role(method: &Method, path: &str) -> Role {
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    // A plugin's uploader may rename or delete it: the handler checks who.
    let own_plugin = changes && path.starts_with("/api/plugins/");
    if (*method == Method::DELETE && !own_plugin) || path.starts_with("/api/users") {
        Role::Admin
    } else if own_plugin
        || (changes && matches!(path, "/api/plugins" | "/api/scripts" | "/api/snippets"))
    {
        Role::Author
    } else {
        Role::Viewer
    }
}

/// The layer: finds the caller, refuses those without one or without the role the path
/// needs, and leaves the [`Caller`] to the handlers.
pub(crate) async fn identify(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let caller = match app.settings.auth {
        AuthMode::None => Some(Caller::local()),
        AuthMode::Token => match find(&app, request.headers()).await {
            Ok(caller) => caller,
            Err(refusal) => return refusal.into_response(),
        },
    };
    let Some(caller) = caller else {
        if is_open(&path) || path == "/signout" {
            return next.run(request).await;
        }
        if path.starts_with("/api/") {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs a token: send `Authorization: Bearer TOKEN` (an admin \
                 makes one with `quarry users add NAME --role viewer|author|admin`)",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        let back = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        return Redirect::to(&format!("/signin?next={}", percent_encode(&back))).into_response();
    };
    if let Err(refusal) = caller.require(
        required_role(request.method(), &path),
        &format!("{} {path}", request.method()),
    ) {
        tracing::info!(user = %caller.name, role = caller.role.name(), "refused by role");
        return refusal.into_response();
    }
    // The request's log lines name the caller.
    tracing::Span::current().record("user", caller.name.as_str());
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller a bearer token or a session cookie names; an error for a token or
/// session that names nobody (a wrong token is not the same as none).
async fn find(app: &App, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let store_error = |e: crate::users::UserError| match e {
        crate::users::UserError::Database(e) => ApiError::from(e),
        other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", other.to_string()),
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        let user = app
            .users
            .by_token(token.trim())
            .await
            .map_err(store_error)?;
        return match user {
            Some(user) => Ok(Some(signed_in(user))),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_token",
                "the token is not one this server gave out (or its user was removed)",
            )),
        };
    }
    let Some(session) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    // An expired or ended session is like none: the page offers the sign-in again.
    Ok(app
        .users
        .by_session(session)
        .await
        .map_err(store_error)?
        .map(signed_in))
}

fn signed_in(user: User) -> Caller {
    Caller {
        name: user.name,
        role: user.role,
        signed_in: true,
    }
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then_some(v)
        })
}

/// `s` with everything but unreserved characters and `/` percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl App {
    /// Whether `caller` may use the source `name`: its `roles` in `quarry.toml` list the
    /// caller's role, or it has none.
    pub(crate) fn may_use(&self, caller: &Caller, name: &str) -> bool {
        let roles = self.sources.settings(name).roles;
        roles.is_none_or(|roles| roles.iter().any(|r| r == caller.role.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_needs_the_least_role_that_may_use_it() {
        let cases = [
            (Method::GET, "/api/plugins", Role::Viewer),
            (Method::POST, "/api/runs", Role::Viewer),
            (Method::POST, "/api/runs/abc/cancel", Role::Viewer),
            (Method::POST, "/api/plugins", Role::Author),
            (Method::POST, "/api/scripts", Role::Author),
            (Method::POST, "/api/snippets", Role::Author),
            // Its uploader (an author) or an admin: the handler checks which.
            (Method::DELETE, "/api/plugins/abc", Role::Author),
            (Method::PATCH, "/api/plugins/abc", Role::Author),
            (Method::DELETE, "/api/snippets/abc", Role::Admin),
            (Method::DELETE, "/api/users/bob", Role::Admin),
            (Method::GET, "/api/users", Role::Admin),
            (Method::GET, "/", Role::Viewer),
        ];
        for (method, path, role) in cases {
            assert_eq!(required_role(&method, path), role, "{method} {path}");
        }
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; quarry_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
