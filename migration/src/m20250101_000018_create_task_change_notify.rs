//! PostgreSQL: every change-feed row written (`task_change`, see
//! `m20250101_000017_create_task_sync`) notifies the `task_change` channel with its owner's id,
//! so the live-update streams of every instance read their feed again. `NOTIFY` is delivered
//! at commit, so a stream never reads before the change is visible. SQLite serves one process,
//! which signals its own streams.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create or replace function "task_change_notify"() returns trigger language plpgsql as $$
begin
  perform pg_notify('task_change', NEW."owner_id");
  return null;
end
$$"#,
    r#"drop trigger if exists "task_change_notify" on "task_change""#,
    r#"create trigger "task_change_notify" after insert or update on "task_change" for each row execute function "task_change_notify"()"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"drop trigger if exists "task_change_notify" on "task_change""#,
    r#"drop function if exists "task_change_notify"()"#,
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
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => execute_all(manager, POSTGRES_DOWN).await,
            _ => Ok(()),
        }
    }
}
