//! Several instances on one PostgreSQL database behind a real load balancer (issue 14, point 4):
//! HAProxy round-robin with `deploy/haproxy.cfg` in front of three instances of the binary.
//!
//! Sessions cross instances and end everywhere at once; If-Match conflicts are detected across
//! instances; an instance killed with `kill -9` under load is taken out by the balancer with no
//! acknowledged write lost. PostgreSQL only: instances share state through it (the SQLite file
//! is for one process, and has no cross-process cache invalidation).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    balancer::Cluster,
    db::{TestDatabase, TestDb, postgres_url},
    http::plain_client,
    server::{Env, Service},
    tasks::{TASKS, etag, id_of, task_path},
    users::{Credential, PASSWORD, SIGN_IN, SIGN_OUT, User, get_session, session_for_bearer},
};

/// Whether this run has a PostgreSQL server; the cases below need one.
fn on_postgres(test: &str) -> bool {
    let on = postgres_url().is_some();
    if !on {
        eprintln!("{test}: PostgreSQL only (set TEST_DATABASE_URL)");
    }
    on
}

/// A request from a cookie-less client presenting `user`'s bearer token, to one instance.
fn as_user(at: &impl Service, user: &User, method: Method, path: &str) -> reqwest::RequestBuilder {
    plain_client().request(method, format!("{}{path}", at.base())).bearer_auth(&user.bearer)
}

/// Asserts that `bearer` is a live session on every instance (each then has it cached).
async fn live_everywhere(cluster: &Cluster, bearer: &str, what: &str) {
    for (n, instance) in cluster.instances.iter().enumerate() {
        let body = session_for_bearer(instance, bearer).await;
        assert!(body["session"].is_object(), "{what}: instance {n} serves the session: {body}");
    }
}

