//! CSRF defences (`docs/better-auth-wire.md` §7.1–§7.2): cookie-carrying writes need a trusted
//! origin, sign-in and sign-up refuse cross-site navigations and untrusted origins, and
//! redirect targets must be trusted. A refused request has no effect.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error_body, plain_client},
    server::{ORIGIN, TestApp},
    users::{PASSWORD, SIGN_IN, SIGN_OUT, SIGN_UP, User, get_session_with_cookie, sign_in_with_headers},
    wire::session_cookie,
};

/// `POST /sign-out` presenting the session cookie, with `headers`.
async fn sign_out_with(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = plain_client().post(app.url(SIGN_OUT)).header("cookie", session_cookie(token)).json(&json!({}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent")
}

/// Asserts the session still works (the refused request changed nothing).
async fn assert_session_alive(app: &TestApp, token: &str) {
    let body: Value = get_session_with_cookie(app, &session_cookie(token)).await.json().await.expect("JSON");
    assert_eq!(body["session"]["token"], json!(token), "the session still works");
}

#[tokio::test]
async fn sign_out_with_a_cookie_but_no_origin_returns_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "alice@example.com").await;

    for headers in [&[][..], &[("origin", "null")][..], &[("origin", "")][..]] {
        let response = sign_out_with(&app, &user.token, headers).await;

        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(response.headers().get("set-cookie").is_none(), "{headers:?}: cookies untouched");
        assert_error_body(response, StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin").await;
    }
    assert_session_alive(&app, &user.token).await;
}

#[tokio::test]
async fn sign_out_with_a_cookie_from_an_untrusted_origin_returns_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "bob@example.com").await;
    let cases = [
        [("origin", "https://evil.example")],
        [("origin", "http://localhost:3001")],
        [("origin", "https://localhost:3000")],
        [("referer", "https://evil.example/page")],
    ];

    for headers in cases {
        let response = sign_out_with(&app, &user.token, &headers).await;

        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert_error_body(response, StatusCode::FORBIDDEN, "INVALID_ORIGIN", "Invalid origin").await;
    }
    assert_session_alive(&app, &user.token).await;
}

#[tokio::test]
async fn sign_out_with_a_cookie_and_a_trusted_referer_is_accepted() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "carol@example.com").await;

    let response = sign_out_with(&app, &user.token, &[("referer", "http://localhost:3000/settings?tab=2")]).await;

    assert_eq!(response.status(), StatusCode::OK, "a Referer counts by its origin");
    assert_eq!(app.db.count_rows("session").await, 0);
}

#[tokio::test]
async fn any_cookie_makes_a_write_need_an_origin() {
    let app = TestApp::spawn().await;

    let response = plain_client()
        .post(app.url(SIGN_IN))
        .header("cookie", "theme=dark")
        .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");

    assert_error_body(response, StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin").await;
}

#[tokio::test]
async fn a_cross_site_navigation_sign_in_or_sign_up_is_blocked() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "dave@example.com").await;
    let cases = [
        (SIGN_IN, json!({"email": "dave@example.com", "password": PASSWORD})),
        (SIGN_UP, json!({"name": "Mallory", "email": "mallory@example.com", "password": PASSWORD})),
    ];

    for (path, body) in cases {
        let response = plain_client()
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-dest", "document")
            .json(&body)
            .send()
            .await
            .expect("sent");

        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_error_body(
            response,
            StatusCode::FORBIDDEN,
            "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
            "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
        )
        .await;
    }
    assert_eq!((app.db.count_rows("user").await, app.db.count_rows("session").await), (1, 1), "nothing written");
}

#[tokio::test]
async fn sign_in_with_fetch_metadata_but_no_origin_returns_403_missing_origin() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "erin@example.com").await;

    let headers = [("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "cors")];
    let response = sign_in_with_headers(&app, "erin@example.com", &headers).await;

    assert_error_body(response, StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin").await;
    assert_eq!(app.db.count_rows("session").await, 1, "only the sign-up session");
}

#[tokio::test]
async fn sign_in_with_fetch_metadata_and_a_trusted_origin_is_allowed() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "frank@example.com").await;

    let headers = [("sec-fetch-site", "same-site"), ("sec-fetch-mode", "cors"), ("origin", ORIGIN)];
    let response = sign_in_with_headers(&app, "frank@example.com", &headers).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_in_without_cookie_fetch_metadata_or_origin_is_allowed() {
    // curl, native apps: no ambient credentials to forge.
    let app = TestApp::spawn().await;
    User::sign_up(&app, "grace@example.com").await;

    let response = sign_in_with_headers(&app, "grace@example.com", &[]).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_in_from_an_untrusted_origin_returns_403_even_without_cookies() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "heidi@example.com").await;

    let response = sign_in_with_headers(&app, "heidi@example.com", &[("origin", "https://evil.example")]).await;

    assert_error_body(response, StatusCode::FORBIDDEN, "INVALID_ORIGIN", "Invalid origin").await;
    assert_eq!(app.db.count_rows("session").await, 1, "only the sign-up session");
}

#[tokio::test]
async fn an_untrusted_callback_url_returns_403_invalid_callback_url() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "ivan@example.com").await;
    let callbacks =
        ["https://evil.example/phish", "//evil.example", "/\\evil.example", "/a%2F..%2Fb", "javascript:alert(1)"];

    for callback in callbacks {
        let sign_in = json!({"email": "ivan@example.com", "password": PASSWORD, "callbackURL": callback});
        let sign_up = json!({"name": "N", "email": "new@example.com", "password": PASSWORD, "callbackURL": callback});
        for (path, body) in [(SIGN_IN, sign_in), (SIGN_UP, sign_up)] {
            let response = plain_client().post(app.url(path)).json(&body).send().await.expect("sent");

            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} {callback}");
            assert_error_body(response, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL", "Invalid callbackURL").await;
        }
    }
    assert_eq!((app.db.count_rows("user").await, app.db.count_rows("session").await), (1, 1), "nothing written");
}
