//! Rate limiting with `RATE_LIMIT_ENABLED=true` (`docs/better-auth-wire.md` §7.3): 3 sign-in
//! attempts per 10 s per client address, keyed by the address the server trusts, never by one
//! the client merely claims.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::support::{
    http::{header_str, plain_client},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, SIGN_UP, User},
};

/// The exact body of a 429, which has no `code`.
const TOO_MANY: &str = r#"{"message":"Too many requests. Please try again later."}"#;

/// A sign-in attempt for an unknown account, claiming to come from `forwarded_for`.
async fn attempt_from(app: &TestApp, forwarded_for: &str) -> Response {
    plain_client()
        .post(app.url(SIGN_IN))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": "nobody@example.com", "password": "wrong-password"}))
        .send()
        .await
        .expect("sent")
}

/// Asserts a 429 with Better Auth's body and both retry headers.
async fn assert_rate_limited(response: Response, context: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{context}");
    let retry_after = header_str(&response, "retry-after").expect("Retry-After");
    assert_eq!(header_str(&response, "x-retry-after").as_deref(), Some(retry_after.as_str()), "X-Retry-After");
    let seconds: u64 = retry_after.parse().expect("whole seconds");
    assert!((1..=10).contains(&seconds), "within the 10 s window: {seconds}");
    assert!(header_str(&response, "content-type").unwrap_or_default().starts_with("application/json"));
    assert_eq!(response.text().await.expect("body"), TOO_MANY, "{context}");
}

#[tokio::test]
async fn the_fourth_sign_in_within_ten_seconds_returns_429() {
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").spawn().await;
    User::sign_up(&app, "alice@example.com").await;
    for attempt in 1..=3 {
        let response = app.sign_in("alice@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "attempt {attempt}");
    }

    let fourth = app.sign_in("alice@example.com", PASSWORD).await;

    assert_rate_limited(fourth, "fourth sign-in").await;
    assert_eq!(app.db.count_rows("session").await, 4, "the refused sign-in created no session");
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_reset_the_limit() {
    // Loopback is not a trusted proxy here, so every request counts as 127.0.0.1.
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").var("TRUSTED_PROXIES", "10.0.0.0/8").spawn().await;
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(attempt_from(&app, client).await.status(), StatusCode::UNAUTHORIZED, "{client}");
    }

    let fourth = attempt_from(&app, "198.51.100.4").await;

    assert_rate_limited(fourth, "a new claimed address is the same client").await;
}

#[tokio::test]
async fn clients_forwarded_by_a_trusted_proxy_have_separate_buckets() {
    // Loopback is a trusted proxy by default, so X-Forwarded-For names the client.
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").spawn().await;
    for attempt in 1..=3 {
        assert_eq!(attempt_from(&app, "198.51.100.1").await.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }

    let same_client = attempt_from(&app, "198.51.100.1").await;
    let other_client = attempt_from(&app, "198.51.100.2").await;

    assert_rate_limited(same_client, "the fourth attempt of 198.51.100.1").await;
    assert_eq!(other_client.status(), StatusCode::UNAUTHORIZED, "198.51.100.2 has its own bucket");
}

#[tokio::test]
async fn sign_up_and_sign_in_are_limited_separately() {
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").spawn().await;
    for attempt in 1..=3 {
        assert_eq!(attempt_from(&app, "198.51.100.7").await.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    assert_rate_limited(attempt_from(&app, "198.51.100.7").await, "sign-in exhausted").await;

    let sign_up = plain_client()
        .post(app.url(SIGN_UP))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"name": "N", "email": "new@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");

    assert_eq!(sign_up.status(), StatusCode::OK, "the bucket is per path");
}
