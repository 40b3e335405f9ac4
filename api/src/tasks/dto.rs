//! Request and response bodies of the tasks API. Field docs become the OpenAPI schema.
//!
//! Requests convert into domain commands with `TryFrom`, which is where validation errors get
//! their field names (`[body.title] …`).

use poem_openapi::{
    Object,
    types::{Example, MaybeUndefined},
};

use crate::{
    http::schema::NullableObject,
    tasks::model::{Change, FeedEntry, NewTask, Task, TaskDescription, TaskPatch, TaskReplacement, TaskTitle},
    timestamp::Timestamp,
    validation::{ValidationError, ValidationErrors},
};

/// Body of `POST /api/v1/tasks`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct CreateTaskRequest {
    /// Title: at most 200 characters as sent, and at least 1 once surrounding whitespace is
    /// trimmed (the trimmed title is stored); no control characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub(crate) title: String,
    /// Optional description: up to 10,000 characters; newlines and tabs allowed, other control
    /// characters not.
    #[oai(nullable, validator(max_length = 10000))]
    pub(crate) description: Option<String>,
}

impl poem_openapi::types::Example for CreateTaskRequest {
    fn example() -> Self {
        Self { title: "Buy milk".to_owned(), description: Some("2 litres, semi-skimmed".to_owned()) }
    }
}

/// Body of `PUT /api/v1/tasks/{id}`: the whole task.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct ReplaceTaskRequest {
    /// Title: at most 200 characters as sent, at least 1 after trimming; no control characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub(crate) title: String,
    /// Description (up to 10,000 characters), or `null`/absent for none.
    #[oai(nullable, validator(max_length = 10000))]
    pub(crate) description: Option<String>,
    /// Whether the task is done.
    pub(crate) is_completed: bool,
}

impl poem_openapi::types::Example for ReplaceTaskRequest {
    fn example() -> Self {
        Self { title: "Buy milk".to_owned(), description: None, is_completed: true }
    }
}

/// Body of `PATCH /api/v1/tasks/{id}`: only the fields present change.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct PatchTaskRequest {
    /// New title (at most 200 characters, at least 1 after trimming). Absent: unchanged.
    #[oai(skip_serializing_if_is_none, validator(min_length = 1, max_length = 200))]
    pub(crate) title: Option<String>,
    /// New description (up to 10,000 characters); `null` clears it. Absent: unchanged.
    #[oai(nullable, validator(max_length = 10000))]
    pub(crate) description: MaybeUndefined<String>,
    /// New completion flag. Absent: unchanged.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) is_completed: Option<bool>,
}

impl poem_openapi::types::Example for PatchTaskRequest {
    fn example() -> Self {
        Self { title: None, description: MaybeUndefined::Undefined, is_completed: Some(true) }
    }
}

/// A task.
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "Task", example)]
pub(crate) struct TaskDto {
    /// Task id (positive integer).
    #[oai(validator(minimum(value = "1")))]
    pub(crate) id: i64,
    /// Title.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub(crate) title: String,
    /// Description, or `null`.
    #[oai(nullable, validator(max_length = 10000))]
    pub(crate) description: Option<String>,
    /// Whether the task is done.
    pub(crate) is_completed: bool,
    /// Id of the user who owns the task.
    #[oai(validator(max_length = 64))]
    pub(crate) owner_id: String,
    /// When the task was created (RFC 3339, UTC).
    pub(crate) created_at: Timestamp,
    /// When the task last changed (RFC 3339, UTC).
    pub(crate) updated_at: Timestamp,
}

impl From<Task> for TaskDto {
    fn from(task: Task) -> Self {
        Self {
            id: task.id.get(),
            title: task.title,
            description: task.description,
            is_completed: task.is_completed,
            owner_id: task.owner_id.into_string(),
            created_at: task.created_at.into(),
            updated_at: task.updated_at.into(),
        }
    }
}

