//! The `auditEvent` table: insert one event, a user's events newest first (keyset on the
//! growing id), and the retention delete.

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::{execute, statement};
use crate::{
    auth::model::{AuditEvent, AuditRecord, UserId},
    db::{read_time, task_time},
};

/// Inserts one event at `now`.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    event: &AuditEvent<'_>,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    execute(
        db,
        r#"INSERT INTO "auditEvent" ("userId", "type", "reason", "ipAddress", "userAgent", "createdAt")
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        vec![
            event.user.map(UserId::as_str).into(),
            event.kind.as_str().into(),
            event.reason.into(),
            event.client.ip_address().into(),
            event.client.user_agent().into(),
            task_time(backend, now),
        ],
    )
    .await?;
    Ok(())
}

/// The user's events with an id below `before` (all when `None`), newest first, at most `limit`.
pub(crate) async fn page(
    db: &impl ConnectionTrait,
    user: &UserId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditRecord>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db,
            r#"SELECT "id", "type", "reason", "ipAddress", "userAgent", "createdAt" FROM "auditEvent"
               WHERE "userId" = $1 AND "id" < $2 ORDER BY "id" DESC LIMIT $3"#,
            vec![user.as_str().into(), before.unwrap_or(i64::MAX).into(), i64::from(limit).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                id: row.try_get("", "id")?,
                kind: row.try_get("", "type")?,
                reason: row.try_get("", "reason")?,
                ip_address: row.try_get("", "ipAddress")?,
                user_agent: row.try_get("", "userAgent")?,
                created_at: read_time(row, "createdAt")?,
            })
        })
        .collect()
}

/// Deletes every event recorded before `cutoff`; returns how many.
pub(crate) async fn delete_before(db: &impl ConnectionTrait, cutoff: OffsetDateTime) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    execute(db, r#"DELETE FROM "auditEvent" WHERE "createdAt" < $1"#, vec![task_time(backend, cutoff)]).await
}
