//! Input torture on every operation (issue 7): a table of hostile inputs × every operation in
//! the served OpenAPI document (read at run time, so a new route is tortured too).
//!
//! Rules checked on every single request:
//! - never a 5xx (the server answers, with a client error or a success);
//! - an answer that is not a success changes nothing in the database;
//! - inputs that are invalid by construction (NUL, invalid UTF-8, oversized, deeply nested,
//!   out-of-range numbers, wrong types, traversal in ids, bad `If-Match`) get a 4xx;
//! - a bystander user's rows never change, whatever the request did.
//!
//! Requests carry the tortured user's bearer token, so they get past authentication and the
//! origin check into parsing, validation and the database. Failures are collected and reported
//! together, one line per request.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::support::{
    db::{snapshot_diff, without_refused_sign_ins},
    http::{ClientOptions, plain_client},
    server::TestApp,
    users::{PASSWORD, User},
};

/// How strict a case is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Invalid by construction: a 4xx, and nothing changes.
    Refused,
    /// Possibly valid (e.g. SQL metacharacters in a free-text field): no 5xx; a non-success
    /// changes nothing; a success may change the tortured user's own data.
    NoServerError,
}

/// A request body.
#[derive(Clone)]
enum Payload {
    None,
    Raw { content_type: &'static str, bytes: Vec<u8> },
}

impl Payload {
    fn json_text(text: String) -> Self {
        Self::Raw { content_type: "application/json", bytes: text.into_bytes() }
    }

    fn json_bytes(bytes: Vec<u8>) -> Self {
        Self::Raw { content_type: "application/json", bytes }
    }
}

/// One operation from the spec.
#[derive(Clone, Debug)]
struct Operation {
    method: Method,
    template: String,
    id: String,
    /// Body properties `(name, type)`, when the operation takes a JSON body.
    body: Option<Vec<(String, String)>>,
    form: bool,
    query: Vec<(String, String)>,
    headers: Vec<String>,
    path_params: Vec<String>,
}

impl Operation {
    fn is_write(&self) -> bool {
        self.method != Method::GET
    }

    /// Whether a success sends mail (and writes its token row after answering).
    fn sends_mail(&self) -> bool {
        ["password-reset", "verification-email", "change-email"].iter().any(|p| self.template.contains(p))
    }

