//! The service under test, in two forms: in process ([`TestApp`]: `api::app::build`, as `main`
//! does, on an ephemeral port) and as the built binary ([`Server`]: a child process whose whole
//! output is captured). Both get their configuration from one [`Env`].

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock, PoisonError, mpsc},
    time::{Duration, Instant},
};

use api::{app, config::Config};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::support::{
    db::{TestDatabase, TestDb},
    http::browser_client,
    users::{PASSWORD, SIGN_IN, SIGN_UP},
};

/// The secret every test server signs with.
pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/// The browser page origin the test clients claim (trusted by every test server).
pub const ORIGIN: &str = "http://localhost:3000";

/// Something serving the API over HTTP: an in-process [`TestApp`] or the binary's [`Server`].
pub trait Service {
    /// `http://127.0.0.1:<port>`.
    fn base(&self) -> &str;
}

/// The configuration variables of a server under test.
#[derive(Clone, Debug)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// What every test server gets: the test secret, loopback on an ephemeral port, the test's
    /// database and data directory, the trusted test origin, and rate limits off.
    pub fn new(database: &TestDatabase) -> Self {
        Self(HashMap::new()).with(&[
            ("AUTH_SECRET", SECRET),
            ("BIND", "127.0.0.1"),
            ("PORT", "0"),
            ("DATABASE_URL", &database.url),
            ("DATA_DIR", &database.dir.path().display().to_string()),
            ("TRUSTED_ORIGINS", ORIGIN),
            ("RATE_LIMIT_ENABLED", "false"),
        ])
    }

    /// [`Env::new`] plus what the binary's tests read from its output: JSON logs, at `warn`
    /// except the start-up and shutdown lines.
    pub fn for_binary(database: &TestDatabase) -> Self {
        Self::new(database).with(&[("LOG_FORMAT", "json"), ("RUST_LOG", "warn,api::app=info")])
    }

    /// Sets (or replaces) one variable.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets (or replaces) several variables.
    pub fn with(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |env, (name, value)| env.set(name, value))
    }
}

// ---------------------------------------------------------------------------------------------
// In process
// ---------------------------------------------------------------------------------------------

/// A server running in this process, a browser-like client for it, and a direct connection to
/// its database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// A client with a cookie jar that sends `Origin: http://localhost:3000` on every request.
    pub client: Client,
    /// A direct connection to the test's database, for arranging and asserting.
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    database: Arc<TestDatabase>,
}

/// Builder for a [`TestApp`] with extra configuration.
#[derive(Default)]
pub struct TestAppBuilder {
    vars: Vec<(String, String)>,
    database: Option<Arc<TestDatabase>>,
}

impl TestAppBuilder {
    /// Sets a configuration variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs on an existing test database instead of a fresh one.
    pub fn on_database(mut self, database: Arc<TestDatabase>) -> Self {
        self.database = Some(database);
        self
    }

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        let database = match self.database {
            Some(database) => database,
            None => Arc::new(TestDatabase::create().await),
        };
        let mut env = Env::new(&database).set("DB_MAX_CONNECTIONS", "5");
        for (name, value) in &self.vars {
            env = env.set(name, value);
        }
        let config = Config::from_vars(&env.0).expect("test configuration is valid");
        let app = app::build(config).await.expect("the app builds");
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.serve(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            base: format!("http://{addr}"),
            addr,
            client: browser_client(),
            db: TestDb::connect(&database.url).await,
            shutdown: Some(tx),
            server: Some(server),
            database,
        }
    }
}

impl TestApp {
    /// A server with the default test configuration on a fresh database.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A builder to change the configuration first.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A builder for a second server on this test's database (as when several instances share
    /// one PostgreSQL).
    pub fn sibling(&self) -> TestAppBuilder {
        Self::builder().on_database(Arc::clone(&self.database))
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with this app's browser-like client.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET` with the browser client.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("request sent")
    }

    /// `POST` JSON with the browser client.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.expect("request sent")
    }

    /// Signs up (with [`PASSWORD`]) through the browser client, which then holds the session
    /// cookie; the raw response.
    pub async fn sign_up(&self, email: &str) -> Response {
        self.post_json(SIGN_UP, &json!({"name": "Test User", "email": email, "password": PASSWORD})).await
    }

    /// Signs in through the browser client; the raw response.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_json(SIGN_IN, &json!({"email": email, "password": password})).await
    }
}

impl Service for TestApp {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The built binary
// ---------------------------------------------------------------------------------------------

/// The `api` binary, built once per test run.
///
/// `API_BINARY` names one already built (`scripts/test` builds everything once, this binary
/// included). Otherwise it is built here with the test build's own feature set (`-p tests --test
/// api` alongside `--bin api`), so it reuses the libraries already compiled for the tests rather
/// than compiling `api` and its HTTP stack again with `cargo build -p api`'s features; the
/// difference is only the HTTP client features the test clients need, never the server's code.
pub fn api_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("API_BINARY") {
                let path = PathBuf::from(path);
                assert!(path.is_file(), "API_BINARY={} is not a file", path.display());
                return path;
            }
            // This test binary is `<target>/<profile>/deps/api-<hash>`; build into the same place.
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("<target>/<profile>/deps/");
            let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
                Some("debug") => "dev",
                Some(name) => name,
                None => panic!("no profile directory in {}", exe.display()),
            };
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--quiet", "--profile", profile, "-p", "api", "--bin", "api", "-p", "tests"])
                .args(["--test", "api"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            without_the_tests_cargo_vars(&mut cargo);
            let status = cargo.status().expect("cargo runs");
            assert!(status.success(), "building the api binary failed");
            profile_dir.join("api")
        })
        .clone()
}

/// Removes from `command` the variables Cargo sets for the running test, for a command that runs
/// `cargo build`: build scripts that watch them (ring's does) would otherwise see a change, and
/// both that build and the next `cargo test` would rebuild half the dependency tree.
pub fn without_the_tests_cargo_vars(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name.as_ref(),
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if set_by_cargo {
            command.env_remove(name.as_ref());
        }
    }
}

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

/// Copies everything `source` yields into `output`, on a thread of its own.
fn drain_into(mut source: impl Read + Send + 'static, output: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    output.lock().unwrap_or_else(PoisonError::into_inner).push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        }
    })
}

impl Server {
    /// Starts the binary with exactly `env` (nothing inherited; working directory `cwd`) and
    /// waits, with a deadline, for its `listening on` line.
    pub fn start(env: &Env, cwd: &Path) -> Self {
        let mut child = Command::new(api_binary())
            .env_clear()
            .envs(&env.0)
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
                // Recorded before the address is reported, so the output holds the line by then.
                stdout_output.lock().unwrap_or_else(PoisonError::into_inner).push_str(&text);
                if !sent && let Some(pos) = text.find("listening on http://") {
                    let addr: String = text[pos + "listening on http://".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
                        .collect();
                    let _ = found_tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = match found_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let printed = output.lock().unwrap_or_else(PoisonError::into_inner).clone();
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
        format!("{}{path}", self.base)
    }

    /// Sends a signal (`TERM`, `KILL`, …) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").args([format!("-{name}"), self.pid().to_string()]).status().expect("kill(1) runs");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
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
        self.output.lock().unwrap_or_else(PoisonError::into_inner).clone()
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

impl Service for Server {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for Server {
    // A test that fails midway must not leave its server running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
