//! [`AppState`]: what every request can reach, built once by `app::build` and handed to the
//! handlers as request data.
//!
//! Handlers get the domain services (`accounts`, `sessions`, `tasks`, `jwts`) and the edge settings;
//! the database handle is private to this module (readiness probe and shutdown only), so every
//! read and write of a row goes through a domain service.

use std::{ops::Deref, sync::Arc};

use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};

use crate::{
    auth::{
        accounts::{AccountSettings, Accounts},
        audit::AuditTrail,
        cookies::CookieSettings,
        jwt::{JwtSettings, Jwts},
        password::Hasher,
        sessions::Sessions,
        store::AuthStore,
        throttle::AccountThrottle,
        two_factor::{TwoFactor, TwoFactorSettings},
    },
    config::{Config, RateLimitStorage},
    db,
    http::origin::TrustedOrigins,
    mail::Mailer,
    tasks::{
        live::StreamLimits,
        service::{TaskSettings, Tasks},
    },
};

/// State shared by every request; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<StateInner>);

/// What [`AppState`] holds.
pub(crate) struct StateInner {
    /// The validated configuration.
    pub(crate) config: Config,
    /// Origins trusted for CORS and CSRF checks.
    pub(crate) origins: TrustedOrigins,
    /// Every cookie's name and attributes (prefix, `Domain`, `SameSite`, `Secure`).
    pub(crate) cookies: CookieSettings,
    /// The URL mailed links start with, and relative callbacks are resolved against.
    pub(crate) public_base_url: String,
    /// Sign-up, sign-in and the account lifecycle.
    pub(crate) accounts: Accounts,
    /// Session lookup, refresh, listing and revocation.
    pub(crate) sessions: Sessions,
    /// The security audit trail: a user's events, and the retention sweep.
    pub(crate) audit: AuditTrail,
    /// Two-factor enrolment and verification.
    pub(crate) two_factor: TwoFactor,
    /// The tasks service.
    pub(crate) tasks: Tasks,
    /// JWTs for other backends and their key set.
    pub(crate) jwts: Jwts,
    store: AuthStore,
    db: DatabaseConnection,
    reads: db::Reads,
}

impl Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

impl AppState {
    /// Wires the services over one database handle (and its hot-read path, `reads`).
    pub(crate) fn new(
        config: Config,
        db: DatabaseConnection,
        reads: db::Reads,
        origins: TrustedOrigins,
        mailer: Mailer,
        public_base_url: String,
    ) -> Self {
        let store = AuthStore::new(db.clone(), config.session.cache_ttl, config.session.token_storage);
        let sessions = Sessions::new(store.clone(), config.session.clone());
        let settings = AccountSettings {
            verification: config.verification.clone(),
            secret: config.auth_secret.clone(),
            public_base_url: public_base_url.clone(),
            throttle: (config.rate_limit.enabled && config.rate_limit.account_free_attempts > 0).then_some(
                AccountThrottle {
                    free: config.rate_limit.account_free_attempts,
                    max_delay: config.rate_limit.account_max_delay,
                },
            ),
        };
        let hasher = Hasher::new(&config.hashing);
        let two_factor = TwoFactor::new(
            store.clone(),
            sessions.clone(),
            hasher.clone(),
            mailer.clone(),
            TwoFactorSettings { secret: config.auth_secret.clone(), issuer: config.two_factor_issuer.clone() },
        );
        let accounts = Accounts::new(store.clone(), sessions.clone(), hasher, mailer, two_factor.clone(), settings);
        let jwt = &config.jwt;
        let jwt_settings = JwtSettings {
            algorithm: jwt.algorithm,
            issuer: jwt.issuer.clone().unwrap_or_else(|| public_base_url.clone()),
            audience: jwt.audience.clone().unwrap_or_else(|| public_base_url.clone()),
            expires_in: jwt.expires_in,
            rotation_interval: jwt.rotation_interval,
            grace_period: jwt.grace_period,
        };
        let jwts = Jwts::new(store.clone(), config.auth_secret.clone(), jwt_settings);
        let audit = AuditTrail::new(store.clone(), config.audit_retention);
        let task_settings = TaskSettings {
            secret: config.auth_secret.clone(),
            per_user_limit: config.tasks.per_user_limit,
            sync_retention: config.tasks.sync_retention,
            stream_limits: StreamLimits {
                per_user: config.tasks.events_per_user,
                per_instance: config.tasks.events_max,
            },
        };
        let tasks = Tasks::new(db.clone(), reads.clone(), store.clone(), task_settings);
        Self(Arc::new(StateInner {
            origins,
            cookies: CookieSettings::new(&config.cookies),
            public_base_url,
            accounts,
            sessions,
            audit,
            two_factor,
            tasks,
            jwts,
            store,
            db,
            reads,
            config,
        }))
    }

    /// The store the rate limiter counts in, when its counts are shared through the database
    /// (`RATE_LIMIT_STORAGE=database`).
    pub(crate) fn rate_limit_store(&self) -> Option<AuthStore> {
        (self.config.rate_limit.enabled && self.config.rate_limit.storage == RateLimitStorage::Database)
            .then(|| self.store.clone())
    }

    /// Deletes the counts of the `rateLimit` table (shared rate limits, sign-in throttle) whose
    /// window has passed: last counted more than the longest window ago.
    pub(crate) async fn sweep_rate_limits(&self) -> Result<u64, DbErr> {
        let longest = self
            .config
            .rate_limit
            .window
            .max(crate::auth::rate_limit::LONGEST_FIXED_WINDOW)
            .max(crate::auth::throttle::RESET_AFTER);
        let before = time::OffsetDateTime::now_utc() - longest;
        let before_ms = i64::try_from(before.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        self.store.write().delete_stale_rate_limits(before_ms).await
    }

    /// Whether the database answers (readiness).
    pub(crate) async fn ping_database(&self) -> Result<(), DbErr> {
        db::ping(&self.db).await
    }

    /// Keeps the session cache coherent with other processes (PostgreSQL only; runs until
    /// aborted). `None` when there is nothing to listen for.
    pub(crate) fn cache_listener(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let listen =
            self.db.get_database_backend() == DatabaseBackend::Postgres && !self.config.session.cache_ttl.is_zero();
        listen.then(|| self.store.clone().listen())
    }

    /// Wakes this process's live-update streams when another instance changes a task
    /// (PostgreSQL only; runs until aborted). `None` on SQLite, where one process serves.
    pub(crate) fn change_listener(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        (self.db.get_database_backend() == DatabaseBackend::Postgres).then(|| self.tasks.change_listener())
    }

    /// Sets the database pool gauges (`metrics`), read when Prometheus scrapes.
    pub(crate) fn record_pool_metrics(&self) {
        let (open, idle) = db::pool_connections(&self.db);
        let metrics = &crate::metrics::METRICS;
        metrics.pool_max.set(i64::from(self.config.database.max_connections));
        metrics.pool_connections.with_label_values(&["idle"]).set(i64::try_from(idle).unwrap_or(i64::MAX));
        metrics.pool_connections.with_label_values(&["in_use"]).set(i64::from(open) - i64::try_from(idle).unwrap_or(0));
    }

    /// Closes the database pool (which waits for every connection to come back, so the task
    /// reads hand theirs back first).
    pub(crate) async fn close(&self) {
        self.reads.release();
        self.db.clone().close().await.ok();
    }
}