    /// Whether a refusal is counted in the database: a wrong second factor counts against its
    /// attempts and the user's failure budget (issue 16), in `verification` and `twoFactor` only.
    fn counts_refusals(&self) -> bool {
        self.template.starts_with("/api/auth/two-factor/verify-")
    }
}

/// Whether two snapshots differ only in the tables where refused second factors are counted.
fn only_counters_changed(before: &Value, after: &Value) -> bool {
    let strip = |all: &Value| {
        let mut all = all.clone();
        if let Some(tables) = all.as_object_mut() {
            tables.remove("verification");
            tables.remove("twoFactor");
        }
        all
    };
    strip(before) == strip(after)
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn properties(spec: &Value, schema: &Value) -> Vec<(String, String)> {
    let schema = resolve(spec, schema);
    let Some(props) = schema["properties"].as_object() else { return Vec::new() };
    props
        .iter()
        .map(|(name, prop)| {
            let prop = resolve(spec, prop);
            let ty = prop["type"]
                .as_str()
                .or_else(|| prop["allOf"][0]["type"].as_str())
                .unwrap_or(if prop["allOf"].is_array() || prop["$ref"].is_string() { "object" } else { "string" });
            (name.clone(), ty.to_owned())
        })
        .collect()
}

/// Every operation of the served spec.
async fn operations(app: &TestApp) -> Vec<Operation> {
    let spec: Value =
        plain_client().get(app.url("/openapi.json")).send().await.expect("spec").json().await.expect("json");
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            // An event stream answers 200 and then never ends; its hostile inputs are tried in
            // `tasks_events` (bad, foreign and expired `Last-Event-ID`).
            if op["responses"]["200"]["content"]["text/event-stream"].is_object() {
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let of_kind = |kind: &str| -> Vec<(String, String)> {
                params
                    .iter()
                    .filter(|p| p["in"] == kind)
                    .map(|p| {
                        let name = p["name"].as_str().expect("param name").to_owned();
                        (name, p["schema"]["type"].as_str().unwrap_or("string").to_owned())
                    })
                    .collect()
            };
            let content = &op["requestBody"]["content"];
            let body = content["application/json"]["schema"]
                .as_object()
                .map(|_| properties(&spec, &content["application/json"]["schema"]));
            out.push(Operation {
                method: method.to_uppercase().parse().expect("method"),
                template: path.clone(),
                id: op["operationId"].as_str().unwrap_or(path).to_owned(),
                body,
                form: content["application/x-www-form-urlencoded"].is_object(),
                query: of_kind("query"),
                headers: of_kind("header").into_iter().map(|(n, _)| n).collect(),
                path_params: of_kind("path").into_iter().map(|(n, _)| n).collect(),
            });
        }
    }
    assert!(out.len() >= 20, "the spec lists the service's operations: {}", out.len());
    out
}

/// The tortured user, a bystander, and what to compare.
struct Bench {
    app: TestApp,
    http: Client,
    victim: User,
    password: String,
    task_id: i64,
    bystander: User,
    bystander_rows: Value,
    /// The database as of the end of the previous request.
    last: Value,
    failures: Vec<String>,
    requests: usize,
}

const VICTIM: &str = "torture-victim@example.com";

impl Bench {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let victim = User::sign_up(&app, VICTIM).await;
        let bystander = User::sign_up(&app, "torture-bystander@example.com").await;
        let http = ClientOptions::default().no_redirects().timeout(Duration::from_secs(60)).build();
        let mut bench = Self {
            app,
            http,
            victim,
            password: PASSWORD.to_owned(),
            task_id: 0,
            bystander,
            bystander_rows: Value::Null,
            last: Value::Null,
            failures: Vec::new(),
            requests: 0,
        };
        bench.create_task_for(&bench.bystander.clone(), "the bystander's task").await;
        bench.task_id = bench.create_task_for(&bench.victim.clone(), "the victim's task").await;
        bench.last = bench.app.db.snapshot().await;
        bench.bystander_rows = bench.bystander_view(&bench.last);
        bench
    }

