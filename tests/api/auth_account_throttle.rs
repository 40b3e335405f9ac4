//! Per-account throttling of password sign-in (issue 14 point 3, issue 13 finding 3): after
//! `SIGN_IN_THROTTLE_FAILURES` (5) attempts for one email since its last success, further
//! attempts wait a delay doubling from 1 s up to `SIGN_IN_THROTTLE_MAX_DELAY`, whatever address
//! they come from; an early attempt gets `429` + `Retry-After` and is not counted. Unknown
//! emails are throttled identically; a success clears the count. On when rate limiting is.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    http::{header_str, plain_client},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, User},
};

/// The exact body of a 429 (the rate limiter's).
const TOO_MANY: &str = r#"{"message":"Too many requests. Please try again later."}"#;

/// Rate limiting (and so the throttle) on, the delay capped at 2 s, and the test's
/// `X-Forwarded-For` trusted, so that every attempt can come from a new address.
async fn throttled_app() -> TestApp {
    TestApp::builder()
        .var("RATE_LIMIT_ENABLED", "true")
        .var("TRUSTED_PROXIES", "127.0.0.1/32")
        .var("SIGN_IN_THROTTLE_MAX_DELAY", "2")
        .spawn()
        .await
}

/// One sign-in attempt from a fresh address (so the per-address limit never applies); the
/// status and `Retry-After`.
async fn attempt(app: &TestApp, email: &str, password: &str, from: u32) -> (StatusCode, Option<String>) {
    let response = plain_client()
        .post(app.url(SIGN_IN))
        .header("x-forwarded-for", format!("198.18.{}.{}", from / 250, from % 250 + 1))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let retry_after = header_str(&response, "retry-after");
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(response.text().await.expect("body"), TOO_MANY);
    }
    (status, retry_after)
}

/// Five wrong passwords, then the throttled sequence; returns what each step answered.
async fn stuffing_sequence(app: &TestApp, email: &str, first_address: u32) -> Vec<(StatusCode, Option<String>)> {
    let mut seen = Vec::new();
    let mut from = first_address;
    let mut next = || {
        from += 1;
        from
    };
    for _ in 0..5 {
        seen.push(attempt(app, email, "wrong-password", next()).await);
    }
    seen.push(attempt(app, email, "wrong-password", next()).await); // too early: 1 s
    tokio::time::sleep(Duration::from_millis(1100)).await;
    seen.push(attempt(app, email, "wrong-password", next()).await); // counted
    seen.push(attempt(app, email, "wrong-password", next()).await); // too early: 2 s
    tokio::time::sleep(Duration::from_millis(2100)).await;
    seen.push(attempt(app, email, "wrong-password", next()).await); // counted
    seen.push(attempt(app, email, "wrong-password", next()).await); // too early: capped at 2 s
    seen
}

#[tokio::test]
async fn sign_in_attempts_for_one_account_from_many_addresses_get_a_growing_capped_delay_known_or_not() {
    let app = throttled_app().await;
    User::sign_up(&app, "alice@example.com").await;
    let (known, unknown) = tokio::join!(
        stuffing_sequence(&app, "alice@example.com", 0),
        stuffing_sequence(&app, "ghost@example.com", 100)
    );
    let unauthorized = (StatusCode::UNAUTHORIZED, None);
    let early = |secs: &str| (StatusCode::TOO_MANY_REQUESTS, Some(secs.to_owned()));
    let expected = [
        vec![unauthorized.clone(); 5],
        vec![early("1"), unauthorized.clone(), early("2"), unauthorized.clone(), early("2")],
    ]
    .concat();
    assert_eq!(known, expected, "an existing account");
    assert_eq!(unknown, expected, "an unknown email is throttled the same way");
}

