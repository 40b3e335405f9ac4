//! PostgreSQL: a per-owner task counter (`task_quota`), kept exact by triggers on `task` (so
//! any writer counts), which lets the tasks API enforce its per-user limit in one statement
//! that locks the owner's counter row: exact under concurrency, and O(1) instead of counting
//! the owner's tasks on every create. SQLite (one writer at a time) counts in the statement.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "task_quota" ("owner_id" text not null primary key references "user" ("id") on delete cascade, "task_count" bigint not null)"#,
    r#"insert into "task_quota" ("owner_id", "task_count") select "owner_id", count(*) from "task" group by "owner_id" on conflict ("owner_id") do update set "task_count" = excluded."task_count""#,
    r#"create or replace function "task_quota_count"() returns trigger language plpgsql as $$
begin
  if TG_OP = 'INSERT' then
    insert into "task_quota" ("owner_id", "task_count") values (NEW."owner_id", 1)
      on conflict ("owner_id") do update set "task_count" = "task_quota"."task_count" + 1;
  else
    update "task_quota" set "task_count" = "task_count" - 1 where "owner_id" = OLD."owner_id";
  end if;
  return null;
end
$$"#,
    r#"drop trigger if exists "task_quota_count" on "task""#,
    r#"create trigger "task_quota_count" after insert or delete on "task" for each row execute function "task_quota_count"()"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"drop trigger if exists "task_quota_count" on "task""#,
    r#"drop function if exists "task_quota_count"()"#,
    r#"drop table if exists "task_quota""#,
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
