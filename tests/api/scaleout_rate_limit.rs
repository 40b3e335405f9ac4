//! Rate limits shared by several instances on one database (issue 14, point 2):
//! `RATE_LIMIT_STORAGE=database` (the default on PostgreSQL) counts the strict and mail rules in
//! Better Auth's `rateLimit` table, one atomic statement per counted request, so N instances
//! allow what one does; the general rule stays in memory (no database write per `get-session`).
//! Run on both databases (on SQLite with the storage set explicitly).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    db::postgres_url,
    http::{header_str, plain_client},
    server::TestApp,
    users::{GET_SESSION, SIGN_IN, User},
};

/// A server with rate limits on and their counts in the database, trusting the test's
/// `X-Forwarded-For` (so each test chooses its client address).
fn shared_limits() -> crate::support::server::TestAppBuilder {
    TestApp::builder()
        .var("RATE_LIMIT_ENABLED", "true")
        .var("RATE_LIMIT_STORAGE", "database")
        .var("TRUSTED_PROXIES", "127.0.0.1/32")
}

async fn wrong_sign_in(app: &TestApp, client: &str) -> reqwest::Response {
    plain_client()
        .post(app.url(SIGN_IN))
        .header("x-forwarded-for", client)
        .json(&json!({"email": "victim@example.com", "password": "wrong-password"}))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn scaleout_rate_limit_sign_in_attempts_alternated_between_two_instances_share_one_limit() {
    let first = shared_limits().spawn().await;
    let second = first.sibling().var("RATE_LIMIT_ENABLED", "true").var("RATE_LIMIT_STORAGE", "database");
    let second = second.var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    let instances = [&first, &second];
    for attempt in 0..3 {
        let response = wrong_sign_in(instances[attempt % 2], "203.0.113.7").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Before: three per instance, six in all. Now the fourth is refused whichever instance.
    for instance in instances {
        let refused = wrong_sign_in(instance, "203.0.113.7").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = header_str(&refused, "retry-after").expect("Retry-After").parse().expect("seconds");
        assert!((1..=10).contains(&retry_after), "within the 10 s window: {retry_after}");
    }
    assert_eq!(wrong_sign_in(&second, "203.0.113.8").await.status(), StatusCode::UNAUTHORIZED, "another client");

    // Better Auth's row: key `<ip>|<path>`, the counted requests, epoch milliseconds.
    let rows = first
        .db
        .query(
            r#"SELECT "key", CAST("count" AS BIGINT) AS "count", "lastRequest" FROM "rateLimit" WHERE "key" LIKE '%|/sign-in/email' ORDER BY "key""#,
            vec![],
        )
        .await;
    let keys: Vec<&str> = rows.iter().map(|row| row["key"].as_str().expect("key")).collect();
    assert_eq!(keys, ["203.0.113.7|/sign-in/email", "203.0.113.8|/sign-in/email"]);
    assert_eq!(rows[0]["count"], 3, "refused requests are not counted: {rows:?}");
    let now_ms =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
            .expect("fits");
    let last = rows[0]["lastRequest"].as_i64().expect("epoch ms");
    assert!((now_ms - 30_000..=now_ms).contains(&last), "lastRequest {last} is epoch ms near {now_ms}");
}

#[tokio::test]
async fn scaleout_rate_limit_concurrent_attempts_on_two_instances_are_counted_exactly() {
    let first = shared_limits().spawn().await;
    let second = first.sibling().var("RATE_LIMIT_ENABLED", "true").var("RATE_LIMIT_STORAGE", "database");
    let second = second.var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..12 {
        let url = if n % 2 == 0 { first.url(SIGN_IN) } else { second.url(SIGN_IN) };
        attempts.spawn(async move {
            plain_client()
                .post(url)
                .header("x-forwarded-for", "198.51.100.20")
                .json(&json!({"email": "nobody@example.com", "password": "wrong-password"}))
                .send()
                .await
                .expect("sent")
                .status()
        });
    }
    let statuses = attempts.join_all().await;
    let allowed = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(allowed, 3, "exactly the limit got through: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 9, "{statuses:?}");
}

#[tokio::test]
async fn scaleout_rate_limit_the_general_rule_writes_nothing_and_stale_counts_are_swept() {
    let app = shared_limits().spawn().await;
    let user = User::sign_up(&app, "reader@example.com").await;
    let before = app.db.count_rows("rateLimit").await;
    for _ in 0..20 {
        assert_eq!(user.get(GET_SESSION).await.status(), StatusCode::OK);
    }
    assert_eq!(app.db.count_rows("rateLimit").await, before, "get-session is counted in memory, not in the table");

    // A count whose window passed long ago is deleted by the sweep a new instance runs at start.
    app.db
        .execute(
            r#"INSERT INTO "rateLimit" ("id", "key", "count", "lastRequest") VALUES ('stale', '192.0.2.1|/sign-in/email', 3, 1000)"#,
            vec![],
        )
        .await;
    let sibling = app.sibling().var("RATE_LIMIT_ENABLED", "true").var("RATE_LIMIT_STORAGE", "database").spawn().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sibling.db.count(r#"SELECT count(*) FROM "rateLimit" WHERE "id" = 'stale'"#, vec![]).await > 0 {
        assert!(std::time::Instant::now() < deadline, "the stale count was not swept");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(app.db.count_rows("rateLimit").await >= 1, "live counts stay");
}

#[tokio::test]
async fn scaleout_rate_limit_storage_defaults_to_the_database_on_postgres_only() {
    let app = TestApp::builder().var("RATE_LIMIT_ENABLED", "true").spawn().await;
    for _ in 0..2 {
        wrong_sign_in(&app, "127.0.0.1").await;
    }
    // The per-client counts (the account throttle's are in the table on both databases).
    let rows = app.db.count(r#"SELECT count(*) FROM "rateLimit" WHERE "key" LIKE '%|/sign-in/email'"#, vec![]).await;
    match postgres_url() {
        Some(_) => assert_eq!(rows, 1, "PostgreSQL: counted in the shared table"),
        None => assert_eq!(rows, 0, "SQLite: in memory unless RATE_LIMIT_STORAGE=database"),
    }
}

#[tokio::test]
async fn scaleout_rate_limit_the_account_throttle_counts_attempts_on_every_instance() {
    let first = shared_limits().spawn().await;
    let second = first.sibling().var("RATE_LIMIT_ENABLED", "true").var("TRUSTED_PROXIES", "127.0.0.1/32").spawn().await;
    let instances = [&first, &second];
    // Five attempts alternated between the instances, each from a new address.
    for n in 0..5 {
        let response = wrong_sign_in(instances[n % 2], &format!("192.0.2.{}", n + 1)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    for (n, instance) in instances.iter().enumerate() {
        let refused = wrong_sign_in(instance, &format!("192.0.2.{}", n + 10)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "instance {n}: the account's sixth attempt");
        assert_eq!(header_str(&refused, "retry-after").as_deref(), Some("1"));
    }
}
