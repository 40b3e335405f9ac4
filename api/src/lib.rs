//! A Better Auth compatible session service with a per-user tasks API.
//!
//! `app::build` is the one entry point, used by `main` and by the black-box tests. The module
//! map and where each invariant is enforced are described in `docs/architecture.md`.

/// Builds the service: routes, middleware order, OpenAPI, background jobs, serving, shutdown.
pub mod app;
/// Better Auth compatible email/password sessions under `/api/auth`.
pub mod auth;
/// Typed, validated configuration from the environment.
pub mod config;
/// Which build of the binary runs: generic x86-64, or x86-64-v4 when the CPU has AVX-512.
pub mod cpu_build;
/// Connecting, migrating, and the backend-specific value encodings.
pub mod db;
/// The error type and its single mapping to JSON `{code, message}`.
mod error;
/// Liveness and readiness probes.
mod health;
/// HTTP plumbing shared by every API: bodies, middleware, client addresses, trusted origins.
mod http;
/// Outgoing mail: log, file or SMTP transport.
mod mail;
/// Prometheus metrics: the registry every layer counts into, and its exposition.
mod metrics;
/// Serving connections: header-read and idle timeouts, the connection limit, shutdown.
mod serve;
/// The state every request can reach: the domain services and the edge settings.
mod state;
/// The operation groups of the OpenAPI document.
mod tags;
/// The per-user tasks API under `/api/v1`.
mod tasks;
/// The log subscriber.
pub mod telemetry;
/// Timestamps as Better Auth writes them.
pub mod timestamp;
/// Field-level validation errors.
mod validation;

#[cfg(test)]
mod architecture;
