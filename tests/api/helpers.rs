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
        let backend = self.db.get_database_backend();
        let rows =
            self.db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("query runs");
        rows.iter().map(|row| row_to_json(row, backend)).collect()
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

fn row_to_json(row: &sea_orm::QueryResult, _backend: DatabaseBackend) -> Value {
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
