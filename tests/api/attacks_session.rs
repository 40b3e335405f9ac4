//! Attacks on sessions (issue 7): fixation, replay after sign-out, tampered and foreign-secret
//! cookies, expired sessions, and the stored (hashed) token lifted from the database.
//!
//! Every "refused" here means: `get-session` answers 200 with `null` and the tasks list answers
//! 401, whether the value comes as the cookie or as a bearer token.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::stored_time,
    http::{header_str, plain_client, set_cookies},
    server::{ORIGIN, SECRET, TestApp},
    tasks::TASKS,
    users::{Credential, PASSWORD, User, get_session},
    wire::{
        SESSION_COOKIE, encode_uri_component, session_cookie, session_cookie_pair, sha256_hex, sign, sign_with,
        unissued_token,
    },
};

/// `get-session` with a credential: status, body and `Set-Cookie` lines.
async fn session_with(app: &TestApp, credential: &Credential) -> (StatusCode, Value, Vec<String>) {
    let response = get_session(app, credential).await;
    let status = response.status();
    let cookies = set_cookies(&response);
    (status, response.json::<Value>().await.expect("JSON body"), cookies)
}

/// The task list with a credential: status and body.
async fn list_tasks(app: &TestApp, credential: &Credential) -> (StatusCode, Value) {
    let response = credential.apply(plain_client().get(app.url(TASKS))).send().await.expect("list answered");
    let status = response.status();
    (status, response.json::<Value>().await.expect("JSON body"))
}

/// Asserts a credential gives no session anywhere.
async fn assert_refused(app: &TestApp, credential: &Credential, what: &str) {
    let (status, body, _) = session_with(app, credential).await;
    assert_eq!(status, StatusCode::OK, "get-session with {what}: {body}");
    assert_eq!(body, Value::Null, "get-session with {what} must give no session");
    let (status, body) = list_tasks(app, credential).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "task list with {what}: {body}");
    assert_eq!(body["code"], "UNAUTHORIZED", "task list with {what}: {body}");
}

/// Asserts a credential gives `account`'s session (the control case).
async fn assert_accepted(app: &TestApp, credential: &Credential, account: &User, what: &str) {
    let (status, body, _) = session_with(app, credential).await;
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    assert_eq!(body["user"]["id"], account.id.as_str(), "{what} is a valid session: {body}");
    let (status, body) = list_tasks(app, credential).await;
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
}

/// Every way to present a raw token value.
fn presentations(token: &str) -> Vec<(String, Credential)> {
    let signed = sign(token);
    vec![
        ("signed cookie".to_owned(), Credential::Cookie(session_cookie(token))),
        ("unsigned cookie".to_owned(), Credential::Cookie(format!("{SESSION_COOKIE}={token}"))),
        ("raw bearer".to_owned(), Credential::Bearer(token.to_owned())),
        ("signed bearer".to_owned(), Credential::Bearer(signed.clone())),
        ("encoded signed bearer".to_owned(), Credential::Bearer(encode_uri_component(&signed))),
    ]
}

async fn session_rows_for(app: &TestApp, token: &str) -> usize {
    let sql = r#"SELECT "id" FROM "session" WHERE "token" = $1 OR "token" = $2"#;
    app.db.query(sql, vec![token.into(), sha256_hex(token).into()]).await.len()
}

/// Makes `user`'s one session expire `ago`, as if the clock had moved on.
async fn expire_sessions_of(app: &TestApp, user: &User, ago: Duration) {
    let past = stored_time(app.db.backend(), OffsetDateTime::now_utc() - ago);
    let sql = r#"UPDATE "session" SET "expiresAt" = $1 WHERE "userId" = $2"#;
    assert_eq!(app.db.execute(sql, vec![past, user.id.as_str().into()]).await, 1, "one session expired");
}

