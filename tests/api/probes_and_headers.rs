//! Probes (`/health`, `/ready`, Better Auth's `ok`) and the headers every response gets: security
//! headers, the request id, and CORS for trusted origins only.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    http::{header_str, plain_client},
    server::{ORIGIN, TestApp},
};

#[tokio::test]
async fn health_answers_ok_without_the_database() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("json"), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn ready_answers_ready_when_the_database_is_reachable() {
    let app = TestApp::spawn().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "ready");
}

#[tokio::test]
async fn auth_ok_answers_like_better_auth() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/auth/ok").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), r#"{"ok":true}"#);
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/api/auth/ok", "/no/such/route"] {
        let response = app.get(path).await;
        assert_eq!(header_str(&response, "x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header_str(&response, "referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        let id = header_str(&response, "x-request-id").expect("request id");
        assert_eq!(id.len(), 36, "generated ids are UUIDs: {id}");
    }
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_an_insane_one_replaced() {
    let app = TestApp::spawn().await;
    let echoed = app
        .request(reqwest::Method::GET, "/health")
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(header_str(&echoed, "x-request-id").as_deref(), Some("trace-abc-123"));
    let long = "x".repeat(500);
    let replaced =
        app.request(reqwest::Method::GET, "/health").header("x-request-id", &long).send().await.expect("sent");
    assert_ne!(header_str(&replaced, "x-request-id").as_deref(), Some(long.as_str()));
}

#[tokio::test]
async fn cors_allows_credentials_for_trusted_origins_only() {
    let app = TestApp::spawn().await;
    let client = plain_client();
    let trusted = client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization")
        .send()
        .await
        .expect("sent");
    assert_eq!(trusted.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&trusted, "access-control-allow-origin").as_deref(), Some(ORIGIN));
    assert_eq!(header_str(&trusted, "access-control-allow-credentials").as_deref(), Some("true"));
    assert!(header_str(&trusted, "access-control-allow-methods").unwrap_or_default().contains("PATCH"));

    let untrusted = client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("sent");
    assert!(untrusted.headers().get("access-control-allow-origin").is_none());
    assert!(untrusted.headers().get("access-control-allow-credentials").is_none());

    let simple = client.get(app.url("/health")).header("origin", ORIGIN).send().await.expect("sent");
    assert_eq!(header_str(&simple, "access-control-allow-origin").as_deref(), Some(ORIGIN));
    assert!(header_str(&simple, "access-control-expose-headers").unwrap_or_default().contains("set-auth-token"));
    assert!(header_str(&simple, "vary").unwrap_or_default().contains("Origin"));

    let foreign = client.get(app.url("/health")).header("origin", "https://evil.example").send().await.expect("sent");
    assert_eq!(foreign.status(), StatusCode::OK, "reads are not refused, only not shared");
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn every_auth_answer_carrying_a_token_a_session_or_a_link_is_no_store() {
    // Issue 13, "Also": sign-in, sign-up, get-session, change-password, list-sessions, the
    // reset link's redirect and the errors must not be kept by any cache.
    let (app, outbox) = crate::support::mail::spawn_with_outbox(&[]).await;
    let ann =
        crate::support::users::User::sign_up_via(&app, "ann@example.com", crate::support::users::Via::Bearer).await;
    let client = crate::support::http::no_redirect_client();
    let password = crate::support::users::PASSWORD;
    let sign_up = app.sign_up("bob@example.com").await;
    let sign_in = app.sign_in("ann@example.com", password).await;
    let get_session = ann.get("/api/auth/get-session").await;
    let list = ann.get("/api/auth/list-sessions").await;
    let change = ann
        .post(
            "/api/auth/change-password",
            &serde_json::json!({"currentPassword": password, "newPassword": "another password"}),
        )
        .await;
    let wrong = app.sign_in("ann@example.com", "wrong password").await;
    let requested =
        app.post_json("/api/auth/request-password-reset", &serde_json::json!({"email": "ann@example.com"})).await;
    assert_eq!(requested.status(), reqwest::StatusCode::OK);
    let link = outbox.wait_for("ann@example.com").await["url"].as_str().expect("url").to_owned();
    let opened = client.get(&link).send().await.expect("sent");

    for (what, response) in [
        ("sign-up", sign_up),
        ("sign-in", sign_in),
        ("get-session", get_session),
        ("list-sessions", list),
        ("change-password", change),
        ("a refused sign-in", wrong),
        ("the reset link's redirect", opened),
    ] {
        let cache_control = crate::support::http::header_str(&response, "cache-control");
        assert_eq!(cache_control.as_deref(), Some("no-store"), "{what} ({})", response.status());
    }
}
