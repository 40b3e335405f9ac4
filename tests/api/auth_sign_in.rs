//! `POST /api/auth/sign-in/email` (`docs/better-auth-wire.md` §3.2, §4.4, §5.5): the response and
//! cookie, remember-me, callback redirects, what the session row records, and refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::{
    http::{assert_error_body, header_str, set_cookies},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, User, sign_in_with_headers},
    wire::{WEEK_SECS, assert_about, dont_remember_line, is_generated_id, parse_time, session_cookie_line, sign},
};

#[tokio::test]
async fn sign_in_returns_the_user_and_a_new_session_cookie() {
    let app = TestApp::spawn().await;
    let signed_up = User::sign_up(&app, "alice@example.com").await;

    let response = app.sign_in("alice@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let auth_token = header_str(&response, "set-auth-token");
    assert!(response.headers().get("location").is_none(), "no Location without callbackURL");
    let body: Value = response.json().await.expect("JSON body");
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(is_generated_id(&body["token"]));
    assert_ne!(token, signed_up.token, "a new session");
    assert_eq!(body["redirect"], false);
    assert!(body.get("url").is_none(), "`url` is absent, not null: {body}");
    assert_eq!(body["user"]["id"].as_str(), Some(signed_up.id.as_str()));
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(cookies, [session_cookie_line(&token, Some(WEEK_SECS))]);
    assert_eq!(auth_token, Some(sign(&token)));
    assert_eq!(app.db.sessions_of(&signed_up.id).await.len(), 2, "the sign-up session and this one");
    let row = app.db.session_row(&token).await;
    assert_about(parse_time(&row["expiresAt"]), OffsetDateTime::now_utc() + time::Duration::days(7), "expiresAt");
}

#[tokio::test]
async fn sign_in_with_wrong_password_returns_401() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "bob@example.com").await;

    let response = app.sign_in("bob@example.com", "wrong-password").await;

    assert!(set_cookies(&response).is_empty());
    assert_error_body(response, StatusCode::UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
        .await;
    assert_eq!(app.db.count_rows("session").await, 1, "only the sign-up session");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_identical_answers() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "carol@example.com").await;

    let wrong_password = app.sign_in("carol@example.com", "wrong-password").await;
    let unknown_email = app.sign_in("nobody@example.com", "wrong-password").await;
    let short_password = app.sign_in("carol@example.com", "short").await;

    let mut answers = Vec::new();
    for response in [wrong_password, unknown_email, short_password] {
        let status = response.status();
        let content_type = header_str(&response, "content-type");
        let cookies = set_cookies(&response);
        answers.push((status, content_type, cookies, response.text().await.expect("body")));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(answers[0].3, r#"{"code":"INVALID_EMAIL_OR_PASSWORD","message":"Invalid email or password"}"#);
    assert_eq!(answers[1], answers[0], "unknown email");
    assert_eq!(answers[2], answers[0], "sign-in never checks the minimum length");
}

#[tokio::test]
async fn sign_in_with_an_invalid_email_returns_400_invalid_email() {
    let app = TestApp::spawn().await;
    for email in ["not-an-email", "a@b", "dave@example.com ", ""] {
        let response = app.sign_in(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{email:?}");
        assert_error_body(response, StatusCode::BAD_REQUEST, "INVALID_EMAIL", "Invalid email").await;
    }
}

#[tokio::test]
async fn sign_in_with_a_password_over_128_units_returns_400_password_too_long() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "erin@example.com").await;

    for password in ["a".repeat(129), "😀".repeat(65)] {
        let response = app.sign_in("erin@example.com", &password).await;
        assert_error_body(response, StatusCode::BAD_REQUEST, "PASSWORD_TOO_LONG", "Password too long").await;
    }
}

