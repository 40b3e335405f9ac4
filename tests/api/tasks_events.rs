//! `GET /api/v1/tasks/events`: live updates over Server-Sent Events. A change made through
//! another connection (on PostgreSQL, another instance) arrives within a second; a client that
//! reconnects with `Last-Event-ID` loses nothing; a slow client loses nothing either; the stream
//! ends with its session; streams are bounded per user and per instance (429); nobody sees
//! another user's events.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    db::postgres_url,
    events::SseEvent,
    http::{assert_error, header_str},
    server::TestApp,
    tasks::id_of,
    users::{PASSWORD, SIGN_OUT, User},
};

const SECOND: Duration = Duration::from_secs(1);

/// Asserts an event is the upsert of `title` and returns the task id.
fn upsert(event: &SseEvent, title: &str) -> i64 {
    assert_eq!(event.event, "change");
    assert!(!event.id.is_empty(), "every event has an id");
    assert_eq!(event.data["deleted"], false, "{:?}", event.data);
    assert_eq!(event.data["task"]["title"], title, "{:?}", event.data);
    assert_eq!(event.data["cursor"], event.id.as_str(), "the cursor is the event id");
    id_of(&event.data)
}

#[tokio::test]
async fn a_change_made_through_another_connection_arrives_within_a_second() {
    let app = TestApp::spawn().await;
    let watcher = User::sign_up(&app, "watch@example.com").await;
    let writer = User::sign_in(&app, "watch@example.com", PASSWORD).await;
    let stranger = User::sign_up(&app, "stranger@example.com").await;
    let mut stream = watcher.events(None).await;

    stranger.create_task_ok("not yours").await;
    let task = writer.create_task_ok("from the phone").await;
    let event = stream.expect_event(SECOND).await;
    assert_eq!(upsert(&event, "from the phone"), id_of(&task), "another user's change never shows");
    assert_eq!(event.data["task"], task, "the task as the API shows it");

    let response = writer.patch_task(id_of(&task), &json!({"is_completed": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = stream.expect_event(SECOND).await;
    assert_eq!(event.data["task"]["is_completed"], true);
    assert_eq!(writer.delete_task(id_of(&task)).await.status(), StatusCode::NO_CONTENT);
    let event = stream.expect_event(SECOND).await;
    assert_eq!(event.data, json!({"id": id_of(&task), "deleted": true, "task": null, "cursor": event.id}));
    stranger.create_task_ok("still not yours").await;
    stream.expect_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_reconnecting_client_resumes_with_last_event_id_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "resume@example.com").await;
    let mut stream = user.events(None).await;
    user.create_task_ok("one").await;
    let first = stream.expect_event(SECOND).await;
    drop(stream);
    // Changes while the client is away.
    let two = user.create_task_ok("two").await;
    user.create_task_ok("three").await;
    assert_eq!(user.delete_task(id_of(&two)).await.status(), StatusCode::NO_CONTENT);

    let mut stream = user.events(Some(&first.id)).await;
    let missed: Vec<SseEvent> = vec![stream.expect_event(SECOND).await, stream.expect_event(SECOND).await];
    // "two" was created and deleted meanwhile: the feed shows its latest state, the deletion.
    assert_eq!(upsert(&missed[0], "three"), id_of(&two) + 1);
    assert_eq!(missed[1].data["deleted"], true);
    assert_eq!(id_of(&missed[1].data), id_of(&two));
    stream.expect_quiet(Duration::from_millis(300)).await;
    user.create_task_ok("four").await;
    upsert(&stream.expect_event(SECOND).await, "four");

    // The event id is a sync cursor too.
    let (changes, _) = user.sync(Some(&first.id), None).await;
    assert_eq!(changes.len(), 3);
}

#[tokio::test]
async fn a_slow_client_loses_nothing() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "slow@example.com").await;
    let mut stream = user.events(None).await;
    // The client reads nothing while 250 changes commit (more than two pages).
    for i in 0..250 {
        user.create_task_ok(&format!("t{i}")).await;
    }
    for i in 0..250 {
        upsert(&stream.expect_event(SECOND * 5).await, &format!("t{i}"));
    }
    stream.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_stream_ends_when_its_session_ends() {
    let app = TestApp::builder().var("TASKS_EVENTS_HEARTBEAT", "1").spawn().await;
    let user = User::sign_up(&app, "ends@example.com").await;
    let mut stream = user.events(None).await;
    stream.expect_quiet(Duration::from_millis(2_500)).await;
    assert!(stream.heartbeats >= 1, "heartbeats keep an idle stream alive");
    let response = user.post(SIGN_OUT, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    stream.expect_end(Duration::from_secs(3)).await;

    // Revoked from another session.
    let watcher = User::sign_in(&app, "ends@example.com", PASSWORD).await;
    let other = User::sign_in(&app, "ends@example.com", PASSWORD).await;
    let mut stream = watcher.events(None).await;
    let response = other.post("/api/auth/revoke-other-sessions", &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    stream.expect_end(Duration::from_secs(3)).await;
    assert_eq!(watcher.open_events(None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn streams_are_bounded_per_user() {
    let app = TestApp::builder().var("TASKS_EVENTS_PER_USER", "2").spawn().await;
    let user = User::sign_up(&app, "many@example.com").await;
    let other = User::sign_up(&app, "other-many@example.com").await;
    let first = user.events(None).await;
    let _second = user.events(None).await;
    let refused = user.open_events(None).await;
    assert_eq!(header_str(&refused, "retry-after").as_deref(), Some("5"));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_STREAMS").await;
    let _others = other.events(None).await;
    drop(first);
    // The server notices the closed connection when writing to it fails (a heartbeat or an
    // event; the first write after the close may still be accepted by the kernel): changes
    // make it write now.
    let mut reopened = None;
    for i in 0..20 {
        user.create_task_ok(&format!("wakes the streams {i}")).await;
        let response = user.open_events(None).await;
        if response.status() == StatusCode::OK {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed stream frees its place");
}

#[tokio::test]
async fn streams_are_bounded_per_instance() {
    let app = TestApp::builder().var("TASKS_EVENTS_MAX", "2").spawn().await;
    let first = User::sign_up(&app, "first-instance@example.com").await;
    let second = User::sign_up(&app, "second-instance@example.com").await;
    let third = User::sign_up(&app, "third-instance@example.com").await;
    let mut open = first.events(None).await;
    let _other = second.events(None).await;
    let refused = third.open_events(None).await;
    assert_eq!(header_str(&refused, "retry-after").as_deref(), Some("5"));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_STREAMS").await;
    // The streams already open are unaffected.
    let task = first.create_task_ok("still live").await;
    assert_eq!(upsert(&open.expect_event(SECOND).await, "still live"), id_of(&task));
}

#[tokio::test]
async fn bad_or_foreign_last_event_ids_are_refused() {
    let app = TestApp::builder().var("TASKS_SYNC_RETENTION", "1").spawn().await;
    let alice = User::sign_up(&app, "alice-events@example.com").await;
    let bob = User::sign_up(&app, "bob-events@example.com").await;
    let mut stream = alice.events(None).await;
    alice.create_task_ok("alice's").await;
    let event = stream.expect_event(SECOND).await;
    drop(stream);
    let foreign = bob.open_events(Some(&event.id)).await;
    let body = assert_error(foreign, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert!(body["message"].as_str().unwrap_or_default().starts_with("[header.Last-Event-ID]"), "{body}");
    for bad in ["garbage", "", "\u{e9}"] {
        let response = alice
            .request(reqwest::Method::GET, "/api/v1/tasks/events")
            .header("last-event-id", reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).expect("value"))
            .send()
            .await
            .expect("sent");
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    }
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let expired = alice.open_events(Some(&event.id)).await;
    assert_error(expired, StatusCode::GONE, "SYNC_CURSOR_EXPIRED").await;
    let anonymous = app.client.get(app.url("/api/v1/tasks/events")).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// On PostgreSQL a change made through one instance reaches a stream on another within a
/// second (`LISTEN`/`NOTIFY`). On SQLite, where one process serves, there is nothing to test.
#[tokio::test]
async fn on_postgres_a_change_through_another_instance_arrives_within_a_second() {
    if postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn().await;
    let sibling = app.sibling().spawn().await;
    let user = User::sign_up(&app, "instances@example.com").await;
    let mut stream = user.events(None).await;
    let there = user.on(&sibling);
    for i in 0..3 {
        there.create_task_ok(&format!("via the other instance {i}")).await;
        upsert(&stream.expect_event(SECOND).await, &format!("via the other instance {i}"));
    }
    drop(stream);
    sibling.stop().await;
}

/// Open streams do not hold up a graceful shutdown: they end when it starts.
#[tokio::test]
async fn open_streams_end_at_shutdown() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "shutdown@example.com").await;
    let mut stream = user.events(None).await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.stop()).await;
    assert!(stopped.is_ok(), "the server stopped with a stream open");
    stream.expect_end(SECOND).await;
}
