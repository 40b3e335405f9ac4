//! Session management (issue 8; `docs/better-auth-wire.md` §3.5, §13): `GET /list-sessions`,
//! `POST /revoke-session`, `/revoke-sessions` and `/revoke-other-sessions`.
//!
//! Deliberate difference from Better Auth: each listed `token` is the session id, an opaque
//! handle for `revoke-session`, never a usable credential.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::stored_time,
    http::{assert_error, header_str, plain_client, set_cookies},
    server::{ORIGIN, TestApp},
    users::{PASSWORD, User, Via, session_for_bearer, session_for_cookie},
    wire::{CLEARED, cookie_value, session_cookie, sha256_hex},
};

const LIST: &str = "/api/auth/list-sessions";
const REVOKE: &str = "/api/auth/revoke-session";
const REVOKE_ALL: &str = "/api/auth/revoke-sessions";
const REVOKE_OTHERS: &str = "/api/auth/revoke-other-sessions";

/// The session ids of a user in the database, oldest first.
async fn session_ids(app: &TestApp, user_id: &str) -> Vec<String> {
    app.db
        .query(r#"SELECT "id" FROM "session" WHERE "userId" = $1 ORDER BY "createdAt", "id""#, vec![user_id.into()])
        .await
        .iter()
        .map(|row| row["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The id of the session stored for a raw token (tokens are stored as SHA-256 by default).
async fn session_id_of(app: &TestApp, token: &str) -> String {
    let rows = app.db.query(r#"SELECT "id" FROM "session" WHERE "token" = $1"#, vec![sha256_hex(token).into()]).await;
    assert_eq!(rows.len(), 1, "one session row for the token");
    rows[0]["id"].as_str().expect("id").to_owned()
}

/// Signs in with `rememberMe: false` from a cookie-less client; returns the raw token.
async fn sign_in_not_remembered(app: &TestApp, email: &str) -> String {
    let response = plain_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": PASSWORD, "rememberMe": false}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    body["token"].as_str().expect("token").to_owned()
}

async fn listed(response: reqwest::Response) -> Vec<Value> {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, StatusCode::OK, "list-sessions: {body}");
    body.as_array().unwrap_or_else(|| panic!("list-sessions returns an array: {body}")).clone()
}

#[tokio::test]
async fn list_sessions_returns_every_live_session_of_the_user_and_nothing_else() {
    // Arrange: three sessions of Ann (one then expired by the clock), one of Bob.
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let second = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let expired = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;
    let expired_id = session_id_of(&app, &expired.token).await;
    let past = stored_time(app.db.backend(), OffsetDateTime::now_utc() - Duration::minutes(1));
    app.db
        .execute(r#"UPDATE "session" SET "expiresAt" = $1 WHERE "id" = $2"#, vec![past, expired_id.clone().into()])
        .await;

    // Act
    let response = ann.get(LIST).await;

    // Assert
    assert!(set_cookies(&response).is_empty(), "list-sessions sets no cookie");
    let sessions = listed(response).await;
    let ids: Vec<&str> = sessions.iter().map(|s| s["id"].as_str().expect("id")).collect();
    let expected = [session_id_of(&app, &ann.token).await, session_id_of(&app, &second.token).await];
    assert_eq!(ids, expected, "Ann's two live sessions, oldest first; not the expired one, not Bob's");
    for session in &sessions {
        for key in ["id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"] {
            assert!(session.get(key).is_some(), "{key} present in {session}");
        }
        assert_eq!(session["userId"], ann.id.as_str());
        assert_eq!(session["token"], session["id"], "the listed token is the session id, an opaque handle");
    }
    assert_eq!(listed(bob.get(LIST).await).await.len(), 1, "Bob sees only his own session");
}

#[tokio::test]
async fn list_sessions_never_returns_a_usable_credential() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let other = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;

    // Act
    let sessions = listed(ann.get(LIST).await).await;

    // Assert: no listed value is a raw token, a stored token, or accepted as one.
    assert_eq!(sessions.len(), 2);
    let stored: Vec<Value> = app.db.query(r#"SELECT "token" FROM "session""#, vec![]).await;
    for session in &sessions {
        let handle = session["token"].as_str().expect("token is a string");
        assert!(handle != ann.token && handle != other.token, "a raw session token was disclosed");
        assert!(stored.iter().all(|row| row["token"] != handle), "a stored token was disclosed");
        for (what, body) in [
            ("raw bearer", session_for_bearer(&app, handle).await),
            ("signed bearer", session_for_bearer(&app, &cookie_value(handle)).await),
            ("signed cookie", session_for_cookie(&app, &session_cookie(handle)).await),
        ] {
            assert_eq!(body, Value::Null, "{what} made from the listed token {handle} must not authenticate");
        }
    }
    assert_ne!(session_for_bearer(&app, &ann.token).await, Value::Null, "control: the real token works");
}

#[tokio::test]
async fn list_sessions_without_a_session_is_401_unauthorized() {
    let app = TestApp::spawn().await;

    let response = plain_client().get(app.url(LIST)).send().await.expect("request sent");

    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn list_sessions_with_a_session_created_more_than_a_day_ago_is_403_session_not_fresh() {
    // Arrange: a session that is valid but was created 25 hours ago (set before any lookup).
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let old = stored_time(app.db.backend(), OffsetDateTime::now_utc() - Duration::hours(25));
    app.db
        .execute(
            r#"UPDATE "session" SET "createdAt" = $1, "updatedAt" = $1 WHERE "userId" = $2"#,
            vec![old, ann.id.clone().into()],
        )
        .await;

    // Act
    let response = ann.get(LIST).await;

    // Assert
    let body = assert_error(response, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH").await;
    assert_eq!(body["message"], "Session is not fresh");
    assert_ne!(ann.session().await, Value::Null, "the session itself is still valid");
    let fresh = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    assert_eq!(listed(fresh.get(LIST).await).await.len(), 2, "a new sign-in is fresh again");
}

#[tokio::test]
async fn revoke_session_with_a_listed_handle_ends_that_session_on_the_very_next_request() {
    // Arrange: two sessions of Ann; the second one has just been used (and may be cached).
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let laptop = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    assert_ne!(laptop.session().await, Value::Null);
    assert_ne!(session_for_bearer(&app, &laptop.token).await, Value::Null);
    let laptop_id = session_id_of(&app, &laptop.token).await;
    let handle = listed(ann.get(LIST).await)
        .await
        .into_iter()
        .find(|s| s["id"] == laptop_id.as_str())
        .expect("the laptop session is listed")["token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Act
    let response = ann.post(REVOKE, &json!({"token": handle})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "revoking another session clears no cookie");
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(laptop.session().await, Value::Null, "the revoked cookie is dead at once");
    assert_eq!(session_for_bearer(&app, &laptop.token).await, Value::Null, "and so is its bearer form");
    // (The laptop's jar dropped the cookie on get-session's clearing lines; replay it by hand.)
    let refused =
        plain_client().get(app.url(LIST)).header("cookie", &laptop.cookie).send().await.expect("request sent");
    assert_eq!(set_cookies(&refused), CLEARED, "a dead cookie on a protected endpoint is cleared");
    assert_error(refused, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(session_ids(&app, &ann.id).await, [session_id_of(&app, &ann.token).await], "only that row is gone");
    assert_ne!(ann.session().await, Value::Null, "the caller's session lives on");
}

#[tokio::test]
async fn revoke_session_with_the_callers_own_token_ends_it_and_clears_the_cookies() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let other = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;

    for what in ["raw token", "listed handle"] {
        // Each round revokes the current session of a new sign-in.
        let member = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
        let token = if what == "raw token" { member.token.clone() } else { session_id_of(&app, &member.token).await };

        let response = member.post(REVOKE, &json!({"token": token})).await;

        assert_eq!(response.status(), StatusCode::OK, "{what}");
        assert_eq!(set_cookies(&response), CLEARED, "{what}: the current session's cookies are cleared");
        assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
        assert_eq!(session_for_bearer(&app, &member.token).await, Value::Null, "{what}: the session is gone");
        assert_eq!(member.session().await, Value::Null, "{what}: the browser is signed out");
    }
    assert_ne!(other.session().await, Value::Null, "other sessions are untouched");
    assert_ne!(ann.session().await, Value::Null);
}

#[tokio::test]
async fn revoke_session_of_someone_elses_session_is_200_and_their_session_still_works() {
    // Arrange
    let app = TestApp::spawn().await;
    let victim = User::sign_up_via(&app, "victim@example.com", Via::Browser).await;
    let attacker = User::sign_up_via(&app, "attacker@example.com", Via::Browser).await;
    let victim_id = session_id_of(&app, &victim.token).await;

    for (what, token) in [("handle", victim_id.clone()), ("raw token", victim.token.clone())] {
        // Act
        let response = attacker.post(REVOKE, &json!({"token": token})).await;

        // Assert
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        assert!(set_cookies(&response).is_empty(), "{what}: no cookie changes");
        assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}), "{what}");
        assert_eq!(
            session_ids(&app, &victim.id).await,
            std::slice::from_ref(&victim_id),
            "{what}: the victim's row is there"
        );
        assert_ne!(victim.session().await, Value::Null, "{what}: the victim's session still works");
    }
    assert_ne!(attacker.session().await, Value::Null, "the attacker's own session is untouched");
}

#[tokio::test]
async fn revoke_session_with_an_unknown_token_is_200_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let response = ann.post(REVOKE, &json!({"token": "NoSuchSessionAnywhere0123456789a"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(app.db.session_count(&ann.id).await, 1);
}

#[tokio::test]
async fn revoke_session_with_a_bad_body_is_400_validation_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let cases = [
        (json!({}), "[body.token] Invalid input: expected string, received undefined"),
        (json!({"token": 42}), "[body.token] Invalid input: expected string, received number"),
    ];

    for (body, message) in cases {
        let response = ann.post(REVOKE, &body).await;

        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], message, "body {body}");
    }
    assert_eq!(app.db.session_count(&ann.id).await, 1);
    assert_ne!(ann.session().await, Value::Null);
}

#[tokio::test]
async fn revoke_sessions_ends_every_session_of_the_user_and_clears_the_cookies() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;
    assert_ne!(phone.session().await, Value::Null);

    // Act: the official client sends `{}`.
    let response = ann.post(REVOKE_ALL, &json!({})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(app.db.session_count(&ann.id).await, 0, "every row of the user is gone");
    assert_eq!(ann.session().await, Value::Null);
    assert_eq!(phone.session().await, Value::Null, "the other device is signed out at once");
    assert_eq!(session_for_bearer(&app, &ann.token).await, Value::Null);
    assert_ne!(bob.session().await, Value::Null, "other users are untouched");
}

#[tokio::test]
async fn revoke_sessions_accepts_no_body_and_a_bearer_token_without_origin() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let response = plain_client().post(app.url(REVOKE_ALL)).bearer_auth(&ann.token).send().await.expect("request sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(app.db.session_count(&ann.id).await, 0);
    assert_eq!(ann.session().await, Value::Null);
}

#[tokio::test]
async fn revoke_other_sessions_keeps_only_the_current_session() {
    // Arrange: Ann on three devices (one not remembered), Bob on one.
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let kiosk = sign_in_not_remembered(&app, &ann.email).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;
    assert_ne!(phone.session().await, Value::Null);

    // Act
    let response = ann.post(REVOKE_OTHERS, &json!({})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "the current cookie is untouched");
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(session_ids(&app, &ann.id).await, [session_id_of(&app, &ann.token).await]);
    assert_eq!(phone.session().await, Value::Null, "revoked on the very next request");
    assert_eq!(session_for_bearer(&app, &kiosk).await, Value::Null);
    assert_eq!(ann.session().await["session"]["id"], session_id_of(&app, &ann.token).await.as_str());
    assert_ne!(bob.session().await, Value::Null, "other users are untouched");
}

#[tokio::test]
async fn session_writes_with_a_cookie_and_no_trusted_origin_are_403_and_change_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let phone_id = session_id_of(&app, &phone.token).await;
    let cases = [
        (REVOKE, json!({"token": phone_id})),
        (REVOKE, json!({"token": ann.token})),
        (REVOKE_ALL, json!({})),
        (REVOKE_OTHERS, json!({})),
    ];

    for (path, body) in &cases {
        for (origin, code) in [
            (None, "MISSING_OR_NULL_ORIGIN"),
            (Some("null"), "MISSING_OR_NULL_ORIGIN"),
            (Some("http://evil.example"), "INVALID_ORIGIN"),
        ] {
            let response = ann.post_with_cookie(path, body, origin).await;

            assert!(set_cookies(&response).is_empty(), "{path} from {origin:?}: no cookie changes");
            assert_error(response, StatusCode::FORBIDDEN, code).await;
            assert_eq!(app.db.session_count(&ann.id).await, 2, "{path} from {origin:?}: nothing revoked");
        }
    }
    assert_ne!(phone.session().await, Value::Null);
    assert_ne!(ann.session().await, Value::Null);
    // Control: the same cookie from the trusted origin works.
    let trusted = ann.post_with_cookie(REVOKE_OTHERS, &json!({}), Some(ORIGIN)).await;
    assert_eq!(trusted.status(), StatusCode::OK);
    assert_eq!(app.db.session_count(&ann.id).await, 1);
}

#[tokio::test]
async fn revoke_endpoints_without_a_session_are_401_unauthorized() {
    let app = TestApp::spawn().await;

    for (path, body) in [(REVOKE, json!({"token": "x"})), (REVOKE_ALL, json!({})), (REVOKE_OTHERS, json!({}))] {
        let response = app.post_json(path, &body).await;

        assert!(header_str(&response, "set-cookie").is_none(), "{path}");
        assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
}
