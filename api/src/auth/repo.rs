//! SQL for Better Auth's tables. Every function takes any connection or transaction, so a
//! multi-row change composes into one transaction in the caller.
//!
//! Timestamps are written through `db::auth_time` (Better Auth's text format on SQLite) and
//! read back with `db::read_time`, which accepts both native timestamps and that text.

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};
use time::OffsetDateTime;

use crate::db::{auth_time, read_time};

/// A row of `user`.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// `id`
    pub id: String,
    /// `name`
    pub name: String,
    /// `email` (lower-case)
    pub email: String,
    /// `emailVerified`
    pub email_verified: bool,
    /// `image`
    pub image: Option<String>,
    /// `createdAt`
    pub created_at: OffsetDateTime,
    /// `updatedAt`
    pub updated_at: OffsetDateTime,
}

/// A row of `session`. `token` is the stored form (a hash unless storage is `plain`).
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// `id`
    pub id: String,
    /// `token` as stored
    pub token: String,
    /// `userId`
    pub user_id: String,
    /// `expiresAt`
    pub expires_at: OffsetDateTime,
    /// `createdAt`
    pub created_at: OffsetDateTime,
    /// `updatedAt`
    pub updated_at: OffsetDateTime,
    /// `ipAddress`
    pub ip_address: Option<String>,
    /// `userAgent`
    pub user_agent: Option<String>,
}

const USER_COLUMNS: &str = r#"u."id" AS u_id, u."name" AS u_name, u."email" AS u_email, u."emailVerified" AS u_email_verified, u."image" AS u_image, u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at"#;
const SESSION_COLUMNS: &str = r#"s."id" AS s_id, s."token" AS s_token, s."userId" AS s_user_id, s."expiresAt" AS s_expires_at, s."createdAt" AS s_created_at, s."updatedAt" AS s_updated_at, s."ipAddress" AS s_ip_address, s."userAgent" AS s_user_agent"#;

fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

fn user_from(row: &QueryResult) -> Result<UserRow, DbErr> {
    Ok(UserRow {
        id: row.try_get("", "u_id")?,
        name: row.try_get("", "u_name")?,
        email: row.try_get("", "u_email")?,
        email_verified: row.try_get("", "u_email_verified")?,
        image: row.try_get("", "u_image")?,
        created_at: read_time(row, "u_created_at")?,
        updated_at: read_time(row, "u_updated_at")?,
    })
}

fn session_from(row: &QueryResult) -> Result<SessionRow, DbErr> {
    Ok(SessionRow {
        id: row.try_get("", "s_id")?,
        token: row.try_get("", "s_token")?,
        user_id: row.try_get("", "s_user_id")?,
        expires_at: read_time(row, "s_expires_at")?,
        created_at: read_time(row, "s_created_at")?,
        updated_at: read_time(row, "s_updated_at")?,
        ip_address: row.try_get("", "s_ip_address")?,
        user_agent: row.try_get("", "s_user_agent")?,
    })
}

/// A user with the password of their email/password account, if they have one: the account
/// with `providerId = 'credential'` and `accountId = user.id` (§8.3).
pub async fn find_user_with_password(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<(UserRow, Option<String>)>, DbErr> {
    let sql = format!(
        r#"SELECT {USER_COLUMNS}, a."password" AS a_password FROM "user" u
           LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'credential' AND a."accountId" = u."id"
           WHERE u."email" = $1 LIMIT 1"#
    );
    let row = db.query_one_raw(statement(db, &sql, vec![email.into()])).await?;
    row.map(|row| Ok((user_from(&row)?, row.try_get::<Option<String>>("", "a_password")?))).transpose()
}

/// Whether an account with this email exists.
pub async fn email_exists(db: &impl ConnectionTrait, email: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(statement(db, r#"SELECT 1 AS one FROM "user" WHERE "email" = $1"#, vec![email.into()]))
        .await?;
    Ok(row.is_some())
}

/// Inserts a user row.
pub async fn insert_user(db: &impl ConnectionTrait, user: &UserRow) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        db,
        r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        vec![
            user.id.clone().into(),
            user.name.clone().into(),
            user.email.clone().into(),
            user.email_verified.into(),
            user.image.clone().into(),
            auth_time(backend, user.created_at),
            auth_time(backend, user.updated_at),
        ],
    ))
    .await?;
    Ok(())
}

/// Inserts the email/password (`credential`) account of a user.
pub async fn insert_credential_account(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        db,
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
           VALUES ($1, $2, 'credential', $2, $3, $4, $4)"#,
        vec![id.into(), user_id.into(), password_hash.into(), auth_time(backend, now)],
    ))
    .await?;
    Ok(())
}

/// Inserts a session row.
pub async fn insert_session(db: &impl ConnectionTrait, session: &SessionRow) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        db,
        r#"INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        vec![
            session.id.clone().into(),
            auth_time(backend, session.expires_at),
            session.token.clone().into(),
            auth_time(backend, session.created_at),
            auth_time(backend, session.updated_at),
            session.ip_address.clone().into(),
            session.user_agent.clone().into(),
            session.user_id.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The session with this stored token and its user, in one query (the hot path).
pub async fn find_session(
    db: &impl ConnectionTrait,
    stored_token: &str,
) -> Result<Option<(SessionRow, UserRow)>, DbErr> {
    let sql = format!(
        r#"SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = $1"#
    );
    let row = db.query_one_raw(statement(db, &sql, vec![stored_token.into()])).await?;
    row.map(|row| Ok((session_from(&row)?, user_from(&row)?))).transpose()
}

