//! Two users share one server and one `task` table, and neither can ever read, list, change or
//! delete the other's tasks, whatever order their requests come in; every request also carries
//! a forged `X-User-Id` naming the other user, which must make no difference.
//!
//! A property test: proptest generates interleaved operation sequences, each run against a
//! model of who owns what; after every operation and at the end of each sequence the API and
//! the table must agree with the model. The server and the two users are set up once; each case
//! starts from an empty `task` table.
//!
//! The same holds for what comes with the tasks: `Idempotency-Key`s (both users pick from the
//! same few keys: a key is only ever replayed to its own user), the change feed (each user's
//! incremental sync sees only their own changes and ends equal to their tasks) and the live
//! event stream (each user's stream, open during the whole case, carries only their own
//! changes).

use std::collections::BTreeMap;

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    events::{EventReader, Next},
    http::assert_error,
    server::TestApp,
    tasks::{TASKS, id_of, ids, task_path},
    users::User,
};

/// One request by user 0 or 1. `pick` chooses among every id created so far in the case (both
/// users', deleted ones included), so requests for the other user's tasks are frequent.
#[derive(Clone, Debug)]
enum Op {
    Create { user: usize, title: String },
    Get { user: usize, pick: usize },
    Patch { user: usize, pick: usize, done: bool },
    Put { user: usize, pick: usize, title: String },
    Delete { user: usize, pick: usize },
    List { user: usize, limit: u8 },
    CreateKeyed { user: usize, key: u8, title: String },
    Sync { user: usize },
}

fn title() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9é🦀][a-zA-Z0-9 é🦀]{0,11}"
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..2usize;
    prop_oneof![
        3 => (user.clone(), title()).prop_map(|(user, title)| Op::Create { user, title }),
        2 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Op::Get { user, pick }),
        2 => (user.clone(), any::<usize>(), any::<bool>()).prop_map(|(user, pick, done)| Op::Patch { user, pick, done }),
        1 => (user.clone(), any::<usize>(), title()).prop_map(|(user, pick, title)| Op::Put { user, pick, title }),
        2 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Op::Delete { user, pick }),
        1 => (user.clone(), 1..=4u8).prop_map(|(user, limit)| Op::List { user, limit }),
        2 => (user.clone(), 0..3u8, title()).prop_map(|(user, key, title)| Op::CreateKeyed { user, key, title }),
        1 => user.prop_map(|user| Op::Sync { user }),
    ]
}

/// What the model knows about one live task.
#[derive(Clone, Debug)]
struct Known {
    owner: usize,
    title: String,
    done: bool,
}

/// The two users, each request carrying the *other* user's id in `X-User-Id`.
struct Pair<'a> {
    app: &'a TestApp,
    users: [User; 2],
}

