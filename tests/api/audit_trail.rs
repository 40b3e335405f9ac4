//! The security audit trail (issue 18): `GET /api/auth/security-events` lists the caller's own
//! events, newest first, keyset-paginated; every security event is recorded in the transaction
//! of its change; a refused sign-in for an unknown address names no one; no event holds a
//! secret; events past `AUDIT_RETENTION_DAYS` are swept.

use std::time::Duration as StdDuration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use crate::support::{
    db::stored_micros,
    http::{assert_error, ok_json, plain_client, query_param},
    mail::spawn_with_outbox,
    server::{ORIGIN, TestApp},
    users::{PASSWORD, SIGN_OUT, User, Via, sign_in_status, sign_in_with_headers},
};

const EVENTS: &str = "/api/auth/security-events";
const NEW_PASSWORD: &str = "a brand new password";
const RESET_PASSWORD: &str = "reset to this password";

/// One page of the user's events (`query` such as `?limit=3`).
async fn page(user: &User, query: &str) -> Value {
    ok_json(user.get(&format!("{EVENTS}{query}")).await).await
}

/// Every event of the user, following the cursors `limit` at a time.
async fn all_events(user: &User, limit: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut query = format!("?limit={limit}");
    loop {
        let body = page(user, &query).await;
        let batch = body["events"].as_array().expect("events").clone();
        assert!(batch.len() <= limit as usize, "a page holds at most `limit` events: {body}");
        events.extend(batch);
        match body["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit={limit}&cursor={cursor}"),
            None => return events,
        }
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().expect("type").to_owned()).collect()
}

/// The token of a mailed verification link.
fn mailed_verification_token(mail: &Value) -> String {
    query_param(mail["url"].as_str().expect("url"), "token").expect("the link carries a token")
}

/// Opens a verification link without a callback; the status.
async fn open_verification_link(app: &TestApp, token: &str) -> StatusCode {
    let url = app.url("/api/auth/verify-email");
    plain_client().get(url).query(&[("token", token)]).send().await.expect("sent").status()
}

