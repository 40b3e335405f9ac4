//! OpenTelemetry traces (issue 18 point 2): the built binary with `OTEL_EXPORTER_OTLP_ENDPOINT`
//! pointing at an OTLP/HTTP receiver inside the test runs sign-up, sign-in, get-session (cookie
//! and bearer) and task create/get; after a graceful shutdown (which flushes the queued spans)
//! the receiver holds one span per request named after its operationId, with method, route
//! template and status, the database statements as child spans, and none of the password, the
//! email, the session tokens, the cookie values or a raw task path anywhere in the payloads.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::{
    logs_no_secrets::{Secrets, json_of, sign_up_and_in},
    support::{
        db::TestDatabase,
        http::{ClientOptions, no_redirect_client},
        server::{Env, Server},
    },
};

/// Every request body the receiver got on `/v1/traces`, or what was wrong with a request.
type Received = Arc<Mutex<Vec<Result<String, String>>>>;

/// A minimal OTLP/HTTP receiver on loopback: reads each request (keep-alive included) and
/// answers `200 {}` (an export response with no rejected spans).
async fn otlp_receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("receiver binds");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let received: Received = Arc::default();
    let store = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                while let Some(request) = read_request(&mut stream).await {
                    store.lock().unwrap_or_else(PoisonError::into_inner).push(request);
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.get_mut().write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, received)
}

/// One HTTP/1.1 request: `Ok(body)` for a JSON POST to `/v1/traces`, `Err` for anything else;
/// `None` when the connection closed.
async fn read_request(stream: &mut BufReader<tokio::net::TcpStream>) -> Option<Result<String, String>> {
    let mut request_line = String::new();
    if stream.read_line(&mut request_line).await.ok()? == 0 {
        return None;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let Some(length) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) else {
        return Some(Err(format!("no content-length: {request_line} {headers:?}")));
    };
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    if !request_line.starts_with("POST /v1/traces ") {
        return Some(Err(format!("unexpected request: {request_line}")));
    }
    if headers.get("content-type").map(String::as_str) != Some("application/json") {
        return Some(Err(format!("unexpected content type: {headers:?}")));
    }
    Some(String::from_utf8(body).map_err(|err| err.to_string()))
}

/// One exported span, flattened from the OTLP/JSON payload.
#[derive(Debug)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: HashMap<String, Value>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<String> {
        let value = self.attributes.get(key)?;
        ["stringValue", "intValue"].iter().find_map(|kind| match value.get(kind)? {
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        })
    }
}

/// Every span of every payload, and every resource's `service.name`.
fn spans_of(payloads: &[String]) -> (Vec<Span>, Vec<String>) {
    let mut spans = Vec::new();
    let mut services = Vec::new();
    for payload in payloads {
        let document: Value = serde_json::from_str(payload).expect("an OTLP/JSON payload");
        for resource_spans in document["resourceSpans"].as_array().expect("resourceSpans") {
            let resource = attributes(&resource_spans["resource"]["attributes"]);
            if let Some(name) = resource.get("service.name").and_then(|v| v["stringValue"].as_str()) {
                services.push(name.to_owned());
            }
            let scopes = resource_spans["scopeSpans"].as_array().expect("scopeSpans");
            for span in scopes.iter().flat_map(|scope| scope["spans"].as_array().expect("spans")) {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                spans.push(Span {
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                    name: text("name"),
                    attributes: attributes(&span["attributes"]),
                });
            }
        }
    }
    (spans, services)
}

