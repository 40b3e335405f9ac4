//! The database goes away while requests run (issue 7, "Database down").
//!
//! PostgreSQL: the app reaches its fresh test database through a TCP proxy in the test; "down"
//! resets every connection through it and every new one (the shared server is never touched).
//! SQLite: another connection holds `BEGIN EXCLUSIVE` on the file, so writes cannot proceed
//! (reads still can: WAL). Either way, with `DB_TIMEOUT_MS=1000`, affected requests must answer
//! 503 `SERVICE_UNAVAILABLE` with `Retry-After` within the timeout plus slack (no hang, no 500),
//! the service must recover by itself within seconds, and every acknowledged create must be in
//! the database afterwards.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sea_orm::sqlx::{self, ConnectOptions, sqlite::SqliteConnectOptions};
use serde_json::{Value, json};

use crate::support::{
    db::{TestDatabase, postgres_url},
    http::{ClientOptions, TimedAnswer, assert_unavailable, header_str, plain_client, send_timed},
    pg_proxy::{PgProxy, postgres_addr},
    server::TestApp,
    users::{PASSWORD, User},
};

/// `DB_TIMEOUT_MS` for these tests.
const DB_TIMEOUT: Duration = Duration::from_millis(1000);
/// How much longer than the timeout an unavailable answer may take (scheduling on a busy 2-core
/// machine, a debug build); a hang is tens of seconds, so this still tells them apart.
const SLACK: Duration = Duration::from_millis(2500);
/// Concurrent clients creating tasks throughout.
const CLIENTS: usize = 4;

/// What one create request of the load got.
#[derive(Debug)]
struct Outcome {
    started: Instant,
    elapsed: Duration,
    /// `None`: no HTTP answer at all (connection error or client timeout).
    status: Option<StatusCode>,
    retry_after: Option<String>,
    body: Value,
    title: String,
}

