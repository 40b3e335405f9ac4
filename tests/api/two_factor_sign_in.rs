//! Sign-in with two-factor on (issue 16; `docs/better-auth-plugins.md` §Two-factor): no session
//! until a second factor; the pending sign-in in the signed `two_factor` cookie (browsers) or the
//! `two-factor-token` header (native apps); TOTP, backup code and emailed code complete it;
//! `trustDevice` skips it for 30 days; a password reset does not.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{ClientOptions, assert_error, header_str, ok_json, set_cookies},
    mail::spawn_with_outbox,
    server::TestApp,
    two_factor::{Pending, SEND_OTP, VERIFY_BACKUP_CODE, VERIFY_OTP, VERIFY_TOTP, enrol},
    users::{GET_SESSION, PASSWORD, User, session_for_bearer},
    wire::{cookie_value, sign},
};

#[tokio::test]
async fn sign_in_answers_the_second_step_with_a_signed_cookie_and_header_and_no_session() {
    // Arrange
    let app = TestApp::builder().var("MAIL_TRANSPORT", "none").spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (_, ann) = enrol(&ann).await;
    let sessions_before = app.db.session_count(&ann.id).await;

    // Act
    let pending = Pending::browser(&app, &ann.email).await;

    // Assert
    assert_eq!(pending.body, json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp"]}));
    let id = pending.token.rsplit_once('.').expect("signed").0.to_owned();
    assert!(id.starts_with("2fa-") && id.len() == 24, "{id}");
    assert_eq!(pending.token, sign(&id));
    assert_eq!(
        pending.set_cookies,
        [
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".to_owned(),
            "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".to_owned(),
            format!("better-auth.two_factor={}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax", cookie_value(&id)),
        ]
    );
    assert_eq!(app.db.session_count(&ann.id).await, sessions_before, "no session yet");
    let rows = app.db.query(r#"SELECT "value" FROM "verification" WHERE "identifier" = $1"#, vec![id.into()]).await;
    assert_eq!(rows, [json!({"value": ann.id})], "the pending sign-in names its user");
    let session = pending.client().get(app.url(GET_SESSION)).send().await.expect("sent");
    assert_eq!(ok_json(session).await, Value::Null);
}

#[tokio::test]
async fn a_browser_completes_sign_in_with_a_totp_code_once() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let pending = Pending::browser(&app, &ann.email).await;
    let code = enrolment.app.code_at(crate::support::two_factor::Authenticator::step_now() + 1);

    // Act
    let response = pending.post(VERIFY_TOTP, &json!({"code": code})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert!(header_str(&response, "set-auth-token").is_some());
    let body: Value = response.json().await.expect("JSON");
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert!(cookies.iter().any(|c| c.starts_with(&format!("better-auth.session_token={}", cookie_value(token)))));
    assert!(cookies.contains(&"better-auth.two_factor=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".to_owned()));
    let session = ok_json(pending.client().get(app.url(GET_SESSION)).send().await.expect("sent")).await;
    assert_eq!(session["session"]["token"], token, "the session is live: the answer's token is not a deleted one");
    let again = pending.post(VERIFY_TOTP, &json!({"code": code})).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    let replay = Pending::app(&app, &ann.email).await;
    let refused = replay.post(VERIFY_TOTP, &json!({"code": code})).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
}

#[tokio::test]
async fn a_native_app_carries_the_pending_sign_in_in_a_header_and_gets_a_bearer_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let pending = Pending::app(&app, &ann.email).await;
    let code = enrolment.app.code_at(crate::support::two_factor::Authenticator::step_now() + 1);

    // Act
    let response = pending.post(VERIFY_TOTP, &json!({"code": code})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let bearer = header_str(&response, "set-auth-token").expect("set-auth-token");
    let exposed = header_str(&response, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("set-auth-token"), "{exposed}");
    assert_eq!(session_for_bearer(&app, &bearer).await["user"]["id"], ann.id.as_str());
    let used = pending.post(VERIFY_TOTP, &json!({"code": code})).await;
    assert_error(used, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE").await;
}

#[tokio::test]
async fn a_backup_code_completes_sign_in_once() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let code = &enrolment.backup_codes[3];

    // Act
    let first = Pending::app(&app, &ann.email).await.post(VERIFY_BACKUP_CODE, &json!({"code": code})).await;
    let second = Pending::app(&app, &ann.email).await.post(VERIFY_BACKUP_CODE, &json!({"code": code})).await;

    // Assert
    assert_eq!(first.status(), StatusCode::OK);
    let body: Value = first.json().await.expect("JSON");
    assert_eq!(session_for_bearer(&app, body["token"].as_str().expect("token")).await["user"]["id"], ann.id.as_str());
    assert_error(second, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE").await;
    let other = Pending::app(&app, &ann.email)
        .await
        .post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[4]}))
        .await;
    assert_eq!(other.status(), StatusCode::OK, "the other codes still work");
}