/// Extends a session (sliding refresh). Returns whether the row still existed.
pub async fn refresh_session(
    db: &impl ConnectionTrait,
    session_id: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(
            db,
            r#"UPDATE "session" SET "expiresAt" = $1, "updatedAt" = $2 WHERE "id" = $3"#,
            vec![auth_time(backend, expires_at), auth_time(backend, now), session_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes one session by id.
pub async fn delete_session(db: &impl ConnectionTrait, session_id: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(db, r#"DELETE FROM "session" WHERE "id" = $1"#, vec![session_id.into()])).await?;
    Ok(())
}

/// Deletes every expired session (periodic clean-up). Returns how many.
pub async fn delete_expired_sessions(db: &impl ConnectionTrait, now: OffsetDateTime) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(db, r#"DELETE FROM "session" WHERE "expiresAt" < $1"#, vec![auth_time(backend, now)]))
        .await?;
    Ok(result.rows_affected())
}

/// Deletes the session with this stored token, if any.
pub async fn delete_session_by_token(db: &impl ConnectionTrait, stored_token: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(db, r#"DELETE FROM "session" WHERE "token" = $1"#, vec![stored_token.into()])).await?;
    Ok(())
}

/// A user by id.
pub async fn find_user(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<UserRow>, DbErr> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" u WHERE u."id" = $1"#);
    db.query_one_raw(statement(db, &sql, vec![user_id.into()])).await?.as_ref().map(user_from).transpose()
}

/// A user by (lower-cased) email.
pub async fn find_user_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<UserRow>, DbErr> {
    let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" u WHERE u."email" = $1"#);
    db.query_one_raw(statement(db, &sql, vec![email.into()])).await?.as_ref().map(user_from).transpose()
}

/// The password hash of a user's credential account: `None` when there is no such account,
/// `Some(None)` when it has no password.
pub async fn credential_password(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<Option<String>>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT "password" FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1 LIMIT 1"#,
            vec![user_id.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<Option<String>>("", "password")).transpose()
}

/// Replaces the password of a user's credential account. Returns whether one was updated.
pub async fn update_password(
    db: &impl ConnectionTrait,
    user_id: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(
            db,
            r#"UPDATE "account" SET "password" = $1, "updatedAt" = $2 WHERE "userId" = $3 AND "providerId" = 'credential' AND "accountId" = $3"#,
            vec![password_hash.into(), auth_time(backend, now), user_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The user's unexpired sessions, oldest first.
pub async fn list_sessions(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<SessionRow>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        r#"SELECT {SESSION_COLUMNS} FROM "session" s WHERE s."userId" = $1 AND s."expiresAt" > $2 ORDER BY s."createdAt", s."id""#
    );
    let rows = db.query_all_raw(statement(db, &sql, vec![user_id.into(), auth_time(backend, now)])).await?;
    rows.iter().map(session_from).collect()
}

/// Deletes one of the user's sessions, named by its id or by its stored token. Returns the
/// deleted session's id, if any.
pub async fn delete_user_session(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    stored_token: &str,
) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            r#"DELETE FROM "session" WHERE "userId" = $1 AND ("id" = $2 OR "token" = $3) RETURNING "id""#,
            vec![user_id.into(), id.into(), stored_token.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<String>("", "id")).transpose()
}

/// Deletes all of a user's sessions except `keep` (if given). Returns how many.
pub async fn delete_user_sessions(db: &impl ConnectionTrait, user_id: &str, keep: Option<&str>) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(statement(
            db,
            r#"DELETE FROM "session" WHERE "userId" = $1 AND "id" <> $2"#,
            vec![user_id.into(), keep.unwrap_or_default().into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// Changes the name and/or image of a user (`None` leaves a field as is).
pub async fn update_profile(
    db: &impl ConnectionTrait,
    user_id: &str,
    name: Option<&str>,
    image: Option<Option<&str>>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
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
            user_id.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks a user's email verified.
pub async fn set_email_verified(db: &impl ConnectionTrait, user_id: &str, now: OffsetDateTime) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        db,
        r#"UPDATE "user" SET "emailVerified" = $1, "updatedAt" = $2 WHERE "id" = $3"#,
        vec![true.into(), auth_time(backend, now), user_id.into()],
    ))
    .await?;
    Ok(())
}

/// Changes a user's email address from `current` to `email`. Returns `false` when the address
/// is no longer `current` (a concurrent change won); a unique violation means `email` was taken.
pub async fn update_email(
    db: &impl ConnectionTrait,
    user_id: &str,
    current: &str,
    email: &str,
    now: OffsetDateTime,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(
            db,
            r#"UPDATE "user" SET "email" = $1, "updatedAt" = $2 WHERE "id" = $3 AND "email" = $4"#,
            vec![email.into(), auth_time(backend, now), user_id.into(), current.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a user with their tasks, sessions and accounts (call inside a transaction).
pub async fn delete_user(db: &impl ConnectionTrait, user_id: &str) -> Result<(), DbErr> {
    for sql in [
        r#"DELETE FROM "task" WHERE "owner_id" = $1"#,
        r#"DELETE FROM "session" WHERE "userId" = $1"#,
        r#"DELETE FROM "account" WHERE "userId" = $1"#,
        r#"DELETE FROM "user" WHERE "id" = $1"#,
    ] {
        db.execute_raw(statement(db, sql, vec![user_id.into()])).await?;
    }
    Ok(())
}
