//! The test's own view of its database: a fresh database per test ([`TestDatabase`]), a direct
//! connection for arranging and asserting ([`TestDb`]: raw SQL, row counts, whole-database
//! snapshots, the rows of the auth and task tables), and Better Auth's column encodings
//! (`docs/better-auth-wire.md` §8.2: ISO text with milliseconds and 0/1 booleans on SQLite,
//! `timestamptz` and `boolean` on PostgreSQL).
//!
//! `TEST_DATABASE_URL` unset → an SQLite file in a temporary directory; `postgres://…` → a fresh
//! database `test_<uuid>` on that server, migrated by the app itself and dropped when the test
//! ends. The same test bodies run on both.

use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, QueryResult, Statement};
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use time::{OffsetDateTime, UtcOffset, format_description::BorrowedFormatItem, macros::format_description};

use crate::support::wire::{iso_millis, sha256_hex};

/// `2026-11-28T06:36:38.913402Z`: how a `timestamptz` column is read back, so rows read the same
/// on both backends (the `task` table's SQLite text has this form too).
const MICROS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The PostgreSQL server the suite runs on, if `TEST_DATABASE_URL` names one.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| url.starts_with("postgres"))
}

/// The fresh database behind one test; dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct TestDatabase {
    /// Connection URL.
    pub url: String,
    /// Temporary directory (the SQLite file, the server's data directory).
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
                let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self { url: url.to_string(), dir, postgres: Some((server, name)) }
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

/// A direct connection to a test's database, for arranging and asserting behind the API.
#[derive(Clone, Debug)]
pub struct TestDb {
    conn: DatabaseConnection,
}

/// The tables the service writes, in the order snapshots list them.
const TABLES: [&str; 7] = ["user", "session", "account", "verification", "twoFactor", "task", "auditEvent"];

/// The `task` columns in the API's order.
const TASK_COLUMNS: &str = r#""id", "title", "description", "is_completed", "owner_id", "created_at", "updated_at""#;

impl TestDb {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Self {
        Self { conn: Database::connect(url).await.expect("the test connects to its database") }
    }

