//! Two-factor enrolment and settings (issue 16; `docs/better-auth-plugins.md` §Two-factor):
//! `enable` stores an encrypted secret and codes and turns nothing on until the first code;
//! confirming, disabling and the other settings need the password and a fresh session, and
//! confirming or disabling ends every other session.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    db::{is_false, is_true, stored_time},
    http::{assert_error, ok_json},
    server::TestApp,
    two_factor::{
        Authenticator, DISABLE, ENABLE, GENERATE_BACKUP_CODES, GET_TOTP_URI, Pending, VERIFY_BACKUP_CODE, VERIFY_TOTP,
        enrol, start_enrolment,
    },
    users::{PASSWORD, SIGN_IN, User, Via, sign_in_status},
};

#[tokio::test]
async fn enable_answers_a_totp_uri_and_ten_codes_and_stores_them_encrypted_and_unconfirmed() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;

    // Act
    let body = ok_json(ann.post(ENABLE, &json!({"password": PASSWORD, "issuer": "Tasks & Co"})).await).await;

    // Assert
    assert_eq!(body["method"], "totp");
    let uri = body["totpURI"].as_str().expect("totpURI");
    assert!(uri.starts_with("otpauth://totp/Tasks%20%26%20Co:ann%40example.com?secret="), "{uri}");
    assert!(uri.ends_with("&issuer=Tasks+%26+Co&digits=6&period=30"), "{uri}");
    let codes: Vec<&str> = body["backupCodes"].as_array().expect("codes").iter().filter_map(Value::as_str).collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"), "{codes:?}");
    let rows = app.db.query(r#"SELECT * FROM "twoFactor" WHERE "userId" = $1"#, vec![ann.id.as_str().into()]).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let secret = row["secret"].as_str().expect("secret");
    assert!(secret.len() == 2 * (24 + 32 + 16) && secret.bytes().all(|b| b.is_ascii_hexdigit()), "sealed: {secret}");
    let stored_codes = row["backupCodes"].as_str().expect("codes");
    assert!(codes.iter().all(|c| !stored_codes.contains(c)), "codes are stored encrypted");
    assert!(is_false(&row["verified"]), "not confirmed yet");
    assert!(!is_true(&app.db.user_row(&ann.id).await["twoFactorEnabled"]), "not on yet");
    let pending = app
        .post_json(SIGN_IN, &json!({"email": ann.email, "password": PASSWORD}))
        .await
        .json::<Value>()
        .await
        .expect("JSON");
    assert!(pending["token"].is_string(), "sign-in is not challenged before confirmation: {pending}");
}

#[tokio::test]
async fn the_first_code_confirms_the_enrolment_and_ends_every_other_session() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let phone = User::sign_in(&app, &ann.email, PASSWORD).await;
    let enrolment = start_enrolment(&ann).await;
    assert_error(
        ann.post(VERIFY_TOTP, &json!({"code": enrolment.app.wrong_code()})).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CODE",
    )
    .await;

    // Act
    let response = ann.post(VERIFY_TOTP, &json!({"code": enrolment.app.code_now()})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"]["id"], ann.id.as_str());
    let token = body["token"].as_str().expect("token");
    assert_ne!(token, ann.token, "a new session replaces the current one");
    assert_eq!(ann.session().await["session"]["token"], token, "the browser holds the new session");
    assert_eq!(phone.session().await, Value::Null, "the other session ended");
    assert_eq!(app.db.session_count(&ann.id).await, 1);
    assert!(is_true(&app.db.user_row(&ann.id).await["twoFactorEnabled"]));
    let pending = Pending::app(&app, &ann.email).await;
    assert_eq!(pending.body["twoFactorMethods"][0], "totp");
}

