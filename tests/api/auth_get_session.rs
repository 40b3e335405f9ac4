//! `GET /api/auth/get-session` (`docs/better-auth-wire.md` §3.4, §4.3, §5.3): `null` rather than
//! 401, the session and user when signed in, cookies that do not verify, expiry, and the
//! once-a-day sliding refresh.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::{
    http::{assert_error_body, header_str, plain_client, set_cookies},
    server::TestApp,
    users::{GET_SESSION, PASSWORD, SIGN_IN, User, get_session_with_cookie},
    wire::{
        CLEARED, SESSION_COOKIE, WEEK_SECS, assert_about, cookie_value, encode_uri_component, is_iso_millis,
        parse_time, session_cookie, session_cookie_line, sign, sign_with,
    },
};

/// A test server and a user whose session is presented by cookie.
async fn signed_up(email: &str) -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, email).await;
    (app, user.token, user.id)
}

#[tokio::test]
async fn get_session_without_a_cookie_returns_null_and_forbids_caching() {
    let app = TestApp::spawn().await;

    let response = app.get(GET_SESSION).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_str(&response, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header_str(&response, "pragma").as_deref(), Some("no-cache"));
    assert!(header_str(&response, "content-type").unwrap_or_default().starts_with("application/json"));
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.text().await.expect("body"), "null", "the four bytes `null`, not 401");
}

