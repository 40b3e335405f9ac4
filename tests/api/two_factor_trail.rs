//! What two-factor sign-in shows outside its own endpoints (issue 16): every user object carries
//! Better Auth's `twoFactorEnabled`, and the audit trail (`GET /api/auth/security-events`)
//! records turning it on and off, new backup codes, each second factor accepted or refused with
//! its method (never the code), and a trusted device skipping the second step.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, header_str, ok_json, query_param, set_cookies},
    server::TestApp,
    two_factor::{
        Authenticator, DISABLE, ENABLE, Enrolment, GENERATE_BACKUP_CODES, Pending, VERIFY_BACKUP_CODE, VERIFY_TOTP,
        start_enrolment,
    },
    users::{PASSWORD, SIGN_IN, User, session_for_bearer},
};

const EVENTS: &str = "/api/auth/security-events";

/// The user's events, newest first, as `(type, reason)`.
async fn trail(user: &User) -> Vec<(String, Value)> {
    let body = ok_json(user.get(&format!("{EVENTS}?limit=100")).await).await;
    let events = body["events"].as_array().expect("events");
    events.iter().map(|e| (e["type"].as_str().expect("type").to_owned(), e["reason"].clone())).collect()
}

/// The `backupCodes` of an answer.
fn codes(body: &Value) -> Vec<String> {
    body["backupCodes"].as_array().expect("backupCodes").iter().map(|c| c.as_str().expect("code").to_owned()).collect()
}

/// `(type, reason)` for an expected event.
fn event(kind: &str, reason: Option<&str>) -> (String, Value) {
    (kind.to_owned(), reason.map_or(Value::Null, |r| json!(r)))
}

#[tokio::test]
async fn every_user_object_says_whether_two_factor_sign_in_is_on() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let signed_in = ok_json(app.post_json(SIGN_IN, &json!({"email": ann.email, "password": PASSWORD})).await).await;
    assert_eq!(signed_in["user"]["twoFactorEnabled"], false, "sign-in: {signed_in}");
    assert_eq!(ann.session().await["user"]["twoFactorEnabled"], false, "get-session");
    let enrolment = start_enrolment(&ann).await;
    assert_eq!(ann.session().await["user"]["twoFactorEnabled"], false, "not on before the first code");

    // Act: confirm, complete a sign-in, then turn it off.
    let confirmed = ann.post(VERIFY_TOTP, &json!({"code": enrolment.app.code_now()})).await;
    let confirmed_bearer = header_str(&confirmed, "set-auth-token").expect("the replacing session");
    let confirmed = ok_json(confirmed).await;
    let pending = Pending::app(&app, &ann.email).await;
    let verified = ok_json(pending.post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[0]})).await).await;
    let on = session_for_bearer(&app, &confirmed_bearer).await;
    let mut ann = ann;
    ann.bearer = confirmed_bearer;
    let disabled = ann.post(DISABLE, &json!({"password": PASSWORD})).await;
    let disabled_bearer = header_str(&disabled, "set-auth-token").expect("the replacing session");
    assert_eq!(disabled.status(), StatusCode::OK);
    let off = session_for_bearer(&app, &disabled_bearer).await;
    let again = ok_json(app.post_json(SIGN_IN, &json!({"email": ann.email, "password": PASSWORD})).await).await;

    // Assert
    assert_eq!(confirmed["user"]["twoFactorEnabled"], true, "the confirming answer: {confirmed}");
    assert_eq!(on["user"]["twoFactorEnabled"], true, "get-session once on: {on}");
    assert_eq!(verified["user"]["twoFactorEnabled"], true, "the second step's answer: {verified}");
    assert_eq!(off["user"]["twoFactorEnabled"], false, "get-session once off: {off}");
    assert_eq!(again["user"]["twoFactorEnabled"], false, "sign-in once off: {again}");
}

#[tokio::test]
async fn two_factor_events_are_recorded_with_their_method_and_hold_no_code_or_secret() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let enabled = ok_json(ann.post(ENABLE, &json!({"password": PASSWORD})).await).await;
    let uri = enabled["totpURI"].as_str().expect("totpURI");
    let secret = query_param(uri, "secret").expect("the secret");
    let enrolment = Enrolment { app: Authenticator::scan(uri), backup_codes: codes(&enabled) };
    let refused = ann.post(VERIFY_TOTP, &json!({"code": enrolment.app.wrong_code()})).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    let confirmed = ann.post(VERIFY_TOTP, &json!({"code": enrolment.app.code_now()})).await;
    let bearer = header_str(&confirmed, "set-auth-token").expect("the replacing session");
    assert_eq!(confirmed.status(), StatusCode::OK);
    let mut ann = ann;
    ann.bearer = bearer;
    let fresh = codes(&ok_json(ann.post(GENERATE_BACKUP_CODES, &json!({"password": PASSWORD})).await).await);

    // Act: a refused and an accepted backup code with trust, the trusted device, a TOTP sign-in,
    // and turning it off.
    let laptop = Pending::browser(&app, &ann.email).await;
    let old_code = laptop.post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[1]})).await;
    assert_error(old_code, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE").await;
    let trusted = laptop.post(VERIFY_BACKUP_CODE, &json!({"code": fresh[0], "trustDevice": true})).await;
    assert!(set_cookies(&trusted).iter().any(|c| c.starts_with("better-auth.trust_device=")), "trusted");
    let body = json!({"email": ann.email, "password": PASSWORD});
    let skipped = laptop.client().post(app.url(SIGN_IN)).json(&body).send().await.expect("sent");
    assert!(ok_json(skipped).await["token"].is_string(), "the trusted device skips the second step");
    let phone = Pending::app(&app, &ann.email).await;
    let code = enrolment.app.code_at(Authenticator::step_now() + 1);
    assert_eq!(phone.post(VERIFY_TOTP, &json!({"code": code})).await.status(), StatusCode::OK);
    let disabled = ann.post(DISABLE, &json!({"password": PASSWORD})).await;
    let bearer = header_str(&disabled, "set-auth-token").expect("the replacing session");
    assert_eq!(disabled.status(), StatusCode::OK);
    ann.bearer = bearer;

    // Assert
    assert_eq!(
        trail(&ann).await,
        [
            event("two-factor-disabled", None),
            event("sign-in", None),
            event("two-factor-succeeded", Some("totp")),
            event("sign-in", None),
            event("trusted-device-used", None),
            event("sign-in", None),
            event("two-factor-succeeded", Some("backup-code")),
            event("two-factor-failed", Some("backup-code")),
            event("backup-codes-regenerated", None),
            event("two-factor-enabled", Some("totp")),
            event("two-factor-failed", Some("totp")),
            event("sign-up", None),
        ]
    );
    let stored = serde_json::to_string(&app.db.query(r#"SELECT * FROM "auditEvent""#, vec![]).await).expect("JSON");
    let mut secrets: Vec<&str> = enrolment.backup_codes.iter().chain(&fresh).map(String::as_str).collect();
    secrets.push(&secret);
    for secret in secrets {
        assert!(!stored.contains(secret), "an event holds a secret: {secret}");
    }
    let columns = app.db.query(r#"SELECT "reason" FROM "auditEvent" WHERE "reason" IS NOT NULL"#, vec![]).await;
    for row in columns {
        assert!(["totp", "backup-code"].contains(&row["reason"].as_str().expect("text")), "only the method: {row}");
    }
}