/// Every stored event as one text, for looking for secrets.
async fn stored_events_text(app: &TestApp) -> String {
    serde_json::to_string(&app.db.query(r#"SELECT * FROM "auditEvent" ORDER BY "id""#, vec![]).await).expect("JSON")
}

#[tokio::test]
async fn every_security_event_is_recorded_newest_first_and_none_holds_a_secret() {
    // Arrange
    let (app, outbox) = spawn_with_outbox(&[]).await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let mut secrets = vec![PASSWORD.to_owned(), NEW_PASSWORD.to_owned(), RESET_PASSWORD.to_owned()];
    secrets.extend([ann.token.clone(), ann.bearer.clone()]);

    // Act: every kind of event, in order.
    assert_eq!(sign_in_status(&app, &ann.email, "not the password").await, StatusCode::UNAUTHORIZED);
    let signed_out = User::sign_in(&app, &ann.email, PASSWORD).await;
    assert_eq!(signed_out.post(SIGN_OUT, &json!({})).await.status(), StatusCode::OK);
    let revoked = User::sign_in(&app, &ann.email, PASSWORD).await;
    let response = ann.post("/api/auth/revoke-session", &json!({"token": revoked.token})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let other = User::sign_in(&app, &ann.email, PASSWORD).await;
    assert_eq!(ann.post("/api/auth/revoke-other-sessions", &json!({})).await.status(), StatusCode::OK);
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    assert_eq!(ann.post("/api/auth/change-password", &body).await.status(), StatusCode::OK);
    assert_eq!(
        ann.post("/api/auth/send-verification-email", &json!({"email": ann.email})).await.status(),
        StatusCode::OK
    );
    let verification = mailed_verification_token(&outbox.wait_for(&ann.email).await);
    assert_eq!(open_verification_link(&app, &verification).await, StatusCode::OK);
    let response = ann.post("/api/auth/change-email", &json!({"newEmail": "ann.new@example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let change = mailed_verification_token(&outbox.wait_for("ann.new@example.com").await);
    assert_eq!(open_verification_link(&app, &change).await, StatusCode::OK);
    let body = json!({"email": "ann.new@example.com", "redirectTo": format!("{ORIGIN}/reset")});
    let response = plain_client().post(app.url("/api/auth/request-password-reset")).json(&body).send().await;
    assert_eq!(response.expect("sent").status(), StatusCode::OK);
    let mail = outbox.wait_for_nth("ann.new@example.com", 2).await;
    let reset_url = url::Url::parse(mail["url"].as_str().expect("url")).expect("URL");
    let reset_token = reset_url.path().rsplit('/').next().expect("token").to_owned();
    let body = json!({"token": reset_token, "newPassword": RESET_PASSWORD});
    let response = plain_client().post(app.url("/api/auth/reset-password")).json(&body).send().await;
    assert_eq!(response.expect("sent").status(), StatusCode::OK);
    let again = User::sign_in(&app, "ann.new@example.com", RESET_PASSWORD).await;
    assert_eq!(again.post("/api/auth/revoke-sessions", &json!({})).await.status(), StatusCode::OK);
    let last = User::sign_in(&app, "ann.new@example.com", RESET_PASSWORD).await;
    secrets.extend([signed_out.token, revoked.token, other.token, again.token, reset_token]);
    secrets.extend([verification, change]);

    // Assert: the caller sees all of it, newest first, from this machine.
    let events = all_events(&last, 4).await;
    assert_eq!(
        types(&events),
        [
            "sign-in",
            "sessions-revoked",
            "sign-in",
            "password-reset",
            "email-changed",
            "email-verified",
            "password-changed",
            "other-sessions-revoked",
            "sign-in",
            "session-revoked",
            "sign-in",
            "sign-out",
            "sign-in",
            "sign-in-failed",
            "sign-up",
        ]
    );
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_str().expect("id").parse().expect("numeric id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "strictly newest first: {ids:?}");
    for event in &events {
        assert_eq!(event["ipAddress"], "127.0.0.1", "{event}");
        assert_eq!(event["userAgent"], "", "{event}");
        let at = OffsetDateTime::parse(event["createdAt"].as_str().expect("createdAt"), &Rfc3339).expect("an ISO time");
        assert!((OffsetDateTime::now_utc() - at).abs() < Duration::minutes(5), "{event}");
        let reason = if event["type"] == "sign-in-failed" { json!("invalid-password") } else { Value::Null };
        assert_eq!(event["reason"], reason, "{event}");
        let keys: Vec<&String> = event.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["createdAt", "id", "ipAddress", "reason", "type", "userAgent"], "{event}");
    }

    // Act 2: delete the account.
    let response = last.post("/api/auth/delete-user", &json!({"password": RESET_PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Assert 2: recorded under the gone user's id, kept beyond the user.
    let deleted = app.db.count(
        r#"SELECT count(*) FROM "auditEvent" WHERE "userId" = $1 AND "type" = 'account-deleted'"#,
        vec![ann.id.as_str().into()],
    );
    assert_eq!(deleted.await, 1);
    assert_eq!(app.db.count_rows("auditEvent").await, 16, "the 15 listed and the deletion");
    let stored = stored_events_text(&app).await;
    for secret in &secrets {
        assert!(!stored.contains(secret.as_str()), "an event holds a secret: {secret}");
    }
    for address in ["ann@example.com", "ann.new@example.com", "ann"] {
        assert!(!stored.contains(address), "an event holds the address {address}");
    }
}

#[tokio::test]
async fn a_refused_sign_in_for_an_unknown_address_names_no_one_and_holds_no_address() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;

    // Act
    let status = sign_in_status(&app, "nobody.at.all@example.com", "some password").await;

    // Assert
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rows = app.db.query(r#"SELECT * FROM "auditEvent" WHERE "type" = 'sign-in-failed'"#, vec![]).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["userId"], Value::Null);
    assert_eq!(rows[0]["reason"], "unknown-email");
    let stored = stored_events_text(&app).await;
    assert!(!stored.contains("nobody"), "the address is not kept: {stored}");
    assert!(!stored.contains("some password"));
    assert_eq!(types(&all_events(&ann, 20).await), ["sign-up"], "nobody else's failure shows");
}

#[tokio::test]
async fn a_refused_sign_in_of_an_unverified_address_says_so() {
    // Arrange
    let (app, _outbox) = spawn_with_outbox(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let body = json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD});
    let signed_up =
        ok_json(plain_client().post(app.url("/api/auth/sign-up/email")).json(&body).send().await.expect("sent"));
    let user_id = signed_up.await["user"]["id"].as_str().expect("id").to_owned();

    // Act
    let status = sign_in_status(&app, "ann@example.com", PASSWORD).await;

    // Assert
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rows = app
        .db
        .query(r#"SELECT "type", "reason" FROM "auditEvent" WHERE "userId" = $1 ORDER BY "id""#, vec![user_id.into()])
        .await;
    assert_eq!(
        rows,
        [json!({"type": "sign-up", "reason": null}), json!({"type": "sign-in-failed", "reason": "email-not-verified"})]
    );
}

#[tokio::test]
async fn the_client_address_and_user_agent_are_those_of_the_request() {
    // Arrange
    let app = TestApp::builder().var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;

    // Act
    let response = sign_in_with_headers(
        &app,
        &ann.email,
        &[("user-agent", "AuditBrowser/1.0"), ("x-forwarded-for", "198.51.100.23")],
    )
    .await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let newest = page(&ann, "?limit=1").await["events"][0].clone();
    assert_eq!(newest["type"], "sign-in");
    assert_eq!(newest["ipAddress"], "198.51.100.23");
    assert_eq!(newest["userAgent"], "AuditBrowser/1.0");
}

#[tokio::test]
async fn no_user_sees_another_users_events_even_with_their_cursor() {
    // Arrange: interleaved events of two users, and a failed sign-in on ann's address by bob.
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let bob = User::sign_up(&app, "bob@example.com").await;
    for _ in 0..3 {
        User::sign_in(&app, &ann.email, PASSWORD).await;
        User::sign_in(&app, &bob.email, PASSWORD).await;
    }
    assert_eq!(sign_in_status(&app, &ann.email, "bob guesses wrong").await, StatusCode::UNAUTHORIZED);

    // Act
    let anns = all_events(&ann, 2).await;
    let bobs = all_events(&bob, 2).await;
    let ann_cursor = page(&ann, "?limit=1").await["nextCursor"].as_str().expect("a cursor").to_owned();
    let bob_with_anns_cursor = page(&bob, &format!("?cursor={ann_cursor}")).await;

    // Assert
    assert_eq!(types(&anns), ["sign-in-failed", "sign-in", "sign-in", "sign-in", "sign-up"]);
    assert_eq!(types(&bobs), ["sign-in", "sign-in", "sign-in", "sign-up"]);
    for (user, events) in
        [(&ann, &anns), (&bob, &bobs), (&bob, &bob_with_anns_cursor["events"].as_array().expect("events").clone())]
    {
        for event in events {
            let owner = app
                .db
                .query(
                    r#"SELECT "userId" FROM "auditEvent" WHERE "id" = $1"#,
                    vec![event["id"].as_str().expect("id").parse::<i64>().expect("id").into()],
                )
                .await;
            assert_eq!(owner[0]["userId"], user.id.as_str(), "{event}");
        }
    }
}

#[tokio::test]
async fn pages_follow_one_another_without_gaps_or_repeats() {
    // Arrange: 1 sign-up + 6 sign-ins.
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    for _ in 0..6 {
        User::sign_in(&app, &ann.email, PASSWORD).await;
    }

    // Act
    let first = page(&ann, "?limit=3").await;
    let cursor = first["nextCursor"].as_str().expect("a next page").to_owned();
    let second = page(&ann, &format!("?limit=3&cursor={cursor}")).await;
    let cursor = second["nextCursor"].as_str().expect("a last page").to_owned();
    let third = page(&ann, &format!("?limit=3&cursor={cursor}")).await;
    let default = page(&ann, "").await;

    // Assert
    let ids = |body: &Value| -> Vec<String> {
        body["events"].as_array().expect("events").iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect()
    };
    assert_eq!((ids(&first).len(), ids(&second).len(), ids(&third).len()), (3, 3, 1));
    assert_eq!(third["nextCursor"], Value::Null);
    assert_eq!(first["nextCursor"], ids(&first)[2].as_str(), "the cursor is the last id seen");
    let joined: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
    assert_eq!(joined, ids(&default), "the pages make up the default page (20), in order");
    assert_eq!(types(&third["events"].as_array().expect("events").clone()), ["sign-up"]);
}

#[tokio::test]
async fn bad_paging_parameters_are_400_and_no_session_is_401() {
    // Arrange
    let app = TestApp::spawn().await;
    let ann = User::sign_up_via(&app, "ann@example.com", Via::Browser).await;

    // Act + Assert
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=abc",
        "?cursor=abc",
        "?cursor=0",
        "?cursor=-5",
        "?cursor=1e3",
        "?cursor=123456789012345678901",
    ] {
        let response = ann.get(&format!("{EVENTS}{query}")).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert!(body["message"].as_str().expect("message").contains("query."), "{query}: {body}");
    }
    let response = plain_client().get(app.url(EVENTS)).send().await.expect("sent");
    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let response = ann.request(Method::GET, &format!("{EVENTS}?limit=100&cursor=99999")).send().await.expect("sent");
    assert_eq!(ok_json(response).await["events"].as_array().expect("events").len(), 1, "a cursor past the end is fine");
}

#[tokio::test]
async fn a_change_whose_event_cannot_be_recorded_does_not_happen() {
    // Arrange: two sessions; then the audit table goes away.
    let app = TestApp::spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let other = User::sign_in(&app, &ann.email, PASSWORD).await;
    app.db.execute(r#"DROP TABLE "auditEvent""#, vec![]).await;

    // Act
    let response = ann.post("/api/auth/revoke-other-sessions", &json!({})).await;

    // Assert: refused, and the other session lives on (the delete was rolled back with it).
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(other.session().await["user"]["id"], ann.id.as_str());
    assert_eq!(app.db.session_count(&ann.id).await, 2);
}

#[tokio::test]
async fn events_past_the_retention_period_are_swept_at_start_up_and_hourly() {
    // Arrange: events of 31 and 29 days ago with a 30-day retention.
    let app = TestApp::builder().var("AUDIT_RETENTION_DAYS", "30").spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let backend = app.db.backend();
    for days in [31, 29] {
        app.db
            .execute(
                r#"INSERT INTO "auditEvent" ("userId", "type", "ipAddress", "userAgent", "createdAt") VALUES ($1, 'sign-in', '', '', $2)"#,
                vec![ann.id.as_str().into(), stored_micros(backend, OffsetDateTime::now_utc() - Duration::days(days))],
            )
            .await;
    }
    let sibling = app.sibling().var("AUDIT_RETENTION_DAYS", "30");

    // Act: a restart sweeps at once.
    app.stop().await;
    let app = sibling.spawn().await;

    // Assert
    let ann = User::sign_in(&app, &ann.email, PASSWORD).await;
    let mut remaining = 4;
    for _ in 0..100 {
        remaining = app.db.count(r#"SELECT count(*) FROM "auditEvent""#, vec![]).await;
        if remaining == 3 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(remaining, 3, "only the 31-day-old event is removed");
    let events = all_events(&ann, 20).await;
    assert_eq!(types(&events), ["sign-in", "sign-in", "sign-up"]);
    let kept = OffsetDateTime::parse(events[1]["createdAt"].as_str().expect("time"), &Rfc3339).expect("time");
    assert!((OffsetDateTime::now_utc() - Duration::days(29) - kept).abs() < Duration::minutes(5), "the 29-day-old one");
}
