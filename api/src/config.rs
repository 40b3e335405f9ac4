//! Configuration: read once from the environment (and an optional `.env`), typed and validated.
//!
//! Every bad value is reported by its variable name, all at once, so an operator fixes a broken
//! deployment in one pass. Secrets are wrapped so they never reach a log through `Debug`.
//! Nothing else in the service reads the environment.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use ipnet::IpNet;
use url::Url;

/// The whole configuration of one service instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// Database connection and pool settings.
    pub(crate) database: DatabaseConfig,
    /// `AUTH_SECRET` (alias `BETTER_AUTH_SECRET`): signs cookies and email tokens.
    pub(crate) auth_secret: AuthSecret,
    /// `BASE_URL`: the public URL of this service; `https` turns on `Secure` cookies.
    pub(crate) base_url: Option<Url>,
    /// Origins trusted for CORS and CSRF checks: `BASE_URL`'s origin plus `TRUSTED_ORIGINS`.
    pub(crate) trusted_origins: Vec<String>,
    /// The session cookies' name prefix and attributes.
    pub(crate) cookies: CookieConfig,
    /// `BIND` and `PORT`: the listening address.
    pub(crate) bind: SocketAddr,
    /// Timeouts and the limit of client connections.
    pub(crate) connections: ConnectionConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// `TRUSTED_PROXIES`: peers allowed to set `X-Forwarded-For` (default none).
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// `BODY_LIMIT`: the largest accepted request body, in bytes.
    pub(crate) body_limit: usize,
    /// Session lifetimes and storage.
    pub(crate) session: SessionConfig,
    /// Rate limiting of `/api/auth/*`.
    pub(crate) rate_limit: RateLimitConfig,
    /// The bounded password-hashing pool.
    pub(crate) hashing: HashingConfig,
    /// Tasks API limits.
    pub(crate) tasks: TasksConfig,
    /// Outgoing mail.
    pub(crate) mail: MailConfig,
    /// Email verification and password reset.
    pub(crate) verification: VerificationConfig,
    /// `AUDIT_RETENTION_DAYS` (default 90): how long security events are kept.
    pub(crate) audit_retention: Duration,
    /// `TWO_FACTOR_ISSUER`: the issuer TOTP URIs name (what authenticator apps show).
    pub(crate) two_factor_issuer: String,
    /// Who may read `/metrics`, and where it is served.
    pub(crate) metrics: MetricsConfig,
    /// JWTs for other backends and the key set that verifies them.
    pub(crate) jwt: JwtConfig,
}

/// The algorithm of new JWT signing keys (Better Auth's `jwks.keyPairConfig.alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JwtAlgorithm {
    /// EdDSA over Ed25519 (Better Auth's default).
    EdDsa,
    /// ECDSA over P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
}

impl JwtAlgorithm {
    /// The JOSE name (`alg`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

/// JWTs and their key set (Better Auth's `jwt` plugin options).
#[derive(Clone, Debug)]
pub(crate) struct JwtConfig {
    /// `JWT_ALG`: `EdDSA` (default), `ES256` or `RS256`.
    pub(crate) algorithm: JwtAlgorithm,
    /// `JWT_ISSUER`: the `iss` claim (default: the public base URL).
    pub(crate) issuer: Option<String>,
    /// `JWT_AUDIENCE`: the `aud` claim (default: the public base URL).
    pub(crate) audience: Option<String>,
    /// `JWT_EXPIRES_IN` (seconds, default 900): a token's lifetime.
    pub(crate) expires_in: Duration,
    /// `JWKS_ROTATION_INTERVAL` (seconds; 0, the default, never rotates): how long a key signs.
    pub(crate) rotation_interval: Option<Duration>,
    /// `JWKS_GRACE_PERIOD` (seconds, default 30 days): how long a retired key stays published.
    pub(crate) grace_period: Duration,
    /// `JWT_SESSION_HEADER` (default true): `get-session` adds `set-auth-jwt`.
    pub(crate) session_header: bool,
}

/// How mail leaves the service.
#[derive(Clone)]
pub(crate) enum MailTransport {
    /// Mail is not configured: password reset and verification mail are disabled.
    Disabled,
    /// Development: the message (with its link) goes to the log, nowhere else.
    Log,
    /// One JSON object per line appended to a file (`MAIL_OUTBOX`), for tests and scripts.
    File(PathBuf),
    /// Real delivery through an SMTP server.
    Smtp(SmtpConfig),
}

impl fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("Disabled"),
            Self::Log => f.write_str("Log"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Smtp(smtp) => f.debug_tuple("Smtp").field(smtp).finish(),
        }
    }
}

/// SMTP relay settings.
#[derive(Clone)]
pub(crate) struct SmtpConfig {
    /// `SMTP_HOST`.
    pub(crate) host: String,
    /// `SMTP_PORT` (default 587, or 465 with `SMTP_TLS=tls`).
    pub(crate) port: u16,
    /// `SMTP_TLS`: `starttls` (default), `tls` (implicit TLS) or `none` (local relays only).
    pub(crate) tls: SmtpTls,
    /// `SMTP_USERNAME` and `SMTP_PASSWORD`, when the relay needs them.
    pub(crate) credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "[redacted]")))
            .finish()
    }
}

/// TLS mode of the SMTP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte.
    Tls,
    /// No TLS (a relay on localhost).
    None,
}

/// Outgoing mail settings.
#[derive(Clone, Debug)]
pub(crate) struct MailConfig {
    /// `MAIL_TRANSPORT`: `log` (development default), `file`, `smtp`, or `none` (production
    /// default until configured).
    pub(crate) transport: MailTransport,
    /// `MAIL_FROM`: the sender address.
    pub(crate) from: String,
}

/// Email verification and password reset settings.
#[derive(Clone, Debug)]
pub(crate) struct VerificationConfig {
    /// `REQUIRE_EMAIL_VERIFICATION`: sign-in refuses unverified addresses (default false).
    pub(crate) require_verified_email: bool,
    /// `RESET_TOKEN_EXPIRES_IN` (seconds, default 3600).
    pub(crate) reset_token_lifetime: Duration,
    /// `VERIFICATION_TOKEN_EXPIRES_IN` (seconds, default 3600).
    pub(crate) verification_token_lifetime: Duration,
}

