//! `POST /change-password` (issue 8; `docs/better-auth-wire.md` §3.6, §13): the new password works
//! and the old one not; `revokeOtherSessions` ends every session and starts a new one; a wrong
//! current password or a bad new one changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, set_cookies},
    server::TestApp,
    users::{PASSWORD, User, Via, session_for_bearer, sign_in_status},
    wire::{cookie_value, sha256_hex},
};

const CHANGE: &str = "/api/auth/change-password";
const NEW_PASSWORD: &str = "a brand new password";

#[tokio::test]
async fn change_password_without_revoking_keeps_every_session_and_returns_token_null() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let old_hash = app.db.password_hash(&ann.id).await.expect("a password");

    // Act
    let response = ann.post(CHANGE, &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "no cookie changes");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["id"], ann.id.as_str());
    assert_eq!(body["user"]["email"], "ann@example.com");
    let new_hash = app.db.password_hash(&ann.id).await.expect("a password");
    assert_ne!(new_hash, old_hash, "the stored hash changed");
    assert!(!new_hash.contains(NEW_PASSWORD), "the password is stored hashed");
    assert_eq!(app.db.session_count(&ann.id).await, 2);
    assert_ne!(ann.session().await, Value::Null);
    assert_ne!(phone.session().await, Value::Null);
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK, "the new password works");
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::UNAUTHORIZED, "the old one not");
}

#[tokio::test]
async fn change_password_with_revoke_other_sessions_ends_every_session_and_starts_a_new_one() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    assert_ne!(phone.session().await, Value::Null);

    // Act
    let response = ann
        .post(CHANGE, &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true}))
        .await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.expect("JSON");
    let new_token = body["token"].as_str().expect("a new token").to_owned();
    assert!(new_token.len() == 32 && new_token.bytes().all(|b| b.is_ascii_alphanumeric()), "{new_token}");
    assert_ne!(new_token, ann.token);
    assert_eq!(
        cookies,
        [format!(
            "better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
            cookie_value(&new_token)
        )]
    );
    let rows = app.db.query(r#"SELECT "token" FROM "session" WHERE "userId" = $1"#, vec![ann.id.clone().into()]).await;
    assert_eq!(rows, [json!({"token": sha256_hex(&new_token)})], "only the new session is left");
    assert_eq!(session_for_bearer(&app, &ann.token).await, Value::Null, "the old current session is dead");
    assert_eq!(phone.session().await, Value::Null, "the other device is signed out");
    assert_eq!(ann.session().await["session"]["userId"], ann.id.as_str(), "the browser holds the new cookie");
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_is_400_invalid_password_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let old_hash = app.db.password_hash(&ann.id).await;

    // Act: even with revokeOtherSessions, nothing may be revoked.
    let response = ann
        .post(
            CHANGE,
            &json!({"currentPassword": "not my password", "newPassword": NEW_PASSWORD, "revokeOtherSessions": true}),
        )
        .await;

    // Assert
    assert!(set_cookies(&response).is_empty());
    let body = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
    assert_eq!(body["message"], "Invalid password");
    assert_eq!(app.db.password_hash(&ann.id).await, old_hash, "the password is unchanged");
    assert_eq!(app.db.session_count(&ann.id).await, 2, "no session was revoked");
    assert_ne!(ann.session().await, Value::Null);
    assert_ne!(phone.session().await, Value::Null);
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::OK);
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn change_password_checks_the_lengths_before_the_current_password() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let old_hash = app.db.password_hash(&ann.id).await;
    let long = "x".repeat(129);
    let cases = [
        (json!({"currentPassword": "not my password", "newPassword": "short"}), "PASSWORD_TOO_SHORT"),
        (json!({"currentPassword": PASSWORD, "newPassword": "short"}), "PASSWORD_TOO_SHORT"),
        (json!({"currentPassword": PASSWORD, "newPassword": long}), "PASSWORD_TOO_LONG"),
        (json!({"currentPassword": long, "newPassword": NEW_PASSWORD}), "PASSWORD_TOO_LONG"),
    ];

    for (body, code) in cases {
        let response = ann.post(CHANGE, &body).await;

        assert_error(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(app.db.password_hash(&ann.id).await, old_hash, "{body}: nothing changed");
    }
}

#[tokio::test]
async fn change_password_with_missing_or_mistyped_fields_is_400_validation_error() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let old_hash = app.db.password_hash(&ann.id).await;
    let cases = [
        (json!({"currentPassword": PASSWORD}), "[body.newPassword] Invalid input: expected string, received undefined"),
        (
            json!({"newPassword": NEW_PASSWORD}),
            "[body.currentPassword] Invalid input: expected string, received undefined",
        ),
        (
            json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": "yes"}),
            "[body.revokeOtherSessions] Invalid input: expected boolean, received string",
        ),
    ];

    for (body, message) in cases {
        let response = ann.post(CHANGE, &body).await;

        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], message, "{body}");
    }
    assert_eq!(app.db.password_hash(&ann.id).await, old_hash);
}

#[tokio::test]
async fn change_password_without_a_credential_account_is_400_credential_account_not_found() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    app.db.execute(r#"DELETE FROM "account" WHERE "userId" = $1"#, vec![ann.id.clone().into()]).await;

    let response = ann.post(CHANGE, &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})).await;

    assert_error(response, StatusCode::BAD_REQUEST, "CREDENTIAL_ACCOUNT_NOT_FOUND").await;
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "account""#, vec![]).await, 0, "no account was created");
}

#[tokio::test]
async fn change_password_without_a_session_is_401_unauthorized() {
    let app = TestApp::spawn().await;

    let response = app.post_json(CHANGE, &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn change_password_with_a_cookie_and_no_trusted_origin_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let old_hash = app.db.password_hash(&ann.id).await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true});

    for (origin, code) in [(None, "MISSING_OR_NULL_ORIGIN"), (Some("http://evil.example"), "INVALID_ORIGIN")] {
        let response = ann.post_with_cookie(CHANGE, &body, origin).await;

        assert!(set_cookies(&response).is_empty());
        assert_error(response, StatusCode::FORBIDDEN, code).await;
        assert_eq!(app.db.password_hash(&ann.id).await, old_hash, "from {origin:?}: the password is unchanged");
        assert_eq!(app.db.session_count(&ann.id).await, 1, "from {origin:?}: the session is still there");
    }
    assert_ne!(ann.session().await, Value::Null);
}
