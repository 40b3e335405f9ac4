//! The built `api` binary: configuration errors, start-up, and graceful shutdown on SIGTERM.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::Duration,
};

use crate::support::{
    db::TestDatabase,
    server::{Env, Server, api_binary},
};

#[test]
fn bad_configuration_is_reported_by_variable_name_with_a_nonzero_exit() {
    let output = Command::new(api_binary())
        .env_clear()
        .env("APP_ENV", "production")
        .env("PORT", "not-a-port")
        .env("LOG_FORMAT", "xml")
        .env("DATA_DIR", std::env::temp_dir())
        .output()
        .expect("binary runs");
    assert!(!output.status.success(), "exit status {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in ["AUTH_SECRET", "PORT", "LOG_FORMAT"] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
}

#[test]
fn a_short_secret_is_refused() {
    let output = Command::new(api_binary()).env_clear().env("AUTH_SECRET", "too-short").output().expect("binary runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("AUTH_SECRET: must be at least 32 characters"));
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let store = TestDatabase::create().await;
    let mut server = Server::start(&Env::for_binary(&store), store.dir.path());
    assert!(server.output().contains("listening on"));

    // Start a request whose body is still arriving when the signal lands.
    let body = br#"{"email":"slow@example.com","password":"whatever-password"}"#;
    let mut stream = TcpStream::connect(&server.addr).expect("connects");
    write!(
        stream,
        "POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers sent");
    stream.write_all(&body[..10]).expect("part of the body sent");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[10..]).expect("rest of the body sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(response.starts_with("HTTP/1.1 "), "a complete response: {response}");
    assert!(response.contains("application/json"), "{response}");

    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(TcpStream::connect(&server.addr).is_err(), "no longer accepting connections");
}

/// SIGTERM the moment `listening on` is printed: the handlers must already be installed then
/// (they were installed only when the serve loop first polled its shutdown future, and a signal
/// in between killed the process by the signal instead of a graceful exit; CI hit it once, and
/// with the machine's cores kept busy the old code failed this test in 6 runs of 6). The window
/// is short, so the test tries a few times.
#[tokio::test]
async fn sigterm_right_after_listening_is_a_graceful_exit() {
    let store = TestDatabase::create().await;
    for attempt in 0..5 {
        let mut server = Server::start(&Env::for_binary(&store), store.dir.path());
        server.signal("TERM");
        let status = server.wait_exit(Duration::from_secs(20));
        let output = server.output();
        assert!(status.success(), "attempt {attempt}: exit status {status:?}\n{output}");
        assert!(output.contains("shut down"), "attempt {attempt}: {output}");
    }
}