/// The session cookies' names and attributes, as Better Auth's `advanced.cookiePrefix`,
/// `advanced.crossSubDomainCookies.domain` and `advanced.defaultCookieAttributes.sameSite` set
/// them. `auth::cookies::CookieSettings` turns this into every cookie the service sets or clears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CookieConfig {
    /// `COOKIE_PREFIX` (default `better-auth`): cookies are named `<prefix>.session_token`, ….
    pub(crate) prefix: String,
    /// `COOKIE_DOMAIN`: the `Domain` attribute, so that sibling subdomains share the session.
    pub(crate) domain: Option<String>,
    /// `COOKIE_SAMESITE`: `lax` (default), `strict` or `none`.
    pub(crate) same_site: SameSite,
    /// `Secure` attribute and `__Secure-` name prefix: on when `BASE_URL` is https.
    pub(crate) secure: bool,
}

impl Default for CookieConfig {
    /// Better Auth's defaults: `better-auth.*`, host-only, `SameSite=Lax`, not `Secure`.
    fn default() -> Self {
        Self { prefix: "better-auth".to_owned(), domain: None, same_site: SameSite::Lax, secure: false }
    }
}

/// The `SameSite` attribute of the session cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SameSite {
    /// Sent on same-site requests and top-level navigations (the default).
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent on cross-site requests too; browsers require `Secure`.
    None,
}

impl SameSite {
    /// The attribute's value as written in `Set-Cookie` (`Lax`, `Strict`, `None`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// Where `/metrics` is served: `METRICS_BIND` (a separate address, off the public port) and/or
/// `METRICS_TOKEN` (a bearer token; required on the main port). Neither: not served.
#[derive(Clone)]
pub(crate) struct MetricsConfig {
    /// `METRICS_BIND`: a separate listening address for `/metrics`.
    pub(crate) bind: Option<SocketAddr>,
    /// `METRICS_TOKEN`: the bearer token `/metrics` requires (at least 32 characters).
    pub(crate) token: Option<String>,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The deployment environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppEnv {
    /// Local development: a generated secret is acceptable.
    Development,
    /// Production: a real secret is required and rate limiting is on by default.
    Production,
}

/// Database connection settings.
#[derive(Clone)]
pub(crate) struct DatabaseConfig {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub(crate) url: String,
    /// `DB_MAX_CONNECTIONS`: pool size.
    pub(crate) max_connections: u32,
    /// `DB_READ_CONNECTIONS`: how many of the pool's connections the task reads may keep on
    /// PostgreSQL (`db::reads`), at most half the pool; 0: the reads go through the pool.
    pub(crate) read_connections: u32,
    /// `DB_TIMEOUT_MS`: how long a request waits for a connection (and, on PostgreSQL, for a
    /// statement) before it gets 503.
    pub(crate) timeout: Duration,
}

impl fmt::Debug for DatabaseConfig {
    // The URL may carry a password: print only its scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("DatabaseConfig")
            .field("url", &format_args!("{scheme}://[redacted]"))
            .field("max_connections", &self.max_connections)
            .field("read_connections", &self.read_connections)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Logging settings.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `RUST_LOG`: an env-filter directive, default `info`.
    pub(crate) filter: String,
    /// `LOG_FORMAT`: `pretty` (default) or `json`.
    pub(crate) format: LogFormat,
    /// OpenTelemetry trace export (`OTEL_*`).
    pub(crate) traces: TraceConfig,
}

/// OpenTelemetry trace export. Only what the service decides is parsed here; the exporter reads
/// the other standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`,
/// `OTEL_BSP_SCHEDULE_DELAY`…).
#[derive(Clone, Debug)]
pub(crate) struct TraceConfig {
    /// Whether spans are exported: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
    pub(crate) enabled: bool,
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`
    /// (default) or `http/json`; gRPC is not built in.
    pub(crate) protocol: TraceProtocol,
    /// `OTEL_SERVICE_NAME`, default `api`.
    pub(crate) service_name: String,
}

/// The OTLP/HTTP encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceProtocol {
    /// `http/protobuf`.
    Protobuf,
    /// `http/json`.
    Json,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable, coloured when stdout is a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How session tokens are stored in `session.token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenStorage {
    /// Lower-case hex SHA-256 of the token (default): a database leak leaks no live session.
    Hashed,
    /// The raw token, as Better Auth stores it: for sharing one database with a Node Better Auth.
    Plain,
}

/// Session lifetimes (`docs/better-auth-wire.md` §5.2).
#[derive(Clone, Debug)]
pub(crate) struct SessionConfig {
    /// `SESSION_EXPIRES_IN` (seconds, default 7 days).
    pub(crate) expires_in: Duration,
    /// `SESSION_UPDATE_AGE` (seconds, default 1 day): minimum interval between sliding refreshes.
    pub(crate) update_age: Duration,
    /// `SESSION_FRESH_AGE` (seconds, default 1 day; 0 disables): how recent a sign-in must be
    /// for sensitive operations.
    pub(crate) fresh_age: Duration,
    /// `SESSION_ABSOLUTE_LIFETIME` (seconds, default 30 days): the longest a session lives after
    /// its sign-in, whatever the sliding refresh did; then a new sign-in is required.
    pub(crate) absolute_lifetime: Duration,
    /// `SESSION_TOKEN_STORAGE`: `hashed` (default) or `plain`.
    pub(crate) token_storage: TokenStorage,
    /// `SESSION_CACHE_TTL` (seconds; 0 disables): the longest a cached session is served
    /// without a database read. This service's own changes never wait for it (see
    /// `auth::cache`); it bounds how long a change made behind the service's back (direct SQL on
    /// an SQLite file) can go unseen. Default 300 on PostgreSQL, whose triggers report every
    /// writer's changes, and 10 on SQLite, which has no such channel.
    pub(crate) cache_ttl: Duration,
}

/// Where the rate limiter keeps its counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RateLimitStorage {
    /// In this process only.
    Memory,
    /// Better Auth's `rateLimit` table, shared by every instance on the database.
    Database,
}

/// Rate limiting of the auth endpoints.
#[derive(Clone, Debug)]
pub(crate) struct RateLimitConfig {
    /// `RATE_LIMIT_ENABLED`: default on in production, off in development.
    pub(crate) enabled: bool,
    /// `RATE_LIMIT_WINDOW` (seconds, default 10) for the general rule.
    pub(crate) window: Duration,
    /// `RATE_LIMIT_MAX` (default 100) requests per window per client and path.
    pub(crate) max: u32,
    /// `RATE_LIMIT_STORAGE`: `memory` or `database` (default `database` on PostgreSQL).
    pub(crate) storage: RateLimitStorage,
    /// `SIGN_IN_THROTTLE_FAILURES` (default 5, 0 = off): sign-in attempts per account before
    /// they are delayed; on when rate limiting is.
    pub(crate) account_free_attempts: u32,
    /// `SIGN_IN_THROTTLE_MAX_DELAY` (seconds, default 60): the longest delay between attempts.
    pub(crate) account_max_delay: Duration,
}

/// The bounded password-hashing pool.
#[derive(Clone, Debug)]
pub(crate) struct HashingConfig {
    /// `HASH_CONCURRENCY`: hashes computed at once (default: the number of CPUs).
    pub(crate) concurrency: usize,
    /// `HASH_QUEUE`: hashes allowed to wait; beyond this, 503 with `Retry-After` (default 64).
    pub(crate) queue: usize,
    /// `HASH_KEEP_WORK_AREA` (default true): the allocator keeps a freed hash work area for 10 s
    /// (`allocator::keep_freed_large_blocks`). `false` is the slow path, kept to prove that
    /// hashes do not depend on it.
    pub(crate) keep_work_area: bool,
    /// `CPU_SPECIFIC_BUILD` (default true): run the x86-64-v4 build beside the binary when the
    /// CPU has AVX-512 and the build matches (`cpu_build`); `false` keeps the generic build.
    pub(crate) cpu_specific_build: bool,
}

/// Timeouts and the limit of client connections (`crate::serve`).
#[derive(Clone, Debug)]
pub(crate) struct ConnectionConfig {
    /// `HTTP_HEADER_READ_TIMEOUT` (seconds, default 10): the longest a request head may take to
    /// arrive, from the connection's start or the request's first byte.
    pub(crate) header_read_timeout: Duration,
    /// `HTTP_IDLE_TIMEOUT` (seconds, default 60): a connection with no traffic either way for
    /// this long is closed (between requests, or a request stalled mid-way).
    pub(crate) idle_timeout: Duration,
    /// `MAX_CONNECTIONS` (default 10,000): client connections open at once; more wait to be
    /// accepted. Keep it below the process's file-descriptor limit (`ulimit -n`).
    pub(crate) max_connections: usize,
}

/// Tasks API limits.
#[derive(Clone, Debug)]
pub(crate) struct TasksConfig {
    /// `TASKS_PER_USER_LIMIT` (default 10,000).
    pub(crate) per_user_limit: u64,
    /// `TASKS_SYNC_RETENTION`: how long deletions stay in the change feed, and so how long a
    /// sync cursor stays valid (default 30 days).
    pub(crate) sync_retention: Duration,
    /// `TASKS_EVENTS_PER_USER`: live-update streams one user may hold open (default 5).
    pub(crate) events_per_user: usize,
    /// `TASKS_EVENTS_MAX`: live-update streams this process serves at once (default 1,000).
    pub(crate) events_max: usize,
    /// `TASKS_EVENTS_HEARTBEAT`: seconds between a stream's heartbeats, which also recheck
    /// its session (default 15).
    pub(crate) events_heartbeat: Duration,
}

/// The signing secret. Never printed.
#[derive(Clone)]
pub(crate) struct AuthSecret(String);

impl AuthSecret {
    /// Minimum length, as Better Auth requires.
    pub(crate) const MIN_LEN: usize = 32;

