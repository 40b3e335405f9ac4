//! The `verification` table, which holds password-reset tokens and the two-factor plugin's
//! short-lived values (pending sign-ins and their attempt counters, trusted devices, emailed
//! codes, the last TOTP step used): `identifier` → `value` until `expiresAt`.
//!
//! Better Auth stores a reset token raw, as `identifier = "reset-password:<token>"`; this
//! service stores only `"reset-password:<sha256 hex>"`, so a database leak does not allow
//! taking over accounts. `value` is the user's id.

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::{execute, statement};
use crate::{
    auth::{
        model::UserId,
        token::{ResetToken, new_id, sha256_hex},
    },
    db::{auth_time, read_time},
};

fn reset_identifier(token: &ResetToken) -> String {
    format!("reset-password:{}", sha256_hex(token.expose()))
}

/// Stores a reset token for `user`, valid until `expires_at`.
pub(crate) async fn insert_reset_token(
    db: &impl ConnectionTrait,
    token: &ResetToken,
    user: &UserId,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), DbErr> {
    insert(db, &reset_identifier(token), user.as_str(), now, expires_at).await
}

/// The user a live reset token belongs to, without consuming it.
pub(crate) async fn peek_reset_token(
    db: &impl ConnectionTrait,
    token: &ResetToken,
    now: OffsetDateTime,
) -> Result<Option<UserId>, DbErr> {
    live_reset_user(db, r#"SELECT "value", "expiresAt" FROM "verification" WHERE "identifier" = $1"#, token, now).await
}

/// Consumes a reset token: deletes its row and returns the user it belonged to if it was still
/// valid. Of two concurrent uses, only one gets the user.
pub(crate) async fn consume_reset_token(
    db: &impl ConnectionTrait,
    token: &ResetToken,
    now: OffsetDateTime,
) -> Result<Option<UserId>, DbErr> {
    live_reset_user(
        db,
        r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt""#,
        token,
        now,
    )
    .await
}

/// Runs `sql` (which yields the token's `value` and `expiresAt`) and returns the user id when
/// the token exists and has not expired.
async fn live_reset_user(
    db: &impl ConnectionTrait,
    sql: &str,
    token: &ResetToken,
    now: OffsetDateTime,
) -> Result<Option<UserId>, DbErr> {
    match db.query_one_raw(statement(db, sql, vec![reset_identifier(token).into()])).await? {
        Some(row) if read_time(&row, "expiresAt")? > now => Ok(Some(UserId::new(row.try_get("", "value")?))),
        _ => Ok(None),
    }
}

/// Deletes every reset token of `user`; returns how many. The condition is the one of the
/// partial index `verification_reset_user_idx`, which serves it.
pub(crate) async fn delete_reset_tokens_of(db: &impl ConnectionTrait, user: &UserId) -> Result<u64, DbErr> {
    execute(
        db,
        r#"DELETE FROM "verification" WHERE "identifier" LIKE 'reset-password:%' AND "value" = $1"#,
        vec![user.as_str().into()],
    )
    .await
}

/// Stores `value` under `identifier` until `expires_at`.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    identifier: &str,
    value: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
           VALUES ($1, $2, $3, $4, $5, $5)"#,
        vec![new_id().into(), identifier.into(), value.into(), auth_time(backend, expires_at), auth_time(backend, now)],
    )
    .await?;
    Ok(())
}

/// The value stored under `identifier`, if it has not expired (the newest, should there be several).
pub(crate) async fn find_live(
    db: &impl ConnectionTrait,
    identifier: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT "value" FROM "verification" WHERE "identifier" = $1 AND "expiresAt" > $2
               ORDER BY "createdAt" DESC LIMIT 1"#,
            vec![identifier.into(), auth_time(backend, now)],
        ))
        .await?;
    row.map(|row| row.try_get("", "value")).transpose()
}

/// Deletes every value stored under `identifier` and returns the newest one with its expiry if
/// it had not expired: of two concurrent consumers, only one gets it.
pub(crate) async fn consume(
    db: &impl ConnectionTrait,
    identifier: &str,
    now: OffsetDateTime,
) -> Result<Option<(String, OffsetDateTime)>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db,
            r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt", "createdAt""#,
            vec![identifier.into()],
        ))
        .await?;
    let mut newest: Option<(OffsetDateTime, String, OffsetDateTime)> = None;
    for row in &rows {
        let created = read_time(row, "createdAt")?;
        let expires = read_time(row, "expiresAt")?;
        if expires > now && newest.as_ref().is_none_or(|(at, _, _)| created >= *at) {
            newest = Some((created, row.try_get("", "value")?, expires));
        }
    }
    Ok(newest.map(|(_, value, expires)| (value, expires)))
}

/// Adds one to the counter stored under `identifier` if it is live; returns the new count.
pub(crate) async fn increment(
    db: &impl ConnectionTrait,
    identifier: &str,
    now: OffsetDateTime,
) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            db,
            r#"UPDATE "verification" SET "value" = CAST(CAST("value" AS BIGINT) + 1 AS TEXT)
               WHERE "identifier" = $1 AND "expiresAt" > $2 RETURNING "value""#,
            vec![identifier.into(), auth_time(backend, now)],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let value: String = row.try_get("", "value")?;
    Ok(value.parse().ok())
}

/// Deletes every value stored under `identifier`.
pub(crate) async fn delete(db: &impl ConnectionTrait, identifier: &str) -> Result<(), DbErr> {
    execute(db, r#"DELETE FROM "verification" WHERE "identifier" = $1"#, vec![identifier.into()]).await?;
    Ok(())
}

/// Deletes expired verification rows (periodic clean-up).
pub(crate) async fn delete_expired(db: &impl ConnectionTrait, now: OffsetDateTime) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    execute(db, r#"DELETE FROM "verification" WHERE "expiresAt" < $1"#, vec![auth_time(backend, now)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_tokens_are_stored_hashed() {
        let token = ResetToken::generate();
        let identifier = reset_identifier(&token);
        assert!(!identifier.contains(token.expose()));
        assert_eq!(identifier.len(), "reset-password:".len() + 64);
    }
}
