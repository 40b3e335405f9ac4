//! The per-user tasks API at `/api/v1/tasks`.

pub mod model;
