//! Better Auth compatible email/password sessions under `/api/auth`.
//!
//! `api` is the HTTP edge; `account` and `session` hold the rules; `repo` the SQL;
//! `cookies`, `csrf`, `guard` and `reply` the wire details; `email`, `password` and `token` the
//! validated types.

pub mod account;
pub mod account_api;
pub mod api;
pub mod cache;
pub mod cookies;
pub mod csrf;
pub mod dto;
pub mod email;
pub mod error;
pub mod guard;
pub mod password;
pub mod rate_limit;
pub mod reply;
pub mod repo;
pub mod session;
pub mod sessions_api;
pub mod token;
pub mod verification;
