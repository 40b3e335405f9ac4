//! `Idempotency-Key` on the task writes: a retry gets the first answer again (status,
//! `Location`, `ETag`, body) and writes nothing; concurrent retries, on one instance or two,
//! create exactly one task; a key reused for another request is 422; keys are per user, expire
//! after 24 hours, and a failed request does not keep its key.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::{
    http::{assert_error, header_str},
    server::TestApp,
    tasks::{TASKS, etag, id_of, task_path},
    users::User,
};

/// A request with an `Idempotency-Key`.
async fn send(user: &User, method: Method, path: &str, key: &str, body: Option<&Value>) -> Response {
    let mut request = user.request(method, path).header("idempotency-key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// Status, `Location`, `ETag` and body of an answer.
async fn answer(response: Response) -> (StatusCode, Option<String>, Option<String>, String) {
    let status = response.status();
    let location = header_str(&response, "location");
    let etag = header_str(&response, "etag");
    (status, location, etag, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_again_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "retry@example.com").await;
    let body = json!({"title": "Buy milk", "description": "2 litres"});
    let first = answer(send(&user, Method::POST, TASKS, "create-1", Some(&body)).await).await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert!(first.1.is_some() && first.2.is_some(), "Location and ETag: {first:?}");
    let snapshot = app.db.snapshot().await;
    let again = answer(send(&user, Method::POST, TASKS, "create-1", Some(&body)).await).await;
    assert_eq!(again, first, "the replay is the first answer");
    assert_eq!(app.db.snapshot().await, snapshot, "a replay writes nothing");
    assert_eq!(app.db.task_count(&user.id).await, 1);

    // A PATCH retried after the task changed again still gets its own first answer.
    let created: Value = serde_json::from_str(&first.3).expect("task JSON");
    let path = task_path(id_of(&created));
    let patch = json!({"is_completed": true});
    let patched = answer(send(&user, Method::PATCH, &path, "patch-1", Some(&patch)).await).await;
    assert_eq!(patched.0, StatusCode::OK);
    let renamed = user.patch_task(id_of(&created), &json!({"title": "Buy oat milk"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let replayed = answer(send(&user, Method::PATCH, &path, "patch-1", Some(&patch)).await).await;
    assert_eq!(replayed, patched, "the stored answer, not the current task");
    assert_eq!(app.db.task_row(id_of(&created)).await.expect("row")["title"], "Buy oat milk");

    // PUT and DELETE replay too; a replayed DELETE is still 204 with no body.
    let put = json!({"title": "Milk", "is_completed": false});
    let replaced = answer(send(&user, Method::PUT, &path, "put-1", Some(&put)).await).await;
    assert_eq!(replaced.0, StatusCode::OK);
    assert_eq!(answer(send(&user, Method::PUT, &path, "put-1", Some(&put)).await).await, replaced);
    let deleted = answer(send(&user, Method::DELETE, &path, "delete-1", None).await).await;
    assert_eq!(deleted.0, StatusCode::NO_CONTENT);
    assert_eq!(answer(send(&user, Method::DELETE, &path, "delete-1", None).await).await, deleted);
    assert_eq!(user.delete_task(id_of(&created)).await.status(), StatusCode::NOT_FOUND, "without a key: gone");
}

/// Many retries of one create at once, half through a second instance on the same database:
/// every one answers the same 201, and one task exists.
#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_task_across_instances() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().spawn().await;
    let user = User::sign_up(&app, "storm@example.com").await;
    let there = user.on(&sibling);
    let body = json!({"title": "Exactly once"});
    for round in 0..3 {
        let key = format!("storm-{round}");
        let requests: Vec<_> = (0..12)
            .map(|i| {
                let user = if i % 2 == 0 { user.clone() } else { there.clone() };
                let (key, body) = (key.clone(), body.clone());
                tokio::spawn(async move { answer(send(&user, Method::POST, TASKS, &key, Some(&body)).await).await })
            })
            .collect();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.expect("the request task finishes"));
        }
        let first = &answers[0];
        assert_eq!(first.0, StatusCode::CREATED, "round {round}: {first:?}");
        for other in &answers {
            assert_eq!(other, first, "round {round}: every retry gets the same answer");
        }
        assert_eq!(app.db.task_count(&user.id).await, round + 1, "round {round}: one task per key");
    }
    sibling.stop().await;
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "reuse@example.com").await;
    let created = send(&user, Method::POST, TASKS, "k", Some(&json!({"title": "One"}))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let task: Value = created.json().await.expect("task");
    // Requests that mean the same are the same request (an absent and a null description).
    let same = send(&user, Method::POST, TASKS, "k", Some(&json!({"title": " One ", "description": null}))).await;
    assert_eq!(same.status(), StatusCode::CREATED);
    assert_eq!(same.json::<Value>().await.expect("task"), task, "replayed");
    for body in &[json!({"title": "Two"}), json!({"title": "One", "description": "x"})] {
        let response = send(&user, Method::POST, TASKS, "k", Some(body)).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED").await;
    }
    // The same key on another operation is another request too.
    let path = task_path(id_of(&task));
    let response = send(&user, Method::PATCH, &path, "k", Some(&json!({"title": "One"}))).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED").await;
    assert_error(
        send(&user, Method::DELETE, &path, "k", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // So is the same body under another If-Match, and a PATCH that clears instead of leaving.
    let patch = json!({"title": "Same"});
    assert_eq!(send(&user, Method::PATCH, &path, "p", Some(&patch)).await.status(), StatusCode::OK);
    let conditional = user
        .request(Method::PATCH, &path)
        .header("idempotency-key", "p")
        .header("if-match", "*")
        .json(&patch)
        .send()
        .await
        .expect("sent");
    assert_error(conditional, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(send(&user, Method::PATCH, &path, "c", Some(&json!({}))).await.status(), StatusCode::OK);
    let cleared = send(&user, Method::PATCH, &path, "c", Some(&json!({"description": null}))).await;
    assert_error(cleared, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.db.task_count(&user.id).await, 1);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice-key@example.com").await;
    let bob = User::sign_up(&app, "bob-key@example.com").await;
    let alices = answer(send(&alice, Method::POST, TASKS, "shared", Some(&json!({"title": "Alice's"}))).await).await;
    // Bob's request with Alice's key is his own: no replay of her task, no reuse error.
    let bobs = answer(send(&bob, Method::POST, TASKS, "shared", Some(&json!({"title": "Bob's"}))).await).await;
    assert_eq!(bobs.0, StatusCode::CREATED);
    assert_ne!(bobs.1, alices.1);
    assert!(!bobs.3.contains("Alice"), "{bobs:?}");
    let bobs_again = answer(send(&bob, Method::POST, TASKS, "shared", Some(&json!({"title": "Alice's"}))).await).await;
    assert_eq!(bobs_again.0, StatusCode::UNPROCESSABLE_ENTITY, "Bob's key, Bob's first request");
    assert_eq!((app.db.task_count(&alice.id).await, app.db.task_count(&bob.id).await), (1, 1));
}

#[tokio::test]
async fn a_failed_request_does_not_keep_its_key_and_keys_expire_after_a_day() {
    let app = TestApp::builder().var("TASKS_PER_USER_LIMIT", "1").spawn().await;
    let user = User::sign_up(&app, "fail@example.com").await;
    let first = user.create_task_ok("only").await;
    let body = json!({"title": "second"});
    let refused = send(&user, Method::POST, TASKS, "again", Some(&body)).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "TASK_LIMIT_REACHED").await;
    assert_eq!(app.db.count_rows("task_idempotency").await, 0, "a failed write keeps no key");
    assert_eq!(user.delete_task(id_of(&first)).await.status(), StatusCode::NO_CONTENT);
    let created = send(&user, Method::POST, TASKS, "again", Some(&body)).await;
    assert_eq!(created.status(), StatusCode::CREATED, "the retry runs");

    // A day later the key is free again, for any request.
    let day_ago = OffsetDateTime::now_utc() - Duration::from_secs(24 * 3600 + 60);
    app.db.execute(r#"UPDATE "task_idempotency" SET "stored_at" = $1"#, vec![task_time(&app, day_ago)]).await;
    let created: Value = created.json().await.expect("task");
    assert_eq!(user.delete_task(id_of(&created)).await.status(), StatusCode::NO_CONTENT);
    let reused = send(&user, Method::POST, TASKS, "again", Some(&json!({"title": "third"}))).await;
    assert_eq!(reused.status(), StatusCode::CREATED, "an expired key is free");
    assert_eq!(reused.json::<Value>().await.expect("task")["title"], "third");
}

/// A time as the tasks tables hold it: text with microseconds on SQLite, `timestamptz` on
/// PostgreSQL.
fn task_time(app: &TestApp, at: OffsetDateTime) -> sea_orm::Value {
    match app.db.backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            );
            at.format(&format).expect("formats").into()
        }
        _ => at.into(),
    }
}

/// While another transaction holds the key, a retry waits; past `DB_TIMEOUT_MS` it is
/// `409 IDEMPOTENCY_IN_PROGRESS`, and once the holder is gone the key works.
#[tokio::test]
async fn a_retry_that_cannot_wait_for_the_first_is_409() {
    let app = TestApp::builder().var("DB_TIMEOUT_MS", "700").spawn().await;
    let user = User::sign_up(&app, "busy@example.com").await;
    let holder = app.db.begin().await;
    let now = task_time(&app, OffsetDateTime::now_utc());
    let statement = sea_orm::Statement::from_sql_and_values(
        app.db.backend(),
        r#"INSERT INTO "task_idempotency" ("owner_id", "key", "fingerprint", "status", "stored_at") VALUES ($1, 'held', 'x', 0, $2)"#,
        vec![user.id.clone().into(), now],
    );
    sea_orm::ConnectionTrait::execute_raw(&holder, statement).await.expect("the holder claims the key");
    let response = send(&user, Method::POST, TASKS, "held", Some(&json!({"title": "waits"}))).await;
    assert_error(response, StatusCode::CONFLICT, "IDEMPOTENCY_IN_PROGRESS").await;
    holder.rollback().await.expect("rolled back");
    let response = send(&user, Method::POST, TASKS, "held", Some(&json!({"title": "waits"}))).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    etag(&response);
}

#[tokio::test]
async fn malformed_keys_are_422_and_write_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "badkey@example.com").await;
    let snapshot = app.db.snapshot().await;
    let long = "k".repeat(256);
    for key in ["has space", "tab\tkey", long.as_str(), "caf\u{e9}", ""] {
        let response = user
            .request(Method::POST, TASKS)
            .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(key.as_bytes()).expect("header value"))
            .json(&json!({"title": "x"}))
            .send()
            .await
            .expect("sent");
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("header.Idempotency-Key"), "{key:?}: {message}");
    }
    assert_eq!(app.db.snapshot().await, snapshot);
    let ok = send(&user, Method::POST, TASKS, &"k".repeat(255), Some(&json!({"title": "x"}))).await;
    assert_eq!(ok.status(), StatusCode::CREATED, "255 visible ASCII characters are a key");
}
