//! Email verification and change (issue 8; `docs/better-auth-wire.md` §3.6, §13):
//! `POST /send-verification-email`, the mailed `GET /verify-email` link (stateless HS256 JWTs),
//! `POST /change-email`, and sign-in with `REQUIRE_EMAIL_VERIFICATION=true`.
//!
//! Expired and forged links are made here with the test secret (or another one), independently
//! of the server's signing code.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    db::{is_true, stored_time},
    http::{assert_error, header_str, no_redirect_client, ok_json, plain_client, query_param, set_cookies},
    mail::spawn_with_outbox,
    server::{ORIGIN, SECRET, TestApp},
    users::{PASSWORD, User, Via, sign_in_status},
    wire::{jwt_parts, jwt_signature_matches, sign_hs256_jwt, unix_now},
};

const SEND: &str = "/api/auth/send-verification-email";
const VERIFY: &str = "/api/auth/verify-email";
const CHANGE_EMAIL: &str = "/api/auth/change-email";

/// Opens `GET /verify-email?token=…[&callbackURL=…]` without following redirects.
async fn verify(app: &TestApp, token: &str, callback: Option<&str>) -> Response {
    let mut query = vec![("token", token)];
    if let Some(callback) = callback {
        query.push(("callbackURL", callback));
    }
    no_redirect_client().get(app.url(VERIFY)).query(&query).send().await.expect("request sent")
}

/// The token of a mailed verification link.
fn token_of(mail: &Value) -> String {
    query_param(mail["url"].as_str().expect("url"), "token").expect("the link carries a token")
}

async fn email_verified(app: &TestApp, user_id: &str) -> bool {
    is_true(&app.db.user_row(user_id).await["emailVerified"])
}

async fn stored_email(app: &TestApp, user_id: &str) -> Value {
    app.db.user_row(user_id).await["email"].clone()
}

/// A verification JWT for `email`/`user_id` with the test secret, valid from `iat` to `exp`.
fn jwt(email: &str, user_id: &str, iat: i64, exp: i64) -> String {
    sign_hs256_jwt(&json!({"email": email, "userId": user_id, "iat": iat, "exp": exp}), SECRET)
}

#[tokio::test]
async fn send_verification_email_mails_a_link_that_verifies_the_address() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    assert!(!email_verified(&app, &ann.id).await);

    // Act: ask for the link, then open it.
    let sent = ann.post(SEND, &json!({"email": ann.email})).await;
    assert_eq!(ok_json(sent).await, json!({"status": true}));
    let mail = outbox.wait_for(&ann.email).await;
    let token = token_of(&mail);
    let response = verify(&app, &token, None).await;

    // Assert: the mail.
    let url = mail["url"].as_str().expect("url");
    assert_eq!(url, format!("{}{VERIFY}?token={token}&callbackURL=%2F", app.base));
    assert_eq!(mail["subject"], "Verify your email address");
    assert!(mail["text"].as_str().expect("text").contains(url));
    // The token: Better Auth's HS256 JWT, checked against our own signature.
    let (header, payload) = jwt_parts(&token);
    assert_eq!(header, json!({"alg": "HS256"}));
    assert_eq!(payload["email"], ann.email.as_str());
    assert_eq!(payload["userId"], ann.id.as_str());
    assert_eq!(payload.get("updateTo"), None, "a plain verification has no updateTo");
    let iat = payload["iat"].as_i64().expect("iat");
    assert!((iat - unix_now()).abs() < 60, "iat is now");
    assert_eq!(payload["exp"].as_i64(), Some(iat + 3600), "valid for an hour");
    assert!(jwt_signature_matches(&token, SECRET), "HS256 over the header and payload with AUTH_SECRET");
    assert!(!jwt_signature_matches(&token, "another-secret-0123456789abcdefghijklmnop"));
    // The effect.
    assert_eq!(ok_json(response).await, json!({"status": true, "user": null}));
    assert!(email_verified(&app, &ann.id).await, "emailVerified flipped");
    assert_eq!(ann.session().await["user"]["emailVerified"], true, "get-session sees it at once");
}

