//! The per-user tasks API at `/api/v1/tasks`.
//!
//! `api` is the HTTP edge and `dto` its bodies; `service` holds the rules and `model` the
//! validated domain types; `repo` the SQL; `live` the open live-update streams and the signal
//! that wakes them. Handlers never reach `repo` directly.

pub(crate) mod api;
pub(crate) mod dto;
pub(crate) mod live;
pub(crate) mod model;
pub(crate) mod repo;
pub(crate) mod service;
