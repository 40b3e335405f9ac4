//! `GET /api/v1/tasks/{id}`: one task with its `ETag`; a missing task and another user's task
//! look the same; ids that cannot be task ids are refused without touching the database.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, assert_json, plain_client},
    server::TestApp,
    tasks::{TASKS, assert_task_stored, etag, id_of, task_path},
    users::User,
};

#[tokio::test]
async fn getting_a_task_returns_200_with_its_json_and_etag() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = alice.create_task(&json!({"title": "Read me", "description": "twice"})).await;
    let created_tag = etag(&created);
    let task: Value = created.json().await.expect("task JSON");

    let response = alice.get_task(id_of(&task)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_json(&response);
    assert_eq!(etag(&response), created_tag, "the version did not change");
    let fetched: Value = response.json().await.expect("task JSON");
    assert_eq!(fetched, task, "GET shows what POST returned");
    assert_task_stored(&app, &fetched).await;
}

#[tokio::test]
async fn a_missing_task_and_another_users_task_are_the_same_404() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let bobs = id_of(&bob.create_task_ok("Bob's secret").await);

    let foreign = alice.get_task(bobs).await;
    let missing = alice.get_task(bobs + 1000).await;

    let foreign = assert_error(foreign, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    let missing = assert_error(missing, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    assert_eq!(foreign, missing, "nothing tells another user's task from a missing one");
    assert_eq!(bob.get_task(bobs).await.status(), StatusCode::OK, "the owner still sees it");
}

#[tokio::test]
async fn ids_that_are_not_positive_integers_are_refused_never_5xx() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    alice.create_task_ok("Task one").await;

    let not_numbers = [
        ("abc", "letters"),
        ("1.5", "a fraction"),
        ("1e3", "exponent notation"),
        ("%20", "a space"),
        ("99999999999999999999", "larger than i64"),
        ("-99999999999999999999", "smaller than i64"),
        ("0x10", "hex"),
    ];
    for (raw, reason) in not_numbers {
        let response = alice.request(Method::GET, &format!("{TASKS}/{raw}")).send().await.expect("sent");
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], "[path.id] must be a positive integer", "{reason}");
    }

    for (id, reason) in [(i64::MAX, "largest i64"), (2, "the next id, not created yet")] {
        let response = alice.get_task(id).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{reason}");
        assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    }
}

#[tokio::test]
async fn zero_and_negative_ids_are_422_naming_the_path_id() {
    // The spec declares `minimum: 1` for the id, and the server enforces what it documents.
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    for id in [0, -1, i64::MIN] {
        let error = assert_error(alice.get_task(id).await, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("[path.id] "), "id {id}: {message:?}");
    }
}

#[tokio::test]
async fn reading_without_a_session_is_401_even_with_x_user_id() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let id = id_of(&alice.create_task_ok("Private").await);
    let client = plain_client();

    for path in [task_path(id), TASKS.to_owned()] {
        let response = client.get(app.url(&path)).header("x-user-id", &alice.id).send().await.expect("sent");
        assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
}
