//! Cross-cutting middleware, each a [`Layer`] holding its own settings. `app.rs` applies them
//! in this order (outermost first): [`RequestContext`] (request id, span, access log, security
//! headers), [`Cors`], `Allow` on every 405 (`http::allow`), the JSON error catch-all
//! (`error::ErrorResponses`), the rate limit of `/api/auth` (`auth::rate_limit`), then
//! [`BodyLimit`].
//!
//! The access log records method, path, status and latency, never headers, cookies, tokens or
//! bodies; a path that carries a secret (the APIs name them) is logged redacted.

use std::{borrow::Cow, time::Instant};

use poem::{
    Endpoint, Request, Response,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};
use tracing::Instrument;

use crate::{
    error::{ApiError, RequestError},
    http::{
        body::ReadLimit,
        layer::{Layer, call_next},
        origin::TrustedOrigins,
    },
};

/// The request id header, accepted from the client when sane and echoed on every response.
const REQUEST_ID: &str = "x-request-id";

/// Headers a cross-origin script may read.
const EXPOSED_HEADERS: &str = "set-auth-token, x-request-id, etag, location, retry-after, x-retry-after";

/// Request id, tracing span, one access-log line, and security headers on every response.
pub(crate) struct RequestContext {
    /// Path prefixes whose remainder is a secret, logged as `[redacted]`.
    secret_paths: &'static [&'static str],
}

impl RequestContext {
    /// The layer; `secret_paths` are prefixes whose remainder must never reach the log.
    pub(crate) fn new(secret_paths: &'static [&'static str]) -> Self {
        Self { secret_paths }
    }
}

impl Layer for RequestContext {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let request_id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_sane_request_id(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let method = req.method().clone();
        let span = {
            let path = loggable_path(req.uri().path(), self.secret_paths);
            tracing::info_span!("request", request.id = %request_id, http.method = %method, http.path = %path)
        };
        let started = Instant::now();
        let response = next.get_response(req).instrument(span.clone()).await;
        Ok(finish(response, &span, &request_id, started))
    }
}

/// Logs the access line and adds the request id and security headers.
fn finish(mut response: Response, span: &tracing::Span, request_id: &str, started: Instant) -> Response {
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(http.status = status, latency_ms = format_args!("{latency_ms:.2}"), "request"));

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The path as logged: after a secret prefix, the rest is replaced by `[redacted]`.
fn loggable_path<'a>(path: &'a str, secret_paths: &[&str]) -> Cow<'a, str> {
    for prefix in secret_paths {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return Cow::Owned(format!("{prefix}[redacted]"));
        }
    }
    Cow::Borrowed(path)
}

/// Refuses a body whose declared `Content-Length` exceeds `BODY_LIMIT` with 413 before any
/// routing or reading. A body without a declared length is limited while it is read
/// (`http::body`), which finds the limit in the request's data.
pub(crate) struct BodyLimit {
    limit: usize,
}

impl BodyLimit {
    /// The layer for a limit in bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Layer for BodyLimit {
    async fn call<E: Endpoint>(&self, next: &E, mut req: Request) -> poem::Result<Response> {
        let limit = self.limit;
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::from(RequestError::PayloadTooLarge { limit }).into());
        }
        // Only the methods whose operations read a body need the limit (reads stay as cheap).
        if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
            req.extensions_mut().insert(ReadLimit(limit));
        }
        call_next(next, req).await
    }
}

/// `Cache-Control: no-store` (and `Pragma: no-cache`) on every response under the given path
/// prefixes that does not set its own caching (the public key set does), errors and redirects
/// included: answers there carry tokens, sessions or links that no cache may keep. `app.rs`
/// names the prefixes.
pub(crate) struct NoStore {
    prefixes: &'static [&'static str],
}

impl NoStore {
    /// The layer for these path prefixes.
    pub(crate) fn new(prefixes: &'static [&'static str]) -> Self {
        Self { prefixes }
    }
}

impl Layer for NoStore {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let covered = self.prefixes.iter().any(|prefix| req.uri().path().starts_with(prefix));
        let mut response = call_next(next, req).await?;
        if covered && !response.headers().contains_key(header::CACHE_CONTROL) {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        Ok(response)
    }
}

/// CORS with credentials for trusted origins only.
///
/// Unlike a CORS layer that rejects unknown origins, this one never refuses a request: it only
/// decides which responses a browser may hand to a script. Origin policy for writes is the CSRF
/// check's job, which answers with Better Auth's codes. A preflight from an untrusted origin
/// gets a 204 without any `Access-Control-Allow-*` header, so the browser stops there.
pub(crate) struct Cors {
    origins: TrustedOrigins,
}

impl Cors {
    /// The layer for these trusted origins.
    pub(crate) fn new(origins: TrustedOrigins) -> Self {
        Self { origins }
    }
}

impl Layer for Cors {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        cors(&self.origins, next, req).await
    }
}

async fn cors<E: Endpoint>(origins: &TrustedOrigins, next: &E, req: Request) -> poem::Result<Response> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let trusted = origin.as_ref().is_some_and(|origin| origin.to_str().is_ok_and(|o| origins.is_trusted(o)));
    let is_preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
        let requested_headers = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        let headers = response.headers_mut();
        add_vary(headers, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
        if let (true, Some(origin)) = (trusted, origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            if let Some(requested) = requested_headers {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
            }
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        return Ok(response);
    }

    let mut response = call_next(next, req).await?;
    let headers = response.headers_mut();
    add_vary(headers, "Origin");
    if let (true, Some(origin)) = (trusted, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        let exposed = match headers.get(header::ACCESS_CONTROL_EXPOSE_HEADERS).and_then(|v| v.to_str().ok()) {
            Some(existing) => merge_header_lists(existing, EXPOSED_HEADERS),
            None => EXPOSED_HEADERS.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&exposed) {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
    }
    Ok(response)
}

/// `existing` plus the names of `extra` it does not list yet (header names are case-insensitive),
/// so a handler's own `Access-Control-Expose-Headers` (the bearer plugin's `set-auth-token`) is
/// kept and nothing is listed twice.
fn merge_header_lists(existing: &str, extra: &str) -> String {
    let mut names: Vec<&str> = existing.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
    for name in extra.split(',').map(str::trim) {
        if !names.iter().any(|listed| listed.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    names.join(", ")
}

fn add_vary(headers: &mut HeaderMap, value: &'static str) {
    headers.append(header::VARY, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_paths_never_reach_the_log() {
        let secret = &["/api/auth/reset-password/"];
        assert_eq!(loggable_path("/api/auth/reset-password/abc123", secret), "/api/auth/reset-password/[redacted]");
        assert_eq!(loggable_path("/api/auth/reset-password", secret), "/api/auth/reset-password");
        assert_eq!(loggable_path("/api/v1/tasks/5", secret), "/api/v1/tasks/5");
    }

    #[test]
    fn exposed_header_lists_merge_without_duplicates() {
        assert_eq!(
            merge_header_lists("set-auth-token", "set-auth-token, x-request-id"),
            "set-auth-token, x-request-id"
        );
        assert_eq!(merge_header_lists("ETag", "etag, location"), "ETag, location");
        assert_eq!(merge_header_lists("", "x-request-id"), "x-request-id");
    }

    #[test]
    fn request_ids_are_bounded_printable_ascii() {
        assert!(is_sane_request_id("abc-123"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id(&"x".repeat(129)));
    }
}
