//! SQL for the `task` table. Every statement filters by owner, so a query cannot reach another
//! user's row; each change is one statement (the If-Match condition and the per-user limit
//! included), so concurrent requests cannot interleave between a check and a write.
//!
//! The If-Match rule lives here, once: [`Sql::precondition`] puts it in the `WHERE` clause of
//! every conditional statement, the read of an empty PATCH included.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, Value};
use time::OffsetDateTime;

use crate::{
    auth::model::UserId,
    db::{read_time, task_time},
    tasks::model::{
        Change, FeedEntry, IdempotencyKey, ListFilter, NewTask, Precondition, Task, TaskId, TaskPatch, TaskReplacement,
    },
};

/// The columns every statement returns, in the order [`task_from`] reads them.
const COLUMNS: &str = r#""id", "title", "description", "is_completed", "owner_id", "created_at", "updated_at""#;

/// Outcome of a conditional statement.
#[derive(Debug)]
pub(crate) enum Written {
    /// The new version.
    Done(Task),
    /// The task exists but `If-Match` did not match.
    Stale,
    /// No such task for this owner.
    Missing,
}

/// A task from a row that is [`COLUMNS`].
fn task_from(row: &QueryResult) -> Result<Task, DbErr> {
    task_at(row, 0)
}

/// A task from [`COLUMNS`] starting at column `first` of a row, read by position (a list page
/// reads 7 columns of up to 101 rows: by name, each read was a hash lookup and a formatted column
/// name).
fn task_at(row: &QueryResult, first: usize) -> Result<Task, DbErr> {
    let id: i64 = row.try_get_by_index(first)?;
    Ok(Task {
        id: TaskId::parse(id).ok_or_else(|| DbErr::Type(format!("task id {id} is not positive")))?,
        title: row.try_get_by_index(first + 1)?,
        description: row.try_get_by_index(first + 2)?,
        is_completed: row.try_get_by_index(first + 3)?,
        owner_id: UserId::new(row.try_get_by_index(first + 4)?),
        created_at: read_time(row, first + 5)?,
        updated_at: read_time(row, first + 6)?,
    })
}

