//! The `task` table of the tasks API (DESIGN.md "Data model"): one owner per task, removed with
//! its owner (`ON DELETE CASCADE`), listed newest first through the `(owner_id, id)` index.
//!
//! Ids only grow (`bigserial`; SQLite `AUTOINCREMENT` never reuses a deleted id), so "newest
//! first" is `id DESC` and a keyset cursor is simply the last id seen. Timestamps are
//! `timestamptz` on PostgreSQL and fixed-width RFC 3339 text with microseconds on SQLite.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "task" ("id" bigserial primary key, "title" text not null, "description" text, "is_completed" boolean not null default false, "owner_id" text not null references "user" ("id") on delete cascade, "created_at" timestamptz not null, "updated_at" timestamptz not null)"#,
    r#"create index if not exists "task_owner_id_id_idx" on "task" ("owner_id", "id" desc)"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "task" ("id" integer primary key autoincrement, "title" text not null, "description" text, "is_completed" integer not null default 0, "owner_id" text not null references "user" ("id") on delete cascade, "created_at" text not null, "updated_at" text not null)"#,
    r#"CREATE INDEX IF NOT EXISTS "task_owner_id_id_idx" on "task" ("owner_id", "id" desc)"#,
];

const DOWN: &[&str] = &[r#"drop table if exists "task""#];

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