#[tokio::test]
async fn the_mailed_link_redirects_to_its_callback_and_reopening_it_is_harmless() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let callback = format!("{ORIGIN}/welcome");
    ann.post(SEND, &json!({"email": ann.email, "callbackURL": callback})).await;
    let mail = outbox.wait_for(&ann.email).await;
    let url = mail["url"].as_str().expect("url");
    assert_eq!(query_param(url, "callbackURL").as_deref(), Some(callback.as_str()));

    let first = no_redirect_client().get(url).send().await.expect("request sent");
    let second = no_redirect_client().get(url).send().await.expect("request sent");
    let plain = verify(&app, &token_of(&mail), None).await;

    assert_eq!(first.status(), StatusCode::FOUND);
    assert_eq!(header_str(&first, "location"), Some(callback.clone()));
    assert!(email_verified(&app, &ann.id).await);
    assert_eq!(second.status(), StatusCode::FOUND, "links are stateless: reopening is not an error");
    assert_eq!(header_str(&second, "location"), Some(callback));
    assert_eq!(ok_json(plain).await, json!({"status": true, "user": null}), "reused: idempotent 200");
    assert!(email_verified(&app, &ann.id).await);
}

#[tokio::test]
async fn a_relative_callback_is_resolved_against_the_service() {
    let app = TestApp::builder().var("MAIL_TRANSPORT", "log").spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = jwt(&ann.email, &ann.id, unix_now(), unix_now() + 600);

    let response = verify(&app, &token, Some("/done")).await;

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(header_str(&response, "location"), Some(format!("{}/done", app.base)));
    assert!(email_verified(&app, &ann.id).await);
}

