//! Better Auth's `jwks` table (the `jwt` plugin's signing keys; `docs/better-auth-plugins.md`
//! §JWT), copied from the DDL Better Auth 1.7.25 generates for the plugin, with `IF NOT EXISTS`
//! so a database where Better Auth already created it is adopted unchanged. `privateKey` holds
//! the private JWK encrypted under `AUTH_SECRET`; `expiresAt` is set when keys rotate.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "jwks" ("id" text not null primary key, "publicKey" text not null, "privateKey" text not null, "createdAt" timestamptz not null, "expiresAt" timestamptz, "alg" text, "crv" text)"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "jwks" ("id" text not null primary key, "publicKey" text not null, "privateKey" text not null, "createdAt" date not null, "expiresAt" date, "alg" text, "crv" text)"#,
];

const DOWN: &[&str] = &[r#"drop table if exists "jwks""#];

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
            _ => execute_all(manager, SQLITE_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(manager, DOWN).await
    }
}
