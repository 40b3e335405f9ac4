//! Concurrency: racing sign-ups for one email, and the bounded password-hashing pool shedding
//! load with 503 rather than failing or queueing without bound.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::{
    http::{header_str, plain_client},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, SIGN_UP, User},
};

/// Status, `Retry-After` and body of each response, as requests finish.
async fn collect(mut requests: JoinSet<reqwest::Response>) -> Vec<(StatusCode, Option<String>, Value)> {
    let mut answers = Vec::new();
    while let Some(joined) = requests.join_next().await {
        let response = joined.expect("request task finished");
        let status = response.status();
        let retry_after = header_str(&response, "retry-after");
        answers.push((status, retry_after, response.json().await.unwrap_or(Value::Null)));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_sign_ups_with_one_email_create_exactly_one_user() {
    let app = TestApp::spawn().await;
    let client = plain_client();
    let mut requests = JoinSet::new();
    for i in 0..50 {
        let request = client
            .post(app.url(SIGN_UP))
            .json(&json!({"name": format!("Racer {i}"), "email": "race@example.com", "password": PASSWORD}));
        requests.spawn(async move { request.send().await.expect("sent") });
    }

    let answers = collect(requests).await;

    let statuses: Vec<u16> = answers.iter().map(|(status, ..)| status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s < 500), "no 5xx: {statuses:?}");
    let created = answers.iter().filter(|(status, ..)| *status == StatusCode::OK).count();
    assert_eq!(created, 1, "exactly one sign-up wins");
    let duplicate = json!({
        "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        "message": "User already exists. Use another email.",
    });
    for (status, _, body) in answers.iter().filter(|(status, ..)| *status != StatusCode::OK) {
        assert_eq!((*status, body), (StatusCode::UNPROCESSABLE_ENTITY, &duplicate));
    }
    assert_eq!(
        (app.db.count_rows("user").await, app.db.count_rows("account").await, app.db.count_rows("session").await),
        (1, 1, 1),
        "one user, one credential account, one session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hashing_pool_answers_503_with_retry_after_and_never_500() {
    let app = TestApp::builder().var("HASH_CONCURRENCY", "1").var("HASH_QUEUE", "0").spawn().await;
    User::sign_up(&app, "busy@example.com").await;
    let client = plain_client();
    let mut requests = JoinSet::new();
    for _ in 0..8 {
        let request = client.post(app.url(SIGN_IN)).json(&json!({"email": "busy@example.com", "password": PASSWORD}));
        requests.spawn(async move { request.send().await.expect("sent") });
    }

    let answers = collect(requests).await;

    let statuses: Vec<StatusCode> = answers.iter().map(|(status, ..)| *status).collect();
    assert!(
        statuses.iter().all(|s| matches!(*s, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE)),
        "only 200 or 503: {statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK), "the hash that got the slot completes: {statuses:?}");
    let shed: Vec<_> = answers.iter().filter(|(status, ..)| *status == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!shed.is_empty(), "with one slot and no queue, concurrent sign-ins are shed: {statuses:?}");
    for (_, retry_after, body) in shed {
        assert!(retry_after.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)), "{retry_after:?}");
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    }
    let after = app.sign_in("busy@example.com", PASSWORD).await;
    assert_eq!(after.status(), StatusCode::OK, "capacity returns once the burst is over");
}

#[tokio::test]
async fn one_client_signing_in_repeatedly_is_never_shed_by_a_one_slot_pool() {
    // Each request starts only after the previous answer arrived, so the pool is never full.
    let app = TestApp::builder().var("HASH_CONCURRENCY", "1").var("HASH_QUEUE", "0").spawn().await;
    User::sign_up(&app, "steady@example.com").await;

    for attempt in 1..=5 {
        let response = app.sign_in("steady@example.com", PASSWORD).await;

        assert_eq!(response.status(), StatusCode::OK, "sequential attempt {attempt}");
    }
}
