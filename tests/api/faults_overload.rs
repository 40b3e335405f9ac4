//! A sign-in storm (issue 7, "Overload"): 1,000 concurrent sign-ins against the built binary
//! with `HASH_CONCURRENCY=2` and `HASH_QUEUE=64`. Memory stays bounded (peak RSS from
//! `/proc/<pid>/status`), the excess is shed with 503 + `Retry-After`, nothing answers 500, and
//! other endpoints keep answering while the storm runs (a generous liveness bound only).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    db::TestDatabase,
    http::{ClientOptions, assert_unavailable},
    server::{Env, Server},
    users::{PASSWORD, User},
};

const STORM: usize = 1000;
/// Peak resident memory allowed during the storm (each scrypt hash needs 32 MiB).
const MEMORY_BOUND_KIB: u64 = 256 * 1024;
/// Liveness bound for requests made during the storm (not a latency target).
const LIVENESS: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sign_ins_are_shed_with_503_in_bounded_memory_while_other_endpoints_answer() {
    // Arrange: the binary with a small hashing pool, a user, and a client allowing 1,000 connections.
    let store = TestDatabase::create().await;
    let env =
        Env::for_binary(&store).with(&[("HASH_CONCURRENCY", "2"), ("HASH_QUEUE", "64"), ("DB_MAX_CONNECTIONS", "10")]);
    let server = Server::start(&env, store.dir.path());
    let account = User::sign_up(&server, "storm@example.com").await;
    let baseline_kib = server.vm_hwm_kib();
    let storm_client =
        Client::builder().timeout(Duration::from_secs(120)).pool_max_idle_per_host(STORM).build().expect("client");

    // Act: the storm, half with the right password and half with a wrong one.
    let shed_seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let storm: Vec<_> = (0..STORM)
        .map(|i| {
            let (http, url, email) =
                (storm_client.clone(), server.url("/api/auth/sign-in/email"), account.email.clone());
            let (shed_seen, done) = (Arc::clone(&shed_seen), Arc::clone(&done));
            tokio::spawn(async move {
                let password = if i % 2 == 0 { PASSWORD.to_owned() } else { format!("wrong-{i}-password") };
                let sent = http.post(url).json(&json!({"email": email, "password": password})).send().await;
                let outcome = match sent {
                    Ok(response) => {
                        let status = response.status();
                        let retry_after =
                            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let body = response.json::<Value>().await.unwrap_or(Value::Null);
                        if status == StatusCode::SERVICE_UNAVAILABLE {
                            shed_seen.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((status, retry_after, body, i % 2 == 0))
                    }
                    Err(err) => Err(err.to_string()),
                };
                done.fetch_add(1, Ordering::SeqCst);
                outcome
            })
        })
        .collect();

    // Assert: while the storm runs (load is being shed and admitted sign-ins are still
    // hashing), a session lookup and a task list answer, and succeed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while shed_seen.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no sign-in was shed (done: {})", done.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let probe = ClientOptions::default().timeout(Duration::from_secs(60)).build();
    let mut probe_latencies = Vec::new();
    let mut storm_pending = Vec::new();
    for round in 0..3 {
        for path in ["/api/auth/get-session", "/api/v1/tasks"] {
            let started = Instant::now();
            let response = probe
                .get(server.url(path))
                .header("authorization", account.authorization())
                .send()
                .await
                .unwrap_or_else(|err| panic!("{path} during the storm: {err}"));
            let elapsed = started.elapsed();
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert_eq!(status, StatusCode::OK, "{path} during the storm (round {round}): {body}");
            match path {
                "/api/auth/get-session" => assert_eq!(body["user"]["id"], account.id.as_str(), "{body}"),
                _ => assert!(body["items"].is_array(), "{body}"),
            }
            assert!(elapsed < LIVENESS, "{path} took {elapsed:?} during the storm");
            probe_latencies.push((path, elapsed));
            storm_pending.push(STORM - done.load(Ordering::SeqCst));
        }
    }
    assert!(
        storm_pending.first().is_some_and(|&pending| pending > 0),
        "the probes ran while the storm was still running"
    );

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut transport_errors = Vec::new();
    for request in storm {
        match request.await.expect("storm task") {
            Ok((status, retry_after, body, right_password)) => {
                *statuses.entry(status.as_u16()).or_default() += 1;
                match status {
                    StatusCode::OK => assert!(right_password, "a wrong password signed in: {body}"),
                    StatusCode::UNAUTHORIZED => {
                        assert!(!right_password, "the right password was refused: {body}");
                        assert_eq!(body["code"], "INVALID_EMAIL_OR_PASSWORD");
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_unavailable(status, retry_after.as_deref(), &body, "a shed sign-in");
                    }
                    other => panic!("a sign-in during the storm answered {other}: {body}"),
                }
            }
            Err(err) => transport_errors.push(err),
        }
    }
    let peak_kib = server.vm_hwm_kib();

    // Assert: every request got an HTTP answer; the excess was shed; memory stayed bounded.
    assert!(
        transport_errors.is_empty(),
        "{} requests got no HTTP answer: {:?}",
        transport_errors.len(),
        &transport_errors[..transport_errors.len().min(5)]
    );
    let admitted = statuses.get(&200).copied().unwrap_or(0) + statuses.get(&401).copied().unwrap_or(0);
    let shed = statuses.get(&503).copied().unwrap_or(0);
    assert_eq!(admitted + shed, STORM, "{statuses:?}");
    assert!(shed >= STORM / 2, "most of the storm is shed with 503 (pool 2 + queue 64): {statuses:?}");
    assert!(admitted >= 2 + 64, "at least the pool and its queue are served: {statuses:?}");
    assert!(peak_kib <= MEMORY_BOUND_KIB, "peak RSS {} MiB exceeds {} MiB", peak_kib / 1024, MEMORY_BOUND_KIB / 1024);
    eprintln!(
        "overload: {STORM} concurrent sign-ins -> {statuses:?}; VmHWM {:.1} MiB (before the storm {:.1} MiB); probes during the storm: {probe_latencies:?} with {storm_pending:?} sign-ins pending",
        peak_kib as f64 / 1024.0,
        baseline_kib as f64 / 1024.0
    );
}

#[tokio::test]
async fn unique_unknown_paths_under_api_auth_do_not_grow_memory() {
    // Issue 13, finding 1: 2,000 requests to unique 60 KB paths under /api/auth (all 404) kept
    // about 120 MiB in the rate limiter, one entry per path. Unknown paths now share one bucket.
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_MAX", "1000000")]);
    let server = Server::start(&env, store.dir.path());
    let client = Client::new();
    let long = "x".repeat(60 * 1024);
    let probe = |n: usize| client.get(server.url(&format!("/api/auth/{n}-{long}"))).send();
    for n in 0..50 {
        assert_eq!(probe(n).await.expect("answered").status(), StatusCode::NOT_FOUND, "warm-up {n}");
    }
    let baseline_kib = server.vm_hwm_kib();

    for n in 50..1050 {
        assert_eq!(probe(n).await.expect("answered").status(), StatusCode::NOT_FOUND, "request {n}");
    }

    let grown_kib = server.vm_hwm_kib().saturating_sub(baseline_kib);
    eprintln!("peak RSS grew by {grown_kib} KiB over 1,000 unique 60 KB paths");
    assert!(grown_kib < 16 * 1024, "memory grew by {grown_kib} KiB (60 MB of unique paths were sent)");
}