impl Pair<'_> {
    fn request(&self, user: usize, method: Method, path: &str) -> RequestBuilder {
        self.users[user].request(method, path).header("x-user-id", &self.users[1 - user].id)
    }

    async fn send(&self, user: usize, method: Method, path: &str, body: Option<Value>) -> Response {
        let request = self.request(user, method, path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("request sent")
    }

    /// Every task user `user` can list, walking pages of `limit`.
    async fn list_all(&self, user: usize, limit: u8) -> Vec<Value> {
        let mut all = Vec::new();
        let mut query = format!("limit={limit}");
        loop {
            let response = self.send(user, Method::GET, &format!("{TASKS}?{query}"), None).await;
            assert_eq!(response.status(), StatusCode::OK, "list for user {user}");
            let page: Value = response.json().await.expect("page JSON");
            all.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
                None => return all,
            }
        }
    }

    /// Runs one sequence against the model.
    async fn run(&self, ops: Vec<Op>) {
        for table in ["task", "task_change", "task_idempotency"] {
            self.app.db.execute(&format!(r#"DELETE FROM "{table}""#), vec![]).await;
        }
        let mut model: BTreeMap<i64, Known> = BTreeMap::new();
        let mut seen: Vec<i64> = Vec::new();
        // Every id ever created in the case, with its owner; each user's keys (key → the
        // title sent and the id answered); each user's sync cursor and synced copy.
        let mut owners: BTreeMap<i64, usize> = BTreeMap::new();
        let mut keys: BTreeMap<(usize, u8), (String, i64)> = BTreeMap::new();
        let mut cursors: [Option<String>; 2] = [None, None];
        let mut mirrors: [BTreeMap<i64, Value>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut streams = [self.users[0].events(None).await, self.users[1].events(None).await];
        let pick = |seen: &Vec<i64>, n: usize| if seen.is_empty() { 1 } else { seen[n % seen.len()] };

        for (step, op) in ops.into_iter().enumerate() {
            let context = format!("step {step}: {op:?}");
            match op {
                Op::Create { user, title } => {
                    let response = self.send(user, Method::POST, TASKS, Some(json!({"title": title}))).await;
                    assert_eq!(response.status(), StatusCode::CREATED, "{context}");
                    let task: Value = response.json().await.expect("task JSON");
                    assert_eq!(task["owner_id"], self.users[user].id.as_str(), "{context}: owner from the session");
                    let id = id_of(&task);
                    model.insert(id, Known { owner: user, title: title.trim().to_owned(), done: false });
                    owners.insert(id, user);
                    seen.push(id);
                }
                Op::CreateKeyed { user, key, title } => {
                    let request = self.request(user, Method::POST, TASKS).header("idempotency-key", format!("k{key}"));
                    let response = request.json(&json!({"title": title})).send().await.expect("sent");
                    let trimmed = title.trim().to_owned();
                    match keys.get(&(user, key)) {
                        // The user's own earlier request with this key: replayed, or refused.
                        Some((sent, id)) if *sent == trimmed => {
                            assert_eq!(response.status(), StatusCode::CREATED, "{context}");
                            let task: Value = response.json().await.expect("task JSON");
                            assert_eq!((id_of(&task), task["title"].as_str()), (*id, Some(sent.as_str())), "{context}");
                        }
                        Some(_) => {
                            assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED").await;
                        }
                        // New for this user, whatever the other user did with the same key.
                        None => {
                            assert_eq!(response.status(), StatusCode::CREATED, "{context}");
                            let task: Value = response.json().await.expect("task JSON");
                            assert_eq!(task["owner_id"], self.users[user].id.as_str(), "{context}");
                            let id = id_of(&task);
                            model.insert(id, Known { owner: user, title: trimmed.clone(), done: false });
                            owners.insert(id, user);
                            keys.insert((user, key), (trimmed, id));
                            seen.push(id);
                        }
                    }
                }
                Op::Sync { user } => {
                    let (changes, cursor) = self.users[user].sync(cursors[user].as_deref(), Some(3)).await;
                    cursors[user] = Some(cursor);
                    for change in &changes {
                        let id = id_of(change);
                        assert_eq!(
                            owners.get(&id),
                            Some(&user),
                            "{context}: a change of another user's task: {change}"
                        );
                        if change["deleted"] == json!(true) {
                            mirrors[user].remove(&id);
                        } else {
                            mirrors[user].insert(id, change["task"].clone());
                        }
                    }
                    let synced: Vec<(i64, String, bool)> = mirrors[user]
                        .iter()
                        .map(|(id, task)| {
                            (
                                *id,
                                task["title"].as_str().expect("title").to_owned(),
                                task["is_completed"] == json!(true),
                            )
                        })
                        .collect();
                    let expected: Vec<(i64, String, bool)> = model
                        .iter()
                        .filter(|(_, known)| known.owner == user)
                        .map(|(id, known)| (*id, known.title.clone(), known.done))
                        .collect();
                    assert_eq!(synced, expected, "{context}: the synced copy is the user's tasks");
                }
                Op::Get { user, pick: n } => {
                    let id = pick(&seen, n);
                    let response = self.send(user, Method::GET, &task_path(id), None).await;
                    match model.get(&id).filter(|known| known.owner == user) {
                        Some(known) => {
                            assert_eq!(response.status(), StatusCode::OK, "{context}");
                            let task: Value = response.json().await.expect("task JSON");
                            assert_eq!(
                                (task["title"].as_str(), task["is_completed"].as_bool()),
                                (Some(known.title.as_str()), Some(known.done)),
                                "{context}"
                            );
                        }
                        None => {
                            assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
                        }
                    }
                }
                Op::Patch { user, pick: n, done } => {
                    let id = pick(&seen, n);
                    let before = self.app.db.task_row(id).await;
                    let response =
                        self.send(user, Method::PATCH, &task_path(id), Some(json!({"is_completed": done}))).await;
                    self.expect_write(&mut model, id, user, response, before, &context, |known| known.done = done)
                        .await;
                }
                Op::Put { user, pick: n, title } => {
                    let id = pick(&seen, n);
                    let before = self.app.db.task_row(id).await;
                    let body = json!({"title": title, "is_completed": false});
                    let response = self.send(user, Method::PUT, &task_path(id), Some(body)).await;
                    let trimmed = title.trim().to_owned();
                    self.expect_write(&mut model, id, user, response, before, &context, |known| {
                        known.title = trimmed;
                        known.done = false;
                    })
                    .await;
                }
                Op::Delete { user, pick: n } => {
                    let id = pick(&seen, n);
                    let before = self.app.db.task_row(id).await;
                    let response = self.send(user, Method::DELETE, &task_path(id), None).await;
                    if model.get(&id).is_some_and(|known| known.owner == user) {
                        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{context}");
                        model.remove(&id);
                        assert_eq!(self.app.db.task_row(id).await, None, "{context}: row deleted");
                    } else {
                        assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
                        assert_eq!(self.app.db.task_row(id).await, before, "{context}: row untouched");
                    }
                }
                Op::List { user, limit } => {
                    let listed = self.list_all(user, limit).await;
                    let expected: Vec<i64> =
                        model.iter().rev().filter(|(_, known)| known.owner == user).map(|(id, _)| *id).collect();
                    assert_eq!(ids(&listed), expected, "{context}: exactly the user's own tasks, newest first");
                }
            }
        }
        self.assert_table_matches(&model).await;
        for (user, stream) in streams.iter_mut().enumerate() {
            self.assert_only_own_events(user, stream, &owners).await;
        }
    }

    /// Every event a user's stream carried during the case was about one of their own tasks.
    async fn assert_only_own_events(&self, user: usize, stream: &mut EventReader, owners: &BTreeMap<i64, usize>) {
        loop {
            match stream.next(std::time::Duration::from_millis(200)).await {
                Next::Event(event) => {
                    let id = id_of(&event.data);
                    assert_eq!(owners.get(&id), Some(&user), "user {user}'s stream carried {:?}", event.data);
                }
                Next::Timeout => return,
                Next::Ended => panic!("user {user}'s stream ended"),
            }
        }
    }

    /// A PATCH or PUT: applied to the model if the user owns the task, else a 404 that changed
    /// nothing.
    #[expect(clippy::too_many_arguments, reason = "one call site pair; a struct would only rename them")]
    async fn expect_write(
        &self,
        model: &mut BTreeMap<i64, Known>,
        id: i64,
        user: usize,
        response: Response,
        before: Option<Value>,
        context: &str,
        apply: impl FnOnce(&mut Known),
    ) {
        match model.get_mut(&id).filter(|known| known.owner == user) {
            Some(known) => {
                assert_eq!(response.status(), StatusCode::OK, "{context}");
                apply(known);
                let task: Value = response.json().await.expect("task JSON");
                assert_eq!(task["title"].as_str(), Some(known.title.as_str()), "{context}");
                assert_eq!(task["is_completed"].as_bool(), Some(known.done), "{context}");
            }
            None => {
                assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
                assert_eq!(self.app.db.task_row(id).await, before, "{context}: row untouched");
            }
        }
    }

    async fn assert_table_matches(&self, model: &BTreeMap<i64, Known>) {
        let rows = self.app.db.task_rows().await;
        let stored: Vec<(i64, String, String, bool)> = rows
            .iter()
            .map(|row| {
                let id = row["id"].as_i64().expect("id");
                let owner = row["owner_id"].as_str().expect("owner").to_owned();
                let title = row["title"].as_str().expect("title").to_owned();
                (id, owner, title, row["is_completed"].as_bool().expect("flag"))
            })
            .collect();
        let expected: Vec<(i64, String, String, bool)> = model
            .iter()
            .map(|(id, known)| (*id, self.users[known.owner].id.clone(), known.title.clone(), known.done))
            .collect();
        assert_eq!(stored, expected, "the table holds exactly what the model says");
    }
}

#[test]
fn two_users_interleaving_at_random_never_reach_each_others_tasks() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // Each case opens a stream per user; a closed one frees its place only once the server
    // writes to it again.
    let app = runtime.block_on(TestApp::builder().var("TASKS_EVENTS_PER_USER", "100").spawn());
    let pair = runtime.block_on(async {
        let users = [User::sign_up(&app, "alice@example.com").await, User::sign_up(&app, "bob@example.com").await];
        Pair { app: &app, users }
    });
    // Modest on purpose: every case is a few dozen real HTTP requests against a real database.
    let config = Config { cases: 16, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);

    let result = runner.run(&prop::collection::vec(op(), 8..=24), |ops| {
        runtime.block_on(pair.run(ops));
        Ok(())
    });

    if let Err(failure) = result {
        panic!("{failure}");
    }
}