/// Asserts that `bearer` is refused by every instance on its very next request.
async fn ended_everywhere(cluster: &Cluster, bearer: &str, what: &str) {
    for (n, instance) in cluster.instances.iter().enumerate() {
        let response = get_session(instance, &Credential::Bearer(bearer.to_owned())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body, Value::Null, "{what}: instance {n} still serves the ended session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_balancer_sessions_cross_instances_and_end_on_all_at_once() {
    if !on_postgres("scaleout_balancer_sessions") {
        return;
    }
    let database = TestDatabase::create().await;
    let cluster = Cluster::start(&database, &Env::for_binary(&database));
    let balancer = &cluster.balancer;

    // A session made through the balancer (so on whichever instance) works through every one,
    // directly and through the balancer's rotation.
    let user = User::sign_up(balancer, "crossing@example.com").await;
    live_everywhere(&cluster, &user.bearer, "after sign-up").await;
    for _ in 0..Cluster::INSTANCES * 2 {
        assert!(session_for_bearer(balancer, &user.bearer).await["session"].is_object());
    }

    // Several rounds, each ending sessions that every instance holds in its cache.
    for round in 0..5 {
        // Sign-out through the balancer.
        let session = User::sign_in(balancer, &user.email, PASSWORD).await;
        live_everywhere(&cluster, &session.bearer, "before sign-out").await;
        let out = as_user(balancer, &session, Method::POST, SIGN_OUT).json(&json!({})).send().await.expect("sent");
        assert_eq!(out.status(), StatusCode::OK, "round {round}: sign-out");
        ended_everywhere(&cluster, &session.bearer, &format!("round {round}: sign-out")).await;

        // Revocation of another session, on each instance in turn.
        let victim = User::sign_in(balancer, &user.email, PASSWORD).await;
        live_everywhere(&cluster, &victim.bearer, "before revocation").await;
        let revoking = &cluster.instances[round % Cluster::INSTANCES];
        let revoke = as_user(revoking, &user, Method::POST, "/api/auth/revoke-session")
            .json(&json!({"token": victim.token}))
            .send()
            .await
            .expect("sent");
        assert_eq!(revoke.status(), StatusCode::OK, "round {round}: revoke-session");
        ended_everywhere(&cluster, &victim.bearer, &format!("round {round}: revoke-session")).await;
    }
    // The revoking user's own session lived through all of it.
    live_everywhere(&cluster, &user.bearer, "the revoking session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_balancer_if_match_conflicts_are_detected_across_instances() {
    if !on_postgres("scaleout_balancer_if_match") {
        return;
    }
    let database = TestDatabase::create().await;
    let cluster = Cluster::start(&database, &Env::for_binary(&database));
    let [one, two, three] = [&cluster.instances[0], &cluster.instances[1], &cluster.instances[2]];
    let user = User::sign_up(&cluster.balancer, "etags@example.com").await;

    let created = as_user(one, &user, Method::POST, TASKS).json(&json!({"title": "v0"})).send().await.expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let first = etag(&created);
    let id = id_of(&created.json::<Value>().await.expect("task"));

    // Replaced on the second instance with the first's tag: accepted, a new tag.
    let replaced = as_user(two, &user, Method::PUT, &task_path(id))
        .header("if-match", &first)
        .json(&json!({"title": "v1", "description": null, "is_completed": false}))
        .send()
        .await
        .expect("sent");
    assert_eq!(replaced.status(), StatusCode::OK);
    let second = etag(&replaced);
    assert_ne!(first, second);

    // The stale tag is refused by the third and by the first instance, for a write and a delete.
    let stale = as_user(three, &user, Method::PATCH, &task_path(id))
        .header("if-match", &first)
        .json(&json!({"title": "lost update"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let stale_delete =
        as_user(one, &user, Method::DELETE, &task_path(id)).header("if-match", &first).send().await.expect("sent");
    assert_eq!(stale_delete.status(), StatusCode::PRECONDITION_FAILED);
    let read = as_user(three, &user, Method::GET, &task_path(id)).send().await.expect("sent");
    assert_eq!(etag(&read), second, "every instance reads the current tag");

    // The same tag sent to the three instances at once: exactly one write wins.
    let mut racers = tokio::task::JoinSet::new();
    for (n, instance) in cluster.instances.iter().enumerate() {
        let request = as_user(instance, &user, Method::PATCH, &task_path(id))
            .header("if-match", &second)
            .json(&json!({"title": format!("racer {n}")}));
        racers.spawn(async move { request.send().await.expect("sent").status() });
    }
    let statuses: Vec<StatusCode> = racers.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count(), 2, "{statuses:?}");
}

/// One create sent through the balancer during the kill test.
struct Outcome {
    started: Instant,
    finished: Instant,
    title: String,
    /// `Ok(status)` of an answer, `Err` for a transport error.
    result: Result<StatusCode, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_balancer_kill_9_under_load_is_taken_out_with_no_acknowledged_write_lost() {
    if !on_postgres("scaleout_balancer_kill_9") {
        return;
    }
    const CLIENTS: usize = 4;
    let database = TestDatabase::create().await;
    let mut cluster = Cluster::start(&database, &Env::for_binary(&database));
    let user = Arc::new(User::sign_up(&cluster.balancer, "load@example.com").await);
    let base = cluster.balancer.base().to_owned();
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (user, base, outcomes, stop) =
                (Arc::clone(&user), base.clone(), Arc::clone(&outcomes), Arc::clone(&stop));
            tokio::spawn(async move {
                let http = plain_client();
                let mut serial = 0;
                while !stop.load(Ordering::Relaxed) {
                    serial += 1;
                    let title = format!("load-{client}-{serial}");
                    let started = Instant::now();
                    let result = http
                        .post(format!("{base}{TASKS}"))
                        .bearer_auth(&user.bearer)
                        .timeout(Duration::from_secs(10))
                        .json(&json!({"title": title}))
                        .send()
                        .await
                        .map(|response| response.status())
                        .map_err(|err| err.to_string());
                    let outcome = Outcome { started, finished: Instant::now(), title, result };
                    outcomes.lock().expect("outcomes").push(outcome);
                }
            })
        })
        .collect();

    // Load on all three, then one is killed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    cluster.instances[1].kill_hard();
    let down_at = tokio::task::block_in_place(|| {
        cluster.balancer.wait_until(Duration::from_secs(10), "api2 DOWN", |servers| {
            servers.iter().any(|(name, status)| name == "api2" && status.starts_with("DOWN"))
        })
    });
    // Load on the two that are left.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    let acknowledged: Vec<&Outcome> =
        outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|s| s.is_success())).collect();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.result.as_ref().is_ok_and(|s| s.is_success())).collect();
    // Failures only for requests in flight or sent between the kill and the take-out.
    for failure in &failed {
        assert!(
            failure.finished >= killed_at && failure.started <= down_at,
            "a request failed outside the window between the kill and the take-out: {:?} (started {:?} after the kill)",
            failure.result,
            failure.started.saturating_duration_since(killed_at)
        );
        if let Ok(status) = failure.result {
            assert!(
                matches!(status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE),
                "only the balancer's 502/503 for the dead instance: {status}"
            );
        }
    }
    let after = acknowledged.iter().filter(|o| o.started > down_at).count();
    assert!(after >= 10, "the two remaining instances serve after the take-out ({after} creates)");
    // Every acknowledged create is in the database.
    let db = TestDb::connect(&database.url).await;
    let stored: std::collections::HashSet<String> = db
        .query(r#"SELECT "title" FROM "task""#, vec![])
        .await
        .iter()
        .map(|row| row["title"].as_str().expect("title").to_owned())
        .collect();
    for ack in &acknowledged {
        assert!(stored.contains(&ack.title), "acknowledged create {} is not in the database", ack.title);
    }
    eprintln!(
        "kill -9: {} creates acknowledged ({after} after the take-out), all stored; {} failed, all in the {:?} between the kill and the take-out; status before the check: {}",
        acknowledged.len(),
        failed.len(),
        down_at - killed_at,
        cluster.balancer.status("api2"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaleout_balancer_the_sign_in_limit_holds_across_instances() {
    if !on_postgres("scaleout_balancer_sign_in_limit") {
        return;
    }
    let database = TestDatabase::create().await;
    // Rate limits on, counted in the database (the PostgreSQL default); the balancer is the
    // trusted proxy that names the client.
    let env = Env::for_binary(&database).with(&[("RATE_LIMIT_ENABLED", "true"), ("TRUSTED_PROXIES", "127.0.0.1/32")]);
    let cluster = Cluster::start(&database, &env);
    let attempt = || async {
        plain_client()
            .post(format!("{}{SIGN_IN}", cluster.balancer.base()))
            .json(&json!({"email": "target@example.com", "password": "wrong-password"}))
            .send()
            .await
            .expect("sent")
            .status()
    };
    // Round-robin spreads these over the three instances; together they allow three.
    let mut statuses = Vec::new();
    for _ in 0..Cluster::INSTANCES * 2 {
        statuses.push(attempt().await);
    }
    assert_eq!(
        statuses,
        [[StatusCode::UNAUTHORIZED; 3], [StatusCode::TOO_MANY_REQUESTS; 3]].concat(),
        "three attempts in all, then 429 from every instance"
    );

    // The per-account throttle: one account attacked from a new address each time (the
    // balancer passes the client's `X-Forwarded-For` on, and the instances trust the balancer).
    let url = format!("{}{SIGN_IN}", cluster.balancer.base());
    let from = |n: usize| {
        plain_client()
            .post(&url)
            .header("x-forwarded-for", format!("198.18.0.{}", n + 1))
            .json(&json!({"email": "stuffed@example.com", "password": "wrong-password"}))
            .send()
    };
    for n in 0..5 {
        assert_eq!(from(n).await.expect("sent").status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    for n in 5..5 + Cluster::INSTANCES {
        let refused = from(n).await.expect("sent");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "attempt {n}, on another instance");
        assert!(refused.headers().contains_key("retry-after"));
    }
}