    async fn create_task_for(&self, account: &User, title: &str) -> i64 {
        let response = account.create_task(&json!({"title": title, "description": "intact"})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.expect("json")["id"].as_i64().expect("id")
    }

    /// The bystander's rows in every table of a snapshot.
    fn bystander_view(&self, all: &Value) -> Value {
        let id = Value::String(self.bystander.id.clone());
        let mine = |table: &str, column: &str| -> Value {
            Value::Array(all[table].as_array().expect("rows").iter().filter(|r| r[column] == id).cloned().collect())
        };
        json!({
            "user": mine("user", "id"),
            "session": mine("session", "userId"),
            "account": mine("account", "userId"),
            "task": mine("task", "owner_id"),
        })
    }

    /// Waits until the database stops changing: operations that send mail store their token in
    /// the background, after answering (so their timing reveals nothing).
    async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut previous = self.app.db.snapshot().await;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.app.db.snapshot().await;
            if now == previous || std::time::Instant::now() > deadline {
                return;
            }
            previous = now;
        }
    }

    /// After a successful write: make sure the victim still has a session and a task.
    async fn restore(&mut self) {
        let response = plain_client()
            .get(self.app.url("/api/auth/get-session"))
            .header("authorization", self.victim.authorization())
            .send()
            .await
            .expect("get-session");
        let alive = response.json::<Value>().await.unwrap_or(Value::Null)["user"]["id"] == self.victim.id.as_str();
        if !alive {
            let response = plain_client()
                .post(self.app.url("/api/auth/sign-in/email"))
                .json(&json!({"email": VICTIM, "password": self.password}))
                .send()
                .await
                .expect("sign-in");
            self.victim = if response.status() == StatusCode::OK {
                User::sign_in(&self.app, VICTIM, &self.password).await
            } else {
                self.password = PASSWORD.to_owned();
                User::sign_up(&self.app, VICTIM).await
            };
        }
        let task = plain_client()
            .get(self.app.url(&format!("/api/v1/tasks/{}", self.task_id)))
            .header("authorization", self.victim.authorization())
            .send()
            .await
            .expect("get task");
        if task.status() != StatusCode::OK {
            self.task_id = self.create_task_for(&self.victim.clone(), "the victim's task").await;
        }
    }

    /// A valid-looking value for a field, so the one hostile field is what gets tested.
    fn base_value(&self, name: &str, ty: &str) -> Value {
        match ty {
            "boolean" => json!(false),
            "integer" | "number" => json!(1),
            "object" => json!({}),
            "array" => json!([]),
            _ => match name {
                "email" => json!(VICTIM),
                "newEmail" => json!("torture-new@example.com"),
                "password" | "currentPassword" | "newPassword" => json!(self.password),
                "title" => json!("torture title"),
                "description" => json!("torture description"),
                "name" => json!("Torture"),
                "image" => json!("https://example.com/a.png"),
                "callbackURL" | "redirectTo" => json!("/after"),
                _ => json!("not-a-real-token"),
            },
        }
    }

    fn base_body(&self, op: &Operation) -> Map<String, Value> {
        op.body.iter().flatten().map(|(name, ty)| (name.clone(), self.base_value(name, ty))).collect()
    }

    /// The operation's path with its parameters filled in (`overrides` are already encoded).
    fn path(&self, op: &Operation, overrides: &[(&str, &str)]) -> String {
        let mut path = op.template.clone();
        for name in &op.path_params {
            let value =
                overrides.iter().find(|(n, _)| n == name).map(|(_, v)| (*v).to_owned()).unwrap_or_else(|| {
                    if name == "id" { self.task_id.to_string() } else { "not-a-real-token".to_owned() }
                });
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        path
    }

    /// Sends one request and checks the rules; `what` names it in failures.
    #[expect(clippy::too_many_arguments, reason = "one request's parts, each varied by some case")]
    async fn check(
        &mut self,
        op: &Operation,
        what: &str,
        expect: Expect,
        path: &str,
        query: &str,
        headers: &[(&str, String)],
        payload: &Payload,
    ) {
        self.requests += 1;
        let before = std::mem::take(&mut self.last);
        let url = if query.is_empty() { self.app.url(path) } else { format!("{}?{query}", self.app.url(path)) };
        let mut request =
            self.http.request(op.method.clone(), &url).header("authorization", self.victim.authorization());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        if let Payload::Raw { content_type, bytes } = payload {
            request = request.header("content-type", *content_type).body(bytes.clone());
        }
        let label = format!("{} {} ({}) [{what}]", op.method, op.template, op.id);
        let answer = match payload {
            // reqwest gives up on a request whose body the server refused to read (it reports the
            // broken pipe, not the answer), so big bodies go over a plain socket.
            Payload::Raw { content_type, bytes } if bytes.len() > 1024 * 1024 => {
                let mut all_headers =
                    vec![("authorization", self.victim.authorization()), ("content-type", (*content_type).to_owned())];
                all_headers.extend(headers.iter().map(|(n, v)| (*n, v.clone())));
                let target = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
                raw_request(self.app.addr, op.method.as_str(), &target, &all_headers, bytes.clone()).await
            }
            _ => match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    Ok((status, response.text().await.unwrap_or_default()))
                }
                Err(err) => Err(err.to_string()),
            },
        };
        let status = match answer {
            Ok((status, body)) => {
                if status.is_server_error() {
                    self.failures.push(format!("{label}: {status} {}", truncate(&body)));
                } else if expect == Expect::Refused && !status.is_client_error() {
                    self.failures.push(format!("{label}: expected a 4xx, got {status} {}", truncate(&body)));
                }
                status
            }
            Err(err) => {
                self.failures.push(format!("{label}: no HTTP answer: {}", truncate(&err)));
                self.last = self.app.db.snapshot().await;
                return;
            }
        };
        let after = self.app.db.snapshot().await;
        let success = status.is_success() || status.is_redirection();
        // A refused sign-in records its refusal (the audit trail); a refused second factor counts
        // its attempt; nothing else may change.
        let (before_rest, after_rest) = (without_refused_sign_ins(&before), without_refused_sign_ins(&after));
        let changed = before_rest != after_rest;
        let counted = !success && op.counts_refusals() && only_counters_changed(&before_rest, &after_rest);
        if changed && (!success || expect == Expect::Refused) && !counted {
            self.failures.push(format!(
                "{label}: {status} but the database changed: {}",
                truncate(&snapshot_diff(&before, &after))
            ));
        }
        let bystander = self.bystander_view(&after);
        if bystander != self.bystander_rows {
            self.failures.push(format!("{label}: the bystander's rows changed"));
            self.bystander_rows = bystander;
        }
        self.last = after;
        if success && op.is_write() {
            if op.sends_mail() {
                self.settle().await;
            }
            self.restore().await;
            self.last = self.app.db.snapshot().await;
        }
    }

    fn finish(self, what: &str) {
        eprintln!("input torture ({what}): {} requests, {} failures", self.requests, self.failures.len());
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} requests broke a rule:\n{}",
            self.failures.len(),
            self.requests,
            self.failures.join("\n")
        );
    }
}

