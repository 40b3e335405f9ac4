//! Prometheus metrics: one process-wide registry (the `prometheus` crate) holding every metric
//! the service exports, and its text exposition.
//!
//! The counters live in a static so that the places that count (the request layer, sign-in,
//! the hashing pool, the session cache, the rate limiter, the mail sender) only increment an
//! atomic: nothing is looked up, formatted or allocated on a request's path. Gauges that
//! describe a state (the database pool) are set when Prometheus scrapes
//! (`app.rs` reads them from the state). Where `/metrics` is served, and who may read it, is
//! `app.rs`'s business (`METRICS_BIND`, `METRICS_TOKEN`).
//!
//! Two figures have no counting site of their own. The hashing queue depth is kept by the
//! hashing pool ([`crate::auth::password`]): a job is queued when handed to the pool's channel and
//! leaves the queue when a thread picks it up. The database pool's acquire wait is measured by
//! sqlx itself (sea-orm acquires a connection inside every statement, out of the service's
//! reach): sqlx reports each acquisition's wait as a `tracing` event (target
//! `sqlx::pool::acquire`, field `acquired_after_secs`) when asked to (`db::connect`), and
//! [`pool_acquire_layer`] turns those events into a histogram.
//!
//! This module imports nothing from the service: every layer may count through it.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric of the service.
pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// How a sign-in ended.
pub(crate) struct SignInOutcomes {
    /// Credentials accepted, session started.
    pub(crate) success: IntCounter,
    /// Unknown address or wrong password (one answer for both).
    pub(crate) wrong_credentials: IntCounter,
    /// Good password, address not verified yet.
    pub(crate) email_not_verified: IntCounter,
    /// Refused by the rate limiter before anything was checked.
    pub(crate) throttled: IntCounter,
    /// Refused because the hashing queue was full (503).
    pub(crate) shed: IntCounter,
}

/// The registry and every metric in it.
pub(crate) struct Metrics {
    registry: Registry,
    /// `api_http_requests_total{operation, status_class}`.
    pub(crate) requests: IntCounterVec,
    /// `api_http_request_duration_seconds{operation}`.
    pub(crate) latency: HistogramVec,
    /// `api_sign_ins_total{outcome}`.
    pub(crate) sign_ins: SignInOutcomes,
    /// `api_password_hash_in_flight`: hashes running now.
    pub(crate) hash_in_flight: IntGauge,
    /// `api_password_hash_queued`: jobs handed to the pool that no thread has picked up yet.
    pub(crate) hash_queued: IntGauge,
    /// `api_password_hash_shed_total`: requests refused because the queue was full.
    pub(crate) hash_shed: IntCounter,
    /// `api_session_cache_hits_total`.
    pub(crate) cache_hits: IntCounter,
    /// `api_session_cache_misses_total`.
    pub(crate) cache_misses: IntCounter,
    /// `api_session_cache_invalidations_total`.
    pub(crate) cache_invalidations: IntCounter,
    /// `api_db_pool_max_connections`.
    pub(crate) pool_max: IntGauge,
    /// `api_db_pool_connections{state="idle"|"in_use"}`.
    pub(crate) pool_connections: IntGaugeVec,
    /// `api_db_pool_acquire_wait_seconds`: how long each statement or transaction waited for a
    /// pooled connection (sqlx's own measurement).
    pub(crate) pool_acquire_wait: Histogram,
    /// `api_rate_limit_refusals_total{rule}`.
    pub(crate) rate_limited: IntCounterVec,
    /// `api_mail_sent_total`.
    pub(crate) mail_sent: IntCounter,
    /// `api_mail_failed_total`.
    pub(crate) mail_failed: IntCounter,
}

/// The rate limiter's rules, as `api_rate_limit_refusals_total`'s `rule` label.
pub(crate) const RATE_LIMIT_RULES: [&str; 3] = ["strict", "mail", "general"];

/// Pool acquire wait buckets, in seconds: from an idle connection handed over at once (tens of
/// microseconds) to the acquire timeout.
const ACQUIRE_BUCKETS: [f64; 13] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0];

