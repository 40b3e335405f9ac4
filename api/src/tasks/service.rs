//! The tasks domain: the rules between the HTTP edge and the SQL. Paging (one row past the page
//! tells whether there is a next one, and the cursor continuing after it), the per-user limit,
//! preconditions (evaluated by `tasks::repo` in the statement itself), and what a failed
//! foreign key means: the session's user is gone.
//!
//! Every operation takes the owner from the session; another user's task is answered exactly
//! like a missing one, because every query filters by owner.

use sea_orm::DatabaseConnection;

use crate::{
    auth::{error::AuthError, model::UserId, store::AuthStore},
    config::AuthSecret,
    db::is_foreign_key_violation,
    error::ApiError,
    tasks::{
        model::{
            Cursor, DEFAULT_LIMIT, ListFilter, MAX_LIMIT, NewTask, Precondition, Task, TaskError, TaskId, TaskPatch,
            TaskReplacement,
        },
        repo::{self, Written},
    },
    timestamp::now_micros,
    validation::ValidationError,
};

/// One page of tasks, newest first.
pub(crate) struct Page {
    /// The tasks (at most the page size).
    pub(crate) tasks: Vec<Task>,
    /// Where the next page starts, when there is one.
    pub(crate) next_cursor: Option<String>,
}

/// The tasks service; cheap to clone.
#[derive(Clone)]
pub(crate) struct Tasks {
    db: DatabaseConnection,
    auth: AuthStore,
    secret: AuthSecret,
    per_user_limit: u64,
}

impl Tasks {
    /// The service over `db`; `auth` is told when a session's user turns out to be gone, and
    /// `secret` signs list cursors.
    pub(crate) fn new(db: DatabaseConnection, auth: AuthStore, secret: AuthSecret, per_user_limit: u64) -> Self {
        Self { db, auth, secret, per_user_limit }
    }

    /// The position a cursor continues after, if it is well-formed and was issued to `owner`.
    pub(crate) fn cursor_position(&self, cursor: &str, owner: &UserId) -> Result<TaskId, ValidationError> {
        Cursor::decode(cursor, owner, &self.secret)
    }

    /// One page of the owner's tasks, `limit` per page (default 20, at most 100).
    pub(crate) async fn list(&self, owner: &UserId, filter: &ListFilter, limit: Option<u64>) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let mut tasks = repo::list(&self.db, owner, filter, limit + 1).await?;
        let next_cursor = if tasks.len() as u64 > limit {
            tasks.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            tasks.last().map(|last| Cursor::encode(last.id, owner, &self.secret))
        } else {
            None
        };
        Ok(Page { tasks, next_cursor })
    }

    /// Creates a task unless the owner already has the maximum number.
    pub(crate) async fn create(&self, owner: &UserId, task: &NewTask) -> Result<Task, ApiError> {
        let limit = self.per_user_limit;
        match repo::create(&self.db, owner, task, limit, now_micros()).await {
            Ok(Some(created)) => {
                tracing::info!(user.id = %owner, task.id = created.id.get(), "task created");
                Ok(created)
            }
            Ok(None) => Err(TaskError::LimitReached { limit }.into()),
            // The user was deleted behind the session's back (e.g. directly in SQL): no session.
            Err(err) if is_foreign_key_violation(&err) => {
                self.auth.forget_user(owner);
                Err(AuthError::Unauthorized { set_cookies: Vec::new() }.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// One of the owner's tasks.
    pub(crate) async fn get(&self, owner: &UserId, id: TaskId) -> Result<Task, ApiError> {
        Ok(repo::get(&self.db, owner, id).await?.ok_or(TaskError::NotFound)?)
    }

    /// Replaces every field, if the precondition holds.
    pub(crate) async fn replace(
        &self,
        owner: &UserId,
        id: TaskId,
        task: &TaskReplacement,
        precondition: &Precondition,
    ) -> Result<Task, ApiError> {
        written(repo::replace(&self.db, owner, id, task, precondition, now_micros()).await?)
    }

    /// Changes the fields present, if the precondition holds. A patch that changes nothing
    /// answers with the current version (still subject to the precondition) and writes nothing.
    pub(crate) async fn patch(
        &self,
        owner: &UserId,
        id: TaskId,
        patch: &TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, ApiError> {
        if patch.is_empty() {
            return written(repo::get_if(&self.db, owner, id, precondition).await?);
        }
        written(repo::patch(&self.db, owner, id, patch, precondition, now_micros()).await?)
    }

    /// Deletes a task, if the precondition holds; returns what was deleted.
    pub(crate) async fn delete(
        &self,
        owner: &UserId,
        id: TaskId,
        precondition: &Precondition,
    ) -> Result<Task, ApiError> {
        let deleted = written(repo::delete(&self.db, owner, id, precondition).await?)?;
        tracing::info!(user.id = %owner, task.id = deleted.id.get(), "task deleted");
        Ok(deleted)
    }
}

/// Turns a conditional statement's outcome into the task or the matching error.
fn written(outcome: Written) -> Result<Task, ApiError> {
    match outcome {
        Written::Done(task) => Ok(task),
        Written::Stale => Err(TaskError::PreconditionFailed.into()),
        Written::Missing => Err(TaskError::NotFound.into()),
    }
}
