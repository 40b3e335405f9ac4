//! The `rateLimit` table: Better Auth's rate-limit counts (`key` = `<client>|<operation>`,
//! `count`, `lastRequest` in epoch milliseconds), shared by every instance on the database.

use sea_orm::{ConnectionTrait, DbErr};

use super::{execute, statement};
use crate::auth::token::new_id;

/// Counts one request for `key` at `now_ms` under "at most `max` per `window_ms`" with Better
/// Auth's algorithm (`docs/better-auth-wire.md` §7.3): a key whose last counted request is a
/// window old or more starts again at 1; one at `max` is refused and not counted; otherwise it
/// counts. One statement, so concurrent requests on any number of instances are counted
/// exactly. `Ok(None)` when counted, `Ok(Some(last_request_ms))` when refused.
pub(crate) async fn hit(
    db: &impl ConnectionTrait,
    key: &str,
    now_ms: i64,
    window_ms: i64,
    max: u32,
) -> Result<Option<i64>, DbErr> {
    let counted = db
        .query_one_raw(statement(
            db,
            r#"INSERT INTO "rateLimit" ("id", "key", "count", "lastRequest") VALUES ($1, $2, 1, $3)
               ON CONFLICT ("key") DO UPDATE SET
                 "count" = CASE WHEN $3 - "rateLimit"."lastRequest" >= $4 THEN 1 ELSE "rateLimit"."count" + 1 END,
                 "lastRequest" = $3
               WHERE $3 - "rateLimit"."lastRequest" >= $4 OR "rateLimit"."count" < $5
               RETURNING "count""#,
            vec![new_id().into(), key.into(), now_ms.into(), window_ms.into(), i64::from(max).into()],
        ))
        .await?;
    if counted.is_some() {
        return Ok(None);
    }
    let row = db
        .query_one_raw(statement(db, r#"SELECT "lastRequest" FROM "rateLimit" WHERE "key" = $1"#, vec![key.into()]))
        .await?;
    // Gone in between (swept): the next request starts it again; report a full window.
    Ok(Some(row.map(|row| row.try_get::<i64>("", "lastRequest")).transpose()?.unwrap_or(now_ms)))
}

/// Deletes the keys whose last counted request is older than `before_ms`; returns how many.
pub(crate) async fn delete_older_than(db: &impl ConnectionTrait, before_ms: i64) -> Result<u64, DbErr> {
    execute(db, r#"DELETE FROM "rateLimit" WHERE "lastRequest" < $1"#, vec![before_ms.into()]).await
}
