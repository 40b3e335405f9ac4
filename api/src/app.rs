//! Builds the service: shared state, the OpenAPI service with every API, the routes around it,
//! the middleware order, and serving with graceful shutdown.
//!
//! [`build`] binds before it returns, so `PORT=0` works and [`App::local_addr`] reports the
//! real address; the tests use exactly this path.

use std::{
    future::Future,
    net::SocketAddr,
    ops::Deref,
    sync::{Arc, OnceLock},
    time::Duration,
};

use poem::{
    Endpoint, EndpointExt, Request, Response, Route, Server,
    endpoint::BoxEndpoint,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};

use crate::{
    auth::{
        account_api::AccountApi,
        api::AuthApi,
        cache::{self, SessionCache},
        cookies::CookieNames,
        password::Hasher,
        rate_limit::{self, RateLimiter},
        repo,
        sessions_api::SessionsApi,
        verification,
    },
    config::Config,
    db,
    error::framework_error_response,
    health::HealthApi,
    http::{middleware, origin::TrustedOrigins},
    mail::{MailError, Mailer},
    tasks::api::TasksApi,
};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Operation groups in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Better Auth compatible email/password sign-up, sign-in and sessions.
    Auth,
    /// The signed-in user's tasks.
    Tasks,
    /// Liveness and readiness probes.
    Health,
}

/// State shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

/// What [`AppState`] holds.
pub struct StateInner {
    /// The validated configuration.
    pub config: Config,
    /// The database pool.
    pub db: DatabaseConnection,
    /// Origins trusted for CORS and CSRF checks.
    pub origins: TrustedOrigins,
    /// Session cookie names (with the `__Secure-` prefix on https).
    pub cookie_names: CookieNames,
    /// The bounded password-hashing pool.
    pub hasher: Hasher,
    /// Rate limiting of `/api/auth/*`.
    pub rate_limiter: RateLimiter,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Live sessions by stored token (see `auth::cache` for how revocation stays immediate).
    pub session_cache: Arc<SessionCache>,
    /// The URL mailed links start with: `BASE_URL`, or the address actually bound.
    pub public_base_url: String,
}

impl Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Connecting to or migrating the database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The mail transport could not be set up.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A built, bound service, ready to serve.
pub struct App {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    state: AppState,
}

/// Connects and migrates the database, builds the state and binds the listener.
pub async fn build(config: Config) -> Result<App, BuildError> {
    let db = db::connect(&config.database).await?;
    db::migrate(&db).await?;
    let acceptor = TcpListener::bind(config.bind)
        .into_acceptor()
        .await
        .map_err(|source| BuildError::Bind { addr: config.bind, source })?;
    let local_addr =
        acceptor.local_addr().into_iter().find_map(|addr| addr.as_socket_addr().copied()).unwrap_or(config.bind);
    let mailer = Mailer::new(&config.mail)?;
    let public_base_url = match &config.base_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{local_addr}"),
    };
    // On PostgreSQL the cache is trusted only once the invalidation listener is connected.
    let is_postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let session_cache = Arc::new(SessionCache::new(config.session.cache_ttl, !is_postgres));
    let mut trusted_origins = config.trusted_origins.clone();
    if config.base_url.is_none() {
        // Development without BASE_URL: trust this server's own pages (Swagger UI at /docs) on
        // the port actually bound, which `PORT=0` only reveals now.
        trusted_origins.push(format!("http://localhost:{}", local_addr.port()));
        trusted_origins.push(format!("http://127.0.0.1:{}", local_addr.port()));
    }
    let state = AppState(Arc::new(StateInner {
        session_cache,
        mailer,
        public_base_url,
        origins: TrustedOrigins::new(&trusted_origins),
        cookie_names: CookieNames::new(config.secure_cookies()),
        hasher: Hasher::new(&config.hashing),
        rate_limiter: RateLimiter::new(config.rate_limit.clone()),
        config,
        db,
    }));
    Ok(App { acceptor, local_addr, state })
}

impl App {
    /// The bound address (the real port when `PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (the tests use its database handle).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (up to a grace period) and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let endpoint = routes(self.state.clone());
        let sweeper = tokio::spawn(sweep_expired_sessions(self.state.clone()));
        let listener = (self.state.db.get_database_backend() == DatabaseBackend::Postgres
            && !self.state.config.session.cache_ttl.is_zero())
        .then(|| tokio::spawn(cache::listen(self.state.db.clone(), self.state.session_cache.clone())));
        tracing::info!("listening on http://{}", self.local_addr);
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(SHUTDOWN_GRACE))
            .await?;
        sweeper.abort();
        if let Some(listener) = listener {
            listener.abort();
        }
        self.state.db.clone().close().await.ok();
        tracing::info!("shut down");
        Ok(())
    }
}

/// The OpenAPI service: every API, with metadata. Needs no state, so the spec can be generated
/// without a database (`api openapi`, the spec test).
pub fn openapi_service() -> OpenApiService<(AuthApi, SessionsApi, AccountApi, TasksApi, HealthApi), ()> {
    OpenApiService::new(
        (AuthApi, SessionsApi, AccountApi, TasksApi, HealthApi),
        "Session auth and tasks API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(include_str!("openapi_description.md"))
    .license(LicenseObject::new("MIT").url("https://opensource.org/licenses/MIT"))
    .server(ServerObject::new("/").description("This server (the API is served next to the document)"))
}

/// The OpenAPI document as YAML, exactly as committed in `openapi.yaml`.
pub fn spec_yaml() -> String {
    openapi_service().spec_yaml()
}

/// The whole HTTP surface with its middleware.
fn routes(state: AppState) -> impl Endpoint {
    Route::new()
        .at("/openapi.json", OnFirstUse::new(|| openapi_service().spec_endpoint().map_to_response().boxed()))
        .at("/openapi.yaml", OnFirstUse::new(|| openapi_service().spec_endpoint_yaml().map_to_response().boxed()))
        .nest("/docs", OnFirstUse::new(|| openapi_service().swagger_ui().map_to_response().boxed()))
        .nest("/", openapi_service())
        .around(middleware::body_limit)
        .around(rate_limit::middleware)
        .catch_all_error(framework_error_response)
        .around(middleware::cors)
        .around(middleware::request_context)
        .data(state)
}

/// An endpoint built on its first request. The documentation endpoints render the whole spec
/// when they are built (a few MiB of short-lived allocations that an idle server's allocator
/// would keep); most servers never serve them, and start-up stays short.
struct OnFirstUse {
    make: fn() -> BoxEndpoint<'static>,
    built: OnceLock<BoxEndpoint<'static>>,
}

impl OnFirstUse {
    fn new(make: fn() -> BoxEndpoint<'static>) -> Self {
        Self { make, built: OnceLock::new() }
    }
}

impl Endpoint for OnFirstUse {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.built.get_or_init(self.make).call(req).await
    }
}

/// Deletes expired sessions and mail tokens every hour (expired ones are also rejected, and
/// sessions deleted, when presented).
async fn sweep_expired_sessions(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        let now = time::OffsetDateTime::now_utc();
        match repo::delete_expired_sessions(&state.db, now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(err) => tracing::warn!(error = %err, "expired-session sweep failed"),
        }
        if let Err(err) = verification::delete_expired(&state.db, now).await {
            tracing::warn!(error = %err, "expired-token sweep failed");
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