/// Builds a statement, numbering `$n` placeholders as values are pushed.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(db: &impl ConnectionTrait, text: &str) -> Self {
        Self { backend: db.get_database_backend(), text: text.to_owned(), values: Vec::new() }
    }

    /// Appends text with one `$n` placeholder where `{}` stands, bound to `value`.
    fn push(&mut self, fragment: &str, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        self.text.push_str(&fragment.replace("{}", &format!("${}", self.values.len())));
        self
    }

    fn text(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    fn time(&self, at: OffsetDateTime) -> Value {
        task_time(self.backend, at)
    }

    /// `AND "updated_at" IN (…)` for an `If-Match` list; `Any`/`None` add nothing (the task
    /// must exist, which every statement requires anyway).
    fn precondition(&mut self, precondition: &Precondition) -> &mut Self {
        if let Precondition::OneOf(tags) = precondition {
            if tags.is_empty() {
                return self.text(" AND 1 = 0");
            }
            self.text(r#" AND "updated_at" IN ("#);
            for (i, tag) in tags.iter().enumerate() {
                let value = self.time(tag.updated_at());
                self.push(if i == 0 { "{}" } else { ", {}" }, value);
            }
            self.text(")");
        }
        self
    }

    fn build(&self) -> Statement {
        Statement::from_sql_and_values(self.backend, &self.text, self.values.clone())
    }
}

/// One page of a user's tasks, newest first, fetching `limit` rows.
pub(crate) async fn list(
    db: &impl ConnectionTrait,
    owner: &UserId,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<Task>, DbErr> {
    let mut sql = Sql::new(db, &format!(r#"SELECT {COLUMNS} FROM "task" WHERE "owner_id" = "#));
    sql.push("{}", owner.as_str());
    if let Some(before) = filter.before {
        sql.push(r#" AND "id" < {}"#, before.get());
    }
    if let Some(completed) = filter.completed {
        sql.push(r#" AND "is_completed" = {}"#, completed);
    }
    if let Some(pattern) = &filter.title_pattern {
        // Both sides through the database's lower(), so they fold alike on every backend.
        sql.push(r#" AND lower("title") LIKE lower({}) ESCAPE '\'"#, pattern.clone());
    }
    sql.push(r#" ORDER BY "id" DESC LIMIT {}"#, i64::try_from(limit).unwrap_or(i64::MAX));
    db.query_all_raw(sql.build()).await?.iter().map(task_from).collect()
}

/// One task of one owner.
pub(crate) async fn get(db: &impl ConnectionTrait, owner: &UserId, id: TaskId) -> Result<Option<Task>, DbErr> {
    let mut sql = Sql::new(db, &format!(r#"SELECT {COLUMNS} FROM "task" WHERE "id" = "#));
    sql.push("{}", id.get()).push(r#" AND "owner_id" = {}"#, owner.as_str());
    db.query_one_raw(sql.build()).await?.as_ref().map(task_from).transpose()
}

/// One task of one owner, if the precondition holds (a PATCH that changes nothing).
pub(crate) async fn get_if(
    db: &impl ConnectionTrait,
    owner: &UserId,
    id: TaskId,
    precondition: &Precondition,
) -> Result<Written, DbErr> {
    let mut sql = Sql::new(db, &format!(r#"SELECT {COLUMNS} FROM "task" WHERE "id" = "#));
    sql.push("{}", id.get()).push(r#" AND "owner_id" = {}"#, owner.as_str()).precondition(precondition);
    conditional(db, owner, id, sql).await
}

/// Inserts a task unless the owner already has `limit` tasks, in one statement. Returns `None`
/// when the limit is reached.
///
/// PostgreSQL (READ COMMITTED) would let two concurrent counts miss each other's new rows, so
/// there the statement first upserts the owner's `task_quota` row, which locks it and yields the
/// latest committed count; the triggers of that table's migration keep the count exact. SQLite
/// has one writer at a time, so counting within the statement is exact there.
pub(crate) async fn create(
    db: &impl ConnectionTrait,
    owner: &UserId,
    task: &NewTask,
    limit: u64,
    now: OffsetDateTime,
) -> Result<Option<Task>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let mut sql = Sql::new(db, "");
    if postgres {
        sql.push(
            r#"WITH "quota" AS (INSERT INTO "task_quota" ("owner_id", "task_count") VALUES ({}, 0) ON CONFLICT ("owner_id") DO UPDATE SET "task_count" = "task_quota"."task_count" RETURNING "task_count") "#,
            owner.as_str(),
        );
    }
    sql.text(r#"INSERT INTO "task" ("title", "description", "is_completed", "owner_id", "created_at", "updated_at") SELECT "#);
    let at = sql.time(now);
    sql.push("{}", task.title.as_str())
        .push(", {}", task.description.as_ref().map(|d| d.as_str().to_owned()))
        .push(", {}", false)
        .push(", {}", owner.as_str())
        .push(", {}", at.clone())
        .push(", {}", at);
    if postgres {
        sql.push(r#" FROM "quota" WHERE "quota"."task_count" < {}"#, limit);
    } else {
        sql.push(r#" WHERE (SELECT count(*) FROM "task" WHERE "owner_id" = {})"#, owner.as_str()).push(" < {}", limit);
    }
    sql.text(&format!(" RETURNING {COLUMNS}"));
    db.query_one_raw(sql.build()).await?.as_ref().map(task_from).transpose()
}

/// Replaces every field of a task, if the precondition holds.
pub(crate) async fn replace(
    db: &impl ConnectionTrait,
    owner: &UserId,
    id: TaskId,
    task: &TaskReplacement,
    precondition: &Precondition,
    now: OffsetDateTime,
) -> Result<Written, DbErr> {
    let mut sql = Sql::new(db, r#"UPDATE "task" SET "title" = "#);
    let at = sql.time(now);
    sql.push("{}", task.title.as_str())
        .push(r#", "description" = {}"#, task.description.as_ref().map(|d| d.as_str().to_owned()))
        .push(r#", "is_completed" = {}"#, task.is_completed)
        .push(r#", "updated_at" = {}"#, at)
        .push(r#" WHERE "id" = {}"#, id.get())
        .push(r#" AND "owner_id" = {}"#, owner.as_str())
        .precondition(precondition)
        .text(&format!(" RETURNING {COLUMNS}"));
    conditional(db, owner, id, sql).await
}

/// Applies a partial update, if the precondition holds.
pub(crate) async fn patch(
    db: &impl ConnectionTrait,
    owner: &UserId,
    id: TaskId,
    patch: &TaskPatch,
    precondition: &Precondition,
    now: OffsetDateTime,
) -> Result<Written, DbErr> {
    let mut sql = Sql::new(db, r#"UPDATE "task" SET "updated_at" = "#);
    let at = sql.time(now);
    sql.push("{}", at);
    if let Some(title) = &patch.title {
        sql.push(r#", "title" = {}"#, title.as_str());
    }
    if let Some(description) = &patch.description {
        sql.push(r#", "description" = {}"#, description.as_ref().map(|d| d.as_str().to_owned()));
    }
    if let Some(done) = patch.is_completed {
        sql.push(r#", "is_completed" = {}"#, done);
    }
    sql.push(r#" WHERE "id" = {}"#, id.get())
        .push(r#" AND "owner_id" = {}"#, owner.as_str())
        .precondition(precondition)
        .text(&format!(" RETURNING {COLUMNS}"));
    conditional(db, owner, id, sql).await
}

/// Deletes a task, if the precondition holds.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    owner: &UserId,
    id: TaskId,
    precondition: &Precondition,
) -> Result<Written, DbErr> {
    let mut sql = Sql::new(db, r#"DELETE FROM "task" WHERE "id" = "#);
    sql.push("{}", id.get())
        .push(r#" AND "owner_id" = {}"#, owner.as_str())
        .precondition(precondition)
        .text(&format!(" RETURNING {COLUMNS}"));
    conditional(db, owner, id, sql).await
}

/// Runs a conditional statement; when it matched nothing, tells a stale version from a missing
/// task.
async fn conditional(db: &impl ConnectionTrait, owner: &UserId, id: TaskId, sql: Sql) -> Result<Written, DbErr> {
    if let Some(row) = db.query_one_raw(sql.build()).await? {
        return Ok(Written::Done(task_from(&row)?));
    }
    Ok(match get(db, owner, id).await? {
        Some(_) => Written::Stale,
        None => Written::Missing,
    })
}

/// What a request with an `Idempotency-Key` finds.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The key is this transaction's now: run the write and [`store_answer`] in it.
    Claimed,
    /// The key was used by a committed request within its lifetime.
    Stored(StoredAnswer),
}

/// The answer stored with a key.
#[derive(Debug)]
pub(crate) struct StoredAnswer {
    /// The first request's fingerprint.
    pub(crate) fingerprint: String,
    /// The status it was answered with.
    pub(crate) status: u16,
    /// The task it answered with (none for a deletion).
    pub(crate) task: Option<Task>,
}

/// Claims `key` for this transaction: inserts the owner's key row, or takes over one stored
/// before `expired_before`. The row's primary key is what makes a retry unable to run twice:
/// on PostgreSQL a concurrent claim of the same key waits here until the first transaction
/// ends (then finds its answer, or claims the key if it rolled back); on SQLite writers are
/// serialised anyway. Must be the transaction's first statement (SQLite takes the write lock).
pub(crate) async fn claim_key(
    db: &impl ConnectionTrait,
    owner: &UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: OffsetDateTime,
    expired_before: OffsetDateTime,
) -> Result<Claim, DbErr> {
    let mut sql = Sql::new(
        db,
        r#"INSERT INTO "task_idempotency" ("owner_id", "key", "fingerprint", "status", "stored_at") VALUES ("#,
    );
    let (at, expired) = (sql.time(now), sql.time(expired_before));
    sql.push("{}", owner.as_str())
        .push(", {}", key.as_str())
        .push(", {}", fingerprint)
        .push(", 0, {})", at)
        .text(r#" ON CONFLICT ("owner_id", "key") DO UPDATE SET "fingerprint" = excluded."fingerprint", "status" = 0, "task_id" = NULL, "title" = NULL, "description" = NULL, "is_completed" = NULL, "created_at" = NULL, "updated_at" = NULL, "stored_at" = excluded."stored_at""#)
        .push(r#" WHERE "task_idempotency"."stored_at" < {} RETURNING "owner_id""#, expired);
    if db.query_one_raw(sql.build()).await?.is_some() {
        return Ok(Claim::Claimed);
    }
    // `fingerprint`, `status`, then the stored task's [`COLUMNS`] (NULL for an answer without one).
    let mut sql = Sql::new(
        db,
        r#"SELECT "fingerprint", "status", "task_id" AS "id", "title", "description", "is_completed", "owner_id", "created_at", "updated_at" FROM "task_idempotency" WHERE "owner_id" = "#,
    );
    sql.push("{}", owner.as_str()).push(r#" AND "key" = {}"#, key.as_str());
    let row = db
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("an idempotency key that could not be claimed is gone".to_owned()))?;
    let status: i32 = row.try_get("", "status")?;
    let task_id: Option<i64> = row.try_get("", "id")?;
    Ok(Claim::Stored(StoredAnswer {
        fingerprint: row.try_get("", "fingerprint")?,
        status: u16::try_from(status).map_err(|_| DbErr::Type(format!("stored status {status}")))?,
        task: task_id.map(|_| task_at(&row, 2)).transpose()?,
    }))
}

/// Stores the answer of the request that claimed `key` (in its transaction).
pub(crate) async fn store_answer(
    db: &impl ConnectionTrait,
    owner: &UserId,
    key: &IdempotencyKey,
    status: u16,
    task: Option<&Task>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(db, r#"UPDATE "task_idempotency" SET "status" = "#);
    sql.push("{}", i32::from(status));
    if let Some(task) = task {
        let (created, updated) = (sql.time(task.created_at), sql.time(task.updated_at));
        sql.push(r#", "task_id" = {}"#, task.id.get())
            .push(r#", "title" = {}"#, task.title.clone())
            .push(r#", "description" = {}"#, task.description.clone())
            .push(r#", "is_completed" = {}"#, task.is_completed)
            .push(r#", "created_at" = {}"#, created)
            .push(r#", "updated_at" = {}"#, updated);
    }
    sql.push(r#" WHERE "owner_id" = {}"#, owner.as_str()).push(r#" AND "key" = {}"#, key.as_str());
    db.execute_raw(sql.build()).await.map(|_| ())
}

/// The owner's next change number. The counter row stays locked until the transaction ends,
/// so the owner's changes commit in the order of their numbers.
pub(crate) async fn next_seq(db: &impl ConnectionTrait, owner: &UserId) -> Result<i64, DbErr> {
    let mut sql = Sql::new(db, r#"INSERT INTO "task_sync_head" ("owner_id", "seq") VALUES ("#);
    sql.push("{}, 1)", owner.as_str())
        .text(r#" ON CONFLICT ("owner_id") DO UPDATE SET "seq" = "task_sync_head"."seq" + 1 RETURNING "seq""#);
    let row = db.query_one_raw(sql.build()).await?.ok_or_else(|| DbErr::RecordNotFound("task_sync_head".to_owned()))?;
    row.try_get("", "seq")
}

/// The owner's current change number (0 before the first change).
pub(crate) async fn current_seq(db: &impl ConnectionTrait, owner: &UserId) -> Result<i64, DbErr> {
    let mut sql = Sql::new(db, r#"SELECT "seq" FROM "task_sync_head" WHERE "owner_id" = "#);
    sql.push("{}", owner.as_str());
    db.query_one_raw(sql.build()).await?.map_or(Ok(0), |row| row.try_get("", "seq"))
}

/// Records a task's latest change (a tombstone when `deleted_at` is set).
pub(crate) async fn record_change(
    db: &impl ConnectionTrait,
    owner: &UserId,
    id: TaskId,
    seq: i64,
    deleted_at: Option<OffsetDateTime>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(db, r#"INSERT INTO "task_change" ("owner_id", "task_id", "seq", "deleted_at") VALUES ("#);
    // A typed NULL of the timestamp column's kind when the task is not deleted.
    let deleted = deleted_at.map_or_else(|| sql.time(OffsetDateTime::UNIX_EPOCH).as_null(), |at| sql.time(at));
    sql.push("{}", owner.as_str())
        .push(", {}", id.get())
        .push(", {}", seq)
        .push(", {})", deleted)
        .text(r#" ON CONFLICT ("owner_id", "task_id") DO UPDATE SET "seq" = excluded."seq", "deleted_at" = excluded."deleted_at""#);
    db.execute_raw(sql.build()).await.map(|_| ())
}

/// The owner's changes after `after`, oldest first, at most `limit`: each task once, in its
/// current version, or its id when it is gone.
pub(crate) async fn changes(
    db: &impl ConnectionTrait,
    owner: &UserId,
    after: i64,
    limit: u64,
) -> Result<Vec<FeedEntry>, DbErr> {
    // `seq`, `task_id`, then the task's [`COLUMNS`] (NULL for a deleted task).
    let mut sql = Sql::new(
        db,
        r#"SELECT c."seq", c."task_id", t."id", t."title", t."description", t."is_completed", t."owner_id", t."created_at", t."updated_at" FROM "task_change" c LEFT JOIN "task" t ON t."id" = c."task_id" AND t."owner_id" = c."owner_id" WHERE c."owner_id" = "#,
    );
    sql.push("{}", owner.as_str())
        .push(r#" AND c."seq" > {}"#, after)
        .push(r#" ORDER BY c."seq" LIMIT {}"#, i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = db.query_all_raw(sql.build()).await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get_by_index(0)?;
            let change = match row.try_get_by_index::<Option<i64>>(2)? {
                Some(_) => Change::Upsert(task_at(row, 2)?),
                None => {
                    let id: i64 = row.try_get_by_index(1)?;
                    Change::Delete(TaskId::parse(id).ok_or_else(|| DbErr::Type(format!("task id {id}")))?)
                }
            };
            Ok(FeedEntry { seq, change })
        })
        .collect()
}

/// Deletes tombstones older than `tombstones_before` and idempotency keys stored before
/// `keys_before`; returns how many of each.
pub(crate) async fn sweep(
    db: &impl ConnectionTrait,
    tombstones_before: OffsetDateTime,
    keys_before: OffsetDateTime,
) -> Result<(u64, u64), DbErr> {
    let mut sql = Sql::new(db, r#"DELETE FROM "task_change" WHERE "deleted_at" < "#);
    let at = sql.time(tombstones_before);
    sql.push("{}", at);
    let tombstones = db.execute_raw(sql.build()).await?.rows_affected();
    let mut sql = Sql::new(db, r#"DELETE FROM "task_idempotency" WHERE "stored_at" < "#);
    let at = sql.time(keys_before);
    sql.push("{}", at);
    let keys = db.execute_raw(sql.build()).await?.rows_affected();
    Ok((tombstones, keys))
}
