//! Black-box tests: each boots the real server (in process through `api::app::build`, as `main`
//! does, or the built binary) on an ephemeral port with a fresh database, and speaks HTTP to it.
//! What the tests share lives in `support/`; every other module is named for what it tests.
//!
//! Run on SQLite by default; with `TEST_DATABASE_URL=postgres://…` the same tests run on
//! PostgreSQL, each on its own freshly created database.

mod attacks_csrf;
mod attacks_enumeration;
mod attacks_forwarded_for;
mod attacks_fuzz;
mod attacks_input_torture;
mod attacks_session;
mod audit_trail;
mod auth_account_throttle;
mod auth_bearer;
mod auth_bodies;
mod auth_concurrency;
mod auth_cookie_settings;
mod auth_cookies;
mod auth_existing_database;
mod auth_get_session;
mod auth_jwt;
mod auth_origin;
mod auth_rate_limit;
mod auth_sign_in;
mod auth_sign_out;
mod auth_sign_up;
mod binary;
mod contract_allow;
mod contract_email;
mod contract_params;
mod faults_crash;
mod faults_db_down;
mod faults_overload;
mod faults_shutdown;
mod faults_slow_clients;
mod framework_errors;
mod lifecycle_delete;
mod lifecycle_password;
mod lifecycle_profile;
mod lifecycle_reset;
mod lifecycle_sessions;
mod lifecycle_verification;
mod logs_no_secrets;
mod metrics;
mod migrations;
mod portability;
mod probes_and_headers;
mod scaleout_balancer;
mod scaleout_rate_limit;
mod scaleout_startup;
mod session_absolute_lifetime;
mod session_cache;
mod spec;
mod tasks_bad_input;
mod tasks_create;
mod tasks_csrf;
mod tasks_delete;
mod tasks_events;
mod tasks_idempotency;
mod tasks_isolation;
mod tasks_list;
mod tasks_quota;
mod tasks_read;
mod tasks_read_connections;
mod tasks_sync;
mod tasks_update;
mod traces;
mod two_factor_attacks;
mod two_factor_enrol;
mod two_factor_sign_in;
mod two_factor_trail;

mod support;