    /// Wraps a secret, checking its length.
    pub(crate) fn new(secret: String) -> Result<Self, String> {
        if secret.chars().count() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
        }
        Ok(Self(secret))
    }

    /// The secret's bytes, for HMAC keys.
    pub(crate) fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthSecret([redacted])")
    }
}

/// Every invalid variable, with what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:{}", .0.iter().map(|(var, msg)| format!("\n  {var}: {msg}")).collect::<String>())]
pub struct ConfigError(pub(crate) Vec<(&'static str, String)>);

impl Config {
    /// Reads the process environment, after loading `.env` if one exists in the working
    /// directory (variables already set win).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    /// Whether the process should keep freed password-hash work areas (`HASH_KEEP_WORK_AREA`):
    /// `main` applies it to the allocator before starting any thread.
    pub fn keeps_hash_work_area(&self) -> bool {
        self.hashing.keep_work_area
    }

    /// Whether `main` may run the x86-64-v4 build of the binary (`CPU_SPECIFIC_BUILD`).
    pub fn allows_cpu_specific_build(&self) -> bool {
        self.hashing.cpu_specific_build
    }

    /// Builds a configuration from a map of variables: the one place values are parsed.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut reader = Reader { vars, errors: Vec::new() };
        let env = reader.parse_with("APP_ENV", AppEnv::Development, |v| match v {
            "development" | "dev" => Ok(AppEnv::Development),
            "production" | "prod" => Ok(AppEnv::Production),
            _ => Err("must be `development` or `production`".to_owned()),
        });
        let data_dir = PathBuf::from(reader.get("DATA_DIR").unwrap_or("data"));
        let max_connections = reader.number("DB_MAX_CONNECTIONS", 10, 1..=1000);
        // The task reads keep pool connections while they are busy: at most half, so the rest of
        // the service always has the other half.
        let most_reads = max_connections / 2;
        let database = DatabaseConfig {
            url: reader.get("DATABASE_URL").map(str::to_owned).unwrap_or_else(|| default_database_url(&data_dir)),
            max_connections,
            read_connections: reader.number("DB_READ_CONNECTIONS", most_reads.min(4), 0..=most_reads),
            timeout: Duration::from_millis(reader.number("DB_TIMEOUT_MS", 5000, 50..=600_000)),
        };
        if !(database.url.starts_with("sqlite:") || database.url.starts_with("postgres")) {
            reader.fail("DATABASE_URL", "must start with `sqlite:` or `postgres://`");
        }
        let base_url = reader.parse_opt("BASE_URL", |v| {
            let url = Url::parse(v).map_err(|e| format!("not a URL: {e}"))?;
            match url.scheme() {
                "http" | "https" => Ok(url),
                _ => Err("must be an http or https URL".to_owned()),
            }
        });
        let bind = reader.bind_address();
        let trusted_origins = reader.trusted_origins(base_url.as_ref());
        let cookies = reader.cookies(base_url.as_ref());
        let auth_secret = reader.auth_secret(env, &data_dir);
        let log = LogConfig {
            filter: reader.get("RUST_LOG").unwrap_or("info").to_owned(),
            format: reader.parse_with("LOG_FORMAT", LogFormat::Pretty, |v| match v {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("must be `pretty` or `json`".to_owned()),
            }),
            traces: reader.traces(),
        };
        // Nothing is trusted unless configured: a proxy on the same host that passes a client's
        // own `X-Forwarded-For` through would otherwise let every request choose its address.
        let trusted_proxies = reader.parse_with("TRUSTED_PROXIES", Vec::new(), parse_proxies);
        let body_limit = reader.number("BODY_LIMIT", 1024 * 1024, 1024..=64 * 1024 * 1024);
        let session = SessionConfig {
            expires_in: Duration::from_secs(reader.number("SESSION_EXPIRES_IN", 604_800, 60..=34_560_000)),
            update_age: Duration::from_secs(reader.number("SESSION_UPDATE_AGE", 86_400, 0..=34_560_000)),
            fresh_age: Duration::from_secs(reader.number("SESSION_FRESH_AGE", 86_400, 0..=34_560_000)),
            absolute_lifetime: Duration::from_secs(reader.number(
                "SESSION_ABSOLUTE_LIFETIME",
                2_592_000,
                60..=315_360_000,
            )),
            token_storage: reader.parse_with("SESSION_TOKEN_STORAGE", TokenStorage::Hashed, |v| match v {
                "hashed" => Ok(TokenStorage::Hashed),
                "plain" => Ok(TokenStorage::Plain),
                _ => Err("must be `hashed` or `plain`".to_owned()),
            }),
            cache_ttl: Duration::from_secs(reader.number(
                "SESSION_CACHE_TTL",
                if database.url.starts_with("postgres") { 300 } else { 10 },
                0..=86_400,
            )),
        };
        let rate_limit = RateLimitConfig {
            enabled: reader.boolean("RATE_LIMIT_ENABLED", env == AppEnv::Production),
            window: Duration::from_secs(reader.number("RATE_LIMIT_WINDOW", 10, 1..=86_400)),
            max: reader.number("RATE_LIMIT_MAX", 100, 1..=1_000_000),
            storage: reader.parse_with(
                "RATE_LIMIT_STORAGE",
                if database.url.starts_with("postgres") {
                    RateLimitStorage::Database
                } else {
                    RateLimitStorage::Memory
                },
                |v| match v {
                    "memory" => Ok(RateLimitStorage::Memory),
                    "database" => Ok(RateLimitStorage::Database),
                    _ => Err("must be `memory` or `database`".to_owned()),
                },
            ),
            account_free_attempts: reader.number("SIGN_IN_THROTTLE_FAILURES", 5, 0..=1000),
            account_max_delay: Duration::from_secs(reader.number("SIGN_IN_THROTTLE_MAX_DELAY", 60, 1..=3600)),
        };
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let hashing = HashingConfig {
            concurrency: reader.number("HASH_CONCURRENCY", cpus, 1..=256),
            queue: reader.number("HASH_QUEUE", 64, 0..=100_000),
            keep_work_area: reader.boolean("HASH_KEEP_WORK_AREA", true),
            cpu_specific_build: reader.boolean("CPU_SPECIFIC_BUILD", true),
        };
        let tasks = TasksConfig {
            per_user_limit: reader.number("TASKS_PER_USER_LIMIT", 10_000, 1..=10_000_000),
            sync_retention: Duration::from_secs(reader.number("TASKS_SYNC_RETENTION", 2_592_000, 1..=315_360_000)),
            events_per_user: reader.number("TASKS_EVENTS_PER_USER", 5, 1..=1_000),
            events_max: reader.number("TASKS_EVENTS_MAX", 1_000, 1..=1_000_000),
            events_heartbeat: Duration::from_secs(reader.number("TASKS_EVENTS_HEARTBEAT", 15, 1..=3_600)),
        };

        let connections = ConnectionConfig {
            header_read_timeout: Duration::from_secs(reader.number("HTTP_HEADER_READ_TIMEOUT", 10, 1..=3_600)),
            idle_timeout: Duration::from_secs(reader.number("HTTP_IDLE_TIMEOUT", 60, 1..=86_400)),
            max_connections: reader.number("MAX_CONNECTIONS", 10_000, 1..=1_000_000),
        };
        if connections.idle_timeout <= tasks.events_heartbeat {
            // A live-update stream writes only its heartbeat; a longer pause would cut it.
            reader.fail("HTTP_IDLE_TIMEOUT", "must be longer than TASKS_EVENTS_HEARTBEAT");
        }

        let mail = reader.mail(env);
        let verification = VerificationConfig {
            require_verified_email: reader.boolean("REQUIRE_EMAIL_VERIFICATION", false),
            reset_token_lifetime: Duration::from_secs(reader.number("RESET_TOKEN_EXPIRES_IN", 3600, 60..=604_800)),
            verification_token_lifetime: Duration::from_secs(reader.number(
                "VERIFICATION_TOKEN_EXPIRES_IN",
                3600,
                60..=2_592_000,
            )),
        };
        let audit_retention = Duration::from_secs(86_400 * reader.number("AUDIT_RETENTION_DAYS", 90, 1..=36_500));
        let two_factor_issuer = reader.parse_with("TWO_FACTOR_ISSUER", "Better Auth".to_owned(), |v| {
            if v.is_empty() || v.len() > 100 || v.chars().any(char::is_control) {
                Err("must be 1 to 100 characters without control characters".to_owned())
            } else {
                Ok(v.to_owned())
            }
        });
        let metrics = MetricsConfig {
            bind: reader.parse_opt("METRICS_BIND", |v| {
                v.parse::<SocketAddr>().map_err(|_| "must be an address with a port (e.g. 127.0.0.1:9100)".to_owned())
            }),
            token: reader.parse_opt("METRICS_TOKEN", |v| {
                if v.len() < 32 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err("must be at least 32 visible ASCII characters".to_owned());
                }
                Ok(v.to_owned())
            }),
        };

        let jwt = reader.jwt();

        if !reader.errors.is_empty() {
            return Err(ConfigError(reader.errors));
        }
        Ok(Self {
            database,
            auth_secret: auth_secret.ok_or_else(|| ConfigError(vec![("AUTH_SECRET", "missing".to_owned())]))?,
            base_url,
            trusted_origins,
            cookies,
            bind,
            connections,
            log,
            trusted_proxies,
            body_limit,
            session,
            rate_limit,
            hashing,
            tasks,
            mail,
            verification,
            jwt,
            audit_retention,
            two_factor_issuer,
            metrics,
        })
    }
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("app.db").display())
}

