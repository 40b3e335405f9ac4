//! An index on the user id of password-reset tokens (`verification."value"` of the rows whose
//! `identifier` starts with `reset-password:`), so that a reset, a password change or an email
//! change can delete every outstanding reset token of the user without scanning the table.
//!
//! Partial, on both databases: other rows of Better Auth's `verification` table may hold long
//! values that have no business in an index.

use sea_orm_migration::prelude::*;

use crate::execute_all;

const UP: &[&str] = &[
    r#"create index if not exists "verification_reset_user_idx" on "verification" ("value") where "identifier" like 'reset-password:%'"#,
];

const DOWN: &[&str] = &[r#"drop index if exists "verification_reset_user_idx""#];

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
