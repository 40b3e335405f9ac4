//! The tasks API at `/api/v1/tasks`: HTTP shape only; the rules are in `tasks::service`.
//! Identity comes solely from [`SessionAuth`] (cookie or bearer); nothing a client sends, such
//! as an `X-User-Id` header, can choose the user.
//!
//! Also how this API reports malformed parameters (422, each named where it is sent), which
//! `app.rs` gives the shared error layer for `/api/v1/`.

use std::time::Duration;

use futures_util::stream::BoxStream;
use poem::web::{Data, sse::Event};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::EventStream,
};

use crate::{
    auth::{
        guard::SessionAuth,
        sessions::{Lookup, Sessions},
        token::SessionToken,
    },
    error::{ParamErrors, ParamStatus, api_errors},
    http::{
        body::JsonBody,
        schema::{SerdeJson, StrictHeader},
    },
    state::AppState,
    tags::ApiTags,
    tasks::{
        dto::{
            CreateTaskRequest, PatchTaskRequest, ReplaceTaskRequest, TaskChangesDto, TaskDto, TaskEventDto, TaskPage,
        },
        live::Subscription,
        model::{
            IdempotencyKey, ListFilter, NewTask, Precondition, Task, TaskError, TaskId, TaskPatch, TaskReplacement,
            search_pattern,
        },
        service::Tasks,
    },
    validation::ValidationError,
};

/// How the tasks API reports a parameter that does not parse: 422, naming the parameter where
/// it is sent (the task id in the path, `If-Match` in a header, the rest in the query).
pub(crate) const PARAMETER_ERRORS: ParamErrors = ParamErrors {
    status: ParamStatus::UnprocessableEntity,
    place: |name| match name {
        "If-Match" | "Idempotency-Key" | "Last-Event-ID" => "header",
        "id" => "path",
        _ => "query",
    },
    unparsable_path: "[path.id] must be a positive integer",
};

/// Operations under `/api/v1/tasks`.
pub(crate) struct TasksApi;

api_errors!(
    /// Errors of `GET /tasks`.
    ListTasksError: 401, 422, 503
);
api_errors!(
    /// Errors of `GET /tasks/changes`.
    ChangesError: 401, 410, 422, 503
);
api_errors!(
    /// Errors of `GET /tasks/events`.
    EventsError: 401, 410, 422, 429, 503
);
api_errors!(
    /// Errors of `POST /tasks`.
    CreateTaskError: 400, 401, 403, 409, 413, 415, 422, 503
);
api_errors!(
    /// Errors of `GET /tasks/{id}`.
    GetTaskError: 401, 404, 422, 503
);
api_errors!(
    /// Errors of `PUT` and `PATCH /tasks/{id}`.
    UpdateTaskError: 400, 401, 403, 404, 409, 412, 413, 415, 422, 503
);
api_errors!(
    /// Errors of `DELETE /tasks/{id}`.
    DeleteTaskError: 401, 403, 404, 409, 412, 422, 503
);

/// One page of tasks.
#[derive(ApiResponse)]
pub(crate) enum TaskList {
    /// Success
    #[oai(status = 200)]
    Ok(SerdeJson<TaskPage>),
}

/// Changes since a sync cursor.
#[derive(ApiResponse)]
pub(crate) enum TaskChanges {
    /// Success
    #[oai(status = 200)]
    Ok(SerdeJson<TaskChangesDto>),
}

/// The live-update stream.
#[derive(ApiResponse)]
pub(crate) enum TaskEvents {
    /// The stream: one `change` event per committed change, until the session ends.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, TaskEventDto>>),
}

/// A created task.
#[derive(ApiResponse)]
pub(crate) enum TaskCreated {
    /// The task was created.
    #[oai(status = 201)]
    Created(
        SerdeJson<TaskDto>,
        /// URL of the new task.
        #[oai(header = "Location")]
        String,
        /// Version of the task, for `If-Match`.
        #[oai(header = "ETag")]
        String,
    ),
}

/// One task.
#[derive(ApiResponse)]
pub(crate) enum TaskFound {
    /// The task.
    #[oai(status = 200)]
    Ok(
        SerdeJson<TaskDto>,
        /// Version of the task, for `If-Match` on a later PUT, PATCH or DELETE.
        #[oai(header = "ETag")]
        String,
    ),
}