fn parse_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not an IP address or CIDR range"))
        })
        .collect()
}

/// A cookie name prefix: an RFC 6265 token (visible ASCII without separators), at most 64
/// characters, not itself starting with `__Secure-` or `__Host-` (added when `BASE_URL` is https).
fn parse_cookie_prefix(value: &str) -> Result<String, String> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={}";
    if value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic() && !SEPARATORS.contains(&b)) {
        return Err("must be at most 64 letters, digits or `!#$%&'*+-.^_`|~` (a cookie name)".to_owned());
    }
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("__secure-") || lower.starts_with("__host-") {
        return Err(
            "must not start with `__Secure-` or `__Host-`: the `__Secure-` prefix is added when BASE_URL is https"
                .to_owned(),
        );
    }
    Ok(value.to_owned())
}

/// A cookie domain: a DNS name of two or more labels (letters, digits, hyphens; IDNs in their
/// `xn--` form), lower-cased, without a leading dot (browsers ignore it), port or path.
fn parse_cookie_domain(value: &str) -> Result<String, String> {
    let domain = value.strip_prefix('.').unwrap_or(value).to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_is_alphabetic = labels.last().is_some_and(|top| top.bytes().any(|b| b.is_ascii_alphabetic()));
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(valid_label) || !top_is_alphabetic {
        return Err(format!(
            "`{value}` is not a domain name such as example.com (two or more labels; no scheme, port, path or IP address)"
        ));
    }
    Ok(domain)
}

