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
    tasks::model::{ListFilter, NewTask, Precondition, Task, TaskId, TaskPatch, TaskReplacement},
};

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

fn task_from(row: &QueryResult) -> Result<Task, DbErr> {
    let id: i64 = row.try_get("", "id")?;
    Ok(Task {
        id: TaskId::parse(id).ok_or_else(|| DbErr::Type(format!("task id {id} is not positive")))?,
        title: row.try_get("", "title")?,
        description: row.try_get("", "description")?,
        is_completed: row.try_get("", "is_completed")?,
        owner_id: UserId::new(row.try_get("", "owner_id")?),
        created_at: read_time(row, "created_at")?,
        updated_at: read_time(row, "updated_at")?,
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
