//! SIGTERM during load (issue 7, "Shutdown"): sign-ins in flight when the signal lands finish
//! with proper responses, the listener closes (new connections are refused) while they finish,
//! and the process exits 0.
//!
//! `HASH_CONCURRENCY=1` makes the sign-ins queue for the hashing pool (about 0.1 s each), so when
//! the first answer arrives the others are certainly accepted and waiting inside the server.

use std::{
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    db::TestDatabase,
    http::plain_client,
    server::{Env, Server},
    users::{PASSWORD, User},
};

/// Concurrent sign-ins in flight.
const IN_FLIGHT: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_finishes_in_flight_requests_refuses_new_connections_and_exits_zero() {
    // Arrange: the binary with a one-thread hashing pool, and a user.
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[("HASH_CONCURRENCY", "1"), ("HASH_QUEUE", "64")]);
    let mut server = Server::start(&env, store.dir.path());
    let account = User::sign_up(&server, "shutdown@example.com").await;

    // Act: many slow sign-ins at once, each on its own connection; SIGTERM once the first is done.
    let answered = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let url = server.url("/api/auth/sign-in/email");
            let email = account.email.clone();
            let answered = Arc::clone(&answered);
            tokio::spawn(async move {
                let http = plain_client();
                let response = http.post(url).json(&json!({"email": email, "password": PASSWORD})).send().await;
                answered.fetch_add(1, Ordering::SeqCst);
                let response = response.expect("an in-flight request gets a response, not a reset");
                let status = response.status();
                let token = response.headers().get("set-auth-token").is_some();
                (status, token, response.json::<Value>().await.expect("a complete JSON body"))
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no sign-in answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.signal("TERM");
    let signalled = Instant::now();

    // Assert: new connections are refused while the in-flight requests are still finishing.
    let refused_at = loop {
        if TcpStream::connect_timeout(&server.addr.parse().expect("addr"), Duration::from_millis(500)).is_err() {
            break Instant::now();
        }
        assert!(signalled.elapsed() < Duration::from_secs(5), "still accepting connections 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let still_in_flight = IN_FLIGHT - answered.load(Ordering::SeqCst);
    assert!(
        still_in_flight > 0,
        "the listener closed only after every request was answered (it must close first, then drain)"
    );

    // Assert: every in-flight sign-in completed properly.
    for request in requests {
        let (status, has_token, body) = request.await.expect("request task");
        assert_eq!(status, StatusCode::OK, "an in-flight sign-in completes: {body}");
        assert!(has_token, "with its set-auth-token header");
        assert_eq!(body["user"]["id"], account.id.as_str());
        assert!(body["token"].as_str().is_some_and(|t| t.len() == 32), "{body}");
    }

    // Assert: a clean exit.
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status after SIGTERM: {status:?}; output: {}", server.output());
    let output = server.output();
    assert!(output.contains("shut down"), "logs the end of the shutdown: {output}");
    eprintln!(
        "shutdown: listener closed {:?} after SIGTERM with {still_in_flight} of {IN_FLIGHT} sign-ins still in flight; all answered 200; exit 0",
        refused_at - signalled
    );
}
