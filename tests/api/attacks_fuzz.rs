//! Black-box fuzzing of credential parsing (issue 7): arbitrary `Cookie` and `Authorization`
//! header values (printable ASCII of random lengths, and valid-looking signed values with random
//! content, including ones signed with the real secret) against `get-session` and the task list.
//! Never a 5xx, never a session, while a real session exists in the same database.
//!
//! The unit-level proptests of the same parsers live in `api/src/auth/cookies.rs`; this one goes
//! through the real server, its middleware and the database.

use std::sync::Arc;

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::support::{
    http::plain_client,
    server::{SECRET, TestApp},
    users::User,
    wire::{SESSION_COOKIE, encode_uri_component, sign_with},
};

/// A value that looks like a signed token: `<token>.<44-char base64 signature>`, random content,
/// sometimes genuinely signed with the server's secret (a token the server never issued).
fn signed_looking() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9]{1,64}",
        prop::collection::vec(any::<u8>(), 32),
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        any::<bool>(),
    )
        .prop_map(|(token, sig, mode, encode)| {
            use base64::{Engine, engine::general_purpose::STANDARD};
            let value = match mode {
                0 => format!("{token}.{}", STANDARD.encode(&sig)),
                1 => sign_with(&token, SECRET),
                _ => sign_with(&token, "another-secret-another-secret-another-secret"),
            };
            if encode { encode_uri_component(&value) } else { value }
        })
}

/// A `Cookie` header value.
fn cookie_header() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,300}",
        "[ -~]{0,80}".prop_map(|v| format!("{SESSION_COOKIE}={v}")),
        signed_looking().prop_map(|v| format!("{SESSION_COOKIE}={v}")),
        (signed_looking(), "[ -~]{0,40}", signed_looking())
            .prop_map(|(a, junk, b)| format!("{junk}; {SESSION_COOKIE}={a}; {SESSION_COOKIE}=\"{b}\"; x=%E0%A4%A")),
        signed_looking().prop_map(|v| format!("__Secure-{SESSION_COOKIE}={v}; better-auth.dont_remember={v}")),
    ]
}

/// An `Authorization` header value.
fn authorization_header() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,300}",
        "[ -~]{0,120}".prop_map(|v| format!("Bearer {v}")),
        signed_looking().prop_map(|v| format!("Bearer {v}")),
        "[A-Za-z0-9]{0,200}".prop_map(|v| format!("bearer {v}")),
        ("[A-Za-z]{0,10}", signed_looking()).prop_map(|(scheme, v)| format!("{scheme} {v}")),
        signed_looking().prop_map(|v| format!("Bearer   {v}   ")),
    ]
}

/// Sends both probes with the given headers; an error if anything is wrong.
async fn probe(http: &Client, base: &str, cookie: Option<&str>, authorization: Option<&str>) -> Result<(), String> {
    for path in ["/api/auth/get-session", "/api/v1/tasks"] {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.map_err(|err| format!("{path}: no answer: {err}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::String("<not JSON>".to_owned()));
        let ok = match path {
            "/api/auth/get-session" => status == StatusCode::OK && body == Value::Null,
            _ => status == StatusCode::UNAUTHORIZED && body["code"] == "UNAUTHORIZED",
        };
        if !ok {
            return Err(format!("{path} with cookie {cookie:?} authorization {authorization:?}: {status} {body}"));
        }
    }
    Ok(())
}

#[test]
fn arbitrary_cookie_and_authorization_headers_never_give_a_session_or_a_5xx() {
    // Arrange: one server with a real, live session in its database, shared by all cases.
    let runtime =
        Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime"));
    let (app, account) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let account = User::sign_up(&app, "fuzz@example.com").await;
        (app, account)
    });
    let http = plain_client();
    let base = app.base.clone();
    // 192 cases per run; `PROPTEST_CASES=<n>` for a longer one.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(192);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });

    // Act + Assert: cookie alone, authorization alone, and both together.
    let strategy = (cookie_header(), authorization_header(), 0u8..3);
    let result = runner.run(&strategy, |(cookie, authorization, which)| {
        let (cookie, authorization) = match which {
            0 => (Some(cookie.as_str()), None),
            1 => (None, Some(authorization.as_str())),
            _ => (Some(cookie.as_str()), Some(authorization.as_str())),
        };
        runtime.block_on(probe(&http, &base, cookie, authorization)).map_err(TestCaseError::fail)
    });
    if let Err(err) = result {
        panic!("{err}");
    }

    // Control: the real session is still there and works, so "no session" above meant something.
    let body = runtime.block_on(account.session());
    assert_eq!(body["user"]["id"], account.id.as_str());
    runtime.block_on(async move { app.stop().await });
}
