//! Cross-site request forgery and CORS (issue 7): a cookie-authenticated write (auth and tasks)
//! from an untrusted, opaque or missing origin is refused and changes nothing in the database;
//! a preflight from an untrusted origin gets no `Access-Control-Allow-*` header; responses to an
//! untrusted origin are not shared with it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    db::snapshot_diff,
    http::plain_client,
    server::{ORIGIN, TestApp},
    users::{PASSWORD, User},
};

/// Where a forged request claims to come from.
const BAD_ORIGINS: [(&str, Option<&str>, Option<&str>); 8] = [
    // (what, Origin, Referer)
    ("an untrusted origin", Some("https://evil.example"), None),
    ("no Origin and no Referer", None, None),
    ("Origin: null (sandboxed frame, file:)", Some("null"), None),
    ("an untrusted Referer only", None, Some("https://evil.example/page")),
    ("a look-alike host", Some("http://localhost:3000.evil.example"), None),
    ("another port", Some("http://localhost:3001"), None),
    ("another scheme", Some("https://localhost:3000"), None),
    ("an untrusted Origin with a trusted Referer", Some("https://evil.example"), Some("http://localhost:3000/x")),
];

/// One state-changing operation: method, path (with `{id}`), JSON body.
fn writes(victim_email: &str, victim_token: &str) -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::POST, "/api/auth/sign-out", None),
        (Method::POST, "/api/auth/update-user", Some(json!({"name": "Hacked"}))),
        (
            Method::POST,
            "/api/auth/change-password",
            Some(
                json!({"currentPassword": PASSWORD, "newPassword": "attacker-password-1", "revokeOtherSessions": true}),
            ),
        ),
        (Method::POST, "/api/auth/revoke-session", Some(json!({"token": victim_token}))),
        (Method::POST, "/api/auth/revoke-sessions", Some(json!({}))),
        (Method::POST, "/api/auth/revoke-other-sessions", Some(json!({}))),
        (Method::POST, "/api/auth/delete-user", Some(json!({"password": PASSWORD}))),
        (Method::POST, "/api/auth/change-email", Some(json!({"newEmail": "attacker@evil.example"}))),
        (Method::POST, "/api/auth/send-verification-email", Some(json!({"email": victim_email}))),
        (Method::POST, "/api/auth/request-password-reset", Some(json!({"email": victim_email}))),
        (Method::POST, "/api/auth/reset-password", Some(json!({"newPassword": "attacker-password-1", "token": "x"}))),
        (Method::POST, "/api/auth/sign-in/email", Some(json!({"email": victim_email, "password": PASSWORD}))),
        (
            Method::POST,
            "/api/auth/sign-up/email",
            Some(json!({"name": "CSRF", "email": "csrf-new@example.com", "password": PASSWORD})),
        ),
        (Method::POST, "/api/auth/two-factor/enable", Some(json!({"password": PASSWORD}))),
        (Method::POST, "/api/auth/two-factor/disable", Some(json!({"password": PASSWORD}))),
        (Method::POST, "/api/auth/two-factor/get-totp-uri", Some(json!({"password": PASSWORD}))),
        (Method::POST, "/api/auth/two-factor/generate-backup-codes", Some(json!({"password": PASSWORD}))),
        (Method::POST, "/api/auth/two-factor/verify-totp", Some(json!({"code": "123456"}))),
        (Method::POST, "/api/auth/two-factor/verify-backup-code", Some(json!({"code": "abcde-fghij"}))),
        (Method::POST, "/api/auth/two-factor/send-otp", Some(json!({}))),
        (Method::POST, "/api/auth/two-factor/verify-otp", Some(json!({"code": "123456"}))),
        (Method::POST, "/api/v1/tasks", Some(json!({"title": "planted by CSRF"}))),
        (
            Method::PUT,
            "/api/v1/tasks/{id}",
            Some(json!({"title": "replaced by CSRF", "description": null, "is_completed": true})),
        ),
        (Method::PATCH, "/api/v1/tasks/{id}", Some(json!({"title": "patched by CSRF"}))),
        (Method::DELETE, "/api/v1/tasks/{id}", None),
    ]
}

