//! The pool connections the task reads keep on PostgreSQL (`api/src/db/reads.rs`): one round trip
//! per read instead of the pool's two, and still what the pool guarantees. The reads hold at most
//! `DB_READ_CONNECTIONS` and the rest of the service keeps the rest of the pool; a read waits at
//! most `DB_TIMEOUT_MS` (for a connection, or on a lock through the statement timeout) and then
//! answers a proper 503; a read whose client went away, or whose connection the database ended,
//! never leaves a connection that hands the next request a stale answer or a 500; every read
//! returns the row it asked for, of its own user.
//!
//! The database is held up by the test's own transaction holding `LOCK TABLE "task"` (PostgreSQL
//! readers wait for it). On SQLite the reads go through the pool and a writer never blocks them
//! (WAL): the same tests check that reads go on, quickly and right, while a writer holds the
//! database and while clients give up mid-request.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    db::postgres_url,
    http::{TimedAnswer, assert_unavailable, plain_client, send_timed},
    server::TestApp,
    tasks::{TASKS, id_of, task_path},
    users::{PASSWORD, User},
};

/// `DB_TIMEOUT_MS` for these tests.
const DB_TIMEOUT: Duration = Duration::from_millis(1000);
/// How much longer than the timeout a 503 may take on a busy 2-core machine (a hang is tens of
/// seconds, so this still tells them apart).
const SLACK: Duration = Duration::from_millis(2500);
/// `DB_READ_CONNECTIONS` for these tests (the test servers' pool has 5 connections).
const READ_CONNECTIONS: usize = 2;

/// Backends of the test's database waiting for a lock while running a task read.
const WAITING_READS: &str = r#"SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
      AND query LIKE 'SELECT "id", "title"%'"#;

/// The backends that ran a task read (the service's read connections).
const READ_BACKENDS: &str = r#"SELECT pid::int8 AS pid FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'SELECT "id", "title"%'"#;

async fn app() -> TestApp {
    TestApp::builder()
        .var("DB_TIMEOUT_MS", &DB_TIMEOUT.as_millis().to_string())
        .var("DB_READ_CONNECTIONS", &READ_CONNECTIONS.to_string())
        .spawn()
        .await
}

/// Two users with three tasks each: `(user, their task ids)`.
async fn two_users_with_tasks(app: &TestApp) -> Vec<(User, Vec<i64>)> {
    let mut users = Vec::new();
    for name in ["ann", "bob"] {
        let user = User::sign_up(app, &format!("{name}@example.com")).await;
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(id_of(&user.create_task_ok(&format!("{name} task {n}")).await));
        }
        users.push((user, ids));
    }
    users
}

/// Every task of every user read back, one by one and as a page, alternating users: each read
/// must be 200 with exactly the row asked for.
async fn assert_every_read_is_right(users: &[(User, Vec<i64>)]) {
    for round in 0..3 {
        for (user, ids) in users {
            for &id in ids {
                let response = user.get_task(id).await;
                assert_eq!(response.status(), StatusCode::OK, "round {round}: {} reads task {id}", user.email);
                let task: Value = response.json().await.expect("task JSON");
                assert_eq!(id_of(&task), id, "round {round}: {} asked for task {id}, got {task}", user.email);
                assert_eq!(task["owner_id"], user.id.as_str(), "round {round}: task {id}");
            }
            let (items, _) = user.task_page("limit=10").await;
            let mut listed: Vec<i64> = items.iter().map(id_of).collect();
            listed.sort_unstable();
            assert_eq!(&listed, ids, "round {round}: {}'s list is exactly their tasks", user.email);
        }
    }
}

