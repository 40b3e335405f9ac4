//! `PUT` and `PATCH /api/v1/tasks/{id}`: full replacement, partial update, validation, and
//! optimistic concurrency with `If-Match` (a refused write changes nothing).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, assert_json},
    server::TestApp,
    tasks::{assert_task_stored, etag, id_of, task_path},
    users::User,
};

/// Creates a task with a description and returns it with its ETag.
async fn task_with_description(alice: &User) -> (Value, String) {
    let response = alice.create_task(&json!({"title": "Original", "description": "Original notes"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tag = etag(&response);
    (response.json().await.expect("task JSON"), tag)
}

#[tokio::test]
async fn put_replaces_every_field_and_an_absent_description_clears_it() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let (task, created_tag) = task_with_description(&alice).await;

    let response = alice.put_task(id_of(&task), &json!({"title": "  Replaced ", "is_completed": true})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_json(&response);
    let new_tag = etag(&response);
    assert_ne!(new_tag, created_tag, "a new version has a new ETag");
    let replaced: Value = response.json().await.expect("task JSON");
    assert_eq!(replaced["id"], task["id"]);
    assert_eq!(replaced["title"], "Replaced", "titles are trimmed");
    assert_eq!(replaced["description"], Value::Null, "absent description clears it");
    assert_eq!(replaced["is_completed"], true);
    assert_eq!(replaced["owner_id"], alice.id.as_str());
    assert_eq!(replaced["created_at"], task["created_at"], "creation time is kept");
    assert!(replaced["updated_at"].as_str() >= task["updated_at"].as_str(), "updated_at moves forward");
    assert_task_stored(&app, &replaced).await;
    assert_eq!(etag(&alice.get_task(id_of(&task)).await), new_tag, "GET sees the new version");
}

#[tokio::test]
async fn put_sets_a_description_and_can_reopen_a_task() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let id = id_of(&alice.create_task_ok("Plain").await);
    let done = alice.put_task(id, &json!({"title": "Plain", "description": null, "is_completed": true})).await;
    assert_eq!(done.status(), StatusCode::OK);

    let response =
        alice.put_task(id, &json!({"title": "Plain", "description": "now with notes", "is_completed": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let task: Value = response.json().await.expect("task JSON");
    assert_eq!((task["description"].as_str(), task["is_completed"].as_bool()), (Some("now with notes"), Some(false)));
    assert_task_stored(&app, &task).await;
}

#[tokio::test]
async fn patch_changes_only_the_fields_present() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let (task, _) = task_with_description(&alice).await;
    let id = id_of(&task);

    // Each step: the patch, then the expected (title, description, is_completed).
    let steps = [
        (json!({"is_completed": true}), ("Original", json!("Original notes"), true), "flag only"),
        (json!({"title": "  Renamed  "}), ("Renamed", json!("Original notes"), true), "title only, trimmed"),
        (json!({"description": "New notes"}), ("Renamed", json!("New notes"), true), "description only"),
        (json!({"description": null}), ("Renamed", Value::Null, true), "null clears the description"),
        (
            json!({"title": "All", "description": "x\ty", "is_completed": false}),
            ("All", json!("x\ty"), false),
            "every field",
        ),
    ];
    for (patch, (title, description, done), reason) in steps {
        let response = alice.patch_task(id, &patch).await;
        assert_eq!(response.status(), StatusCode::OK, "{reason}");
        etag(&response);
        let patched: Value = response.json().await.expect("task JSON");
        assert_eq!(patched["title"], title, "{reason}");
        assert_eq!(patched["description"], description, "{reason}");
        assert_eq!(patched["is_completed"], done, "{reason}");
        assert_eq!(patched["created_at"], task["created_at"], "{reason}");
        assert_task_stored(&app, &patched).await;
    }
}

#[tokio::test]
async fn an_empty_patch_returns_the_current_task_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let (task, tag) = task_with_description(&alice).await;
    let before = app.db.task_row(id_of(&task)).await;

    let response = alice.patch_task(id_of(&task), &json!({})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), tag, "same version");
    let body: Value = response.json().await.expect("task JSON");
    assert_eq!(body, task);
    assert_eq!(app.db.task_row(id_of(&task)).await, before, "not even updated_at moved");
}

#[tokio::test]
async fn invalid_replacements_and_patches_are_422_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let (task, _) = task_with_description(&alice).await;
    let id = id_of(&task);
    let before = app.db.task_rows().await;

    let cases = [
        (Method::PUT, json!({"title": "No flag"}), "[body.is_completed]", "PUT without is_completed"),
        (Method::PUT, json!({"is_completed": true}), "[body.title]", "PUT without title"),
        (Method::PUT, json!({"title": "x", "is_completed": "yes"}), "[body.is_completed]", "flag as a string"),
        (Method::PUT, json!({"title": "x", "is_completed": 1}), "[body.is_completed]", "flag as a number"),
        (Method::PUT, json!({"title": "", "is_completed": true}), "[body.title]", "empty title"),
        (Method::PUT, json!({"title": "x", "is_completed": true, "completed": true}), "[body.completed]", "typo key"),
        (Method::PUT, json!({"title": "x", "is_completed": true, "owner_id": "someone"}), "[body.owner_id]", "owner"),
        (Method::PATCH, json!({"title": null}), "[body.title]", "null title"),
        (Method::PATCH, json!({"is_completed": null}), "[body.is_completed]", "null flag"),
        (Method::PATCH, json!({"title": "   "}), "[body.title]", "blank title"),
        (Method::PATCH, json!({"title": "a\u{0}b"}), "[body.title]", "NUL in a title"),
        (Method::PATCH, json!({"description": "a\rb"}), "[body.description]", "carriage return"),
        (Method::PATCH, json!({"description": 7}), "[body.description]", "number description"),
        (Method::PATCH, json!({"id": 99}), "[body.id]", "trying to change the id"),
        (Method::PATCH, json!([]), "[body]", "an array"),
        (Method::PATCH, json!(null), "[body]", "null"),
        (Method::PUT, json!("text"), "[body]", "a string"),
    ];
    for (method, body, field, reason) in cases {
        let response = alice.request(method.clone(), &task_path(id)).json(&body).send().await.expect("sent");
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{method} {reason}: message {message:?} should name {field}");
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}

#[tokio::test]
async fn updating_a_missing_or_foreign_task_is_404_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let bobs = id_of(&bob.create_task_ok("Bob's").await);
    let before = app.db.task_rows().await;

    for id in [bobs, bobs + 1] {
        let put = alice.put_task(id, &json!({"title": "Mine now", "is_completed": true})).await;
        assert_error(put, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        let patch = alice.patch_task(id, &json!({"title": "Mine now"})).await;
        assert_error(patch, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        let empty = alice.patch_task(id, &json!({})).await;
        assert_error(empty, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}

/// A conditional write with an `If-Match` header.
async fn conditional(alice: &User, method: &Method, id: i64, if_match: &str) -> reqwest::Response {
    let request = alice.request(method.clone(), &task_path(id)).header("if-match", if_match);
    let request = match *method {
        Method::PUT => request.json(&json!({"title": "Changed", "is_completed": true})),
        Method::PATCH => request.json(&json!({"is_completed": true})),
        _ => request,
    };
    request.send().await.expect("sent")
}

#[tokio::test]
async fn a_stale_or_unmatchable_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let (task, stale) = task_with_description(&alice).await;
        let id = id_of(&task);
        let touched = alice.patch_task(id, &json!({"title": "Touched"})).await;
        let current = etag(&touched);
        let before = app.db.task_rows().await;

        let refusals = [
            (stale.clone(), "the version before the last change"),
            (format!("W/{current}"), "weak tags never match (strong comparison)"),
            (current.trim_matches('"').to_owned(), "an unquoted tag"),
            ("\"zzzz\"".to_owned(), "not a version"),
            ("garbage".to_owned(), "garbage"),
            (String::new(), "empty"),
            (format!("{stale}, \"00\""), "a list of stale tags"),
        ];
        for (if_match, reason) in refusals {
            let response = conditional(&alice, &method, id, &if_match).await;
            assert_error(response, StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").await;
            assert_eq!(app.db.task_rows().await, before, "{method} with {reason}: nothing changed");
        }

        let response = conditional(&alice, &method, id, &format!("{stale}, {current}")).await;
        let expected = if method == Method::DELETE { StatusCode::NO_CONTENT } else { StatusCode::OK };
        assert_eq!(response.status(), expected, "{method}: a list holding the current tag matches");
    }
}

#[tokio::test]
async fn the_current_etag_and_star_match_and_each_write_yields_a_new_etag() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let created = alice.create_task(&json!({"title": "Versioned"})).await;
    let mut tag = etag(&created);
    let id = id_of(&created.json::<Value>().await.expect("task JSON"));

    for (method, if_match) in
        [(Method::PUT, None), (Method::PATCH, None), (Method::PUT, Some("*")), (Method::PATCH, Some("*"))]
    {
        let response = conditional(&alice, &method, id, if_match.unwrap_or(&tag)).await;
        assert_eq!(response.status(), StatusCode::OK, "{method} If-Match {if_match:?}");
        let next = etag(&response);
        assert_ne!(next, tag, "{method}: a new version");
        let body: Value = response.json().await.expect("task JSON");
        assert_task_stored(&app, &body).await;
        tag = next;
    }
    // An empty PATCH honours If-Match too.
    let empty = alice.request(Method::PATCH, &task_path(id)).header("if-match", &tag).json(&json!({})).send();
    assert_eq!(empty.await.expect("sent").status(), StatusCode::OK);
    let stale_empty = alice.request(Method::PATCH, &task_path(id)).header("if-match", "\"1\"").json(&json!({})).send();
    assert_error(stale_empty.await.expect("sent"), StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").await;
}

#[tokio::test]
async fn if_match_on_a_missing_or_foreign_task_is_404_not_412() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let created = bob.create_task(&json!({"title": "Bob's"})).await;
    let bobs_tag = etag(&created);
    let bobs = id_of(&created.json::<Value>().await.expect("task JSON"));
    let before = app.db.task_rows().await;

    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        for if_match in ["*", bobs_tag.as_str(), "\"1\""] {
            for id in [bobs, bobs + 1] {
                let response = conditional(&alice, &method, id, if_match).await;
                assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
            }
        }
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}
