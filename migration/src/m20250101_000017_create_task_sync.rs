//! Safe retries and incremental sync for the tasks API (README "Offline-first sync"):
//!
//! - `task_idempotency`: one row per (owner, `Idempotency-Key`), inserted in the same
//!   transaction as the write it guards, so the primary key makes a second execution impossible
//!   (a concurrent retry waits on the key until the first commits, then replays its answer);
//!   the row keeps the request's fingerprint, the answer's status and the task as answered.
//! - `task_sync_head`: each owner's change counter. Every task write bumps it in its own
//!   transaction, which holds the row until commit, so an owner's changes commit in counter
//!   order and a reader that has seen counter `n` has seen every change before it.
//! - `task_change`: each task's latest change (counter value; `deleted_at` for a tombstone),
//!   one row per task, kept after the task is deleted for the configured retention.
//!
//! Tasks that exist when this migration runs are entered with their id as their counter value
//! (ids only grow, so they are distinct), and each owner's counter starts after them.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "task_idempotency" ("owner_id" text not null references "user" ("id") on delete cascade, "key" text not null, "fingerprint" text not null, "status" integer not null, "task_id" bigint, "title" text, "description" text, "is_completed" boolean, "created_at" timestamptz, "updated_at" timestamptz, "stored_at" timestamptz not null, primary key ("owner_id", "key"))"#,
    r#"create index if not exists "task_idempotency_stored_at_idx" on "task_idempotency" ("stored_at")"#,
    r#"create table if not exists "task_sync_head" ("owner_id" text not null primary key references "user" ("id") on delete cascade, "seq" bigint not null)"#,
    r#"create table if not exists "task_change" ("owner_id" text not null references "user" ("id") on delete cascade, "task_id" bigint not null, "seq" bigint not null, "deleted_at" timestamptz, primary key ("owner_id", "task_id"))"#,
    r#"create unique index if not exists "task_change_owner_id_seq_idx" on "task_change" ("owner_id", "seq")"#,
    r#"create index if not exists "task_change_deleted_at_idx" on "task_change" ("deleted_at") where "deleted_at" is not null"#,
    r#"insert into "task_change" ("owner_id", "task_id", "seq") select "owner_id", "id", "id" from "task" on conflict do nothing"#,
    r#"insert into "task_sync_head" ("owner_id", "seq") select "owner_id", max("id") from "task" group by "owner_id" on conflict do nothing"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "task_idempotency" ("owner_id" text not null references "user" ("id") on delete cascade, "key" text not null, "fingerprint" text not null, "status" integer not null, "task_id" integer, "title" text, "description" text, "is_completed" integer, "created_at" text, "updated_at" text, "stored_at" text not null, primary key ("owner_id", "key"))"#,
    r#"CREATE INDEX IF NOT EXISTS "task_idempotency_stored_at_idx" on "task_idempotency" ("stored_at")"#,
    r#"CREATE TABLE IF NOT EXISTS "task_sync_head" ("owner_id" text not null primary key references "user" ("id") on delete cascade, "seq" integer not null)"#,
    r#"CREATE TABLE IF NOT EXISTS "task_change" ("owner_id" text not null references "user" ("id") on delete cascade, "task_id" integer not null, "seq" integer not null, "deleted_at" text, primary key ("owner_id", "task_id"))"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS "task_change_owner_id_seq_idx" on "task_change" ("owner_id", "seq")"#,
    r#"CREATE INDEX IF NOT EXISTS "task_change_deleted_at_idx" on "task_change" ("deleted_at") where "deleted_at" is not null"#,
    r#"INSERT INTO "task_change" ("owner_id", "task_id", "seq") SELECT "owner_id", "id", "id" FROM "task" WHERE true ON CONFLICT DO NOTHING"#,
    r#"INSERT INTO "task_sync_head" ("owner_id", "seq") SELECT "owner_id", max("id") FROM "task" WHERE true GROUP BY "owner_id" ON CONFLICT DO NOTHING"#,
];

const DOWN: &[&str] = &[
    r#"drop table if exists "task_change""#,
    r#"drop table if exists "task_sync_head""#,
    r#"drop table if exists "task_idempotency""#,
];

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
