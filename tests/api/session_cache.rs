//! The session cache never keeps a revoked session alive: within one instance revocation is
//! immediate; across instances on PostgreSQL it follows the database's change notifications;
//! on SQLite, changes made behind the service's back are bounded by `SESSION_CACHE_TTL`.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{
    db::postgres_url,
    http::{assert_error, header_str, plain_client},
    server::TestApp,
    users::{PASSWORD, User, session_for_bearer},
};

/// Polls until get-session with `bearer` is `null` on `app`, or the deadline passes.
async fn wait_until_revoked(app: &TestApp, bearer: &str, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if session_for_bearer(app, bearer).await.is_null() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cached_session_is_gone_on_the_next_request_after_sign_out() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "cached@example.com").await.bearer;
    for _ in 0..3 {
        assert!(!session_for_bearer(&app, &bearer).await.is_null(), "served (and cached)");
    }
    let out = plain_client().post(app.url("/api/auth/sign-out")).bearer_auth(&bearer).send().await.expect("sent");
    assert_eq!(out.status(), StatusCode::OK);
    assert!(session_for_bearer(&app, &bearer).await.is_null(), "the very next request has no session");
}

/// A second instance: on PostgreSQL with the default cache lifetime (so only the change
/// notifications can end a cached session early); on SQLite, where nothing tells an instance
/// about another's writes, with a 1 s lifetime that bounds it.
async fn sibling(first: &TestApp) -> TestApp {
    match postgres_url() {
        Some(_) => first.sibling().spawn().await,
        None => first.sibling().var("SESSION_CACHE_TTL", "1").spawn().await,
    }
}

#[tokio::test]
async fn a_session_revoked_on_another_instance_ends_here_too() {
    let first = TestApp::spawn().await;
    let second = sibling(&first).await;
    let bearer = User::sign_up(&first, "two-instances@example.com").await.bearer;
    assert!(!session_for_bearer(&second, &bearer).await.is_null(), "the second instance serves and caches it");

    let out = plain_client().post(first.url("/api/auth/sign-out")).bearer_auth(&bearer).send().await.expect("sent");
    assert_eq!(out.status(), StatusCode::OK);

    // PostgreSQL notifies every instance on commit; SQLite waits out the 1 s TTL.
    assert!(wait_until_revoked(&second, &bearer, Duration::from_secs(5)).await, "revoked on the other instance");
}

#[tokio::test]
async fn a_password_change_on_one_instance_ends_the_other_sessions_everywhere() {
    let first = TestApp::spawn().await;
    let second = sibling(&first).await;
    let kept = User::sign_up(&first, "rotate@example.com").await.bearer;
    let other = plain_client()
        .post(first.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "rotate@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let other = header_str(&other, "set-auth-token").expect("token");
    assert!(!session_for_bearer(&second, &other).await.is_null());

    let changed = plain_client()
        .post(first.url("/api/auth/change-password"))
        .bearer_auth(&kept)
        .json(
            &json!({"currentPassword": PASSWORD, "newPassword": "another long password", "revokeOtherSessions": true}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(wait_until_revoked(&second, &other, Duration::from_secs(5)).await);
    assert!(session_for_bearer(&first, &kept).await.is_null(), "revokeOtherSessions ends the current one too");
}

#[tokio::test]
async fn a_user_deleted_behind_the_services_back_gets_401_not_500() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "vanished@example.com").await.bearer;
    // Cache the session.
    assert!(!session_for_bearer(&app, &bearer).await.is_null());
    let user_id = session_for_bearer(&app, &bearer).await["user"]["id"].as_str().expect("id").to_owned();
    app.db.execute(r#"DELETE FROM "user" WHERE "id" = $1"#, vec![user_id.into()]).await;

    let response = plain_client()
        .request(Method::POST, app.url("/api/v1/tasks"))
        .bearer_auth(&bearer)
        .json(&json!({"title": "orphan"}))
        .send()
        .await
        .expect("sent");
    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "task""#, vec![]).await, 0);
    assert!(session_for_bearer(&app, &bearer).await.is_null(), "and the session is gone from then on");
}

/// The notification payloads received on `channel` until none arrives for half a second.
async fn drain(listener: &mut sea_orm::sqlx::postgres::PgListener) -> Vec<String> {
    let mut payloads = Vec::new();
    while let Ok(received) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await {
        payloads.push(received.expect("listener connection").payload().to_owned());
    }
    payloads
}

/// Issue 13 ("Also"): the cross-instance invalidation names a session by its id, never by its
/// token: with `SESSION_TOKEN_STORAGE=plain` the stored token is the credential, and any client
/// of the database may `LISTEN`. PostgreSQL only (SQLite has no notifications; there the test
/// checks nothing beyond the sign-out itself).
#[tokio::test]
async fn the_change_notification_never_carries_a_session_token_in_either_storage_mode() {
    for storage in ["plain", "hashed"] {
        let database = std::sync::Arc::new(crate::support::db::TestDatabase::create().await);
        let first =
            TestApp::builder().on_database(std::sync::Arc::clone(&database)).var("SESSION_TOKEN_STORAGE", storage);
        let first = first.spawn().await;
        let second = match postgres_url() {
            Some(_) => Some(first.sibling().var("SESSION_TOKEN_STORAGE", storage).spawn().await),
            None => None,
        };
        let mut listener = match postgres_url() {
            Some(_) => {
                let mut listener =
                    sea_orm::sqlx::postgres::PgListener::connect(&database.url).await.expect("LISTEN connection");
                listener.listen("auth_cache").await.expect("LISTEN auth_cache");
                Some(listener)
            }
            None => None,
        };
        let user = User::sign_up(&first, &format!("notify-{storage}@example.com")).await;
        let stored = match storage {
            "plain" => user.token.clone(),
            _ => crate::support::wire::sha256_hex(&user.token),
        };
        let session_id = first.db.sessions_of(&user.id).await[0]["id"].as_str().expect("id").to_owned();
        if let Some(second) = &second {
            assert!(!session_for_bearer(second, &user.bearer).await.is_null(), "the second instance caches it");
        }

        // An update (a clock-driven expiry change) and a delete (sign-out) of the session row.
        let later = time::OffsetDateTime::now_utc() + time::Duration::days(5);
        first.db.set_session_expiry(&session_id, later).await;
        let out = plain_client().post(first.url("/api/auth/sign-out")).bearer_auth(&user.bearer).send().await;
        assert_eq!(out.expect("sent").status(), StatusCode::OK);

        assert!(session_for_bearer(&first, &user.bearer).await.is_null(), "{storage}: signed out");
        if let (Some(second), Some(listener)) = (&second, listener.as_mut()) {
            assert!(
                wait_until_revoked(second, &user.bearer, Duration::from_secs(5)).await,
                "{storage}: the other instance still drops it on the notification"
            );
            let payloads = drain(listener).await;
            let named = payloads.iter().filter(|payload| **payload == format!("i:{session_id}")).count();
            assert!(named >= 2, "{storage}: the update and the delete name the session id: {payloads:?}");
            for payload in &payloads {
                assert!(!payload.contains(&user.token), "{storage}: raw token in a notification: {payload}");
                assert!(!payload.contains(&stored), "{storage}: stored token in a notification: {payload}");
            }
        }
    }
}