/// One request over a plain socket (chunked when the headers say so, else with
/// `Content-Length`): the whole body is offered (write errors once the server
/// stops reading are expected), then the answer is read. Returns the status and body.
async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(StatusCode, String), String> {
    use std::io::{Read, Write};
    let chunked = headers.iter().any(|(name, _)| *name == "transfer-encoding");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !chunked {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        stream.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        let _ = stream.write_all(&body);
        let mut response = Vec::new();
        let read = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| format!("no HTTP answer ({read:?}): {}", truncate(&text)))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok((status, body))
    })
    .await
    .map_err(|e| e.to_string())?
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A JSON object text with `field` set to raw JSON text `raw` (which need not be valid JSON).
fn splice(base: &Map<String, Value>, field: &str, raw: &str) -> String {
    let mut parts: Vec<String> = base
        .iter()
        .filter(|(name, _)| name.as_str() != field)
        .map(|(name, value)| format!("{}:{value}", Value::String(name.clone())))
        .collect();
    parts.push(format!("{}:{raw}", Value::String(field.to_owned())));
    format!("{{{}}}", parts.join(","))
}

/// Hostile strings: SQL metacharacters and friends (possibly valid text).
const SQL: [&str; 4] = [
    "' OR 1=1 --",
    "\"; DROP TABLE task; --",
    "x'); DELETE FROM \"user\"; --",
    "%_\\' UNION SELECT \"token\" FROM \"session\" --",
];

const TEN_MB: usize = 10 * 1024 * 1024;

