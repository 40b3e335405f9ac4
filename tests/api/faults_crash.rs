//! A crash mid-load (issue 7, "Crash"): the built binary is `kill -9`ed while several clients
//! create and replace tasks; restarted on the same database, it must hold every acknowledged
//! write with its acknowledged content, and nothing half-written.
//!
//! Each replace sets title, description and completion together, in a pattern the test can check
//! (`description == title + " body"`, `is_completed` = odd version), so a torn row shows.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    db::{TestDatabase, TestDb, is_true, postgres_url},
    http::ClientOptions,
    server::{Env, Server},
    users::User,
};

const CLIENTS: usize = 6;
/// Acknowledged writes before the kill.
const ACKS_BEFORE_KILL: usize = 60;

#[derive(Clone, Debug, PartialEq)]
struct Version {
    title: String,
    description: String,
    is_completed: bool,
}

impl Version {
    fn new(client: usize, serial: usize, version: usize) -> Self {
        let title = format!("crash-{client}-{serial}-v{version}");
        Self { description: format!("{title} body"), title, is_completed: version % 2 == 1 }
    }

    fn body(&self) -> Value {
        json!({"title": self.title, "description": self.description, "is_completed": self.is_completed})
    }

    fn of_row(row: &Value) -> Self {
        Self {
            title: row["title"].as_str().expect("title is text").to_owned(),
            description: row["description"].as_str().unwrap_or_default().to_owned(),
            is_completed: is_true(&row["is_completed"]),
        }
    }

    /// Whether a stored row has the shape every write gives it.
    fn is_whole(&self) -> bool {
        let Some(version) = self.title.rsplit_once("-v").and_then(|(_, v)| v.parse::<usize>().ok()) else {
            return false;
        };
        self.title.starts_with("crash-")
            && self.description == format!("{} body", self.title)
            && self.is_completed == (version % 2 == 1)
    }
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged content of each task, and an unacknowledged replace in flight.
    tasks: HashMap<i64, (Version, Option<Version>)>,
    /// Creates sent but not acknowledged (in flight when the server died).
    pending_creates: Vec<Version>,
    acks: usize,
}

