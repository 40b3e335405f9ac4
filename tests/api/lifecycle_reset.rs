//! Password reset by mail (issue 8; `docs/better-auth-wire.md` §3.6, §13): `POST
//! /request-password-reset`, the mailed `GET /reset-password/:token` link and `POST
//! /reset-password`.
//!
//! Deliberate differences from Better Auth: the token is stored only as its SHA-256
//! (`verification.identifier = "reset-password:<hex>"`), and a successful reset ends every
//! session of the user.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::stored_time,
    http::{assert_error, header_str, no_redirect_client, plain_client, set_cookies},
    mail::{MailOutbox, spawn_with_outbox},
    server::{ORIGIN, TestApp},
    users::{PASSWORD, User, Via, session_for_bearer, sign_in_status},
    wire::sha256_hex,
};

const REQUEST: &str = "/api/auth/request-password-reset";
const RESET: &str = "/api/auth/reset-password";
const NEW_PASSWORD: &str = "reset to this password";
const GENERIC: &str = "If this email exists in our system, check your email for the reset link";

async fn request_reset(app: &TestApp, email: &str, redirect_to: Option<&str>) -> Response {
    let mut body = json!({"email": email});
    if let Some(redirect) = redirect_to {
        body["redirectTo"] = json!(redirect);
    }
    plain_client().post(app.url(REQUEST)).json(&body).send().await.expect("request sent")
}

async fn reset(app: &TestApp, body: &Value) -> Response {
    plain_client().post(app.url(RESET)).json(body).send().await.expect("request sent")
}

