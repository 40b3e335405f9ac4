//! `DELETE /api/v1/tasks/{id}`, and what deleting a user does to their tasks and sessions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::assert_error,
    server::TestApp,
    tasks::{etag, id_of, task_path},
    users::User,
};

#[tokio::test]
async fn deleting_a_task_returns_204_with_no_body_and_removes_the_row() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let doomed = id_of(&alice.create_task_ok("Doomed").await);
    let kept = id_of(&alice.create_task_ok("Kept").await);

    let response = alice.delete_task(doomed).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body read").is_empty(), "204 has no body");
    assert_eq!(app.db.task_row(doomed).await, None, "the row is gone");
    assert!(app.db.task_row(kept).await.is_some(), "only that row");
    assert_error(alice.get_task(doomed).await, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    assert_error(alice.delete_task(doomed).await, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn deleting_another_users_task_is_404_and_keeps_it() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let bobs = id_of(&bob.create_task_ok("Bob's").await);
    let before = app.db.task_rows().await;

    let response = alice.delete_task(bobs).await;

    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    assert_eq!(app.db.task_rows().await, before, "nothing deleted");
}

#[tokio::test]
async fn delete_honours_if_match() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = alice.create_task(&json!({"title": "Guarded"})).await;
    let stale = etag(&created);
    let id = id_of(&created.json::<Value>().await.expect("task JSON"));
    let current = etag(&alice.patch_task(id, &json!({"is_completed": true})).await);

    let refused = alice.request(Method::DELETE, &task_path(id)).header("if-match", &stale).send().await;
    assert_error(refused.expect("sent"), StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").await;
    assert!(app.db.task_row(id).await.is_some(), "a stale If-Match deletes nothing");

    let accepted = alice.request(Method::DELETE, &task_path(id)).header("if-match", &current).send().await;
    assert_eq!(accepted.expect("sent").status(), StatusCode::NO_CONTENT);
    assert_eq!(app.db.task_row(id).await, None);

    let other = id_of(&alice.create_task_ok("Any version").await);
    let star = alice.request(Method::DELETE, &task_path(other)).header("if-match", "*").send().await;
    assert_eq!(star.expect("sent").status(), StatusCode::NO_CONTENT, "* matches any existing version");
    let gone = alice.request(Method::DELETE, &task_path(other)).header("if-match", "*").send().await;
    assert_error(gone.expect("sent"), StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn deleting_a_user_in_sql_cascades_to_their_tasks_and_sessions_only() {
    // No session cache: a lookup after the out-of-band delete must reach the database.
    let app = TestApp::builder().var("SESSION_CACHE_TTL", "0").spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    for n in 0..3 {
        alice.create_task_ok(&format!("Alice {n}")).await;
    }
    let bobs = id_of(&bob.create_task_ok("Bob's").await);
    let sessions = r#"SELECT count(*) FROM "session" WHERE "userId" = $1"#;
    assert_eq!(app.db.count(sessions, vec![alice.id.clone().into()]).await, 1);

    app.db.execute(r#"DELETE FROM "user" WHERE "id" = $1"#, vec![alice.id.clone().into()]).await;

    assert_eq!(app.db.task_count(&alice.id).await, 0, "her tasks went with her");
    assert_eq!(app.db.count(sessions, vec![alice.id.clone().into()]).await, 0, "her sessions too");
    assert_eq!(app.db.task_count(&bob.id).await, 1, "Bob's tasks stay");
    assert_eq!(app.db.count(sessions, vec![bob.id.clone().into()]).await, 1, "Bob's session stays");
    assert_error(alice.list_tasks("").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_error(alice.create_task(&json!({"title": "Ghost"})).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(bob.get_task(bobs).await.status(), StatusCode::OK);
}