/// A deleted task.
#[derive(ApiResponse)]
pub(crate) enum TaskDeleted {
    /// The task was deleted.
    #[oai(status = 204)]
    NoContent,
}

fn found(task: Task) -> TaskFound {
    let etag = task.etag().to_string();
    TaskFound::Ok(SerdeJson(task.into()), etag)
}

/// The live-update stream of one session: reads the owner's change feed from `after` whenever
/// the feed may have moved, one page at a time and only as fast as the client takes the events
/// (so a slow client costs at most a page); rechecks the session every `heartbeat` and ends
/// when it is gone (signed out, revoked, expired), at shutdown, or on a database error (the
/// client reconnects with `Last-Event-ID` and loses nothing).
struct Watch {
    tasks: Tasks,
    sessions: Sessions,
    token: SessionToken,
    owner: crate::auth::model::UserId,
    subscription: Subscription,
    heartbeat: Duration,
}

impl Watch {
    fn events(self, mut after: i64) -> BoxStream<'static, TaskEventDto> {
        let Self { tasks, sessions, token, owner, mut subscription, heartbeat } = self;
        Box::pin(async_stream::stream! {
            let mut check = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
            loop {
                subscription.signal.borrow_and_update();
                loop {
                    let Ok(page) = tasks.feed_after(&owner, after).await else { return };
                    if page.is_empty() {
                        break;
                    }
                    for (entry, cursor) in page {
                        after = entry.seq;
                        yield TaskEventDto::new(entry, cursor);
                    }
                }
                tokio::select! {
                    changed = subscription.signal.changed() => if changed.is_err() { return },
                    _ = check.tick() => {
                        if matches!(sessions.resolve(&token).await, Ok(Lookup::Gone)) {
                            tracing::info!(user.id = %owner, "event stream ended: the session is gone");
                            return;
                        }
                    }
                }
                if subscription.is_closed() {
                    return;
                }
            }
        })
    }
}

/// The `Idempotency-Key` header, validated.
fn parse_key(header: Option<&str>) -> Result<Option<IdempotencyKey>, TaskError> {
    Ok(header.map(IdempotencyKey::parse).transpose().map_err(ValidationError::in_header)?)
}

