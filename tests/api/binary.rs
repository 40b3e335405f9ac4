//! The built `api` binary: configuration errors, start-up, and graceful shutdown on SIGTERM.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::helpers::{SECRET, TestDatabase};

/// Path to a freshly built `api` binary (built once per test run, same profile as the tests).
pub fn api_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "api", "--bin", "api"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the api binary failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")), PathBuf::from);
            target.join("debug").join("api")
        })
        .clone()
}

/// A running `api` process and the address it logged.
pub struct Running {
    /// The child process.
    pub child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Every line it printed so far (stdout).
    pub lines: Vec<String>,
}

impl Drop for Running {
    // A test that fails midway must not leave its server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts the binary with `envs` and waits for its `listening on` line.
pub fn start(envs: &[(&str, &str)]) -> Running {
    let mut child = Command::new(api_binary())
        .env_clear()
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child's stdout was not captured");
    };
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).unwrap_or(0);
        if read == 0 || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server exited or hung before listening: {lines:?}");
        }
        lines.push(line.clone());
        if let Some(pos) = line.find("listening on http://") {
            let addr: String = line[pos + "listening on http://".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
                .collect();
            // Keep draining the log so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                let _ = reader.read_to_string(&mut sink);
            });
            return Running { child, addr, lines };
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([format!("-{name}"), child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
}

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
    let data_dir = store.dir.path().display().to_string();
    let mut running = start(&[
        ("AUTH_SECRET", SECRET),
        ("PORT", "0"),
        ("DATABASE_URL", &store.url),
        ("DATA_DIR", &data_dir),
        ("LOG_FORMAT", "json"),
    ]);
    assert!(running.lines.iter().any(|l| l.contains("listening on")));

    // Start a request whose body is still arriving when the signal lands.
    let body = br#"{"email":"slow@example.com","password":"whatever-password"}"#;
    let mut stream = TcpStream::connect(&running.addr).expect("connects");
    write!(
        stream,
        "POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers sent");
    stream.write_all(&body[..10]).expect("part of the body sent");
    std::thread::sleep(Duration::from_millis(200));
    signal(&running.child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[10..]).expect("rest of the body sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(response.starts_with("HTTP/1.1 "), "a complete response: {response}");
    assert!(response.contains("application/json"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(TcpStream::connect(&running.addr).is_err(), "no longer accepting connections");
}
