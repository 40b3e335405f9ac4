//! A Better Auth compatible session service with a per-user tasks API.
//!
//! `app::build` is the one entry point, used by `main` and by the black-box tests.

/// Builds the service: state, routes, middleware, OpenAPI, serving and shutdown.
pub mod app;
/// Better Auth compatible email/password sessions under `/api/auth`.
pub mod auth;
/// Typed, validated configuration from the environment.
pub mod config;
/// Connecting, migrating, and the backend-specific value encodings.
pub mod db;
/// The error type and its single mapping to JSON `{code, message}`.
pub mod error;
/// Liveness and readiness probes.
pub mod health;
/// Request bodies, middleware, client addresses, trusted origins.
pub mod http;
/// Outgoing mail: log, file or SMTP transport.
pub mod mail;
/// The per-user tasks API under `/api/v1`.
pub mod tasks;
/// The log subscriber.
pub mod telemetry;
/// Timestamps as Better Auth writes them.
pub mod timestamp;
/// Field-level validation errors.
pub mod validation;
