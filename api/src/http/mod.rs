//! HTTP plumbing shared by every API: request bodies, middleware, client addresses and
//! trusted origins. Nothing here knows about users or tasks.

pub mod body;
pub mod client_ip;
pub mod middleware;
pub mod origin;
pub mod schema;
