//! The database: connecting (SQLite or PostgreSQL through one sea-orm code path), migrating,
//! classifying outages, and the few value encodings that differ between the two backends.
//!
//! Queries live with their domain (`auth::repo`, `tasks::repo`); they are plain SQL with `$n`
//! placeholders (understood by both sqlx drivers), so each hot query is visible and
//! `EXPLAIN`-able as written.

use std::{path::Path, time::Duration};

use migration::MigratorTrait;
use sea_orm::{
    ColIdx, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, QueryResult,
    RuntimeErr, Statement, Value,
    sqlx::{
        self,
        postgres::PgSslMode,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};
use time::OffsetDateTime;

use crate::{config::DatabaseConfig, timestamp};

mod reads;

pub(crate) use reads::Reads;

/// Connections the PostgreSQL listeners hold for good: the session cache's invalidations and the
/// tasks' live updates.
const LISTENER_CONNECTIONS: u32 = 2;

/// A pooled connection idle this long may have gone stale (a restarted database, a proxy's
/// timeout): it is pinged before it serves a statement.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// The level of sqlx's per-acquisition event: below any log level `RUST_LOG` would set for
/// sqlx, so only the metrics layer (which selects the target itself) sees it.
const ACQUIRE_TIME_LEVEL: log::LevelFilter = log::LevelFilter::Trace;

/// Connects with the service's settings: on SQLite, WAL journal, full sync, foreign keys and a
/// busy timeout; on PostgreSQL, a per-statement timeout. Both: a bounded pool whose acquire
/// timeout turns an outage into a quick 503 instead of a hang.
///
/// With `time_acquires` (metrics are served), sqlx reports every connection acquisition's wait
/// as a `tracing` event, which `metrics::pool_acquire_layer` records; without it, sqlx only
/// warns about acquisitions slower than two seconds, as by default.
pub(crate) async fn connect(config: &DatabaseConfig, time_acquires: bool) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = sqlite_file(&config.url)
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|err| DbErr::Custom(format!("cannot create {}: {err}", dir.display())))?;
    }
    let timeout = config.timeout;
    let skip_tls = is_loopback_without_sslmode(&config.url);
    let statement_timeout_ms = timeout.as_millis().to_string();
    // The password goes to sqlx directly, never into sea-orm's `ConnectOptions`: sea-orm records
    // those (URL included) as a tracing span field, which every debug event during a connection
    // (rustls, sqlx) prints, so `RUST_LOG=debug` would log the database password.
    let (url, password) = split_password(&config.url);
    // On PostgreSQL the session-cache and live-update listeners each hold one pooled connection
    // for the life of the process (sqlx's `PgListener` takes it from the pool): the pool has
    // those on top of `DB_MAX_CONNECTIONS`, so requests keep the configured number. Without
    // them, `DB_MAX_CONNECTIONS=2` left no connection for requests at all.
    let listeners = if url.starts_with("postgres") { LISTENER_CONNECTIONS } else { 0 };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.max_connections + listeners)
        .min_connections(1)
        .acquire_timeout(timeout)
        .connect_timeout(timeout)
        .idle_timeout(Duration::from_secs(300))
        // sqlx pings every connection it hands out by default: a second round trip per query.
        // Only connections idle long enough to have gone stale (a restarted database, a proxy
        // timeout) are checked; a live one that breaks fails its query and is discarded.
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .sqlx_logging(false)
        .map_sqlx_sqlite_pool_opts(
            move |opts| if time_acquires { opts.acquire_time_level(ACQUIRE_TIME_LEVEL) } else { opts },
        )
        .map_sqlx_postgres_pool_opts(
            move |opts| {
                if time_acquires { opts.acquire_time_level(ACQUIRE_TIME_LEVEL) } else { opts }
            },
        )
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(timeout)
        })
        .map_sqlx_postgres_opts(move |opts| {
            let opts = opts.options([("statement_timeout", statement_timeout_ms.as_str())]);
            let opts = match &password {
                Some(password) => opts.password(password),
                None => opts,
            };
            if skip_tls { opts.ssl_mode(PgSslMode::Disable) } else { opts }
        });
    Database::connect(options).await
}

