//! `POST /delete-user` (issue 8; `docs/better-auth-wire.md` §3.6, §13): deletes the user with their
//! sessions, accounts and tasks and clears the cookies; a wrong or missing password, a missing
//! session or an untrusted origin deletes nothing.
//!
//! Deliberate difference from Better Auth: the password is always required (a missing one is
//! `400 VALIDATION_ERROR`, not a freshness-gated deletion).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, plain_client, set_cookies},
    server::TestApp,
    users::{PASSWORD, User, Via, session_for_bearer, sign_in_status},
    wire::CLEARED,
};

const DELETE: &str = "/api/auth/delete-user";

/// What a user owns, row counts by table: (user, session, account, task).
async fn footprint(app: &TestApp, user_id: &str) -> [i64; 4] {
    let mut counts = [0; 4];
    for (slot, sql) in counts.iter_mut().zip([
        r#"SELECT count(*) FROM "user" WHERE "id" = $1"#,
        r#"SELECT count(*) FROM "session" WHERE "userId" = $1"#,
        r#"SELECT count(*) FROM "account" WHERE "userId" = $1"#,
        r#"SELECT count(*) FROM "task" WHERE "owner_id" = $1"#,
    ]) {
        *slot = app.db.count(sql, vec![user_id.into()]).await;
    }
    counts
}

/// A user with two sessions and two tasks.
async fn member_with_tasks(app: &TestApp, email: &str) -> (User, User) {
    let member = User::sign_up_via(app, email, Via::Browser).await;
    let other_device = User::sign_in_via(app, email, PASSWORD, Via::Browser).await;
    for title in ["first", "second"] {
        let response = member.post("/api/v1/tasks", &json!({"title": title})).await;
        assert!(response.status().is_success(), "task created: {}", response.status());
    }
    assert_eq!(footprint(app, &member.id).await, [1, 2, 1, 2]);
    (member, other_device)
}

#[tokio::test]
async fn delete_user_with_the_password_removes_everything_the_user_owns_and_clears_the_cookies() {
    // Arrange
    let app = TestApp::spawn().await;
    let (ann, phone) = member_with_tasks(&app, "ann@example.com").await;
    let (bob, _) = member_with_tasks(&app, "bob@example.com").await;

    // Act
    let response = ann.post(DELETE, &json!({"password": PASSWORD})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"success": true, "message": "User deleted"}));
    assert_eq!(footprint(&app, &ann.id).await, [0, 0, 0, 0], "user, sessions, accounts and tasks are gone");
    assert_eq!(footprint(&app, &bob.id).await, [1, 2, 1, 2], "other users keep everything");
    assert_eq!(ann.session().await, Value::Null);
    assert_eq!(phone.session().await, Value::Null, "the other device is signed out at once");
    assert_eq!(session_for_bearer(&app, &phone.token).await, Value::Null);
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::UNAUTHORIZED);
    // The address is free again, for a new user.
    let again = User::sign_up_via(&app, &ann.email, Via::Browser).await;
    assert_ne!(again.id, ann.id);
}

#[tokio::test]
async fn delete_user_with_a_wrong_password_is_400_invalid_password_and_deletes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let (ann, phone) = member_with_tasks(&app, "ann@example.com").await;

    // Act
    let response = ann.post(DELETE, &json!({"password": "not my password"})).await;

    // Assert
    assert!(set_cookies(&response).is_empty(), "no cookie is cleared");
    let body = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
    assert_eq!(body["message"], "Invalid password");
    assert_eq!(footprint(&app, &ann.id).await, [1, 2, 1, 2], "user, sessions, accounts and tasks are all there");
    assert_ne!(ann.session().await, Value::Null);
    assert_ne!(phone.session().await, Value::Null);
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn delete_user_without_a_usable_password_is_400_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let (ann, _) = member_with_tasks(&app, "ann@example.com").await;
    let cases = [
        (json!({}), "VALIDATION_ERROR", Some("[body.password] Invalid input: expected string, received undefined")),
        (
            json!({"password": null}),
            "VALIDATION_ERROR",
            Some("[body.password] Invalid input: expected string, received null"),
        ),
        (
            json!({"password": 12345678}),
            "VALIDATION_ERROR",
            Some("[body.password] Invalid input: expected string, received number"),
        ),
        (json!({"password": "x".repeat(129)}), "PASSWORD_TOO_LONG", None),
        (json!({"password": ""}), "INVALID_PASSWORD", None),
    ];

    for (body, code, message) in cases {
        let response = ann.post(DELETE, &body).await;

        assert!(set_cookies(&response).is_empty(), "{body}");
        let error = assert_error(response, StatusCode::BAD_REQUEST, code).await;
        if let Some(message) = message {
            assert_eq!(error["message"], message, "{body}");
        }
        assert_eq!(footprint(&app, &ann.id).await, [1, 2, 1, 2], "{body}: nothing deleted");
    }
}

#[tokio::test]
async fn delete_user_without_a_credential_account_is_400_credential_account_not_found() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    app.db.execute(r#"DELETE FROM "account" WHERE "userId" = $1"#, vec![ann.id.clone().into()]).await;

    let response = ann.post(DELETE, &json!({"password": PASSWORD})).await;

    assert_error(response, StatusCode::BAD_REQUEST, "CREDENTIAL_ACCOUNT_NOT_FOUND").await;
    assert_eq!(footprint(&app, &ann.id).await, [1, 1, 0, 0]);
}

#[tokio::test]
async fn delete_user_without_a_session_is_401_unauthorized() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let response = app.post_json(DELETE, &json!({"password": PASSWORD})).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(footprint(&app, &ann.id).await, [1, 1, 1, 0]);
}

#[tokio::test]
async fn delete_user_with_a_bearer_token_needs_no_origin() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let response = plain_client()
        .post(app.url(DELETE))
        .bearer_auth(&ann.token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect("request sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(footprint(&app, &ann.id).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn delete_user_with_a_cookie_and_no_trusted_origin_is_403_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let (ann, _) = member_with_tasks(&app, "ann@example.com").await;

    for (origin, code) in [
        (None, "MISSING_OR_NULL_ORIGIN"),
        (Some("null"), "MISSING_OR_NULL_ORIGIN"),
        (Some("http://evil.example"), "INVALID_ORIGIN"),
    ] {
        let response = ann.post_with_cookie(DELETE, &json!({"password": PASSWORD}), origin).await;

        assert!(set_cookies(&response).is_empty(), "from {origin:?}");
        assert_error(response, StatusCode::FORBIDDEN, code).await;
        assert_eq!(footprint(&app, &ann.id).await, [1, 2, 1, 2], "from {origin:?}: nothing deleted");
    }
    assert_ne!(ann.session().await, Value::Null);
}