async fn client_loop(client: usize, base: String, authorization: String, ledger: Arc<Mutex<Ledger>>) {
    let http = ClientOptions::default().timeout(Duration::from_secs(20)).build();
    let mut own: Vec<(i64, usize, usize)> = Vec::new(); // (id, serial, version)
    for step in 0.. {
        if own.len() < 3 || step % 2 == 0 {
            let serial = step;
            let version = Version::new(client, serial, 0);
            ledger.lock().expect("ledger").pending_creates.push(version.clone());
            let sent = http
                .post(format!("{base}/api/v1/tasks"))
                .header("authorization", &authorization)
                .json(&json!({"title": version.title, "description": version.description}))
                .send()
                .await;
            let Ok(response) = sent else { return };
            let status = response.status();
            let Ok(body) = response.json::<Value>().await else { return };
            assert_eq!(status, StatusCode::CREATED, "create while the server runs: {body}");
            let id = body["id"].as_i64().expect("id");
            let mut ledger = ledger.lock().expect("ledger");
            ledger.pending_creates.retain(|v| *v != version);
            ledger.tasks.insert(id, (version, None));
            ledger.acks += 1;
            own.push((id, serial, 0));
        } else {
            let slot = step % own.len();
            let (id, serial, version) = own[slot];
            let next = Version::new(client, serial, version + 1);
            ledger.lock().expect("ledger").tasks.get_mut(&id).expect("own task").1 = Some(next.clone());
            let sent = http
                .put(format!("{base}/api/v1/tasks/{id}"))
                .header("authorization", &authorization)
                .json(&next.body())
                .send()
                .await;
            let Ok(response) = sent else { return };
            let status = response.status();
            let Ok(body) = response.json::<Value>().await else { return };
            assert_eq!(status, StatusCode::OK, "replace while the server runs: {body}");
            let mut ledger = ledger.lock().expect("ledger");
            *ledger.tasks.get_mut(&id).expect("own task") = (next, None);
            ledger.acks += 1;
            own[slot].2 = version + 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_no_acknowledged_write_and_leaves_nothing_half_written() {
    // Arrange: the binary, a user, and a create/replace load.
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store);
    let mut server = Server::start(&env, store.dir.path());
    let account = User::sign_up(&server, "crash@example.com").await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client_loop(c, server.base.clone(), account.authorization(), Arc::clone(&ledger))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.lock().expect("ledger").acks < ACKS_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Act: kill -9 mid-load, then restart on the same database.
    server.kill_hard();
    for client in clients {
        client.await.expect("a load client panicked");
    }
    let ledger = Arc::try_unwrap(ledger).ok().expect("sole owner").into_inner().expect("ledger");
    let restarted = Server::start(&env, store.dir.path());

    // Assert through the API: every acknowledged task, with acknowledged (or in-flight) content.
    let http = ClientOptions::default().timeout(Duration::from_secs(20)).build();
    let mut listed: HashMap<i64, Version> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = http
            .get(restarted.url("/api/v1/tasks"))
            .header("authorization", account.authorization())
            .query(&[("limit", "100")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let response = request.send().await.expect("list answered");
        assert_eq!(response.status(), StatusCode::OK, "the session survived the crash");
        let page: Value = response.json().await.expect("json");
        for item in page["items"].as_array().expect("items") {
            listed.insert(item["id"].as_i64().expect("id"), Version::of_row(item));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let check = |id: i64, found: Option<&Version>, source: &str| {
        let (acked, in_flight) = &ledger.tasks[&id];
        let found = found.unwrap_or_else(|| panic!("{source}: acknowledged task {id} ({}) is missing", acked.title));
        assert!(
            found == acked || in_flight.as_ref() == Some(found),
            "{source}: task {id} holds {found:?}; acknowledged {acked:?}, in flight {in_flight:?}"
        );
    };
    for &id in ledger.tasks.keys() {
        check(id, listed.get(&id), "API");
    }

    // Assert in the database: the same, plus no torn or orphan row.
    let db = TestDb::connect(&store.url).await;
    let stored = db.query(r#"SELECT * FROM "task" ORDER BY "id""#, vec![]).await;
    let by_id: HashMap<i64, Version> =
        stored.iter().map(|row| (row["id"].as_i64().expect("id"), Version::of_row(row))).collect();
    for &id in ledger.tasks.keys() {
        check(id, by_id.get(&id), "database");
    }
    let mut unacknowledged = HashSet::new();
    for row in &stored {
        let id = row["id"].as_i64().expect("id");
        let version = Version::of_row(row);
        assert!(version.is_whole(), "task {id} is half-written: {row}");
        assert_eq!(row["owner_id"], account.id.as_str(), "task {id}: {row}");
        // Both backends read back fixed-width RFC 3339 text, so text order is time order.
        assert!(row["created_at"].as_str() <= row["updated_at"].as_str(), "task {id}: {row}");
        if !ledger.tasks.contains_key(&id) {
            assert!(
                ledger.pending_creates.contains(&version),
                "task {id} was never sent as an in-flight create: {row}"
            );
            assert!(unacknowledged.insert(version.title.clone()), "in-flight create stored twice: {row}");
        }
    }
    assert_eq!(stored.len(), ledger.tasks.len() + unacknowledged.len(), "row count");
    assert_eq!(listed.len(), stored.len(), "the API lists exactly the stored rows");
    if postgres_url().is_none() {
        let integrity = db.query("PRAGMA integrity_check", vec![]).await;
        assert_eq!(integrity[0]["integrity_check"], "ok", "SQLite file after kill -9: {integrity:?}");
    }
    eprintln!(
        "crash: {} acknowledged tasks all intact after kill -9 ({} writes acknowledged, {} in-flight creates found committed, {} in-flight replaces)",
        ledger.tasks.len(),
        ledger.acks,
        unacknowledged.len(),
        ledger.tasks.values().filter(|(_, pending)| pending.is_some()).count()
    );
}