/// Latency buckets, in seconds: from a cached session lookup to a queued password hash.
const LATENCY_BUCKETS: [f64; 14] =
    [0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("api_http_requests_total", "HTTP requests answered, by OpenAPI operationId and status class"),
            &["operation", "status_class"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("api_http_request_duration_seconds", "Time to answer an HTTP request, by operationId")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("valid metric");
        let sign_in_vec =
            IntCounterVec::new(Opts::new("api_sign_ins_total", "Email/password sign-ins by outcome"), &["outcome"])
                .expect("valid metric");
        let sign_ins = SignInOutcomes {
            success: sign_in_vec.with_label_values(&["success"]),
            wrong_credentials: sign_in_vec.with_label_values(&["wrong_credentials"]),
            email_not_verified: sign_in_vec.with_label_values(&["email_not_verified"]),
            throttled: sign_in_vec.with_label_values(&["throttled"]),
            shed: sign_in_vec.with_label_values(&["shed"]),
        };
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new("api_db_pool_connections", "Open database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new("api_rate_limit_refusals_total", "Requests refused by the /api/auth rate limiter, by rule"),
            &["rule"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new("api_build_info", "Always 1; the labels describe the running build"),
            &["version"],
        )
        .expect("valid metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        // Every series that can appear exists from the start (at 0), so a rate over it is
        // defined before its first event.
        for state in ["idle", "in_use"] {
            pool_connections.with_label_values(&[state]);
        }
        for rule in RATE_LIMIT_RULES {
            rate_limited.with_label_values(&[rule]);
        }
        let metrics = Self {
            requests,
            latency,
            sign_ins,
            hash_in_flight: gauge("api_password_hash_in_flight", "Password hashes running now"),
            hash_queued: gauge("api_password_hash_queued", "Password hashes waiting for a hashing thread"),
            hash_shed: counter("api_password_hash_shed_total", "Requests refused because the hashing queue was full"),
            cache_hits: counter("api_session_cache_hits_total", "Session lookups answered from memory"),
            cache_misses: counter("api_session_cache_misses_total", "Session lookups that went to the database"),
            cache_invalidations: counter(
                "api_session_cache_invalidations_total",
                "Session cache invalidations (a token, a user, or everything)",
            ),
            pool_max: gauge("api_db_pool_max_connections", "Configured size of the database pool"),
            pool_connections,
            pool_acquire_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "api_db_pool_acquire_wait_seconds",
                    "Time a statement or transaction waited for a database pool connection",
                )
                .buckets(ACQUIRE_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            rate_limited,
            mail_sent: counter("api_mail_sent_total", "Mails handed to the transport"),
            mail_failed: counter("api_mail_failed_total", "Mails the transport refused or failed to send"),
            registry,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(metrics.requests.clone()),
            Box::new(metrics.latency.clone()),
            Box::new(sign_in_vec),
            Box::new(metrics.hash_in_flight.clone()),
            Box::new(metrics.hash_queued.clone()),
            Box::new(metrics.hash_shed.clone()),
            Box::new(metrics.cache_hits.clone()),
            Box::new(metrics.cache_misses.clone()),
            Box::new(metrics.cache_invalidations.clone()),
            Box::new(metrics.pool_max.clone()),
            Box::new(metrics.pool_connections.clone()),
            Box::new(metrics.pool_acquire_wait.clone()),
            Box::new(metrics.rate_limited.clone()),
            Box::new(metrics.mail_sent.clone()),
            Box::new(metrics.mail_failed.clone()),
            Box::new(build_info),
        ];
        for collector in collectors {
            metrics.registry.register(collector).expect("metric names are unique");
        }
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process metrics register once");
        metrics
    }

    /// The request metrics of one operation (`"none"` for requests no operation answered),
    /// resolved once so that counting a request is an atomic increment.
    pub(crate) fn operation(&self, operation: &str) -> OperationMetrics {
        OperationMetrics {
            by_class: ["1xx", "2xx", "3xx", "4xx", "5xx"]
                .map(|class| self.requests.with_label_values(&[operation, class])),
            latency: self.latency.with_label_values(&[operation]),
        }
    }

    /// Everything, in the Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %err, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One operation's request counters (by status class) and latency histogram.
#[derive(Clone)]
pub(crate) struct OperationMetrics {
    by_class: [IntCounter; 5],
    latency: Histogram,
}

impl OperationMetrics {
    /// Counts one answered request.
    pub(crate) fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.latency.observe(seconds);
    }
}

/// The `tracing` target of sqlx's acquire events.
const ACQUIRE_TARGET: &str = "sqlx::pool::acquire";

/// A `tracing` layer that records sqlx's acquire events (`sqlx::pool::acquire`, any level) into
/// `api_db_pool_acquire_wait_seconds`, and sees nothing else: its own filter selects that target,
/// whatever `RUST_LOG` says, so the log output is unchanged.
pub(crate) fn pool_acquire_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use tracing_subscriber::{Layer, filter::Targets};
    PoolAcquireLayer.with_filter(Targets::new().with_target(ACQUIRE_TARGET, tracing::Level::TRACE))
}

struct PoolAcquireLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PoolAcquireLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == ACQUIRE_TARGET {
            let mut wait = AcquiredAfter(None);
            event.record(&mut wait);
            if let Some(seconds) = wait.0 {
                METRICS.pool_acquire_wait.observe(seconds);
            }
        }
    }
}

/// Reads the `acquired_after_secs` field of an acquire event.
struct AcquiredAfter(Option<f64>);

impl tracing::field::Visit for AcquiredAfter {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "acquired_after_secs" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &tracing::field::Field, _value: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric() {
        METRICS.operation("get_session").observe(200, 0.001);
        let text = METRICS.render();
        for name in [
            "api_http_requests_total{operation=\"get_session\",status_class=\"2xx\"}",
            "api_http_request_duration_seconds_bucket{operation=\"get_session\"",
            "api_sign_ins_total{outcome=\"shed\"}",
            "api_session_cache_hits_total",
            "api_db_pool_connections",
            "api_db_pool_acquire_wait_seconds_bucket{le=\"0.0001\"}",
            "api_password_hash_queued 0",
            "api_mail_failed_total",
            "api_build_info{",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn sqlx_acquire_events_feed_the_wait_histogram() {
        use tracing_subscriber::prelude::*;
        let subscriber = tracing_subscriber::registry().with(pool_acquire_layer());
        let before = METRICS.pool_acquire_wait.get_sample_count();
        tracing::subscriber::with_default(subscriber, || {
            // What sqlx emits (sqlx-core's `PoolInner::acquire`), and events it must ignore.
            tracing::trace!(target: "sqlx::pool::acquire", acquired_after_secs = 0.000_3, "acquired connection");
            tracing::warn!(target: "sqlx::pool::acquire", acquired_after_secs = 2.5, slow_acquire_threshold_secs = 2.0, "slow");
            tracing::trace!(target: "sqlx::query", acquired_after_secs = 9.0, "not an acquire");
            tracing::warn!(target: "api::other", acquired_after_secs = 9.0, "not an acquire");
        });
        assert_eq!(METRICS.pool_acquire_wait.get_sample_count() - before, 2);
    }
}
