//! The OpenAPI document: the committed `openapi.yaml` is exactly what the code generates, the
//! server serves it (JSON, YAML, Swagger UI), and every operation is described well enough for
//! clients and fuzzers.
//!
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p tests spec` (or `cargo run -p api -- openapi
//! > openapi.yaml`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{http::header_str, server::TestApp};

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml")
}

#[test]
fn committed_openapi_yaml_matches_the_code() {
    let generated = api::app::spec_yaml();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).expect("write openapi.yaml");
    }
    let committed = std::fs::read_to_string(committed_path()).expect("openapi.yaml exists at the repository root");
    assert!(
        committed == generated,
        "openapi.yaml is stale: run `UPDATE_OPENAPI=1 cargo test -p tests spec` and commit the result"
    );
}

/// The generated spec as JSON.
fn spec() -> Value {
    serde_json::from_str(&api::app::openapi_service().spec()).expect("spec is JSON")
}

/// Every operation of `spec` as `(path, method, operation)`.
fn operations(spec: &Value) -> impl Iterator<Item = (&String, &String, &Value)> {
    spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| item.as_object().expect("path item").iter().map(move |(m, op)| (path, m, op)))
}

#[test]
fn every_operation_has_an_operation_id_summary_and_tag() {
    let spec = spec();
    let mut ids = std::collections::HashSet::new();
    for (path, method, operation) in operations(&spec) {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
        assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
        assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path}: no tag");
    }
}

/// The HTTP parser (hyper) answers a request line longer than 64 KiB itself, with an empty
/// `414`, before the service can answer with JSON. So every operation's longest valid URL
/// (each path and query parameter at its `maxLength`, every character a 4-byte UTF-8
/// character percent-encoded as 12 bytes) must stay below that, or a valid request (as
/// schemathesis generates them) would get an undocumented, non-JSON answer.
#[test]
fn every_valid_url_fits_the_http_parsers_limit() {
    const HYPER_MAX_URI: usize = 65_534;
    let spec = spec();
    for (path, method, operation) in operations(&spec) {
        let mut longest = path.len() + 1;
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let location = parameter["in"].as_str().unwrap_or_default();
            if location != "query" && location != "path" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap_or_default();
            let schema = &parameter["schema"];
            let value = match schema["type"].as_str() {
                Some("string") => {
                    let max = schema["maxLength"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("{method} {path}: string parameter {name} has no maxLength"));
                    usize::try_from(max).expect("small") * 12
                }
                _ => 24, // numbers and booleans
            };
            longest += name.len() + 2 + value;
        }
        assert!(
            longest < HYPER_MAX_URI,
            "{method} {path}: the longest valid URL is {longest} bytes, over the parser's {HYPER_MAX_URI}"
        );
    }
}

#[tokio::test]
async fn the_spec_is_served_as_json_and_yaml_and_swagger_ui_at_docs() {
    let app = TestApp::spawn().await;
    let json = app.get("/openapi.json").await;
    assert_eq!(json.status(), StatusCode::OK);
    let spec: Value = json.json().await.expect("spec is JSON");
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert!(spec["paths"]["/api/auth/ok"]["get"]["operationId"].is_string());

    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.status(), StatusCode::OK);
    assert_eq!(yaml.text().await.expect("yaml"), api::app::spec_yaml());

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(header_str(&docs, "content-type").unwrap_or_default().starts_with("text/html"));
    assert!(docs.text().await.expect("html").contains("swagger"), "Swagger UI page");
}
