//! Better Auth's `twoFactor` plugin schema (`docs/better-auth-plugins.md` §Two-factor, "Schema"):
//! `user.twoFactorEnabled` and the `twoFactor` table with the columns of 1.7 (`verified`,
//! `failedVerificationCount`, `lockedUntil`), copied from the DDL Better Auth 1.7.25 generates,
//! with `IF NOT EXISTS` so a database already migrated by a Node Better Auth with the plugin is
//! adopted unchanged.
//!
//! SQLite has no `ADD COLUMN IF NOT EXISTS`: the column is added only when `pragma_table_info`
//! does not list it. A `NULL` `twoFactorEnabled` (rows written without the plugin) reads as off.

use sea_orm::{DatabaseBackend, Statement};
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"alter table "user" add column if not exists "twoFactorEnabled" boolean"#,
    r#"create table if not exists "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" boolean, "failedVerificationCount" integer, "lockedUntil" timestamptz)"#,
    r#"create index if not exists "twoFactor_secret_idx" on "twoFactor" ("secret")"#,
    r#"create index if not exists "twoFactor_userId_idx" on "twoFactor" ("userId")"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" integer, "failedVerificationCount" integer, "lockedUntil" date)"#,
    r#"CREATE INDEX IF NOT EXISTS "twoFactor_secret_idx" on "twoFactor" ("secret")"#,
    r#"CREATE INDEX IF NOT EXISTS "twoFactor_userId_idx" on "twoFactor" ("userId")"#,
];

const SQLITE_ADD_COLUMN: &str = r#"ALTER TABLE "user" ADD COLUMN "twoFactorEnabled" integer"#;

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
            DatabaseBackend::Sqlite => {
                let db = manager.get_connection();
                let present = db
                    .query_one_raw(Statement::from_string(
                        DatabaseBackend::Sqlite,
                        r#"SELECT 1 AS one FROM pragma_table_info('user') WHERE "name" = 'twoFactorEnabled'"#,
                    ))
                    .await?
                    .is_some();
                if !present {
                    db.execute_unprepared(SQLITE_ADD_COLUMN).await?;
                }
                execute_all(manager, SQLITE_UP).await
            }
            other => Err(DbErr::Migration(format!("unsupported database backend: {other:?}"))),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(
            manager,
            &[r#"drop table if exists "twoFactor""#, r#"alter table "user" drop column "twoFactorEnabled""#],
        )
        .await
    }
}