#[tokio::test]
async fn verification_links_live_as_long_as_verification_token_expires_in() {
    let (app, outbox) = spawn_with_outbox(&[("VERIFICATION_TOKEN_EXPIRES_IN", "120")]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    ann.post(SEND, &json!({"email": ann.email})).await;

    let (_, payload) = jwt_parts(&token_of(&outbox.wait_for(&ann.email).await));
    assert_eq!(payload["exp"].as_i64().expect("exp") - payload["iat"].as_i64().expect("iat"), 120);
}

#[tokio::test]
async fn an_expired_verification_link_is_401_token_expired_or_redirects_with_the_error() {
    // Arrange: a genuine token (our secret) that expired a minute ago.
    let (app, _outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let token = jwt(&ann.email, &ann.id, unix_now() - 3660, unix_now() - 60);

    // Act
    let plain = verify(&app, &token, None).await;
    let redirected = verify(&app, &token, Some(&format!("{ORIGIN}/verified"))).await;

    // Assert
    let body = assert_error(plain, StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED").await;
    assert_eq!(body["message"], "Token expired");
    assert_eq!(redirected.status(), StatusCode::FOUND);
    assert_eq!(header_str(&redirected, "location"), Some(format!("{ORIGIN}/verified?error=TOKEN_EXPIRED")));
    assert!(!email_verified(&app, &ann.id).await, "nothing was verified");
    // Control: the same claims, still valid, do verify.
    let fresh = verify(&app, &jwt(&ann.email, &ann.id, unix_now(), unix_now() + 60), None).await;
    assert_eq!(fresh.status(), StatusCode::OK);
    assert!(email_verified(&app, &ann.id).await);
}

#[tokio::test]
async fn forged_verification_links_are_401_invalid_token_or_redirect_with_the_error() {
    // Arrange: Ann's genuine link, and Bob who would like his address verified.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;
    ann.post(SEND, &json!({"email": ann.email})).await;
    let genuine = token_of(&outbox.wait_for(&ann.email).await);
    let (head, rest) = genuine.split_once('.').expect("a JWT");
    let signature = rest.rsplit('.').next().expect("a signature");
    // Change the signature's first character (its last one may carry only padding bits).
    let first = signature.chars().next().expect("a character");
    let flipped = format!(
        "{}.{}{}",
        genuine.rsplit_once('.').expect("a JWT").0,
        if first == 'A' { 'B' } else { 'A' },
        &signature[1..]
    );
    let now = unix_now();
    let bob_claims = json!({"email": bob.email, "userId": bob.id, "iat": now, "exp": now + 3600});
    let payload_for_bob = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bob_claims.to_string())
    };
    let cases = [
        (sign_hs256_jwt(&bob_claims, "another-secret-0123456789abcdefghijklmnop"), "signed with another secret"),
        (flipped, "one character of the signature changed"),
        (format!("{head}.{payload_for_bob}.{signature}"), "payload swapped under Ann's signature"),
        (format!("eyJhbGciOiJub25lIn0.{payload_for_bob}."), "alg none"),
        (sign_hs256_jwt(&json!({"userId": bob.id, "iat": now, "exp": now + 3600}), SECRET), "no email claim"),
        ("not.a.jwt".to_owned(), "garbage"),
        (String::new(), "empty"),
    ];

    for (token, what) in &cases {
        // Act
        let plain = verify(&app, token, None).await;
        let redirected = verify(&app, token, Some("/verified")).await;

        // Assert
        let body = assert_error(plain, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
        assert_eq!(body["message"], "Invalid token", "{what}");
        assert_eq!(redirected.status(), StatusCode::FOUND, "{what}");
        assert_eq!(
            header_str(&redirected, "location"),
            Some(format!("{}/verified?error=INVALID_TOKEN", app.base)),
            "{what}"
        );
        assert!(!email_verified(&app, &bob.id).await, "{what}: Bob is not verified");
        assert!(!email_verified(&app, &ann.id).await, "{what}: nor is Ann");
    }
}

#[tokio::test]
async fn a_verification_link_with_an_untrusted_callback_is_403_whatever_the_token() {
    let (app, _outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let genuine = jwt(&ann.email, &ann.id, unix_now(), unix_now() + 600);

    for token in [genuine.as_str(), "forged"] {
        let response = verify(&app, token, Some("https://evil.example/phish")).await;

        let body = assert_error(response, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL").await;
        assert_eq!(body["message"], "Invalid callbackURL");
    }
    assert!(!email_verified(&app, &ann.id).await, "the genuine link was not applied");
}

#[tokio::test]
async fn a_link_for_a_user_that_no_longer_exists_is_401_user_not_found() {
    let (app, _outbox) = spawn_with_outbox(&[]).await;
    let token = jwt("gone@example.com", "NoSuchUser0123456789abcdefghijkl", unix_now(), unix_now() + 600);

    let plain = verify(&app, &token, None).await;
    let redirected = verify(&app, &token, Some("/verified")).await;

    let body = assert_error(plain, StatusCode::UNAUTHORIZED, "USER_NOT_FOUND").await;
    assert_eq!(body["message"], "User not found");
    assert_eq!(header_str(&redirected, "location"), Some(format!("{}/verified?error=USER_NOT_FOUND", app.base)));
}

#[tokio::test]
async fn a_verification_link_is_bound_to_its_user_not_to_whoever_has_the_address_now() {
    // Arrange: Ann is sent a link for ann@, then moves to ann2@; Bob then signs up as ann@.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    ann.post(SEND, &json!({"email": ann.email})).await;
    let old_link = token_of(&outbox.wait_for("ann@example.com").await);
    ann.post(CHANGE_EMAIL, &json!({"newEmail": "ann2@example.com"})).await;
    let change = token_of(&outbox.wait_for("ann2@example.com").await);
    assert_eq!(verify(&app, &change, None).await.status(), StatusCode::OK);
    let bob = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    // Act
    let response = verify(&app, &old_link, None).await;

    // Assert: Better Auth refuses a link whose userId is not the address's owner.
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert!(!email_verified(&app, &bob.id).await, "Bob's address was not verified by Ann's old link");
}

#[tokio::test]
async fn send_verification_email_without_a_session_answers_the_same_for_any_address() {
    // Arrange: Ann unverified, Vic verified.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let vic = User::sign_up_via(&app, "vic@example.com", Via::Browser).await;
    app.db
        .execute(r#"UPDATE "user" SET "emailVerified" = $1 WHERE "id" = $2"#, vec![true.into(), vic.id.clone().into()])
        .await;

    for address in ["nobody@example.com", "vic@example.com", "ann@example.com"] {
        // Act
        let started = std::time::Instant::now();
        let response =
            plain_client().post(app.url(SEND)).json(&json!({"email": address})).send().await.expect("request sent");

        // Assert: always 200, never faster than the 500 ms floor.
        assert!(started.elapsed() >= std::time::Duration::from_millis(500), "{address}: the floor applies");
        assert_eq!(ok_json(response).await, json!({"status": true}), "{address}");
    }
    outbox.wait_for(&ann.email).await;
    assert!(outbox.to("nobody@example.com").is_empty(), "no mail to an unknown address");
    assert!(outbox.to(&vic.email).is_empty(), "no mail to a verified address");
}

#[tokio::test]
async fn send_verification_email_with_a_session_refuses_another_address_and_a_verified_one() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let mismatch = ann.post(SEND, &json!({"email": "bob@example.com"})).await;
    let body = assert_error(mismatch, StatusCode::BAD_REQUEST, "EMAIL_MISMATCH").await;
    assert_eq!(body["message"], "Email mismatch");

    // The session's own address matches whatever its case.
    let own = ann.post(SEND, &json!({"email": "ANN@Example.COM"})).await;
    assert_eq!(ok_json(own).await, json!({"status": true}));
    let token = token_of(&outbox.wait_for(&ann.email).await);
    assert_eq!(verify(&app, &token, None).await.status(), StatusCode::OK);
    let verified = ann.post(SEND, &json!({"email": ann.email})).await;
    let body = assert_error(verified, StatusCode::BAD_REQUEST, "EMAIL_ALREADY_VERIFIED").await;
    assert_eq!(body["message"], "Email is already verified");

    assert_eq!(outbox.all().len(), 1, "only the one link was mailed");
    assert!(outbox.to("bob@example.com").is_empty());
}

#[tokio::test]
async fn send_verification_email_with_a_bad_body_or_callback_is_refused() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let invalid = ann.post(SEND, &json!({"email": "not-an-email"})).await;
    let error = assert_error(invalid, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(error["message"], "[body.email] Invalid email address");
    let missing = ann.post(SEND, &json!({})).await;
    let error = assert_error(missing, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(error["message"], "[body.email] Invalid input: expected string, received undefined");
    let untrusted = ann.post(SEND, &json!({"email": ann.email, "callbackURL": "https://evil.example"})).await;
    assert_error(untrusted, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL").await;

    // Control: a good request is the first and only mail.
    ann.post(SEND, &json!({"email": ann.email})).await;
    outbox.wait_for(&ann.email).await;
    assert_eq!(outbox.all().len(), 1);
}

#[tokio::test]
async fn with_mail_disabled_verification_and_change_email_are_refused() {
    let app = TestApp::builder().var("MAIL_TRANSPORT", "none").spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let send = ann.post(SEND, &json!({"email": ann.email})).await;
    let change = ann.post(CHANGE_EMAIL, &json!({"newEmail": "new@example.com"})).await;

    let body = assert_error(send, StatusCode::BAD_REQUEST, "VERIFICATION_EMAIL_NOT_ENABLED").await;
    assert_eq!(body["message"], "Verification email isn't enabled");
    assert_eq!(change.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        change.json::<Value>().await.expect("JSON"),
        json!({"message": "Verification email isn't enabled"}),
        "change-email sends it without a code, as Better Auth"
    );
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
}

#[tokio::test]
async fn change_email_mails_the_new_address_and_opening_the_link_changes_it() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    // Act 1: ask.
    let response = ann.post(CHANGE_EMAIL, &json!({"newEmail": "Ann.New@Example.com"})).await;

    // Assert 1: one mail, to the new (lower-cased) address; nothing changed yet.
    assert_eq!(ok_json(response).await, json!({"status": true}));
    let mail = outbox.wait_for("ann.new@example.com").await;
    assert_eq!(mail["subject"], "Confirm your new email address");
    let notice = outbox.wait_for(&ann.email).await;
    assert_eq!(notice["subject"], "Your email address is being changed", "the old address is told");
    let token = token_of(&mail);
    let (_, payload) = jwt_parts(&token);
    assert_eq!(payload["email"], "ann@example.com");
    assert_eq!(payload["updateTo"], "ann.new@example.com");
    assert_eq!(payload["requestType"], "change-email-verification");
    assert_eq!(payload["userId"], ann.id.as_str());
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com", "the address changes only on the link");

    // Act 2: open the link.
    let opened = verify(&app, &token, None).await;

    // Assert 2
    let body = ok_json(opened).await;
    assert_eq!(body["status"], true);
    assert_eq!(body["user"]["id"], ann.id.as_str());
    assert_eq!(body["user"]["email"], "ann.new@example.com");
    assert_eq!(body["user"]["emailVerified"], false, "emailVerified keeps its previous value");
    assert_eq!(stored_email(&app, &ann.id).await, "ann.new@example.com");
    assert!(!email_verified(&app, &ann.id).await);
    assert_eq!(ann.session().await["user"]["email"], "ann.new@example.com", "the session sees it at once");
    assert_eq!(sign_in_status(&app, "ann.new@example.com", PASSWORD).await, StatusCode::OK);
    assert_eq!(sign_in_status(&app, "ann@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED);
    // Opening it again changes nothing more.
    let again = verify(&app, &token, None).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert_eq!(stored_email(&app, &ann.id).await, "ann.new@example.com");
}

#[tokio::test]
async fn change_email_of_a_verified_user_keeps_it_verified_and_redirects_to_the_callback() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    app.db
        .execute(r#"UPDATE "user" SET "emailVerified" = $1 WHERE "id" = $2"#, vec![true.into(), ann.id.clone().into()])
        .await;
    let callback = format!("{ORIGIN}/email-changed");

    let response = ann.post(CHANGE_EMAIL, &json!({"newEmail": "new@example.com", "callbackURL": callback})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mail = outbox.wait_for("new@example.com").await;
    let opened = no_redirect_client().get(mail["url"].as_str().expect("url")).send().await.expect("request sent");

    assert_eq!(opened.status(), StatusCode::FOUND);
    assert_eq!(header_str(&opened, "location"), Some(callback));
    assert_eq!(stored_email(&app, &ann.id).await, "new@example.com");
    assert!(email_verified(&app, &ann.id).await, "a verified user stays verified");
}

#[tokio::test]
async fn change_email_to_a_taken_address_answers_200_and_mails_nothing() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let bob = User::sign_up_via(&app, "bob@example.com", Via::Browser).await;

    // Act
    let taken = ann.post(CHANGE_EMAIL, &json!({"newEmail": "Bob@example.com"})).await;

    // Assert: indistinguishable from success, and nothing sent; a later free address is mailed.
    assert_eq!(ok_json(taken).await, json!({"status": true}));
    let free = ann.post(CHANGE_EMAIL, &json!({"newEmail": "free@example.com"})).await;
    assert_eq!(free.status(), StatusCode::OK);
    outbox.wait_for("free@example.com").await;
    assert!(outbox.to(&bob.email).is_empty(), "no mail to the taken address");
    outbox.wait_for_nth(&ann.email, 2).await;
    assert_eq!(outbox.to(&ann.email).len(), 2, "the old address is told of each request, the taken one too");
    assert_eq!(outbox.all().len(), 3);
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
    assert_eq!(stored_email(&app, &bob.id).await, "bob@example.com");
}

#[tokio::test]
async fn a_change_email_link_for_an_address_taken_in_the_meantime_is_401_and_changes_nothing() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    ann.post(CHANGE_EMAIL, &json!({"newEmail": "wanted@example.com"})).await;
    let token = token_of(&outbox.wait_for("wanted@example.com").await);
    let carl = User::sign_up_via(&app, "wanted@example.com", Via::Browser).await;

    let response = verify(&app, &token, None).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
    assert_eq!(stored_email(&app, &carl.id).await, "wanted@example.com");
}

#[tokio::test]
async fn an_old_change_email_link_cannot_move_the_address_of_its_next_owner() {
    // Arrange: Ann gets a link to move ann@ → first@, but moves to second@ instead; Bob then
    // signs up as ann@.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    ann.post(CHANGE_EMAIL, &json!({"newEmail": "first@example.com"})).await;
    let stale = token_of(&outbox.wait_for("first@example.com").await);
    ann.post(CHANGE_EMAIL, &json!({"newEmail": "second@example.com"})).await;
    let used = token_of(&outbox.wait_for("second@example.com").await);
    assert_eq!(verify(&app, &used, None).await.status(), StatusCode::OK);
    let bob = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    // Act
    let response = verify(&app, &stale, None).await;

    // Assert: the link is bound to Ann (userId), whose address is no longer ann@.
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert_eq!(stored_email(&app, &bob.id).await, "ann@example.com", "Bob keeps his address");
    assert_eq!(stored_email(&app, &ann.id).await, "second@example.com");
    assert_eq!(sign_in_status(&app, "ann@example.com", PASSWORD).await, StatusCode::OK, "Bob can still sign in");
}

#[tokio::test]
async fn change_email_to_the_same_or_an_invalid_address_is_400() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let same = ann.post(CHANGE_EMAIL, &json!({"newEmail": "ANN@example.com"})).await;
    assert_eq!(same.status(), StatusCode::BAD_REQUEST);
    assert_eq!(same.json::<Value>().await.expect("JSON"), json!({"message": "Email is the same"}));
    for (body, message) in [
        (json!({"newEmail": "not-an-email"}), "[body.newEmail] Invalid email address"),
        (json!({}), "[body.newEmail] Invalid input: expected string, received undefined"),
    ] {
        let response = ann.post(CHANGE_EMAIL, &body).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["message"], message, "{body}");
    }
    let untrusted =
        ann.post(CHANGE_EMAIL, &json!({"newEmail": "x@example.com", "callbackURL": "https://evil.example"})).await;
    assert_error(untrusted, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL").await;
    let anonymous = plain_client()
        .post(app.url(CHANGE_EMAIL))
        .json(&json!({"newEmail": "x@example.com"}))
        .send()
        .await
        .expect("request sent");
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    assert!(outbox.all().is_empty());
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
}

#[tokio::test]
async fn verification_writes_with_a_cookie_and_no_trusted_origin_are_403_and_send_nothing() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;
    let cases = [(SEND, json!({"email": ann.email})), (CHANGE_EMAIL, json!({"newEmail": "evil@example.com"}))];

    for (path, body) in &cases {
        for (origin, code) in [(None, "MISSING_OR_NULL_ORIGIN"), (Some("http://evil.example"), "INVALID_ORIGIN")] {
            let response = ann.post_with_cookie(path, body, origin).await;

            assert!(set_cookies(&response).is_empty());
            assert_error(response, StatusCode::FORBIDDEN, code).await;
        }
    }
    // Control: a legitimate request afterwards is the first and only mail.
    ann.post(SEND, &json!({"email": ann.email})).await;
    outbox.wait_for(&ann.email).await;
    assert_eq!(outbox.all().len(), 1);
}

#[tokio::test]
async fn with_required_verification_sign_in_waits_for_the_mailed_link() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;

    // Act 1: sign up.
    let signed_up = plain_client()
        .post(app.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");

    // Assert 1: a user but no session, no cookie, no bearer token; a link is mailed.
    assert_eq!(signed_up.status(), StatusCode::OK);
    assert!(set_cookies(&signed_up).is_empty(), "no cookie before verification");
    assert_eq!(header_str(&signed_up, "set-auth-token"), None);
    let body: Value = signed_up.json().await.expect("JSON");
    assert_eq!(body["token"], Value::Null);
    let user_id = body["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(body["user"]["emailVerified"], false);
    assert_eq!(app.db.session_count(&user_id).await, 0);
    let first_mail = outbox.wait_for("ann@example.com").await;

    // Act 2: sign in before verifying.
    let refused = plain_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");

    // Assert 2
    assert!(set_cookies(&refused).is_empty());
    let error = assert_error(refused, StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED").await;
    assert_eq!(error["message"], "Email not verified");
    assert_eq!(app.db.session_count(&user_id).await, 0);
    outbox.wait_for_nth("ann@example.com", 2).await; // the owner (right password) gets a new link
    assert_eq!(
        sign_in_status(&app, "ann@example.com", "a wrong password").await,
        StatusCode::UNAUTHORIZED,
        "a wrong password is still 401, not 403"
    );

    // Act 3: open the first link, then sign in.
    let verified = verify(&app, &token_of(&first_mail), None).await;
    assert_eq!(ok_json(verified).await, json!({"status": true, "user": null}));
    let signed_in = plain_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");

    // Assert 3
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert_eq!(set_cookies(&signed_in).len(), 1, "the session cookie");
    let body: Value = signed_in.json().await.expect("JSON");
    assert!(body["token"].is_string());
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(app.db.session_count(&user_id).await, 1);
}

#[tokio::test]
async fn with_required_verification_a_duplicate_sign_up_looks_like_a_new_one_and_mails_nothing() {
    let (app, outbox) = spawn_with_outbox(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let sign_up = |name: &'static str| {
        plain_client()
            .post(app.url("/api/auth/sign-up/email"))
            .json(&json!({"name": name, "email": "ann@example.com", "password": PASSWORD}))
            .send()
    };
    let first: Value = sign_up("Ann").await.expect("request sent").json().await.expect("JSON");
    outbox.wait_for("ann@example.com").await;

    let second = sign_up("Mallory").await.expect("request sent");

    assert_eq!(second.status(), StatusCode::OK);
    assert!(set_cookies(&second).is_empty());
    let body: Value = second.json().await.expect("JSON");
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["name"], "Mallory", "the name is echoed");
    assert_ne!(body["user"]["id"], first["user"]["id"], "a synthetic user, not the real one");
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "user""#, vec![]).await, 1);
    // A later, unrelated mail proves the outbox is current: still one mail to Ann.
    plain_client().post(app.url(SEND)).json(&json!({"email": "ann@example.com"})).send().await.expect("sent");
    outbox.wait_for_nth("ann@example.com", 2).await;
    assert_eq!(outbox.to("ann@example.com").len(), 2, "sign-up #1 and the explicit request, nothing for #2");
}

/// Makes every session of `user_id` 25 hours old (before any lookup, so nothing is cached).
async fn age_sessions(app: &TestApp, user_id: &str) {
    let old = stored_time(app.db.backend(), time::OffsetDateTime::now_utc() - time::Duration::hours(25));
    app.db
        .execute(
            r#"UPDATE "session" SET "createdAt" = $1, "updatedAt" = $1 WHERE "userId" = $2"#,
            vec![old, user_id.to_owned().into()],
        )
        .await;
}

#[tokio::test]
async fn change_email_from_a_session_that_is_not_fresh_needs_the_current_password() {
    // Issue 13, finding 2: a stolen two-day-old bearer token alone could move the address.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Bearer).await;
    age_sessions(&app, &ann.id).await;

    let without = ann.post(CHANGE_EMAIL, &json!({"newEmail": "thief@example.com"})).await;
    let wrong = ann.post(CHANGE_EMAIL, &json!({"newEmail": "thief@example.com", "password": "not the password"})).await;
    let empty = ann.post(CHANGE_EMAIL, &json!({"newEmail": "thief@example.com", "password": ""})).await;

    assert_error(without, StatusCode::FORBIDDEN, "SESSION_NOT_FRESH").await;
    assert_error(wrong, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
    assert_error(empty, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
    let with = ann.post(CHANGE_EMAIL, &json!({"newEmail": "new@example.com", "password": PASSWORD})).await;
    assert_eq!(ok_json(with).await, json!({"status": true}), "the owner, who knows the password");
    outbox.wait_for("new@example.com").await;
    assert!(outbox.to("thief@example.com").is_empty(), "no link for the refused requests");
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
}

#[tokio::test]
async fn change_email_from_a_fresh_session_with_a_wrong_password_is_refused() {
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    let wrong = ann.post(CHANGE_EMAIL, &json!({"newEmail": "new@example.com", "password": "not the password"})).await;

    assert_error(wrong, StatusCode::BAD_REQUEST, "INVALID_PASSWORD").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(outbox.all().is_empty(), "nothing mailed");
}

#[tokio::test]
async fn the_old_address_is_told_of_a_change_and_its_reset_link_cancels_the_change() {
    // Issue 13, finding 2: the owner of the old address hears of the change and can stop it.
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Bearer).await;
    let asked = ann.post(CHANGE_EMAIL, &json!({"newEmail": "thief@example.com", "password": PASSWORD})).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let link = token_of(&outbox.wait_for("thief@example.com").await);

    // The notice: to the old address, naming the new one, with a reset link.
    let notice = outbox.wait_for("ann@example.com").await;
    assert_eq!(notice["subject"], "Your email address is being changed");
    assert!(notice["text"].as_str().expect("text").contains("thief@example.com"), "{notice}");
    let url = notice["url"].as_str().expect("url");
    assert!(url.contains("/api/auth/reset-password/"), "{url}");
    let reset_token = url::Url::parse(url).expect("URL").path().rsplit('/').next().expect("token").to_owned();

    // The owner answers it with a new password...
    let reset = plain_client()
        .post(app.url("/api/auth/reset-password"))
        .json(&json!({"token": reset_token, "newPassword": "a brand new password"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(reset.status(), StatusCode::OK);

    // ...and the pending link no longer moves the address; the stolen session is over.
    let opened = verify(&app, &link, None).await;
    assert_error(opened, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert_eq!(stored_email(&app, &ann.id).await, "ann@example.com");
    assert_eq!(ann.session().await, Value::Null);
    assert_eq!(sign_in_status(&app, "ann@example.com", "a brand new password").await, StatusCode::OK);
}