/// Every state-changing operation in the served spec, as `METHOD /path`.
async fn spec_writes(app: &TestApp) -> BTreeSet<String> {
    let spec: Value =
        plain_client().get(app.url("/openapi.json")).send().await.expect("spec").json().await.expect("json");
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if !matches!(method.as_str(), "get" | "head" | "options") {
                out.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

#[tokio::test]
async fn cookie_authenticated_writes_from_untrusted_or_missing_origins_are_refused_and_change_nothing() {
    // Arrange: a signed-in victim (cookie) with a task, and the whole database as it stands.
    let app = TestApp::spawn().await;
    let victim = User::sign_up(&app, "csrf-victim@example.com").await;
    let created = victim.create_task(&json!({"title": "the victim's task"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let task_id = created.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
    let cases = writes(&victim.email, &victim.token);
    let covered: BTreeSet<String> = cases.iter().map(|(method, path, _)| format!("{method} {path}")).collect();
    let missing: Vec<_> = spec_writes(&app).await.into_iter().filter(|op| !covered.contains(op)).collect();
    assert!(missing.is_empty(), "state-changing operations without a CSRF case: {missing:?}");
    let before = app.db.snapshot().await;

    // Act + Assert: every write, from every bad origin, with the victim's cookie.
    let mut failures = Vec::new();
    for (method, template, body) in &cases {
        let path = template.replace("{id}", &task_id.to_string());
        for (what, origin, referer) in BAD_ORIGINS {
            let mut request = plain_client().request(method.clone(), app.url(&path)).header("cookie", &victim.cookie);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            if let Some(referer) = referer {
                request = request.header("referer", referer);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.expect("answered");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or_default();
            if status != StatusCode::FORBIDDEN || !matches!(code, "INVALID_ORIGIN" | "MISSING_OR_NULL_ORIGIN") {
                failures.push(format!("{method} {path} from {what}: {status} {body}"));
            }
            let after = app.db.snapshot().await;
            if after != before {
                failures.push(format!(
                    "{method} {path} from {what} CHANGED the database: {}",
                    snapshot_diff(&before, &after)
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "CSRF defences failed:\n{}", failures.join("\n"));

    // Control: the same cookie from the trusted page is accepted, so the refusals were about origin.
    let response = plain_client()
        .patch(app.url(&format!("/api/v1/tasks/{task_id}")))
        .header("cookie", &victim.cookie)
        .header("origin", ORIGIN)
        .json(&json!({"title": "edited from the trusted page"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn cross_site_simple_requests_a_form_can_send_are_refused_and_change_nothing() {
    // Arrange: what an attacker's HTML form can send without a preflight: urlencoded or
    // text/plain bodies, with the victim's cookie attached by the browser.
    let app = TestApp::spawn().await;
    let victim = User::sign_up(&app, "form-csrf@example.com").await;
    let before = app.db.snapshot().await;
    let cases = [
        (
            "/api/auth/sign-in/email",
            "application/x-www-form-urlencoded",
            format!("email={}&password=attacker-pass-1", victim.email),
        ),
        (
            "/api/auth/sign-up/email",
            "application/x-www-form-urlencoded",
            "name=x&email=form-new%40example.com&password=attacker-pass-1".to_owned(),
        ),
        ("/api/auth/sign-out", "text/plain", "{}".to_owned()),
        ("/api/auth/update-user", "text/plain", r#"{"name":"Hacked"}"#.to_owned()),
        ("/api/v1/tasks", "text/plain", r#"{"title":"planted"}"#.to_owned()),
        ("/api/v1/tasks", "application/x-www-form-urlencoded", "title=planted".to_owned()),
    ];

    // Act + Assert
    for (path, content_type, body) in cases {
        let response = plain_client()
            .post(app.url(path))
            .header("cookie", &victim.cookie)
            .header("origin", "https://evil.example")
            .header("content-type", content_type)
            .header("sec-fetch-site", "cross-site")
            .body(body)
            .send()
            .await
            .expect("answered");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "cross-site {content_type} POST {path}: {status} {body}"
        );
        let after = app.db.snapshot().await;
        assert_eq!(
            after,
            before,
            "cross-site {content_type} POST {path} changed the database: {}",
            snapshot_diff(&before, &after)
        );
    }
}

#[tokio::test]
async fn sign_in_and_sign_up_from_an_untrusted_page_are_refused_even_without_cookies() {
    // Arrange: login CSRF: an attacker's page signs the victim's browser into the attacker's account.
    let app = TestApp::spawn().await;
    let attacker = User::sign_up(&app, "attacker@example.com").await;
    let before = app.db.snapshot().await;

    // Act + Assert
    for (path, body) in [
        ("/api/auth/sign-in/email", json!({"email": attacker.email, "password": PASSWORD})),
        ("/api/auth/sign-up/email", json!({"name": "x", "email": "login-csrf@example.com", "password": PASSWORD})),
    ] {
        for (origin, fetch_site) in [("https://evil.example", None), ("https://evil.example", Some("cross-site"))] {
            let mut request = plain_client().post(app.url(path)).header("origin", origin).json(&body);
            if let Some(site) = fetch_site {
                request = request.header("sec-fetch-site", site).header("sec-fetch-mode", "cors");
            }
            let response = request.send().await.expect("answered");
            let status = response.status();
            let found: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} from {origin}: {found}");
            assert_eq!(found["code"], "INVALID_ORIGIN", "{path}: {found}");
        }
    }
    let after = app.db.snapshot().await;
    assert_eq!(after, before, "refused logins changed the database: {}", snapshot_diff(&before, &after));
}

#[tokio::test]
async fn a_preflight_from_an_untrusted_origin_gets_no_access_control_allow_headers() {
    // Arrange
    let app = TestApp::spawn().await;
    let preflight = |origin: &str, path: &str, method: &str| {
        plain_client()
            .request(Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type, authorization")
    };
    let targets = [
        ("/api/v1/tasks", "POST"),
        ("/api/v1/tasks/1", "DELETE"),
        ("/api/v1/tasks/1", "PUT"),
        ("/api/auth/sign-in/email", "POST"),
        ("/api/auth/change-password", "POST"),
        ("/api/auth/get-session", "GET"),
    ];

    // Act + Assert: untrusted origins get nothing a browser would accept.
    for origin in ["https://evil.example", "null", "http://localhost:3000.evil.example", "http://localhost:3001"] {
        for (path, method) in targets {
            let response = preflight(origin, path, method).send().await.expect("answered");
            assert!(response.status().as_u16() < 500, "preflight {path} from {origin}: {}", response.status());
            let allow: Vec<_> = response
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-allow-"))
                .map(|name| name.as_str().to_owned())
                .collect();
            assert!(allow.is_empty(), "preflight {method} {path} from {origin} got {allow:?}");
        }
        // An actual (credentialed) read from that origin is not shared with it either.
        let victim_read = plain_client()
            .get(app.url("/api/auth/get-session"))
            .header("origin", origin)
            .send()
            .await
            .expect("answered");
        assert!(victim_read.headers().get("access-control-allow-origin").is_none(), "GET from {origin}");
        assert!(victim_read.headers().get("access-control-allow-credentials").is_none(), "GET from {origin}");
    }

    // Control: the trusted origin is allowed, with credentials.
    let response = preflight(ORIGIN, "/api/v1/tasks", "POST").send().await.expect("answered");
    assert_eq!(response.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some(ORIGIN));
    assert_eq!(response.headers().get("access-control-allow-credentials").and_then(|v| v.to_str().ok()), Some("true"));
}
