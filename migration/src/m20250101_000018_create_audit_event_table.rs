//! The `auditEvent` table: the security audit trail (sign-up, sign-in and its failures,
//! sign-out, revocations, password and email changes, account deletion), one row per event.
//!
//! Ids only grow (`bigserial`; SQLite `AUTOINCREMENT` never reuses a deleted id), so "newest
//! first" is `id DESC` and a keyset cursor is the last id seen, through the `("userId", "id")`
//! index. `"userId"` has no foreign key on purpose: an account's deletion is itself an event,
//! and events outlive the rows they describe until the retention sweep (the `"createdAt"`
//! index) removes them. A failed sign-in for an unknown address has no `"userId"`.
//! Timestamps are `timestamptz` on PostgreSQL and fixed-width RFC 3339 text on SQLite.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "auditEvent" ("id" bigserial primary key, "userId" text, "type" text not null, "reason" text, "ipAddress" text not null, "userAgent" text not null, "createdAt" timestamptz not null)"#,
    r#"create index if not exists "auditEvent_userId_id_idx" on "auditEvent" ("userId", "id" desc)"#,
    r#"create index if not exists "auditEvent_createdAt_idx" on "auditEvent" ("createdAt")"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "auditEvent" ("id" integer primary key autoincrement, "userId" text, "type" text not null, "reason" text, "ipAddress" text not null, "userAgent" text not null, "createdAt" text not null)"#,
    r#"CREATE INDEX IF NOT EXISTS "auditEvent_userId_id_idx" on "auditEvent" ("userId", "id" desc)"#,
    r#"CREATE INDEX IF NOT EXISTS "auditEvent_createdAt_idx" on "auditEvent" ("createdAt")"#,
];

const DOWN: &[&str] = &[r#"drop table if exists "auditEvent""#];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => execute_all(manager, POSTGRES_UP).await,
            DatabaseBackend::Sqlite => execute_all(manager, SQLITE_UP).await,
            other => Err(DbErr::Migration(format!("unsupported database backend: {other:?}"))),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(manager, DOWN).await
    }
}