#[tokio::test]
async fn the_owner_signs_in_after_the_delay_and_a_success_clears_the_count() {
    let app = throttled_app().await;
    User::sign_up(&app, "owner@example.com").await;
    for from in 0..5 {
        assert_eq!(attempt(&app, "owner@example.com", "wrong-password", from).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = attempt(&app, "owner@example.com", PASSWORD, 10).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the delay");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(attempt(&app, "owner@example.com", PASSWORD, 11).await.0, StatusCode::OK, "at most one delay");
    for from in 20..25 {
        let (status, _) = attempt(&app, "owner@example.com", "wrong-password", from).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the success cleared the count");
    }
    // No address is stored: the key is a hash.
    let keys = app.db.query(r#"SELECT "key" FROM "rateLimit""#, vec![]).await;
    assert!(keys.iter().all(|row| !row["key"].as_str().unwrap_or_default().contains("owner")), "{keys:?}");
}

/// Asks `path` to mail `email` six times, each from a new client address (so the per-address
/// mail rule never applies), checks the answer never changes, and returns the mails the
/// recipient got once the third has arrived and the rest have had time to.
async fn ask_six_times_from_six_addresses(path: &str, email: &str, subnet: u8) -> (TestApp, Vec<serde_json::Value>) {
    let (app, outbox) =
        crate::support::mail::spawn_with_outbox(&[("RATE_LIMIT_ENABLED", "true"), ("TRUSTED_PROXIES", "127.0.0.1/32")])
            .await;
    User::sign_up(&app, email).await;
    for n in 0..6 {
        let response = plain_client()
            .post(app.url(path))
            .header("x-forwarded-for", format!("198.18.{subnet}.{}", n + 1))
            .json(&json!({"email": email}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "the answer never changes (request {n})");
    }
    outbox.wait_for_nth(email, 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails = outbox.to(email);
    (app, mails)
}

#[tokio::test]
async fn reset_mail_to_one_recipient_is_limited_whatever_addresses_ask() {
    let (_app, mails) =
        ask_six_times_from_six_addresses("/api/auth/request-password-reset", "bombed@example.com", 9).await;
    assert_eq!(mails.len(), 3, "three reset mails per recipient per 10 minutes");
}

#[tokio::test]
async fn verification_mail_to_one_recipient_is_limited_whatever_addresses_ask() {
    let (app, mails) =
        ask_six_times_from_six_addresses("/api/auth/send-verification-email", "flooded@example.com", 10).await;
    assert_eq!(mails.len(), 3, "three verification mails per recipient per 10 minutes: {mails:?}");
    assert!(mails.iter().all(|mail| mail["subject"] == "Verify your email address"), "{mails:?}");
    // Counted under a hash: the table holds no address.
    let keys = app.db.query(r#"SELECT "key" FROM "rateLimit""#, vec![]).await;
    assert!(keys.iter().all(|row| !row["key"].as_str().unwrap_or_default().contains("flooded")), "{keys:?}");
    assert!(keys.iter().any(|row| row["key"].as_str().unwrap_or_default().starts_with("verification-mail-to|")));
}

/// How many sign-in attempts are counted against any account right now.
async fn counted_attempts(app: &TestApp) -> i64 {
    app.db.count(r#"SELECT COUNT(*) AS n FROM "rateLimit" WHERE "key" LIKE 'sign-in-account|%'"#, vec![]).await
}

/// Waits, with a deadline, until `counted_attempts` satisfies `done`.
async fn wait_for_attempts(app: &TestApp, what: &str, done: impl Fn(i64) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counted = counted_attempts(app).await;
        if done(counted) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: still {counted} account counts after 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A client that gives up while its right password is being checked (a flaky mobile
/// connection, a load generator's run ending) must not count against the account: the check
/// runs to its end and the success clears the count, as if the answer had arrived. Before,
/// the check was dropped with the request, and after five such attempts the owner's next
/// sign-in was refused with 429.
#[tokio::test]
async fn a_right_password_whose_client_went_away_mid_check_still_clears_the_count() {
    use tokio::io::AsyncWriteExt;

    let app = throttled_app().await;
    User::sign_up(&app, "flaky@example.com").await;
    let body = json!({"email": "flaky@example.com", "password": PASSWORD}).to_string();
    for n in 0..6 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.expect("connects");
        let request = format!(
            "POST {SIGN_IN} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.18.20.{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            n + 1,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("request sent");
        // The attempt is counted before the password is hashed; leave while it is.
        wait_for_attempts(&app, "the attempt is counted", |counted| counted == 1).await;
        drop(stream);
        wait_for_attempts(&app, "the abandoned right password settles its attempt", |counted| counted == 0).await;
    }
    let (status, _) = attempt(&app, "flaky@example.com", PASSWORD, 30).await;
    assert_eq!(status, StatusCode::OK, "six abandoned right passwords never throttle the owner");
}