/// Applies every pending migration. When none is pending (the usual restart) this costs one
/// query: sea-orm-migration's own check takes several round trips and logs notices.
///
/// Otherwise the migrator runs under a database-wide lock, so that any number of instances
/// starting together on one empty database all come up and the schema is applied once: the
/// first holds the lock and migrates, the others wait for it and then find nothing pending.
/// PostgreSQL: a session advisory lock on a dedicated connection (the pool could hand the
/// migrator another connection than the one holding the lock). SQLite: an exclusive `flock` on a
/// file beside the database (separate from SQLite's own locks, which a migration made of several
/// statements outside one transaction does not hold throughout).
pub(crate) async fn migrate(db: &DatabaseConnection, config: &DatabaseConfig) -> Result<(), DbErr> {
    if all_applied(db).await.unwrap_or(false) {
        return Ok(());
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => migrate_under_advisory_lock(config).await,
        _ => match sqlite_file(&config.url) {
            Some(path) => migrate_under_file_lock(db, Path::new(path)).await,
            None => migration::Migrator::up(db, None).await,
        },
    }
}

/// The advisory lock key the migrator holds on PostgreSQL (`api_migr` in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6170_695f_6d69_6772;

async fn migrate_under_advisory_lock(config: &DatabaseConfig) -> Result<(), DbErr> {
    let single = DatabaseConfig { max_connections: 1, ..config.clone() };
    let conn = connect(&single, false).await?;
    // Waiting for another instance's migration is not a slow statement: no statement timeout
    // while queueing for the lock; the migration itself runs with the configured one.
    let result = async {
        conn.execute_unprepared("SET statement_timeout = 0").await?;
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).await?;
        conn.execute_unprepared("RESET statement_timeout").await?;
        let migrated = migration::Migrator::up(&conn, None).await;
        conn.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).await?;
        migrated
    }
    .await;
    // Closing the connection also releases the lock if anything above failed.
    conn.close().await.ok();
    result
}

async fn migrate_under_file_lock(db: &DatabaseConnection, database: &Path) -> Result<(), DbErr> {
    let mut name = database.as_os_str().to_owned();
    name.push("-migrate.lock");
    let path = std::path::PathBuf::from(name);
    let lock = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|err| DbErr::Custom(format!("migration lock: {err}")))?
    .map_err(|err| DbErr::Custom(format!("cannot lock the migration lock file: {err}")))?;
    let migrated = migration::Migrator::up(db, None).await;
    // Dropping the file releases the lock.
    drop(lock);
    migrated
}

async fn all_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), r#"SELECT "version" FROM "seaql_migrations""#))
        .await?;
    let applied: std::collections::HashSet<String> =
        rows.iter().filter_map(|row| row.try_get::<String>("", "version").ok()).collect();
    Ok(migration::Migrator::migrations().iter().all(|m| applied.contains(m.name())))
}

/// The pool's open connections and how many of them are idle.
pub(crate) fn pool_connections(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

/// Whether the database answers (`SELECT 1`).
pub(crate) async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), "SELECT 1")).await.map(|_| ())
}

/// A PostgreSQL URL without its password, and the password percent-decoded (as sqlx reads it
/// from a URL). Other URLs are returned as they are.
fn split_password(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = url::Url::parse(url) else { return (url.to_owned(), None) };
    let Some(encoded) = parsed.password().map(str::to_owned) else { return (url.to_owned(), None) };
    if !parsed.scheme().starts_with("postgres") || parsed.set_password(None).is_err() {
        return (url.to_owned(), None);
    }
    (parsed.to_string(), Some(percent_decode(&encoded)))
}

/// Decodes `%XX` escapes (two hex digits); anything else is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            (bytes[i] == b'%').then(|| bytes.get(i + 1..i + 3)).flatten().and_then(|hex| hex::decode(hex).ok());
        match escaped {
            Some(byte) => {
                out.extend_from_slice(&byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a PostgreSQL URL names a server on this machine and leaves `sslmode` unset. sqlx
/// would then negotiate TLS (`prefer`), which on loopback protects nothing and costs about a
/// fifth of the CPU of a simple query; an explicit `sslmode` is always honoured.
fn is_loopback_without_sslmode(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    if !parsed.scheme().starts_with("postgres") || parsed.query_pairs().any(|(k, _)| k == "sslmode") {
        return false;
    }
    // `postgres:` is not a special scheme for the URL parser, so hosts arrive as text.
    match parsed.host_str() {
        None | Some("") => true,
        Some(host) => {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// The file path of an `sqlite:` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// Whether an error means "the database is unreachable or overloaded right now" (503) rather
/// than a bug (500).
pub(crate) fn is_unavailable(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else { return false };
    match &**sqlx_err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_err) => {
            let code = db_err.code().unwrap_or_default();
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED, 10 SQLITE_IOERR, 14 SQLITE_CANTOPEN (and
            // their extended codes, whose low byte is the primary code).
            // PostgreSQL: class 08 connection exception, 53 insufficient resources, 57P0x
            // shutdown, 57014 statement timeout, 40001/40P01 serialization failure/deadlock.
            let sqlite_primary = code.parse::<u32>().ok().map(|c| c & 0xff);
            matches!(sqlite_primary, Some(5 | 6 | 10 | 14))
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "57014"
                || code == "40001"
                || code == "40P01"
        }
        _ => false,
    }
}

/// Whether an error means a statement gave up waiting for a lock another transaction holds:
/// PostgreSQL's statement or lock timeout (57014, 55P03), SQLite's busy timeout (5, 6).
pub(crate) fn is_wait_timeout(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx_err)) | DbErr::Query(RuntimeErr::SqlxError(sqlx_err))) = err else {
        return false;
    };
    let sqlx::Error::Database(db_err) = &**sqlx_err else { return false };
    let code = db_err.code().unwrap_or_default();
    let sqlite_primary = code.parse::<u32>().ok().map(|c| c & 0xff);
    matches!(sqlite_primary, Some(5 | 6)) || code == "57014" || code == "55P03"
}

/// Whether an error is a foreign-key violation (a referenced row is gone).
pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)))
}

