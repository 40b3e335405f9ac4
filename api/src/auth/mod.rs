//! Better Auth compatible email/password sessions under `/api/auth`.
//!
//! Layers, top to bottom: the handlers (`api`, `account_api`, `sessions_api`, `jwt_api`) and what they
//! use at the HTTP edge (`dto`, `fields`, `guard`, `csrf`, `reply`, `cookies`, `rate_limit`);
//! the domain (`accounts`, `sessions`, `jwt`, `audit`) with its types (`model`, `email`, `password`, `token`,
//! `verification`, `error`); `store`, the one way to the tables and the session `cache`; and
//! `repo`, the SQL. Handlers never reach `store` or `repo` directly.

pub(crate) mod account_api;
pub(crate) mod accounts;
pub(crate) mod api;
pub(crate) mod audit;
pub(crate) mod cache;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod dto;
pub(crate) mod email;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod guard;
pub(crate) mod jwt;
pub(crate) mod jwt_api;
pub(crate) mod model;
pub mod password;
pub(crate) mod rate_limit;
pub(crate) mod reply;
pub(crate) mod repo;
pub(crate) mod sessions;
pub(crate) mod sessions_api;
pub(crate) mod store;
pub(crate) mod symmetric;
pub(crate) mod throttle;
pub(crate) mod token;
pub(crate) mod totp;
pub(crate) mod two_factor;
pub(crate) mod two_factor_api;
pub(crate) mod two_factor_dto;
pub(crate) mod verification;
