//! SQL for Better Auth's tables and the audit trail, one module per table. Every function takes any connection or
//! transaction, so a multi-row change composes into one transaction in the caller.
//!
//! Only `auth::store` calls these: it is what keeps the session cache coherent with the rows,
//! so nothing else may write them.
//!
//! Timestamps are written through `db::auth_time` (Better Auth's text format on SQLite) and
//! read back with `db::read_time`, which accepts both native timestamps and that text.

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

use crate::{
    auth::{
        model::{Session, SessionId, User, UserId},
        token::StoredToken,
    },
    db::read_time,
};

pub(crate) mod accounts;
pub(crate) mod audit_events;
pub(crate) mod jwks;
pub(crate) mod rate_limits;
pub(crate) mod sessions;
pub(crate) mod two_factors;
pub(crate) mod users;
pub(crate) mod verifications;

const USER_COLUMNS: &str = r#"u."id" AS u_id, u."name" AS u_name, u."email" AS u_email, u."emailVerified" AS u_email_verified, u."image" AS u_image, u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at, u."twoFactorEnabled" AS u_two_factor_enabled"#;
const SESSION_COLUMNS: &str = r#"s."id" AS s_id, s."token" AS s_token, s."userId" AS s_user_id, s."expiresAt" AS s_expires_at, s."createdAt" AS s_created_at, s."updatedAt" AS s_updated_at, s."ipAddress" AS s_ip_address, s."userAgent" AS s_user_agent"#;

fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// Runs one statement; returns how many rows it changed.
async fn execute(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    Ok(db.execute_raw(statement(db, sql, values)).await?.rows_affected())
}

fn user_from(row: &QueryResult) -> Result<User, DbErr> {
    Ok(User {
        id: UserId::new(row.try_get("", "u_id")?),
        name: row.try_get("", "u_name")?,
        email: row.try_get("", "u_email")?,
        email_verified: row.try_get("", "u_email_verified")?,
        image: row.try_get("", "u_image")?,
        created_at: read_time(row, "u_created_at")?,
        updated_at: read_time(row, "u_updated_at")?,
        two_factor_enabled: row.try_get::<Option<bool>>("", "u_two_factor_enabled")?.unwrap_or(false),
    })
}

fn session_from(row: &QueryResult) -> Result<Session, DbErr> {
    Ok(Session {
        id: SessionId::new(row.try_get("", "s_id")?),
        token: StoredToken::from_stored(row.try_get("", "s_token")?),
        user_id: UserId::new(row.try_get("", "s_user_id")?),
        expires_at: read_time(row, "s_expires_at")?,
        created_at: read_time(row, "s_created_at")?,
        updated_at: read_time(row, "s_updated_at")?,
        ip_address: row.try_get("", "s_ip_address")?,
        user_agent: row.try_get("", "s_user_agent")?,
    })
}