/// Whether a cookie with `Domain=<domain>` may be set by, and is sent to, `host` (RFC 6265 §5.1.3).
fn domain_covers(domain: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

/// Reads variables, collecting an error per bad one instead of stopping at the first.
struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    errors: Vec<(&'static str, String)>,
}

impl Reader<'_> {
    /// A variable's value; empty counts as unset.
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn fail(&mut self, name: &'static str, message: impl Into<String>) {
        self.errors.push((name, message.into()));
    }

    fn parse_opt<T>(&mut self, name: &'static str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.get(name)?;
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.fail(name, message);
                None
            }
        }
    }

    /// The OpenTelemetry settings (`TraceConfig`).
    fn traces(&mut self) -> TraceConfig {
        let enabled = self.get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || self.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
        let name = if self.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        } else {
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        };
        let protocol = self.parse_with(name, TraceProtocol::Protobuf, |v| match v {
            "http/protobuf" => Ok(TraceProtocol::Protobuf),
            "http/json" => Ok(TraceProtocol::Json),
            _ => Err("must be `http/protobuf` or `http/json` (gRPC is not built in)".to_owned()),
        });
        let service_name = self.get("OTEL_SERVICE_NAME").unwrap_or("api").to_owned();
        TraceConfig { enabled, protocol, service_name }
    }

    fn parse_with<T>(&mut self, name: &'static str, default: T, parse: impl FnOnce(&str) -> Result<T, String>) -> T {
        match self.get(name) {
            None => default,
            Some(value) => match parse(value) {
                Ok(parsed) => parsed,
                Err(message) => {
                    self.fail(name, message);
                    default
                }
            },
        }
    }

    fn number<T>(&mut self, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        self.parse_with(name, default, |v| match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!("must be a whole number from {} to {}", range.start(), range.end())),
        })
    }

    fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        self.parse_with(name, default, |v| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        })
    }

    /// The `JWT_*` and `JWKS_*` settings.
    fn jwt(&mut self) -> JwtConfig {
        let claim = |v: &str| {
            if v.len() > 2048 || v.chars().any(char::is_control) {
                return Err("must be at most 2048 characters without control characters".to_owned());
            }
            Ok(v.to_owned())
        };
        let rotation = self.number("JWKS_ROTATION_INTERVAL", 0, 0..=315_360_000);
        let config = JwtConfig {
            algorithm: self.parse_with("JWT_ALG", JwtAlgorithm::EdDsa, |v| match v {
                "EdDSA" => Ok(JwtAlgorithm::EdDsa),
                "ES256" => Ok(JwtAlgorithm::Es256),
                "RS256" => Ok(JwtAlgorithm::Rs256),
                _ => Err("must be `EdDSA`, `ES256` or `RS256`".to_owned()),
            }),
            issuer: self.parse_opt("JWT_ISSUER", claim),
            audience: self.parse_opt("JWT_AUDIENCE", claim),
            expires_in: Duration::from_secs(self.number("JWT_EXPIRES_IN", 900, 1..=2_592_000)),
            rotation_interval: (rotation > 0).then(|| Duration::from_secs(rotation)),
            grace_period: Duration::from_secs(self.number("JWKS_GRACE_PERIOD", 2_592_000, 0..=315_360_000)),
            session_header: self.boolean("JWT_SESSION_HEADER", true),
        };
        // A token must keep verifying for its whole life after its key retires.
        if config.rotation_interval.is_some() && config.grace_period < config.expires_in {
            self.fail(
                "JWKS_GRACE_PERIOD",
                format!(
                    "must be at least JWT_EXPIRES_IN ({} s) when keys rotate: tokens signed just before a rotation \
                     would stop verifying before they expire",
                    config.expires_in.as_secs()
                ),
            );
        }
        config
    }

    /// `BIND` is a host or `host:port`; `PORT` (default 8000) applies when `BIND` has no port.
    fn bind_address(&mut self) -> SocketAddr {
        let default_host = IpAddr::from([127, 0, 0, 1]);
        let port: u16 = self.number("PORT", 8000, 0..=65535);
        let Some(bind) = self.get("BIND").map(str::to_owned) else {
            return SocketAddr::new(default_host, port);
        };
        if let Ok(addr) = bind.parse::<SocketAddr>() {
            return addr;
        }
        let host = bind.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                self.fail("BIND", "must be an IP address, optionally with a port (e.g. 0.0.0.0:8000)");
                SocketAddr::new(default_host, port)
            }
        }
    }

    /// `BASE_URL`'s origin plus `TRUSTED_ORIGINS`. (Without `BASE_URL`, `app::build` adds this
    /// machine's loopback origins on the port actually bound, so Swagger UI works out of the box.)
    fn trusted_origins(&mut self, base_url: Option<&Url>) -> Vec<String> {
        let mut origins: Vec<String> = base_url.map(|url| url.origin().ascii_serialization()).into_iter().collect();
        let listed = self.get("TRUSTED_ORIGINS").map(str::to_owned);
        for item in listed.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()) {
            if item.contains('*') || item.contains('?') {
                // Wildcard patterns are matched as written (`docs/better-auth-wire.md` §7.1).
                origins.push(item.to_owned());
                continue;
            }
            match Url::parse(item) {
                Ok(url) if url.origin().is_tuple() => origins.push(url.origin().ascii_serialization()),
                _ => self.fail("TRUSTED_ORIGINS", format!("`{item}` is not an origin such as https://app.example.com")),
            }
        }
        origins.dedup();
        origins
    }

    /// `COOKIE_PREFIX`, `COOKIE_DOMAIN` and `COOKIE_SAMESITE`, checked against `BASE_URL`:
    /// settings that browsers would silently refuse are refused here instead.
    fn cookies(&mut self, base_url: Option<&Url>) -> CookieConfig {
        let secure = base_url.is_some_and(|url| url.scheme() == "https");
        let prefix = self.parse_with("COOKIE_PREFIX", CookieConfig::default().prefix, parse_cookie_prefix);
        let domain = self.parse_opt("COOKIE_DOMAIN", parse_cookie_domain);
        let same_site = self.parse_with("COOKIE_SAMESITE", SameSite::Lax, |v| match v.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err("must be `lax`, `strict` or `none`".to_owned()),
        });
        if same_site == SameSite::None && !secure {
            self.fail(
                "COOKIE_SAMESITE",
                "`none` needs Secure cookies, and cookies are Secure only when BASE_URL is an https:// URL \
                 (browsers drop SameSite=None cookies without Secure): set BASE_URL to the service's https URL, \
                 or COOKIE_SAMESITE=lax",
            );
        }
        if let Some(domain) = &domain {
            match base_url.and_then(Url::host_str) {
                None => self.fail(
                    "COOKIE_DOMAIN",
                    "needs BASE_URL, the service's public URL, whose host must be COOKIE_DOMAIN or a subdomain of it",
                ),
                Some(host) if !domain_covers(domain, host) => self.fail(
                    "COOKIE_DOMAIN",
                    format!(
                        "`{domain}` does not cover BASE_URL's host `{host}`, so browsers would refuse the cookies: \
                         use that host or one of its parent domains"
                    ),
                ),
                Some(_) => {}
            }
        }
        CookieConfig { prefix, domain, same_site, secure }
    }

    /// `MAIL_TRANSPORT` and its settings.
    fn mail(&mut self, env: AppEnv) -> MailConfig {
        let default = if env == AppEnv::Production { "none" } else { "log" };
        let kind = self.get("MAIL_TRANSPORT").unwrap_or(default).to_ascii_lowercase();
        let transport = match kind.as_str() {
            "none" => MailTransport::Disabled,
            "log" => MailTransport::Log,
            "file" => match self.get("MAIL_OUTBOX") {
                Some(path) => MailTransport::File(PathBuf::from(path)),
                None => {
                    self.fail("MAIL_OUTBOX", "required when MAIL_TRANSPORT=file");
                    MailTransport::Disabled
                }
            },
            "smtp" => {
                let tls = self.parse_with("SMTP_TLS", SmtpTls::StartTls, |v| match v {
                    "starttls" => Ok(SmtpTls::StartTls),
                    "tls" => Ok(SmtpTls::Tls),
                    "none" => Ok(SmtpTls::None),
                    _ => Err("must be `starttls`, `tls` or `none`".to_owned()),
                });
                let port = self.number("SMTP_PORT", if tls == SmtpTls::Tls { 465 } else { 587 }, 1..=65535);
                let credentials = match (self.get("SMTP_USERNAME"), self.get("SMTP_PASSWORD")) {
                    (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
                    (None, None) => None,
                    _ => {
                        self.fail("SMTP_USERNAME", "SMTP_USERNAME and SMTP_PASSWORD must be set together");
                        None
                    }
                };
                match self.get("SMTP_HOST") {
                    Some(host) => MailTransport::Smtp(SmtpConfig { host: host.to_owned(), port, tls, credentials }),
                    None => {
                        self.fail("SMTP_HOST", "required when MAIL_TRANSPORT=smtp");
                        MailTransport::Disabled
                    }
                }
            }
            _ => {
                self.fail("MAIL_TRANSPORT", "must be `log`, `file`, `smtp` or `none`");
                MailTransport::Disabled
            }
        };
        let from = self.get("MAIL_FROM").unwrap_or("no-reply@localhost").to_owned();
        if !from.contains('@') {
            self.fail("MAIL_FROM", "must be an email address");
        }
        MailConfig { transport, from }
    }

    /// `AUTH_SECRET` or `BETTER_AUTH_SECRET`. In development without one, a random secret is
    /// generated once and kept in the data directory so restarts keep sessions valid.
    fn auth_secret(&mut self, env: AppEnv, data_dir: &Path) -> Option<AuthSecret> {
        let (name, value) = match (self.get("AUTH_SECRET"), self.get("BETTER_AUTH_SECRET")) {
            (Some(v), _) => ("AUTH_SECRET", v.to_owned()),
            (None, Some(v)) => ("BETTER_AUTH_SECRET", v.to_owned()),
            (None, None) if env == AppEnv::Production => {
                self.fail("AUTH_SECRET", "required when APP_ENV=production (at least 32 characters)");
                return None;
            }
            (None, None) => {
                return match development_secret(data_dir) {
                    Ok(secret) => Some(secret),
                    Err(err) => {
                        self.fail(
                            "AUTH_SECRET",
                            format!("unset, and no development secret could be kept in {}: {err}", data_dir.display()),
                        );
                        None
                    }
                };
            }
        };
        match AuthSecret::new(value) {
            Ok(secret) => Some(secret),
            Err(message) => {
                self.fail(name, message);
                None
            }
        }
    }
}

