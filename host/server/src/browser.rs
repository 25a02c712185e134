//! What keeps a web page elsewhere from driving the server through a visitor's browser.
//!
//! - **Host.** A request is answered only when its `Host` is an IP address, `localhost`,
//!   the host of `--public-url`, or a name given with `--allow-host`. A DNS-rebinding page
//!   reaches the server under its own name, so it is refused before any handler runs.
//! - **Origin.** A request that may change something (any method but `GET`, `HEAD` and
//!   `OPTIONS`) from a page of another origin is refused: its `Origin` must be the server's
//!   own (the `Host` it was sent to, or `--public-url`) or the `--cors-origin`. Without an
//!   `Origin`, `Sec-Fetch-Site` must not say the page is from another site; a client that
//!   sends neither (curl, scripts) is no browser and passes.
//! - **Headers.** Every answer carries `X-Content-Type-Options: nosniff`; pages carry a
//!   `Content-Security-Policy` that allows this origin's own scripts and styles only and
//!   no framing. There are no CORS headers unless `--cors-origin` names one origin
//!   (tower-http's CORS layer, [`Allowed::cors`]).
//!
//! JSON endpoints also refuse a body that is not `application/json` (415), which a page
//! elsewhere cannot send without CORS's consent; see [`json_content`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, App};

/// The policy for HTML pages: this origin's scripts, styles, images and API, nothing
/// inline, no plugins, no framing.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// A page's nonce for the `<style>` elements its scripts add (the code editor's): put in
/// the response's extensions, it joins the page's style policy.
#[derive(Clone, Debug)]
pub(crate) struct StyleNonce(pub(crate) String);

