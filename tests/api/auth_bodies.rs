//! Request bodies of the auth endpoints (`docs/better-auth-wire.md` §1.2, §2.1): media types, JSON
//! syntax, non-object bodies, and form-encoded sign-in and sign-up.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error_body, plain_client},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, SIGN_OUT, SIGN_UP, User},
};

const LOGIN_TYPES: &str = "application/x-www-form-urlencoded, application/json";

/// `POST path` with a raw body and an optional `Content-Type`.
async fn post_raw(app: &TestApp, path: &str, content_type: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = plain_client().post(app.url(path)).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn malformed_json_returns_400_bad_request() {
    let app = TestApp::spawn().await;
    let bodies = [("{", "truncated"), (r#"{"email": "a@b.co",}"#, "trailing comma"), ("nul", "bad literal")];

    for path in [SIGN_UP, SIGN_IN, SIGN_OUT] {
        for (body, reason) in bodies {
            let response = post_raw(&app, path, Some("application/json"), body).await;

            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}: {reason}");
            assert_error_body(response, StatusCode::BAD_REQUEST, "BAD_REQUEST", "Invalid JSON in request body").await;
        }
    }
}

#[tokio::test]
async fn an_empty_body_declared_as_json_returns_400_on_sign_in_and_sign_up() {
    let app = TestApp::spawn().await;

    for path in [SIGN_UP, SIGN_IN] {
        let response = post_raw(&app, path, Some("application/json"), "").await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_error_body(response, StatusCode::BAD_REQUEST, "BAD_REQUEST", "Invalid JSON in request body").await;
    }
}

#[tokio::test]
async fn a_body_without_content_type_returns_415_listing_the_accepted_types() {
    let app = TestApp::spawn().await;
    let cases = [(SIGN_UP, LOGIN_TYPES), (SIGN_IN, LOGIN_TYPES), (SIGN_OUT, "application/json")];

    for (path, allowed) in cases {
        let response = post_raw(&app, path, None, r#"{"email":"a@example.com"}"#).await;

        let message = format!("Content-Type is required. Allowed types: {allowed}");
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        assert_error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", &message).await;
    }
}

#[tokio::test]
async fn a_body_of_another_content_type_returns_415_naming_it() {
    let app = TestApp::spawn().await;
    let cases = [(SIGN_UP, LOGIN_TYPES), (SIGN_IN, LOGIN_TYPES), (SIGN_OUT, "application/json")];

    for (path, allowed) in cases {
        let response = post_raw(&app, path, Some("text/plain"), r#"{"email":"a@example.com"}"#).await;

        let message = format!("Content-Type \"text/plain\" is not allowed. Allowed types: {allowed}");
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        assert_error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", &message).await;
    }
    let form_on_sign_out = post_raw(&app, SIGN_OUT, Some("application/x-www-form-urlencoded"), "a=1").await;
    assert_eq!(form_on_sign_out.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "only sign-in and sign-up take forms");
}

#[tokio::test]
async fn the_media_type_is_matched_without_parameters_and_case() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "alice@example.com").await;
    let body = json!({"email": "alice@example.com", "password": PASSWORD}).to_string();

    let response = post_raw(&app, SIGN_IN, Some("Application/JSON; charset=utf-8"), &body).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_returns_400_validation_error() {
    let app = TestApp::spawn().await;
    let cases = [
        ("[]", "[body] Invalid input: expected object, received array"),
        ("null", "[body] Invalid input: expected object, received null"),
        (r#""alice@example.com""#, "[body] Invalid input: expected object, received string"),
        ("42", "[body] Invalid input: expected object, received number"),
    ];

    for path in [SIGN_UP, SIGN_IN] {
        for (body, message) in cases {
            let response = post_raw(&app, path, Some("application/json"), body).await;

            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_error_body(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
        }
        let no_body = plain_client().post(app.url(path)).send().await.expect("sent");
        let message = "[body] Invalid input: expected object, received undefined";
        assert_error_body(no_body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
    }
}

#[tokio::test]
async fn form_encoded_sign_up_and_sign_in_work() {
    let app = TestApp::spawn().await;

    let sign_up = plain_client()
        .post(app.url(SIGN_UP))
        .form(&[("name", "Form User"), ("email", "Form@Example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    let sign_in = plain_client()
        .post(app.url(SIGN_IN))
        .form(&[("email", "form@example.com"), ("password", PASSWORD), ("callbackURL", "/home")])
        .send()
        .await
        .expect("sent");

    assert_eq!(sign_up.status(), StatusCode::OK);
    let user: Value = sign_up.json().await.expect("JSON body");
    assert_eq!(
        (user["user"]["name"].clone(), user["user"]["email"].clone()),
        (json!("Form User"), json!("form@example.com"))
    );
    assert_eq!(sign_in.status(), StatusCode::OK);
    let body: Value = sign_in.json().await.expect("JSON body");
    assert_eq!((body["redirect"].clone(), body["url"].clone()), (json!(true), json!("/home")));
    assert_eq!(app.db.count_rows("session").await, 2);
}

#[tokio::test]
async fn remember_me_in_a_form_is_a_string_and_fails_validation() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "bob@example.com").await;

    let sign_in = plain_client()
        .post(app.url(SIGN_IN))
        .form(&[("email", "bob@example.com"), ("password", PASSWORD), ("rememberMe", "false")])
        .send()
        .await
        .expect("sent");
    let sign_up = plain_client()
        .post(app.url(SIGN_UP))
        .form(&[("name", "N"), ("email", "carol@example.com"), ("password", PASSWORD), ("rememberMe", "false")])
        .send()
        .await
        .expect("sent");

    let message = "[body.rememberMe] Invalid input: expected boolean, received string";
    assert_error_body(sign_in, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
    assert_error_body(sign_up, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
    assert_eq!((app.db.count_rows("user").await, app.db.count_rows("session").await), (1, 1), "nothing written");
}
