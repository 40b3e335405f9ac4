//! Shared pieces of the auth tests: Better Auth's cookie format recomputed independently of the
//! server (HMAC-SHA256, padded standard base64, `encodeURIComponent`; `better-auth-wire.md`
//! §4.3), the exact `Set-Cookie` lines to expect (§4.2), and reading and writing Better Auth's
//! column encodings directly in the test database (§8.2: ISO text with milliseconds on SQLite,
//! `timestamptz` on PostgreSQL).

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

use crate::helpers::{PASSWORD, SECRET, TestApp, header_str, plain_client};

pub const SIGN_UP: &str = "/api/auth/sign-up/email";
pub const SIGN_IN: &str = "/api/auth/sign-in/email";
pub const SIGN_OUT: &str = "/api/auth/sign-out";
pub const GET_SESSION: &str = "/api/auth/get-session";

/// The session cookie's name on plain-http deployments.
pub const SESSION_COOKIE: &str = "better-auth.session_token";
/// Seven days, the session lifetime and the cookie's `Max-Age`.
pub const WEEK_SECS: u64 = 604_800;

/// What sign-out (and a stale session) sends: the three cookies cleared, in Better Auth's order.
pub const CLEARED: [&str; 3] = [
    "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
];

/// `value.base64(HMAC-SHA256(secret, value))`: what `set-auth-token` carries.
pub fn sign_with(value: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    format!("{value}.{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// [`sign_with`] the test server's secret.
pub fn sign(value: &str) -> String {
    sign_with(value, SECRET)
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The cookie value Better Auth writes for a token: signed, then URI-encoded.
pub fn cookie_value(token: &str) -> String {
    encode_uri_component(&sign(token))
}

/// A `Cookie` request header presenting `token` as the session.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={}", cookie_value(token))
}

/// The exact `Set-Cookie` line for a session token (`max_age: None` = browser-session cookie).
pub fn session_cookie_line(token: &str, max_age: Option<u64>) -> String {
    let max_age = max_age.map(|age| format!("; Max-Age={age}")).unwrap_or_default();
    format!("{SESSION_COOKIE}={}{max_age}; Path=/; HttpOnly; SameSite=Lax", cookie_value(token))
}

/// The exact `Set-Cookie` line of the `dont_remember` flag.
pub fn dont_remember_line() -> String {
    format!("better-auth.dont_remember={}; Path=/; HttpOnly; SameSite=Lax", encode_uri_component(&sign("true")))
}

/// Lower-case hex SHA-256, how the server stores session tokens by default.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Better Auth's ids and tokens: 32 characters of `[a-zA-Z0-9]`.
pub fn is_generated_id(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// JavaScript's `toISOString()` form: `2026-11-28T06:36:38.913Z`, exactly three fraction digits.
pub fn is_iso_millis(value: &Value) -> bool {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    value.as_str().is_some_and(|s| s.len() == 24 && time::PrimitiveDateTime::parse(s, format).is_ok())
}

/// Parses an ISO date from a response body or from [`TestApp::query`].
pub fn parse_time(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("expected a date, got {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|err| panic!("{text} is not a date: {err}"))
}

/// A date as Better Auth stores it: 24-character ISO text on SQLite, `timestamptz` on PostgreSQL.
pub fn db_time(backend: DatabaseBackend, at: OffsetDateTime) -> sea_orm::Value {
    match backend {
        DatabaseBackend::Sqlite => {
            let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
            at.to_offset(time::UtcOffset::UTC).format(format).expect("formats").into()
        }
        _ => at.into(),
    }
}

/// Asserts `at` is within a minute of `expected` (time passes while a test runs; this is not a
/// latency check).
pub fn assert_about(at: OffsetDateTime, expected: OffsetDateTime, what: &str) {
    let off = (at - expected).abs();
    assert!(off < time::Duration::minutes(1), "{what}: {at} is not about {expected}");
}

/// Whether a value read back from a boolean column is false (`0` on SQLite, `false` on PostgreSQL).
pub fn is_false(value: &Value) -> bool {
    *value == json!(false) || *value == json!(0)
}

/// Asserts an error response byte for byte: status, JSON content type, and the whole body.
pub async fn assert_error_body(response: Response, status: StatusCode, code: &str, message: &str) {
    let got = response.status();
    let content_type = header_str(&response, "content-type").unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "status; body: {body}");
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    assert_eq!(body, json!({"code": code, "message": message}));
}

/// A signed-up user and the raw token of its session.
pub struct SignedUp {
    /// The raw session token (the response's `token`).
    pub token: String,
    /// The user's id.
    pub user_id: String,
}

/// Signs up with a cookie-less client (like curl) and returns the session token and user id.
pub async fn sign_up_user(app: &TestApp, email: &str) -> SignedUp {
    let response = plain_client()
        .post(app.url(SIGN_UP))
        .json(&json!({"name": "Test User", "email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK, "sign-up of {email}");
    let body: Value = response.json().await.expect("JSON body");
    SignedUp {
        token: body["token"].as_str().expect("token").to_owned(),
        user_id: body["user"]["id"].as_str().expect("user id").to_owned(),
    }
}

/// `GET /get-session` presenting a `Cookie` header, with a client that holds no cookies.
pub async fn get_session_with_cookie(app: &TestApp, cookie: &str) -> Response {
    plain_client().get(app.url(GET_SESSION)).header("cookie", cookie).send().await.expect("request sent")
}

/// `GET /get-session` presenting `Authorization: Bearer <value>`.
pub async fn get_session_with_bearer(app: &TestApp, value: &str) -> Response {
    plain_client()
        .get(app.url(GET_SESSION))
        .header("authorization", format!("Bearer {value}"))
        .send()
        .await
        .expect("request sent")
}

/// The body of a response that must be 200, as text.
pub async fn ok_text(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("body")
}

/// The session rows of a user, oldest first.
pub async fn sessions_of(app: &TestApp, user_id: &str) -> Vec<Value> {
    app.query(r#"SELECT * FROM "session" WHERE "userId" = $1 ORDER BY "createdAt""#, vec![user_id.into()]).await
}

/// The session row stored for a raw token (hashed storage).
pub async fn session_row(app: &TestApp, token: &str) -> Value {
    let rows = app.query(r#"SELECT * FROM "session" WHERE "token" = $1"#, vec![sha256_hex(token).into()]).await;
    assert_eq!(rows.len(), 1, "one session row for the token");
    rows.into_iter().next().expect("one row")
}

/// Sets a session's `expiresAt`, as a clock moving forward would.
pub async fn set_expires_at(app: &TestApp, session_id: &str, at: OffsetDateTime) {
    execute(
        app,
        r#"UPDATE "session" SET "expiresAt" = $1 WHERE "id" = $2"#,
        vec![db_time(app.backend(), at), session_id.into()],
    )
    .await;
}

/// Runs a statement on the test database; returns the number of rows it changed.
pub async fn execute(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
    let statement = Statement::from_sql_and_values(app.backend(), sql, values);
    app.db.execute_raw(statement).await.expect("statement runs").rows_affected()
}

/// `SELECT count(*)` of a table.
pub async fn count_rows(app: &TestApp, table: &str) -> i64 {
    app.count(&format!(r#"SELECT count(*) FROM "{table}""#), vec![]).await
}
