//! Better Auth's core tables (`user`, `session`, `account`, `verification`), copied from the DDL
//! Better Auth 1.7.25 generates (`docs/better-auth-wire.md` §8.1 and §8.2), with `IF NOT EXISTS`
//! added so an existing Better Auth database is adopted unchanged.
//!
//! `session.token` is `unique`, which already gives it an index on both databases; the lookup
//! by token (the hot path) uses that index.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::execute_all;

const POSTGRES_UP: &[&str] = &[
    r#"create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)"#,
    r#"create table if not exists "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
    r#"create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null)"#,
    r#"create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)"#,
    r#"create index if not exists "session_userId_idx" on "session" ("userId")"#,
    r#"create index if not exists "account_userId_idx" on "account" ("userId")"#,
    r#"create index if not exists "verification_identifier_idx" on "verification" ("identifier")"#,
];

// SQLite has no column defaults: Better Auth always writes every column itself.
const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null)"#,
    r#"CREATE TABLE IF NOT EXISTS "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
    r#"CREATE TABLE IF NOT EXISTS "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null)"#,
    r#"CREATE TABLE IF NOT EXISTS "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null)"#,
    r#"CREATE INDEX IF NOT EXISTS "session_userId_idx" on "session" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "account_userId_idx" on "account" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "verification_identifier_idx" on "verification" ("identifier")"#,
];

const DOWN: &[&str] = &[
    r#"drop table if exists "verification""#,
    r#"drop table if exists "account""#,
    r#"drop table if exists "session""#,
    r#"drop table if exists "user""#,
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
