//! `GET /api/v1/tasks/changes`: incremental sync with tombstones. A client that applies every
//! answer to a local copy ends with exactly the server's tasks, however writes interleave with
//! its syncs (many writers on two instances, repeated small-page syncs); cursors are opaque,
//! bound to their user, and expire with the retention (410).

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    db::postgres_url,
    http::assert_error,
    server::TestApp,
    tasks::{id_of, task_path},
    users::User,
};

/// A client's local copy of its tasks, kept by applying changes.
#[derive(Default)]
struct Mirror {
    tasks: BTreeMap<i64, Value>,
    /// Every (id, version) delivered, to prove nothing is delivered twice.
    delivered: HashSet<(i64, String)>,
}

impl Mirror {
    fn apply(&mut self, changes: &[Value]) {
        for change in changes {
            let id = id_of(change);
            let version = if change["deleted"] == json!(true) {
                self.tasks.remove(&id);
                "deleted".to_owned()
            } else {
                self.tasks.insert(id, change["task"].clone());
                change["task"]["updated_at"].as_str().expect("updated_at").to_owned()
                    + change["task"]["title"].as_str().expect("title")
            };
            assert!(self.delivered.insert((id, version.clone())), "delivered twice: task {id} {version}");
        }
    }
}

#[tokio::test]
async fn syncs_see_creates_updates_and_deletions_oldest_first() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "sync@example.com").await;
    let empty = user.changes_page(None, None).await;
    assert!(empty.changes.is_empty() && !empty.has_more);

    let a = user.create_task_ok("a").await;
    let b = user.create_task_ok("b").await;
    let c = user.create_task_ok("c").await;
    let (first, cursor) = user.sync(Some(&empty.next_cursor), None).await;
    let ids: Vec<i64> = first.iter().map(id_of).collect();
    assert_eq!(ids, [id_of(&a), id_of(&b), id_of(&c)], "oldest change first");
    assert_eq!(first[0]["task"], a, "the task as the API shows it");

    assert_eq!(user.patch_task(id_of(&a), &json!({"is_completed": true})).await.status(), StatusCode::OK);
    assert_eq!(user.delete_task(id_of(&b)).await.status(), StatusCode::NO_CONTENT);
    let d = user.create_task_ok("d").await;
    let (second, cursor) = user.sync(Some(&cursor), None).await;
    assert_eq!(
        second,
        [
            json!({"id": id_of(&a), "deleted": false, "task": user.get_task(id_of(&a)).await.json::<Value>().await.expect("task")}),
            json!({"id": id_of(&b), "deleted": true, "task": null}),
            json!({"id": id_of(&d), "deleted": false, "task": d}),
        ]
    );
    let nothing = user.changes_page(Some(&cursor), None).await;
    assert!(nothing.changes.is_empty() && !nothing.has_more, "nothing new");

    // Pages: a task changed twice shows once, in its latest version; has_more walks the rest.
    for title in ["x", "y"] {
        assert_eq!(user.patch_task(id_of(&c), &json!({"title": title})).await.status(), StatusCode::OK);
    }
    for i in 0..4 {
        user.create_task_ok(&format!("page {i}")).await;
    }
    let page = user.changes_page(Some(&nothing.next_cursor), Some(2)).await;
    assert_eq!(page.changes.len(), 2);
    assert!(page.has_more);
    assert_eq!(page.changes[0]["task"]["title"], "y", "the latest version, once");
    let (rest, _) = user.sync(Some(&page.next_cursor), Some(2)).await;
    assert_eq!(rest.len(), 3);

    // A first sync (no cursor) gives every live task once, and the deletions still kept.
    let (all, _) = user.sync(None, Some(3)).await;
    let mut mirror = Mirror::default();
    mirror.apply(&all);
    let listed = user.all_tasks("limit=100").await;
    assert_eq!(mirror.tasks.len(), listed.len());
}