/// Body cases of one operation.
async fn torture_bodies(bench: &mut Bench, op: &Operation) {
    let Some(fields) = op.body.clone() else {
        if op.is_write() {
            // No declared body: hostile bodies are still sent and must be harmless.
            for (what, payload) in whole_body_cases(None) {
                let path = bench.path(op, &[]);
                bench.check(op, what, Expect::NoServerError, &path, "", &[], &payload).await;
            }
        }
        return;
    };
    let path = bench.path(op, &[]);
    let base = bench.base_body(op);
    let first_field = fields.first().map(|(name, _)| name.clone());
    for (what, payload) in whole_body_cases(first_field.as_deref()) {
        let expect = if what.starts_with("top-level") { Expect::NoServerError } else { Expect::Refused };
        bench.check(op, what, expect, &path, "", &[], &payload).await;
    }
    for (field, ty) in &fields {
        let numeric = matches!(ty.as_str(), "integer" | "number");
        let mut cases: Vec<(String, Expect, String)> = vec![
            (format!("{field} = 1e309"), Expect::Refused, splice(&base, field, "1e309")),
            (format!("{field} = -1e309"), Expect::Refused, splice(&base, field, "-1e309")),
            (
                format!("{field} = 2^64"),
                if numeric { Expect::NoServerError } else { Expect::Refused },
                splice(&base, field, "18446744073709551616"),
            ),
            (
                format!("{field} = -0"),
                if numeric { Expect::NoServerError } else { Expect::Refused },
                splice(&base, field, "-0"),
            ),
            (
                format!("duplicate key {field}"),
                Expect::NoServerError,
                format!(
                    "{},{}:{}}}",
                    splice(&base, field, "\"first\"").trim_end_matches('}'),
                    Value::String(field.clone()),
                    base[field]
                ),
            ),
        ];
        if ty == "string" {
            cases.push((format!("{field} with \\u0000"), Expect::Refused, splice(&base, field, r#""a\u0000b""#)));
            cases.push((format!("{field} = \\u0000"), Expect::Refused, splice(&base, field, r#""\u0000""#)));
            cases.push((
                format!("{field} = lone surrogate"),
                Expect::NoServerError,
                splice(&base, field, r#""\ud800""#),
            ));
        } else {
            cases.push((format!("{field} as a string with NUL"), Expect::Refused, splice(&base, field, r#""\u0000""#)));
        }
        for (what, expect, text) in cases {
            bench.check(op, &what, expect, &path, "", &[], &Payload::json_text(text)).await;
        }
        // Raw bytes inside a JSON string: invalid UTF-8, a raw NUL.
        for (what, raw) in [("invalid UTF-8 in", &b"\"\xff\xfe\xfd\""[..]), ("a raw NUL byte in", &b"\"a\x00b\""[..])] {
            let mut bytes = splice(&base, field, "@").into_bytes();
            let at = bytes.iter().rposition(|b| *b == b'@').expect("placeholder");
            bytes.splice(at..=at, raw.iter().copied());
            bench
                .check(op, &format!("{what} {field}"), Expect::Refused, &path, "", &[], &Payload::json_bytes(bytes))
                .await;
        }
        if op.form {
            let form_base: Vec<String> = base
                .iter()
                .filter(|(name, _)| *name != field)
                .map(|(name, value)| {
                    format!(
                        "{name}={}",
                        value.as_str().map_or_else(|| value.to_string(), str::to_owned).replace('@', "%40")
                    )
                })
                .collect();
            for (what, expect, value) in [
                ("%00", Expect::Refused, &b"a%00b"[..]),
                ("raw invalid UTF-8", Expect::NoServerError, &b"\xff\xfe"[..]),
                ("%FF", Expect::NoServerError, &b"%FF%FE"[..]),
            ] {
                let mut bytes = form_base.join("&").into_bytes();
                bytes.extend_from_slice(format!("&{field}=").as_bytes());
                bytes.extend_from_slice(value);
                let payload = Payload::Raw { content_type: "application/x-www-form-urlencoded", bytes };
                bench.check(op, &format!("form {field} = {what}"), expect, &path, "", &[], &payload).await;
            }
        }
    }
    if op.form {
        let payload = Payload::Raw {
            content_type: "application/x-www-form-urlencoded",
            bytes: [b"email=".as_slice(), &vec![b'a'; TEN_MB]].concat(),
        };
        bench.check(op, "10 MB form", Expect::Refused, &path, "", &[], &payload).await;
    }
}

/// Cases about the body as a whole.
fn whole_body_cases(first_field: Option<&str>) -> Vec<(&'static str, Payload)> {
    let field = Value::String(first_field.unwrap_or("x").to_owned());
    vec![
        ("invalid UTF-8 body", Payload::json_bytes(b"\xff\xfe\xfd{}".to_vec())),
        ("10 MB JSON body", Payload::json_text(format!("{{{field}:\"{}\"}}", "a".repeat(TEN_MB)))),
        ("100,000 nested arrays", Payload::json_text("[".repeat(100_000))),
        (
            "100,000 nested arrays, closed",
            Payload::json_text(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
        ),
        (
            "50,000 nested objects",
            Payload::json_text(format!("{}1{}", format!("{{{field}:").repeat(50_000), "}".repeat(50_000))),
        ),
        ("truncated JSON", Payload::json_text(format!("{{{field}:\"abc"))),
        ("top-level 1e309", Payload::json_text("1e309".to_owned())),
        ("top-level null", Payload::json_text("null".to_owned())),
        ("top-level array", Payload::json_text("[]".to_owned())),
        ("top-level string with NUL", Payload::json_text(r#""\u0000""#.to_owned())),
    ]
}

/// Hostile values for a query parameter (already percent-encoded).
const QUERY_VALUES: [&str; 14] = [
    "%00",
    "a%00b",
    "%FF%FE",
    "%27%20OR%201%3D1%20--",
    "%22%3B%20DROP%20TABLE%20task%3B%20--",
    "1e309",
    "18446744073709551616",
    "-0",
    "-1",
    "%25%5F%5C",
    "..%2F..%2Fetc%2Fpasswd",
    "%E2%80%AE%EF%BB%BF",
    "true%00",
    "",
];

/// Hostile values for a path parameter (already percent-encoded).
const PATH_VALUES: [&str; 17] = [
    "..%2F..%2Fetc",
    "..%2F..%2Fetc%2Fpasswd",
    "1%2F2",
    "%2e%2e",
    "%00",
    "1%00",
    "18446744073709551616",
    "9223372036854775808",
    "-1",
    "0",
    "-0",
    "1e309",
    "%27%20OR%201%3D1%20--",
    "1%3B%20DROP%20TABLE%20task",
    "%20",
    "0x1",
    "%FF",
];

fn base_payload(bench: &Bench, op: &Operation) -> Payload {
    op.body.as_ref().map_or(Payload::None, |_| Payload::json_text(Value::Object(bench.base_body(op)).to_string()))
}

async fn torture_query(bench: &mut Bench, op: &Operation) {
    let payload = base_payload(bench, op);
    // Query parameters, declared and not.
    let mut names: Vec<String> = op.query.iter().map(|(n, _)| n.clone()).collect();
    names.push("undeclared%00".to_owned());
    for name in &names {
        for value in QUERY_VALUES {
            let path = bench.path(op, &[]);
            bench
                .check(
                    op,
                    &format!("?{name}={value}"),
                    Expect::NoServerError,
                    &path,
                    &format!("{name}={value}"),
                    &[],
                    &payload,
                )
                .await;
        }
    }
    let long = format!("q={}", "a".repeat(32 * 1024));
    let path = bench.path(op, &[]);
    bench.check(op, "32 KiB query string", Expect::NoServerError, &path, &long, &[], &payload).await;
}

async fn torture_path_and_headers(bench: &mut Bench, op: &Operation) {
    let payload = base_payload(bench, op);
    // Path parameters: never reach another row; writes are refused.
    for name in op.path_params.clone() {
        for value in PATH_VALUES {
            let path = bench.path(op, &[(name.as_str(), value)]);
            let expect = if op.is_write() { Expect::Refused } else { Expect::NoServerError };
            bench.check(op, &format!("{{{name}}} = {value}"), expect, &path, "", &[], &payload).await;
        }
        let digits = "9".repeat(10_000);
        let path = bench.path(op, &[(name.as_str(), digits.as_str())]);
        let expect = if op.is_write() { Expect::Refused } else { Expect::NoServerError };
        bench.check(op, &format!("{{{name}}} = 10,000 nines"), expect, &path, "", &[], &payload).await;
    }
    // Header parameters: for If-Match a value that matches nothing refuses the write; for
    // Idempotency-Key a value with a space is refused, and any visible ASCII is a valid key;
    // any other header (If-None-Match on a read) must only never get a 5xx.
    for name in op.headers.clone() {
        for value in
            ["' OR 1=1 --", "\"; DROP TABLE task; --\"", "\"18446744073709551616\"", "W/\"x\"", "\"\"", "\"x\", \"y\""]
        {
            let path = bench.path(op, &[]);
            let headers = [(name.as_str(), value.to_owned())];
            let refused = match name.as_str() {
                "If-Match" => true,
                "Idempotency-Key" => !value.bytes().all(|b| b.is_ascii_graphic()),
                _ => false,
            };
            let expect = if refused { Expect::Refused } else { Expect::NoServerError };
            bench.check(op, &format!("{name}: {value:?}"), expect, &path, "", &headers, &payload).await;
        }
    }
}

async fn torture_sql(bench: &mut Bench, op: &Operation) {
    let Some(fields) = op.body.clone() else { return };
    for (field, _) in fields.iter().filter(|(_, ty)| ty == "string") {
        for value in SQL {
            let mut body = bench.base_body(op);
            body.insert(field.clone(), json!(value));
            let path = bench.path(op, &[]);
            let payload = Payload::json_text(Value::Object(body).to_string());
            bench.check(op, &format!("{field} = {value:?}"), Expect::NoServerError, &path, "", &[], &payload).await;
        }
    }
}

/// One kind of hostile input.
#[derive(Clone, Copy, Debug)]
enum Attack {
    Bodies,
    Query,
    PathAndHeaders,
    Sql,
}

/// Sends `attack` to every operation of the served spec that `select` keeps, from one bench, and
/// reports every broken rule together; `what` names the run (`{n}`: the operation count).
async fn torture(attack: Attack, select: impl Fn(&Operation) -> bool, what: &str) {
    let mut bench = Bench::new().await;
    let ops: Vec<Operation> = operations(&bench.app).await.into_iter().filter(|op| select(op)).collect();
    for op in &ops {
        match attack {
            Attack::Bodies => torture_bodies(&mut bench, op).await,
            Attack::Query => torture_query(&mut bench, op).await,
            Attack::PathAndHeaders => torture_path_and_headers(&mut bench, op).await,
            Attack::Sql => torture_sql(&mut bench, op).await,
        }
    }
    bench.finish(&what.replace("{n}", &ops.len().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_to_auth_operations_never_get_a_5xx_or_change_anything() {
    torture(Attack::Bodies, |op| op.template.starts_with("/api/auth"), "bodies × {n} auth operations").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_to_task_and_other_operations_never_get_a_5xx_or_change_anything() {
    torture(Attack::Bodies, |op| !op.template.starts_with("/api/auth"), "bodies × {n} other operations").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_query_strings_never_get_a_5xx_or_change_anything() {
    torture(Attack::Query, |_| true, "query strings × {n} operations").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_path_ids_and_if_match_headers_never_get_a_5xx_or_reach_another_row() {
    torture(Attack::PathAndHeaders, |_| true, "path and header parameters × {n} operations").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_in_every_string_field_never_get_a_5xx_or_touch_other_rows() {
    torture(Attack::Sql, |_| true, "SQL metacharacters × {n} operations").await;
}

#[tokio::test]
async fn sql_metacharacters_are_stored_returned_and_searched_literally() {
    // Arrange
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "literal@example.com").await;
    let http = plain_client();
    let mut ids = Vec::new();

    // Act: tasks whose title and description are SQL.
    for value in SQL {
        let response = account.create_task(&json!({"title": value, "description": value})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{value}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["title"], value, "returned literally");
        ids.push(body["id"].as_i64().expect("id"));
    }

    // Assert: stored literally, and a search for each finds exactly that task.
    for (value, id) in SQL.iter().zip(&ids) {
        let stored =
            app.db.query(r#"SELECT "title", "description" FROM "task" WHERE "id" = $1"#, vec![(*id).into()]).await;
        assert_eq!(stored[0]["title"], *value);
        assert_eq!(stored[0]["description"], *value);
        let found: Value = http
            .get(app.url("/api/v1/tasks"))
            .header("authorization", account.authorization())
            .query(&[("q", *value)])
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        let found_ids: Vec<i64> =
            found["items"].as_array().expect("items").iter().map(|t| t["id"].as_i64().expect("id")).collect();
        assert_eq!(found_ids, vec![*id], "searching {value:?} matches only itself");
    }
    // A profile name, too.
    let response = http
        .post(app.url("/api/auth/update-user"))
        .header("authorization", account.authorization())
        .json(&json!({"name": SQL[1]}))
        .send()
        .await
        .expect("update-user");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(account.session().await["user"]["name"], SQL[1]);
    assert_eq!(app.db.count(r#"SELECT count(*) FROM "user""#, vec![]).await, 1, "no row was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_past_the_limit_is_refused_with_413_and_changes_nothing() {
    // Arrange: no Content-Length, so only the limited read can stop it.
    let app = TestApp::spawn().await;
    let account = User::sign_up(&app, "chunked@example.com").await;
    let before = app.db.snapshot().await;
    for path in ["/api/v1/tasks", "/api/auth/sign-in/email", "/api/auth/update-user"] {
        // Act: 10 MB of a JSON string in 64 KiB chunks.
        let mut body = b"a\r\n{\"title\":\"\r\n".to_vec();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..(TEN_MB / chunk.len()) {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(&chunk);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"2\r\n\"}\r\n0\r\n\r\n");
        let headers = [
            ("authorization", account.authorization()),
            ("content-type", "application/json".to_owned()),
            ("transfer-encoding", "chunked".to_owned()),
        ];
        let answer = raw_request(app.addr, "POST", path, &headers, body).await;

        // Assert
        let (status, text) = answer.unwrap_or_else(|err| panic!("chunked 10 MB to {path}: {err}"));
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "chunked 10 MB to {path}: {}", truncate(&text));
        assert!(text.contains("PAYLOAD_TOO_LARGE"), "{}", truncate(&text));
    }
    assert_eq!(app.db.snapshot().await, before);
}
