//! Shared pieces of the tasks tests: a signed-up user who calls `/api/v1/tasks` with a bearer
//! token (like a native app or an SDK), the `task` table read back in one shape on SQLite and
//! PostgreSQL, and assertions on what every task response must look like.
//!
//! Cookie-authenticated (browser) requests are made in the tests themselves, because what they
//! check is exactly which headers such a request carries.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, header_str, plain_client};

/// The collection's path.
pub const TASKS: &str = "/api/v1/tasks";

/// A task's path.
pub fn task_path(id: i64) -> String {
    format!("{TASKS}/{id}")
}

/// A user of the tasks API, authenticated by `Authorization: Bearer` from a client without
/// cookies or `Origin`.
pub struct User<'a> {
    app: &'a TestApp,
    client: Client,
    /// The user's id (`user.id`).
    pub id: String,
    /// The bearer value from `set-auth-token`.
    pub bearer: String,
}

impl<'a> User<'a> {
    /// Signs up a new user through the API.
    pub async fn sign_up(app: &'a TestApp, email: &str) -> Self {
        let client = plain_client();
        let response = client
            .post(app.url("/api/auth/sign-up/email"))
            .json(&json!({"name": "Task User", "email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "sign-up of {email}");
        let bearer = header_str(&response, "set-auth-token").expect("set-auth-token present");
        let body: Value = response.json().await.expect("sign-up answers JSON");
        let id = body["user"]["id"].as_str().expect("user id in the sign-up response").to_owned();
        Self { app, client, id, bearer }
    }

    /// A request carrying this user's bearer token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.app.url(path)).bearer_auth(&self.bearer)
    }

    /// `POST /tasks` with a JSON body.
    pub async fn create(&self, body: &Value) -> Response {
        self.request(Method::POST, TASKS).json(body).send().await.expect("request sent")
    }

    /// Creates a task that must be accepted; returns its JSON.
    pub async fn create_ok(&self, title: &str) -> Value {
        let response = self.create(&json!({"title": title})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {title:?}");
        response.json().await.expect("task JSON")
    }

    /// `GET /tasks/{id}`.
    pub async fn get(&self, id: i64) -> Response {
        self.request(Method::GET, &task_path(id)).send().await.expect("request sent")
    }

    /// `PUT /tasks/{id}` with a JSON body.
    pub async fn put(&self, id: i64, body: &Value) -> Response {
        self.request(Method::PUT, &task_path(id)).json(body).send().await.expect("request sent")
    }

    /// `PATCH /tasks/{id}` with a JSON body.
    pub async fn patch(&self, id: i64, body: &Value) -> Response {
        self.request(Method::PATCH, &task_path(id)).json(body).send().await.expect("request sent")
    }

    /// `DELETE /tasks/{id}`.
    pub async fn delete(&self, id: i64) -> Response {
        self.request(Method::DELETE, &task_path(id)).send().await.expect("request sent")
    }

    /// `GET /tasks?<query>` (`query` already encoded, may be empty).
    pub async fn list(&self, query: &str) -> Response {
        self.request(Method::GET, &format!("{TASKS}?{query}")).send().await.expect("request sent")
    }

    /// One page that must be 200: its items and `next_cursor`.
    pub async fn page(&self, query: &str) -> (Vec<Value>, Option<String>) {
        let response = self.list(query).await;
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
    pub async fn list_all(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                None => query.to_owned(),
                Some(c) => format!("{query}&cursor={c}"),
            };
            let (items, next) = self.page(&query).await;
            assert!(!items.is_empty() || (all.is_empty() && next.is_none()), "an empty page with ?{query}");
            all.extend(items);
            match next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }
}

/// The ids of tasks in a list, in order.
pub fn ids(tasks: &[Value]) -> Vec<i64> {
    tasks.iter().map(|task| task["id"].as_i64().expect("numeric id")).collect()
}

/// A task's id from its JSON.
pub fn id_of(task: &Value) -> i64 {
    task["id"].as_i64().expect("numeric id")
}

/// The `task` row with this id, normalised to the API's shape (`is_completed` a boolean on both
/// databases, timestamps as fixed-width microsecond RFC 3339 text), or `None`.
pub async fn task_row(app: &TestApp, id: i64) -> Option<Value> {
    let rows = app.query(&format!(r#"SELECT {ROW} FROM "task" WHERE "id" = $1"#), vec![id.into()]).await;
    rows.into_iter().next().map(normalise)
}

/// Every `task` row, by id: a snapshot to prove a refused request changed nothing.
pub async fn all_task_rows(app: &TestApp) -> Vec<Value> {
    app.query(&format!(r#"SELECT {ROW} FROM "task" ORDER BY "id""#), vec![]).await.into_iter().map(normalise).collect()
}

/// How many tasks a user owns.
pub async fn task_count(app: &TestApp, owner: &str) -> i64 {
    app.count(r#"SELECT count(*) FROM "task" WHERE "owner_id" = $1"#, vec![owner.into()]).await
}

const ROW: &str = r#""id", "title", "description", "is_completed", "owner_id", "created_at", "updated_at""#;

fn normalise(mut row: Value) -> Value {
    // SQLite stores the flag as 0/1, PostgreSQL as a boolean.
    let completed = match &row["is_completed"] {
        Value::Bool(flag) => *flag,
        Value::Number(n) => n.as_i64() == Some(1),
        other => panic!("is_completed column holds {other}"),
    };
    row["is_completed"] = Value::Bool(completed);
    row
}

/// Asserts that a response carries JSON (`application/json; charset=utf-8`).
pub fn assert_json(response: &Response) {
    let content_type = header_str(response, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content type {content_type:?}");
}

/// The response's `ETag`, which must be a strong entity tag.
pub fn etag(response: &Response) -> String {
    let tag = header_str(response, "etag").expect("ETag header present");
    let hex = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or_default();
    assert!(!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()), "strong ETag, got {tag:?}");
    tag
}

/// Whether a JSON value is a `YYYY-MM-DDTHH:MM:SS.sssZ` timestamp.
pub fn is_iso_millis(value: &Value) -> bool {
    let Some(text) = value.as_str() else { return false };
    let bytes = text.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ".as_bytes();
    bytes.len() == shape.len()
        && bytes.iter().zip(shape).all(|(b, s)| if *s == b'd' { b.is_ascii_digit() } else { b == s })
        && time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok()
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
    let row = task_row(app, id_of(task)).await.expect("the task's row exists");
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
