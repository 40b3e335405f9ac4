//! PostgreSQL triggers that publish every change to `session` and `user` rows on the
//! `auth_cache` channel (`s:<token>` / `u:<user id>`; `i:<session id>` since migration
//! `m20250102_000002`), so each service instance can drop a
//! cached session the moment any client (this service or a Node Better Auth sharing the
//! database) ends or changes it. SQLite has a single writer process and needs none.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create or replace function "auth_cache_notify"() returns trigger language plpgsql as $$
begin
  if TG_TABLE_NAME = 'session' then
    perform pg_notify('auth_cache', 's:' || OLD."token");
  else
    perform pg_notify('auth_cache', 'u:' || OLD."id");
  end if;
  return null;
end
$$"#,
    r#"drop trigger if exists "session_auth_cache_notify" on "session""#,
    r#"create trigger "session_auth_cache_notify" after update or delete on "session" for each row execute function "auth_cache_notify"()"#,
    r#"drop trigger if exists "user_auth_cache_notify" on "user""#,
    r#"create trigger "user_auth_cache_notify" after update or delete on "user" for each row execute function "auth_cache_notify"()"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"drop trigger if exists "session_auth_cache_notify" on "session""#,
    r#"drop trigger if exists "user_auth_cache_notify" on "user""#,
    r#"drop function if exists "auth_cache_notify"()"#,
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
