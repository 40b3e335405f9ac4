//! Schema migrations for the service: Better Auth's tables, exactly as Better Auth creates them
//! (`docs/better-auth-wire.md` §8; the two-factor plugin's in `docs/better-auth-plugins.md`), the
//! tasks tables and the audit trail (`auditEvent`).
//!
//! Migrations are raw SQL per backend on purpose: the auth tables must match Better Auth's DDL
//! byte for byte on each database (names, camelCase columns, `date` text columns on SQLite,
//! `timestamptz` on PostgreSQL), and old migrations must keep compiling whatever the code's
//! models become. `CREATE … IF NOT EXISTS` lets the service adopt a database that Better Auth
//! already created.

pub use sea_orm_migration::prelude::*;

mod m20250101_000001_create_auth_tables;
mod m20250101_000002_create_task_table;
mod m20250101_000003_create_auth_cache_triggers;
mod m20250101_000004_create_task_quota;
mod m20250101_000014_create_rate_limit_table;
mod m20250101_000015_create_jwks_table;
mod m20250101_000017_create_task_sync;
mod m20250101_000018_create_audit_event_table;
mod m20250101_000018_create_task_change_notify;
mod m20250101_000019_create_two_factor;
mod m20250102_000001_reset_token_user_index;
mod m20250102_000002_auth_cache_notify_session_id;

/// The database used when `DATABASE_URL` is not set: an SQLite file under `./data/`,
/// created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_auth_tables::Migration),
            Box::new(m20250101_000002_create_task_table::Migration),
            Box::new(m20250101_000003_create_auth_cache_triggers::Migration),
            Box::new(m20250101_000004_create_task_quota::Migration),
            Box::new(m20250101_000015_create_jwks_table::Migration),
            Box::new(m20250101_000017_create_task_sync::Migration),
            Box::new(m20250101_000014_create_rate_limit_table::Migration),
            Box::new(m20250102_000001_reset_token_user_index::Migration),
            Box::new(m20250101_000018_create_audit_event_table::Migration),
            Box::new(m20250101_000018_create_task_change_notify::Migration),
            Box::new(m20250101_000019_create_two_factor::Migration),
            Box::new(m20250102_000002_auth_cache_notify_session_id::Migration),
        ]
    }
}

/// Runs each statement of a migration in order on the manager's connection.
async fn execute_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Runs one statement on PostgreSQL; nothing on SQLite (no triggers or notifications there).
async fn execute_on_postgres(manager: &SchemaManager<'_>, statement: &str) -> Result<(), DbErr> {
    match manager.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => manager.get_connection().execute_unprepared(statement).await.map(|_| ()),
        _ => Ok(()),
    }
}
