//! Whatever a client sends to the tasks API, the answer is a JSON error with the right status
//! and code, never a 5xx, and nothing is stored; text that is accepted is stored byte for byte.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::assert_error,
    server::TestApp,
    tasks::{TASKS, assert_task_stored, id_of, task_path},
    users::User,
};

/// One raw request and what must come back.
struct Case {
    /// `POST` goes to the collection, anything else to an existing task.
    method: Method,
    /// The `Content-Type` header, if any.
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
    /// A fragment the message must contain (the field it names).
    names: Option<&'static str>,
    why: &'static str,
}

fn case(
    method: Method,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: StatusCode,
    code: &'static str,
    names: Option<&'static str>,
    why: &'static str,
) -> Case {
    Case { method, content_type, body: body.into(), status, code, names, why }
}

const JSON: Option<&str> = Some("application/json");
const BAD: StatusCode = StatusCode::BAD_REQUEST;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const MEDIA: StatusCode = StatusCode::UNSUPPORTED_MEDIA_TYPE;

fn bodies_that_are_refused() -> Vec<Case> {
    use Method as M;
    let nested = format!("{{\"title\": {}{}}}", "[".repeat(2_000), "]".repeat(2_000));
    vec![
        case(M::POST, JSON, r#"{"title":"#, BAD, "BAD_REQUEST", None, "truncated JSON"),
        case(M::POST, JSON, "", BAD, "BAD_REQUEST", None, "empty body declared as JSON"),
        case(M::POST, JSON, r#"{"title": "a",}"#, BAD, "BAD_REQUEST", None, "trailing comma"),
        case(M::POST, JSON, r#"{'title': 'a'}"#, BAD, "BAD_REQUEST", None, "single quotes"),
        case(M::POST, JSON, r#"{"title": "a"} {"title": "b"}"#, BAD, "BAD_REQUEST", None, "two documents"),
        case(M::POST, JSON, b"{\"title\": \"caf\xe9\"}".to_vec(), BAD, "BAD_REQUEST", None, "Latin-1, not UTF-8"),
        case(M::POST, JSON, b"{\"title\": \"\xff\xfe\"}".to_vec(), BAD, "BAD_REQUEST", None, "invalid UTF-8 bytes"),
        case(M::POST, JSON, b"{\"title\": \"\xed\xa0\x80\"}".to_vec(), BAD, "BAD_REQUEST", None, "UTF-8 surrogate"),
        case(M::POST, JSON, r#"{"title": "\ud800"}"#, BAD, "BAD_REQUEST", None, "escaped lone surrogate"),
        case(M::POST, JSON, b"{\"title\": \"a\x00b\"}".to_vec(), BAD, "BAD_REQUEST", None, "raw NUL byte in a string"),
        case(M::POST, JSON, nested, BAD, "BAD_REQUEST", None, "nesting 2,000 deep"),
        case(M::POST, JSON, r#"{"title": 1e400}"#, BAD, "BAD_REQUEST", None, "a number beyond f64"),
        case(M::POST, JSON, r#"{"title": "a\u0000b"}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "NUL"),
        case(
            M::POST,
            JSON,
            r#"{"title": "ok", "description": "\u0000"}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.description]"),
            "NUL in the description",
        ),
        case(M::POST, JSON, r#"{"title": 5}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "number title"),
        case(
            M::POST,
            JSON,
            r#"{"title": 123456789012345678901234567890}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.title]"),
            "huge number title",
        ),
        case(M::POST, JSON, r#"{"title": -1}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "negative"),
        case(M::POST, JSON, r#"{"title": true}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "boolean"),
        case(M::POST, JSON, r#"{"title": ["a"]}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "array"),
        case(M::POST, JSON, r#"{"title": {"a": 1}}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "object"),
        case(M::POST, JSON, r#"{"title": null}"#, INVALID, "VALIDATION_ERROR", Some("[body.title]"), "null title"),
        case(M::POST, JSON, "{}", INVALID, "VALIDATION_ERROR", Some("[body.title]"), "title missing"),
        case(M::POST, JSON, "[]", INVALID, "VALIDATION_ERROR", Some("[body]"), "an array body"),
        case(M::POST, JSON, "null", INVALID, "VALIDATION_ERROR", Some("[body]"), "a null body"),
        case(M::POST, JSON, "42", INVALID, "VALIDATION_ERROR", Some("[body]"), "a number body"),
        case(
            M::POST,
            JSON,
            r#"{"title": "ok", "description": 5}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.description]"),
            "number description",
        ),
        case(
            M::POST,
            JSON,
            r#"{"title": "ok", "is_completed": true}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.is_completed] Unknown field"),
            "create takes no flag",
        ),
        case(
            M::POST,
            JSON,
            r#"{"title": "ok", "owner_id": "someone-else"}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.owner_id] Unknown field"),
            "the owner cannot be chosen",
        ),
        case(
            M::POST,
            JSON,
            r#"{"title": "ok", "id": 1}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.id] Unknown field"),
            "the id cannot be chosen",
        ),
        case(M::POST, None, r#"{"title": "ok"}"#, MEDIA, "UNSUPPORTED_MEDIA_TYPE", None, "no content type"),
        case(M::POST, Some("text/plain"), r#"{"title": "ok"}"#, MEDIA, "UNSUPPORTED_MEDIA_TYPE", None, "text"),
        case(
            M::POST,
            Some("application/x-www-form-urlencoded"),
            "title=ok",
            MEDIA,
            "UNSUPPORTED_MEDIA_TYPE",
            None,
            "a form (only sign-in and sign-up take forms)",
        ),
        case(M::POST, Some("application/jsonx"), "{}", MEDIA, "UNSUPPORTED_MEDIA_TYPE", None, "lookalike type"),
        case(M::POST, None, "", INVALID, "VALIDATION_ERROR", Some("[body]"), "no body at all"),
        case(M::PUT, JSON, r#"{"title": "a", "is_completed": tru"#, BAD, "BAD_REQUEST", None, "PUT: bad JSON"),
        case(M::PUT, None, r#"{"title": "a", "is_completed": true}"#, MEDIA, "UNSUPPORTED_MEDIA_TYPE", None, "PUT"),
        case(M::PATCH, JSON, b"{\"title\": \"\xc3\"}".to_vec(), BAD, "BAD_REQUEST", None, "PATCH: cut UTF-8"),
        case(M::PATCH, Some("text/plain"), "{}", MEDIA, "UNSUPPORTED_MEDIA_TYPE", None, "PATCH as text"),
        case(
            M::PATCH,
            JSON,
            r#"{"is_completed": "true"}"#,
            INVALID,
            "VALIDATION_ERROR",
            Some("[body.is_completed]"),
            "PATCH: a string for a boolean",
        ),
    ]
}

#[tokio::test]
async fn malformed_bodies_get_the_right_4xx_and_store_nothing() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let target = id_of(&alice.create_task_ok("Target").await);
    let before = app.db.task_rows().await;

    for case in bodies_that_are_refused() {
        let path = if case.method == Method::POST { TASKS.to_owned() } else { task_path(target) };
        let mut request = alice.request(case.method.clone(), &path).body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), case.status, "{} {}", case.method, case.why);
        let error = assert_error(response, case.status, case.code).await;
        if let Some(fragment) = case.names {
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains(fragment), "{}: message {message:?} should contain {fragment:?}", case.why);
        }
    }
    assert_eq!(app.db.task_rows().await, before, "nothing was stored or changed");
}

#[tokio::test]
async fn json_media_types_with_parameters_or_other_case_are_accepted() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/json ; charset=UTF-8"] {
        let response = alice
            .request(Method::POST, TASKS)
            .header("content-type", content_type)
            .body(r#"{"title": "typed"}"#)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
    }
}

#[tokio::test]
async fn ids_that_cannot_name_a_task_are_422_on_every_method() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    alice.create_task_ok("Existing").await;
    let before = app.db.task_rows().await;

    for raw in ["abc", "99999999999999999999", "-99999999999999999999", "1.0", "0", "-1"] {
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            let request = alice.request(method.clone(), &format!("{TASKS}/{raw}"));
            let request = match method {
                Method::PUT => request.json(&json!({"title": "x", "is_completed": true})),
                Method::PATCH => request.json(&json!({"title": "x"})),
                _ => request,
            };
            let response = request.send().await.expect("sent");
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{method} /tasks/{raw}");
            let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.starts_with("[path.id] "), "{method} /tasks/{raw}: {message:?}");
        }
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}

#[tokio::test]
async fn bodies_over_body_limit_are_413_and_store_nothing() {
    let app = TestApp::builder().var("BODY_LIMIT", "1024").spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let target = id_of(&alice.create_task_ok("Target").await);
    let before = app.db.task_rows().await;
    let big = "x".repeat(2_000);

    let requests = [
        (Method::POST, TASKS.to_owned(), json!({"title": "big", "description": big})),
        (Method::PUT, task_path(target), json!({"title": "big", "description": big, "is_completed": true})),
        (Method::PATCH, task_path(target), json!({"description": big})),
    ];
    for (method, path, body) in requests {
        let response = alice.request(method.clone(), &path).json(&body).send().await.expect("sent");
        let error = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
        assert!(error["message"].as_str().unwrap_or_default().contains("1024"), "{method}: the limit is stated");
    }
    assert_eq!(app.db.task_rows().await, before, "nothing was stored or changed");

    // Just under the limit is fine.
    let fits = json!({"title": "fits", "description": "y".repeat(900)});
    assert!(serde_json::to_vec(&fits).expect("serialises").len() <= 1024);
    assert_eq!(alice.create_task(&fits).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn emoji_and_combining_characters_round_trip_byte_for_byte() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let texts = [
        "e\u{301}cole: e + combining acute, not é",
        "family 👩\u{200d}👩\u{200d}👧 with zero-width joiners",
        "flags 🇺🇦🇯🇵, skin tone 👍🏽, keycap 1\u{fe0f}\u{20e3}",
        "Z\u{351}\u{36b}\u{343}a\u{30c}\u{35b}l\u{30e}g\u{30c}o stacked marks",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP, 中文, العربية, \u{202e}right-to-left override",
        "ﬁ ligature, Å (angstrom sign) and Å (A ring)",
    ];

    for text in texts {
        let description = format!("{text}\n\twith a newline and a tab");
        let sent = serde_json::to_vec(&json!({"title": text, "description": description})).expect("serialises");
        let response = alice
            .request(Method::POST, TASKS)
            .header("content-type", "application/json")
            .body(sent)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED, "{text}");
        let created: Value = response.json().await.expect("task JSON");
        let id = id_of(&created);
        let fetched: Value = alice.get_task(id).await.json().await.expect("task JSON");
        let row = app.db.task_row(id).await.expect("row");

        for (seen, source) in [(&created, "POST"), (&fetched, "GET"), (&row, "database")] {
            let title = seen["title"].as_str().expect("title");
            let stored_description = seen["description"].as_str().expect("description");
            assert_eq!(title.as_bytes(), text.as_bytes(), "{source} title bytes of {text:?}");
            assert_eq!(stored_description.as_bytes(), description.as_bytes(), "{source} description of {text:?}");
        }
        assert_task_stored(&app, &fetched).await;
    }
}

#[tokio::test]
async fn escaped_and_raw_unicode_store_the_same_text_and_updates_keep_it_exact() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;

    // The crab as a JSON surrogate-pair escape and as raw UTF-8.
    let escaped = alice
        .request(Method::POST, TASKS)
        .header("content-type", "application/json")
        .body(r#"{"title": "\ud83e\udd80 Ferris"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(escaped.status(), StatusCode::CREATED);
    let id = id_of(&escaped.json::<Value>().await.expect("task JSON"));
    assert_eq!(app.db.task_row(id).await.expect("row")["title"], "🦀 Ferris");

    let title = "Cafe\u{301} ☕";
    let put = alice.put_task(id, &json!({"title": title, "description": "a\u{301}", "is_completed": false})).await;
    assert_eq!(put.status(), StatusCode::OK);
    let patch = alice.patch_task(id, &json!({"description": "o\u{308}\u{0323} ✓"})).await;
    assert_eq!(patch.status(), StatusCode::OK);
    let row = app.db.task_row(id).await.expect("row");
    assert_eq!(row["title"].as_str().map(str::as_bytes), Some(title.as_bytes()));
    assert_eq!(row["description"].as_str().map(str::as_bytes), Some("o\u{308}\u{0323} ✓".as_bytes()));
}

#[tokio::test]
async fn a_forged_x_user_id_never_changes_whose_tasks_are_used() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let bobs = id_of(&bob.create_task_ok("Bob's").await);

    let created = alice
        .request(Method::POST, TASKS)
        .header("x-user-id", &bob.id)
        .json(&json!({"title": "Alice's, claiming to be Bob"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let task: Value = created.json().await.expect("task JSON");
    assert_eq!(task["owner_id"], alice.id.as_str(), "the session decides the owner");
    assert_task_stored(&app, &task).await;

    for (method, expected) in [
        (Method::GET, StatusCode::NOT_FOUND),
        (Method::PATCH, StatusCode::NOT_FOUND),
        (Method::DELETE, StatusCode::NOT_FOUND),
    ] {
        let request = alice.request(method.clone(), &task_path(bobs)).header("x-user-id", &bob.id);
        let request = if method == Method::PATCH { request.json(&json!({"title": "hijacked"})) } else { request };
        let response = request.send().await.expect("sent");
        assert_error(response, expected, "TASK_NOT_FOUND").await;
    }
    let listed = alice.request(Method::GET, TASKS).header("x-user-id", &bob.id).send().await.expect("sent");
    let page: Value = listed.json().await.expect("page JSON");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "only Alice's task: {page}");
    assert_eq!(app.db.task_row(bobs).await.expect("Bob's row")["title"], "Bob's", "untouched");
}