/// `user`'s GET of `path`, given up after `timeout`, timed on a task of its own (`None`: no answer).
fn timed_get(
    app: &TestApp,
    user: &User,
    path: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<Option<TimedAnswer>> {
    let request = plain_client().get(app.url(path)).header("authorization", user.authorization()).timeout(timeout);
    tokio::spawn(send_timed(request))
}

#[tokio::test]
async fn tasks_read_connections_reads_stuck_on_a_lock_are_bounded_answer_503_in_time_then_read_right() {
    // Arrange
    let app = app().await;
    let users = two_users_with_tasks(&app).await;
    let (ann, ann_ids) = &users[0];
    let lock = app.db.begin().await;
    let exclusive = match postgres_url() {
        Some(_) => r#"LOCK TABLE "task" IN ACCESS EXCLUSIVE MODE"#,
        // SQLite: a writer's lock (WAL readers still read); rolled back below.
        None => r#"UPDATE "task" SET "title" = "title""#,
    };
    sea_orm::ConnectionTrait::execute_unprepared(&lock, exclusive).await.expect("the test takes its lock");

    // Act: more concurrent reads than read connections while the table is locked.
    let reads: Vec<_> = (0..6)
        .map(|n| {
            let path = if n % 2 == 0 { task_path(ann_ids[n % 3]) } else { format!("{TASKS}?limit=5") };
            timed_get(&app, ann, &path, Duration::from_secs(30))
        })
        .collect();
    let mut most_waiting = 0;
    let mut sign_in_meanwhile = None;
    if postgres_url().is_some() {
        let until = Instant::now() + DB_TIMEOUT / 2;
        while Instant::now() < until {
            most_waiting = most_waiting.max(app.db.count(WAITING_READS, vec![]).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The rest of the pool still serves everything else (a sign-in writes a session).
        sign_in_meanwhile = Some(app.sign_in(&users[1].0.email, PASSWORD).await.status());
        most_waiting = most_waiting.max(app.db.count(WAITING_READS, vec![]).await);
    }
    let mut answers = Vec::new();
    for read in reads {
        answers.push(read.await.expect("read task").expect("every read got an answer"));
    }
    lock.rollback().await.expect("the test releases its lock");

    // Assert
    match postgres_url() {
        Some(_) => {
            assert_eq!(most_waiting, READ_CONNECTIONS as i64, "reads on the database at once: DB_READ_CONNECTIONS");
            // Starved of connections it would have waited DB_TIMEOUT_MS and answered 503.
            let status = sign_in_meanwhile.expect("a sign-in while the reads waited");
            assert_eq!(status, StatusCode::OK, "a sign-in while the reads hold their connections");
            for (status, retry_after, body, elapsed) in &answers {
                assert_unavailable(*status, retry_after.as_deref(), body, "a read past DB_TIMEOUT_MS");
                assert!(*elapsed <= DB_TIMEOUT + SLACK, "a 503 after {elapsed:?}");
            }
        }
        None => {
            for (status, _, body, elapsed) in &answers {
                assert_eq!(*status, StatusCode::OK, "SQLite reads go on while a writer holds the database: {body}");
                assert!(body.is_object(), "a task or a page as JSON: {body}");
                assert!(*elapsed <= DB_TIMEOUT + SLACK, "a read took {elapsed:?}");
            }
        }
    }
    assert_every_read_is_right(&users).await;
}

#[tokio::test]
async fn tasks_read_connections_reads_abandoned_mid_statement_never_hand_a_stale_answer_to_the_next_read() {
    // Arrange
    let app = app().await;
    let users = two_users_with_tasks(&app).await;
    let (ann, ann_ids) = &users[0];
    let lock = match postgres_url() {
        Some(_) => {
            let lock = app.db.begin().await;
            sea_orm::ConnectionTrait::execute_unprepared(&lock, r#"LOCK TABLE "task" IN ACCESS EXCLUSIVE MODE"#)
                .await
                .expect("the test takes its lock");
            Some(lock)
        }
        None => None,
    };

    // Act: ann's reads whose clients give up while their statements wait on the database
    // (PostgreSQL), or at random points of their way through the service (SQLite).
    let abandoned: Vec<_> = (0..8u64)
        .map(|n| {
            let path = if n % 2 == 0 { task_path(ann_ids[0]) } else { format!("{TASKS}?limit=1") };
            let give_up =
                if lock.is_some() { Duration::from_millis(200) } else { Duration::from_micros(300 * n + 100) };
            timed_get(&app, ann, &path, give_up)
        })
        .collect();
    for read in abandoned {
        if let Some((status, _, body, _)) = read.await.expect("read task") {
            assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}: {body}");
        }
    }
    if let Some(lock) = lock {
        // The abandoned statements run now, into connections nobody reads any more.
        lock.commit().await.expect("the test releases its lock");
    }

    // Assert: every later read, of either user, gets its own row.
    assert_every_read_is_right(&users).await;
}

#[tokio::test]
async fn tasks_read_connections_a_read_connection_the_database_ended_is_replaced_without_a_500() {
    // Arrange: read connections in use (idle now, well within the 10 s before a ping).
    let app = app().await;
    let users = two_users_with_tasks(&app).await;
    assert_every_read_is_right(&users).await;
    let Some(_) = postgres_url() else {
        // SQLite has no connections to end: the reads above are this test's check there.
        return;
    };
    let backends = app.db.query(READ_BACKENDS, vec![]).await;
    assert!(!backends.is_empty(), "the reads' connections are in pg_stat_activity");

    // Act: the database ends them (as a restart or an administrator would).
    for backend in &backends {
        let pid = i32::try_from(backend["pid"].as_i64().expect("pid")).expect("a PostgreSQL pid");
        let ended = app.db.query("SELECT pg_terminate_backend($1) AS ended", vec![pid.into()]).await;
        assert_eq!(ended[0]["ended"], true, "terminated {backend}");
    }
    let (ann, ann_ids) = &users[0];
    let mut answers = Vec::new();
    for _ in 0..(READ_CONNECTIONS + 3) {
        let request = plain_client().get(app.url(&task_path(ann_ids[1]))).header("authorization", ann.authorization());
        answers.push(send_timed(request).await.expect("answered"));
    }

    // Assert: at most one 503 per ended connection, then 200s; never a 500.
    let unavailable = answers.iter().take_while(|(status, ..)| *status != StatusCode::OK).count();
    assert!(unavailable <= backends.len(), "{answers:?}");
    for (status, retry_after, body, _) in &answers[..unavailable] {
        assert_unavailable(*status, retry_after.as_deref(), body, "a read on a connection the database ended");
    }
    for (status, _, body, _) in &answers[unavailable..] {
        assert_eq!(*status, StatusCode::OK, "after the ended connections: {body}");
        assert_eq!(id_of(body), ann_ids[1]);
    }
    assert_every_read_is_right(&users).await;
}
