//! `POST /api/v1/tasks`: what a created task looks like on the wire and in the table, the
//! validation of titles and descriptions, and the per-user limit.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::{
    http::{assert_error, assert_json, header_str, plain_client},
    server::{ORIGIN, TestApp},
    tasks::{TASKS, assert_task_stored, etag, id_of, task_path},
    users::User,
};

#[tokio::test]
async fn creating_a_task_returns_201_with_location_etag_and_the_stored_task() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    let response = alice.create_task(&json!({"title": "Buy milk", "description": "2 litres"})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_json(&response);
    let location = header_str(&response, "location").expect("Location header");
    let tag = etag(&response);
    let task: Value = response.json().await.expect("task JSON");
    assert_eq!(location, task_path(id_of(&task)), "Location names the new task");
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], "2 litres");
    assert_eq!(task["is_completed"], false);
    assert_eq!(task["owner_id"], alice.id.as_str());
    assert_eq!(task["created_at"], task["updated_at"], "a new task has not been updated");
    assert_task_stored(&app, &task).await;

    // The Location and ETag are usable as they are.
    let fetched = alice.request(Method::GET, &location).send().await.expect("sent");
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(etag(&fetched), tag, "GET reports the same version");
}

#[tokio::test]
async fn a_task_without_description_stores_null_and_titles_are_trimmed() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    let cases = [
        (json!({"title": "  Water plants \t"}), "Water plants", Value::Null, "absent description"),
        (json!({"title": "Call Bob", "description": null}), "Call Bob", Value::Null, "null description"),
        (json!({"title": "Empty", "description": ""}), "Empty", json!(""), "empty description is kept"),
        (
            json!({"title": "Multi-line", "description": "  line 1\n\tline 2  "}),
            "Multi-line",
            json!("  line 1\n\tline 2  "),
            "descriptions are not trimmed; newline and tab allowed",
        ),
    ];
    for (body, title, description, reason) in cases {
        let response = alice.create_task(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{reason}");
        let task: Value = response.json().await.expect("task JSON");
        assert_eq!(task["title"], title, "{reason}");
        assert_eq!(task["description"], description, "{reason}");
        assert_task_stored(&app, &task).await;
    }
}

#[tokio::test]
async fn titles_and_descriptions_at_their_limits_are_accepted_counted_in_characters() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    // 200 four-byte characters: 800 bytes, still 200 characters.
    let title = "🦀".repeat(200);
    let description = "é".repeat(10_000);

    let response = alice.create_task(&json!({"title": title, "description": description})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let task: Value = response.json().await.expect("task JSON");
    assert_eq!(task["title"], title.as_str());
    assert_eq!(task["description"], description.as_str());
    assert_task_stored(&app, &task).await;
}

#[tokio::test]
async fn invalid_titles_and_descriptions_are_422_naming_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let long_title = "a".repeat(201);
    let long_description = "x".repeat(10_001);

    let cases = [
        (json!({"title": ""}), "[body.title]", "empty title"),
        (json!({"title": " \t\n "}), "[body.title]", "whitespace-only title"),
        (json!({"title": long_title}), "[body.title]", "201-character title"),
        (json!({"title": "a\nb"}), "[body.title]", "newline inside a title"),
        (json!({"title": "a\u{7}b"}), "[body.title]", "bell in a title"),
        (json!({"title": "a\u{1b}[31mb"}), "[body.title]", "escape sequence in a title"),
        (json!({"title": "a\u{85}b"}), "[body.title]", "C1 control (NEL) in a title"),
        (json!({"title": "ok", "description": long_description}), "[body.description]", "10,001 characters"),
        (json!({"title": "ok", "description": "a\rb"}), "[body.description]", "carriage return"),
        (json!({"title": "ok", "description": "a\u{8}b"}), "[body.description]", "backspace"),
        (json!({"title": "", "description": "a\rb"}), "[body.title]", "both bad: at least the title is named"),
    ];
    for (body, field, reason) in cases {
        let response = alice.create_task(&body).await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{reason}: message {message:?} should name {field}");
    }
    assert_eq!(app.db.task_count(&alice.id).await, 0, "nothing was stored");
}

#[tokio::test]
async fn creating_without_a_valid_session_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let client = plain_client();
    let body = json!({"title": "Sneaky"});
    let unauthorized = (StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let cases = [
        (client.post(app.url(TASKS)).json(&body), unauthorized, "no credentials"),
        (client.post(app.url(TASKS)).header("x-user-id", &alice.id).json(&body), unauthorized, "X-User-Id alone"),
        (client.post(app.url(TASKS)).bearer_auth("not-a-token").json(&body), unauthorized, "garbage bearer"),
        (
            client.post(app.url(TASKS)).bearer_auth(format!("{}x", alice.bearer)).json(&body),
            unauthorized,
            "bearer with a bad signature",
        ),
        (
            client.post(app.url(TASKS)).header("authorization", format!("Basic {}", alice.bearer)).json(&body),
            unauthorized,
            "the token under another scheme",
        ),
        (
            client
                .post(app.url(TASKS))
                .header("cookie", "better-auth.session_token=forged")
                .header("origin", ORIGIN)
                .json(&body),
            unauthorized,
            "an unsigned cookie from the trusted origin",
        ),
        (
            client.post(app.url(TASKS)).header("cookie", "better-auth.session_token=forged").json(&body),
            (StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN"),
            "any cookie without Origin fails the CSRF check first",
        ),
    ];
    for (request, (status, code), why) in cases {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), status, "{why}");
        assert_error(response, status, code).await;
    }
    assert!(app.db.task_rows().await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn the_per_user_limit_refuses_the_next_task_with_422_and_no_row() {
    let app = TestApp::builder().var("TASKS_PER_USER_LIMIT", "3").spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let mut created = Vec::new();
    for n in 1..=3 {
        created.push(alice.create_task_ok(&format!("Task {n}")).await);
    }

    let response = alice.create_task(&json!({"title": "Task 4"})).await;

    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "TASK_LIMIT_REACHED").await;
    assert!(error["message"].as_str().unwrap_or_default().contains('3'), "the limit is stated: {error}");
    assert_eq!(app.db.task_count(&alice.id).await, 3, "no fourth row");
    // The limit is per user: Bob is not affected.
    bob.create_task_ok("Bob's first").await;
    // Deleting one makes room again.
    assert_eq!(alice.delete_task(id_of(&created[0])).await.status(), StatusCode::NO_CONTENT);
    alice.create_task_ok("Task 4, second try").await;
    assert_eq!(app.db.task_count(&alice.id).await, 3);
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_per_user_limit() {
    let app = TestApp::builder().var("TASKS_PER_USER_LIMIT", "3").spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let mut requests = JoinSet::new();
    for n in 0..12 {
        requests.spawn(alice.request(Method::POST, TASKS).json(&json!({"title": format!("Racer {n}")})).send());
    }

    let mut statuses = Vec::new();
    while let Some(sent) = requests.join_next().await {
        statuses.push(sent.expect("request task ran").expect("request sent").status());
    }

    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert_eq!((created, refused), (3, 9), "statuses: {statuses:?}");
    assert_eq!(app.db.task_count(&alice.id).await, 3, "the table holds exactly the limit");
}
