//! [`RequestMetrics`]: counts every answered request by its OpenAPI operationId (never the raw
//! path, so label values are bounded by the spec) and status class, with its latency.
//!
//! The operationId is what poem-openapi attaches to each operation's response (and error);
//! requests no operation answered (unknown paths, the rate limiter's refusals before routing,
//! the documentation) count as `none`. Each operation's counters are resolved once, when
//! `app.rs` builds the layer, so counting a request is a map lookup and two atomic updates.

use std::{collections::HashMap, time::Instant};

use poem::{Endpoint, Request, Response};
use poem_openapi::OperationId;

use crate::{
    http::layer::{Layer, call_next},
    metrics::{METRICS, OperationMetrics},
};

/// The request-counting layer; outermost, so it sees every answer as the client does.
pub(crate) struct RequestMetrics {
    operations: HashMap<&'static str, OperationMetrics>,
    unmatched: OperationMetrics,
}

impl RequestMetrics {
    /// A layer counting the given operations (every documented operationId).
    pub(crate) fn new(operation_ids: impl IntoIterator<Item = &'static str>) -> Self {
        let operations = operation_ids.into_iter().map(|id| (id, METRICS.operation(id))).collect();
        Self { operations, unmatched: METRICS.operation("none") }
    }
}

impl Layer for RequestMetrics {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let result = call_next(next, req).await;
        let (status, operation) = match &result {
            Ok(response) => (response.status(), response.data::<OperationId>().copied()),
            Err(err) => (err.status(), err.data::<OperationId>().copied()),
        };
        let metrics = operation.and_then(|id| self.operations.get(id.0)).unwrap_or(&self.unmatched);
        metrics.observe(status.as_u16(), started.elapsed().as_secs_f64());
        result
    }
}