#[tokio::test]
async fn a_token_the_server_did_not_issue_is_never_accepted_even_when_signed_with_the_server_secret() {
    // Arrange: a real user with a live session, and a well-formed token the server never issued.
    let app = TestApp::spawn().await;
    let victim = User::sign_up(&app, "fixation-victim@example.com").await;
    let planted = unissued_token();
    assert_eq!(planted.len(), 32);

    // Act + Assert: every presentation of it is refused.
    for (how, credential) in presentations(&planted) {
        assert_refused(&app, &credential, &format!("an unissued token as {how}")).await;
    }

    // Act: the victim signs in while the attacker's planted cookie is in their browser.
    let response = plain_client()
        .post(app.url("/api/auth/sign-in/email"))
        .header("origin", ORIGIN)
        .header("cookie", session_cookie(&planted))
        .json(&json!({"email": victim.email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-in answered");
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = session_cookie_pair(&response).expect("a session cookie is set");
    let header_token = header_str(&response, "set-auth-token").expect("set-auth-token");
    let body: Value = response.json().await.expect("json");

    // Assert: the server issued its own token; the planted one never became a session.
    let issued = body["token"].as_str().expect("token");
    assert_ne!(issued, planted, "sign-in adopts no client-chosen token");
    assert_ne!(set_cookie, session_cookie(&planted), "the cookie set is not the planted one");
    assert!(!header_token.starts_with(&planted), "set-auth-token is not the planted token");
    assert_eq!(session_rows_for(&app, &planted).await, 0, "no session row holds the planted token");
    assert_refused(&app, &Credential::Cookie(session_cookie(&planted)), "the planted cookie after sign-in").await;
    assert_accepted(&app, &Credential::Cookie(set_cookie), &victim, "the cookie the server set").await;
}

#[tokio::test]
async fn every_sign_in_issues_a_new_token_different_from_any_cookie_the_client_sent() {
    // Arrange
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "fresh-tokens@example.com").await;
    let mut seen = vec![account.token.clone()];
    let mut cookie = account.cookie.clone();

    // Act: sign in repeatedly, each time sending the previous (valid) session cookie.
    for round in 0..4 {
        let response = plain_client()
            .post(app.url("/api/auth/sign-in/email"))
            .header("origin", ORIGIN)
            .header("cookie", &cookie)
            .json(&json!({"email": account.email, "password": PASSWORD}))
            .send()
            .await
            .expect("sign-in answered");
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        let new_cookie = session_cookie_pair(&response).expect("session cookie");
        let token = response.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned();

        // Assert: a new token every time, and a different cookie from the one sent.
        assert!(!seen.contains(&token), "round {round}: token {token} was issued before");
        assert_ne!(new_cookie, cookie, "round {round}: the cookie sent came back");
        assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        seen.push(token);
        cookie = new_cookie;
    }
}

#[tokio::test]
async fn a_session_replayed_after_sign_out_is_refused_as_cookie_and_as_bearer() {
    // Arrange: two sessions of one user, captured as cookie, bearer and raw token.
    let app = TestApp::spawn().await;
    let first = User::sign_up(&app, "replay@example.com").await;
    let second = User::sign_in(&app, "replay@example.com", PASSWORD).await;
    for account in [&first, &second] {
        assert_accepted(&app, &Credential::Cookie(account.cookie.clone()), account, "before sign-out").await;
    }

    // Act: the first signs out by cookie (from the trusted page), the second by bearer token.
    let by_cookie = plain_client()
        .post(app.url("/api/auth/sign-out"))
        .header("origin", ORIGIN)
        .header("cookie", &first.cookie)
        .send()
        .await
        .expect("sign-out answered");
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let by_bearer = plain_client()
        .post(app.url("/api/auth/sign-out"))
        .header("authorization", second.authorization())
        .send()
        .await
        .expect("sign-out answered");
    assert_eq!(by_bearer.status(), StatusCode::OK);

    // Assert: every captured form of both sessions is dead, and their rows are gone.
    for account in [&first, &second] {
        let captured = [
            ("the captured cookie", Credential::Cookie(account.cookie.clone())),
            ("the captured set-auth-token", Credential::Bearer(account.bearer.clone())),
            ("the captured raw token", Credential::Bearer(account.token.clone())),
        ];
        for (what, credential) in captured {
            assert_refused(&app, &credential, &format!("{what} replayed after sign-out")).await;
        }
        assert_eq!(session_rows_for(&app, &account.token).await, 0, "the session row is deleted");
    }
}

#[tokio::test]
async fn tampered_and_foreign_secret_cookies_and_bearer_tokens_are_refused() {
    // Arrange: a live session and its genuine signed value.
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "tamper@example.com").await;
    let genuine = sign_with(&account.token, SECRET);
    let (token, signature) = genuine.rsplit_once('.').expect("token.signature");
    let flip = |s: &str, at: usize| -> String {
        s.char_indices().map(|(i, c)| if i == at { if c == 'A' { 'B' } else { 'A' } } else { c }).collect()
    };
    let other = sign_with(&unissued_token(), SECRET);
    let tampered: Vec<(&str, String)> = vec![
        ("a signature with one character changed", format!("{token}.{}", flip(signature, 5))),
        ("a token with one character changed", format!("{}.{signature}", flip(token, 0))),
        ("a token with a character appended", format!("{token}x.{signature}")),
        ("a truncated signature", format!("{token}.{}", &signature[..40])),
        ("an empty signature", format!("{token}.")),
        ("no signature", token.to_owned()),
        ("another token's signature", format!("{token}.{}", other.rsplit_once('.').expect("sig").1)),
        ("a signature under a foreign secret", sign_with(token, "a-foreign-secret-that-is-long-enough-0123456789")),
        ("a signature under an empty secret", sign_with(token, "")),
        ("the signature twice", format!("{genuine}.{signature}")),
        ("a URL-safe signature with the wrong secret", sign_with(token, "x".repeat(40).as_str()).replace('+', "-")),
    ];

    // Act + Assert: each, as the cookie (encoded and raw) and as a bearer token, is refused.
    for (what, value) in &tampered {
        for credential in [
            Credential::Cookie(format!("{SESSION_COOKIE}={}", encode_uri_component(value))),
            Credential::Cookie(format!("{SESSION_COOKIE}={value}")),
        ] {
            assert_refused(&app, &credential, &format!("a cookie with {what}")).await;
        }
        if value != token {
            // (The bare raw token is a valid bearer credential by design: Better Auth's bearer plugin.)
            assert_refused(&app, &Credential::Bearer(value.clone()), &format!("a bearer token with {what}")).await;
        }
    }
    // Control: the genuine values still work, so the refusals above are about the tampering.
    assert_accepted(&app, &Credential::Cookie(account.cookie.clone()), &account, "the genuine cookie").await;
    assert_accepted(&app, &Credential::Bearer(account.bearer.clone()), &account, "the genuine bearer").await;
}

#[tokio::test]
async fn an_expired_session_is_refused_everywhere_and_deleted() {
    // Arrange: a session whose expiry is set in the past, as if a week went by.
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "expired@example.com").await;
    expire_sessions_of(&app, &account, Duration::minutes(1)).await;

    // Act + Assert: by cookie, get-session gives null and clears the cookies.
    let (status, body, cleared) = session_with(&app, &Credential::Cookie(account.cookie.clone())).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null), "an expired session by cookie");
    assert!(
        cleared.iter().any(|line| line.starts_with(&format!("{SESSION_COOKIE}=;")) && line.contains("Max-Age=0")),
        "the stale cookie is cleared: {cleared:?}"
    );
    // … and the row is gone, so no other presentation can revive it.
    assert_eq!(session_rows_for(&app, &account.token).await, 0, "the expired session is deleted");
    for credential in [
        Credential::Cookie(account.cookie.clone()),
        Credential::Bearer(account.bearer.clone()),
        Credential::Bearer(account.token.clone()),
    ] {
        assert_refused(&app, &credential, "an expired session").await;
    }
}

