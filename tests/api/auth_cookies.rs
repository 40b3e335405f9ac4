//! Cookie names and attributes by deployment, and how session tokens are stored
//! (`docs/better-auth-wire.md` §4.1–§4.2; `SESSION_TOKEN_STORAGE`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{ok_text, plain_client, set_cookies},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, SIGN_OUT, SIGN_UP, User, get_session_with_bearer, get_session_with_cookie},
    wire::{cookie_value, encode_uri_component, session_cookie, sha256_hex, sign},
};

const HTTPS_BASE: &str = "https://auth.example.com";

#[tokio::test]
async fn an_https_base_url_prefixes_the_cookie_names_and_adds_secure() {
    let app = TestApp::builder().var("BASE_URL", HTTPS_BASE).spawn().await;

    let response = plain_client()
        .post(app.url(SIGN_UP))
        .json(&json!({"name": "Alice", "email": "alice@example.com", "password": PASSWORD, "rememberMe": false}))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let token = response.json::<Value>().await.expect("JSON body")["token"].as_str().expect("token").to_owned();
    assert_eq!(
        cookies,
        [
            format!(
                "__Secure-better-auth.session_token={}; Path=/; HttpOnly; Secure; SameSite=Lax",
                cookie_value(&token)
            ),
            format!(
                "__Secure-better-auth.dont_remember={}; Path=/; HttpOnly; Secure; SameSite=Lax",
                encode_uri_component(&sign("true"))
            ),
        ]
    );
    let remembered = plain_client()
        .post(app.url(SIGN_IN))
        .json(&json!({"email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let lines = set_cookies(&remembered);
    let second = remembered.json::<Value>().await.expect("JSON body")["token"].as_str().expect("token").to_owned();
    assert_eq!(
        lines,
        [format!(
            "__Secure-better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax",
            cookie_value(&second)
        )]
    );
    let prefixed = format!("__Secure-better-auth.session_token={}", cookie_value(&second));
    let with_prefix: Value = get_session_with_cookie(&app, &prefixed).await.json().await.expect("JSON");
    assert_eq!(with_prefix["session"]["token"], json!(second), "the prefixed cookie is read");
    assert_eq!(ok_text(get_session_with_cookie(&app, &session_cookie(&second)).await).await, "null", "unprefixed");
}

#[tokio::test]
async fn an_https_base_url_sets_and_clears_the_prefixed_secure_cookies() {
    let app = TestApp::builder().var("BASE_URL", HTTPS_BASE).spawn().await;

    let user = User::sign_up(&app, "bob@example.com").await;
    let cookie = format!("__Secure-better-auth.session_token={}", cookie_value(&user.token));

    let signed_in = plain_client()
        .post(app.url(SIGN_IN))
        .json(&json!({"email": "bob@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let signed_out = plain_client()
        .post(app.url(SIGN_OUT))
        .header("cookie", &cookie)
        .header("origin", HTTPS_BASE)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");

    let token = signed_in.json::<Value>().await.expect("JSON body")["token"].as_str().expect("token").to_owned();
    assert_eq!(signed_out.status(), StatusCode::OK, "the base URL's origin is trusted");
    assert_eq!(
        set_cookies(&signed_out),
        [
            "__Secure-better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax",
            "__Secure-better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax",
            "__Secure-better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax",
        ]
    );
    assert_eq!(ok_text(get_session_with_cookie(&app, &cookie).await).await, "null", "signed out");
    let still: Value = get_session_with_bearer(&app, &sign(&token)).await.json().await.expect("JSON");
    assert_eq!(still["session"]["token"], json!(token), "the other session is untouched");
}

#[tokio::test]
async fn session_tokens_are_stored_as_their_sha256_by_default() {
    let app = TestApp::spawn().await;

    let user = User::sign_up(&app, "carol@example.com").await;

    let rows = app.db.query(r#"SELECT "token" FROM "session""#, vec![]).await;
    assert_eq!(rows, [json!({"token": sha256_hex(&user.token)})], "lower-case hex SHA-256 of the raw token");
}

#[tokio::test]
async fn plain_token_storage_keeps_the_raw_token_and_still_authenticates() {
    let app = TestApp::builder().var("SESSION_TOKEN_STORAGE", "plain").spawn().await;

    let user = User::sign_up(&app, "dave@example.com").await;

    let rows = app.db.query(r#"SELECT "token" FROM "session""#, vec![]).await;
    assert_eq!(rows, [json!({"token": user.token})], "the raw token, as Better Auth stores it");
    let body: Value = get_session_with_cookie(&app, &session_cookie(&user.token)).await.json().await.expect("JSON");
    assert_eq!(body["session"]["token"], json!(user.token));
    let signed_out = plain_client()
        .post(app.url(SIGN_OUT))
        .header("authorization", format!("Bearer {}", sign(&user.token)))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "session""#, vec![]).await, 0, "sign-out finds the plain row");
}
