//! The hot task reads on PostgreSQL: one round trip per statement instead of the pool's two.
//!
//! When sqlx's pool takes a connection back it hands it to a new task that sends `Sync` and waits
//! for the answer before the connection can serve again (a cancelled statement may have left it
//! half-read). That is a second round trip, and a second wake-up of both the database backend
//! and this process, for every statement: on a task get it was a third of the service's system
//! calls (bench/README.md, "Where a task get's time goes"). Here the reads keep the pool
//! connections they take, up to `DB_READ_CONNECTIONS`, and reuse them while they are busy: a
//! connection goes back to the reads' idle list only when its statement ran to the end (sqlx
//! reads up to `ReadyForQuery`), so it needs no check. A statement that fails or is cancelled (its
//! client went away) hands its connection back to the pool, which checks it as usual; so does
//! every kept connection left unused for [`RETURN_AFTER`]: when reads stop, the pool has all its
//! connections again within two seconds.
//!
//! The connections are the pool's: the same settings, the same `DB_MAX_CONNECTIONS` budget (the
//! reads keep at most half of it, `config`), the same acquire timeout (then
//! `DbErr::ConnectionAcquire`, a 503) and the same metrics; one left idle in the reads' list for
//! 10 s is pinged before it serves, as the pool does. Each statement is a `sea_orm.query_one` /
//! `sea_orm.query_all` span with the fields sea-orm gives its own.
//!
//! [`Reads`] implements sea-orm's `ConnectionTrait`, so the repository runs the same statement
//! builders either way: queries take a kept connection, `execute` goes through the pool. On
//! SQLite (no network round trip to save) and with `DB_READ_CONNECTIONS=0` everything goes
//! through the pool.

use std::{
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::{Duration, Instant},
};

