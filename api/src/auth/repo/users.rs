//! The `user` table (with the credential `account` joined where sign-in needs it).

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::{USER_COLUMNS, execute, statement, user_from};
use crate::{
    auth::model::{User, UserId},
    db::auth_time,
};

/// A user by id.
pub(crate) async fn find(db: &impl ConnectionTrait, id: &UserId) -> Result<Option<User>, DbErr> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" u WHERE u."id" = $1"#);
    db.query_one_raw(statement(db, &sql, vec![id.as_str().into()])).await?.as_ref().map(user_from).transpose()
}

/// A user by (lower-cased) email.
pub(crate) async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>, DbErr> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" u WHERE u."email" = $1"#);
    db.query_one_raw(statement(db, &sql, vec![email.into()])).await?.as_ref().map(user_from).transpose()
}

/// A user with the password of their email/password account, if they have one: the account
/// with `providerId = 'credential'` and `accountId = user.id` (`docs/better-auth-wire.md` §8.3).
pub(crate) async fn find_with_password(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<(User, Option<String>)>, DbErr> {
    let sql = format!(
        r#"SELECT {USER_COLUMNS}, a."password" AS a_password FROM "user" u
           LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'credential' AND a."accountId" = u."id"
           WHERE u."email" = $1 LIMIT 1"#
    );
    let row = db.query_one_raw(statement(db, &sql, vec![email.into()])).await?;
    row.map(|row| Ok((user_from(&row)?, row.try_get::<Option<String>>("", "a_password")?))).transpose()
}

/// Whether an account with this email exists.
pub(crate) async fn email_exists(db: &impl ConnectionTrait, email: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(statement(db, r#"SELECT 1 AS one FROM "user" WHERE "email" = $1"#, vec![email.into()]))
        .await?;
    Ok(row.is_some())
}

/// Inserts a user row (`twoFactorEnabled` written, as Better Auth writes its default `false`).
pub(crate) async fn insert(db: &impl ConnectionTrait, user: &User) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "twoFactorEnabled")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        vec![
            user.id.as_str().into(),
            user.name.clone().into(),
            user.email.clone().into(),
            user.email_verified.into(),
            user.image.clone().into(),
            auth_time(backend, user.created_at),
            auth_time(backend, user.updated_at),
            user.two_factor_enabled.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Changes the name and/or image of a user (`None` leaves a field as is).
pub(crate) async fn update_profile(
    db: &impl ConnectionTrait,
    id: &UserId,
    name: Option<&str>,
    image: Option<Option<&str>>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"UPDATE "user" SET "name" = CASE WHEN $1 THEN $2 ELSE "name" END,
                             "image" = CASE WHEN $3 THEN $4 ELSE "image" END,
                             "updatedAt" = $5
           WHERE "id" = $6"#,
        vec![
            name.is_some().into(),
            name.unwrap_or_default().into(),
            image.is_some().into(),
            image.flatten().map(str::to_owned).into(),
            auth_time(backend, now),
            id.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Marks a user's email verified.
pub(crate) async fn set_email_verified(
    db: &impl ConnectionTrait,
    id: &UserId,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"UPDATE "user" SET "emailVerified" = $1, "updatedAt" = $2 WHERE "id" = $3"#,
        vec![true.into(), auth_time(backend, now), id.as_str().into()],
    )
    .await?;
    Ok(())
}

/// Changes a user's email address from `current` to `email`. Returns `false` when the address
/// is no longer `current` (a concurrent change won); a unique violation means `email` was taken.
pub(crate) async fn update_email(
    db: &impl ConnectionTrait,
    id: &UserId,
    current: &str,
    email: &str,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let changed = execute(
        db,
        r#"UPDATE "user" SET "email" = $1, "updatedAt" = $2 WHERE "id" = $3 AND "email" = $4"#,
        vec![email.into(), auth_time(backend, now), id.as_str().into(), current.into()],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes a user with their tasks, sessions and accounts (call inside a transaction).
pub(crate) async fn delete(db: &impl ConnectionTrait, id: &UserId) -> Result<(), DbErr> {
    for sql in [
        r#"DELETE FROM "task" WHERE "owner_id" = $1"#,
        r#"DELETE FROM "session" WHERE "userId" = $1"#,
        r#"DELETE FROM "twoFactor" WHERE "userId" = $1"#,
        r#"DELETE FROM "account" WHERE "userId" = $1"#,
        r#"DELETE FROM "user" WHERE "id" = $1"#,
    ] {
        execute(db, sql, vec![id.as_str().into()]).await?;
    }
    Ok(())
}

/// Whether the user has two-factor sign-in on (`twoFactorEnabled`; `NULL` is off).
pub(crate) async fn two_factor_enabled(db: &impl ConnectionTrait, id: &UserId) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT "twoFactorEnabled" AS "enabled" FROM "user" WHERE "id" = $1"#,
            vec![id.as_str().into()],
        ))
        .await?;
    Ok(row.map(|row| row.try_get::<Option<bool>>("", "enabled")).transpose()?.flatten().unwrap_or(false))
}

/// Turns two-factor sign-in on or off for a user.
pub(crate) async fn set_two_factor_enabled(
    db: &impl ConnectionTrait,
    id: &UserId,
    on: bool,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"UPDATE "user" SET "twoFactorEnabled" = $1, "updatedAt" = $2 WHERE "id" = $3"#,
        vec![on.into(), auth_time(backend, now), id.as_str().into()],
    )
    .await?;
    Ok(())
}