/// Whether an error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// A Better Auth timestamp column value: `timestamptz` on PostgreSQL; on SQLite the 24-character
/// `toISOString()` text Better Auth writes and compares as text (`docs/better-auth-wire.md` §8.2).
pub fn auth_time(backend: DatabaseBackend, at: OffsetDateTime) -> Value {
    match backend {
        DatabaseBackend::Sqlite => timestamp::iso_millis(at).into(),
        _ => at.into(),
    }
}

/// A `task` timestamp column value: `timestamptz` on PostgreSQL; fixed-width RFC 3339 text
/// with microseconds on SQLite (the precision PostgreSQL keeps, so ETags agree on both).
pub(crate) fn task_time(backend: DatabaseBackend, at: OffsetDateTime) -> Value {
    match backend {
        DatabaseBackend::Sqlite => timestamp::iso_micros(at).into(),
        _ => at.into(),
    }
}

/// Reads a timestamp column: a native timestamp (PostgreSQL) or RFC 3339 text (SQLite).
pub(crate) fn read_time<I: ColIdx>(row: &QueryResult, column: I) -> Result<OffsetDateTime, DbErr> {
    if let Ok(at) = row.try_get_by::<OffsetDateTime, I>(column) {
        return Ok(at);
    }
    let text: String = row.try_get_by(column)?;
    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|err| DbErr::Type(format!("column {column:?}: not a timestamp: {err}")))
}

/// Reads a nullable timestamp column (see [`read_time`]).
pub(crate) fn read_optional_time(row: &QueryResult, column: &str) -> Result<Option<OffsetDateTime>, DbErr> {
    if let Ok(at) = row.try_get::<Option<OffsetDateTime>>("", column) {
        return Ok(at);
    }
    let text: Option<String> = row.try_get("", column)?;
    text.map(|text| {
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map_err(|err| DbErr::Type(format!("column {column}: not a timestamp: {err}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_taken_out_of_postgres_urls_and_decoded() {
        assert_eq!(
            split_password("postgres://app:s%40cr%3At+x@db.example.com:5432/app?sslmode=require"),
            ("postgres://app@db.example.com:5432/app?sslmode=require".to_owned(), Some("s@cr:t+x".to_owned()))
        );
        assert_eq!(split_password("postgres://app@db/app"), ("postgres://app@db/app".to_owned(), None));
        assert_eq!(split_password("sqlite://data/app.db?mode=rwc"), ("sqlite://data/app.db?mode=rwc".to_owned(), None));
        assert_eq!(percent_decode("%zz%4"), "%zz%4", "malformed escapes stay as they are");
    }

    #[test]
    fn tls_is_skipped_only_for_loopback_servers_without_an_explicit_sslmode() {
        assert!(is_loopback_without_sslmode("postgres://postgres@127.0.0.1:5432/db"));
        assert!(is_loopback_without_sslmode("postgresql://u:p@localhost/db"));
        assert!(is_loopback_without_sslmode("postgres://u@[::1]/db"));
        assert!(!is_loopback_without_sslmode("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(!is_loopback_without_sslmode("postgres://u@db.example.com/db"));
        assert!(!is_loopback_without_sslmode("postgres://u@10.0.0.5/db"));
        assert!(!is_loopback_without_sslmode("sqlite://data/app.db"));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://data/app.db?mode=rwc"), Some("data/app.db"));
        assert_eq!(sqlite_file("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/db"), None);
    }
}
