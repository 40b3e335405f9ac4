//! The tasks API as a user calls it (`impl User`: create, read, replace, update, delete, list,
//! walk every page), and what every task response must look like on the wire and in the table.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{http::header_str, server::TestApp, users::User, wire::is_iso_millis};

/// The collection's path.
pub const TASKS: &str = "/api/v1/tasks";

/// A task's path.
pub fn task_path(id: i64) -> String {
    format!("{TASKS}/{id}")
}

impl User {
    /// `POST /tasks` with a JSON body.
    pub async fn create_task(&self, body: &Value) -> Response {
        self.post(TASKS, body).await
    }

    /// Creates a task that must be accepted; returns its JSON.
    pub async fn create_task_ok(&self, title: &str) -> Value {
        let response = self.create_task(&json!({"title": title})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {title:?}");
        response.json().await.expect("task JSON")
    }

    /// `GET /tasks/{id}`.
    pub async fn get_task(&self, id: i64) -> Response {
        self.get(&task_path(id)).await
    }

    /// `PUT /tasks/{id}` with a JSON body.
    pub async fn put_task(&self, id: i64, body: &Value) -> Response {
        self.request(Method::PUT, &task_path(id)).json(body).send().await.expect("request sent")
    }

    /// `PATCH /tasks/{id}` with a JSON body.
    pub async fn patch_task(&self, id: i64, body: &Value) -> Response {
        self.request(Method::PATCH, &task_path(id)).json(body).send().await.expect("request sent")
    }

    /// `DELETE /tasks/{id}`.
    pub async fn delete_task(&self, id: i64) -> Response {
        self.request(Method::DELETE, &task_path(id)).send().await.expect("request sent")
    }

    /// `GET /tasks?<query>` (`query` already encoded, may be empty).
    pub async fn list_tasks(&self, query: &str) -> Response {
        self.get(&format!("{TASKS}?{query}")).await
    }

    /// One page that must be 200: its items and `next_cursor`.
    pub async fn task_page(&self, query: &str) -> (Vec<Value>, Option<String>) {
        let response = self.list_tasks(query).await;
        assert_eq!(response.status(), StatusCode::OK, "list ?{query}");
        let body: Value = response.json().await.expect("page JSON");
        let items = body["items"].as_array().expect("items is an array").clone();
        let next = match &body["next_cursor"] {
            Value::Null => None,
            Value::String(cursor) => Some(cursor.clone()),
            other => panic!("next_cursor must be a string or null, got {other}"),
        };
        (items, next)
    }

    /// Every task on every page of `GET /tasks?<query>`, following `next_cursor`.
    pub async fn all_tasks(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                None => query.to_owned(),
                Some(c) => format!("{query}&cursor={c}"),
            };
            let (items, next) = self.task_page(&query).await;
            assert!(!items.is_empty() || (all.is_empty() && next.is_none()), "an empty page with ?{query}");
            all.extend(items);
            match next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }
}

/// The change feed's path.
pub const CHANGES: &str = "/api/v1/tasks/changes";

/// One answer of the change feed.
#[derive(Debug)]
pub struct ChangesPage {
    /// The changes, oldest first.
    pub changes: Vec<Value>,
    /// Where the next sync continues.
    pub next_cursor: String,
    /// Whether more changes are waiting.
    pub has_more: bool,
}

impl User {
    /// `GET /tasks/changes` with an optional `since` and `limit`.
    pub async fn changes(&self, since: Option<&str>, limit: Option<u32>) -> Response {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("since", since.to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        self.request(Method::GET, CHANGES).query(&query).send().await.expect("request sent")
    }

    /// One page of changes that must be 200.
    pub async fn changes_page(&self, since: Option<&str>, limit: Option<u32>) -> ChangesPage {
        let response = self.changes(since, limit).await;
        assert_eq!(response.status(), StatusCode::OK, "changes since {since:?}");
        let body: Value = response.json().await.expect("changes JSON");
        let changes = body["changes"].as_array().expect("changes is an array").clone();
        for change in &changes {
            let deleted = change["deleted"].as_bool().expect("deleted is a boolean");
            assert_eq!(change["task"].is_null(), deleted, "a deletion has no task, an upsert has one: {change}");
            if !deleted {
                assert_eq!(change["id"], change["task"]["id"], "{change}");
            }
        }
        ChangesPage {
            changes,
            next_cursor: body["next_cursor"].as_str().expect("next_cursor is a string").to_owned(),
            has_more: body["has_more"].as_bool().expect("has_more is a boolean"),
        }
    }

    /// Every change since `since`, following `has_more`; the changes and the cursor to keep.
    pub async fn sync(&self, since: Option<&str>, limit: Option<u32>) -> (Vec<Value>, String) {
        let mut all = Vec::new();
        let mut cursor = since.map(str::to_owned);
        loop {
            let page = self.changes_page(cursor.as_deref(), limit).await;
            all.extend(page.changes);
            cursor = Some(page.next_cursor);
            if !page.has_more {
                return (all, cursor.unwrap_or_default());
            }
        }
    }
}

/// The ids of tasks in a list, in order.
pub fn ids(tasks: &[Value]) -> Vec<i64> {
    tasks.iter().map(id_of).collect()
}

/// A task's id from its JSON.
pub fn id_of(task: &Value) -> i64 {
    task["id"].as_i64().expect("numeric id")
}

/// The response's `ETag`, which must be a strong entity tag.
pub fn etag(response: &Response) -> String {
    let tag = header_str(response, "etag").expect("ETag header present");
    let hex = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or_default();
    assert!(!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()), "strong ETag, got {tag:?}");
    tag
}

/// Asserts a task body has exactly the documented fields with the documented kinds, and equals
/// its row in the database (the row keeps microseconds; the API shows milliseconds).
pub async fn assert_task_stored(app: &TestApp, task: &Value) {
    let object = task.as_object().expect("a task is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created_at", "description", "id", "is_completed", "owner_id", "title", "updated_at"],
        "task fields: {task}"
    );
    assert!(id_of(task) > 0, "positive id: {task}");
    assert!(task["title"].is_string() && task["owner_id"].is_string(), "{task}");
    assert!(task["description"].is_string() || task["description"].is_null(), "{task}");
    assert!(task["is_completed"].is_boolean(), "{task}");
    assert!(is_iso_millis(&task["created_at"]) && is_iso_millis(&task["updated_at"]), "timestamps: {task}");
    let row = app.db.task_row(id_of(task)).await.expect("the task's row exists");
    for field in ["id", "title", "description", "is_completed", "owner_id"] {
        assert_eq!(task[field], row[field], "{field}: API {task} vs row {row}");
    }
    for field in ["created_at", "updated_at"] {
        let stored = row[field].as_str().expect("timestamp text");
        let shown = task[field].as_str().expect("timestamp text");
        // `…HH:MM:SS.mmmuuuZ` in the row, `…HH:MM:SS.mmmZ` on the wire.
        assert_eq!(format!("{}Z", &stored[..23]), shown, "{field}: API {task} vs row {row}");
    }
}
