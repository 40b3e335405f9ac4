//! The hot task reads on PostgreSQL, on connections of their own that need one round trip per
//! statement instead of the pool's two.
//!
//! When sqlx's pool takes a connection back it hands it to a new task that sends `Sync` and waits
//! for the answer before the connection can serve again: a cancelled statement may have left
//! it half-read. That is a second round trip, and a second wake-up of both the database backend
//! and this process, for every statement: on a task get it was a third of the service's system
//! calls (bench/README.md, "Where a task get's time goes"). Here a connection goes back to the
//! idle list only when its statement ran to the end (sqlx reads up to `ReadyForQuery`), so it
//! needs no check; a statement that fails or is cancelled (its client went away) drops its
//! connection instead, and a later read opens a replacement.
//!
//! [`Reads`] implements sea-orm's `ConnectionTrait`, so the repository runs the same statement
//! builders either way: queries take a reserved connection, `execute` goes through the pool. On
//! SQLite (no network round trip to save) and with `DB_READ_CONNECTIONS=0` everything goes
//! through the pool.
//!
//! Otherwise it behaves like the pool: at most `DB_READ_CONNECTIONS` open, opened on demand; a
//! read waits at most `DB_TIMEOUT_MS` for one (then `DbErr::ConnectionAcquire`, a 503); the same
//! connection settings (`statement_timeout`, TLS, password); a connection idle for 10 s is pinged
//! before it serves, one idle for 5 minutes is closed; each wait is recorded in
//! `api_db_pool_acquire_wait_seconds`, and each statement is a `sea_orm.query_one` /
//! `sea_orm.query_all` span with the fields sea-orm gives its own.

use std::{
    str::FromStr,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::{Duration, Instant},
};

use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
    sqlx::{
        self, ConnectOptions, Connection,
        postgres::{PgConnectOptions, PgConnection},
    },
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;

use super::{IDLE_TIMEOUT, PING_IF_IDLE_FOR, postgres_options, url_without_password};
use crate::{config::DatabaseConfig, metrics::METRICS};

/// Reads for the repositories: reserved PostgreSQL connections, or the pool.
#[derive(Clone)]
pub(crate) struct Reads {
    pool: DatabaseConnection,
    reserved: Option<Arc<Reserved>>,
}

impl Reads {
    /// Reads over `pool`'s database; on PostgreSQL with `DB_READ_CONNECTIONS` > 0, on up to that
    /// many connections of their own (none is opened before the first read).
    pub(crate) fn new(pool: DatabaseConnection, config: &DatabaseConfig) -> Result<Self, DbErr> {
        let reserved = if pool.get_database_backend() == DatabaseBackend::Postgres && config.read_connections > 0 {
            let options = PgConnectOptions::from_str(&url_without_password(config)).map_err(conn_err)?;
            let reserved = Arc::new(Reserved {
                options: postgres_options(options, config).disable_statement_logging(),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(config.read_connections as usize),
                size: config.read_connections,
                timeout: config.timeout,
            });
            tokio::spawn(close_idle(Arc::downgrade(&reserved)));
            Some(reserved)
        } else {
            None
        };
        Ok(Self { pool, reserved })
    }

