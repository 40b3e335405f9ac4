//! The tasks API at `/api/v1/tasks`: HTTP shape only. Identity comes solely from
//! [`SessionAuth`] (cookie or bearer); nothing a client sends, such as an `X-User-Id` header,
//! can choose the user. Another user's task is answered exactly like a missing one.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
};

use crate::{
    api_errors,
    app::{ApiTags, AppState},
    auth::{error::AuthError, guard::SessionAuth},
    db::is_foreign_key_violation,
    http::{body::JsonBody, schema::SerdeJson},
    tasks::{
        dto::{CreateTaskRequest, PatchTaskRequest, ReplaceTaskRequest, TaskDto, TaskPage},
        model::{
            Cursor, DEFAULT_LIMIT, NewTask, Precondition, Task, TaskError, TaskId, TaskPatch, TaskReplacement,
            search_pattern,
        },
        repo::{self, ListFilter, Written},
    },
    timestamp::now_micros,
};

/// Operations under `/api/v1/tasks`.
pub struct TasksApi;

api_errors!(
    /// Errors of `GET /tasks`.
    ListTasksError: 401, 422, 503
);
api_errors!(
    /// Errors of `POST /tasks`.
    CreateTaskError: 400, 401, 403, 413, 415, 422, 503
);
api_errors!(
    /// Errors of `GET /tasks/{id}`.
    GetTaskError: 401, 404, 422, 503
);
api_errors!(
    /// Errors of `PUT` and `PATCH /tasks/{id}`.
    UpdateTaskError: 400, 401, 403, 404, 412, 413, 415, 422, 503
);
api_errors!(
    /// Errors of `DELETE /tasks/{id}`.
    DeleteTaskError: 401, 403, 404, 412, 422, 503
);

/// One page of tasks.
#[derive(ApiResponse)]
pub enum TaskList {
    /// Success
    #[oai(status = 200)]
    Ok(SerdeJson<TaskPage>),
}

/// A created task.
#[derive(ApiResponse)]
pub enum TaskCreated {
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
pub enum TaskFound {
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
pub enum TaskDeleted {
    /// The task was deleted.
    #[oai(status = 204)]
    NoContent,
}

fn found(task: Task) -> TaskFound {
    let etag = task.etag().to_string();
    TaskFound::Ok(SerdeJson(task.into()), etag)
}

/// The task id from the path; one that cannot exist is a missing task.
fn task_id(raw: i64) -> Result<TaskId, TaskError> {
    TaskId::parse(raw).ok_or(TaskError::NotFound)
}

/// Turns a conditional write's outcome into the task or the matching error.
fn written(outcome: Written) -> Result<Task, TaskError> {
    match outcome {
        Written::Done(task) => Ok(task),
        Written::Stale => Err(TaskError::PreconditionFailed),
        Written::Missing => Err(TaskError::NotFound),
    }
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
        let user_id = &auth.0.user.id;
        let secret = &state.config.auth_secret;
        let before = cursor.0.map(|c| Cursor::decode(&c, user_id, secret).map_err(|e| e.in_query())).transpose();
        let title_pattern = q.0.map(|q| search_pattern(&q).map_err(|e| e.in_query())).transpose();
        let filter = ListFilter {
            before: before.map_err(TaskError::from)?,
            completed: completed.0,
            title_pattern: title_pattern.map_err(TaskError::from)?,
        };
        let limit = limit.0.and_then(|l| u64::try_from(l).ok()).unwrap_or(DEFAULT_LIMIT);
        let mut tasks = repo::list(&state.db, user_id, &filter, limit + 1).await?;
        let next_cursor = if tasks.len() as u64 > limit {
            tasks.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            tasks.last().map(|last| Cursor::encode(last.id, user_id, secret))
        } else {
            None
        };
        Ok(TaskList::Ok(SerdeJson(TaskPage { items: tasks.into_iter().map(TaskDto::from).collect(), next_cursor })))
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
    ) -> Result<TaskCreated, CreateTaskError> {
        let task = NewTask::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let limit = state.config.tasks.per_user_limit;
        let created = match repo::create(&state.db, &auth.0.user.id, &task, limit, now_micros()).await {
            Ok(created) => created.ok_or(TaskError::LimitReached { limit })?,
            // The user was deleted behind the session's back (e.g. directly in SQL): no session.
            Err(err) if is_foreign_key_violation(&err) => {
                state.session_cache.invalidate_user(&auth.0.user.id);
                return Err(AuthError::Unauthorized { set_cookies: Vec::new() }.into());
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(user.id = %auth.0.user.id, task.id = created.id.get(), "task created");
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
        let task = repo::get(&state.db, &auth.0.user.id, task_id(id.0)?).await?.ok_or(TaskError::NotFound)?;
        Ok(found(task))
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
    ) -> Result<TaskFound, UpdateTaskError> {
        let id = task_id(id.0)?;
        let replacement =
            TaskReplacement::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let outcome = repo::replace(&state.db, &auth.0.user.id, id, &replacement, &precondition, now_micros()).await?;
        Ok(found(written(outcome)?))
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
    ) -> Result<TaskFound, UpdateTaskError> {
        let id = task_id(id.0)?;
        let patch = TaskPatch::try_from(body.parse_strict().map_err(TaskError::from)?).map_err(TaskError::from)?;
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let owner = &auth.0.user.id;
        if patch.is_empty() {
            // Nothing to change: answer with the current version, still honouring If-Match.
            let task = repo::get(&state.db, owner, id).await?.ok_or(TaskError::NotFound)?;
            let current = task.etag();
            return match precondition {
                Precondition::OneOf(tags) if !tags.contains(&current) => Err(TaskError::PreconditionFailed.into()),
                _ => Ok(found(task)),
            };
        }
        let outcome = repo::patch(&state.db, owner, id, &patch, &precondition, now_micros()).await?;
        Ok(found(written(outcome)?))
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
    ) -> Result<TaskDeleted, DeleteTaskError> {
        let precondition = Precondition::from_if_match(if_match.0.as_deref());
        let deleted = written(repo::delete(&state.db, &auth.0.user.id, task_id(id.0)?, &precondition).await?)?;
        tracing::info!(user.id = %auth.0.user.id, task.id = deleted.id.get(), "task deleted");
        Ok(TaskDeleted::NoContent)
    }
}
