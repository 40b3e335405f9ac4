//! `POST /api/auth/sign-up/email` (`docs/better-auth-wire.md` §3.1): the response, the cookie, the
//! rows written, and every way a sign-up is refused.

use reqwest::StatusCode;
use sea_orm::DatabaseBackend;
use serde_json::{Value, json};

use crate::support::{
    db::is_false,
    http::{assert_error_body, header_str, plain_client, set_cookies},
    server::TestApp,
    users::{PASSWORD, SIGN_IN, SIGN_UP},
    wire::{
        WEEK_SECS, dont_remember_line, is_generated_id, is_iso_millis, parse_time, session_cookie_line, sha256_hex,
        sign,
    },
};

#[tokio::test]
async fn sign_up_returns_the_user_and_token_and_sets_the_signed_session_cookie() {
    let app = TestApp::spawn().await;

    let response = app.sign_up("alice@example.com").await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let auth_token = header_str(&response, "set-auth-token").expect("set-auth-token header");
    let exposed = header_str(&response, "access-control-expose-headers").unwrap_or_default();
    let body: Value = response.json().await.expect("JSON body");
    let token = body["token"].as_str().expect("token is a string").to_owned();
    assert!(is_generated_id(&body["token"]), "token: {token}");
    let user = &body["user"];
    assert!(is_generated_id(&user["id"]), "id: {}", user["id"]);
    assert!(is_iso_millis(&user["createdAt"]) && is_iso_millis(&user["updatedAt"]), "dates: {user}");
    assert_eq!(
        body,
        json!({
            "token": token,
            "user": {
                "id": user["id"], "name": "Test User", "email": "alice@example.com", "emailVerified": false,
                "image": null, "createdAt": user["createdAt"], "updatedAt": user["updatedAt"],
                "twoFactorEnabled": false,
            },
        }),
        "exact keys and values"
    );
    assert_eq!(cookies, [session_cookie_line(&token, Some(WEEK_SECS))], "one session cookie, signed by the secret");
    assert_eq!(auth_token, sign(&token), "set-auth-token is the decoded signed value");
    let listed = exposed.split(',').filter(|h| h.trim() == "set-auth-token").count();
    assert_eq!(listed, 1, "set-auth-token is exposed to scripts, once: {exposed}");
}

#[tokio::test]
async fn sign_up_with_remember_me_false_sets_a_browser_session_cookie_and_a_one_day_session() {
    let app = TestApp::spawn().await;

    let response = plain_client()
        .post(app.url(SIGN_UP))
        .json(&json!({"name": "N", "email": "forgetful@example.com", "password": PASSWORD, "rememberMe": false}))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.expect("JSON body");
    let token = body["token"].as_str().expect("token");
    assert_eq!(cookies, [session_cookie_line(token, None), dont_remember_line()]);
    let row = app.db.session_row(token).await;
    assert_eq!(parse_time(&row["expiresAt"]) - parse_time(&row["createdAt"]), time::Duration::days(1));
}

