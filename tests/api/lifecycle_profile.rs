//! `POST /update-user` (issue 8; `docs/better-auth-wire.md` §3.6, §13): name and image changes, the
//! re-sent session cookie, and the refusals (no fields, email, bad types, no session, origin).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    http::{assert_error, browser_client, plain_client, set_cookies},
    server::{ORIGIN, TestApp},
    users::{PASSWORD, User, Via},
    wire::cookie_value,
};

const UPDATE: &str = "/api/auth/update-user";

/// The stored name, image and updatedAt of a user.
async fn profile(app: &TestApp, user_id: &str) -> (Value, Value, Value) {
    let row = app.db.user_row(user_id).await;
    (row["name"].clone(), row["image"].clone(), row["updatedAt"].clone())
}

#[tokio::test]
async fn update_user_changes_name_and_image_and_resends_the_same_session_cookie() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let before = app.db.user_row(&ann.id).await;

    // Act
    let response = ann.post(UPDATE, &json!({"name": "Grace Hopper", "image": "https://img.example/g.png"})).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        set_cookies(&response),
        [format!(
            "better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
            cookie_value(&ann.token)
        )]
    );
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"status": true}));
    let after = app.db.user_row(&ann.id).await;
    assert_eq!(after["name"], "Grace Hopper");
    assert_eq!(after["image"], "https://img.example/g.png");
    assert_eq!(after["email"], before["email"], "the email is untouched");
    assert!(after["updatedAt"].as_str() >= before["updatedAt"].as_str(), "updatedAt moves forward");
    let session = ann.session().await;
    assert_eq!(session["user"]["name"], "Grace Hopper", "get-session sees the change at once");
    assert_eq!(session["user"]["image"], "https://img.example/g.png");
    assert_eq!(app.db.session_count(&ann.id).await, 1, "no new session");
}

#[tokio::test]
async fn update_user_with_only_one_field_leaves_the_other_and_image_null_removes_the_image() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let steps = [
        (json!({"image": "https://img.example/a.png"}), json!("Test User"), json!("https://img.example/a.png")),
        (json!({"name": "Ann"}), json!("Ann"), json!("https://img.example/a.png")),
        (json!({"name": ""}), json!(""), json!("https://img.example/a.png")),
        (json!({"image": null}), json!(""), Value::Null),
    ];

    for (body, name, image) in steps {
        let response = ann.post(UPDATE, &body).await;

        assert_eq!(response.status(), StatusCode::OK, "{body}");
        let (stored_name, stored_image, _) = profile(&app, &ann.id).await;
        assert_eq!((stored_name, stored_image), (name, image), "after {body}");
    }
}

#[tokio::test]
async fn update_user_of_a_not_remembered_session_resends_a_browser_session_cookie() {
    // Arrange: sign in with rememberMe:false in a browser.
    let app = TestApp::spawn().await;
    User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let client = browser_client();
    let signed_in = client
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "rememberMe": false}))
        .send()
        .await
        .expect("request sent");
    let token = signed_in.json::<Value>().await.expect("JSON")["token"].as_str().expect("token").to_owned();

    // Act
    let response = client.post(app.url(UPDATE)).json(&json!({"name": "Ann"})).send().await.expect("request sent");

    // Assert: no Max-Age (the cookie ends with the browser), and the flag stays.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        set_cookies(&response),
        [
            format!("better-auth.session_token={}; Path=/; HttpOnly; SameSite=Lax", cookie_value(&token)),
            format!("better-auth.dont_remember={}; Path=/; HttpOnly; SameSite=Lax", cookie_value("true")),
        ]
    );
}

#[tokio::test]
async fn update_user_with_no_fields_is_400_no_fields_to_update_without_a_code() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let before = profile(&app, &ann.id).await;

    for body in [json!({}), json!({"unknown": "ignored"})] {
        let response = ann.post(UPDATE, &body).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(set_cookies(&response).is_empty());
        assert_eq!(response.json::<Value>().await.expect("JSON"), json!({"message": "No fields to update"}), "{body}");
    }
    assert_eq!(profile(&app, &ann.id).await, before, "nothing changed");
}