impl StyleNonce {
    /// A fresh nonce: 128 random bits, base64.
    pub(crate) fn new() -> StyleNonce {
        use base64::Engine;
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the system has randomness");
        StyleNonce(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

/// The names and origins the server answers to, besides IP addresses and `localhost`.
#[derive(Clone, Debug, Default)]
pub struct Allowed {
    /// Host names, lowercase, without ports.
    hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose pages may send state-changing requests.
    origins: Vec<String>,
    /// The one origin that gets CORS headers.
    cors: Option<HeaderValue>,
}

impl Allowed {
    /// The CORS layer for `--cors-origin`: that origin's pages may call the API (and
    /// send the token) from their scripts. None without the flag: no CORS headers at all.
    pub(crate) fn cors(&self) -> Option<tower_http::cors::CorsLayer> {
        use tower_http::cors::CorsLayer;
        let origin = self.cors.clone()?;
        Some(
            CorsLayer::new()
                .allow_origin(tower_http::cors::AllowOrigin::list([origin]))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
                .expose_headers([header::HeaderName::from_static("x-request-id")]),
        )
    }
}

impl Allowed {
    /// From the server's settings: `--public-url`, `--allow-host`, `--cors-origin`.
    pub fn new(
        public_url: Option<&str>,
        hosts: &[String],
        cors_origin: Option<&str>,
    ) -> Result<Self, BadAddress> {
        let mut allowed = Allowed::default();
        for host in hosts {
            allowed.hosts.push(host_name(host).to_ascii_lowercase());
        }
        if let Some(url) = public_url {
            let origin = origin_of(url).ok_or_else(|| BadAddress(url.to_owned()))?;
            let (_, authority) = origin.split_once("://").expect("an origin has a scheme");
            allowed
                .hosts
                .push(host_name(authority).to_ascii_lowercase());
            allowed.origins.push(origin);
        }
        if let Some(cors) = cors_origin {
            let origin = origin_of(cors).ok_or_else(|| BadAddress(cors.to_owned()))?;
            allowed.cors =
                Some(HeaderValue::from_str(&origin).map_err(|_| BadAddress(cors.to_owned()))?);
            allowed.origins.push(origin);
        }
        Ok(allowed)
    }

    /// Whether `--public-url` is `https://`, so cookies may be `Secure`.
    pub(crate) fn is_https(&self) -> bool {
        self.origins
            .first()
            .is_some_and(|o| o.starts_with("https://"))
    }

    fn answers_to(&self, host: &str) -> bool {
        let name = host_name(host);
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Whether a page at `origin` may change things on a server reached as `host`.
    fn trusts(&self, origin: &str, host: Option<&str>) -> bool {
        let own = origin
            .split_once("://")
            .is_some_and(|(_, authority)| host.is_some_and(|h| authority.eq_ignore_ascii_case(h)));
        own || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// A URL that is not `http(s)://host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an http:// or https:// URL with a host")]
pub struct BadAddress(String);

/// `scheme://host[:port]` of an http(s) URL, lowercase.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The name in `host[:port]` (an IPv6 address keeps its brackets).
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The layer: refuses foreign hosts and origins, then adds the security headers.
pub(crate) async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let allowed = &app.settings.allowed;
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if let Some(host) = host
        && !allowed.answers_to(host)
    {
        tracing::warn!(
            host,
            "refused a request for a host this server does not answer to"
        );
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            format!(
                "this server does not answer to the host `{host}`; if that is its name, \
                 start it with --public-url or --allow-host"
            ),
        )
        .into_response();
    }
    let changes_things = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_things && let Some(refusal) = foreign_page(headers, host, allowed) {
        tracing::warn!(refusal, "refused a request from another site's page");
        return ApiError::new(StatusCode::FORBIDDEN, "foreign_origin", refusal).into_response();
    }
    let mut response = next.run(request).await;
    let out = response.headers_mut();
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_page = out
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_page {
        let policy = match response.extensions().get::<StyleNonce>() {
            // The editor's styles, which it adds as `<style nonce>` elements.
            Some(StyleNonce(nonce)) => HeaderValue::from_str(&PAGE_POLICY.replace(
                "style-src 'self'",
                &format!("style-src 'self' 'nonce-{nonce}'"),
            ))
            .unwrap_or(HeaderValue::from_static(PAGE_POLICY)),
            None => HeaderValue::from_static(PAGE_POLICY),
        };
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Why a state-changing request comes from another site's page, if it does.
fn foreign_page(headers: &HeaderMap, host: Option<&str>, allowed: &Allowed) -> Option<String> {
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if allowed.trusts(origin, host) => None,
        Some(Ok(origin)) => Some(format!(
            "a page at {origin} may not send requests that change anything here"
        )),
        Some(Err(_)) => Some("the request's Origin is not readable".into()),
        None => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("cross-site" | "same-site") => Some(
                "a page of another site may not send requests that change anything here".into(),
            ),
            _ => None,
        },
    }
}

/// Refuses a JSON endpoint's body unless it says it is `application/json`: a page of
/// another site can post `text/plain` or a form without asking, but not JSON.
pub(crate) fn json_content(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "send the body as JSON with `Content-Type: application/json` (it was `{}`)",
            if content_type.is_empty() {
                "none"
            } else {
                content_type
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_addresses_localhost_or_named() {
        let allowed = Allowed::new(
            Some("https://Quarry.example.com/base"),
            &["team-box:8080".into()],
            None,
        )
        .unwrap();
        for host in [
            "127.0.0.1:8080",
            "10.1.2.3",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "quarry.example.com",
            "team-box:9000",
        ] {
            assert!(allowed.answers_to(host), "{host}");
        }
        for host in [
            "evil.example",
            "localhost.evil.example:8080",
            "quarry.example.com.evil",
        ] {
            assert!(!allowed.answers_to(host), "{host}");
        }
    }

    #[test]
    fn only_the_own_origin_and_the_named_ones_are_trusted() {
        let allowed = Allowed::new(
            Some("https://quarry.example.com"),
            &[],
            Some("https://tools.example.com/"),
        )
        .unwrap();
        let host = Some("127.0.0.1:8080");
        assert!(allowed.trusts("http://127.0.0.1:8080", host));
        assert!(allowed.trusts("https://quarry.example.com", host));
        assert!(allowed.trusts("https://tools.example.com", host));
        assert!(!allowed.trusts("http://127.0.0.1:3000", host));
        assert!(!allowed.trusts("http://localhost:8080", host));
        assert!(!allowed.trusts("null", host));
        assert!(!allowed.trusts("https://evil.example", None));
        assert_eq!(allowed.cors.unwrap(), "https://tools.example.com");
    }

    #[test]
    fn addresses_that_are_not_http_urls_are_refused() {
        for bad in [
            "quarry.example.com",
            "ftp://x",
            "https://",
            "https://user@host",
        ] {
            assert!(Allowed::new(Some(bad), &[], None).is_err(), "{bad}");
        }
    }
}
