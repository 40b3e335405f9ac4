//! Better Auth compatible email/password sessions under `/api/auth`.

pub mod api;
pub mod error;
