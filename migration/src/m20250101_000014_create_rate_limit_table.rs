//! Better Auth's rate-limit table (`rateLimit`, its `rateLimit.storage: "database"`), with
//! Better Auth's DDL on both backends (`docs/better-auth-wire.md` §8): the limiter's counts
//! when `RATE_LIMIT_STORAGE=database`, so that several instances (and a Node Better Auth on the
//! same database) count the same requests.

use sea_orm_migration::prelude::*;

use crate::execute_all;

const UP: &[&str] = &[
    r#"create table if not exists "rateLimit" ("id" text not null primary key, "key" text not null unique, "count" integer not null, "lastRequest" bigint not null)"#,
];

const DOWN: &[&str] = &[r#"drop table if exists "rateLimit""#];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(manager, DOWN).await
    }
}
