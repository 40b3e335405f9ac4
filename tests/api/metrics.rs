//! Prometheus metrics (issue 18 point 1): `/metrics` on the main port only with
//! `METRICS_TOKEN`, requests labelled by operationId (never the raw path) and status class.
//!
//! The registry is per process and the in-process servers share it, so these tests assert
//! what a request adds, not absolute counts.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{
    db::{TestDatabase, postgres_url},
    http::{assert_error, plain_client},
    server::{Env, Server, Service, TestApp},
    users::{PASSWORD, User, sign_in_status},
};

const TOKEN: &str = "metrics-token-0123456789abcdefghijklmnop";

async fn scrape(app: &impl Service) -> String {
    let url = format!("{}/metrics", app.base());
    let response = plain_client().get(url).bearer_auth(TOKEN).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().expect("text").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.expect("text")
}

/// The value of one series (`name{labels}`), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines().find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_need_the_token_on_the_main_port_and_are_off_without_one() {
    // Arrange
    let app = TestApp::builder().var("METRICS_TOKEN", TOKEN).spawn().await;
    let off = TestApp::spawn().await;

    // Act + Assert
    let response = plain_client().get(app.url("/metrics")).send().await.expect("sent");
    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let wrong = format!("{TOKEN}x");
    let response = plain_client().get(app.url("/metrics")).bearer_auth(wrong).send().await.expect("sent");
    assert_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(scrape(&app).await.contains("# TYPE api_http_requests_total counter"));
    let response = plain_client().get(off.url("/metrics")).bearer_auth(TOKEN).send().await.expect("sent");
    assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn requests_are_counted_by_operation_id_and_status_class_never_by_path() {
    // Arrange
    let app = TestApp::builder().var("METRICS_TOKEN", TOKEN).spawn().await;
    let ann = User::sign_up(&app, "ann@example.com").await;
    let before = scrape(&app).await;

    // Act
    assert_eq!(sign_in_status(&app, &ann.email, PASSWORD).await, StatusCode::OK);
    assert_eq!(sign_in_status(&app, &ann.email, "wrong password!").await, StatusCode::UNAUTHORIZED);
    for id in [987_654_321, 987_654_322] {
        assert_eq!(ann.get(&format!("/api/v1/tasks/{id}")).await.status(), StatusCode::NOT_FOUND);
    }
    let after = scrape(&app).await;

    // Assert
    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert!(delta(r#"api_http_requests_total{operation="sign_in_email",status_class="2xx"}"#) >= 1.0);
    assert!(delta(r#"api_http_requests_total{operation="sign_in_email",status_class="4xx"}"#) >= 1.0);
    assert!(delta(r#"api_http_requests_total{operation="get_task",status_class="4xx"}"#) >= 2.0);
    assert!(delta(r#"api_http_request_duration_seconds_count{operation="get_task"}"#) >= 2.0);
    assert!(delta(r#"api_sign_ins_total{outcome="success"}"#) >= 1.0);
    assert!(delta(r#"api_sign_ins_total{outcome="wrong_credentials"}"#) >= 1.0);
    assert!(!after.contains("987654321") && !after.contains("=\"/"), "no raw path in any label");
    for name in ["api_db_pool_connections{state=\"in_use\"}", "api_db_pool_max_connections 5", "api_build_info{"] {
        assert!(after.contains(name), "{name} missing");
    }
}

/// The pool's acquire wait is sqlx's own measurement, reported as a `tracing` event that the
/// binary's subscriber records (the in-process servers install none), so this runs the binary.
#[tokio::test]
async fn the_binary_records_each_pool_acquire_wait_and_the_hashing_queue_depth() {
    // Arrange
    let store = TestDatabase::create().await;
    let server = Server::start(&Env::for_binary(&store).set("METRICS_TOKEN", TOKEN), store.dir.path());
    let count = "api_db_pool_acquire_wait_seconds_count";
    let before = value(&scrape(&server).await, count);

    // Act: a sign-up and a sign-in read and write the database several times.
    let ann = User::sign_up(&server, "ann@example.com").await;
    assert_eq!(sign_in_status(&server, &ann.email, PASSWORD).await, StatusCode::OK);
    let after = scrape(&server).await;

    // Assert
    assert!(value(&after, count) >= before + 2.0, "acquisitions recorded: {before} -> {}", value(&after, count));
    assert!(value(&after, "api_db_pool_acquire_wait_seconds_sum") > 0.0);
    assert!(after.contains("# TYPE api_db_pool_acquire_wait_seconds histogram"));
    assert!(after.contains("\napi_password_hash_queued 0\n"), "nothing waits for a hashing thread once answered");
}

/// The task reads keep pool connections while they are busy (PostgreSQL, `db::reads`): the pool
/// gauges count them in use, and they are back in the pool within two seconds of the last read.
/// (The binary: the gauges are per process, and the in-process servers share one.)
#[tokio::test]
async fn the_connections_the_task_reads_keep_are_back_in_the_pool_soon_after_the_reads_stop() {
    // Arrange
    let store = TestDatabase::create().await;
    let env = Env::for_binary(&store).set("METRICS_TOKEN", TOKEN).set("DB_READ_CONNECTIONS", "2");
    let app = Server::start(&env, store.dir.path());
    let ann = User::sign_up(&app, "ann@example.com").await;
    let id = ann.create_task_ok("read me").await["id"].as_i64().expect("id");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let in_use = |text: &str| value(text, r#"api_db_pool_connections{state="in_use"}"#);
    let before = in_use(&scrape(&app).await);

    // Act: concurrent reads, then none.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let ann = ann.clone();
            tokio::spawn(async move { ann.get_task(id).await.status() })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.expect("read task"), StatusCode::OK);
    }
    let right_after = in_use(&scrape(&app).await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = in_use(&scrape(&app).await);

    // Assert
    if postgres_url().is_some() {
        assert!(right_after > before, "the reads keep their connections while busy: {before} -> {right_after}");
    }
    assert_eq!(later, before, "2.5 s after the last read the pool has its connections back");
}
