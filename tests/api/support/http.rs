//! Test HTTP clients ([`ClientOptions`]: like curl or a native app, or like a browser page on the
//! trusted origin), reading responses, and the assertions every error answer must pass.

use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, Response, StatusCode, header, redirect::Policy};
use serde_json::{Value, json};

use crate::support::server::ORIGIN;

/// How a test client behaves. The default is like curl or a native app: no cookie jar, no
/// `Origin`, redirects followed, and a 30 s timeout so a hang fails the test instead of stalling
/// it.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    browser: bool,
    follow_redirects: bool,
    timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { browser: false, follow_redirects: true, timeout: Duration::from_secs(30) }
    }
}

impl ClientOptions {
    /// Like a browser page on the trusted origin: keeps cookies and sends `Origin` on every
    /// request.
    pub fn browser(self) -> Self {
        Self { browser: true, ..self }
    }

    /// Does not follow redirects (to read a `302 Location`).
    pub fn no_redirects(self) -> Self {
        Self { follow_redirects: false, ..self }
    }

    /// Gives up on a request after `timeout`.
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The client.
    pub fn build(self) -> Client {
        let mut builder = Client::builder().timeout(self.timeout);
        if self.browser {
            let mut headers = header::HeaderMap::new();
            headers.insert(header::ORIGIN, header::HeaderValue::from_static(ORIGIN));
            builder = builder.cookie_store(true).default_headers(headers);
        }
        if !self.follow_redirects {
            builder = builder.redirect(Policy::none());
        }
        builder.build().expect("client builds")
    }
}

/// A client like curl or a native app: no cookies, no `Origin`.
pub fn plain_client() -> Client {
    ClientOptions::default().build()
}

/// A client like a browser page on the trusted origin: a cookie jar, `Origin` on every request.
pub fn browser_client() -> Client {
    ClientOptions::default().browser().build()
}

/// A [`plain_client`] that does not follow redirects.
pub fn no_redirect_client() -> Client {
    ClientOptions::default().no_redirects().build()
}

/// A header's value as text.
pub fn header_str(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Every `Set-Cookie` line of a response, in order.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
}

/// A query parameter of a URL, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).unwrap_or_else(|err| panic!("{url} is a URL: {err}"));
    parsed.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// Asserts that a response carries JSON (`application/json`, any parameters).
pub fn assert_json(response: &Response) {
    let content_type = header_str(response, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content type {content_type:?}");
}

/// The body of a response that must be 200, as text.
pub async fn ok_text(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("body")
}

/// The body of a response that must be 200, as JSON.
pub async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asserts an error response: status, JSON content type, `code` and a non-empty `message`;
/// returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let got = response.status();
    let content_type = header_str(&response, "content-type").unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "status; body: {body}");
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message present; body: {body}");
    body
}

/// Asserts an error response byte for byte: status, JSON content type, and the whole body.
pub async fn assert_error_body(response: Response, status: StatusCode, code: &str, message: &str) {
    let body = assert_error(response, status, code).await;
    assert_eq!(body, json!({"code": code, "message": message}));
}

/// Asserts the service-unavailable answer: 503, JSON `SERVICE_UNAVAILABLE`, a positive
/// `Retry-After`.
pub fn assert_unavailable(status: StatusCode, retry_after: Option<&str>, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{what}: {body}");
    let retry = retry_after.and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{what}: Retry-After is a positive number of seconds: {retry_after:?}");
}

/// An answer as the timing tests look at it: status, `Retry-After`, the JSON body (`null` when it
/// is not JSON) and how long it took.
pub type TimedAnswer = (StatusCode, Option<String>, Value, Duration);

/// Sends `request` and times its answer; `None` when no HTTP answer came (the connection dropped,
/// or the request's own timeout passed first).
pub async fn send_timed(request: RequestBuilder) -> Option<TimedAnswer> {
    let started = Instant::now();
    let response = request.send().await.ok()?;
    let status = response.status();
    let retry_after = header_str(&response, "retry-after");
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, retry_after, body, started.elapsed()))
}
