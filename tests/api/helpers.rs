//! The test harness: a real server on an ephemeral port, a fresh database per test, and a
//! cookie-keeping HTTP client with helpers that return raw responses.
//!
//! Database per test: `TEST_DATABASE_URL` unset → an SQLite file in a temporary directory;
//! `postgres://…` → a fresh database `test_<uuid>` on that server, migrated by the app itself and
//! dropped when the test ends. The same test bodies run on both.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use api::{app, config::Config};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, header};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The secret every test server signs with.
pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/// The browser page origin the test client claims (trusted by the test server).
pub const ORIGIN: &str = "http://localhost:3000";
/// A valid password.
pub const PASSWORD: &str = "correct horse battery";

/// Which database the suite runs on.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| url.starts_with("postgres"))
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// A client with a cookie jar that sends `Origin: http://localhost:3000` on every request.
    pub client: Client,
    /// A direct connection to the test's database, for arranging and asserting.
    pub db: DatabaseConnection,
    /// The database URL the server uses.
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _store: Arc<TestDatabase>,
}

/// Builder for a [`TestApp`] with extra configuration.
#[derive(Default)]
pub struct TestAppBuilder {
    vars: HashMap<String, String>,
}

impl TestAppBuilder {
    /// Sets a configuration variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        let store = Arc::new(TestDatabase::create().await);
        TestApp::spawn_on(store, self.vars).await
    }
}

