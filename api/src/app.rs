//! Builds the service: the shared state, the OpenAPI service with every API, the routes around
//! it, the middleware order, the background jobs, and serving with graceful shutdown.
//!
//! [`build`] binds before it returns, so `PORT=0` works and [`App::local_addr`] reports the
//! real address; the tests use exactly this path.

use std::{future::Future, net::SocketAddr, sync::OnceLock, time::Duration};

use poem::{
    Endpoint, EndpointExt, Request, Response, Route,
    endpoint::BoxEndpoint,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::{LicenseObject, OpenApi, OpenApiService, ServerObject};
use sea_orm::DbErr;

use crate::{
    auth::{
        self,
        account_api::AccountApi,
        api::AuthApi,
        jwt_api::JwtApi,
        rate_limit::{RateLimit, RateLimiter},
        sessions_api::SessionsApi,
        two_factor_api::TwoFactorApi,
    },
    config::Config,
    db,
    error::{ApiError, ErrorResponses},
    health::HealthApi,
    http::{
        allow::{AllowHeader, AllowedMethods},
        layer::Wrap,
        middleware::{BodyLimit, Cors, NoStore, RequestContext},
        origin::TrustedOrigins,
        paths::{self, PathTemplate},
        request_metrics::RequestMetrics,
    },
    mail::Mailer,
    serve,
    state::AppState,
    tasks::{self, api::TasksApi},
};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Connecting to or migrating the database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The mail transport could not be set up.
    #[error("mail: {0}")]
    Mail(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    metrics: Option<(TcpAcceptor, SocketAddr)>,
    state: AppState,
}

/// Connects and migrates the database, builds the state and binds the listener.
pub async fn build(config: Config) -> Result<App, BuildError> {
    let metrics_served = config.metrics.bind.is_some() || config.metrics.token.is_some();
    let db = db::connect(&config.database, metrics_served).await?;
    db::migrate(&db, &config.database).await?;
    let acceptor = TcpListener::bind(config.bind)
        .into_acceptor()
        .await
        .map_err(|source| BuildError::Bind { addr: config.bind, source })?;
    let local_addr =
        acceptor.local_addr().into_iter().find_map(|addr| addr.as_socket_addr().copied()).unwrap_or(config.bind);
    let metrics = match config.metrics.bind {
        Some(addr) => {
            let acceptor =
                TcpListener::bind(addr).into_acceptor().await.map_err(|source| BuildError::Bind { addr, source })?;
            let bound = acceptor.local_addr().into_iter().find_map(|a| a.as_socket_addr().copied()).unwrap_or(addr);
            Some((acceptor, bound))
        }
        None => None,
    };
    let mailer = Mailer::new(&config.mail).map_err(|err| BuildError::Mail(Box::new(err)))?;
    let public_base_url = match &config.base_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{local_addr}"),
    };
    let mut trusted_origins = config.trusted_origins.clone();
    if config.base_url.is_none() {
        // Development without BASE_URL: trust this server's own pages (Swagger UI at /docs) on
        // the port actually bound, which `PORT=0` only reveals now.
        trusted_origins.push(format!("http://localhost:{}", local_addr.port()));
        trusted_origins.push(format!("http://127.0.0.1:{}", local_addr.port()));
    }
    let reads = db::Reads::new(db.clone(), &config.database);
    let state = AppState::new(config, db, reads, TrustedOrigins::new(&trusted_origins), mailer, public_base_url);
    Ok(App { acceptor, local_addr, metrics, state })
}

impl App {
    /// The bound address (the real port when `PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (up to a grace period) and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let endpoint = routes(self.state.clone());
        let sweeper = tokio::spawn(sweep_expired(self.state.clone()));
        let rate_limit_sweeper =
            self.state.config.rate_limit.enabled.then(|| tokio::spawn(sweep_rate_limits(self.state.clone())));
        let listener = self.state.cache_listener().map(tokio::spawn);
        let changes = self.state.change_listener().map(tokio::spawn);
        let metrics_server = self.metrics.map(|(acceptor, addr)| {
            tracing::info!("metrics on http://{addr}/metrics");
            let endpoint = Route::new().at("/metrics", MetricsEndpoint::new(&self.state)).data(self.state.clone());
            let limits = self.state.config.connections.clone();
            tokio::spawn(async move {
                let forever = std::future::pending();
                if let Err(err) = serve::serve(acceptor, endpoint, &limits, forever, SHUTDOWN_GRACE).await {
                    tracing::warn!(error = %err, "metrics server stopped");
                }
            })
        });
        tracing::info!("listening on http://{}", self.local_addr);
        let tasks = self.state.tasks.clone();
        // Event streams never finish by themselves: end them when shutdown starts.
        let shutdown = async move {
            shutdown.await;
            tasks.close_streams();
        };
        let limits = self.state.config.connections.clone();
        serve::serve(self.acceptor, endpoint, &limits, shutdown, SHUTDOWN_GRACE).await?;
        sweeper.abort();
        for job in [metrics_server, rate_limit_sweeper, listener, changes].into_iter().flatten() {
            job.abort();
        }
        self.state.close().await;
        tracing::info!("shut down");
        Ok(())
    }
}

