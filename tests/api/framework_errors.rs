//! Framework-level errors are JSON `{code, message}` like every other error.

use reqwest::{Method, StatusCode};

use crate::support::{http::assert_error, server::TestApp};

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = TestApp::spawn().await;
    for path in ["/nope", "/api/auth/nope", "/api/v1/nope", "/api/auth/ok/"] {
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::DELETE, "/health").send().await.expect("sent");
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_json_413_before_anything_is_read() {
    let app = TestApp::builder().var("BODY_LIMIT", "2048").spawn().await;
    let response = app
        .request(Method::POST, "/api/auth/sign-in/email")
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .expect("sent");
    let body = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    assert!(body["message"].as_str().unwrap_or_default().contains("2048"));
}

#[tokio::test]
async fn a_get_without_content_length_is_not_refused() {
    // poem's SizeLimit answers 411 here; ours must not.
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}
