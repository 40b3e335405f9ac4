//! The spec's `required` flag on query parameters is what the server enforces: leaving out a
//! required one is a 400/422 naming it, leaving out an optional one never is. Found by contract
//! fuzzing: the password-reset link's `callbackURL` and the verification link's `token` were
//! declared optional while the server (like Better Auth) refuses requests without them.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{
    http::{assert_error, plain_client},
    server::TestApp,
    users::User,
};

/// A value the server accepts for a parameter, so that only the one left out is at fault.
fn sample_value(name: &str) -> &'static str {
    match name {
        "callbackURL" => "/",
        "limit" => "20",
        "completed" | "disableCookieCache" | "disableRefresh" => "true",
        "id" => "1",
        _ => "x",
    }
}

/// Every operation with query parameters: method, path template, URL with path parameters
/// filled in, and its query parameters as `(name, required)`.
async fn operations_with_query_parameters(app: &TestApp) -> Vec<(Method, String, String, Vec<(String, bool)>)> {
    let spec: Value = app.get("/openapi.json").await.json().await.expect("the spec is JSON");
    let mut found = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let parameters: Vec<&Value> = operation["parameters"].as_array().into_iter().flatten().collect();
            let mut url = template.clone();
            for parameter in parameters.iter().filter(|p| p["in"] == "path") {
                let name = parameter["name"].as_str().expect("name");
                url = url.replace(&format!("{{{name}}}"), sample_value(name));
            }
            let query: Vec<(String, bool)> = parameters
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| (p["name"].as_str().expect("name").to_owned(), p["required"] == true))
                .collect();
            if !query.is_empty() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
                found.push((method, template.clone(), url, query));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_mail_links_declare_the_parameters_the_server_requires() {
    let app = TestApp::spawn().await;
    let operations = operations_with_query_parameters(&app).await;
    let required = |path: &str, name: &str| {
        let (.., query) = operations.iter().find(|(_, template, ..)| template == path).expect("documented");
        query.iter().find(|(n, _)| n == name).map(|(_, required)| *required)
    };
    assert_eq!(required("/api/auth/reset-password/{token}", "callbackURL"), Some(true));
    assert_eq!(required("/api/auth/verify-email", "token"), Some(true));
    assert_eq!(required("/api/auth/verify-email", "callbackURL"), Some(false));

    // The answers are Better Auth's, unchanged.
    let response = plain_client().get(app.url("/api/auth/reset-password/some-token")).send().await.expect("sent");
    let body = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(body["message"], "[query.callbackURL] Invalid input: expected string, received undefined");
    let response = plain_client().get(app.url("/api/auth/verify-email")).send().await.expect("sent");
    let body = assert_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    assert_eq!(body["message"], "[query.token] Invalid input: expected string, received undefined");
    // As in Better Auth, an untrusted callbackURL is refused before the missing token.
    let response = plain_client()
        .get(app.url("/api/auth/verify-email?callbackURL=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .expect("sent");
    assert_error(response, StatusCode::FORBIDDEN, "INVALID_CALLBACK_URL").await;
}

#[tokio::test]
async fn every_query_parameter_is_required_exactly_when_the_spec_says_so() {
    let app = TestApp::spawn().await;
    let user = User::sign_up(&app, "params@example.com").await;
    let operations = operations_with_query_parameters(&app).await;
    assert!(operations.len() >= 4, "operations with query parameters: {}", operations.len());
    for (method, template, url, query) in &operations {
        for (left_out, required) in query {
            let present: Vec<(&str, &str)> = query
                .iter()
                .filter(|(name, required)| *required && name != left_out)
                .map(|(name, _)| (name.as_str(), sample_value(name)))
                .collect();
            let response = plain_client()
                .request(method.clone(), app.url(url))
                .bearer_auth(&user.bearer)
                .query(&present)
                .send()
                .await
                .expect("request sent");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let message = body["message"].as_str().unwrap_or_default();
            let names_it = message.starts_with(&format!("[query.{left_out}]"));
            if *required {
                assert!(
                    matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY) && names_it,
                    "{method} {template} without required {left_out}: {status} {body}"
                );
            } else {
                assert!(!names_it, "{method} {template} without optional {left_out}: {status} {body}");
            }
        }
    }
}