/// Every API the service serves (also the source of each path's methods for `Allow`).
type Apis = (AuthApi, SessionsApi, AccountApi, JwtApi, TwoFactorApi, TasksApi, HealthApi);

/// The OpenAPI service: every API, with metadata. Needs no state, so the spec can be generated
/// without a database (`api openapi`, the spec test).
pub fn openapi_service() -> OpenApiService<impl OpenApi, ()> {
    let apis: Apis = (AuthApi, SessionsApi, AccountApi, JwtApi, TwoFactorApi, TasksApi, HealthApi);
    OpenApiService::new(apis, "Session auth and tasks API", env!("CARGO_PKG_VERSION"))
        .description(include_str!("openapi_description.md"))
        .license(LicenseObject::new("MIT").url("https://opensource.org/licenses/MIT"))
        .server(ServerObject::new("/").description("This server (the API is served next to the document)"))
}

/// The documented operations under `/api/auth`, relative to it (the rate limit's buckets).
pub(crate) fn auth_operations() -> Vec<PathTemplate> {
    paths::documented_under(&Apis::meta(), "/api/auth")
}

/// The OpenAPI document as YAML, exactly as committed in `openapi.yaml`.
pub fn spec_yaml() -> String {
    openapi_service().spec_yaml()
}

/// The whole HTTP surface with its middleware, innermost first: each `with` wraps everything
/// above it, so a request passes them bottom to top: request context (request id, span, access
/// log, security headers) → CORS → `Allow` on every 405 (each documented path's methods) →
/// `Cache-Control: no-store` on every `/api/auth` answer → JSON error catch-all (with each API's parameter rules) → rate limit (`/api/auth`) → body-size
/// check → the operation, whose security extractor applies the CSRF checks.
fn routes(state: AppState) -> impl Endpoint {
    let config = &state.config;
    // The well-known key set is the auth API's (`GET /api/auth/jwks` at another path): its rules.
    let param_errors = vec![
        ("/api/auth/", auth::api::PARAMETER_ERRORS),
        ("/.well-known/", auth::api::PARAMETER_ERRORS),
        ("/api/v1/", tasks::api::PARAMETER_ERRORS),
    ];
    // `/metrics` on the main port only with a token and no separate address (`METRICS_BIND`).
    let metrics =
        (config.metrics.bind.is_none() && config.metrics.token.is_some()).then(|| MetricsEndpoint::new(&state));
    let operations = Apis::meta().into_iter().flat_map(|api| api.paths).flat_map(|path| {
        let route = path.path;
        path.operations.into_iter().filter_map(move |operation| Some((operation.operation_id?, route.clone())))
    });
    let request_metrics = RequestMetrics::new(operations, config.log.traces.enabled);
    let route = match metrics {
        Some(metrics) => Route::new().at("/metrics", metrics),
        None => Route::new(),
    };
    route
        .at("/openapi.json", OnFirstUse::new(|| openapi_service().spec_endpoint().map_to_response().boxed()))
        .at("/openapi.yaml", OnFirstUse::new(|| openapi_service().spec_endpoint_yaml().map_to_response().boxed()))
        .nest("/docs", OnFirstUse::new(|| openapi_service().swagger_ui().map_to_response().boxed()))
        .nest("/", openapi_service())
        .with(Wrap::new(BodyLimit::new(config.body_limit)))
        .with(Wrap::new(RateLimit::new(
            RateLimiter::new(config.rate_limit.clone(), auth_operations(), state.rate_limit_store()),
            config.trusted_proxies.clone(),
        )))
        .with(Wrap::new(ErrorResponses::new(param_errors)))
        .with(Wrap::new(NoStore::new(&["/api/auth/"])))
        .with(Wrap::new(AllowHeader::new(AllowedMethods::from_meta(&Apis::meta()))))
        .with(Wrap::new(Cors::new(state.origins.clone())))
        .with(Wrap::new(RequestContext::new(auth::api::SECRET_PATHS)))
        .with(Wrap::new(request_metrics))
        .data(state)
}

