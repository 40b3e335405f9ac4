//! `POST /api/auth/sign-out` (`docs/better-auth-wire.md` §3.3): ends the presented session, clears
//! the three cookies, and always succeeds.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{ok_text, plain_client, set_cookies},
    server::{ORIGIN, TestApp},
    users::{GET_SESSION, PASSWORD, SIGN_OUT, User, get_session_with_cookie},
    wire::{CLEARED, session_cookie},
};

#[tokio::test]
async fn sign_out_deletes_the_session_and_clears_exactly_three_cookies() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("alice@example.com").await;
    let user_id = response.json::<Value>().await.expect("JSON body")["user"]["id"].as_str().expect("id").to_owned();

    let response = app.post_json(SIGN_OUT, &json!({})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(response.json::<Value>().await.expect("JSON body"), json!({"success": true}));
    assert!(app.db.sessions_of(&user_id).await.is_empty(), "the session row is deleted");
    assert_eq!(ok_text(app.get(GET_SESSION).await).await, "null", "the browser is signed out");
}

#[tokio::test]
async fn a_cookie_replayed_after_sign_out_no_longer_authenticates() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "bob@example.com").await;
    let cookie = session_cookie(&user.token);
    let signed_out = plain_client()
        .post(app.url(SIGN_OUT))
        .header("cookie", &cookie)
        .header("origin", ORIGIN)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_out.status(), StatusCode::OK);

    let replay = get_session_with_cookie(&app, &cookie).await;

    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(set_cookies(&replay), CLEARED, "the stale cookie is cleared");
    assert_eq!(replay.text().await.expect("body"), "null");
}

#[tokio::test]
async fn sign_out_without_a_session_or_a_body_still_succeeds() {
    let app = TestApp::spawn().await;

    let response = plain_client().post(app.url(SIGN_OUT)).send().await.expect("sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert_eq!(response.json::<Value>().await.expect("JSON body"), json!({"success": true}));
}

#[tokio::test]
async fn sign_out_ends_only_the_presented_session() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "carol@example.com").await;
    let other_device = app.sign_in("carol@example.com", PASSWORD).await;
    assert_eq!(other_device.status(), StatusCode::OK);
    assert_eq!(app.db.sessions_of(&user.id).await.len(), 2);

    let response = app.post_json(SIGN_OUT, &json!({})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.db.sessions_of(&user.id).await.len(), 1);
    let first: Value = get_session_with_cookie(&app, &session_cookie(&user.token)).await.json().await.expect("JSON");
    assert_eq!(first["session"]["token"].as_str(), Some(user.token.as_str()), "the other session still works");
}