#[tokio::test]
async fn sign_up_writes_the_user_its_credential_account_and_a_session_with_a_hashed_token() {
    let app = TestApp::spawn().await;

    let response = app.sign_up("bob@example.com").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    let (token, user_id) = (body["token"].as_str().expect("token"), body["user"]["id"].as_str().expect("id"));
    let users = app.db.query(r#"SELECT * FROM "user""#, vec![]).await;
    assert_eq!(users.len(), 1);
    let user = &users[0];
    assert_eq!((user["id"].as_str(), user["email"].as_str()), (Some(user_id), Some("bob@example.com")));
    assert!(is_false(&user["emailVerified"]), "emailVerified: {}", user["emailVerified"]);
    assert_eq!(user["image"], Value::Null);
    assert_eq!(parse_time(&user["createdAt"]), parse_time(&body["user"]["createdAt"]), "the row is what was returned");

    let accounts = app.db.query(r#"SELECT * FROM "account""#, vec![]).await;
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account["providerId"], "credential");
    assert_eq!((account["accountId"].as_str(), account["userId"].as_str()), (Some(user_id), Some(user_id)));
    let hash = account["password"].as_str().expect("password hash");
    let (salt, key) = hash.split_once(':').expect("<salt>:<key>");
    assert!(salt.len() == 32 && key.len() == 128, "Better Auth's scrypt format: {hash}");
    assert!(hash.bytes().all(|b| b == b':' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "lower-case hex");
    for column in ["accessToken", "refreshToken", "idToken", "scope"] {
        assert_eq!(account[column], Value::Null, "{column}");
    }

    let sessions = app.db.query(r#"SELECT * FROM "session""#, vec![]).await;
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(session["token"].as_str(), Some(sha256_hex(token).as_str()), "stored as SHA-256, never raw");
    assert_eq!(session["userId"].as_str(), Some(user_id));
    let week = parse_time(&session["expiresAt"]) - parse_time(&session["createdAt"]);
    assert_eq!(week, time::Duration::days(7));
    if app.db.backend() == DatabaseBackend::Sqlite {
        // Better Auth compares these as strings, so the exact 24-character form matters (§8.2).
        for column in ["createdAt", "updatedAt"] {
            assert!(is_iso_millis(&user[column]) && is_iso_millis(&account[column]), "{column}");
        }
        for column in ["expiresAt", "createdAt", "updatedAt"] {
            assert!(is_iso_millis(&session[column]), "session {column}: {}", session[column]);
        }
        assert_eq!(user["emailVerified"], json!(0), "booleans are 0/1 on SQLite");
        assert_eq!(user["twoFactorEnabled"], json!(0), "written false at sign-up, as Better Auth's default");
    } else {
        assert_eq!(user["twoFactorEnabled"], json!(false), "written false at sign-up, as Better Auth's default");
    }
}

#[tokio::test]
async fn sign_up_with_a_taken_email_returns_422_and_writes_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up("carol@example.com").await.status(), StatusCode::OK);

    for email in ["carol@example.com", "Carol@Example.com"] {
        let response = plain_client()
            .post(app.url(SIGN_UP))
            .json(&json!({"name": "Someone Else", "email": email, "password": "another-password"}))
            .send()
            .await
            .expect("sent");
        assert!(set_cookies(&response).is_empty(), "{email}: no cookie");
        assert_error_body(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            "User already exists. Use another email.",
        )
        .await;
    }
    assert_eq!(
        (app.db.count_rows("user").await, app.db.count_rows("account").await, app.db.count_rows("session").await),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn sign_up_stores_the_email_lower_cased_and_sign_in_finds_it_in_any_case() {
    let app = TestApp::spawn().await;

    let response = app.sign_up("Dave.Smith+Tag@Example.COM").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["user"]["email"], "dave.smith+tag@example.com");
    let stored = app.db.query(r#"SELECT "email" FROM "user""#, vec![]).await;
    assert_eq!(stored, [json!({"email": "dave.smith+tag@example.com"})]);
    let sign_in = app.sign_in("DAVE.SMITH+TAG@example.com", PASSWORD).await;
    assert_eq!(sign_in.status(), StatusCode::OK, "sign-in lower-cases too");
}

#[tokio::test]
async fn sign_up_password_length_is_counted_in_utf16_code_units() {
    let app = TestApp::spawn().await;
    let too_short = ("PASSWORD_TOO_SHORT", "Password too short");
    let too_long = ("PASSWORD_TOO_LONG", "Password too long");
    let refused = [
        ("1234567".to_owned(), too_short, "7 characters"),
        ("😀😀😀".to_owned(), too_short, "three emoji are 6 UTF-16 units"),
        ("a".repeat(129), too_long, "129 characters"),
        ("😀".repeat(65), too_long, "65 emoji are 130 UTF-16 units"),
    ];
    for (i, (password, (code, message), reason)) in refused.into_iter().enumerate() {
        let body = json!({"name": "N", "email": format!("short{i}@example.com"), "password": password});
        let response = plain_client().post(app.url(SIGN_UP)).json(&body).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        assert_error_body(response, StatusCode::BAD_REQUEST, code, message).await;
    }
    assert_eq!(app.db.count_rows("user").await, 0, "nothing written for refused passwords");

    let accepted = [("😀😀😀😀".to_owned(), "four emoji are 8 UTF-16 units"), ("a".repeat(128), "128 characters")];
    for (i, (password, reason)) in accepted.into_iter().enumerate() {
        let body = json!({"name": "N", "email": format!("ok{i}@example.com"), "password": password});
        let response = plain_client().post(app.url(SIGN_UP)).json(&body).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{reason}");
    }
    let emoji_sign_in = plain_client()
        .post(app.url(SIGN_IN))
        .json(&json!({"email": "ok0@example.com", "password": "😀😀😀😀"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(emoji_sign_in.status(), StatusCode::OK, "the emoji password signs in");
}

#[tokio::test]
async fn sign_up_with_an_empty_password_returns_the_schema_message() {
    let app = TestApp::spawn().await;

    let response = plain_client()
        .post(app.url(SIGN_UP))
        .json(&json!({"name": "N", "email": "empty@example.com", "password": ""}))
        .send()
        .await
        .expect("sent");

    assert_error_body(
        response,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
        "[body.password] Too small: expected string to have >=1 characters",
    )
    .await;
}

#[tokio::test]
async fn sign_up_with_an_invalid_email_returns_400_validation_error() {
    let app = TestApp::spawn().await;
    let cases = [
        ("plainaddress", "no @"),
        ("a@b", "no TLD"),
        ("a@b.c", "one-letter TLD"),
        ("a@b.com ", "trailing space (no trimming)"),
        ("a..b@example.com", "double dot"),
        ("ü@example.com", "non-ASCII"),
        ("", "empty"),
    ];
    for (email, reason) in cases {
        let response = plain_client()
            .post(app.url(SIGN_UP))
            .json(&json!({"name": "N", "email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}: {email:?}");
        assert_error_body(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "[body.email] Invalid email address")
            .await;
    }
    assert_eq!(app.db.count_rows("user").await, 0);
}

#[tokio::test]
async fn sign_up_with_missing_or_mistyped_fields_names_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"email": "x@example.com", "password": PASSWORD}),
            "[body.name] Invalid input: expected string, received undefined",
        ),
        (
            json!({"name": 5, "email": "x@example.com", "password": PASSWORD}),
            "[body.name] Invalid input: expected string, received number",
        ),
        (
            json!({"name": "N", "email": "x@example.com", "password": 12_345_678}),
            "[body.password] Invalid input: expected string, received number",
        ),
        (
            json!({"name": "N", "email": "x@example.com", "password": PASSWORD, "rememberMe": "false"}),
            "[body.rememberMe] Invalid input: expected boolean, received string",
        ),
    ];
    for (body, message) in cases {
        let response = plain_client().post(app.url(SIGN_UP)).json(&body).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error_body(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message).await;
    }
    assert_eq!(app.db.count_rows("user").await, 0);
}

#[tokio::test]
async fn sign_up_ignores_unknown_keys_and_stores_an_image_when_given() {
    let app = TestApp::spawn().await;

    let response = plain_client()
        .post(app.url(SIGN_UP))
        .json(&json!({
            "name": "", "email": "erin@example.com", "password": PASSWORD,
            "image": "https://img.example.com/erin.png", "role": "admin", "emailVerified": true,
        }))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["user"]["name"], "", "an empty name is allowed");
    assert_eq!(body["user"]["image"], "https://img.example.com/erin.png");
    assert_eq!(body["user"]["emailVerified"], false, "not settable by the client");
    assert!(body["user"].get("role").is_none());
    let rows = app.db.query(r#"SELECT "image", "emailVerified" FROM "user""#, vec![]).await;
    assert_eq!(rows[0]["image"], "https://img.example.com/erin.png");
    assert!(is_false(&rows[0]["emailVerified"]));
}