fn attributes(list: &Value) -> HashMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), kv["value"].clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_export_spans_named_by_operation_id_with_statement_children_and_no_secrets() {
    // Arrange: the binary exporting OTLP/JSON to the receiver, with a short batch delay.
    let (endpoint, received) = otlp_receiver().await;
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "traces-test"),
    ]);
    let mut server = Server::start(&env, store.dir.path());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let local_part = format!("tracer{}", &nonce[..10]);
    let email = format!("{local_part}@example.com");
    let password = format!("trace-Pw-{}", &nonce[10..22]);
    let mut secrets = Secrets::default();
    secrets.add("email address", &email);
    secrets.add("email local part", &local_part);
    secrets.add("password", &password);
    let browser = ClientOptions::default().browser().no_redirects().build();
    let native = no_redirect_client();

    // Act: sign-up, sign-in, get-session by cookie and by bearer, create and read a task.
    let authorization = sign_up_and_in(&server, (&browser, &native), &email, &password, &mut secrets).await;
    let response = browser.get(server.url("/api/auth/get-session")).send().await.expect("get-session");
    json_of(response, "get-session by cookie", StatusCode::OK).await;
    let response = native.get(server.url("/api/auth/get-session")).header("authorization", &authorization).send().await;
    json_of(response.expect("get-session"), "get-session by bearer", StatusCode::OK).await;
    let create = native.post(server.url("/api/v1/tasks")).header("authorization", &authorization);
    let response = create.json(&json!({"title": "traced task"})).send().await;
    let created = json_of(response.expect("create"), "create", StatusCode::CREATED).await;
    let task_path = format!("/api/v1/tasks/{}", created["id"].as_i64().expect("id"));
    let response = native.get(server.url(&task_path)).header("authorization", &authorization).send().await;
    json_of(response.expect("get"), "get task", StatusCode::OK).await;
    // A graceful shutdown exports what is still queued.
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}: {}", server.output());

    // Assert: well-formed exports only.
    let payloads: Vec<String> = received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|request| request.clone().expect("a well-formed OTLP/JSON export"))
        .collect();
    let (spans, services) = spans_of(&payloads);
    assert!(!services.is_empty() && services.iter().all(|name| name == "traces-test"), "{services:?}");

    // One root span per request, named after its operationId, with method, route and status.
    let requests: Vec<&Span> = spans.iter().filter(|span| span.attribute("http.request.method").is_some()).collect();
    let names: Vec<&str> = requests.iter().map(|span| span.name.as_str()).collect();
    let expected = [
        ("sign_up_email", "POST", "/api/auth/sign-up/email", "200", 1),
        ("sign_in_email", "POST", "/api/auth/sign-in/email", "200", 1),
        ("get_session", "GET", "/api/auth/get-session", "200", 2),
        ("create_task", "POST", "/api/v1/tasks", "201", 1),
        ("get_task", "GET", "/api/v1/tasks/{id}", "200", 1),
    ];
    for (operation, method, route, status, count) in expected {
        let matching: Vec<&&Span> = requests.iter().filter(|span| span.name == operation).collect();
        assert_eq!(matching.len(), count, "{operation} spans among {names:?}");
        for span in matching {
            assert_eq!(span.attribute("http.request.method").as_deref(), Some(method), "{span:?}");
            assert_eq!(span.attribute("http.route").as_deref(), Some(route), "{span:?}");
            assert_eq!(span.attribute("http.response.status_code").as_deref(), Some(status), "{span:?}");
            assert!(span.parent_span_id.is_empty(), "a request span is a root: {span:?}");
        }
    }

    // The statements each request ran are its children, in its trace, with the SQL text.
    for operation in ["sign_up_email", "sign_in_email", "create_task", "get_task"] {
        let request = requests.iter().find(|span| span.name == operation).expect("request span");
        let statements: Vec<&Span> = spans
            .iter()
            .filter(|span| span.parent_span_id == request.span_id && span.trace_id == request.trace_id)
            .collect();
        assert!(!statements.is_empty(), "{operation} has no child spans among {spans:#?}");
        for statement in &statements {
            assert!(statement.name.starts_with("sea_orm."), "{statement:?}");
            assert!(statement.attribute("db.system").is_some(), "{statement:?}");
        }
        // `begin`/`commit` carry no text; the queries do.
        let texts: Vec<String> =
            statements.iter().filter_map(|statement| statement.attribute("db.statement")).collect();
        assert!(
            texts.iter().any(|sql| sql.contains("SELECT") || sql.contains("INSERT")),
            "{operation}: {statements:#?}"
        );
    }

    // No secret, and no raw path, anywhere in what was exported.
    let exported = payloads.join("\n").to_lowercase();
    let leaks: Vec<String> = secrets
        .0
        .iter()
        .filter(|(_, value)| exported.contains(&value.to_lowercase()))
        .map(|(what, value)| format!("{what} ({value})"))
        .collect();
    assert!(leaks.is_empty(), "secrets in the exported spans: {leaks:?}");
    assert!(!exported.contains(&task_path), "the raw path {task_path} was exported");
    eprintln!("traces: {} payloads, {} spans checked for {} secrets", payloads.len(), spans.len(), secrets.0.len());
}
