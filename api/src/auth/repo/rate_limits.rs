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

/// Requests counted elsewhere (in one instance's memory) for one key, to be added to its row.
pub(crate) struct Delta<'a> {
    /// The row's key.
    pub(crate) key: &'a str,
    /// Requests counted since the last flush.
    pub(crate) count: u32,
    /// The last of them, epoch milliseconds.
    pub(crate) last_ms: i64,
}

/// Adds each delta to its key's count with Better Auth's window rule (a row whose last counted
/// request is `window_ms` older than the delta's last starts again from the delta), in one
/// statement for all of them; returns each key's shared count and last request (epoch ms)
/// after the addition. Keys must be distinct.
pub(crate) async fn add(
    db: &impl ConnectionTrait,
    deltas: &[Delta<'_>],
    window_ms: i64,
) -> Result<Vec<(String, i64, i64)>, DbErr> {
    if deltas.is_empty() {
        return Ok(Vec::new());
    }
    let mut values: Vec<sea_orm::Value> = vec![window_ms.into()];
    let mut rows = Vec::with_capacity(deltas.len());
    for delta in deltas {
        let first = values.len() + 1;
        rows.push(format!("(${first}, ${}, ${}, ${})", first + 1, first + 2, first + 3));
        values.extend([new_id().into(), delta.key.into(), i64::from(delta.count).into(), delta.last_ms.into()]);
    }
    let sql = format!(
        r#"INSERT INTO "rateLimit" ("id", "key", "count", "lastRequest") VALUES {}
           ON CONFLICT ("key") DO UPDATE SET
             "count" = CASE WHEN excluded."lastRequest" - "rateLimit"."lastRequest" >= $1 THEN excluded."count"
                            ELSE "rateLimit"."count" + excluded."count" END,
             "lastRequest" = CASE WHEN excluded."lastRequest" > "rateLimit"."lastRequest" THEN excluded."lastRequest"
                                  ELSE "rateLimit"."lastRequest" END
           RETURNING "key", CAST("count" AS BIGINT) AS "count", "lastRequest""#,
        rows.join(", ")
    );
    db.query_all_raw(statement(db, &sql, values))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "key")?, row.try_get("", "count")?, row.try_get("", "lastRequest")?)))
        .collect()
}

/// Deletes the keys whose last counted request is older than `before_ms`; returns how many.
pub(crate) async fn delete_older_than(db: &impl ConnectionTrait, before_ms: i64) -> Result<u64, DbErr> {
    execute(db, r#"DELETE FROM "rateLimit" WHERE "lastRequest" < $1"#, vec![before_ms.into()]).await
}

/// Claims one attempt for `key` at `now_ms` unless it comes too early: a key whose last attempt
/// is `reset_ms` old or more starts again at 1; one with fewer than `free` attempts counts; one
/// with more waits `delay_ms(count)` after its last attempt, given by `delays` as
/// `(count, delay_ms)` pairs for the counts from `free` on (the last pair covers every higher
/// count). One statement, so concurrent attempts on any instance are each claimed or refused.
/// `Ok(None)` when claimed, `Ok(Some((count, last_attempt_ms)))` when too early.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    key: &str,
    now_ms: i64,
    reset_ms: i64,
    free: u32,
    delays: &[(u32, i64)],
) -> Result<Option<(i64, i64)>, DbErr> {
    // The delay for the row's count, as a CASE over the pairs (plain SQL on both backends).
    let mut values: Vec<sea_orm::Value> =
        vec![new_id().into(), key.into(), now_ms.into(), reset_ms.into(), i64::from(free).into()];
    let mut delay = String::from("CASE");
    for (count, delay_ms) in delays {
        values.push(i64::from(*count).into());
        values.push((*delay_ms).into());
        delay.push_str(&format!(r#" WHEN "rateLimit"."count" <= ${} THEN ${}"#, values.len() - 1, values.len()));
    }
    delay.push_str(&format!(" ELSE ${} END", values.len()));
    let sql = format!(
        r#"INSERT INTO "rateLimit" ("id", "key", "count", "lastRequest") VALUES ($1, $2, 1, $3)
           ON CONFLICT ("key") DO UPDATE SET
             "count" = CASE WHEN $3 - "rateLimit"."lastRequest" >= $4 THEN 1 ELSE "rateLimit"."count" + 1 END,
             "lastRequest" = $3
           WHERE $3 - "rateLimit"."lastRequest" >= $4 OR "rateLimit"."count" < $5
              OR $3 - "rateLimit"."lastRequest" >= {delay}
           RETURNING "count""#
    );
    if db.query_one_raw(statement(db, &sql, values)).await?.is_some() {
        return Ok(None);
    }
    let row = db
        .query_one_raw(statement(
            db,
            r#"SELECT CAST("count" AS BIGINT) AS "count", "lastRequest" FROM "rateLimit" WHERE "key" = $1"#,
            vec![key.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("", "count")?, row.try_get("", "lastRequest")?)),
        None => Some((i64::from(free), now_ms)),
    })
}

/// Moves a key's last attempt to `now_ms` (when a claimed attempt has finished, so a delay
/// runs from its answer).
pub(crate) async fn touch(db: &impl ConnectionTrait, key: &str, now_ms: i64) -> Result<(), DbErr> {
    execute(
        db,
        r#"UPDATE "rateLimit" SET "lastRequest" = $2 WHERE "key" = $1 AND "lastRequest" < $2"#,
        vec![key.into(), now_ms.into()],
    )
    .await
    .map(|_| ())
}

/// Deletes one key's count.
pub(crate) async fn delete(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    execute(db, r#"DELETE FROM "rateLimit" WHERE "key" = $1"#, vec![key.into()]).await.map(|_| ())
}