/// One page of tasks, newest first.
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "TaskPage", example)]
pub(crate) struct TaskPage {
    /// The tasks on this page (at most `limit`).
    #[oai(validator(max_items = 100))]
    pub(crate) items: Vec<TaskDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable, validator(max_length = 256))]
    pub(crate) next_cursor: Option<String>,
}

/// One change of the change feed: a task created or changed (with its current version), or a
/// task deleted.
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "TaskChange", example)]
pub(crate) struct TaskChangeDto {
    /// The task's id.
    #[oai(validator(minimum(value = "1")))]
    pub(crate) id: i64,
    /// `true` when the task was deleted (then `task` is `null`).
    pub(crate) deleted: bool,
    /// The task's current version; `null` when it was deleted.
    pub(crate) task: NullableObject<TaskDto>,
}

impl From<FeedEntry> for TaskChangeDto {
    fn from(entry: FeedEntry) -> Self {
        match entry.change {
            Change::Upsert(task) => Self { id: task.id.get(), deleted: false, task: NullableObject(Some(task.into())) },
            Change::Delete(id) => Self { id: id.get(), deleted: true, task: NullableObject(None) },
        }
    }
}

/// The changes since a sync cursor, oldest first.
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "TaskChanges", example)]
pub(crate) struct TaskChangesDto {
    /// The changes, oldest first; each task at most once, in its current version.
    #[oai(validator(max_items = 100))]
    pub(crate) changes: Vec<TaskChangeDto>,
    /// Pass as `since` to continue (store it for the next sync; also when `changes` is empty).
    #[oai(validator(max_length = 256))]
    pub(crate) next_cursor: String,
    /// Whether more changes are waiting: ask again with `next_cursor` right away.
    pub(crate) has_more: bool,
}

/// One event of the live-update stream: a change, and the cursor after it (also the event's
/// SSE `id`, which `Last-Event-ID` and the change feed's `since` accept).
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "TaskEvent", example)]
pub(crate) struct TaskEventDto {
    /// The task's id.
    #[oai(validator(minimum(value = "1")))]
    pub(crate) id: i64,
    /// `true` when the task was deleted (then `task` is `null`).
    pub(crate) deleted: bool,
    /// The task's current version; `null` when it was deleted.
    pub(crate) task: NullableObject<TaskDto>,
    /// Resumes after this event: as `Last-Event-ID`, or as `since` of the change feed.
    #[oai(validator(max_length = 256))]
    pub(crate) cursor: String,
}

impl TaskEventDto {
    /// The event of a feed entry and the cursor after it.
    pub(crate) fn new(entry: FeedEntry, cursor: String) -> Self {
        let TaskChangeDto { id, deleted, task } = entry.into();
        Self { id, deleted, task, cursor }
    }
}

impl Example for TaskEventDto {
    fn example() -> Self {
        Self {
            id: 42,
            deleted: false,
            task: NullableObject(Some(TaskDto::example())),
            cursor: "MTcuMTc2NDMxMjk5OC5SYW5kb21ITUFD".to_owned(),
        }
    }
}

impl Example for TaskChangeDto {
    fn example() -> Self {
        Self { id: 42, deleted: false, task: NullableObject(Some(TaskDto::example())) }
    }
}

impl Example for TaskChangesDto {
    fn example() -> Self {
        Self {
            changes: vec![
                TaskChangeDto::example(),
                TaskChangeDto { id: 41, deleted: true, task: NullableObject(None) },
            ],
            next_cursor: "MTcuMTc2NDMxMjk5OC5SYW5kb21ITUFD".to_owned(),
            has_more: false,
        }
    }
}

impl Example for TaskDto {
    fn example() -> Self {
        let at: Timestamp = time::macros::datetime!(2026-11-28 06:36:28.087 UTC).into();
        Self {
            id: 42,
            title: "Buy milk".to_owned(),
            description: Some("2 litres, semi-skimmed".to_owned()),
            is_completed: false,
            owner_id: "sRrjlKcO9hEwQWsKmIl2lBuGpFImfHlm".to_owned(),
            created_at: at,
            updated_at: at,
        }
    }
}

