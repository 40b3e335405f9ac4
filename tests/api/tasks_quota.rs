//! The per-user task limit stays exact however tasks come and go: through the API, directly
//! in SQL (PostgreSQL keeps its counter with triggers), or with their owner.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{http::assert_error, server::TestApp, tasks::id_of, users::User};

/// Asserts that `user` cannot create one more task.
async fn assert_limit_reached(user: &User, title: &str) {
    let response = user.create_task(&json!({"title": title})).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "TASK_LIMIT_REACHED").await;
}

#[tokio::test]
async fn the_limit_counts_tasks_removed_by_the_api_and_directly_in_sql() {
    let app = TestApp::builder().var("TASKS_PER_USER_LIMIT", "3").spawn().await;
    let user = User::sign_up(&app, "quota@example.com").await;
    let first = user.create_task_ok("one").await;
    let second = user.create_task_ok("two").await;
    user.create_task_ok("three").await;
    assert_limit_reached(&user, "four").await;

    // A task removed behind the API's back frees a place.
    app.db.execute(r#"DELETE FROM "task" WHERE "id" = $1"#, vec![id_of(&first).into()]).await;
    user.create_task_ok("four").await;
    assert_limit_reached(&user, "five").await;

    // So does one deleted through the API.
    assert_eq!(user.delete_task(id_of(&second)).await.status(), StatusCode::NO_CONTENT);
    user.create_task_ok("five").await;
    assert_limit_reached(&user, "six").await;
}
