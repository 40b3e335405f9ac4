//! An existing Better Auth database keeps working (`docs/better-auth-wire.md` §6.2, §8): rows inserted
//! with SQL
//! in Better Auth's encodings (SQLite: 24-character ISO text dates, booleans 0/1; PostgreSQL:
//! `timestamptz`, `boolean`), read and served by this service. The password hash and the cookie
//! value below were produced by Better Auth itself.

use reqwest::StatusCode;
use sea_orm::DatabaseBackend;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::stored_time,
    http::{assert_error_body, ok_text, plain_client, set_cookies},
    server::TestApp,
    users::{SIGN_IN, get_session_with_cookie},
    wire::{CLEARED, iso_millis, session_cookie},
};

const USER_ID: &str = "sRrjlKcO9hEwQWsKmIl2lBuGpFImfHlm";
/// `password123` hashed by a real Better Auth `/sign-up/email` (§6.2).
const PASSWORD_HASH: &str = "01a6893c74b9fe934c866a9f8429041a:121fe91e067730b52e2027f4d8a30d59d497a5f9bc50532335cbaf1406954b715a075cffaa0b6d5b8f2649880ae1c1074f4194ea6870dd2e5f1c238bec1dbf0c";
/// A session token and the cookie value Better Auth set for it under the test secret (§4.3).
const TOKEN: &str = "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY";
const COOKIE: &str =
    "better-auth.session_token=W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY.92dZuUzbYW2FqtwkoGFGsuByjqxOdT1zvLgRJIkLob4%3D";

/// Inserts Better Auth's rows for one verified email/password user.
async fn insert_better_auth_user(app: &TestApp) {
    let verified = if app.db.backend() == DatabaseBackend::Sqlite { "1" } else { "true" };
    app.db
        .execute(
            &format!(
                r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
               VALUES ('{USER_ID}', 'Alice', 'alice@example.com', {verified}, 'https://img.example.com/a.png',
                       '2026-11-28T06:36:28.087Z', '2026-11-28T06:36:29.500Z')"#
            ),
            vec![],
        )
        .await;
    app.db.execute(
        &format!(
            r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "accessToken", "refreshToken",
                   "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt")
               VALUES ('nECYb2EDNXop2bY5l15uIjhYsg2RiOCu', '{USER_ID}', 'credential', '{USER_ID}', NULL, NULL,
                       NULL, NULL, NULL, NULL, '{PASSWORD_HASH}', '2026-11-28T06:36:28.093Z', '2026-11-28T06:36:28.093Z')"#
        ),
        vec![],
    )
    .await;
}

/// Inserts a week-long session created at `created`, as Better Auth writes it: raw token, `""` for
/// unknown address and agent.
async fn insert_better_auth_session(app: &TestApp, created: OffsetDateTime) {
    let expires = created + Duration::days(7);
    let backend = app.db.backend();
    app.db.execute(
        r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
           VALUES ('aKFegzQV7ECuO2GwUwb82aE2lfADyIdD', $1, $2, $3, $3, '', '', $4)"#,
        vec![stored_time(backend, expires), TOKEN.into(), stored_time(backend, created), USER_ID.into()],
    )
    .await;
}

/// The fixture user as Better Auth would return it; its row, written without the two-factor
/// plugin, has no `twoFactorEnabled` value, which reads as off.
fn expected_user() -> Value {
    json!({
        "id": USER_ID, "name": "Alice", "email": "alice@example.com", "emailVerified": true,
        "image": "https://img.example.com/a.png", "createdAt": "2026-11-28T06:36:28.087Z",
        "updatedAt": "2026-11-28T06:36:29.500Z", "twoFactorEnabled": false,
    })
}

/// Now, to the millisecond, as Better Auth's dates are.
fn now_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_millisecond(now.millisecond()).expect("valid millisecond")
}

#[tokio::test]
async fn a_user_written_by_better_auth_signs_in_with_its_password() {
    let app = TestApp::spawn().await;
    insert_better_auth_user(&app).await;

    let response = app.sign_in("alice@example.com", "password123").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["user"], expected_user(), "dates, booleans and nulls read back in Better Auth's form");
    let token = body["token"].as_str().expect("token");
    let session: Value = get_session_with_cookie(&app, &session_cookie(token)).await.json().await.expect("JSON");
    assert_eq!(session["user"], expected_user());
}