#[tokio::test]
async fn settings_need_a_session_the_password_and_a_fresh_session() {
    // Arrange (no session cache: the test ages the session in the database)
    let app = TestApp::builder().var("SESSION_CACHE_TTL", "0").spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (_, ann) = enrol(&ann).await;
    let operations = [ENABLE, GET_TOTP_URI, GENERATE_BACKUP_CODES, DISABLE];

    for path in operations {
        // Act + Assert: no session, wrong password, then a session older than a day.
        let anonymous = app.post_json(path, &json!({"password": PASSWORD})).await;
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        let wrong = ann.post(path, &json!({"password": "not the password"})).await;
        assert_error(wrong, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
        let missing = ann.post(path, &json!({})).await;
        assert_error(missing, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let old = stored_time(app.db.backend(), OffsetDateTime::now_utc() - Duration::days(2));
    app.db
        .execute(r#"UPDATE "session" SET "createdAt" = $1 WHERE "userId" = $2"#, vec![old, ann.id.as_str().into()])
        .await;
    for path in operations {
        let stale = ann.post(path, &json!({"password": PASSWORD})).await;
        assert_error(stale, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH").await;
    }
    assert!(is_true(&app.db.user_row(&ann.id).await["twoFactorEnabled"]), "nothing changed");
}

#[tokio::test]
async fn enable_refuses_a_second_enrolment_and_get_totp_uri_shows_the_same_secret() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;

    // Act
    let again = ann.post(ENABLE, &json!({"password": PASSWORD})).await;
    let uri = ok_json(ann.post(GET_TOTP_URI, &json!({"password": PASSWORD})).await).await;
    let none = bob.post(GET_TOTP_URI, &json!({"password": PASSWORD})).await;

    // Assert
    assert_error(again, StatusCode::BAD_REQUEST, "TOTP_ALREADY_ENABLED").await;
    assert_eq!(Authenticator::scan(uri["totpURI"].as_str().expect("uri")).code_at(7), enrolment.app.code_at(7));
    assert!(uri["totpURI"].as_str().expect("uri").contains("issuer=Better+Auth"), "the default issuer");
    assert_error(none, StatusCode::BAD_REQUEST, "TOTP_NOT_ENABLED").await;
}

#[tokio::test]
async fn new_backup_codes_replace_the_old_ones_and_need_two_factor_on() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let not_yet = ann.post(GENERATE_BACKUP_CODES, &json!({"password": PASSWORD})).await;
    assert_error(not_yet, StatusCode::BAD_REQUEST, "TWO_FACTOR_NOT_ENABLED").await;
    let (enrolment, ann) = enrol(&ann).await;

    // Act
    let body = ok_json(ann.post(GENERATE_BACKUP_CODES, &json!({"password": PASSWORD})).await).await;

    // Assert
    assert_eq!(body["status"], true);
    let fresh: Vec<String> =
        body["backupCodes"].as_array().expect("codes").iter().map(|c| c.as_str().expect("code").to_owned()).collect();
    assert_eq!(fresh.len(), 10);
    let old = Pending::app(&app, &ann.email).await;
    let refused = old.post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[0]})).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE").await;
    let accepted = old.post(VERIFY_BACKUP_CODE, &json!({"code": fresh[0]})).await;
    assert_eq!(accepted.status(), StatusCode::OK);
}

#[tokio::test]
async fn disable_turns_two_factor_off_deletes_the_enrolment_and_ends_every_other_session() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let tablet = Pending::app(&app, &ann.email).await;
    let tablet = ok_json(tablet.post(VERIFY_BACKUP_CODE, &json!({"code": enrolment.backup_codes[0]})).await).await;
    let tablet_token = tablet["token"].as_str().expect("token").to_owned();
    assert_eq!(app.db.session_count(&ann.id).await, 2);

    // Act
    let response = ann.post(DISABLE, &json!({"password": PASSWORD})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let bearer = crate::support::http::header_str(&response, "set-auth-token").expect("a new session");
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    assert_eq!(app.db.session_count(&ann.id).await, 1, "every other session ended");
    assert_eq!(crate::support::users::session_for_bearer(&app, &tablet_token).await, Value::Null);
    assert_ne!(crate::support::users::session_for_bearer(&app, &bearer).await, Value::Null);
    assert_eq!(app.db.count_rows("twoFactor").await, 0);
    assert!(!is_true(&app.db.user_row(&ann.id).await["twoFactorEnabled"]));
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::OK);
    let body = app.post_json(SIGN_IN, &json!({"email": ann.email, "password": PASSWORD})).await;
    assert!(body.json::<Value>().await.expect("JSON")["token"].is_string(), "no second step any more");
}
