//! HTTP plumbing shared by every API: request bodies, middleware layers, client addresses,
//! trusted origins and shared payload types. Nothing here knows a route, a user or a task:
//! what differs per API (parameter rules, secret paths) is handed in by `app.rs`.

pub(crate) mod allow;
pub(crate) mod body;
pub(crate) mod client_ip;
pub(crate) mod layer;
pub(crate) mod middleware;
pub(crate) mod origin;
pub(crate) mod paths;
pub(crate) mod request_metrics;
pub(crate) mod schema;