#[tokio::test]
async fn a_user_written_by_better_auth_with_a_wrong_password_gets_401() {
    let app = TestApp::spawn().await;
    insert_better_auth_user(&app).await;

    let response = plain_client()
        .post(app.url(SIGN_IN))
        .json(&json!({"email": "alice@example.com", "password": "password124"}))
        .send()
        .await
        .expect("sent");

    assert_error_body(response, StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
        .await;
}

#[tokio::test]
async fn a_session_written_by_better_auth_is_served_with_plain_token_storage() {
    let app = TestApp::builder().var("SESSION_TOKEN_STORAGE", "plain").spawn().await;
    insert_better_auth_user(&app).await;
    let created = now_millis() - Duration::hours(1);
    insert_better_auth_session(&app, created).await;

    // The cookie exactly as Better Auth set it in the browser.
    let response = get_session_with_cookie(&app, COOKIE).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "refreshed an hour ago: not due");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(
        body,
        json!({
            "session": {
                "id": "aKFegzQV7ECuO2GwUwb82aE2lfADyIdD", "token": TOKEN, "userId": USER_ID,
                "expiresAt": iso_millis(created + Duration::days(7)), "createdAt": iso_millis(created),
                "updatedAt": iso_millis(created),
                "ipAddress": "", "userAgent": "",
            },
            "user": expected_user(),
        })
    );
}

#[tokio::test]
async fn an_expired_session_written_by_better_auth_is_rejected_and_deleted() {
    let app = TestApp::builder().var("SESSION_TOKEN_STORAGE", "plain").spawn().await;
    insert_better_auth_user(&app).await;
    let created = now_millis() - Duration::days(8);
    insert_better_auth_session(&app, created).await;

    let response = get_session_with_cookie(&app, COOKIE).await;

    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(ok_text(response).await, "null");
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "session""#, vec![]).await, 0, "the expired row is deleted");
}

#[tokio::test]
async fn a_better_auth_session_token_is_not_accepted_under_hashed_storage() {
    // Hashed storage looks tokens up by their SHA-256, so raw rows from Better Auth are not found:
    // sharing a database with Better Auth needs `SESSION_TOKEN_STORAGE=plain`.
    let app = TestApp::spawn().await;
    insert_better_auth_user(&app).await;
    let created = now_millis() - Duration::hours(1);
    insert_better_auth_session(&app, created).await;

    assert_eq!(ok_text(get_session_with_cookie(&app, COOKIE).await).await, "null");
}

#[tokio::test]
async fn a_better_auth_user_without_a_credential_account_gets_the_same_401() {
    // E.g. a user who signed up with a social provider: no `credential` account, no password.
    let app = TestApp::spawn().await;
    let verified = if app.db.backend() == DatabaseBackend::Sqlite { "1" } else { "true" };
    app.db
        .execute(
            &format!(
                r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
               VALUES ('{USER_ID}', 'Social', 'social@example.com', {verified}, NULL,
                       '2026-11-28T06:36:28.087Z', '2026-11-28T06:36:28.087Z')"#
            ),
            vec![],
        )
        .await;
    app.db
        .execute(
            &format!(
                r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "createdAt", "updatedAt")
               VALUES ('nECYb2EDNXop2bY5l15uIjhYsg2RiOCu', '1234567890', 'github', '{USER_ID}',
                       '2026-11-28T06:36:28.093Z', '2026-11-28T06:36:28.093Z')"#
            ),
            vec![],
        )
        .await;

    let response = app.sign_in("social@example.com", "password123").await;

    assert_error_body(response, StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
        .await;
}

#[tokio::test]
async fn a_row_with_an_upper_case_email_written_by_other_software_is_never_found() {
    // Better Auth looks up the lower-cased address exactly (§7.5); so does this service.
    let app = TestApp::spawn().await;
    insert_better_auth_user(&app).await;
    app.db.execute(r#"UPDATE "user" SET "email" = 'Alice@Example.com'"#, vec![]).await;

    let response = app.sign_in("Alice@Example.com", "password123").await;

    assert_error_body(response, StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
        .await;
}