    /// Which backend the test runs on.
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Rows of a query (`$1`, `$2`, … placeholders on both backends) as JSON objects.
    pub async fn query(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<Value> {
        let statement = Statement::from_sql_and_values(self.backend(), sql, values);
        self.conn.query_all_raw(statement).await.expect("query runs").iter().map(row_json).collect()
    }

    /// A single number from a query such as `SELECT count(*) …`.
    pub async fn count(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let statement = Statement::from_sql_and_values(self.backend(), sql, values);
        let row = self.conn.query_one_raw(statement).await.expect("query runs").expect("one row");
        row.try_get_by_index::<i64>(0).expect("a number")
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute(&self, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
        let statement = Statement::from_sql_and_values(self.backend(), sql, values);
        self.conn.execute_raw(statement).await.expect("statement runs").rows_affected()
    }

    /// A transaction on the test's own connection (to hold locks while the server works).
    pub async fn begin(&self) -> sea_orm::DatabaseTransaction {
        sea_orm::TransactionTrait::begin(&self.conn).await.expect("the test begins a transaction")
    }

    /// `SELECT count(*)` of a whole table.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count(&format!(r#"SELECT count(*) FROM "{table}""#), vec![]).await
    }

    /// Every row of every table the service writes, in a stable order: two snapshots are equal
    /// exactly when nothing was written in between.
    pub async fn snapshot(&self) -> Value {
        let mut all = Map::new();
        for table in TABLES {
            let rows = self.query(&format!(r#"SELECT * FROM "{table}" ORDER BY "id""#), vec![]).await;
            all.insert(table.to_owned(), Value::Array(rows));
        }
        Value::Object(all)
    }

    /// The stored row of a user (panics when there is none).
    pub async fn user_row(&self, user_id: &str) -> Value {
        let rows = self.query(r#"SELECT * FROM "user" WHERE "id" = $1"#, vec![user_id.into()]).await;
        rows.into_iter().next().unwrap_or_else(|| panic!("user {user_id} exists"))
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

    /// The session rows of a user, oldest first.
    pub async fn sessions_of(&self, user_id: &str) -> Vec<Value> {
        self.query(r#"SELECT * FROM "session" WHERE "userId" = $1 ORDER BY "createdAt""#, vec![user_id.into()]).await
    }

    /// How many sessions a user has.
    pub async fn session_count(&self, user_id: &str) -> i64 {
        self.count(r#"SELECT count(*) FROM "session" WHERE "userId" = $1"#, vec![user_id.into()]).await
    }

    /// The session row stored for a raw token (stored as its SHA-256, the default).
    pub async fn session_row(&self, token: &str) -> Value {
        let rows = self.query(r#"SELECT * FROM "session" WHERE "token" = $1"#, vec![sha256_hex(token).into()]).await;
        assert_eq!(rows.len(), 1, "one session row for the token");
        rows.into_iter().next().expect("one row")
    }

    /// Sets a session's `expiresAt`, as a clock moving forward would.
    pub async fn set_session_expiry(&self, session_id: &str, at: OffsetDateTime) {
        let sql = r#"UPDATE "session" SET "expiresAt" = $1 WHERE "id" = $2"#;
        assert_eq!(self.execute(sql, vec![stored_time(self.backend(), at), session_id.into()]).await, 1);
    }

    /// The `task` row with this id in the API's shape (`is_completed` a boolean on both
    /// databases, timestamps as fixed-width microsecond RFC 3339 text), or `None`.
    pub async fn task_row(&self, id: i64) -> Option<Value> {
        let rows = self.query(&format!(r#"SELECT {TASK_COLUMNS} FROM "task" WHERE "id" = $1"#), vec![id.into()]).await;
        rows.into_iter().next().map(task_shape)
    }

    /// Every `task` row by id, in the API's shape: a snapshot to prove a refused request changed
    /// nothing.
    pub async fn task_rows(&self) -> Vec<Value> {
        let rows = self.query(&format!(r#"SELECT {TASK_COLUMNS} FROM "task" ORDER BY "id""#), vec![]).await;
        rows.into_iter().map(task_shape).collect()
    }

    /// How many tasks a user owns.
    pub async fn task_count(&self, owner: &str) -> i64 {
        self.count(r#"SELECT count(*) FROM "task" WHERE "owner_id" = $1"#, vec![owner.into()]).await
    }
}

/// A short description of how two [`TestDb::snapshot`]s differ (which tables, which rows).
pub fn snapshot_diff(before: &Value, after: &Value) -> String {
    let mut out = Vec::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (table, rows_before) in before {
            let rows_after = &after[table];
            if rows_before != rows_after {
                out.push(format!("{table}: {rows_before} -> {rows_after}"));
            }
        }
    }
    out.join("; ")
}

/// A time as Better Auth's date columns hold it: ISO text with milliseconds on SQLite,
/// `timestamptz` on PostgreSQL.
pub fn stored_time(backend: DatabaseBackend, at: OffsetDateTime) -> sea_orm::Value {
    match backend {
        DatabaseBackend::Sqlite => iso_millis(at).into(),
        _ => at.into(),
    }
}

/// A [`TestDb::snapshot`] without the `sign-in-failed` and `two-factor-failed` audit events:
/// what a refused sign-in or second factor must leave unchanged (it records that refusal, by
/// design).
pub fn without_refused_sign_ins(snapshot: &Value) -> Value {
    let mut snapshot = snapshot.clone();
    if let Some(Value::Array(events)) = snapshot.get_mut("auditEvent") {
        events.retain(|event| event["type"] != "sign-in-failed" && event["type"] != "two-factor-failed");
    }
    snapshot
}

/// A time as the `task` and `auditEvent` columns hold it: RFC 3339 text with microseconds on
/// SQLite, `timestamptz` on PostgreSQL.
pub fn stored_micros(backend: DatabaseBackend, at: OffsetDateTime) -> sea_orm::Value {
    match backend {
        DatabaseBackend::Sqlite => at.to_offset(UtcOffset::UTC).format(MICROS).expect("formats").into(),
        _ => at.into(),
    }
}

/// Whether a boolean column read back through [`TestDb::query`] is true (`1` on SQLite).
pub fn is_true(value: &Value) -> bool {
    *value == json!(true) || *value == json!(1)
}

/// Whether a boolean column read back through [`TestDb::query`] is false (`0` on SQLite).
pub fn is_false(value: &Value) -> bool {
    *value == json!(false) || *value == json!(0)
}

/// One row as JSON, whatever the backend's column types.
fn row_json(row: &QueryResult) -> Value {
    let mut object = Map::new();
    for name in row.column_names() {
        let value = row
            .try_get::<Option<String>>("", &name)
            .map(|v| v.map_or(Value::Null, Value::String))
            .or_else(|_| row.try_get::<Option<i64>>("", &name).map(|v| v.map_or(Value::Null, Value::from)))
            .or_else(|_| row.try_get::<Option<bool>>("", &name).map(|v| v.map_or(Value::Null, Value::from)))
            .or_else(|_| {
                row.try_get::<Option<OffsetDateTime>>("", &name).map(|v| {
                    v.map_or(Value::Null, |t| {
                        Value::String(t.to_offset(UtcOffset::UTC).format(MICROS).expect("formats"))
                    })
                })
            })
            .unwrap_or(Value::Null);
        object.insert(name, value);
    }
    Value::Object(object)
}

/// A `task` row with `is_completed` as a boolean (SQLite stores 0/1).
fn task_shape(mut row: Value) -> Value {
    let completed = match &row["is_completed"] {
        Value::Bool(flag) => *flag,
        Value::Number(n) => n.as_i64() == Some(1),
        other => panic!("is_completed column holds {other}"),
    };
    row["is_completed"] = Value::Bool(completed);
    row
}
