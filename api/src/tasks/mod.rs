//! The per-user tasks API at `/api/v1/tasks`.
//!
//! `api` is the HTTP edge, `dto` the wire bodies, `model` the validated domain types and rules,
//! `repo` the SQL.

pub mod api;
pub mod dto;
pub mod model;
pub mod repo;