#[tokio::test]
async fn update_user_with_an_email_is_400_email_can_not_be_updated_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let before = app.db.user_row(&ann.id).await;

    let response = ann.post(UPDATE, &json!({"name": "Mallory", "email": "mallory@example.com"})).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "EMAIL_CAN_NOT_BE_UPDATED").await;
    assert_eq!(body["message"], "Email can not be updated");
    assert_eq!(app.db.user_row(&ann.id).await, before, "neither the email nor the name changed");
}

#[tokio::test]
async fn update_user_with_mistyped_fields_is_400_validation_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let before = app.db.user_row(&ann.id).await;
    let cases = [
        (json!({"name": 5}), "[body.name] Invalid input: expected string, received number"),
        (json!({"image": true}), "[body.image] Invalid input: expected string, received boolean"),
    ];

    for (body, message) in cases {
        let response = ann.post(UPDATE, &body).await;

        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], message, "{body}");
    }
    assert_eq!(app.db.user_row(&ann.id).await, before);
}

#[tokio::test]
async fn update_user_without_a_session_is_401_unauthorized() {
    let app = TestApp::spawn().await;

    let response = app.post_json(UPDATE, &json!({"name": "Nobody"})).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn update_user_with_a_bearer_token_needs_no_origin() {
    let app = TestApp::spawn().await;
    let token = User::sign_up(&app, "ann@example.com").await.bearer;
    let id = app.db.query(r#"SELECT "id" FROM "user""#, vec![]).await[0]["id"].as_str().expect("id").to_owned();

    let response = plain_client()
        .post(app.url(UPDATE))
        .bearer_auth(&token)
        .json(&json!({"name": "Bearer Ann"}))
        .send()
        .await
        .expect("request sent");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(profile(&app, &id).await.0, "Bearer Ann");
}

#[tokio::test]
async fn update_user_with_a_cookie_and_no_trusted_origin_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let before = app.db.user_row(&ann.id).await;

    for (origin, code) in [
        (None, "MISSING_OR_NULL_ORIGIN"),
        (Some("null"), "MISSING_OR_NULL_ORIGIN"),
        (Some("http://evil.example"), "INVALID_ORIGIN"),
    ] {
        let response = ann.post_with_cookie(UPDATE, &json!({"name": "Evil"}), origin).await;

        assert!(set_cookies(&response).is_empty(), "from {origin:?}");
        assert_error(response, StatusCode::FORBIDDEN, code).await;
        assert_eq!(app.db.user_row(&ann.id).await, before, "from {origin:?}: nothing changed");
    }
    // Control: the referer of a trusted page is accepted in place of Origin.
    let response = plain_client()
        .post(app.url(UPDATE))
        .header("cookie", &ann.cookie)
        .header("referer", format!("{ORIGIN}/settings"))
        .json(&json!({"name": "Ann"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_image_that_is_not_an_http_or_https_url_is_400_and_changes_nothing() {
    // Issue 13, "Also": `image: "javascript:alert(1)"` was stored and returned to every page
    // showing the profile.
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Bearer).await;
    let before = app.db.user_row(&ann.id).await;
    let too_long = format!("https://img.example/{}", "a".repeat(2048));
    let refused = [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//img.example/a.png",
        "not a url",
        "https://",
        too_long.as_str(),
    ];

    for image in refused {
        let response = ann.post(UPDATE, &json!({"image": image})).await;

        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert!(error["message"].as_str().unwrap_or_default().starts_with("[body.image]"), "{image}: {error}");
    }
    let sign_up = app
        .post_json(
            "/api/auth/sign-up/email",
            &json!({"name": "Eve", "email": "eve@example.com", "password": PASSWORD, "image": "javascript:alert(1)"}),
        )
        .await;
    assert_error(sign_up, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(app.db.user_row(&ann.id).await, before);
    assert_eq!(app.db.count_rows("user").await, 1, "no account with such an image");
    let accepted = ann.post(UPDATE, &json!({"image": "http://img.example/a.png?size=64"})).await;
    assert_eq!(accepted.status(), StatusCode::OK);
}