#[tokio::test]
async fn a_trusted_device_skips_the_second_step_and_another_device_does_not() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let laptop = Pending::browser(&app, &ann.email).await;
    let trusted =
        laptop.post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[0], "trustDevice": true})).await;
    assert_eq!(trusted.status(), StatusCode::OK);
    let trust_line =
        set_cookies(&trusted).into_iter().find(|c| c.starts_with("better-auth.trust_device=")).expect("cookie");
    assert!(trust_line.contains("; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax"), "{trust_line}");

    // Act
    let again = laptop
        .client()
        .post(app.url(crate::support::users::SIGN_IN))
        .json(&json!({"email": ann.email, "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let elsewhere = Pending::browser(&app, &ann.email).await;

    // Assert
    assert_eq!(again.status(), StatusCode::OK);
    let renewed =
        set_cookies(&again).into_iter().find(|c| c.starts_with("better-auth.trust_device=")).expect("renewed");
    assert_ne!(renewed, trust_line, "the trust is renewed with a new value");
    let body: Value = again.json().await.expect("JSON");
    assert!(body["token"].is_string(), "signed in without a second step: {body}");
    assert_eq!(elsewhere.body["twoFactorRedirect"], true);
}

#[tokio::test]
async fn a_code_by_email_completes_sign_in() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (_, ann) = enrol(&ann).await;
    let pending = Pending::app(&app, &ann.email).await;
    assert_eq!(pending.body["twoFactorMethods"], json!(["totp", "otp"]));
    let none_yet = pending.post(VERIFY_OTP, &json!({"code": "123456"})).await;
    assert_error(none_yet, StatusCode::BAD_REQUEST, "OTP_HAS_EXPIRED").await;

    // Act
    let sent = pending.post(SEND_OTP, &json!({})).await;
    let mail = outbox.wait_for(&ann.email).await;
    let text = mail["text"].as_str().expect("text");
    let code: String = text
        .split_whitespace()
        .find(|w| w.trim_end_matches('.').len() == 6 && w.chars().take(6).all(|c| c.is_ascii_digit()))
        .expect("code")
        .chars()
        .take(6)
        .collect();
    let wrong = pending.post(VERIFY_OTP, &json!({"code": if code == "000000" { "111111" } else { "000000" }})).await;
    let right = pending.post(VERIFY_OTP, &json!({"code": code})).await;

    // Assert
    assert_eq!(ok_json(sent).await, json!({"status": true}));
    assert_error(wrong, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    assert_eq!(right.status(), StatusCode::OK);
    let stored =
        app.db.query(r#"SELECT "value" FROM "verification" WHERE "identifier" LIKE '2fa-otp-%'"#, vec![]).await;
    assert!(stored.is_empty(), "the code is used up");
}

#[tokio::test]
async fn a_password_reset_does_not_skip_the_second_factor() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (_, ann) = enrol(&ann).await;
    app.post_json("/api/auth/request-password-reset", &json!({"email": ann.email})).await;
    let mail = outbox.wait_for(&ann.email).await;
    let url = mail["url"].as_str().expect("url");
    let token = url.split("/reset-password/").nth(1).expect("token").split('?').next().expect("token");
    let reset =
        app.post_json("/api/auth/reset-password", &json!({"token": token, "newPassword": "a new password!"})).await;
    assert_eq!(reset.status(), StatusCode::OK);

    // Act
    let response = ClientOptions::default()
        .build()
        .post(app.url(crate::support::users::SIGN_IN))
        .json(&json!({"email": ann.email, "password": "a new password!"}))
        .send()
        .await
        .expect("sent");

    // Assert
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["twoFactorRedirect"], true, "{body}");
    assert!(body.get("token").is_none());
}