/// `GET /metrics`: the Prometheus text exposition, behind `METRICS_TOKEN` when one is set.
struct MetricsEndpoint {
    token: Option<String>,
}

impl MetricsEndpoint {
    fn new(state: &AppState) -> Self {
        Self { token: state.config.metrics.token.clone() }
    }

    fn authorized(&self, req: &Request) -> bool {
        let Some(token) = &self.token else { return true };
        let presented = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), token.as_bytes()))
    }
}

impl Endpoint for MetricsEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if !self.authorized(&req) {
            return Err(ApiError::Auth(auth::error::AuthError::Unauthorized { set_cookies: Vec::new() }).into());
        }
        if let Some(state) = req.data::<AppState>() {
            state.record_pool_metrics();
        }
        Ok(Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(crate::metrics::METRICS.render()))
    }
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

/// Deletes expired sessions and reset tokens every hour and once at start-up (expired ones are
/// also rejected, and sessions deleted, when presented), the tasks' tombstones past the sync
/// retention and idempotency keys past their lifetime, and security events past their retention.
async fn sweep_expired(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        let (sessions, tokens) = state.sessions.sweep_expired(time::OffsetDateTime::now_utc()).await;
        match sessions {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(err) => tracing::warn!(error = %err, "expired-session sweep failed"),
        }
        if let Err(err) = tokens {
            tracing::warn!(error = %err, "expired-token sweep failed");
        }
        match state.tasks.sweep(time::OffsetDateTime::now_utc()).await {
            Ok((0, 0)) => {}
            Ok((tombstones, keys)) => tracing::info!(tombstones, keys, "expired task sync entries removed"),
            Err(err) => tracing::warn!(error = %err, "task sync sweep failed"),
        }
        match state.audit.sweep(time::OffsetDateTime::now_utc()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "security events past retention removed"),
            Err(err) => tracing::warn!(error = %err, "security-event sweep failed"),
        }
    }
}

/// Deletes the rate-limit and sign-in throttle counts of the `rateLimit` table whose window has
/// passed, every minute (each instance; the statement is idempotent).
async fn sweep_rate_limits(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        match state.sweep_rate_limits().await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "stale rate-limit counts removed"),
            Err(err) => tracing::warn!(error = %err, "rate-limit sweep failed"),
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives just after `listening on` is logged, before
/// `serve` first polls the future, still ends the process gracefully instead of killing it with
/// the signal's default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [signal(SignalKind::interrupt()), signal(SignalKind::terminate())]
    };
    async move {
        #[cfg(unix)]
        {
            let [interrupt, terminate] = signals.map(|signal| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            });
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn spec() -> Value {
        serde_json::from_str(&openapi_service().spec()).expect("the spec is JSON")
    }

    /// CSRF by construction: every operation takes one of `auth::guard`'s security extractors
    /// (which all apply the cookie-write origin check), and an operation's `security` list is
    /// what shows it; one without any would be unchecked.
    #[test]
    fn every_operation_declares_a_security_extractor() {
        let spec = spec();
        let mut unguarded = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if operation["security"].as_array().is_none_or(Vec::is_empty) {
                    unguarded.push(format!("{method} {path}"));
                }
            }
        }
        assert!(unguarded.is_empty(), "operations without a security extractor: {unguarded:?}");
    }

    /// The page size the spec documents (a literal in an attribute) is the domain's maximum.
    #[test]
    fn the_documented_page_size_is_the_domain_maximum() {
        let spec = spec();
        let limit = spec["paths"]["/api/v1/tasks"]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "limit")
            .expect("a limit parameter");
        let max_items = &spec["components"]["schemas"]["TaskPage"]["properties"]["items"]["maxItems"];
        assert_eq!(limit["schema"]["maximum"].as_f64(), Some(crate::tasks::model::MAX_LIMIT as f64));
        assert_eq!(max_items.as_u64(), Some(crate::tasks::model::MAX_LIMIT));
    }
}