#[tokio::test]
async fn get_session_returns_the_session_and_its_user() {
    let (app, token, user_id) = signed_up("alice@example.com").await;

    let response = get_session_with_cookie(&app, &session_cookie(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_str(&response, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header_str(&response, "pragma").as_deref(), Some("no-cache"));
    assert!(set_cookies(&response).is_empty(), "a fresh session is not refreshed");
    let body: Value = response.json().await.expect("JSON body");
    let (session, user) = (&body["session"], &body["user"]);
    let row = app.db.session_row(&token).await;
    for date in ["expiresAt", "createdAt", "updatedAt"] {
        assert!(is_iso_millis(&session[date]), "session {date}: {}", session[date]);
        assert_eq!(parse_time(&session[date]), parse_time(&row[date]), "{date} as stored");
    }
    assert_eq!(
        body,
        json!({
            "session": {
                "id": row["id"], "token": token, "userId": user_id, "expiresAt": session["expiresAt"],
                "createdAt": session["createdAt"], "updatedAt": session["updatedAt"], "ipAddress": "127.0.0.1",
                "userAgent": "",
            },
            "user": {
                "id": user_id, "name": "Test User", "email": "alice@example.com", "emailVerified": false,
                "image": null, "createdAt": user["createdAt"], "updatedAt": user["updatedAt"],
                "twoFactorEnabled": false,
            },
        }),
        "the raw token is returned, never the stored hash"
    );
}

#[tokio::test]
async fn cookies_that_do_not_verify_count_as_no_session_and_are_left_alone() {
    let (app, token, _) = signed_up("bob@example.com").await;
    let signed = sign(&token);
    let (value, signature) = signed.split_once('.').expect("token.signature");
    let other_token = "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY";
    let flipped =
        if signature.starts_with('A') { signature.replacen('A', "B", 1) } else { format!("A{}", &signature[1..]) };
    let cases = [
        (format!("{value}x.{signature}"), "token changed after signing"),
        (format!("{other_token}.{signature}"), "another token with this signature"),
        (format!("{value}.{flipped}"), "signature changed"),
        (sign_with(&token, "another-secret-0123456789abcdefghijklmnop"), "signed with another secret"),
        (token.clone(), "unsigned raw token"),
        (signed.trim_end_matches('=').to_owned(), "signature without its padding"),
        (format!("{signed}x"), "signature too long"),
        (String::new(), "empty"),
    ];

    for (cookie, reason) in cases {
        let header = format!("{SESSION_COOKIE}={}", encode_uri_component(&cookie));

        let response = get_session_with_cookie(&app, &header).await;

        assert_eq!(response.status(), StatusCode::OK, "{reason}");
        assert!(set_cookies(&response).is_empty(), "{reason}: no cookie is changed");
        assert_eq!(response.text().await.expect("body"), "null", "{reason}");
    }
    let valid = get_session_with_cookie(&app, &session_cookie(&token)).await;
    assert_eq!(valid.json::<Value>().await.expect("JSON")["session"]["token"], json!(token), "the control works");
}

#[tokio::test]
async fn an_expired_session_returns_null_clears_the_cookies_and_deletes_the_row() {
    let (app, token, _) = signed_up("carol@example.com").await;
    let row = app.db.session_row(&token).await;
    let id = row["id"].as_str().expect("id");
    app.db.set_session_expiry(id, OffsetDateTime::now_utc() - Duration::seconds(5)).await;

    let response = get_session_with_cookie(&app, &session_cookie(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(response.text().await.expect("body"), "null");
    let left = app.db.count(r#"SELECT count(*) FROM "session" WHERE "id" = $1"#, vec![id.into()]).await;
    assert_eq!(left, 0, "the expired row is deleted");
}

#[tokio::test]
async fn a_session_due_for_refresh_is_extended_and_its_cookie_reissued() {
    let (app, token, _) = signed_up("dave@example.com").await;
    let id = app.db.session_row(&token).await["id"].as_str().expect("id").to_owned();
    // Last refreshed a day and a minute ago.
    app.db.set_session_expiry(&id, OffsetDateTime::now_utc() + Duration::days(6) - Duration::minutes(1)).await;

    let response = get_session_with_cookie(&app, &session_cookie(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), [session_cookie_line(&token, Some(WEEK_SECS))], "same token, full Max-Age");
    assert_eq!(header_str(&response, "set-auth-token"), Some(sign(&token)));
    let body: Value = response.json().await.expect("JSON body");
    let now = OffsetDateTime::now_utc();
    let row = app.db.session_row(&token).await;
    assert_about(parse_time(&row["expiresAt"]), now + Duration::days(7), "stored expiresAt");
    assert_about(parse_time(&row["updatedAt"]), now, "stored updatedAt");
    assert_eq!(parse_time(&body["session"]["expiresAt"]), parse_time(&row["expiresAt"]), "the body shows the update");
    assert_eq!(body["session"]["token"], json!(token), "the token is never rotated");
}

#[tokio::test]
async fn a_session_refreshed_less_than_a_day_ago_is_not_written() {
    let (app, token, _) = signed_up("erin@example.com").await;
    let id = app.db.session_row(&token).await["id"].as_str().expect("id").to_owned();
    // Last refreshed 23 hours and 59 minutes ago.
    app.db.set_session_expiry(&id, OffsetDateTime::now_utc() + Duration::days(6) + Duration::minutes(1)).await;
    let before = app.db.session_row(&token).await;

    let response = get_session_with_cookie(&app, &session_cookie(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    assert!(response.headers().get("set-auth-token").is_none());
    assert_eq!(app.db.session_row(&token).await, before, "no database write: updatedAt and expiresAt unchanged");
}

#[tokio::test]
async fn disable_refresh_with_any_non_empty_value_skips_the_refresh() {
    let (app, token, _) = signed_up("frank@example.com").await;
    let id = app.db.session_row(&token).await["id"].as_str().expect("id").to_owned();
    app.db.set_session_expiry(&id, OffsetDateTime::now_utc() + Duration::days(6) - Duration::minutes(1)).await;
    let before = app.db.session_row(&token).await;

    // JavaScript's `Boolean(value)`: "false" and "0" are true too.
    for value in ["1", "true", "false", "0"] {
        let response = plain_client()
            .get(app.url(GET_SESSION))
            .query(&[("disableRefresh", value)])
            .header("cookie", session_cookie(&token))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "disableRefresh={value}");
        assert!(set_cookies(&response).is_empty(), "disableRefresh={value}");
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["session"]["token"], json!(token), "still returns the session");
        assert_eq!(app.db.session_row(&token).await, before, "disableRefresh={value}: no write");
    }

    let empty = get_session_with_cookie(&app, &session_cookie(&token)).await;
    assert_eq!(set_cookies(&empty).len(), 1, "without the flag the refresh happens");
}

#[tokio::test]
async fn a_remember_me_off_session_is_never_refreshed_while_its_flag_cookie_is_present() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "grace@example.com").await;
    let response =
        app.post_json(SIGN_IN, &json!({"email": "grace@example.com", "password": PASSWORD, "rememberMe": false})).await;
    let token = response.json::<Value>().await.expect("JSON body")["token"].as_str().expect("token").to_owned();
    let before = app.db.session_row(&token).await;

    // By the refresh formula a one-day session is always due; the flag cookie prevents it (§4.4).
    let response = app.get(GET_SESSION).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["session"]["token"], json!(token));
    assert_eq!(app.db.session_row(&token).await, before, "no write");
}

#[tokio::test]
async fn a_remember_me_off_session_that_lost_its_flag_cookie_is_extended_like_better_auth() {
    let app = TestApp::spawn().await;
    User::sign_up(&app, "heidi@example.com").await;
    let response =
        app.post_json(SIGN_IN, &json!({"email": "heidi@example.com", "password": PASSWORD, "rememberMe": false})).await;
    let token = response.json::<Value>().await.expect("JSON body")["token"].as_str().expect("token").to_owned();

    // Only the session cookie, as after a browser restart lost the flag (§4.4 caveat).
    let response = get_session_with_cookie(&app, &session_cookie(&token)).await;

    assert_eq!(set_cookies(&response), [session_cookie_line(&token, Some(WEEK_SECS))]);
    let row = app.db.session_row(&token).await;
    assert_about(parse_time(&row["expiresAt"]), OffsetDateTime::now_utc() + Duration::days(7), "extended");
}

#[tokio::test]
async fn post_get_session_returns_405_defer_session_required() {
    let app = TestApp::spawn().await;

    let response = app.request(Method::POST, GET_SESSION).json(&json!({})).send().await.expect("sent");

    assert_error_body(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
        "POST method requires deferSessionRefresh to be enabled in session config",
    )
    .await;
}

#[tokio::test]
async fn the_first_session_cookie_in_the_header_wins_and_quotes_are_stripped() {
    let (app, token, _) = signed_up("ivan@example.com").await;
    let valid = session_cookie(&token);
    let forged = format!("{SESSION_COOKIE}={}", encode_uri_component(&sign_with(&token, "x".repeat(40).as_str())));
    let quoted = format!("{SESSION_COOKIE}=\"{}\"", cookie_value(&token));
    let cases = [
        (format!("theme=dark; {valid}; {forged}"), true, "the valid cookie comes first"),
        (format!("{forged}; {valid}"), false, "a bad first cookie is not skipped"),
        (format!("theme=dark;{quoted}"), true, "a quoted value"),
    ];

    for (header, signed_in, reason) in cases {
        let response = get_session_with_cookie(&app, &header).await;

        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(!body.is_null(), signed_in, "{reason}: {body}");
    }
}
