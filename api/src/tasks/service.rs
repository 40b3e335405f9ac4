//! The tasks domain: the rules between the HTTP edge and the SQL. Paging (one row past the page
//! tells whether there is a next one, and the cursor continuing after it), the per-user limit,
//! preconditions (evaluated by `tasks::repo` in the statement itself), and what a failed
//! foreign key means: the session's user is gone.
//!
//! Every operation takes the owner from the session; another user's task is answered exactly
//! like a missing one, because every query filters by owner.
//!
//! Every write runs in one transaction with what makes it safe to retry and to sync: its
//! `Idempotency-Key` row (claimed first, answer stored last) and its entry in the owner's change
//! feed (numbered by the owner's counter, which stays locked until commit, so the feed never
//! shows a later change before an earlier one has committed).

use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use time::OffsetDateTime;

use crate::{
    auth::{error::AuthError, model::UserId, store::AuthStore},
    config::AuthSecret,
    db::{Reads, is_foreign_key_violation, is_wait_timeout},
    error::ApiError,
    tasks::{
        live::{Live, Refused, StreamLimits, Subscription},
        model::{
            Cursor, DEFAULT_LIMIT, FeedEntry, IdempotencyKey, ListFilter, MAX_LIMIT, NewTask, Precondition, SyncCursor,
            Task, TaskError, TaskId, TaskPatch, TaskReplacement, TaskWrite,
        },
        repo::{self, Claim, Written},
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

/// How long an `Idempotency-Key` and its answer are kept.
pub(crate) const IDEMPOTENCY_KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How much longer than the retention a tombstone is kept, so that a cursor still inside the
/// retention can never have missed one (a change is stamped before its transaction commits).
const TOMBSTONE_MARGIN: Duration = Duration::from_secs(3600);

/// One page of the change feed.
pub(crate) struct ChangesPage {
    /// The changes, oldest first (at most the page size).
    pub(crate) entries: Vec<FeedEntry>,
    /// Where the next sync continues.
    pub(crate) next_cursor: String,
    /// Whether more changes are waiting right now.
    pub(crate) has_more: bool,
}

/// The tasks service's settings.
#[derive(Clone, Debug)]
pub(crate) struct TaskSettings {
    /// The signing secret of list and sync cursors.
    pub(crate) secret: AuthSecret,
    /// Tasks per user.
    pub(crate) per_user_limit: u64,
    /// How long tombstones (and so sync cursors) last.
    pub(crate) sync_retention: Duration,
    /// How many live-update streams may be open.
    pub(crate) stream_limits: StreamLimits,
}

/// The tasks service; cheap to clone.
#[derive(Clone)]
pub(crate) struct Tasks {
    db: DatabaseConnection,
    /// The single-statement reads outside a transaction (a task, a page): `db::reads`.
    reads: Reads,
    auth: AuthStore,
    secret: AuthSecret,
    per_user_limit: u64,
    sync_retention: Duration,
    live: Live,
}

impl Tasks {
    /// The service over `db` (reads through `reads`); `auth` is told when a session's user turns out to be gone.
    pub(crate) fn new(db: DatabaseConnection, reads: Reads, auth: AuthStore, settings: TaskSettings) -> Self {
        let TaskSettings { secret, per_user_limit, sync_retention, stream_limits } = settings;
        Self { db, reads, auth, secret, per_user_limit, sync_retention, live: Live::new(stream_limits) }
    }

    /// The position a cursor continues after, if it is well-formed and was issued to `owner`.
    pub(crate) fn cursor_position(&self, cursor: &str, owner: &UserId) -> Result<TaskId, ValidationError> {
        Cursor::decode(cursor, owner, &self.secret)
    }

    /// One page of the owner's tasks, `limit` per page (default 20, at most 100).
    pub(crate) async fn list(&self, owner: &UserId, filter: &ListFilter, limit: Option<u64>) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let mut tasks = repo::list(&self.reads, owner, filter, limit + 1).await?;
        let next_cursor = if tasks.len() as u64 > limit {
            tasks.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            tasks.last().map(|last| Cursor::encode(last.id, owner, &self.secret))
        } else {
            None
        };
        Ok(Page { tasks, next_cursor })
    }

    /// Creates a task unless the owner already has the maximum number.
    pub(crate) async fn create(
        &self,
        owner: &UserId,
        task: &NewTask,
        key: Option<&IdempotencyKey>,
    ) -> Result<Task, ApiError> {
        let created = answered(self.write(owner, key, TaskWrite::Create(task)).await?)?;
        tracing::info!(user.id = %owner, task.id = created.id.get(), "task created");
        Ok(created)
    }

    /// One of the owner's tasks.
    pub(crate) async fn get(&self, owner: &UserId, id: TaskId) -> Result<Task, ApiError> {
        Ok(repo::get(&self.reads, owner, id).await?.ok_or(TaskError::NotFound)?)
    }

    /// Replaces every field, if the precondition holds.
    pub(crate) async fn replace(
        &self,
        owner: &UserId,
        id: TaskId,
        task: &TaskReplacement,
        precondition: &Precondition,
        key: Option<&IdempotencyKey>,
    ) -> Result<Task, ApiError> {
        answered(self.write(owner, key, TaskWrite::Replace(id, task, precondition)).await?)
    }

    /// Changes the fields present, if the precondition holds. A patch that changes nothing
    /// answers with the current version (still subject to the precondition) and writes nothing.
    pub(crate) async fn patch(
        &self,
        owner: &UserId,
        id: TaskId,
        patch: &TaskPatch,
        precondition: &Precondition,
        key: Option<&IdempotencyKey>,
    ) -> Result<Task, ApiError> {
        if patch.is_empty() && key.is_none() {
            return written(repo::get_if(&self.db, owner, id, precondition).await?);
        }
        answered(self.write(owner, key, TaskWrite::Patch(id, patch, precondition)).await?)
    }

    /// Deletes a task, if the precondition holds.
    pub(crate) async fn delete(
        &self,
        owner: &UserId,
        id: TaskId,
        precondition: &Precondition,
        key: Option<&IdempotencyKey>,
    ) -> Result<(), ApiError> {
        self.write(owner, key, TaskWrite::Delete(id, precondition)).await?;
        tracing::info!(user.id = %owner, task.id = id.get(), "task deleted");
        Ok(())
    }

    /// Runs one write in a transaction: claims the key (or answers from it), applies the write,
    /// enters it in the change feed, stores the answer with the key, commits. A write that fails
    /// rolls back with its key, so a retry runs again. Returns the task as answered (none for a
    /// deletion).
    async fn write(
        &self,
        owner: &UserId,
        key: Option<&IdempotencyKey>,
        write: TaskWrite<'_>,
    ) -> Result<Option<Task>, ApiError> {
        let now = now_micros();
        let txn = self.db.begin().await.map_err(|err| self.failed(owner, err))?;
        match self.write_in(&txn, owner, key, write, now).await {
            Ok(Answer::Written(task)) => {
                txn.commit().await.map_err(|err| self.failed(owner, err))?;
                self.live.signal(owner.as_str());
                Ok(task)
            }
            Ok(Answer::Replayed(task)) => {
                txn.rollback().await.ok();
                Ok(task)
            }
            Err(err) => {
                txn.rollback().await.ok();
                Err(err)
            }
        }
    }

    async fn write_in(
        &self,
        txn: &DatabaseTransaction,
        owner: &UserId,
        key: Option<&IdempotencyKey>,
        write: TaskWrite<'_>,
        now: OffsetDateTime,
    ) -> Result<Answer, ApiError> {
        let fail = |err: DbErr| self.failed(owner, err);
        if let Some(key) = key {
            let fingerprint = write.fingerprint();
            let claim = repo::claim_key(txn, owner, key, &fingerprint, now, now - IDEMPOTENCY_KEY_LIFETIME).await;
            match claim {
                Ok(Claim::Claimed) => {}
                Ok(Claim::Stored(answer)) if answer.fingerprint != fingerprint => {
                    return Err(TaskError::IdempotencyKeyReused.into());
                }
                Ok(Claim::Stored(answer)) => {
                    tracing::info!(user.id = %owner, status = answer.status, "idempotent request replayed");
                    return Ok(Answer::Replayed(answer.task));
                }
                Err(err) if is_wait_timeout(&err) => return Err(TaskError::IdempotencyInProgress.into()),
                Err(err) => return Err(fail(err)),
            }
        }
        let (task, changed, deleted) = match write {
            TaskWrite::Create(task) => {
                let limit = self.per_user_limit;
                let created = repo::create(txn, owner, task, limit, now).await.map_err(fail)?;
                (created.ok_or(TaskError::LimitReached { limit })?, true, false)
            }
            TaskWrite::Replace(id, task, precondition) => {
                let outcome = repo::replace(txn, owner, id, task, precondition, now).await.map_err(fail)?;
                (written(outcome)?, true, false)
            }
            TaskWrite::Patch(id, patch, precondition) if patch.is_empty() => {
                (written(repo::get_if(txn, owner, id, precondition).await.map_err(fail)?)?, false, false)
            }
            TaskWrite::Patch(id, patch, precondition) => {
                let outcome = repo::patch(txn, owner, id, patch, precondition, now).await.map_err(fail)?;
                (written(outcome)?, true, false)
            }
            TaskWrite::Delete(id, precondition) => {
                (written(repo::delete(txn, owner, id, precondition).await.map_err(fail)?)?, true, true)
            }
        };
        if changed {
            let seq = repo::next_seq(txn, owner).await.map_err(fail)?;
            repo::record_change(txn, owner, task.id, seq, deleted.then_some(now)).await.map_err(fail)?;
        }
        if let Some(key) = key {
            let answered = (!deleted).then_some(&task);
            repo::store_answer(txn, owner, key, write.success_status(), answered).await.map_err(fail)?;
        }
        Ok(Answer::Written((!deleted).then_some(task)))
    }

    /// A database failure of a write; a failed foreign key means the user was deleted behind
    /// the session's back (e.g. directly in SQL): no session.
    fn failed(&self, owner: &UserId, err: DbErr) -> ApiError {
        if is_foreign_key_violation(&err) {
            self.auth.forget_user(owner);
            return AuthError::Unauthorized { set_cookies: Vec::new() }.into();
        }
        err.into()
    }

    /// The position a sync cursor stands for, if it is well-formed and was issued to `owner`
    /// (`field` names where it came from).
    pub(crate) fn sync_cursor(&self, cursor: &str, field: &str, owner: &UserId) -> Result<SyncCursor, ValidationError> {
        SyncCursor::decode(cursor, field, owner, &self.secret)
    }

    /// The owner's changes after `since` (from the beginning without one), oldest first,
    /// `limit` per page (default and maximum 100). A cursor issued longer ago than the
    /// retention is refused: tombstones it would need may be gone.
    pub(crate) async fn changes(
        &self,
        owner: &UserId,
        since: Option<SyncCursor>,
        limit: Option<u64>,
    ) -> Result<ChangesPage, ApiError> {
        let now = OffsetDateTime::now_utc();
        let after = match since {
            Some(cursor) => self.unexpired(cursor, now)?,
            None => 0,
        };
        let limit = limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        let mut entries = repo::changes(&self.reads, owner, after, limit + 1).await?;
        let has_more = entries.len() as u64 > limit;
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let seq = entries.last().map_or(after, |entry| entry.seq);
        let next_cursor = SyncCursor { seq, issued_at: now.unix_timestamp() }.encode(owner, &self.secret);
        Ok(ChangesPage { entries, next_cursor, has_more })
    }

    /// The feed position of a cursor still within the retention.
    fn unexpired(&self, cursor: SyncCursor, now: OffsetDateTime) -> Result<i64, TaskError> {
        let retention = i64::try_from(self.sync_retention.as_secs()).unwrap_or(i64::MAX);
        if now.unix_timestamp().saturating_sub(cursor.issued_at) > retention {
            return Err(TaskError::SyncCursorExpired);
        }
        Ok(cursor.seq)
    }

    /// Opens a place for one of the owner's live-update streams (429 beyond the limits) and
    /// where it starts: after `resume` (a cursor from the stream's event ids or the change
    /// feed) or, without one, at the owner's latest change.
    pub(crate) async fn watch(
        &self,
        owner: &UserId,
        resume: Option<SyncCursor>,
    ) -> Result<(Subscription, i64), ApiError> {
        let subscription = self.live.subscribe(owner.as_str()).map_err(|refused| {
            match refused {
                Refused::PerUser => tracing::info!(user.id = %owner, "event stream refused: per-user limit"),
                Refused::PerInstance => tracing::warn!("event stream refused: per-instance limit"),
            }
            TaskError::TooManyStreams
        })?;
        let start = match resume {
            Some(cursor) => self.unexpired(cursor, OffsetDateTime::now_utc())?,
            None => repo::current_seq(&self.db, owner).await?,
        };
        Ok((subscription, start))
    }

    /// The owner's changes after `after`, oldest first, at most one page; each with the cursor
    /// that resumes after it.
    pub(crate) async fn feed_after(&self, owner: &UserId, after: i64) -> Result<Vec<(FeedEntry, String)>, ApiError> {
        let entries = repo::changes(&self.reads, owner, after, MAX_LIMIT).await?;
        let issued_at = OffsetDateTime::now_utc().unix_timestamp();
        Ok(entries
            .into_iter()
            .map(|entry| {
                let cursor = SyncCursor { seq: entry.seq, issued_at }.encode(owner, &self.secret);
                (entry, cursor)
            })
            .collect())
    }

    /// Ends every live-update stream (at shutdown, so that it is not held up by them).
    pub(crate) fn close_streams(&self) {
        self.live.close();
    }

    /// Relays other instances' changes to this process's streams (PostgreSQL; runs until
    /// aborted).
    pub(crate) fn change_listener(&self) -> impl Future<Output = ()> + Send + 'static {
        crate::tasks::live::listen(self.db.clone(), self.live.clone())
    }

    /// Removes tombstones past the retention and idempotency keys past their lifetime.
    pub(crate) async fn sweep(&self, now: OffsetDateTime) -> Result<(u64, u64), DbErr> {
        let tombstones_before = now - self.sync_retention - TOMBSTONE_MARGIN;
        repo::sweep(&self.db, tombstones_before, now - IDEMPOTENCY_KEY_LIFETIME).await
    }
}

/// What a write answers.
enum Answer {
    /// The write was applied (and is committed with its answer).
    Written(Option<Task>),
    /// The key's stored answer; nothing was written.
    Replayed(Option<Task>),
}

/// The task a create, replace or patch answers with.
fn answered(task: Option<Task>) -> Result<Task, ApiError> {
    task.ok_or_else(|| ApiError::Internal("a stored answer lacks its task".to_owned()))
}

/// Turns a conditional statement's outcome into the task or the matching error.
fn written(outcome: Written) -> Result<Task, ApiError> {
    match outcome {
        Written::Done(task) => Ok(task),
        Written::Stale => Err(TaskError::PreconditionFailed.into()),
        Written::Missing => Err(TaskError::NotFound.into()),
    }
}
