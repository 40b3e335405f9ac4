//! The `session` table.

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::{SESSION_COLUMNS, USER_COLUMNS, execute, session_from, statement, user_from};
use crate::{
    auth::{
        model::{Session, SessionId, User, UserId},
        token::StoredToken,
    },
    db::auth_time,
};

/// The session with this stored token and its user, in one query (the hot path).
pub(crate) async fn find_by_token(
    db: &impl ConnectionTrait,
    token: &StoredToken,
) -> Result<Option<(Session, User)>, DbErr> {
    let sql = format!(
        r#"SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = $1"#
    );
    let row = db.query_one_raw(statement(db, &sql, vec![token.as_str().into()])).await?;
    row.map(|row| Ok((session_from(&row)?, user_from(&row)?))).transpose()
}

/// The user's unexpired sessions, oldest first.
pub(crate) async fn list_live(
    db: &impl ConnectionTrait,
    user: &UserId,
    now: OffsetDateTime,
) -> Result<Vec<Session>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        r#"SELECT {SESSION_COLUMNS} FROM "session" s WHERE s."userId" = $1 AND s."expiresAt" > $2 ORDER BY s."createdAt", s."id""#
    );
    let rows = db.query_all_raw(statement(db, &sql, vec![user.as_str().into(), auth_time(backend, now)])).await?;
    rows.iter().map(session_from).collect()
}

/// Inserts a session row.
pub(crate) async fn insert(db: &impl ConnectionTrait, session: &Session) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        vec![
            session.id.as_str().into(),
            auth_time(backend, session.expires_at),
            session.token.as_str().into(),
            auth_time(backend, session.created_at),
            auth_time(backend, session.updated_at),
            session.ip_address.clone().into(),
            session.user_agent.clone().into(),
            session.user_id.as_str().into(),
        ],
    ).await?;
    Ok(())
}

/// Extends a session (sliding refresh). Returns whether the row still existed.
pub(crate) async fn refresh(
    db: &impl ConnectionTrait,
    id: &SessionId,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let changed = execute(
        db,
        r#"UPDATE "session" SET "expiresAt" = $1, "updatedAt" = $2 WHERE "id" = $3"#,
        vec![auth_time(backend, expires_at), auth_time(backend, now), id.as_str().into()],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes one session by id.
pub(crate) async fn delete(db: &impl ConnectionTrait, id: &SessionId) -> Result<(), DbErr> {
    execute(db, r#"DELETE FROM "session" WHERE "id" = $1"#, vec![id.as_str().into()]).await?;
    Ok(())
}

/// Deletes the session with this stored token, if any; returns its user.
pub(crate) async fn delete_by_token(db: &impl ConnectionTrait, token: &StoredToken) -> Result<Option<UserId>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"DELETE FROM "session" WHERE "token" = $1 RETURNING "userId""#,
            vec![token.as_str().into()],
        ))
        .await?;
    row.map(|row| row.try_get::<String>("", "userId").map(UserId::new)).transpose()
}

/// Deletes one of the user's sessions, named by its id or by its stored token. Returns the
/// deleted session's id, if any.
pub(crate) async fn delete_one_of_user(
    db: &impl ConnectionTrait,
    user: &UserId,
    id: &SessionId,
    token: &StoredToken,
) -> Result<Option<SessionId>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"DELETE FROM "session" WHERE "userId" = $1 AND ("id" = $2 OR "token" = $3) RETURNING "id""#,
            vec![user.as_str().into(), id.as_str().into(), token.as_str().into()],
        ))
        .await?;
    row.map(|row| row.try_get::<String>("", "id").map(SessionId::new)).transpose()
}

/// Deletes all of a user's sessions except `keep` (if given). Returns how many.
pub(crate) async fn delete_all_of_user(
    db: &impl ConnectionTrait,
    user: &UserId,
    keep: Option<&SessionId>,
) -> Result<u64, DbErr> {
    execute(
        db,
        r#"DELETE FROM "session" WHERE "userId" = $1 AND "id" <> $2"#,
        vec![user.as_str().into(), keep.map_or("", SessionId::as_str).into()],
    )
    .await
}

/// Deletes every expired session (periodic clean-up). Returns how many.
pub(crate) async fn delete_expired(db: &impl ConnectionTrait, now: OffsetDateTime) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    execute(db, r#"DELETE FROM "session" WHERE "expiresAt" < $1"#, vec![auth_time(backend, now)]).await
}
