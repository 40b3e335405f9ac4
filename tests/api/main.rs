//! Black-box tests: each boots the real server (through `api::app::build`, as `main` does) on
//! an ephemeral port with a fresh database, and speaks HTTP to it.
//!
//! Run on SQLite by default; with `TEST_DATABASE_URL=postgres://…` the same tests run on
//! PostgreSQL, each on its own freshly created database.

mod binary;
mod foundation_errors;
mod foundation_health;
mod helpers;
mod migrations;
mod spec;