/// Concurrent clients creating tasks with a bearer token until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str, account: &User) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..CLIENTS)
            .map(|client| {
                let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
                let url = format!("{base}/api/v1/tasks");
                let authorization = account.authorization();
                tokio::spawn(async move {
                    let http = ClientOptions::default().timeout(Duration::from_secs(20)).build();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let title = format!("outage-{client}-{n}");
                        let started = Instant::now();
                        let sent = http
                            .post(&url)
                            .header("authorization", &authorization)
                            .json(&json!({"title": title, "description": format!("body of {title}")}))
                            .send()
                            .await;
                        let (status, retry_after, body) = match sent {
                            Ok(response) => {
                                let status = response.status();
                                let retry_after = header_str(&response, "retry-after");
                                (Some(status), retry_after, response.json::<Value>().await.unwrap_or(Value::Null))
                            }
                            Err(err) => (None, None, Value::String(err.to_string())),
                        };
                        let elapsed = started.elapsed();
                        outcomes.lock().expect("outcomes").push(Outcome {
                            started,
                            elapsed,
                            status,
                            retry_after,
                            body,
                            title,
                        });
                        // Pace the load a little: a steady stream, not a flood.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Self { stop, outcomes, clients }
    }

    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.lock().expect("outcomes").iter().filter(|o| pred(o)).count()
    }

    /// Waits (with a deadline) until at least `n` outcomes match.
    async fn wait_for(&self, n: usize, what: &str, pred: impl Fn(&Outcome) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count(&pred) < n {
            assert!(Instant::now() < deadline, "timed out waiting for {n} × {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.expect("load client finished");
        }
        Arc::try_unwrap(self.outcomes).expect("sole owner").into_inner().expect("outcomes")
    }
}

/// How the test makes the database unavailable.
enum Breaker {
    Proxy(PgProxy),
    SqliteLock { url: String, holder: Option<sqlx::SqliteConnection> },
}

impl Breaker {
    async fn down(&mut self) {
        match self {
            Self::Proxy(proxy) => proxy.down(),
            Self::SqliteLock { url, holder } => {
                let options: SqliteConnectOptions =
                    url.parse::<SqliteConnectOptions>().expect("SQLite URL").busy_timeout(Duration::from_secs(20));
                let mut conn = options.connect().await.expect("the lock holder connects");
                sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await.expect("exclusive lock taken");
                *holder = Some(conn);
            }
        }
    }

    async fn up(&mut self) {
        match self {
            Self::Proxy(proxy) => proxy.up(),
            Self::SqliteLock { holder, .. } => {
                let mut conn = holder.take().expect("lock held");
                sqlx::raw_sql("COMMIT").execute(&mut conn).await.expect("lock released");
                sqlx::Connection::close(conn).await.expect("lock holder closes");
            }
        }
    }

    fn is_postgres(&self) -> bool {
        matches!(self, Self::Proxy(_))
    }
}

/// One request during the outage, with its latency.
async fn timed(request: reqwest::RequestBuilder) -> TimedAnswer {
    send_timed(request).await.expect("an HTTP answer, not a hang or a dropped connection")
}

fn assert_quick_unavailable(answer: TimedAnswer, what: &str) {
    let (status, retry_after, body, elapsed) = answer;
    assert_unavailable(status, retry_after.as_deref(), &body, what);
    assert!(elapsed <= DB_TIMEOUT + SLACK, "{what}: 503 took {elapsed:?} (DB_TIMEOUT_MS=1000)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly_recovers_by_itself_and_loses_no_acknowledged_write() {
    // Arrange: a server whose database this test can take away.
    let store = Arc::new(TestDatabase::create().await);
    let builder =
        TestApp::builder().on_database(Arc::clone(&store)).var("DB_TIMEOUT_MS", "1000").var("DB_MAX_CONNECTIONS", "5");
    let (builder, mut breaker) = match postgres_url() {
        Some(_) => {
            let proxy = PgProxy::start(postgres_addr(&store.url)).await;
            (builder.var("DATABASE_URL", &proxy.url_for(&store.url)), Breaker::Proxy(proxy))
        }
        None => (builder, Breaker::SqliteLock { url: store.url.clone(), holder: None }),
    };
    let app = builder.spawn().await;
    let account = User::sign_up(&app, "outage@example.com").await;
    let http = plain_client();
    let load = Load::start(&app.base, &account);
    load.wait_for(5, "acknowledged create before the outage", |o| o.status == Some(StatusCode::CREATED)).await;

    // Act 1: the database goes away while the load runs.
    breaker.down().await;
    let went_down = Instant::now();

    // Assert: writes answer 503 quickly, well-formed.
    let create = timed(
        http.post(app.url("/api/v1/tasks"))
            .header("authorization", account.authorization())
            .json(&json!({"title": "during the outage"})),
    )
    .await;
    assert_quick_unavailable(create, "create during the outage");
    let sign_in = timed(
        http.post(app.url("/api/auth/sign-in/email")).json(&json!({"email": account.email, "password": PASSWORD})),
    )
    .await;
    assert_quick_unavailable(sign_in, "sign-in (writes a session) during the outage");
    let get_session =
        timed(http.get(app.url("/api/auth/get-session")).header("authorization", account.authorization())).await;
    let list = timed(http.get(app.url("/api/v1/tasks")).header("authorization", account.authorization())).await;
    let ready = timed(http.get(app.url("/ready"))).await;
    if breaker.is_postgres() {
        // Nothing can be read either, and readiness says so.
        assert_quick_unavailable(get_session, "get-session during the outage");
        assert_quick_unavailable(list, "task list during the outage");
        assert_quick_unavailable(ready, "/ready during the outage");
    } else {
        // A write lock on SQLite (WAL) leaves reads working: no needless 503s.
        for (answer, what) in [(get_session, "get-session"), (list, "task list"), (ready, "/ready")] {
            assert_eq!(answer.0, StatusCode::OK, "{what} while only writes are blocked: {}", answer.2);
            assert!(answer.3 <= DB_TIMEOUT + SLACK, "{what} took {:?}", answer.3);
        }
    }
    load.wait_for(6, "503 from the load during the outage", |o| {
        o.started >= went_down && o.status == Some(StatusCode::SERVICE_UNAVAILABLE)
    })
    .await;
    let health = timed(http.get(app.url("/health"))).await;
    assert_eq!(health.0, StatusCode::OK, "liveness does not depend on the database");

    // Act 2: the database comes back.
    breaker.up().await;
    let came_back = Instant::now();

    // Assert: the service recovers by itself within seconds.
    load.wait_for(3, "acknowledged create after recovery", |o| {
        o.started >= came_back && o.status == Some(StatusCode::CREATED)
    })
    .await;
    let recovered_after = load
        .outcomes
        .lock()
        .expect("outcomes")
        .iter()
        .filter(|o| o.started >= came_back && o.status == Some(StatusCode::CREATED))
        .map(|o| o.started + o.elapsed - came_back)
        .min()
        .expect("a create after recovery");
    assert!(recovered_after < Duration::from_secs(10), "recovered after {recovered_after:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = http.get(app.url("/ready")).send().await.expect("ready answered");
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "/ready still {} 10 s after the database returned", ready.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(account.session().await["user"]["id"], account.id.as_str(), "the session survived the outage");
    let outcomes = load.finish().await;

    // Assert: every answer was a success or a proper, quick 503; never a 500, never a hang.
    let mut unavailable = 0;
    for outcome in &outcomes {
        let what = format!("create {} ({:?} after the outage began)", outcome.title, outcome.started - went_down);
        match outcome.status {
            Some(StatusCode::CREATED) => {}
            Some(StatusCode::SERVICE_UNAVAILABLE) => {
                unavailable += 1;
                assert_unavailable(
                    StatusCode::SERVICE_UNAVAILABLE,
                    outcome.retry_after.as_deref(),
                    &outcome.body,
                    &what,
                );
                assert!(outcome.elapsed <= DB_TIMEOUT + SLACK, "{what}: 503 took {:?}", outcome.elapsed);
            }
            other => panic!("{what}: expected 201 or 503, got {other:?}: {}", outcome.body),
        }
    }
    assert!(unavailable >= 6, "the outage was seen by the load ({unavailable} × 503)");

    // Assert: every acknowledged create is in the database with its content.
    let acknowledged: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Some(StatusCode::CREATED)).collect();
    let stored = app.db.query(r#"SELECT "id", "title", "description", "owner_id" FROM "task""#, vec![]).await;
    let by_id: HashMap<i64, &Value> = stored.iter().map(|row| (row["id"].as_i64().expect("id"), row)).collect();
    for outcome in &acknowledged {
        let id = outcome.body["id"].as_i64().expect("acknowledged task has an id");
        let row = by_id.get(&id).unwrap_or_else(|| panic!("acknowledged task {id} ({}) is missing", outcome.title));
        assert_eq!(row["title"], outcome.title.as_str(), "task {id}");
        assert_eq!(row["description"], format!("body of {}", outcome.title).as_str(), "task {id}");
        assert_eq!(row["owner_id"], account.id.as_str(), "task {id}");
    }
    eprintln!(
        "database outage ({}): {} acknowledged creates all present, {unavailable} × 503, recovered {:?} after the database returned",
        if breaker.is_postgres() { "PostgreSQL via proxy" } else { "SQLite write lock" },
        acknowledged.len(),
        recovered_after
    );
}
