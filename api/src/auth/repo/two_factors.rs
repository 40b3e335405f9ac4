//! The `twoFactor` table of Better Auth's two-factor plugin (`docs/better-auth-plugins.md`
//! §Two-factor): one row per enrolled user with the encrypted TOTP secret and backup codes,
//! whether the enrolment is confirmed (`verified`), and the per-user failure budget
//! (`failedVerificationCount`, `lockedUntil`). `NULL` columns (rows written before the 1.7
//! columns existed) read as Better Auth reads them: confirmed, no failures, not locked.

use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use time::OffsetDateTime;

use super::{execute, statement};
use crate::{
    auth::{model::TwoFactorRecord, model::UserId, token::new_id},
    db::{auth_time, read_time},
};

const COLUMNS: &str =
    r#""id", "secret", "backupCodes", "verified", "lockedUntil" IS NOT NULL AS "isLocked", "lockedUntil""#;

fn record_from(row: &QueryResult) -> Result<TwoFactorRecord, DbErr> {
    let locked: bool = row.try_get("", "isLocked")?;
    Ok(TwoFactorRecord {
        id: row.try_get("", "id")?,
        secret: row.try_get("", "secret")?,
        backup_codes: row.try_get("", "backupCodes")?,
        verified: row.try_get::<Option<bool>>("", "verified")?.unwrap_or(true),
        locked_until: if locked { Some(read_time(row, "lockedUntil")?) } else { None },
    })
}

/// The user's enrolment, if any.
pub(crate) async fn find(db: &impl ConnectionTrait, user: &UserId) -> Result<Option<TwoFactorRecord>, DbErr> {
    let sql = format!(r#"SELECT {COLUMNS} FROM "twoFactor" WHERE "userId" = $1"#);
    db.query_one_raw(statement(db, &sql, vec![user.as_str().into()])).await?.as_ref().map(record_from).transpose()
}

/// The user's enrolment, write-locked until the end of the transaction (a no-op update: the
/// row lock on PostgreSQL, the database write lock on SQLite), so verifications of one user
/// run one at a time.
pub(crate) async fn lock(db: &impl ConnectionTrait, user: &UserId) -> Result<Option<TwoFactorRecord>, DbErr> {
    let sql = format!(r#"UPDATE "twoFactor" SET "id" = "id" WHERE "userId" = $1 RETURNING {COLUMNS}"#);
    db.query_one_raw(statement(db, &sql, vec![user.as_str().into()])).await?.as_ref().map(record_from).transpose()
}

/// Stores a new, unconfirmed enrolment: replaces the secret and codes of the user's row, or
/// inserts one (call inside a transaction).
pub(crate) async fn put_unverified(
    db: &impl ConnectionTrait,
    user: &UserId,
    secret: &str,
    backup_codes: &str,
) -> Result<(), DbErr> {
    let updated = execute(
        db,
        r#"UPDATE "twoFactor" SET "secret" = $1, "backupCodes" = $2, "verified" = $3 WHERE "userId" = $4"#,
        vec![secret.into(), backup_codes.into(), false.into(), user.as_str().into()],
    )
    .await?;
    if updated == 0 {
        execute(
            db,
            r#"INSERT INTO "twoFactor" ("id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount")
               VALUES ($1, $2, $3, $4, $5, $6)"#,
            vec![new_id().into(), secret.into(), backup_codes.into(), user.as_str().into(), false.into(), 0i32.into()],
        )
        .await?;
    }
    Ok(())
}

/// Marks an enrolment confirmed.
pub(crate) async fn set_verified(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    execute(db, r#"UPDATE "twoFactor" SET "verified" = $1 WHERE "id" = $2"#, vec![true.into(), id.into()]).await?;
    Ok(())
}

/// Replaces the backup codes.
pub(crate) async fn set_backup_codes(db: &impl ConnectionTrait, id: &str, codes: &str) -> Result<(), DbErr> {
    execute(db, r#"UPDATE "twoFactor" SET "backupCodes" = $1 WHERE "id" = $2"#, vec![codes.into(), id.into()]).await?;
    Ok(())
}

/// Replaces the backup codes only if they are still `expected`; `false` when another request
/// changed them first (a code cannot be used twice).
pub(crate) async fn swap_backup_codes(
    db: &impl ConnectionTrait,
    id: &str,
    expected: &str,
    codes: &str,
) -> Result<bool, DbErr> {
    let changed = execute(
        db,
        r#"UPDATE "twoFactor" SET "backupCodes" = $1 WHERE "id" = $2 AND "backupCodes" = $3"#,
        vec![codes.into(), id.into(), expected.into()],
    )
    .await?;
    Ok(changed > 0)
}

/// Counts one failed verification; returns the new count.
pub(crate) async fn record_failure(db: &impl ConnectionTrait, id: &str) -> Result<i32, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"UPDATE "twoFactor" SET "failedVerificationCount" = COALESCE("failedVerificationCount", 0) + 1
               WHERE "id" = $1 RETURNING "failedVerificationCount""#,
            vec![id.into()],
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get("", "failedVerificationCount"))
}

/// Locks verification until `until`.
pub(crate) async fn lock_until(db: &impl ConnectionTrait, id: &str, until: OffsetDateTime) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"UPDATE "twoFactor" SET "lockedUntil" = $1 WHERE "id" = $2"#,
        vec![auth_time(backend, until), id.into()],
    )
    .await?;
    Ok(())
}

/// Clears the failure count and any lock (after a success).
pub(crate) async fn reset_failures(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    execute(
        db,
        r#"UPDATE "twoFactor" SET "failedVerificationCount" = $1, "lockedUntil" = NULL WHERE "id" = $2"#,
        vec![0i32.into(), id.into()],
    )
    .await?;
    Ok(())
}

/// Deletes the user's enrolment.
pub(crate) async fn delete_of_user(db: &impl ConnectionTrait, user: &UserId) -> Result<(), DbErr> {
    execute(db, r#"DELETE FROM "twoFactor" WHERE "userId" = $1"#, vec![user.as_str().into()]).await?;
    Ok(())
}
