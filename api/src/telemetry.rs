//! Log output: an env-filtered `tracing` subscriber printing pretty or JSON lines to stdout.
//!
//! What gets logged per request (and what never does) is decided in `http::middleware`
//! (`RequestContext`).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Returns an error if the filter does not parse or a
/// subscriber is already installed (tests build several apps in one process).
pub fn init(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|err| format!("RUST_LOG: {err}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
    };
    result.map_err(|err| err.to_string())
}
