//! The committed `openapi.yaml` is exactly what the code generates.
//!
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p tests spec` (or `cargo run -p api -- openapi
//! > openapi.yaml`).

use serde_json::Value;

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

#[test]
fn every_operation_has_an_operation_id_summary_and_tag() {
    let spec: Value = serde_json::from_str(&api::app::openapi_service().spec()).expect("spec is JSON");
    let paths = spec["paths"].as_object().expect("paths");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
            assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path}: no tag");
        }
    }
}