impl TestApp {
    /// A server with the default test configuration on a fresh database.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A builder to change configuration first.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The configuration variables every test server gets, before overrides.
    pub fn base_vars(database_url: &str, data_dir: &str) -> HashMap<String, String> {
        [
            ("AUTH_SECRET", SECRET),
            ("BIND", "127.0.0.1"),
            ("PORT", "0"),
            ("DATABASE_URL", database_url),
            ("DATA_DIR", data_dir),
            ("TRUSTED_ORIGINS", ORIGIN),
            ("RATE_LIMIT_ENABLED", "false"),
            ("DB_MAX_CONNECTIONS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    async fn spawn_on(store: Arc<TestDatabase>, overrides: HashMap<String, String>) -> Self {
        let mut vars = Self::base_vars(&store.url, &store.dir.path().display().to_string());
        vars.extend(overrides);
        let config = Config::from_vars(&vars).expect("test configuration is valid");
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
        let db = Database::connect(&store.url).await.expect("test connects to its database");
        Self {
            base: format!("http://{addr}"),
            addr,
            client: browser_client(),
            db,
            database_url: store.url.clone(),
            shutdown: Some(tx),
            server: Some(server),
            _store: store,
        }
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

    /// A second server instance on this test's database (as when several instances share one
    /// PostgreSQL), with extra configuration.
    pub async fn spawn_sibling(&self, vars: &[(&str, &str)]) -> TestApp {
        let overrides = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::spawn_on(Arc::clone(&self._store), overrides).await
    }

    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
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

    /// Signs up through the browser client (which then holds the session cookie).
    pub async fn sign_up(&self, email: &str) -> Response {
        self.post_json("/api/auth/sign-up/email", &json!({"name": "Test User", "email": email, "password": PASSWORD}))
            .await
    }

    /// Signs in through the browser client.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/auth/sign-in/email", &json!({"email": email, "password": password})).await
    }

    /// Signs up a new user with a separate cookie-less client and returns its bearer token.
    pub async fn bearer_user(&self, email: &str) -> String {
        let response = plain_client()
            .post(self.url("/api/auth/sign-up/email"))
            .json(&json!({"name": "Bearer User", "email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "sign-up for {email} failed");
        header_str(&response, "set-auth-token").expect("set-auth-token present")
    }

    /// A raw query against the test database, returning rows as JSON objects.
    pub async fn query(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<Value> {
        rows(&self.db, sql, values).await
    }

    /// A single number from a query such as `SELECT count(*) …`.
    pub async fn count(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .expect("query runs")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("a number")
    }

    /// Which backend the test runs on.
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Rows of a query as JSON.
pub async fn rows(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> Vec<Value> {
    let backend = db.get_database_backend();
    let found = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("query runs");
    found.iter().map(row_json).collect()
}

/// One row as JSON, whatever the backend's column types.
fn row_json(row: &sea_orm::QueryResult) -> Value {
    let mut object = serde_json::Map::new();
    for name in row.column_names() {
        let value = row
            .try_get::<Option<String>>("", &name)
            .map(|v| v.map_or(Value::Null, Value::String))
            .or_else(|_| row.try_get::<Option<i64>>("", &name).map(|v| v.map_or(Value::Null, Value::from)))
            .or_else(|_| row.try_get::<Option<bool>>("", &name).map(|v| v.map_or(Value::Null, Value::from)))
            .or_else(|_| {
                row.try_get::<Option<time::OffsetDateTime>>("", &name)
                    .map(|v| v.map_or(Value::Null, |t| Value::String(api::timestamp::iso_micros(t))))
            })
            .unwrap_or(Value::Null);
        object.insert(name, value);
    }
    Value::Object(object)
}

/// A client that behaves like a browser page on the trusted origin: it keeps cookies and sends
/// `Origin` on every request.
pub fn browser_client() -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, header::HeaderValue::from_static(ORIGIN));
    Client::builder().cookie_store(true).default_headers(headers).build().expect("client builds")
}

/// A client without cookies or `Origin`, like curl or a native app.
pub fn plain_client() -> Client {
    Client::builder().build().expect("client builds")
}

/// A header's value as text.
pub fn header_str(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Every `Set-Cookie` line of a response, in order.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
}

/// Asserts an error response: status, JSON content type and `code`; returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let got_status = response.status();
    let content_type = header_str(&response, "content-type").unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got_status, status, "status; body: {body}");
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message present; body: {body}");
    body
}

/// The fresh database behind one test; dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct TestDatabase {
    /// Connection URL.
    pub url: String,
    /// Temporary directory (SQLite file, data dir).
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates a fresh, empty database.
    pub async fn create() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match postgres_url() {
            None => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Self { url, dir, postgres: None }
            }
            Some(server) => {
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&server).await.expect("PostgreSQL reachable at TEST_DATABASE_URL");
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create database");
                admin.close().await.ok();
                let url = with_database(&server, &name);
                Self { url, dir, postgres: Some((server, name)) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else { return };
        // Drop is synchronous; use a private runtime on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&server).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// The same server URL pointing at another database.
pub fn with_database(server_url: &str, database: &str) -> String {
    let mut url = url::Url::parse(server_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// Account lifecycle (issue 8): the file mail outbox, signed-in members, Better Auth's signed
// cookie and HS256 verification links recomputed independently of the server, and moving stored
// times through SQL.

/// The three `Set-Cookie` lines that end a browser session, in Better Auth's order (§4.2, §13).
pub const CLEARED_COOKIES: [&str; 3] = [
    "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
];

/// The file outbox of a test server (`MAIL_TRANSPORT=file`): one JSON object per line with
/// `to`, `subject`, `text` and `url`. Mail is written in the background, so readers poll.
pub struct MailOutbox {
    _dir: TempDir,
    /// The outbox file.
    pub path: std::path::PathBuf,
}

impl MailOutbox {
    /// How long a test waits for a mail before failing.
    pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

    /// An outbox in a fresh temporary directory (the file is created by the first mail).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the outbox");
        let path = dir.path().join("outbox.jsonl");
        Self { _dir: dir, path }
    }

    /// Points a server at this outbox.
    pub fn configure(&self, builder: TestAppBuilder) -> TestAppBuilder {
        builder.var("MAIL_TRANSPORT", "file").var("MAIL_OUTBOX", &self.path.display().to_string())
    }

    /// Every complete mail written so far, oldest first (a line still being written is skipped).
    pub fn all(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("every outbox line is a JSON object"))
            .collect()
    }

    /// The mails to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Value> {
        self.all().into_iter().filter(|mail| mail["to"] == address).collect()
    }

    /// Waits (polling, up to [`Self::DEADLINE`]) until at least `n` mails went to `address`,
    /// and returns the `n`-th (1-based).
    pub async fn wait_for_nth(&self, address: &str, n: usize) -> Value {
        let deadline = tokio::time::Instant::now() + Self::DEADLINE;
        loop {
            let mails = self.to(address);
            if mails.len() >= n {
                return mails.into_iter().nth(n - 1).expect("n mails are there");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mail #{n} to {address} not written within {:?}; outbox: {:?}",
                Self::DEADLINE,
                self.all()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first mail to `address`.
    pub async fn wait_for(&self, address: &str) -> Value {
        self.wait_for_nth(address, 1).await
    }
}

/// A server on a fresh database that writes its mail to a file outbox, plus extra variables.
pub async fn spawn_with_outbox(vars: &[(&str, &str)]) -> (TestApp, MailOutbox) {
    let outbox = MailOutbox::new();
    let mut builder = outbox.configure(TestApp::builder());
    for (name, value) in vars {
        builder = builder.var(name, value);
    }
    (builder.spawn().await, outbox)
}

/// A user signed in through their own browser-like client.
pub struct Member {
    /// A cookie-keeping client that sends the trusted `Origin`, holding this session's cookie.
    pub client: Client,
    /// The user's address.
    pub email: String,
    /// The user's id.
    pub id: String,
    /// The raw session token of this client's session.
    pub token: String,
}

impl Member {
    /// `GET /get-session` with this member's client; the JSON body (`null` when signed out).
    pub async fn session(&self, app: &TestApp) -> Value {
        let response = self.client.get(app.url("/api/auth/get-session")).send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "get-session answers 200");
        response.json().await.expect("JSON body")
    }

    /// `POST` JSON with this member's client.
    pub async fn post(&self, app: &TestApp, path: &str, body: &Value) -> Response {
        self.client.post(app.url(path)).json(body).send().await.expect("request sent")
    }

    /// `GET` with this member's client.
    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        self.client.get(app.url(path)).send().await.expect("request sent")
    }

    /// The `Cookie` header a browser holding this session sends.
    pub fn cookie(&self) -> String {
        signed_session_cookie(&self.token)
    }
}

async fn member_from(client: Client, email: &str, response: Response, what: &str) -> Member {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, StatusCode::OK, "{what} of {email}: {body}");
    Member {
        client,
        email: email.to_owned(),
        id: body["user"]["id"].as_str().expect("user id").to_owned(),
        token: body["token"].as_str().expect("session token").to_owned(),
    }
}

/// Signs up `email` (with [`PASSWORD`]) in a new browser-like client.
pub async fn signed_up_member(app: &TestApp, email: &str) -> Member {
    let client = browser_client();
    let response = client
        .post(app.url("/api/auth/sign-up/email"))
        .json(&json!({"name": "Test User", "email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("request sent");
    member_from(client, email, response, "sign-up").await
}

/// Signs `email` in with `password` in a new browser-like client (another session).
pub async fn signed_in_member(app: &TestApp, email: &str, password: &str) -> Member {
    let client = browser_client();
    let response = client
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request sent");
    member_from(client, email, response, "sign-in").await
}

/// Signs in with a cookie-less client and returns the status (for "which password works").
pub async fn sign_in_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    plain_client()
        .post(app.url("/api/auth/sign-in/email"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request sent")
        .status()
}

/// `value.<padded base64 HMAC-SHA256(SECRET, value)>`, percent-encoded like
/// `encodeURIComponent`: the session cookie value Better Auth writes (§4.3).
pub fn signed_cookie_value(value: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("HMAC takes any key");
    mac.update(value.as_bytes());
    let signed = format!("{value}.{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    signed
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

/// A `Cookie` header presenting `token` as the session cookie.
pub fn signed_session_cookie(token: &str) -> String {
    format!("better-auth.session_token={}", signed_cookie_value(token))
}

/// The `get-session` body when presenting `Authorization: Bearer <value>` (no cookies).
pub async fn session_for_bearer(app: &TestApp, value: &str) -> Value {
    let response =
        plain_client().get(app.url("/api/auth/get-session")).bearer_auth(value).send().await.expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON body")
}

/// The `get-session` body when presenting a raw `Cookie` header.
pub async fn session_for_cookie(app: &TestApp, cookie: &str) -> Value {
    let response = plain_client()
        .get(app.url("/api/auth/get-session"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON body")
}

/// A client that neither follows redirects nor keeps cookies (to read `302 Location`).
pub fn no_redirect_client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client builds")
}

/// A compact HS256 JWT over `payload` with header `{"alg":"HS256"}`, signed with `secret`: what
/// Better Auth mails as an email-verification token (§3.6).
pub fn sign_hs256_jwt(payload: &Value, secret: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{KeyInit, Mac};
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#), URL_SAFE_NO_PAD.encode(payload.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Whether a compact JWT's signature is HS256 over its first two parts with `secret`.
pub fn jwt_signature_matches(token: &str, secret: &str) -> bool {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{KeyInit, Mac};
    let Some((input, signature)) = token.rsplit_once('.') else { return false };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()) == signature
}

/// The decoded header and payload of a compact JWT (the signature is not checked).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Value {
        let part = parts.next().unwrap_or_else(|| panic!("JWT {token} has a {what}"));
        let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_else(|err| panic!("JWT {what} is base64url: {err}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("JWT {what} is JSON: {err}"))
    };
    (decode("header"), decode("payload"))
}

/// The current time in whole seconds since the epoch (JWT `iat`/`exp`).
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A query parameter of a URL, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).unwrap_or_else(|err| panic!("{url} is a URL: {err}"));
    parsed.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// Lower-case hex SHA-256 (how reset tokens and, by default, session tokens are stored).
pub fn sha256_hex_of(value: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// A time as Better Auth's date columns hold it: ISO text with milliseconds on SQLite,
/// `timestamptz` on PostgreSQL (§8.2).
pub fn stored_time(backend: DatabaseBackend, at: time::OffsetDateTime) -> sea_orm::Value {
    match backend {
        DatabaseBackend::Sqlite => {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            at.to_offset(time::UtcOffset::UTC).format(format).expect("formats").into()
        }
        _ => at.into(),
    }
}

impl TestApp {
    /// Runs a statement on the test database; returns how many rows it changed.
    pub async fn run_sql(&self, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
        let statement = Statement::from_sql_and_values(self.backend(), sql, values);
        self.db.execute_raw(statement).await.expect("statement runs").rows_affected()
    }

    /// The stored row of a user (panics when there is none).
    pub async fn user_row(&self, user_id: &str) -> Value {
        let rows = self.query(r#"SELECT * FROM "user" WHERE "id" = $1"#, vec![user_id.into()]).await;
        rows.into_iter().next().unwrap_or_else(|| panic!("user {user_id} exists"))
    }

    /// How many sessions a user has in the database.
    pub async fn session_count(&self, user_id: &str) -> i64 {
        self.count(r#"SELECT count(*) FROM "session" WHERE "userId" = $1"#, vec![user_id.into()]).await
    }

    /// The stored password hash of a user's credential account.
    pub async fn password_hash(&self, user_id: &str) -> Option<String> {
        let rows = self
            .query(
                r#"SELECT "password" FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential'"#,
                vec![user_id.into()],
            )
            .await;
        rows.into_iter().next().and_then(|row| row["password"].as_str().map(str::to_owned))
    }
}

/// Whether a boolean column read back through [`TestApp::query`] is true (`1` on SQLite).
pub fn is_true(value: &Value) -> bool {
    *value == json!(true) || *value == json!(1)
}

impl TestApp {
    /// A server on an existing test database with configuration overrides (the fault tests
    /// point `DATABASE_URL` at a proxy in front of it; `db` still connects directly).
    pub async fn spawn_with_database(store: Arc<TestDatabase>, vars: HashMap<String, String>) -> Self {
        Self::spawn_on(store, vars).await
    }
}