/// Reads `<data_dir>/auth-secret`, creating it (mode 0600) with 48 random bytes in hex if absent.
fn development_secret(data_dir: &Path) -> std::io::Result<AuthSecret> {
    let path = data_dir.join("auth-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && let Ok(secret) = AuthSecret::new(existing.trim().to_owned())
    {
        return Ok(secret);
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let secret = hex::encode(bytes);
    write_private(&path, &secret)?;
    AuthSecret::new(secret).map_err(std::io::Error::other)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_apply_when_only_a_secret_is_set() {
        let config = Config::from_vars(&vars(&[("AUTH_SECRET", SECRET)])).expect("valid");
        assert!(matches!(config.mail.transport, MailTransport::Log), "development mails to the log");
        assert_eq!(config.bind, "127.0.0.1:8000".parse().expect("addr"));
        assert_eq!(config.database.url, "sqlite://data/app.db?mode=rwc");
        assert_eq!(config.body_limit, 1024 * 1024);
        assert_eq!(config.session.token_storage, TokenStorage::Hashed);
        assert!(!config.rate_limit.enabled);
        assert!(config.trusted_origins.is_empty(), "loopback origins are added once the port is bound");
        assert!(config.allows_cpu_specific_build(), "the x86-64-v4 build runs where it can");
    }

    #[test]
    fn every_bad_value_is_reported_by_name() {
        let err = Config::from_vars(&vars(&[
            ("AUTH_SECRET", "short"),
            ("PORT", "eighty"),
            ("LOG_FORMAT", "xml"),
            ("BASE_URL", "ftp://x"),
            ("TRUSTED_ORIGINS", "not an origin"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("DATABASE_URL", "mysql://x"),
            ("BODY_LIMIT", "-1"),
            ("APP_ENV", "staging"),
            ("RATE_LIMIT_ENABLED", "maybe"),
            ("SESSION_TOKEN_STORAGE", "encrypted"),
            ("RATE_LIMIT_STORAGE", "redis"),
            ("CPU_SPECIFIC_BUILD", "sometimes"),
        ]))
        .expect_err("invalid");
        let names: Vec<_> = err.0.iter().map(|(name, _)| *name).collect();
        for expected in [
            "AUTH_SECRET",
            "PORT",
            "LOG_FORMAT",
            "BASE_URL",
            "TRUSTED_ORIGINS",
            "TRUSTED_PROXIES",
            "DATABASE_URL",
            "BODY_LIMIT",
            "APP_ENV",
            "RATE_LIMIT_ENABLED",
            "SESSION_TOKEN_STORAGE",
            "RATE_LIMIT_STORAGE",
            "CPU_SPECIFIC_BUILD",
        ] {
            assert!(names.contains(&expected), "{expected} not reported in {names:?}");
        }
    }

    #[test]
    fn the_task_reads_keep_at_most_half_the_pool() {
        let config = |extra: &[(&str, &str)]| {
            let mut all = vec![("AUTH_SECRET", SECRET)];
            all.extend_from_slice(extra);
            Config::from_vars(&vars(&all))
        };
        let read_connections = |extra: &[(&str, &str)]| config(extra).expect("valid").database.read_connections;
        assert_eq!(read_connections(&[]), 4, "default pool of 10: 4");
        assert_eq!(read_connections(&[("DB_MAX_CONNECTIONS", "5")]), 2, "a pool of 5: 2");
        assert_eq!(read_connections(&[("DB_MAX_CONNECTIONS", "1")]), 0, "a pool of 1: reads through the pool");
        assert_eq!(read_connections(&[("DB_MAX_CONNECTIONS", "40"), ("DB_READ_CONNECTIONS", "20")]), 20);
        let err = config(&[("DB_MAX_CONNECTIONS", "10"), ("DB_READ_CONNECTIONS", "6")]).expect_err("more than half");
        assert_eq!(err.0[0].0, "DB_READ_CONNECTIONS");
        assert!(err.0[0].1.contains("from 0 to 5"), "{:?}", err.0);
    }

    #[test]
    fn production_requires_a_secret() {
        let err = Config::from_vars(&vars(&[("APP_ENV", "production")])).expect_err("no secret");
        assert_eq!(err.0[0].0, "AUTH_SECRET");
        assert!(err.0[0].1.contains("required"), "{:?}", err.0);
    }

    #[test]
    fn the_better_auth_alias_is_accepted() {
        let config =
            Config::from_vars(&vars(&[("APP_ENV", "production"), ("BETTER_AUTH_SECRET", SECRET)])).expect("valid");
        assert_eq!(config.auth_secret.expose_bytes(), SECRET.as_bytes());
        assert!(config.rate_limit.enabled, "production turns rate limiting on");
    }

    #[test]
    fn development_secret_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("api-config-test-{}", std::process::id()));
        let dir_str = dir.display().to_string();
        let first = Config::from_vars(&vars(&[("DATA_DIR", &dir_str)])).expect("valid");
        let second = Config::from_vars(&vars(&[("DATA_DIR", &dir_str)])).expect("valid");
        assert_eq!(first.auth_secret.expose_bytes(), second.auth_secret.expose_bytes());
        assert!(first.auth_secret.expose_bytes().len() >= AuthSecret::MIN_LEN);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn https_base_url_turns_on_secure_cookies_and_trusts_its_origin() {
        let config = Config::from_vars(&vars(&[
            ("AUTH_SECRET", SECRET),
            ("BASE_URL", "https://auth.example.com/some/path"),
            ("TRUSTED_ORIGINS", "https://app.example.com, http://localhost:3000/"),
        ]))
        .expect("valid");
        assert!(config.cookies.secure);
        assert_eq!(
            config.trusted_origins,
            ["https://auth.example.com", "https://app.example.com", "http://localhost:3000"]
        );
    }

    #[test]
    fn cookie_settings_are_read_and_normalised() {
        let defaults = Config::from_vars(&vars(&[("AUTH_SECRET", SECRET)])).expect("valid");
        assert_eq!(defaults.cookies, CookieConfig::default());
        let config = Config::from_vars(&vars(&[
            ("AUTH_SECRET", SECRET),
            ("BASE_URL", "https://api.example.com"),
            ("COOKIE_PREFIX", "tasks-app"),
            ("COOKIE_DOMAIN", ".Example.COM"),
            ("COOKIE_SAMESITE", "None"),
        ]))
        .expect("valid");
        assert_eq!(
            config.cookies,
            CookieConfig {
                prefix: "tasks-app".to_owned(),
                domain: Some("example.com".to_owned()),
                same_site: SameSite::None,
                secure: true,
            }
        );
        let exact_host = Config::from_vars(&vars(&[
            ("AUTH_SECRET", SECRET),
            ("BASE_URL", "http://api.example.test:8000"),
            ("COOKIE_DOMAIN", "api.example.test"),
            ("COOKIE_SAMESITE", "strict"),
        ]))
        .expect("a domain equal to the host is fine");
        assert_eq!(exact_host.cookies.same_site, SameSite::Strict);
    }

    #[test]
    fn jwt_settings_are_read_and_a_grace_period_shorter_than_a_token_is_refused() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![("AUTH_SECRET", SECRET)];
            all.extend_from_slice(pairs);
            Config::from_vars(&vars(&all))
        };
        let defaults = with(&[]).expect("valid").jwt;
        assert_eq!(defaults.algorithm, JwtAlgorithm::EdDsa);
        assert_eq!((defaults.expires_in.as_secs(), defaults.grace_period.as_secs()), (900, 2_592_000));
        assert_eq!(defaults.rotation_interval, None);
        assert!(defaults.session_header);
        let rs = with(&[("JWT_ALG", "RS256"), ("JWKS_ROTATION_INTERVAL", "3600")]).expect("valid").jwt;
        assert_eq!((rs.algorithm, rs.rotation_interval), (JwtAlgorithm::Rs256, Some(Duration::from_secs(3600))));
        for (name, value) in
            [("JWT_ALG", "HS256"), ("JWT_ALG", "none"), ("JWT_EXPIRES_IN", "0"), ("JWT_ISSUER", "a\nb")]
        {
            let err = with(&[(name, value)]).expect_err("invalid");
            assert_eq!(err.0.iter().map(|(var, _)| *var).collect::<Vec<_>>(), [name], "{name}={value:?}");
        }
        let err = with(&[("JWKS_ROTATION_INTERVAL", "60"), ("JWKS_GRACE_PERIOD", "60")]).expect_err("invalid");
        assert_eq!(err.0[0].0, "JWKS_GRACE_PERIOD");
        with(&[("JWKS_GRACE_PERIOD", "60")]).expect("no rotation, no constraint");
    }

    #[test]
    fn cookie_settings_browsers_would_refuse_are_refused() {
        let error_for = |pairs: &[(&str, &str)]| {
            let mut all = vec![("AUTH_SECRET", SECRET)];
            all.extend_from_slice(pairs);
            let err = Config::from_vars(&vars(&all)).expect_err("invalid");
            assert_eq!(err.0.len(), 1, "{:?}", err.0);
            err.0.into_iter().next().expect("one error")
        };
        for prefix in ["a b", "a;b", "a=b", "tâches", "__Secure-x", "__host-x", &"x".repeat(65)] {
            assert_eq!(error_for(&[("COOKIE_PREFIX", prefix)]).0, "COOKIE_PREFIX", "{prefix}");
        }
        let base = ("BASE_URL", "https://api.example.com");
        for domain in [
            "localhost",
            "com",
            "127.0.0.1",
            "https://example.com",
            "example.com:443",
            "example.com/x",
            "-a.example.com",
            "a..example.com",
        ] {
            assert_eq!(error_for(&[base, ("COOKIE_DOMAIN", domain)]).0, "COOKIE_DOMAIN", "{domain}");
        }
        let (name, message) = error_for(&[("COOKIE_DOMAIN", "example.com")]);
        assert_eq!(name, "COOKIE_DOMAIN");
        assert!(message.contains("needs BASE_URL"), "{message}");
        for domain in ["example.org", "ample.com", "www.api.example.com"] {
            let (name, message) = error_for(&[base, ("COOKIE_DOMAIN", domain)]);
            assert_eq!(name, "COOKIE_DOMAIN");
            assert!(message.contains("does not cover BASE_URL's host `api.example.com`"), "{message}");
        }
        for base_url in [None, Some("http://api.example.com")] {
            let mut pairs = vec![("COOKIE_SAMESITE", "none")];
            pairs.extend(base_url.map(|url| ("BASE_URL", url)));
            let (name, message) = error_for(&pairs);
            assert_eq!(name, "COOKIE_SAMESITE");
            assert!(message.contains("BASE_URL") && message.contains("Secure"), "{message}");
        }
        assert_eq!(error_for(&[("COOKIE_SAMESITE", "relaxed")]).0, "COOKIE_SAMESITE");
    }

    #[test]
    fn bind_accepts_host_or_host_and_port() {
        let with_port = Config::from_vars(&vars(&[("AUTH_SECRET", SECRET), ("BIND", "0.0.0.0:9000")])).expect("valid");
        assert_eq!(with_port.bind.port(), 9000);
        let host_only =
            Config::from_vars(&vars(&[("AUTH_SECRET", SECRET), ("BIND", "::1"), ("PORT", "0")])).expect("valid");
        assert_eq!(host_only.bind, "[::1]:0".parse().expect("addr"));
    }

    #[test]
    fn debug_output_never_contains_the_secret_or_database_password() {
        let config = Config::from_vars(&vars(&[
            ("AUTH_SECRET", SECRET),
            ("DATABASE_URL", "postgres://app:hunter2hunter2@db/app"),
        ]))
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains(SECRET));
        assert!(!printed.contains("hunter2"));
    }
}
