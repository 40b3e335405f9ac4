//! Log output (an env-filtered `tracing` subscriber printing pretty or JSON lines to stdout) and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
//! OpenTelemetry traces exported over OTLP/HTTP through `tracing-opentelemetry`.
//!
//! What gets logged per request (and what never does) is decided in `http::middleware`
//! (`RequestContext`). What a trace holds is decided here: the exporter sees only the request
//! spans `http::request_metrics` opens (target [`SPAN_TARGET`]: operationId, method, route
//! template, status) and sea-orm's statement spans under them (the SQL text with its `$1`/`?`
//! placeholders, never the bound values), no events and no other span. Those carry no header,
//! cookie, token, password or email, so neither does a trace. The standard `OTEL_*` variables
//! (protocol, headers, timeout, batch delay, service name) are read by the OpenTelemetry SDK.
//!
//! Without the variable the subscriber is the logging one alone, as it was before traces existed:
//! no span is opened per request and sea-orm's statement spans are disabled at their call site
//! (an interest cached once), so a request costs what it did.
//!
//! Either way `RUST_LOG` filters the log layer only: the metrics layer next to it (sqlx's pool
//! acquire events, see `metrics::pool_acquire_layer`) has its own filter and sees its events
//! whatever the log level.

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::{Level, Metadata};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{
    EnvFilter, Layer as _,
    filter::{FilterExt as _, Targets, filter_fn},
    fmt,
    prelude::*,
};

use crate::config::{LogConfig, LogFormat, TraceConfig, TraceProtocol};

/// The target of the per-request spans that go to the trace exporter (and never to the log).
pub(crate) const SPAN_TARGET: &str = "api::trace";

/// The module prefixes of the per-statement spans: sea-orm's (`sea_orm.query_one`,
/// `sea_orm.execute`…) and those of `db::reads`, which have the same names and fields.
const DATABASE_SPAN_TARGETS: [&str; 2] = ["sea_orm::database", "api::db::reads"];

/// Renames an exported span (the request span, once the operation that answered is known).
///
/// Recording `otel.name` renames a span only while the exporter has not started it; a request
/// span is started as soon as its first statement span needs it as a parent, so the rename goes
/// to the OpenTelemetry span itself.
pub(crate) fn rename_span(span: &tracing::Span, name: &'static str) {
    span.context().span().update_name(name);
}

/// The installed telemetry: the trace pipeline, when traces are exported.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter (graceful shutdown). Blocks until
    /// the export finished or timed out, so it is called off the async runtime's workers.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "flushing the remaining trace spans failed");
        }
    }
}

/// Installs the global subscriber, with the trace exporter when `config.traces` says so.
/// Returns an error if the filter does not parse, the exporter cannot be built (a malformed
/// endpoint, an unsupported protocol), or a subscriber is already installed (tests build several
/// apps in one process).
pub fn init(config: &LogConfig) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|err| format!("RUST_LOG: {err}"))?;
    if !config.traces.enabled {
        // sea-orm opens its statement spans at `info`; they are for the exporter only.
        let logged = filter.and(filter_fn(|meta| !is_database_span(meta)));
        let registry = tracing_subscriber::registry().with(crate::metrics::pool_acquire_layer());
        let result = match config.format {
            LogFormat::Pretty => registry.with(pretty().with_filter(logged)).try_init(),
            LogFormat::Json => registry.with(json().with_filter(logged)).try_init(),
        };
        return result.map(|()| Telemetry { provider: None }).map_err(|err| err.to_string());
    }

    let provider = tracer_provider(&config.traces)?;
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("api"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(exported_spans());
    // The log keeps `RUST_LOG` and never shows the exported spans (the request's own log span
    // stays the current one in every line).
    let logged = filter.and(filter_fn(|meta| meta.target() != SPAN_TARGET && !is_database_span(meta)));
    let registry = tracing_subscriber::registry().with(crate::metrics::pool_acquire_layer()).with(traces);
    let result = match config.format {
        LogFormat::Pretty => registry.with(pretty().with_filter(logged)).try_init(),
        LogFormat::Json => registry.with(json().with_filter(logged)).try_init(),
    };
    result.map(|()| Telemetry { provider: Some(provider) }).map_err(|err| err.to_string())
}

/// The human-readable log layer.
fn pretty<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer().with_target(false)
}

/// The JSON-lines log layer.
fn json<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false)
}

/// What the exporter sees: the request spans and the statement spans, no events (a log line's
/// fields are not vetted for traces) and nothing else.
fn exported_spans<S>() -> impl tracing_subscriber::layer::Filter<S> {
    let targets =
        DATABASE_SPAN_TARGETS.iter().fold(Targets::new().with_target(SPAN_TARGET, Level::INFO), |targets, target| {
            targets.with_target(*target, Level::INFO)
        });
    targets.and(filter_fn(|meta| meta.is_span()))
}

/// A per-statement span (sea-orm's `tracing-spans` feature, or `db::reads`):
/// `sea_orm.<operation>` at `info`.
fn is_database_span(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && *meta.level() == Level::INFO
        && DATABASE_SPAN_TARGETS.iter().any(|target| meta.target().starts_with(target))
        && meta.name().starts_with("sea_orm.")
}

/// The OTLP/HTTP exporter (protobuf unless `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`; endpoint,
/// headers and timeout from the standard variables) behind a batch processor, which exports
/// from a thread of its own every `OTEL_BSP_SCHEDULE_DELAY` ms (default 5000).
fn tracer_provider(config: &TraceConfig) -> Result<SdkTracerProvider, String> {
    let protocol = match config.protocol {
        TraceProtocol::Protobuf => Protocol::HttpBinary,
        TraceProtocol::Json => Protocol::HttpJson,
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|err| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {err}"))?;
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}