use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
    sqlx::{self, Connection, PgPool, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;

use super::PING_IF_IDLE_FOR;
use crate::{config::DatabaseConfig, metrics::METRICS};

/// A kept connection unused this long goes back to the pool.
const RETURN_AFTER: Duration = Duration::from_secs(1);

/// Reads for the repositories: kept pool connections on PostgreSQL, or the pool as it is.
#[derive(Clone)]
pub(crate) struct Reads {
    pool: DatabaseConnection,
    kept: Option<Arc<Kept>>,
}

impl Reads {
    /// Reads over `pool`; on PostgreSQL with `DB_READ_CONNECTIONS` > 0, keeping up to that many
    /// of the pool's connections while they are busy.
    pub(crate) fn new(pool: DatabaseConnection, config: &DatabaseConfig) -> Self {
        let keep = pool.get_database_backend() == DatabaseBackend::Postgres && config.read_connections > 0;
        let kept = keep.then(|| {
            let kept = Arc::new(Kept {
                pool: pool.get_postgres_connection_pool().clone(),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(config.read_connections as usize),
                timeout: config.timeout,
            });
            tokio::spawn(return_unused(Arc::downgrade(&kept)));
            kept
        });
        Self { pool, kept }
    }

    /// Hands every kept connection back to the pool (before the pool closes).
    pub(crate) fn release(&self) {
        if let Some(kept) = &self.kept {
            kept.hand_back(Duration::ZERO);
        }
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
        let Some(kept) = &self.kept else { return self.pool.query_one_raw(stmt).await };
        traced(statement_span!("sea_orm.query_one", &stmt.sql), async {
            let mut checkout = kept.checkout().await?;
            let row = sqlx_query(&stmt).fetch_optional(checkout.connection()).await.map_err(query_err)?;
            checkout.keep();
            Ok(row.map(QueryResult::from))
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(kept) = &self.kept else { return self.pool.query_all_raw(stmt).await };
        traced(statement_span!("sea_orm.query_all", &stmt.sql), async {
            let mut checkout = kept.checkout().await?;
            let rows = sqlx_query(&stmt).fetch_all(checkout.connection()).await.map_err(query_err)?;
            checkout.keep();
            Ok(rows.into_iter().map(QueryResult::from).collect())
        })
        .await
    }
}

/// The pool connections the reads keep.
struct Kept {
    pool: PgPool,
    /// Kept connections ready for a statement, the most recently used last.
    idle: Mutex<Vec<IdleConnection>>,
    /// One per connection the reads may keep: a connection is taken or reused while holding one.
    permits: Semaphore,
    timeout: Duration,
}

struct IdleConnection {
    connection: PoolConnection<sqlx::Postgres>,
    since: Instant,
}

/// A connection taken for one statement. [`Checkout::keep`] keeps it for the next read; dropped
/// without that (the statement failed, or its future was cancelled) the connection goes back to
/// the pool, which checks it.
struct Checkout<'a> {
    connection: Option<PoolConnection<sqlx::Postgres>>,
    kept: &'a Kept,
    _permit: SemaphorePermit<'a>,
}

impl Kept {
    fn idle(&self) -> MutexGuard<'_, Vec<IdleConnection>> {
        // Nothing panics while holding the lock; a poisoned list is still a valid list.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands the kept connections unused for at least `unused_for` back to the pool.
    fn hand_back(&self, unused_for: Duration) {
        // The longest unused come first; dropping a `PoolConnection` returns it to the pool, which
        // is done after the lock is released.
        let unused: Vec<IdleConnection> = {
            let mut idle = self.idle();
            let unused = idle.iter().take_while(|connection| connection.since.elapsed() >= unused_for).count();
            idle.drain(..unused).collect()
        };
        drop(unused);
    }

    /// A connection for one statement: the most recently used kept one (pinged first if it sat
    /// idle long enough to have gone stale), else one from the pool.
    async fn checkout(&self) -> Result<Checkout<'_>, DbErr> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let reused = self.idle().pop();
        let connection = match reused {
            Some(idle) if idle.since.elapsed() < PING_IF_IDLE_FOR => {
                // A fresh acquisition is timed by sqlx itself (`metrics::pool_acquire_layer`).
                METRICS.pool_acquire_wait.observe(started.elapsed().as_secs_f64());
                idle.connection
            }
            // The rare paths, boxed: their futures (sqlx's acquire above all) are several KiB, which
            // every poll of a read would otherwise carry and copy.
            stale => Box::pin(self.check_or_acquire(stale, deadline)).await?,
        };
        Ok(Checkout { connection: Some(connection), kept: self, _permit: permit })
    }

    /// A kept connection that sat idle, if it still answers a ping; else one from the pool.
    async fn check_or_acquire(
        &self,
        stale: Option<IdleConnection>,
        deadline: tokio::time::Instant,
    ) -> Result<PoolConnection<sqlx::Postgres>, DbErr> {
        if let Some(mut idle) = stale
            && matches!(tokio::time::timeout_at(deadline, idle.connection.ping()).await, Ok(Ok(())))
        {
            return Ok(idle.connection);
        }
        match tokio::time::timeout_at(deadline, self.pool.acquire()).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
            Ok(Err(err)) => Err(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))),
        }
    }
}

impl Checkout<'_> {
    fn connection(&mut self) -> &mut sqlx::PgConnection {
        self.connection.as_mut().expect("a checkout holds its connection until kept")
    }

    /// Keeps the connection for the next read: only after its statement read every reply.
    fn keep(mut self) {
        if let Some(connection) = self.connection.take() {
            self.kept.idle().push(IdleConnection { connection, since: Instant::now() });
        }
    }
}

/// Every [`RETURN_AFTER`], hands the kept connections unused that long back to the pool, until
/// the reads are dropped.
async fn return_unused(kept: Weak<Kept>) {
    let mut every = tokio::time::interval(RETURN_AFTER);
    loop {
        every.tick().await;
        let Some(kept) = kept.upgrade() else { return };
        kept.hand_back(RETURN_AFTER);
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
