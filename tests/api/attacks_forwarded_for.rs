//! Address spoofing (issue 7, rate limiting): with `TRUSTED_PROXIES` excluding loopback, the
//! test client is an untrusted peer, so no forwarding header it invents (a fresh
//! `X-Forwarded-For` on every try, `X-Real-IP`, `Forwarded`, …) resets its rate limit or changes
//! the address recorded for its sessions. The controls (loopback trusted) show the same headers
//! do count when a trusted proxy sends them, so the test tells the two apart.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::plain_client,
    server::TestApp,
    users::{PASSWORD, User},
};

/// Forwarding headers claiming address number `n`.
fn spoofed(request: RequestBuilder, n: u8) -> RequestBuilder {
    let ip = format!("203.0.113.{n}");
    request
        .header("x-forwarded-for", format!("{ip}, 198.51.100.{n}"))
        .header("x-real-ip", &ip)
        .header("forwarded", format!("for={ip};proto=https"))
        .header("true-client-ip", &ip)
        .header("cf-connecting-ip", &ip)
}

async fn sign_in_attempt(app: &TestApp, n: u8) -> (StatusCode, Option<String>, Value) {
    let response = spoofed(plain_client().post(app.url("/api/auth/sign-in/email")), n)
        .json(&json!({"email": "spoofer@example.com", "password": format!("wrong-password-{n}")}))
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_do_not_reset_the_sign_in_limit() {
    // Arrange: limits on; only 10.0.0.0/8 may forward addresses (the test client is 127.0.0.1).
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").var("TRUSTED_PROXIES", "10.0.0.0/8").spawn().await;

    // Act: three tries (the limit), each claiming a new address, then a fourth claiming yet another.
    for n in 1..=3 {
        let (status, _, body) = sign_in_attempt(&app, n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "try {n}: {body}");
    }
    let (status, retry_after, body) = sign_in_attempt(&app, 4).await;

    // Assert: still limited: the invented addresses were ignored.
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a new spoofed address reset the limit: {body}");
    assert!(retry_after.and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| (1..=10).contains(&s)));
}

#[tokio::test]
async fn the_same_headers_from_a_trusted_proxy_do_give_separate_limits() {
    // Arrange: the control: loopback is a trusted proxy.
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;

    // Act + Assert: four tries from four forwarded clients are four different buckets.
    for n in 1..=4 {
        let (status, _, body) = sign_in_attempt(&app, n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "forwarded client {n}: {body}");
    }
}

#[tokio::test]
async fn a_session_records_the_peer_address_not_one_an_untrusted_client_claims() {
    // Arrange
    let untrusted = TestApp::builder().var("TRUSTED_PROXIES", "10.0.0.0/8").spawn().await;
    let trusted = TestApp::builder().var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    let mut recorded = Vec::new();
    for app in [&untrusted, &trusted] {
        let account = User::sign_up(app, "address@example.com").await;

        // Act: sign in claiming 203.0.113.9.
        let response = spoofed(plain_client().post(app.url("/api/auth/sign-in/email")), 9)
            .json(&json!({"email": account.email, "password": PASSWORD}))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        let token = response.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned();
        recorded.push(app.db.session_row(&token).await["ipAddress"].clone());
    }

    // Assert: the untrusted peer is recorded as itself; a trusted proxy's client as forwarded.
    assert_eq!(recorded[0], "127.0.0.1", "an untrusted client chose its own recorded address");
    assert_eq!(recorded[1], "198.51.100.9", "the right-most untrusted hop behind a trusted proxy");
}

#[tokio::test]
async fn by_default_no_peer_is_a_trusted_proxy_so_a_local_proxy_passing_headers_through_changes_nothing() {
    // Issue 13, finding 3: with the old default (loopback trusted), a proxy on the same host
    // that passes the client's X-Forwarded-For through let every request choose its bucket:
    // 12 wrong passwords, each with a new header, all 401. `TRUSTED_PROXIES` is unset here.
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").spawn().await;
    for n in 1..=3 {
        let (status, _, body) = sign_in_attempt(&app, n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "try {n}: {body}");
    }

    let (status, _, body) = sign_in_attempt(&app, 4).await;
    let account = User::sign_up(&app, "local@example.com").await;
    let recorded = app.db.sessions_of(&account.id).await[0]["ipAddress"].clone();

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a new forwarded address reset the limit: {body}");
    assert_eq!(recorded, "127.0.0.1", "the socket peer is the client");
}