/// Requests a reset for `email` and returns the token from the `n`-th mail to it.
async fn mailed_token(app: &TestApp, outbox: &MailOutbox, email: &str, n: usize) -> String {
    let response = request_reset(app, email, Some(&format!("{ORIGIN}/reset"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    token_of(&outbox.wait_for_nth(email, n).await)
}

/// The token in a reset mail's link.
fn token_of(mail: &Value) -> String {
    let url = url::Url::parse(mail["url"].as_str().expect("url")).expect("a URL");
    url.path().rsplit('/').next().expect("a last segment").to_owned()
}

/// Opens a mailed link; returns the status and `Location`.
async fn open(url: &str) -> (StatusCode, Option<String>) {
    let response = no_redirect_client().get(url).send().await.expect("request sent");
    (response.status(), header_str(&response, "location"))
}

async fn verification_rows(app: &TestApp) -> Vec<Value> {
    app.db.query(r#"SELECT * FROM "verification""#, vec![]).await
}

#[tokio::test]
async fn request_password_reset_mails_a_link_and_stores_only_a_hash_of_the_token() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let redirect = format!("{ORIGIN}/reset-password");

    // Act
    let response = request_reset(&app, "Ann@Example.com", Some(&redirect)).await;

    // Assert: the answer.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true, "message": GENERIC}));
    // The mail.
    let mail = outbox.wait_for(&ann.email).await;
    let token = token_of(&mail);
    assert!(token.len() == 24 && token.bytes().all(|b| b.is_ascii_alphanumeric()), "token {token}");
    let url = mail["url"].as_str().expect("url");
    assert_eq!(
        url,
        format!(
            "{}/api/auth/reset-password/{token}?callbackURL={}",
            app.base, "http%3A%2F%2Flocalhost%3A3000%2Freset-password"
        )
    );
    assert_eq!(mail["subject"], "Reset your password");
    assert!(mail["text"].as_str().expect("text").contains(url), "the body carries the link");
    // The database: one row, keyed by the token's hash; the raw token is nowhere.
    let rows = verification_rows(&app).await;
    assert_eq!(rows.len(), 1);
    let identifier = rows[0]["identifier"].as_str().expect("identifier");
    assert_eq!(identifier, format!("reset-password:{}", sha256_hex(&token)));
    assert!(!identifier.contains(&token), "the stored identifier does not contain the raw token");
    assert_eq!(rows[0]["value"], ann.id.as_str());
    for row in &rows {
        assert!(!row.to_string().contains(&token), "the raw token is stored nowhere: {row}");
    }
    let expires = time::OffsetDateTime::parse(
        rows[0]["expiresAt"].as_str().expect("expiresAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("a date");
    let in_an_hour = OffsetDateTime::now_utc() + Duration::hours(1);
    assert!((expires - in_an_hour).abs() < Duration::minutes(1), "valid for an hour: {expires}");
}

#[tokio::test]
async fn request_password_reset_answers_identically_for_unknown_emails_and_mails_nothing() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    // Act: the unknown address first, then the known one.
    let unknown = request_reset(&app, "nobody@example.com", Some("/reset")).await;
    let known = request_reset(&app, &ann.email, Some("/reset")).await;

    // Assert: same status, headers that matter, and body bytes.
    assert_eq!(unknown.status(), known.status());
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(header_str(&unknown, "content-type"), header_str(&known, "content-type"));
    assert_eq!(set_cookies(&unknown), set_cookies(&known));
    assert_eq!(unknown.bytes().await.expect("body"), known.bytes().await.expect("body"));
    // Once the known address's mail is out, the unknown one has still got nothing.
    outbox.wait_for(&ann.email).await;
    assert!(outbox.to("nobody@example.com").is_empty(), "no mail to an unknown address");
    assert_eq!(outbox.all().len(), 1);
    assert_eq!(verification_rows(&app).await.len(), 1, "no token stored for the unknown address");
}

#[tokio::test]
async fn the_mailed_link_redirects_to_the_callback_with_the_token() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let cases = [
        (format!("{ORIGIN}/reset-password"), format!("{ORIGIN}/reset-password?token=")),
        ("/reset".to_owned(), format!("{}/reset?token=", app.base)),
        (format!("{ORIGIN}/reset?step=2"), format!("{ORIGIN}/reset?step=2&token=")),
    ];

    for (n, (redirect, expected)) in cases.iter().enumerate() {
        let response = request_reset(&app, &ann.email, Some(redirect)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mail = outbox.wait_for_nth(&ann.email, n + 1).await;
        let token = token_of(&mail);

        let (status, location) = open(mail["url"].as_str().expect("url")).await;

        assert_eq!(status, StatusCode::FOUND, "{redirect}");
        assert_eq!(location, Some(format!("{expected}{token}")), "{redirect}");
    }
    assert_eq!(verification_rows(&app).await.len(), 3, "opening a link does not consume its token");
}

#[tokio::test]
async fn the_link_without_a_callback_is_400_and_with_an_untrusted_callback_is_403() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let link = app.url(&format!("{RESET}/{token}"));

    let missing = no_redirect_client().get(&link).send().await.expect("request sent");
    let untrusted = no_redirect_client()
        .get(format!("{link}?callbackURL=https%3A%2F%2Fevil.example%2Fsteal"))
        .send()
        .await
        .expect("request sent");

    let body = assert_error(missing, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(body["message"], "[query.callbackURL] Invalid input: expected string, received undefined");
    let body = assert_error(untrusted, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL").await;
    assert_eq!(body["message"], "Invalid callbackURL");
    assert_eq!(verification_rows(&app).await.len(), 1, "the token is still there");
}

#[tokio::test]
async fn reset_password_sets_the_new_password_consumes_the_token_and_ends_every_session() {
    // Arrange: Ann has a browser session, a bearer session and a warm cache.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in_via(&app, &ann.email, PASSWORD, Via::Browser).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;
    assert_ne!(ann.session().await, Value::Null);
    assert_ne!(session_for_bearer(&app, &phone.token).await, Value::Null);
    let old_hash = app.db.password_hash(&ann.id).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;

    // Act
    let response = reset(&app, &json!({"newPassword": NEW_PASSWORD, "token": token})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_ne!(app.db.password_hash(&ann.id).await, old_hash);
    assert_eq!(verification_rows(&app).await.len(), 0, "the token is consumed");
    assert_eq!(app.db.session_count(&ann.id).await, 0, "every session of the user ended");
    assert_eq!(ann.session().await, Value::Null, "the browser session is dead on the next request");
    assert_eq!(session_for_bearer(&app, &phone.token).await, Value::Null, "so is the bearer one");
    assert_ne!(bob.session().await, Value::Null, "other users keep theirs");
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK);
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reused_reset_token_is_400_invalid_token_and_its_link_redirects_with_an_error() {
    // Arrange: a token used once.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let link = outbox.wait_for(&ann.email).await["url"].as_str().expect("url").to_owned();
    assert_eq!(reset(&app, &json!({"newPassword": NEW_PASSWORD, "token": token})).await.status(), StatusCode::OK);
    let hash_after_first = app.db.password_hash(&ann.id).await;

    // Act
    let again = reset(&app, &json!({"newPassword": "a third password!", "token": token})).await;
    let (status, location) = open(&link).await;

    // Assert
    let body = assert_error(again, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
    assert_eq!(body["message"], "Invalid token");
    assert_eq!(app.db.password_hash(&ann.id).await, hash_after_first, "the second use changed nothing");
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, Some(format!("{ORIGIN}/reset?error=INVALID_TOKEN")));
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_reset_token_is_400_invalid_token_and_changes_nothing() {
    // Arrange: a mailed token whose row expired a second ago.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let link = outbox.wait_for(&ann.email).await["url"].as_str().expect("url").to_owned();
    let past = stored_time(app.db.backend(), OffsetDateTime::now_utc() - Duration::seconds(1));
    assert_eq!(app.db.execute(r#"UPDATE "verification" SET "expiresAt" = $1"#, vec![past]).await, 1);
    let old_hash = app.db.password_hash(&ann.id).await;

    // Act
    let (status, location) = open(&link).await;
    let response = reset(&app, &json!({"newPassword": NEW_PASSWORD, "token": token})).await;

    // Assert
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, Some(format!("{ORIGIN}/reset?error=INVALID_TOKEN")));
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
    assert_eq!(app.db.password_hash(&ann.id).await, old_hash, "the password is unchanged");
    assert_ne!(ann.session().await, Value::Null, "no session was ended");
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn forged_reset_tokens_are_400_invalid_token_and_change_nothing() {
    // Arrange: one genuine token outstanding.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let stored = verification_rows(&app).await[0]["identifier"].as_str().expect("identifier").to_owned();
    let mut flipped = token.clone();
    let last = flipped.pop().expect("a character");
    flipped.push(if last == 'a' { 'b' } else { 'a' });
    let old_hash = app.db.password_hash(&ann.id).await;
    let cases = [
        (json!({"newPassword": NEW_PASSWORD, "token": "abcdefghijklmnopqrstuvwx"}), "random token"),
        (json!({"newPassword": NEW_PASSWORD, "token": flipped}), "one character changed"),
        (json!({"newPassword": NEW_PASSWORD, "token": token.to_lowercase()}), "case changed"),
        (json!({"newPassword": NEW_PASSWORD, "token": sha256_hex(&token)}), "the stored hash"),
        (json!({"newPassword": NEW_PASSWORD, "token": stored}), "the stored identifier"),
        (json!({"newPassword": NEW_PASSWORD, "token": ""}), "empty"),
        (json!({"newPassword": NEW_PASSWORD}), "missing"),
    ];

    for (body, what) in cases {
        if body["token"] == token.as_str() {
            continue; // a lower-case token can equal the real one only if it had no capitals
        }
        // Act
        let response = reset(&app, &body).await;

        // Assert
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
        assert_eq!(error["message"], "Invalid token", "{what}");
        assert_eq!(app.db.password_hash(&ann.id).await, old_hash, "{what}: the password is unchanged");
    }
    assert_eq!(verification_rows(&app).await.len(), 1, "the genuine token is still outstanding");
    assert_eq!(app.db.session_count(&ann.id).await, 1);
    assert_eq!(reset(&app, &json!({"newPassword": NEW_PASSWORD, "token": token})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_new_password_is_refused_before_the_token_is_looked_up_and_leaves_it_usable() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let cases = [
        (json!({"newPassword": "short", "token": token}), "PASSWORD_TOO_SHORT"),
        (json!({"newPassword": "x".repeat(129), "token": token}), "PASSWORD_TOO_LONG"),
        (json!({"newPassword": "short", "token": "forged-token"}), "PASSWORD_TOO_SHORT"),
        (json!({"token": token}), "VALIDATION_ERROR"),
    ];

    for (body, code) in cases {
        let response = reset(&app, &body).await;

        assert_error(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(verification_rows(&app).await.len(), 1, "{code}: the token is still usable");
    }
    assert_eq!(reset(&app, &json!({"newPassword": NEW_PASSWORD, "token": token})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_token_in_the_query_string_works_like_the_body_field() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;

    let response = plain_client()
        .post(app.url(&format!("{RESET}?token={token}")))
        .json(&json!({"newPassword": NEW_PASSWORD}))
        .send()
        .await
        .expect("request sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK);
    assert_eq!(verification_rows(&app).await.len(), 0);
}

#[tokio::test]
async fn two_concurrent_resets_with_one_token_exactly_one_succeeds() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    for round in 1..=3 {
        // Arrange
        let token = mailed_token(&app, &outbox, &ann.email, round).await;
        let first = format!("first password {round}");
        let second = format!("second password {round}");

        // Act
        let (body_a, body_b) =
            (json!({"newPassword": first, "token": token}), json!({"newPassword": second, "token": token}));
        let (a, b) = tokio::join!(reset(&app, &body_a), reset(&app, &body_b));

        // Assert
        let statuses = [a.status(), b.status()];
        let winner = match statuses {
            [StatusCode::OK, StatusCode::BAD_REQUEST] => {
                assert_error(b, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
                first
            }
            [StatusCode::BAD_REQUEST, StatusCode::OK] => {
                assert_error(a, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
                second
            }
            other => panic!("round {round}: exactly one reset must succeed, got {other:?}"),
        };
        assert_eq!(sign_in_status(&app, &ann.email, &winner).await, StatusCode::OK, "round {round}");
        assert_eq!(verification_rows(&app).await.len(), 0, "round {round}: the token is consumed");
    }
}

#[tokio::test]
async fn request_password_reset_with_an_untrusted_redirect_is_403_invalid_redirect_url_and_mails_nothing() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    for redirect in ["https://evil.example/reset", "//evil.example/reset", "javascript:alert(1)"] {
        let response = request_reset(&app, &ann.email, Some(redirect)).await;

        let body = assert_error(response, StatusCode::FORBIDDEN, "INVALID_REDIRECT_URL").await;
        assert_eq!(body["message"], "Invalid redirectURL", "{redirect}");
    }
    // Control: a trusted one afterwards is the first and only mail.
    assert_eq!(request_reset(&app, &ann.email, Some("/reset")).await.status(), StatusCode::OK);
    outbox.wait_for(&ann.email).await;
    assert_eq!(outbox.all().len(), 1);
    assert_eq!(verification_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn request_password_reset_with_a_bad_body_is_400_validation_error() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let cases = [
        (json!({"email": "not-an-email"}), "[body.email] Invalid email address"),
        (json!({}), "[body.email] Invalid input: expected string, received undefined"),
        (json!({"email": 7}), "[body.email] Invalid input: expected string, received number"),
    ];

    for (body, message) in cases {
        let response = plain_client().post(app.url(REQUEST)).json(&body).send().await.expect("request sent");

        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], message, "{body}");
    }
    assert!(outbox.all().is_empty());
}

#[tokio::test]
async fn with_mail_disabled_request_password_reset_is_400_reset_password_disabled() {
    let app = TestApp::builder().var("MAIL_TRANSPORT", "none").spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let response = request_reset(&app, &ann.email, None).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "RESET_PASSWORD_DISABLED").await;
    assert_eq!(body["message"], "Reset password isn't enabled");
    assert_eq!(verification_rows(&app).await.len(), 0);
}

#[tokio::test]
async fn reset_requests_with_a_cookie_and_no_origin_are_403_and_change_nothing() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let old_hash = app.db.password_hash(&ann.id).await;

    for (path, body) in
        [(REQUEST, json!({"email": ann.email})), (RESET, json!({"newPassword": NEW_PASSWORD, "token": token}))]
    {
        let response = ann.post_with_cookie(path, &body, None).await;

        assert_error(response, StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN").await;
    }
    assert_eq!(app.db.password_hash(&ann.id).await, old_hash);
    assert_eq!(verification_rows(&app).await.len(), 1, "no second token, the first not consumed");
    assert_ne!(ann.session().await, Value::Null);
}

/// Issue 13, finding 4: the reset tokens of a user still in the table (ids of reset rows).
async fn outstanding_reset_tokens(app: &TestApp, user_id: &str) -> i64 {
    app.db
        .count(
            r#"SELECT COUNT(*) AS n FROM "verification" WHERE "identifier" LIKE 'reset-password:%' AND "value" = $1"#,
            vec![user_id.to_owned().into()],
        )
        .await
}

#[tokio::test]
async fn a_reset_ends_every_other_outstanding_reset_link_of_the_user() {
    // Issue 13, finding 4: two links requested, the first used; the second must not work too.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let first = mailed_token(&app, &outbox, &ann.email, 1).await;
    let second = mailed_token(&app, &outbox, &ann.email, 2).await;
    let bobs = mailed_token(&app, &outbox, &bob.email, 1).await;

    let used = reset(&app, &json!({"token": first, "newPassword": NEW_PASSWORD})).await;
    let later = reset(&app, &json!({"token": second, "newPassword": "the attacker's password"})).await;

    assert_eq!(used.status(), StatusCode::OK);
    assert_error(later, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK, "the first reset's password");
    assert_eq!(outstanding_reset_tokens(&app, &ann.id).await, 0);
    assert_eq!(outstanding_reset_tokens(&app, &bob.id).await, 1, "another user's link is untouched");
    let bobs_reset = reset(&app, &json!({"token": bobs, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(bobs_reset.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_ends_every_outstanding_reset_link() {
    // Issue 13, finding 4: after change-password (with revokeOtherSessions, as in the review) an
    // older reset link still worked.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Bearer).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;

    let changed = ann
        .post(
            "/api/auth/change-password",
            &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true}),
        )
        .await;
    let old_link = reset(&app, &json!({"token": token, "newPassword": "the attacker's password"})).await;

    assert_eq!(changed.status(), StatusCode::OK);
    assert_error(old_link, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
    assert_eq!(sign_in_status(&app, &ann.email, NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn an_email_change_ends_the_reset_links_mailed_to_the_old_address() {
    // Issue 13, finding 4: a reset link sent to an address the account no longer has must not
    // work.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Bearer).await;
    let token = mailed_token(&app, &outbox, &ann.email, 1).await;
    let asked = ann.post("/api/auth/change-email", &json!({"newEmail": "new@example.com", "password": PASSWORD})).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let link = outbox.wait_for("new@example.com").await["url"].as_str().expect("url").to_owned();

    open(&link).await;
    let old_link = reset(&app, &json!({"token": token, "newPassword": "the attacker's password"})).await;

    assert_eq!(app.db.user_row(&ann.id).await["email"], "new@example.com", "the change went through");
    assert_error(old_link, StatusCode::BAD_REQUEST, "INVALID_TOKEN").await;
    assert_eq!(outstanding_reset_tokens(&app, &ann.id).await, 0, "the change notice's link went too");
}

#[tokio::test]
async fn the_file_outbox_is_readable_by_its_owner_only() {
    // Issue 13, "Also": the outbox holds live reset links.
    use std::os::unix::fs::PermissionsExt;
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;

    mailed_token(&app, &outbox, &ann.email, 1).await;

    let mode = std::fs::metadata(&outbox.path).expect("the outbox exists").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}
