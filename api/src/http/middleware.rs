//! Cross-cutting middleware, applied in `app.rs` in this order (outermost first):
//! [`request_context`] (request id, span, access log, security headers), the JSON error
//! catch-all, [`cors`], then [`body_limit`].
//!
//! The access log records method, path, status and latency, never headers, cookies, tokens or
//! bodies; the one path that carries a secret (a password-reset token) is logged redacted.

use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};
use tracing::Instrument;

use crate::{
    app::AppState,
    error::{ApiError, RequestError},
};

/// The request id header, accepted from the client when sane and echoed on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// Headers a cross-origin script may read.
const EXPOSED_HEADERS: &str = "set-auth-token, x-request-id, etag, location, retry-after, x-retry-after";

/// Request id, tracing span, one access-log line, and security headers on every response.
pub async fn request_context<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let span = tracing::info_span!("request", request.id = %request_id, http.method = %method, http.path = %path);
    let started = Instant::now();
    let mut response = next.get_response(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(http.status = status, latency_ms = format_args!("{latency_ms:.2}"), "request"));

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}

fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The path as logged: reset tokens in `/reset-password/<token>` are replaced.
pub fn loggable_path(path: &str) -> String {
    const RESET: &str = "/api/auth/reset-password/";
    match path.strip_prefix(RESET) {
        Some(rest) if !rest.is_empty() => format!("{RESET}[redacted]"),
        _ => path.to_owned(),
    }
}

/// Refuses a body whose declared `Content-Length` exceeds `BODY_LIMIT` with 413 before any
/// routing or reading; chunked bodies are limited while they are read (`http::body`).
pub async fn body_limit<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let limit = req.data::<AppState>().map_or(1024 * 1024, |state| state.config.body_limit);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::from(RequestError::PayloadTooLarge { limit }).into());
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// CORS with credentials for trusted origins only.
///
/// Unlike a CORS layer that rejects unknown origins, this one never refuses a request: it only
/// decides which responses a browser may hand to a script. Origin policy for writes is the CSRF
/// check's job, which answers with Better Auth's codes. A preflight from an untrusted origin
/// gets a 204 without any `Access-Control-Allow-*` header, so the browser stops there.
pub async fn cors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let trusted = match (&origin, req.data::<AppState>()) {
        (Some(origin), Some(state)) => origin.to_str().is_ok_and(|o| state.origins.is_trusted(o)),
        _ => false,
    };
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

    let mut response = next.call(req).await?.into_response();
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
    fn reset_tokens_never_reach_the_log() {
        assert_eq!(loggable_path("/api/auth/reset-password/abc123"), "/api/auth/reset-password/[redacted]");
        assert_eq!(loggable_path("/api/auth/reset-password"), "/api/auth/reset-password");
        assert_eq!(loggable_path("/api/v1/tasks/5"), "/api/v1/tasks/5");
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