#[tokio::test]
async fn cursors_are_opaque_and_bound_to_their_user() {
    let app = TestApp::spawn().await;
    let alice = User::sign_up(&app, "alice-sync@example.com").await;
    let bob = User::sign_up(&app, "bob-sync@example.com").await;
    alice.create_task_ok("alice's").await;
    let (changes, alices_cursor) = alice.sync(None, None).await;
    assert_eq!(changes.len(), 1);
    let (bobs, _) = bob.sync(None, None).await;
    assert!(bobs.is_empty(), "no change of another user: {bobs:?}");
    let response = bob.changes(Some(&alices_cursor), None).await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    assert!(body["message"].as_str().unwrap_or_default().starts_with("[query.since]"), "{body}");
    for bad in ["", "garbage", "MC4wLng", &"A".repeat(257)] {
        let status = bob.changes(Some(bad), None).await.status();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "since={bad:?}");
    }
    for limit in ["0", "101", "x"] {
        let response = alice.get(&format!("/api/v1/tasks/changes?limit={limit}")).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR").await;
    }
    let anonymous = app.client.get(app.url("/api/v1/tasks/changes")).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_410() {
    let app = TestApp::builder().var("TASKS_SYNC_RETENTION", "1").spawn().await;
    let user = User::sign_up(&app, "expired@example.com").await;
    let task = user.create_task_ok("kept").await;
    let (_, cursor) = user.sync(None, None).await;
    assert_eq!(user.delete_task(id_of(&task)).await.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let response = user.changes(Some(&cursor), None).await;
    assert_error(response, StatusCode::GONE, "SYNC_CURSOR_EXPIRED").await;
    // The way back: a sync from the start.
    let fresh = user.changes_page(None, None).await;
    assert!(fresh.changes.iter().all(|c| c["deleted"] == json!(true)), "{:?}", fresh.changes);
}

/// Writers (on PostgreSQL, on two instances) create, update and delete concurrently while a
/// client syncs again and again with small pages: the client never sees a change twice, and
/// its copy ends equal to the server's tasks, deletions included.
#[tokio::test]
async fn a_sync_under_concurrent_writers_misses_nothing() {
    let app = TestApp::spawn().await;
    // SQLite serves one instance (two processes on one file only take turns at its lock).
    let sibling = match postgres_url() {
        Some(_) => Some(app.sibling().spawn().await),
        None => None,
    };
    let user = User::sign_up(&app, "writers@example.com").await;
    let there = sibling.as_ref().map_or_else(|| user.clone(), |sibling| user.on(sibling));
    let done = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (user, done) = (user.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let mut mirror = Mirror::default();
            let mut cursor: Option<String> = None;
            let mut syncs = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = user.changes_page(cursor.as_deref(), Some(7)).await;
                mirror.apply(&page.changes);
                cursor = Some(page.next_cursor);
                syncs += 1;
                if finished && !page.has_more {
                    return (mirror, syncs);
                }
            }
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let user = if w % 2 == 0 { user.clone() } else { there.clone() };
            tokio::spawn(async move {
                let mut deleted = Vec::new();
                for i in 0..12 {
                    let task = user.create_task_ok(&format!("w{w} t{i}")).await;
                    let id = id_of(&task);
                    if i % 3 == 1 {
                        let response = user.patch_task(id, &json!({"title": format!("w{w} t{i} edited")})).await;
                        assert_eq!(response.status(), StatusCode::OK);
                    }
                    if i % 4 == 2 {
                        assert_eq!(user.delete_task(id).await.status(), StatusCode::NO_CONTENT);
                        deleted.push(id);
                    }
                }
                deleted
            })
        })
        .collect();
    let mut deleted = Vec::new();
    for writer in writers {
        deleted.extend(writer.await.expect("the writer finishes"));
    }
    done.store(true, Ordering::SeqCst);
    let (mirror, syncs) = syncer.await.expect("the syncer finishes");
    assert!(syncs > 3, "the client synced while the writers wrote ({syncs} syncs)");

    let server: BTreeMap<i64, Value> =
        user.all_tasks("limit=100").await.into_iter().map(|task| (id_of(&task), task)).collect();
    assert_eq!(server.len(), 8 * 12 - deleted.len());
    assert_eq!(mirror.tasks, server, "the client's copy is the server's tasks");
    for id in &deleted {
        assert!(user.get_task(*id).await.status() == StatusCode::NOT_FOUND, "{}", task_path(*id));
    }
    if let Some(sibling) = sibling {
        sibling.stop().await;
    }
}