impl Example for TaskPage {
    fn example() -> Self {
        Self { items: vec![TaskDto::example()], next_cursor: Some("NDEuUmFuZG9tSE1BQw".to_owned()) }
    }
}

fn located<T>(result: Result<T, ValidationError>, errors: &mut Vec<ValidationError>) -> Option<T> {
    result.map_err(|err| errors.push(err.in_body())).ok()
}

fn description(raw: Option<String>, errors: &mut Vec<ValidationError>) -> Option<Option<TaskDescription>> {
    match raw {
        None => Some(None),
        Some(text) => located(TaskDescription::parse(&text), errors).map(Some),
    }
}

impl TryFrom<CreateTaskRequest> for NewTask {
    type Error = ValidationErrors;

    fn try_from(request: CreateTaskRequest) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let title = located(TaskTitle::parse(&request.title), &mut errors);
        let description = description(request.description, &mut errors);
        match (title, description) {
            (Some(title), Some(description)) => Ok(Self { title, description }),
            _ => Err(ValidationErrors(errors)),
        }
    }
}

impl TryFrom<ReplaceTaskRequest> for TaskReplacement {
    type Error = ValidationErrors;

    fn try_from(request: ReplaceTaskRequest) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let title = located(TaskTitle::parse(&request.title), &mut errors);
        let description = description(request.description, &mut errors);
        match (title, description) {
            (Some(title), Some(description)) => Ok(Self { title, description, is_completed: request.is_completed }),
            _ => Err(ValidationErrors(errors)),
        }
    }
}

impl TryFrom<PatchTaskRequest> for TaskPatch {
    type Error = ValidationErrors;

    fn try_from(request: PatchTaskRequest) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let title = match request.title {
            None => Some(None),
            Some(text) => located(TaskTitle::parse(&text), &mut errors).map(Some),
        };
        let description = match request.description {
            MaybeUndefined::Undefined => Some(None),
            MaybeUndefined::Null => Some(Some(None)),
            MaybeUndefined::Value(text) => located(TaskDescription::parse(&text), &mut errors).map(|d| Some(Some(d))),
        };
        match (title, description) {
            (Some(title), Some(description)) => Ok(Self { title, description, is_completed: request.is_completed }),
            _ => Err(ValidationErrors(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;
    use time::macros::datetime;

    use super::*;

    fn task(id: i64, description: Option<&str>) -> TaskDto {
        TaskDto {
            id,
            title: "Ünïcode \"quoted\" \\ title 🦀".to_owned(),
            description: description.map(str::to_owned),
            is_completed: id % 2 == 0,
            owner_id: "u1".to_owned(),
            created_at: Timestamp::new(datetime!(2026-11-28 06:36:38.123456 +02:00)),
            updated_at: Timestamp::new(datetime!(2026-11-28 07:00:00 UTC)),
        }
    }

    fn assert_same(value: &(impl serde::Serialize + ToJSON)) {
        let serde = serde_json::to_value(value).expect("serializes");
        assert_eq!(Some(serde), value.to_json());
    }

    /// The task responses are written with serde (`SerdeJson`); they must be exactly what the
    /// OpenAPI types describe and would write.
    #[test]
    fn serde_output_equals_the_openapi_json() {
        assert_same(&task(1, Some("line\nbreak\ttab")));
        assert_same(&task(2, None));
        for next_cursor in [None, Some("MzAuRWNta2ZLN1Ytc1JuY0xjNA".to_owned())] {
            assert_same(&TaskPage { items: vec![task(3, None), task(4, Some(""))], next_cursor });
        }
        assert_same(&TaskPage { items: Vec::new(), next_cursor: None });
        assert_same(&TaskChangesDto::example());
        assert_same(&TaskChangesDto { changes: Vec::new(), next_cursor: "x".to_owned(), has_more: true });
        assert_same(&TaskEventDto::example());
    }
}