/// The task id from the path; one that cannot exist is a missing task.
fn task_id(raw: i64) -> Result<TaskId, TaskError> {
    TaskId::parse(raw).ok_or(TaskError::NotFound)
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tasks")]
impl TasksApi {
    /// List your tasks
    ///
    /// Newest first, `limit` per page (default 20). Pass the returned `next_cursor` as
    /// `cursor` for the next page; it is `null` on the last one. Filter by `completed` and by
    /// `q`, a case-insensitive substring of the title in which `%`, `_` and `\` match literally.
    #[oai(path = "/tasks", method = "get", operation_id = "list_tasks")]
    async fn list_tasks(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Opaque cursor from a previous page's `next_cursor`.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
        /// Only completed (`true`) or open (`false`) tasks.
        completed: Query<Option<bool>>,
        /// Case-insensitive title search (at most 200 characters).
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
    ) -> Result<TaskList, ListTasksError> {
        let owner = &auth.0.user.id;
        let before = cursor.0.map(|c| state.tasks.cursor_position(&c, owner).map_err(|e| e.in_query())).transpose();
        let title_pattern = q.0.map(|q| search_pattern(&q).map_err(|e| e.in_query())).transpose();
        let filter = ListFilter {
            before: before.map_err(TaskError::from)?,
            completed: completed.0,
            title_pattern: title_pattern.map_err(TaskError::from)?,
        };
        let limit = limit.0.and_then(|l| u64::try_from(l).ok());
        let page = state.tasks.list(owner, &filter, limit).await?;
        let items = page.tasks.into_iter().map(TaskDto::from).collect();
        Ok(TaskList::Ok(SerdeJson(TaskPage { items, next_cursor: page.next_cursor })))
    }

    /// Changes since the last sync
    ///
    /// For offline-first clients: the tasks created or changed (each once, in its current
    /// version) and the ids of tasks deleted since `since`, oldest change first. Without
    /// `since`, every task from the start. Store `next_cursor` and pass it as `since` next
    /// time; while `has_more` is true, ask again right away. A cursor older than the retention
    /// (30 days by default) is `410 SYNC_CURSOR_EXPIRED`: list every task again, then sync from
    /// no cursor. No change is skipped, whatever the order in which concurrent writes commit.
    #[oai(path = "/tasks/changes", method = "get", operation_id = "list_task_changes")]
    async fn list_task_changes(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// Opaque cursor from the previous answer's `next_cursor`; absent for the first sync.
        #[oai(validator(max_length = 256))]
        since: Query<Option<String>>,
        /// Changes per page, 1 to 100 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
    ) -> Result<TaskChanges, ChangesError> {
        let owner = &auth.0.user.id;
        let since = since.0.map(|c| state.tasks.sync_cursor(&c, "since", owner).map_err(ValidationError::in_query));
        let since = since.transpose().map_err(TaskError::from)?;
        let limit = limit.0.and_then(|l| u64::try_from(l).ok());
        let page = state.tasks.changes(owner, since, limit).await?;
        let changes = page.entries.into_iter().map(Into::into).collect();
        Ok(TaskChanges::Ok(SerdeJson(TaskChangesDto {
            changes,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })))
    }

    /// Live updates (Server-Sent Events)
    ///
    /// A `text/event-stream` of your task changes as they commit (made through any connection,
    /// and on PostgreSQL through any instance): one `change` event per change, whose data is a
    /// `TaskEvent` and whose `id` is a cursor. A reconnecting `EventSource` sends it back as
    /// `Last-Event-ID` and the stream resumes right after it, through the change feed, losing
    /// nothing; without it the stream starts with the next change. Comment lines every 15
    /// seconds keep proxies from closing an idle stream. The stream ends when the session ends
    /// (sign-out, revocation). At most 5 streams per user (and a per-server maximum): `429
    /// TOO_MANY_STREAMS` beyond. A `Last-Event-ID` older than the retention is `410
    /// SYNC_CURSOR_EXPIRED`.
    #[oai(path = "/tasks/events", method = "get", operation_id = "stream_task_events")]
    async fn stream_task_events(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// The `id` of the last event received: the stream resumes right after it.
        #[oai(name = "Last-Event-ID", validator(max_length = 256))]
        last_event_id: StrictHeader<Option<String>>,
    ) -> Result<TaskEvents, EventsError> {
        let session = auth.0;
        let owner = session.user.id;
        let resume = last_event_id.0.map(|c| state.tasks.sync_cursor(&c, "Last-Event-ID", &owner));
        let resume = resume.transpose().map_err(|e| TaskError::from(e.in_header()))?;
        let (subscription, after) = state.tasks.watch(&owner, resume).await?;
        let heartbeat = state.config.tasks.events_heartbeat;
        let watch = Watch {
            tasks: state.tasks.clone(),
            sessions: state.sessions.clone(),
            token: session.token,
            owner,
            subscription,
            heartbeat,
        };
        Ok(TaskEvents::Ok(EventStream::new(watch.events(after)).keep_alive(heartbeat).to_event(|event| {
            let id = event.cursor.clone();
            let data = serde_json::to_string(&event).unwrap_or_default();
            Event::message(data).event_type("change").id(id)
        })))
    }

    /// Create a task
    ///
    /// Answers 201 with the task, its `Location` and `ETag`. `422 TASK_LIMIT_REACHED` when you
    /// already have the maximum number of tasks (10,000 by default).
    #[oai(path = "/tasks", method = "post", operation_id = "create_task")]
    async fn create_task(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: JsonBody<CreateTaskRequest>,
        /// Makes the request safe to retry: a retry with the same key (for 24 hours) gets the
        /// first answer again instead of writing twice. 1 to 255 visible ASCII characters,
        /// scoped to your user; reusing one for a different request is
        /// `422 IDEMPOTENCY_KEY_REUSED`.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$"))]
        idempotency_key: StrictHeader<Option<String>>,
    ) -> Result<TaskCreated, CreateTaskError> {
        let task = NewTask::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let key = parse_key(idempotency_key.0.as_deref())?;
        let created = state.tasks.create(&auth.0.user.id, &task, key.as_ref()).await?;
        let location = format!("/api/v1/tasks/{}", created.id.get());
        let etag = created.etag().to_string();
        Ok(TaskCreated::Created(SerdeJson(created.into()), location, etag))
    }

    /// Get a task
    ///
    /// `404 TASK_NOT_FOUND` when it does not exist or belongs to someone else.
    #[oai(path = "/tasks/:id", method = "get", operation_id = "get_task")]
    async fn get_task(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// Task id.
        #[oai(validator(minimum(value = "1")))]
        id: Path<i64>,
    ) -> Result<TaskFound, GetTaskError> {
        Ok(found(state.tasks.get(&auth.0.user.id, task_id(id.0)?).await?))
    }

    /// Replace a task
    ///
    /// Sets every field (an absent `description` clears it). With `If-Match: <ETag>`, answers
    /// `412 PRECONDITION_FAILED` and changes nothing when the task changed since.
    #[oai(path = "/tasks/:id", method = "put", operation_id = "replace_task")]
    async fn replace_task(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: JsonBody<ReplaceTaskRequest>,
        /// Task id.
        #[oai(validator(minimum(value = "1")))]
        id: Path<i64>,
        /// Only replace if the task's current `ETag` is one of these.
        #[oai(name = "If-Match", validator(max_length = 1024))]
        if_match: Header<Option<String>>,
        /// Makes the request safe to retry: a retry with the same key (for 24 hours) gets the
        /// first answer again instead of writing twice. 1 to 255 visible ASCII characters,
        /// scoped to your user; reusing one for a different request is
        /// `422 IDEMPOTENCY_KEY_REUSED`.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$"))]
        idempotency_key: StrictHeader<Option<String>>,
    ) -> Result<TaskFound, UpdateTaskError> {
        let id = task_id(id.0)?;
        let replacement =
            TaskReplacement::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let key = parse_key(idempotency_key.0.as_deref())?;
        Ok(found(state.tasks.replace(&auth.0.user.id, id, &replacement, &precondition, key.as_ref()).await?))
    }

    /// Update some fields of a task
    ///
    /// Only the fields present change; `"description": null` clears the description. With
    /// `If-Match: <ETag>`, answers `412 PRECONDITION_FAILED` and changes nothing when the task
    /// changed since.
    #[oai(path = "/tasks/:id", method = "patch", operation_id = "update_task")]
    async fn update_task(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: JsonBody<PatchTaskRequest>,
        /// Task id.
        #[oai(validator(minimum(value = "1")))]
        id: Path<i64>,
        /// Only update if the task's current `ETag` is one of these.
        #[oai(name = "If-Match", validator(max_length = 1024))]
        if_match: Header<Option<String>>,
        /// Makes the request safe to retry: a retry with the same key (for 24 hours) gets the
        /// first answer again instead of writing twice. 1 to 255 visible ASCII characters,
        /// scoped to your user; reusing one for a different request is
        /// `422 IDEMPOTENCY_KEY_REUSED`.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$"))]
        idempotency_key: StrictHeader<Option<String>>,
    ) -> Result<TaskFound, UpdateTaskError> {
        let id = task_id(id.0)?;
        let patch = TaskPatch::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let key = parse_key(idempotency_key.0.as_deref())?;
        Ok(found(state.tasks.patch(&auth.0.user.id, id, &patch, &precondition, key.as_ref()).await?))
    }

    /// Delete a task
    ///
    /// Answers 204. With `If-Match: <ETag>`, answers `412 PRECONDITION_FAILED` and deletes
    /// nothing when the task changed since.
    #[oai(path = "/tasks/:id", method = "delete", operation_id = "delete_task")]
    async fn delete_task(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// Task id.
        #[oai(validator(minimum(value = "1")))]
        id: Path<i64>,
        /// Only delete if the task's current `ETag` is one of these.
        #[oai(name = "If-Match", validator(max_length = 1024))]
        if_match: Header<Option<String>>,
        /// Makes the request safe to retry: a retry with the same key (for 24 hours) gets the
        /// first answer again instead of writing twice. 1 to 255 visible ASCII characters,
        /// scoped to your user; reusing one for a different request is
        /// `422 IDEMPOTENCY_KEY_REUSED`.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$"))]
        idempotency_key: StrictHeader<Option<String>>,
    ) -> Result<TaskDeleted, DeleteTaskError> {
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let key = parse_key(idempotency_key.0.as_deref())?;
        state.tasks.delete(&auth.0.user.id, task_id(id.0)?, &precondition, key.as_ref()).await?;
        Ok(TaskDeleted::NoContent)
    }
}
