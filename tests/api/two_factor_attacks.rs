//! Attacks on the second step (issue 16 point 3; `docs/better-auth-plugins.md` §Two-factor):
//! a TOTP code is accepted once, a pending sign-in expires, is bound to its user and allows 5
//! attempts, failures lock the account with a growing wait, and forged or missing pending
//! state is refused.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

use crate::support::{
    db::stored_time,
    http::{assert_error, header_str, plain_client},
    server::TestApp,
    two_factor::{Authenticator, Pending, TWO_FACTOR_HEADER, VERIFY_BACKUP_CODE, VERIFY_TOTP, enrol},
    users::User,
    wire::sign,
};

fn next_code(app: &Authenticator) -> String {
    app.code_at(Authenticator::step_now() + 1)
}

#[tokio::test]
async fn a_used_totp_code_is_refused_within_its_window() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let code = next_code(&enrolment.app);
    let first = Pending::app(&app, &ann.email).await.post(VERIFY_TOTP, &json!({"code": code})).await;
    assert_eq!(first.status(), StatusCode::OK);

    // Act
    let replay = Pending::app(&app, &ann.email).await.post(VERIFY_TOTP, &json!({"code": code})).await;
    let earlier =
        Pending::app(&app, &ann.email).await.post(VERIFY_TOTP, &json!({"code": enrolment.app.code_now()})).await;

    // Assert
    assert_error(replay, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    assert_error(earlier, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
}

#[tokio::test]
async fn concurrent_uses_of_one_code_let_exactly_one_sign_in_through() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let code = next_code(&enrolment.app);
    let backup = enrolment.backup_codes[0].clone();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..6 {
        let pending = Pending::app(&app, &ann.email).await;
        let (path, body) = if i % 2 == 0 {
            (VERIFY_TOTP, json!({"code": code}))
        } else {
            (VERIFY_BACKUP_CODE, json!({"code": backup}))
        };
        let request = plain_client().post(app.url(path)).header(TWO_FACTOR_HEADER, &pending.token).json(&body);
        requests.spawn(async move { (path, request.send().await.expect("sent").status()) });
    }

    // Act
    let statuses = requests.join_all().await;

    // Assert
    for path in [VERIFY_TOTP, VERIFY_BACKUP_CODE] {
        let ok = statuses.iter().filter(|(p, s)| *p == path && *s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{path}: {statuses:?}");
    }
}

#[tokio::test]
async fn an_expired_pending_sign_in_is_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let pending = Pending::app(&app, &ann.email).await;
    let past = stored_time(app.db.backend(), OffsetDateTime::now_utc() - time::Duration::seconds(1));
    app.db.execute(r#"UPDATE "verification" SET "expiresAt" = $1 WHERE "identifier" LIKE '2fa-%'"#, vec![past]).await;

    // Act
    let response = pending.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;

    // Assert
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE").await;
}

#[tokio::test]
async fn a_pending_sign_in_is_bound_to_its_user() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    let (_, ann) = enrol(&ann).await;
    let (bobs, _) = enrol(&bob).await;
    let pending = Pending::app(&app, &ann.email).await;

    // Act
    let bobs_code = pending.post(VERIFY_TOTP, &json!({"code": next_code(&bobs.app)})).await;
    let bobs_backup = pending.post(VERIFY_BACKUP_CODE, &json!({"code": bobs.backup_codes[0]})).await;

    // Assert
    assert_error(bobs_code, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    assert_error(bobs_backup, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE").await;
}

#[tokio::test]
async fn missing_forged_or_unsigned_pending_state_is_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let pending = Pending::app(&app, &ann.email).await;
    let id = pending.token.rsplit_once('.').expect("signed").0.to_owned();
    let code = next_code(&enrolment.app);
    let forged = format!("{id}.{}", "A".repeat(43) + "=");
    let other = sign("2fa-aaaaaaaaaaaaaaaaaaaa");

    for header in [None, Some(id.as_str()), Some(forged.as_str()), Some(other.as_str())] {
        // Act
        let request = plain_client().post(app.url(VERIFY_TOTP)).json(&json!({"code": code}));
        let request = match header {
            Some(value) => request.header(TWO_FACTOR_HEADER, value),
            None => request,
        };
        let response = request.send().await.expect("sent");

        // Assert
        assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE").await;
    }
    let cookie = plain_client()
        .post(app.url(VERIFY_TOTP))
        .header("cookie", format!("better-auth.two_factor={id}"))
        .header("origin", crate::support::server::ORIGIN)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("sent");
    assert_error(cookie, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE").await;
}

#[tokio::test]
async fn a_pending_sign_in_allows_five_attempts() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let pending = Pending::app(&app, &ann.email).await;
    for _ in 0..4 {
        let wrong = pending.post(VERIFY_TOTP, &json!({"code": enrolment.app.wrong_code()})).await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;
    }
    let fifth = pending.post(VERIFY_BACKUP_CODE, &json!({"code": "nope0-nope0"})).await;
    assert_error(fifth, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE").await;
    // The fifth failure in a row makes the user wait a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Act
    let sixth = pending.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;
    let after = pending.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;

    // Assert
    assert_error(sixth, StatusCode::BAD_REQUEST, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE").await;
    assert_error(after, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE").await;
}

#[tokio::test]
async fn failures_lock_the_account_with_a_growing_wait_and_a_success_clears_them() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    let first = Pending::app(&app, &ann.email).await;
    // Opened now: a sign-in (scrypt) after the failures could outlast the one-second wait.
    let second = Pending::app(&app, &ann.email).await;
    for _ in 0..5 {
        let wrong = first.post(VERIFY_TOTP, &json!({"code": enrolment.app.wrong_code()})).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }

    // Act: the right code at once, then after the wait.
    let locked = second.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;
    let retry_after = header_str(&locked, "retry-after").expect("Retry-After");
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_TEMPORARILY_LOCKED").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = second.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;

    // Assert
    assert!(matches!(retry_after.as_str(), "1" | "2"), "{retry_after}");
    assert_eq!(later.status(), StatusCode::OK, "the wait is over and the count is cleared");
    let failures = app.db.count(r#"SELECT CAST("failedVerificationCount" AS BIGINT) FROM "twoFactor""#, vec![]).await;
    assert_eq!(failures, 0);
}

#[tokio::test]
async fn the_tenth_failure_in_a_row_locks_for_fifteen_minutes_even_against_the_right_code() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let (enrolment, ann) = enrol(&ann).await;
    app.db.execute(r#"UPDATE "twoFactor" SET "failedVerificationCount" = 9"#, vec![]).await;
    let pending = Pending::app(&app, &ann.email).await;
    let tenth = pending.post(VERIFY_TOTP, &json!({"code": enrolment.app.wrong_code()})).await;
    assert_error(tenth, StatusCode::UNAUTHORIZED, "INVALID_CODE").await;

    // Act
    let right =
        Pending::app(&app, &ann.email).await.post(VERIFY_TOTP, &json!({"code": next_code(&enrolment.app)})).await;

    // Assert
    let retry_after: u64 = header_str(&right, "retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((890..=901).contains(&retry_after), "{retry_after}");
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_TEMPORARILY_LOCKED").await;
}
