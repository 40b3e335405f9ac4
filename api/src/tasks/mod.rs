//! The per-user tasks API at `/api/v1/tasks`.
//!
//! `api` is the HTTP edge and `dto` its bodies; `service` holds the rules and `model` the
//! validated domain types; `repo` the SQL. Handlers never reach `repo` directly.

pub(crate) mod api;
pub(crate) mod dto;
pub(crate) mod model;
pub(crate) mod repo;
pub(crate) mod service;
