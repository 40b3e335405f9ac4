//! `COOKIE_PREFIX`, `COOKIE_DOMAIN` and `COOKIE_SAMESITE` (Better Auth's `cookiePrefix`,
//! `crossSubDomainCookies.domain` and `defaultCookieAttributes.sameSite`): every cookie the
//! service sets or clears, on every operation that does so, carries the configured name and
//! exactly the configured attributes; cookies under other names are not read; the origin checks
//! do not widen with `COOKIE_DOMAIN`; settings browsers would refuse stop the binary at start-up.

use std::{
    collections::BTreeMap,
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::{plain_client, set_cookies},
    server::{SECRET, TestApp, api_binary},
    users::{PASSWORD, User},
    wire::{cookie_value, encode_uri_component, sign},
};

/// A browser page on `origin` talking to the test server: keeps the cookies the server sets
/// (an empty value with `Max-Age=0` deletes one), sends them back with `Origin`, and records
/// every `Set-Cookie` line with the operation that sent it.
struct Page<'a> {
    app: &'a TestApp,
    origin: &'a str,
    jar: BTreeMap<String, String>,
    seen: Vec<(&'static str, String)>,
}

impl<'a> Page<'a> {
    fn new(app: &'a TestApp, origin: &'a str) -> Self {
        Self { app, origin, jar: BTreeMap::new(), seen: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    async fn call(
        &mut self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = plain_client().request(method, self.app.url(path)).header("origin", self.origin);
        if !self.jar.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        for line in set_cookies(&response) {
            let (name, rest) = line.split_once('=').expect("name=value");
            let value = rest.split(';').next().unwrap_or_default();
            if value.is_empty() && line.contains("; Max-Age=0;") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
            self.seen.push((operation, line));
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Runs every operation that sets or clears cookies, as one user's browser would; returns each
/// `Set-Cookie` line with the operation that sent it.
async fn every_cookie_operation(app: &TestApp, origin: &str) -> Vec<(&'static str, String)> {
    let mut page = Page::new(app, origin);
    let email = "cookies@example.com";
    let sign_up = json!({"name": "Cookie", "email": email, "password": PASSWORD, "rememberMe": false});
    let (status, _) = page.call("sign-up", Method::POST, "/api/auth/sign-up/email", Some(sign_up)).await;
    assert_eq!(status, StatusCode::OK, "sign-up");
    let signed_out_cookies = page.jar.clone();
    // Remembered now: the dont_remember flag from sign-up is cleared.
    let sign_in = json!({"email": email, "password": PASSWORD});
    assert_eq!(page.call("sign-in", Method::POST, "/api/auth/sign-in/email", Some(sign_in)).await.0, StatusCode::OK);
    // SESSION_UPDATE_AGE=0: get-session refreshes, re-sending the session cookie.
    assert_eq!(page.call("get-session (refresh)", Method::GET, "/api/auth/get-session", None).await.0, StatusCode::OK);
    let update = json!({"name": "Cookie Monster"});
    assert_eq!(page.call("update-user", Method::POST, "/api/auth/update-user", Some(update)).await.0, StatusCode::OK);
    let change =
        json!({"currentPassword": PASSWORD, "newPassword": "another long password", "revokeOtherSessions": true});
    assert_eq!(
        page.call("change-password", Method::POST, "/api/auth/change-password", Some(change)).await.0,
        StatusCode::OK
    );
    let (_, sessions) = page.call("list-sessions", Method::GET, "/api/auth/list-sessions", None).await;
    let handle = sessions[0]["token"].as_str().expect("a listed session").to_owned();
    let revoke = json!({"token": handle});
    assert_eq!(
        page.call("revoke-session (current)", Method::POST, "/api/auth/revoke-session", Some(revoke)).await.0,
        StatusCode::OK
    );

    // A cookie whose session is gone: get-session and the tasks API both clear it.
    let sign_in = json!({"email": email, "password": "another long password"});
    assert_eq!(
        page.call("sign-in", Method::POST, "/api/auth/sign-in/email", Some(sign_in.clone())).await.0,
        StatusCode::OK
    );
    let live = page.jar.clone();
    page.jar = signed_out_cookies;
    assert_eq!(page.call("get-session (gone)", Method::GET, "/api/auth/get-session", None).await.1, Value::Null);
    page.jar = live.clone();
    assert_eq!(
        page.call("revoke-sessions", Method::POST, "/api/auth/revoke-sessions", Some(json!({}))).await.0,
        StatusCode::OK
    );
    page.jar = live;
    assert_eq!(page.call("tasks (gone)", Method::GET, "/api/v1/tasks", None).await.0, StatusCode::UNAUTHORIZED);

    assert_eq!(
        page.call("sign-in", Method::POST, "/api/auth/sign-in/email", Some(sign_in.clone())).await.0,
        StatusCode::OK
    );
    assert_eq!(page.call("sign-out", Method::POST, "/api/auth/sign-out", Some(json!({}))).await.0, StatusCode::OK);
    assert_eq!(page.call("sign-in", Method::POST, "/api/auth/sign-in/email", Some(sign_in)).await.0, StatusCode::OK);
    let delete = json!({"password": "another long password"});
    assert_eq!(page.call("delete-user", Method::POST, "/api/auth/delete-user", Some(delete)).await.0, StatusCode::OK);
    page.seen
}

/// Asserts that every line is `<name>=<value>[; Max-Age=<n>]<attributes>` for one of `names`
/// (session token, session data, dont-remember flag), and that each was set (but the cookie
/// cache) and cleared.
fn assert_every_line_follows(seen: &[(&str, String)], names: [&str; 3], attributes: &str) {
    let operations: Vec<&str> = seen.iter().map(|(op, _)| *op).collect();
    for expected in [
        "sign-up",
        "sign-in",
        "get-session (refresh)",
        "update-user",
        "change-password",
        "revoke-session (current)",
        "get-session (gone)",
        "revoke-sessions",
        "tasks (gone)",
        "sign-out",
        "delete-user",
    ] {
        assert!(operations.contains(&expected), "{expected} set or cleared no cookie: {seen:#?}");
    }
    for (operation, line) in seen {
        let (name, rest) = line.split_once('=').expect("name=value");
        assert!(names.contains(&name), "{operation}: unexpected cookie name in {line}");
        let after_value = rest.find(';').map_or("", |at| &rest[at..]);
        let after_max_age = match after_value.strip_prefix("; Max-Age=") {
            Some(age) => age.trim_start_matches(|c: char| c.is_ascii_digit()),
            None => after_value,
        };
        assert_eq!(after_max_age, attributes, "{operation}: attributes of {line}");
    }
    // `session_data` (Better Auth's cookie cache) is never set here, only cleared with the others.
    for name in [names[0], names[2]] {
        assert!(
            seen.iter().any(|(_, l)| l.starts_with(&format!("{name}=")) && !l.contains("Max-Age=0")),
            "{name} never set"
        );
    }
    for name in names {
        assert!(seen.iter().any(|(_, l)| l.starts_with(&format!("{name}=; Max-Age=0;"))), "{name} never cleared");
    }
}

const APP_ORIGIN: &str = "http://app.example.test";

#[tokio::test]
async fn a_prefix_a_domain_and_same_site_strict_apply_to_every_cookie_set_or_cleared() {
    let app = TestApp::builder()
        .var("BASE_URL", "http://api.example.test")
        .var("TRUSTED_ORIGINS", APP_ORIGIN)
        .var("COOKIE_PREFIX", "tasks-app")
        .var("COOKIE_DOMAIN", "example.test")
        .var("COOKIE_SAMESITE", "strict")
        .var("SESSION_UPDATE_AGE", "0")
        .spawn()
        .await;

    let seen = every_cookie_operation(&app, APP_ORIGIN).await;

    assert_every_line_follows(
        &seen,
        ["tasks-app.session_token", "tasks-app.session_data", "tasks-app.dont_remember"],
        "; Domain=example.test; Path=/; HttpOnly; SameSite=Strict",
    );
    let first = &seen[0].1;
    assert!(first.starts_with("tasks-app.session_token=") && !first.contains("Max-Age"), "rememberMe:false: {first}");
    assert_eq!(
        seen[1].1,
        format!(
            "tasks-app.dont_remember={}; Domain=example.test; Path=/; HttpOnly; SameSite=Strict",
            encode_uri_component(&sign("true"))
        )
    );
}

#[tokio::test]
async fn same_site_none_on_https_applies_to_every_cookie_set_or_cleared() {
    let base = "https://auth.example.com";
    let app = TestApp::builder()
        .var("BASE_URL", base)
        .var("COOKIE_SAMESITE", "none")
        .var("SESSION_UPDATE_AGE", "0")
        .spawn()
        .await;

    let seen = every_cookie_operation(&app, base).await;

    assert_every_line_follows(
        &seen,
        [
            "__Secure-better-auth.session_token",
            "__Secure-better-auth.session_data",
            "__Secure-better-auth.dont_remember",
        ],
        "; Path=/; HttpOnly; Secure; SameSite=None",
    );
}

#[tokio::test]
async fn only_the_configured_cookie_name_is_read() {
    let app = TestApp::builder().var("COOKIE_PREFIX", "tasks-app").spawn().await;
    let user = User::sign_up(&app, "prefix@example.com").await;
    let token = user.token.clone();
    let session_with = |cookie: String| {
        let url = app.url("/api/auth/get-session");
        async move {
            let response = plain_client().get(url).header("cookie", cookie).send().await.expect("sent");
            response.json::<Value>().await.expect("JSON")
        }
    };

    let with_prefix = session_with(format!("tasks-app.session_token={}", cookie_value(&token))).await;
    let default_name = session_with(format!("better-auth.session_token={}", cookie_value(&token))).await;
    let dash_form = session_with(format!("tasks-app-session_token={}", cookie_value(&token))).await;

    assert_eq!(with_prefix["session"]["token"], json!(token), "the prefixed cookie is the session");
    assert_eq!(default_name, Value::Null, "the default name is another cookie");
    assert_eq!(dash_form, Value::Null, "only `<prefix>.session_token`");
}

#[tokio::test]
async fn a_cookie_domain_does_not_widen_the_trusted_origins() {
    let app = TestApp::builder()
        .var("BASE_URL", "http://api.example.test")
        .var("TRUSTED_ORIGINS", APP_ORIGIN)
        .var("COOKIE_DOMAIN", "example.test")
        .spawn()
        .await;
    let user = User::sign_up(&app, "origins@example.com").await;
    let cookie = user.cookie.clone();
    let create_from = |origin: &'static str| {
        let request = plain_client()
            .post(app.url("/api/v1/tasks"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({"title": "from a sibling"}));
        async move { request.send().await.expect("sent") }
    };

    let listed = create_from(APP_ORIGIN).await;
    let sibling = create_from("http://other.example.test").await;
    let preflight = plain_client()
        .request(Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", "http://other.example.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("sent");

    assert_eq!(listed.status(), StatusCode::CREATED, "the listed subdomain may write with the cookie");
    assert_eq!(sibling.status(), StatusCode::FORBIDDEN, "an unlisted sibling may not");
    assert_eq!(sibling.json::<Value>().await.expect("JSON")["code"], "INVALID_ORIGIN");
    assert!(preflight.headers().get("access-control-allow-origin").is_none(), "no CORS for an unlisted sibling");
    assert_eq!(app.db.task_count(&user.id).await, 1, "the refused write changed nothing");
}

/// Runs the binary with an otherwise valid configuration plus `vars`; returns its exit code and
/// stderr. A binary that accepted the configuration and started is killed and fails the test.
fn start_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(api_binary())
        .env_clear()
        .env("AUTH_SECRET", SECRET)
        .env("DATA_DIR", std::env::temp_dir())
        .env("DATABASE_URL", "sqlite::memory:")
        .env("PORT", "0")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{vars:?} was accepted: the server started");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}

#[test]
fn same_site_none_without_secure_cookies_is_refused_at_start_up_with_exit_status_2() {
    for vars in
        [&[("COOKIE_SAMESITE", "none")][..], &[("COOKIE_SAMESITE", "None"), ("BASE_URL", "http://api.example.com")][..]]
    {
        let (code, stderr) = start_with(vars);
        assert_eq!(code, Some(2), "{vars:?}: {stderr}");
        assert!(stderr.contains("COOKIE_SAMESITE: `none` needs Secure cookies"), "{stderr}");
        assert!(stderr.contains("BASE_URL is an https:// URL"), "names the variable to fix: {stderr}");
    }
}

#[test]
fn cookie_domains_and_prefixes_browsers_would_refuse_stop_the_binary_with_exit_status_2() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("COOKIE_DOMAIN", "example.com")], "COOKIE_DOMAIN: needs BASE_URL"),
        (
            &[("COOKIE_DOMAIN", "example.org"), ("BASE_URL", "https://api.example.com")],
            "COOKIE_DOMAIN: `example.org` does not cover",
        ),
        (
            &[("COOKIE_DOMAIN", "localhost"), ("BASE_URL", "http://localhost:8000")],
            "COOKIE_DOMAIN: `localhost` is not a domain name",
        ),
        (&[("COOKIE_PREFIX", "my cookies")], "COOKIE_PREFIX: must be at most 64"),
    ];
    for (vars, message) in cases {
        let (code, stderr) = start_with(vars);
        assert_eq!(code, Some(2), "{vars:?}: {stderr}");
        assert!(stderr.contains(message), "{message} not in: {stderr}");
    }
}
