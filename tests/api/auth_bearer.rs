//! Bearer tokens (`docs/better-auth-wire.md` §9): the `set-auth-token` value, percent-encoded or not,
//! or the raw token, in `Authorization: Bearer`; a bad one is ignored, never an error.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{ok_text, plain_client, set_cookies},
    server::TestApp,
    users::{GET_SESSION, SIGN_OUT, User, get_session_with_bearer, get_session_with_cookie},
    wire::{CLEARED, encode_uri_component, session_cookie, sign, sign_with},
};

#[tokio::test]
async fn the_set_auth_token_value_works_as_a_bearer_token_for_get_session() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "alice@example.com").await.bearer;
    let token = bearer.split_once('.').expect("token.signature").0.to_owned();

    let response = get_session_with_bearer(&app, &bearer).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["session"]["token"], json!(token));
    assert_eq!(body["user"]["email"], "alice@example.com");
}

#[tokio::test]
async fn bearer_tokens_are_accepted_signed_percent_encoded_or_raw() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "bob@example.com").await.bearer;
    let token = bearer.split_once('.').expect("token.signature").0.to_owned();
    let cases = [
        (bearer.clone(), "the set-auth-token value"),
        (encode_uri_component(&bearer), "percent-encoded, as in the cookie"),
        (token.clone(), "the raw 32-character token"),
    ];

    for (value, reason) in cases {
        let response = get_session_with_bearer(&app, &value).await;

        assert_eq!(response.status(), StatusCode::OK, "{reason}");
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["session"]["token"], json!(token), "{reason}");
    }
    let lower_case_scheme = plain_client()
        .get(app.url(GET_SESSION))
        .header("authorization", format!("bearer {bearer}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(lower_case_scheme.json::<Value>().await.expect("JSON")["session"]["token"], json!(token));
}

#[tokio::test]
async fn a_bearer_token_that_does_not_verify_is_ignored() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "carol@example.com").await.bearer;
    let token = bearer.split_once('.').expect("token.signature").0.to_owned();
    let cases = [
        (format!("{token}.{}", &sign("W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY")[33..]), "another token's signature"),
        (sign_with(&token, "another-secret-0123456789abcdefghijklmnop"), "signed with another secret"),
        (
            format!("{}{}", &token[..31], if token.ends_with('x') { 'y' } else { 'x' }),
            "a raw token that does not exist",
        ),
    ];

    for (value, reason) in cases {
        let response = get_session_with_bearer(&app, &value).await;

        assert_eq!(ok_text(response).await, "null", "{reason}");
    }
}

#[tokio::test]
async fn sign_out_with_a_bearer_token_needs_no_origin_and_deletes_the_session() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "dave@example.com").await.bearer;
    let user_id = get_session_with_bearer(&app, &bearer).await.json::<Value>().await.expect("JSON")["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let response =
        plain_client().post(app.url(SIGN_OUT)).header("authorization", format!("Bearer {bearer}")).send().await;

    let response = response.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response), CLEARED);
    assert!(app.db.sessions_of(&user_id).await.is_empty(), "the session row is deleted");
    assert_eq!(ok_text(get_session_with_bearer(&app, &bearer).await).await, "null");
}

#[tokio::test]
async fn the_stored_token_does_not_authenticate_as_cookie_or_bearer() {
    let app = TestApp::spawn().await;
    let bearer = User::sign_up(&app, "erin@example.com").await.bearer;
    let rows = app.db.query(r#"SELECT "token" FROM "session""#, vec![]).await;
    let stored = rows[0]["token"].as_str().expect("stored token").to_owned();

    // What someone holding a copy of the database would try.
    let as_cookie = get_session_with_cookie(&app, &session_cookie(&stored)).await;
    let as_signed_bearer = get_session_with_bearer(&app, &sign(&stored)).await;
    let as_raw_bearer = get_session_with_bearer(&app, &stored).await;

    assert_eq!(ok_text(as_cookie).await, "null", "a correctly signed cookie of the stored value");
    assert_eq!(ok_text(as_signed_bearer).await, "null", "the stored value signed, as a bearer token");
    assert_eq!(ok_text(as_raw_bearer).await, "null", "the stored value as a raw bearer token");
    assert_ne!(ok_text(get_session_with_bearer(&app, &bearer).await).await, "null", "the real token still works");
}

#[tokio::test]
async fn a_valid_bearer_token_takes_precedence_over_the_cookie_and_a_bad_one_falls_back_to_it() {
    let app = TestApp::spawn().await;
    let cookie_user = User::sign_up(&app, "frank@example.com").await;
    let bearer = User::sign_up(&app, "grace@example.com").await.bearer;
    let tampered = sign_with(&cookie_user.token, "another-secret-0123456789abcdefghijklmnop");

    for (authorization, email) in [(bearer.as_str(), "grace@example.com"), (tampered.as_str(), "frank@example.com")] {
        let response = plain_client()
            .get(app.url(GET_SESSION))
            .header("cookie", session_cookie(&cookie_user.token))
            .header("authorization", format!("Bearer {authorization}"))
            .send()
            .await
            .expect("sent");

        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["user"]["email"], email, "{authorization}");
    }
}
