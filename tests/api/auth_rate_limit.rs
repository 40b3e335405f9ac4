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
    // Loopback is the trusted proxy here, so X-Forwarded-For names the client.
    let app = limited_app(&[]).await;
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
    let app = limited_app(&[]).await;
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

/// A request from `client` (forwarded by the loopback proxy the test server trusts).
fn from(app: &TestApp, method: reqwest::Method, path: &str, client: &str) -> reqwest::RequestBuilder {
    plain_client().request(method, app.url(path)).header("x-forwarded-for", client)
}

/// A server with rate limits on that trusts the loopback proxy's `X-Forwarded-For`.
async fn limited_app(vars: &[(&str, &str)]) -> TestApp {
    let builder = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").var("TRUSTED_PROXIES", "127.0.0.1/32");
    vars.iter().fold(builder, |builder, (name, value)| builder.var(name, value)).spawn().await
}

#[tokio::test]
async fn unknown_paths_under_api_auth_share_one_bucket_per_client() {
    // Issue 13, finding 1: a new unknown path per request must not be a new bucket (each was an
    // entry of its own, so unique paths grew memory without bound).
    let app = limited_app(&[("RATE_LIMIT_MAX", "3")]).await;
    for n in 1..=3 {
        let response = from(&app, reqwest::Method::GET, &format!("/api/auth/no-such-path-{n}"), "198.51.100.1")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "path {n}");
    }

    let fourth =
        from(&app, reqwest::Method::GET, "/api/auth/yet-another-path", "198.51.100.1").send().await.expect("sent");
    let other_client =
        from(&app, reqwest::Method::GET, "/api/auth/no-such-path-1", "198.51.100.2").send().await.expect("sent");
    let known = from(&app, reqwest::Method::GET, "/api/auth/get-session", "198.51.100.1").send().await.expect("sent");

    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS, "a fourth unknown path is the same bucket");
    assert_eq!(other_client.status(), StatusCode::NOT_FOUND, "another client has its own bucket");
    assert_eq!(known.status(), StatusCode::OK, "a documented operation has its own bucket");
}

#[tokio::test]
async fn delete_user_with_wrong_passwords_is_limited_like_sign_in() {
    // Issue 13, finding 5: every operation that checks a password is under the strict rule, so
    // none is a faster password oracle than sign-in.
    let app = limited_app(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    for attempt in 1..=3 {
        let response = ann
            .request(reqwest::Method::POST, "/api/auth/delete-user")
            .header("x-forwarded-for", "198.51.100.3")
            .json(&json!({"password": format!("wrong-password-{attempt}")}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "attempt {attempt}");
    }

    let fourth = ann
        .request(reqwest::Method::POST, "/api/auth/delete-user")
        .header("x-forwarded-for", "198.51.100.3")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect("sent");

    assert_rate_limited(fourth, "the fourth password guess through delete-user").await;
    assert_eq!(app.db.count_rows("user").await, 1, "the refused request deleted nothing");
}

#[tokio::test]
async fn reset_and_verification_mail_share_one_budget_per_client_address() {
    // Issue 13, finding 3: alternating between the mail operations sends no more mail from one
    // address than either alone (3 per minute).
    let app = limited_app(&[]).await;
    let reset = |client: &'static str, n: u32| {
        from(&app, reqwest::Method::POST, "/api/auth/request-password-reset", client)
            .json(&json!({"email": format!("victim-{n}@example.com")}))
            .send()
    };
    let verification = |client: &'static str, n: u32| {
        from(&app, reqwest::Method::POST, "/api/auth/send-verification-email", client)
            .json(&json!({"email": format!("victim-{n}@example.com")}))
            .send()
    };
    assert_eq!(reset("198.51.100.4", 1).await.expect("sent").status(), StatusCode::OK);
    assert_eq!(verification("198.51.100.4", 2).await.expect("sent").status(), StatusCode::OK);
    assert_eq!(reset("198.51.100.4", 3).await.expect("sent").status(), StatusCode::OK);

    let fourth = verification("198.51.100.4", 4).await.expect("sent");
    let other_client = verification("198.51.100.5", 5).await.expect("sent");

    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS, "the fourth mail from one address in a minute");
    let seconds: u64 = header_str(&fourth, "retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&seconds), "within the mail rule's minute: {seconds}");
    assert_eq!(other_client.status(), StatusCode::OK, "another address has its own budget");
}
