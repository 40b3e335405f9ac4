//! What the black-box tests share, one implementation of each helper:
//!
//! - [`server`]: the service under test, in process ([`server::TestApp`]) or as the built binary
//!   ([`server::Server`]), and its configuration ([`server::Env`]);
//! - [`db`]: a fresh database per test, and the test's direct view of it (raw SQL, snapshots,
//!   the rows of each table, Better Auth's column encodings);
//! - [`http`]: test clients, reading responses, and the assertions on error answers;
//! - [`wire`]: Better Auth's wire format recomputed independently of the server (signed cookies,
//!   token hashes, JWTs, id and timestamp shapes);
//! - [`users`]: users signed up or in over HTTP, and sessions presented by cookie or bearer;
//! - [`tasks`]: the tasks API as a user calls it, and what a task must look like;
//! - [`events`]: the live-update stream as an `EventSource` reads it;
//! - [`two_factor`]: two-factor sign-in as a client drives it, and an authenticator app;
//! - [`mail`]: the file mail outbox;
//! - [`pg_proxy`]: a TCP proxy that takes PostgreSQL away for one test;
//! - [`balancer`]: three instances of the binary behind HAProxy with `deploy/haproxy.cfg`.

pub mod balancer;
pub mod db;
pub mod events;
pub mod http;
pub mod mail;
pub mod pg_proxy;
pub mod server;
pub mod tasks;
pub mod two_factor;
pub mod users;
pub mod wire;
