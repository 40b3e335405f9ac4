//! CSRF on the tasks API: a write authenticated by the session cookie must come from a trusted
//! `Origin` (or `Referer`); refused writes change nothing. A valid bearer token carries no
//! ambient authority, so it needs no origin. Reads are never origin-checked.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, plain_client},
    server::{ORIGIN, TestApp},
    tasks::{TASKS, id_of, task_path},
    users::{User, Via},
};

/// Extra request headers.
type Headers = &'static [(&'static str, &'static str)];

/// Alice, signed up in a browser (her `cookie` is what it would send), and a task she created
/// from the page.
async fn browser_user(app: &TestApp) -> (User, i64) {
    let alice = User::sign_up_via(app, "alice@example.com", Via::Browser).await;
    // The browser sends the trusted Origin: creating works.
    let created = alice.create_task(&json!({"title": "Created from the page"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let task = id_of(&created.json::<Value>().await.expect("task JSON"));
    (alice, task)
}

/// Each state-changing operation, as a request with a valid body and no credentials yet.
fn writes(app: &TestApp, task: i64) -> Vec<(&'static str, RequestBuilder)> {
    let client = plain_client();
    vec![
        ("POST", client.post(app.url(TASKS)).json(&json!({"title": "Forged"}))),
        ("PUT", client.put(app.url(&task_path(task))).json(&json!({"title": "Forged", "is_completed": true}))),
        ("PATCH", client.patch(app.url(&task_path(task))).json(&json!({"title": "Forged"}))),
        ("DELETE", client.delete(app.url(&task_path(task)))),
    ]
}

#[tokio::test]
async fn cookie_writes_without_a_trusted_origin_are_403_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (alice, task) = browser_user(&app).await;
    let before = app.db.task_rows().await;

    // (extra headers, expected code, why)
    let origins: [(Headers, &str, &str); 8] = [
        (&[], "MISSING_OR_NULL_ORIGIN", "no Origin and no Referer"),
        (&[("origin", "null")], "MISSING_OR_NULL_ORIGIN", "a sandboxed or opaque origin"),
        (
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
            "MISSING_OR_NULL_ORIGIN",
            "an opaque origin the browser says is cross-site",
        ),
        (&[("origin", "https://evil.example")], "INVALID_ORIGIN", "another site"),
        (&[("origin", "http://localhost:3001")], "INVALID_ORIGIN", "another port"),
        (&[("origin", "http://localhost:3000.evil.example")], "INVALID_ORIGIN", "a lookalike host"),
        (&[("referer", "https://evil.example/page")], "INVALID_ORIGIN", "an untrusted Referer"),
        (&[("origin", "https://evil.example"), ("referer", "http://localhost:3000/")], "INVALID_ORIGIN", "Origin wins"),
    ];
    for (headers, code, why) in origins {
        for (method, mut request) in writes(&app, task) {
            request = request.header("cookie", &alice.cookie);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.expect("sent");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} with {why}");
            assert_error(response, StatusCode::FORBIDDEN, code).await;
        }
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}

#[tokio::test]
async fn cookie_writes_from_a_trusted_origin_or_referer_succeed() {
    let app = TestApp::spawn().await;
    let (alice, task) = browser_user(&app).await;
    let client = plain_client();

    let by_referer = client
        .patch(app.url(&task_path(task)))
        .header("cookie", &alice.cookie)
        .header("referer", format!("{ORIGIN}/tasks?page=2"))
        .json(&json!({"is_completed": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(by_referer.status(), StatusCode::OK, "a trusted Referer counts by its origin");

    let by_origin = client
        .delete(app.url(&task_path(task)))
        .header("cookie", &alice.cookie)
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("sent");
    assert_eq!(by_origin.status(), StatusCode::NO_CONTENT);
    assert!(app.db.task_rows().await.is_empty());
}

#[tokio::test]
async fn cookie_reads_need_no_origin() {
    let app = TestApp::spawn().await;
    let (alice, task) = browser_user(&app).await;
    let client = plain_client();

    for path in [TASKS.to_owned(), task_path(task)] {
        let response = client.get(app.url(&path)).header("cookie", &alice.cookie).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    }
}

#[tokio::test]
async fn bearer_writes_need_no_origin_even_alongside_a_cookie() {
    let app = TestApp::spawn().await;
    let (alice, _) = browser_user(&app).await;

    // (extra headers, why): every write must succeed.
    let variants: [(Headers, &str); 2] =
        [(&[], "bearer alone, no Origin"), (&[("origin", "https://evil.example")], "bearer with an untrusted Origin")];
    for (headers, why) in variants {
        let task = {
            let created = plain_client()
                .post(app.url(TASKS))
                .bearer_auth(&alice.bearer)
                .json(&json!({"title": "For the bearer"}))
                .send()
                .await
                .expect("sent");
            assert_eq!(created.status(), StatusCode::CREATED, "{why}: create");
            id_of(&created.json::<Value>().await.expect("task JSON"))
        };
        for (method, mut request) in writes(&app, task) {
            request = request.bearer_auth(&alice.bearer).header("cookie", &alice.cookie);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let status = request.send().await.expect("sent").status();
            assert!(status.is_success(), "{method} with {why}: got {status}");
        }
    }
}

#[tokio::test]
async fn an_invalid_bearer_does_not_exempt_a_cookie_write_from_the_origin_check() {
    let app = TestApp::spawn().await;
    let (alice, task) = browser_user(&app).await;
    let before = app.db.task_rows().await;

    for (method, request) in writes(&app, task) {
        let response = request
            .header("cookie", &alice.cookie)
            .bearer_auth(format!("{}tampered", alice.bearer))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method}");
        assert_error(response, StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN").await;
    }
    assert_eq!(app.db.task_rows().await, before, "nothing changed");
}