#[tokio::test]
async fn an_expired_session_presented_first_by_bearer_is_refused_too() {
    // Arrange
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "expired-bearer@example.com").await;
    expire_sessions_of(&app, &account, Duration::seconds(1)).await;

    // Act + Assert: the first use is a task write by bearer: refused, nothing created.
    let response = account.create_task(&json!({"title": "should not exist"})).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "task""#, vec![]).await, 0);
    assert_refused(&app, &Credential::Bearer(account.bearer.clone()), "an expired session").await;
}

#[tokio::test]
async fn the_stored_session_token_lifted_from_the_database_is_not_a_credential() {
    // Arrange: what a database leak exposes: `session.token` (a SHA-256 of the real token).
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "leak@example.com").await;
    let stored =
        app.db.query(r#"SELECT "token" FROM "session" WHERE "userId" = $1"#, vec![account.id.as_str().into()]).await;
    let stored = stored[0]["token"].as_str().expect("stored token").to_owned();
    assert_ne!(stored, account.token, "tokens are stored hashed");

    // Act + Assert: signed with the real secret or not, as cookie or bearer, it opens nothing.
    for (how, credential) in presentations(&stored) {
        assert_refused(&app, &credential, &format!("the stored token as {how}")).await;
    }
    // Control: the real session is alive.
    assert_accepted(&app, &Credential::Cookie(account.cookie.clone()), &account, "the genuine cookie").await;
}