#[tokio::test]
async fn sign_in_with_missing_fields_names_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"password": PASSWORD}), "[body.email] Invalid input: expected string, received undefined"),
        (json!({"email": "x@example.com"}), "[body.password] Invalid input: expected string, received undefined"),
        (
            json!({"email": "x@example.com", "password": PASSWORD, "rememberMe": "no"}),
            "[body.rememberMe] Invalid input: expected boolean, received string",
        ),
    ];
    for (body, message) in cases {
        let response = app.post_json(SIGN_IN, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error_body(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
    }
}

#[tokio::test]
async fn sign_in_with_remember_me_false_sets_a_browser_session_cookie_and_the_dont_remember_flag() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "frank@example.com").await;

    let response =
        app.post_json(SIGN_IN, &json!({"email": "frank@example.com", "password": PASSWORD, "rememberMe": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.expect("JSON body");
    let token = body["token"].as_str().expect("token");
    assert_eq!(cookies, [session_cookie_line(token, None), dont_remember_line()], "no Max-Age on either");
    let row = app.db.session_row(token).await;
    let lifetime = parse_time(&row["expiresAt"]) - parse_time(&row["createdAt"]);
    assert_eq!(lifetime, time::Duration::days(1), "a one-day session");
    assert_about(parse_time(&row["expiresAt"]), OffsetDateTime::now_utc() + time::Duration::days(1), "expiresAt");
}

#[tokio::test]
async fn a_remembered_sign_in_clears_a_leftover_dont_remember_cookie() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "grace@example.com").await;
    let forgetful =
        app.post_json(SIGN_IN, &json!({"email": "grace@example.com", "password": PASSWORD, "rememberMe": false})).await;
    assert_eq!(forgetful.status(), StatusCode::OK);

    let response = app.sign_in("grace@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.expect("JSON body");
    let token = body["token"].as_str().expect("token");
    assert_eq!(
        cookies,
        [
            session_cookie_line(token, Some(WEEK_SECS)),
            "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".to_owned(),
        ]
    );
}

#[tokio::test]
async fn sign_in_with_a_callback_url_answers_200_with_redirect_url_and_location() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "heidi@example.com").await;
    let cases = ["/dashboard", "http://localhost:3000/welcome?tab=1"];

    for callback in cases {
        let response = app
            .post_json(SIGN_IN, &json!({"email": "heidi@example.com", "password": PASSWORD, "callbackURL": callback}))
            .await;

        assert_eq!(response.status(), StatusCode::OK, "still 200, not a 302: {callback}");
        assert_eq!(header_str(&response, "location").as_deref(), Some(callback));
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!((body["redirect"].clone(), body["url"].clone()), (json!(true), json!(callback)));
        assert!(is_generated_id(&body["token"]));
    }
}

#[tokio::test]
async fn sign_in_records_the_user_agent_and_client_address() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "ivan@example.com").await;

    let with_agent = sign_in_with_headers(&app, "ivan@example.com", &[("user-agent", "TestAgent/1.0 (X11)")]).await;
    let without_agent = sign_in_with_headers(&app, "ivan@example.com", &[]).await;

    for (response, user_agent) in [(with_agent, "TestAgent/1.0 (X11)"), (without_agent, "")] {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON body");
        let row = app.db.session_row(body["token"].as_str().expect("token")).await;
        assert_eq!(row["userAgent"], user_agent, "\"\" when the header is absent");
        assert_eq!(row["ipAddress"], "127.0.0.1", "the socket peer");
    }
}

#[tokio::test]
async fn a_forwarded_client_address_from_a_trusted_proxy_is_recorded_normalised() {
    // Loopback (the test client) is the trusted proxy here.
    let app = TestApp::builder().var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    User::sign_up(&app, "judy@example.com").await;
    let cases = [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:0db8:abcd:0012:0000:0000:0000:0000"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
    ];

    for (forwarded, recorded) in cases {
        let response = sign_in_with_headers(&app, "judy@example.com", &[("x-forwarded-for", forwarded)]).await;

        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON body");
        let row = app.db.session_row(body["token"].as_str().expect("token")).await;
        assert_eq!(row["ipAddress"], recorded, "X-Forwarded-For: {forwarded}");
    }
}

#[tokio::test]
async fn a_forwarded_address_is_ignored_when_the_peer_is_not_a_trusted_proxy() {
    let app = TestApp::builder().var("TRUSTED_PROXIES", "10.0.0.0/8").spawn().await;
    User::sign_up(&app, "karl@example.com").await;

    let response = sign_in_with_headers(&app, "karl@example.com", &[("x-forwarded-for", "203.0.113.7")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    let row = app.db.session_row(body["token"].as_str().expect("token")).await;
    assert_eq!(row["ipAddress"], "127.0.0.1", "the client cannot choose its address");
}

#[tokio::test]
async fn a_huge_user_agent_is_stored_and_returned_cut_to_512_bytes_on_a_character_boundary() {
    // Issue 13, finding 7: a 390,000-byte User-Agent was stored whole and returned by
    // get-session and list-sessions.
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let huge = format!("a{}", "é".repeat(100_000));

    let response = sign_in_with_headers(&app, &ann.email, &[("user-agent", huge.as_str())]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.expect("JSON")["token"].as_str().expect("token").to_owned();
    let session = crate::support::users::session_for_bearer(&app, &token).await;
    let returned = session["session"]["userAgent"].as_str().expect("userAgent");
    assert_eq!(returned.len(), 511, "512 bytes would end inside a character");
    assert!(huge.starts_with(returned));
    let stored: Vec<String> = app
        .db
        .sessions_of(&ann.id)
        .await
        .iter()
        .map(|row| row["userAgent"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(stored.iter().all(|agent| agent.len() <= 512), "every stored User-Agent is capped");
    assert!(stored.iter().any(|agent| agent == returned));
}
