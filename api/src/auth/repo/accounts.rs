//! The `account` table: only the email/password (`credential`) account, whose `accountId` is
//! the user's id (`docs/better-auth-wire.md` §8.3).

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::{execute, statement};
use crate::{
    auth::{model::UserId, token::new_id},
    db::{auth_time, read_time},
};

/// Inserts the credential account of a user.
pub(crate) async fn insert_credential(
    db: &impl ConnectionTrait,
    user: &UserId,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
           VALUES ($1, $2, 'credential', $2, $3, $4, $4)"#,
        vec![new_id().into(), user.as_str().into(), password_hash.into(), auth_time(backend, now)],
    )
    .await?;
    Ok(())
}

/// The password hash of a user's credential account: `None` when there is no such account,
/// `Some(None)` when it has no password.
pub(crate) async fn credential_password(
    db: &impl ConnectionTrait,
    user: &UserId,
) -> Result<Option<Option<String>>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT "password" FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1 LIMIT 1"#,
            vec![user.as_str().into()],
        ))
        .await?;
    row.map(|row| row.try_get::<Option<String>>("", "password")).transpose()
}

/// When the password of a user's credential account was last set (`updatedAt`).
pub(crate) async fn password_set_at(db: &impl ConnectionTrait, user: &UserId) -> Result<Option<OffsetDateTime>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT "updatedAt" FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1 LIMIT 1"#,
            vec![user.as_str().into()],
        ))
        .await?;
    row.map(|row| read_time(&row, "updatedAt")).transpose()
}

/// Replaces the password of a user's credential account. Returns whether one was updated.
pub(crate) async fn update_password(
    db: &impl ConnectionTrait,
    user: &UserId,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let changed = execute(
        db,
        r#"UPDATE "account" SET "password" = $1, "updatedAt" = $2 WHERE "userId" = $3 AND "providerId" = 'credential' AND "accountId" = $3"#,
        vec![password_hash.into(), auth_time(backend, now), user.as_str().into()],
    )
    .await?;
    Ok(changed > 0)
}
