//! `405 Method Not Allowed` names the path's methods in `Allow` (RFC 9110 §15.5.6), for every
//! path and every method the spec does not declare, with the methods taken from the spec the
//! server serves; and those are exactly the methods that do not answer 405. CORS preflights
//! (`OPTIONS` with `Access-Control-Request-Method`) are still answered by the CORS layer.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{
    http::{assert_error, header_str, plain_client},
    server::{ORIGIN, TestApp},
};

/// Every method a client might try, `TRACE` included (it is what schemathesis found).
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/// Each path of the served spec, with a concrete URL (path parameters filled in) and the
/// methods the spec declares, upper-case.
async fn documented_paths(app: &TestApp) -> Vec<(String, String, Vec<String>)> {
    let spec: Value = app.get("/openapi.json").await.json().await.expect("the spec is JSON");
    let paths = spec["paths"].as_object().expect("paths");
    paths
        .iter()
        .map(|(template, item)| {
            let url = template.replace("{id}", "1").replace("{token}", "some-token");
            assert!(!url.contains('{'), "{template}: fill in its path parameter");
            let declared = item.as_object().expect("path item").keys().map(|m| m.to_uppercase()).collect();
            (template.clone(), url, declared)
        })
        .collect()
}

/// What `Allow` must say: the declared methods, `HEAD` beside `GET`, in a fixed order.
fn expected_allow(declared: &[String]) -> String {
    let declares = |method: &str| declared.iter().any(|d| d == method);
    let allowed = |method: &str| declares(method) || (method == "HEAD" && declares("GET"));
    METHODS.into_iter().filter(|method| allowed(method)).collect::<Vec<_>>().join(", ")
}

#[tokio::test]
async fn every_undeclared_method_is_a_405_with_the_paths_methods_in_allow() {
    let app = TestApp::spawn().await;
    let client = plain_client();
    let paths = documented_paths(&app).await;
    assert!(paths.len() >= 20, "the spec lists the service's paths ({} found)", paths.len());
    let mut checked = 0;
    for (template, url, declared) in &paths {
        let allow = expected_allow(declared);
        for method in METHODS {
            if allow.split(", ").any(|m| m == method) {
                continue;
            }
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let response = client.request(method.clone(), app.url(url)).send().await.expect("request sent");
            assert_eq!(header_str(&response, "allow").as_deref(), Some(allow.as_str()), "{method} {template}");
            // Better Auth's own 405 for `POST /get-session` keeps its code; the rest are the router's.
            let code = if template == "/api/auth/get-session" && method == Method::POST {
                "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"
            } else {
                "METHOD_NOT_ALLOWED"
            };
            if method == Method::HEAD {
                assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {template}");
            } else {
                assert_error(response, StatusCode::METHOD_NOT_ALLOWED, code).await;
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked} path and method pairs checked");
}

#[tokio::test]
async fn the_methods_in_allow_are_exactly_those_that_do_not_answer_405() {
    let app = TestApp::spawn().await;
    let client = plain_client();
    for (template, url, declared) in documented_paths(&app).await {
        let allow = expected_allow(&declared);
        for method in allow.split(", ") {
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let response = client.request(method.clone(), app.url(&url)).send().await.expect("request sent");
            assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {template} is in Allow: {allow}");
            assert_eq!(header_str(&response, "allow"), None, "{method} {template}: Allow only on a 405");
        }
    }
}

#[tokio::test]
async fn cors_preflights_are_still_answered_and_unknown_paths_are_still_404() {
    let app = TestApp::spawn().await;
    let preflight = plain_client()
        .request(Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("request sent");
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&preflight, "access-control-allow-origin").as_deref(), Some(ORIGIN));
    assert_eq!(header_str(&preflight, "allow"), None);

    for path in ["/api/auth/nope", "/api/v1/tasks/1/extra", "/api/auth/ok/"] {
        let response = plain_client().request(Method::TRACE, app.url(path)).send().await.expect("request sent");
        assert_eq!(header_str(&response, "allow"), None, "{path}");
        assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
}
