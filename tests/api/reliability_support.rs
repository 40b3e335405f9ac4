//! Shared pieces of the fault, attack and log tests (issue 7): Better Auth's cookie signing
//! recomputed independently of the server, accounts signed up over HTTP, database snapshots for
//! "nothing changed" assertions, the built binary with its whole output captured, and a TCP proxy
//! that takes PostgreSQL "down" for one test without touching the shared server.

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Response, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

use crate::{
    binary::api_binary,
    helpers::{PASSWORD, SECRET, TestDatabase, header_str, rows, set_cookies},
};

/// The session cookie's name on plain-http deployments.
pub const SESSION_COOKIE: &str = "better-auth.session_token";

/// `value.base64(HMAC-SHA256(secret, value))`, Better Auth's signed cookie value.
pub fn sign_with(value: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    format!("{value}.{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A `Cookie` header presenting `token` signed with `secret`, exactly as Better Auth writes it.
pub fn cookie_for(token: &str, secret: &str) -> String {
    format!("{SESSION_COOKIE}={}", encode_uri_component(&sign_with(token, secret)))
}

/// [`cookie_for`] with the test server's secret.
pub fn forged_cookie(token: &str) -> String {
    cookie_for(token, SECRET)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A well-formed session token the server never issued: 32 characters of `[a-z0-9]`.
pub fn unissued_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A client without cookies or `Origin` (like curl or a native app), with a request timeout so a
/// hang fails the test instead of stalling it.
pub fn bare_client() -> Client {
    Client::builder().timeout(Duration::from_secs(30)).build().expect("client builds")
}

/// What one sign-up or sign-in hands a client.
#[derive(Clone, Debug)]
pub struct Account {
    /// The address signed up with.
    pub email: String,
    /// The raw session token (response body `token`).
    pub token: String,
    /// The `set-auth-token` header: the signed token, for `Authorization: Bearer`.
    pub bearer: String,
    /// `better-auth.session_token=<value>` from `Set-Cookie`, ready for a `Cookie` header.
    pub cookie: String,
    /// The user's id.
    pub user_id: String,
}

impl Account {
    /// `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.bearer)
    }
}

/// The `name=value` part of the session cookie set by a response.
pub fn session_cookie_pair(response: &Response) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .find(|pair| pair.starts_with(&format!("{SESSION_COOKIE}=")) && pair.len() > SESSION_COOKIE.len() + 1)
}

async fn account_from(response: Response, email: &str, what: &str) -> Account {
    let status = response.status();
    let bearer = header_str(&response, "set-auth-token");
    let cookie = session_cookie_pair(&response);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{what} of {email}: {body}");
    Account {
        email: email.to_owned(),
        token: body["token"].as_str().expect("token in body").to_owned(),
        bearer: bearer.expect("set-auth-token header"),
        cookie: cookie.expect("session cookie"),
        user_id: body["user"]["id"].as_str().expect("user id").to_owned(),
    }
}

/// Signs up `email` with [`PASSWORD`] through a cookie-less client.
pub async fn sign_up_account(base: &str, email: &str) -> Account {
    let response = bare_client()
        .post(format!("{base}/api/auth/sign-up/email"))
        .json(&json!({"name": "Reliability Test", "email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-up sent");
    account_from(response, email, "sign-up").await
}

/// Signs in through a cookie-less client.
pub async fn sign_in_account(base: &str, email: &str, password: &str) -> Account {
    let response = bare_client()
        .post(format!("{base}/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("sign-in sent");
    account_from(response, email, "sign-in").await
}

/// Asserts the service-unavailable answer: 503, JSON `SERVICE_UNAVAILABLE`, `Retry-After`.
pub fn check_unavailable(status: StatusCode, retry_after: Option<&str>, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{what}: {body}");
    let retry = retry_after.and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{what}: Retry-After is a positive number of seconds: {retry_after:?}");
}

/// The median of some durations.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2 } else { sorted[mid] }
}

// ---------------------------------------------------------------------------------------------
// Database snapshots
// ---------------------------------------------------------------------------------------------

/// Every row of every table the service writes, in a stable order: two snapshots are equal
/// exactly when nothing was written in between.
pub async fn snapshot(db: &DatabaseConnection) -> Value {
    let mut all = serde_json::Map::new();
    for (table, order) in [
        ("user", "\"id\""),
        ("session", "\"id\""),
        ("account", "\"id\""),
        ("verification", "\"id\""),
        ("task", "\"id\""),
    ] {
        let found = rows(db, &format!(r#"SELECT * FROM "{table}" ORDER BY {order}"#), vec![]).await;
        all.insert(table.to_owned(), Value::Array(found));
    }
    Value::Object(all)
}

/// A short description of how two snapshots differ (which tables, how many rows).
pub fn snapshot_diff(before: &Value, after: &Value) -> String {
    let mut out = Vec::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (table, rows_before) in b {
            let rows_after = &a[table];
            if rows_before != rows_after {
                out.push(format!("{table}: {rows_before} -> {rows_after}"));
            }
        }
    }
    out.join("; ")
}

// ---------------------------------------------------------------------------------------------
// The built binary, with everything it prints
// ---------------------------------------------------------------------------------------------

/// A running `api` process whose stdout and stderr are captured in full.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Environment for the binary on a test database: the test secret, an ephemeral port, quiet logs.
pub fn server_env(store: &TestDatabase) -> Vec<(String, String)> {
    [
        ("AUTH_SECRET", SECRET),
        ("BIND", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", store.url.as_str()),
        ("DATA_DIR", &store.dir.path().display().to_string()),
        ("TRUSTED_ORIGINS", crate::helpers::ORIGIN),
        ("RATE_LIMIT_ENABLED", "false"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "warn,api::app=info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Replaces (or adds) variables in an environment list.
pub fn with_vars(mut env: Vec<(String, String)>, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    for (name, value) in vars {
        env.retain(|(k, _)| k != name);
        env.push(((*name).to_owned(), (*value).to_owned()));
    }
    env
}

fn drain_into(mut source: impl Read + Send + 'static, output: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => output
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

impl Server {
    /// Starts the binary (no inherited environment; working directory = `cwd`) and waits, with a
    /// deadline, for its `listening on` line.
    pub fn start(env: &[(String, String)], cwd: &std::path::Path) -> Self {
        let mut child = Command::new(api_binary())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = drain_into(child.stderr.take().expect("stderr"), Arc::clone(&output));
        let (found_tx, found_rx) = mpsc::channel::<String>();
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let stdout_output = Arc::clone(&output);
        let stdout = std::thread::spawn(move || {
            let mut sent = false;
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                if !sent && let Some(pos) = text.find("listening on http://") {
                    let addr: String = text[pos + "listening on http://".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
                        .collect();
                    let _ = found_tx.send(addr);
                    sent = true;
                }
                stdout_output.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push_str(&text);
            }
        });
        let addr = match found_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let printed = output.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                panic!("the server did not report `listening on` within 60 s; it printed: {printed}");
            }
        };
        Self { child, base: format!("http://{addr}"), addr, output, readers: vec![stdout, stderr] }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a signal (`TERM`, `KILL`, …) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    /// `kill -9`, then reaps the process.
    pub fn kill_hard(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Waits for the process to exit, failing the test after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed so far; after exit, once the pipes are drained, everything.
    pub fn output(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_some() {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        self.output.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Peak resident set size (`VmHWM` in `/proc/<pid>/status`), in KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status readable");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmHWM present")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A switchable TCP proxy in front of PostgreSQL
// ---------------------------------------------------------------------------------------------

/// A TCP proxy between the app and PostgreSQL. Up: it forwards bytes both ways. Down: it resets
/// every open connection (both sides, `SO_LINGER` 0) and resets each new one at once, as a
/// database host that went away would; the shared server itself is never touched.
pub struct PgProxy {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    up: watch::Sender<bool>,
    acceptor: JoinHandle<()>,
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

impl PgProxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let (up, up_rx) = watch::channel(true);
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if !*up_rx.borrow() {
                    reset(client);
                    continue;
                }
                let mut down = up_rx.clone();
                tokio::spawn(async move {
                    let mut client = client;
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        reset(client);
                        return;
                    };
                    let cut = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        _ = down.wait_for(|up| !*up) => true,
                    };
                    if cut {
                        reset(client);
                        reset(server);
                    }
                });
            }
        });
        Self { port, up, acceptor }
    }

    /// Takes the database "down": every connection through the proxy is reset, new ones too.
    pub fn down(&self) {
        self.up.send_replace(false);
    }

    /// Brings it back.
    pub fn up(&self) {
        self.up.send_replace(true);
    }

    /// `server_url` (a PostgreSQL URL) pointed at this proxy and `database`.
    pub fn url_for(&self, server_url: &str, database: &str) -> String {
        let mut url = url::Url::parse(server_url).expect("a PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).expect("host settable");
        url.set_port(Some(self.port)).expect("port settable");
        url.set_path(&format!("/{database}"));
        url.to_string()
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
        self.acceptor.abort();
    }
}

/// The `host:port` a PostgreSQL URL points at, resolved.
pub fn postgres_addr(server_url: &str) -> SocketAddr {
    let url = url::Url::parse(server_url).expect("a PostgreSQL URL");
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .expect("PostgreSQL host resolves")
        .next()
        .expect("an address")
}

/// The database name in a PostgreSQL URL.
pub fn database_name(url: &str) -> String {
    url::Url::parse(url).expect("a URL").path().trim_start_matches('/').to_owned()
}
