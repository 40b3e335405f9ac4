//! [`RequestMetrics`]: counts every answered request by its OpenAPI operationId (never the raw
//! path, so label values are bounded by the spec) and status class, with its latency; and, when
//! traces are exported (`telemetry`), wraps the request in a span named after the same
//! operationId.
//!
//! The operationId is what poem-openapi attaches to each operation's response (and error);
//! requests no operation answered (unknown paths, the rate limiter's refusals before routing,
//! the documentation) count as `none`. Each operation's counters and route template are
//! resolved once, when `app.rs` builds the layer, so counting a request is a map lookup and two
//! atomic updates.

use std::{collections::HashMap, time::Instant};

use poem::{Endpoint, Request, Response, http::StatusCode};
use poem_openapi::OperationId;
use tracing::{Instrument, field::Empty};

use crate::{
    http::layer::{Layer, call_next},
    metrics::{METRICS, OperationMetrics},
    telemetry::{self, SPAN_TARGET},
};

/// The request-counting layer; outermost, so it sees every answer as the client does.
pub(crate) struct RequestMetrics {
    operations: HashMap<&'static str, Operation>,
    unmatched: OperationMetrics,
    /// Whether each request gets a trace span (`OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    traced: bool,
}

/// One documented operation's counters and path template.
struct Operation {
    metrics: OperationMetrics,
    /// `/api/v1/tasks/{id}`: the span's `http.route`.
    route: String,
}

impl RequestMetrics {
    /// A layer counting the given operations (every documented operationId, with its path
    /// template), opening a trace span per request when `traced`.
    pub(crate) fn new(operations: impl IntoIterator<Item = (&'static str, String)>, traced: bool) -> Self {
        let operations = operations
            .into_iter()
            .map(|(id, route)| (id, Operation { metrics: METRICS.operation(id), route }))
            .collect();
        Self { operations, unmatched: METRICS.operation("none"), traced }
    }
}

impl Layer for RequestMetrics {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let span = self.traced.then(|| request_span(&req));
        let result = match &span {
            Some(span) => call_next(next, req).instrument(span.clone()).await,
            None => call_next(next, req).await,
        };
        let (status, operation_id) = match &result {
            Ok(response) => (response.status(), response.data::<OperationId>().copied()),
            Err(err) => (err.status(), err.data::<OperationId>().copied()),
        };
        let operation = operation_id.and_then(|id| self.operations.get(id.0).map(|operation| (id.0, operation)));
        let metrics = operation.map_or(&self.unmatched, |(_, operation)| &operation.metrics);
        metrics.observe(status.as_u16(), started.elapsed().as_secs_f64());
        if let Some(span) = span {
            record_outcome(&span, operation.map(|(id, operation)| (id, operation.route.as_str())), status);
        }
        result
    }
}

/// The request's trace span (exported only, never logged): named after the method until the
/// answer says which operation it was. The fields follow OpenTelemetry's HTTP conventions.
fn request_span(req: &Request) -> tracing::Span {
    let method = req.method().as_str();
    tracing::info_span!(
        target: SPAN_TARGET,
        "request",
        otel.name = method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = Empty,
        http.response.status_code = Empty,
    )
}

/// Names the span after the operationId and records the route template and the status; a 5xx
/// marks the span as failed (a 4xx is the client's error, not the server's).
fn record_outcome(span: &tracing::Span, operation: Option<(&'static str, &str)>, status: StatusCode) {
    if let Some((id, route)) = operation {
        telemetry::rename_span(span, id);
        span.record("http.route", route);
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}