    /// The reserved connections' size, open count and idle count (zeros when there are none).
    pub(crate) fn connections(&self) -> (u32, u32, u32) {
        self.reserved.as_ref().map_or((0, 0, 0), |reserved| {
            let idle = u32::try_from(reserved.idle().len()).unwrap_or(u32::MAX);
            let in_use = reserved.size - u32::try_from(reserved.permits.available_permits()).unwrap_or(0);
            (reserved.size, idle + in_use, idle)
        })
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reads {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.pool.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let Some(reserved) = &self.reserved else { return self.pool.query_one_raw(stmt).await };
        traced(statement_span!("sea_orm.query_one", &stmt.sql), async {
            let mut checkout = reserved.checkout().await?;
            let row = sqlx_query(&stmt).fetch_optional(checkout.connection()).await.map_err(query_err)?;
            checkout.put_back();
            Ok(row.map(QueryResult::from))
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(reserved) = &self.reserved else { return self.pool.query_all_raw(stmt).await };
        traced(statement_span!("sea_orm.query_all", &stmt.sql), async {
            let mut checkout = reserved.checkout().await?;
            let rows = sqlx_query(&stmt).fetch_all(checkout.connection()).await.map_err(query_err)?;
            checkout.put_back();
            Ok(rows.into_iter().map(QueryResult::from).collect())
        })
        .await
    }
}

/// The reserved connections.
struct Reserved {
    options: PgConnectOptions,
    /// Connections ready for a statement, the most recently used last.
    idle: Mutex<Vec<IdleConnection>>,
    /// One per connection that may be open: a connection is opened or taken while holding one.
    permits: Semaphore,
    size: u32,
    timeout: Duration,
}

struct IdleConnection {
    connection: PgConnection,
    since: Instant,
}

/// A connection taken for one statement. [`Checkout::put_back`] returns it; dropped without
/// that (the statement failed, or its future was cancelled) the connection is closed.
struct Checkout<'a> {
    connection: Option<PgConnection>,
    reserved: &'a Reserved,
    _permit: SemaphorePermit<'a>,
}

impl Reserved {
    fn idle(&self) -> MutexGuard<'_, Vec<IdleConnection>> {
        // Nothing panics while holding the lock; a poisoned list is still a valid list.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection for one statement: the most recently used idle one (pinged first if it sat
    /// idle long enough to have gone stale), else a new one.
    async fn checkout(&self) -> Result<Checkout<'_>, DbErr> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let mut reused = self.idle().pop();
        if let Some(idle) = &mut reused
            && idle.since.elapsed() >= PING_IF_IDLE_FOR
            && !matches!(tokio::time::timeout_at(deadline, idle.connection.ping()).await, Ok(Ok(())))
        {
            reused = None;
        }
        let connection = match reused {
            Some(idle) => idle.connection,
            None => tokio::time::timeout_at(deadline, PgConnection::connect_with(&self.options))
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
                .map_err(conn_err)?,
        };
        METRICS.pool_acquire_wait.observe(started.elapsed().as_secs_f64());
        Ok(Checkout { connection: Some(connection), reserved: self, _permit: permit })
    }
}

impl Checkout<'_> {
    fn connection(&mut self) -> &mut PgConnection {
        self.connection.as_mut().expect("a checkout holds its connection until put back")
    }

    /// Returns the connection to the idle list: only after its statement read every reply.
    fn put_back(mut self) {
        if let Some(connection) = self.connection.take() {
            self.reserved.idle().push(IdleConnection { connection, since: Instant::now() });
        }
    }
}

/// Closes connections idle for [`IDLE_TIMEOUT`], once a minute, until the reads are dropped.
async fn close_idle(reserved: Weak<Reserved>) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        let Some(reserved) = reserved.upgrade() else { return };
        // The oldest are first; dropping a connection closes its socket.
        reserved.idle().retain(|idle| idle.since.elapsed() < IDLE_TIMEOUT);
    }
}

/// The statement as sqlx runs it for sea-orm (same SQL text, same value encoding).
fn sqlx_query(stmt: &Statement) -> sqlx::query::Query<'_, sqlx::Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

/// The span sea-orm opens around each statement (its `tracing-spans` feature), with the same
/// name and fields; the SQL text has placeholders, never values.
macro_rules! statement_span {
    ($name:literal, $sql:expr) => {{
        let sql: &str = $sql;
        let operation = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        tracing::info_span!(
            $name,
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = %operation,
            db.statement = sql,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
        )
    }};
}
use statement_span;

/// Runs `statement` inside `span` and records its outcome there, as sea-orm does.
async fn traced<T>(span: tracing::Span, statement: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
    let result = statement.instrument(span.clone()).await;
    match &result {
        Ok(_) => span.record("otel.status_code", "OK"),
        Err(err) => span.record("otel.status_code", "ERROR").record("exception.message", tracing::field::display(err)),
    };
    result
}
