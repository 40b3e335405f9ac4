//! `SESSION_ABSOLUTE_LIFETIME` (issue 13, "Also"): however often the sliding refresh extended
//! it, a session ends at its sign-in (`createdAt`) plus the absolute lifetime (default 30 days),
//! and the refresh never moves `expiresAt` past that point. The tests age `createdAt` in the
//! database, as a clock moving forward would; both databases.

use reqwest::StatusCode;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::stored_time,
    http::ok_json,
    server::TestApp,
    users::{GET_SESSION, PASSWORD, User},
    wire::parse_time,
};

/// Moves a session's sign-in back by `age` and sets its expiry `expires_in` from now, as if the
/// sliding refresh had kept it alive all that time.
async fn age_session(app: &TestApp, user: &User, age: Duration, expires_in: Duration) -> String {
    let row = app.db.session_row(&user.token).await;
    let id = row["id"].as_str().expect("id").to_owned();
    let backend = app.db.backend();
    // At milliseconds, as the service writes times (PostgreSQL would keep microseconds).
    let now = OffsetDateTime::now_utc();
    let now = now.replace_millisecond(now.millisecond()).expect("a valid millisecond");
    let sql = r#"UPDATE "session" SET "createdAt" = $1, "expiresAt" = $2 WHERE "id" = $3"#;
    let values = vec![stored_time(backend, now - age), stored_time(backend, now + expires_in), id.as_str().into()];
    assert_eq!(app.db.execute(sql, values).await, 1);
    id
}

#[tokio::test]
async fn a_session_older_than_the_absolute_lifetime_no_longer_authenticates_whatever_its_expiry() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "absolute@example.com").await;
    let young = User::sign_in(&app, "absolute@example.com", PASSWORD).await;
    // Signed in 30 days and a minute ago, refreshed yesterday: `expiresAt` six days ahead.
    let id = age_session(&app, &user, Duration::days(30) + Duration::minutes(1), Duration::days(6)).await;
    // Another session of the same user, signed in 29 days ago, still works.
    age_session(&app, &young, Duration::days(29), Duration::days(6)).await;

    assert!(user.session().await.is_null(), "get-session answers null past the absolute lifetime");
    let tasks = user.get("/api/v1/tasks").await;
    assert_eq!(tasks.status(), StatusCode::UNAUTHORIZED, "the tasks API refuses it");
    let left = app.db.count(r#"SELECT count(*) FROM "session" WHERE "id" = $1"#, vec![id.into()]).await;
    assert_eq!(left, 0, "the ended session is deleted");
    assert!(!young.session().await.is_null(), "a session inside its absolute lifetime still works");
    assert_eq!(young.get("/api/v1/tasks").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sliding_refresh_never_extends_a_session_past_its_absolute_lifetime() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "capped@example.com").await;
    // Signed in 29 days ago, last refreshed six and a half days ago (expiring in 12 hours): due
    // for a refresh, which would otherwise extend it to 7 days from now (day 36).
    age_session(&app, &user, Duration::days(29), Duration::hours(12)).await;

    let body: Value = ok_json(user.get(GET_SESSION).await).await;

    let row = app.db.session_row(&user.token).await;
    let created = parse_time(&row["createdAt"]);
    let expires = parse_time(&row["expiresAt"]);
    assert_eq!(expires, created + Duration::days(30), "refreshed only up to createdAt + 30 days");
    assert_eq!(parse_time(&body["session"]["expiresAt"]), expires, "the body shows the capped expiry");

    // Once at its end, a due refresh changes nothing (no write on every request).
    let again: Value = ok_json(user.get(GET_SESSION).await).await;
    assert_eq!(parse_time(&again["session"]["expiresAt"]), expires);
    assert_eq!(parse_time(&app.db.session_row(&user.token).await["expiresAt"]), expires);
}

#[tokio::test]
async fn the_absolute_lifetime_is_configurable_and_caps_new_sessions() {
    let app = TestApp::builder().var("SESSION_ABSOLUTE_LIFETIME", "3600").spawn().await;
    let user = User::sign_up(&app, "short@example.com").await;
    let row = app.db.session_row(&user.token).await;
    let lifetime = parse_time(&row["expiresAt"]) - parse_time(&row["createdAt"]);
    assert_eq!(lifetime, Duration::hours(1), "a new session expires at the absolute end (before SESSION_EXPIRES_IN)");

    age_session(&app, &user, Duration::minutes(61), Duration::days(1)).await;
    assert!(user.session().await.is_null(), "an hour after sign-in it is over");
}
