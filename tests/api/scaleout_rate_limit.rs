//! Rate limits shared by several instances on one database (issue 14, point 2):
//! `RATE_LIMIT_STORAGE=database` (the default on PostgreSQL) counts the strict and mail rules in
//! Better Auth's `rateLimit` table, one atomic statement per counted request, so N instances
//! allow what one does; the general rule is counted in memory and flushed to the same table
//! once a second per key (no database write per `get-session`), so instances share it within
//! one flush. Run on both databases (on SQLite with the storage set explicitly).

use std::time::{Duration, Instant};

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

/// The general rule's row for `key`: its shared count, once it has reached `count` (flushes
/// come once a second; fails after ten).
async fn wait_for_general_count(app: &TestApp, key: &str, count: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = app
            .db
            .query(r#"SELECT CAST("count" AS BIGINT) AS "count" FROM "rateLimit" WHERE "key" = $1"#, vec![key.into()])
            .await;
        let shared = rows.first().and_then(|row| row["count"].as_i64()).unwrap_or_default();
        if shared >= count {
            return shared;
        }
        assert!(Instant::now() < deadline, "the count of {key} never reached {count}: {shared}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_session_from(app: &TestApp, client: &str) -> StatusCode {
    plain_client().get(app.url(GET_SESSION)).header("x-forwarded-for", client).send().await.expect("sent").status()
}

/// Makes the test database record every write to `rateLimit` in `rateLimitWrites`.
async fn record_rate_limit_writes(app: &TestApp) {
    app.db.execute(r#"CREATE TABLE "rateLimitWrites" ("key" TEXT NOT NULL)"#, vec![]).await;
    if postgres_url().is_some() {
        app.db
            .execute(
                r#"CREATE FUNCTION record_rate_limit_write() RETURNS trigger AS $body$
                   BEGIN INSERT INTO "rateLimitWrites" VALUES (NEW."key"); RETURN NEW; END
                   $body$ LANGUAGE plpgsql"#,
                vec![],
            )
            .await;
        app.db
            .execute(
                r#"CREATE TRIGGER rate_limit_writes AFTER INSERT OR UPDATE ON "rateLimit"
                   FOR EACH ROW EXECUTE FUNCTION record_rate_limit_write()"#,
                vec![],
            )
            .await;
    } else {
        for event in ["INSERT", "UPDATE"] {
            let sql = format!(
                r#"CREATE TRIGGER rate_limit_{event} AFTER {event} ON "rateLimit"
                   BEGIN INSERT INTO "rateLimitWrites" VALUES (NEW."key"); END"#
            );
            app.db.execute(&sql, vec![]).await;
        }
    }
}

#[tokio::test]
async fn scaleout_rate_limit_get_session_is_counted_in_the_table_once_a_second_not_per_request() {
    let app = shared_limits().var("RATE_LIMIT_MAX", "1000").spawn().await;
    record_rate_limit_writes(&app).await;
    let key = "203.0.113.40|/get-session";
    let started = Instant::now();
    for _ in 0..150 {
        assert_eq!(get_session_from(&app, "203.0.113.40").await, StatusCode::OK);
    }
    assert_eq!(wait_for_general_count(&app, key, 150).await, 150, "every request counted in the shared row");
    let elapsed = started.elapsed();
    let writes = app.db.count(r#"SELECT count(*) FROM "rateLimitWrites" WHERE "key" = $1"#, vec![key.into()]).await;
    // One flush per second at most, however many requests: the row is written per flush.
    let flushes = i64::try_from(elapsed.as_secs()).expect("seconds") + 2;
    assert!((1..=flushes).contains(&writes), "{writes} writes for 150 requests in {elapsed:?}");
}

#[tokio::test]
async fn scaleout_rate_limit_the_general_rule_is_shared_across_instances_within_one_flush() {
    let limits = |builder: crate::support::server::TestAppBuilder| {
        builder
            .var("RATE_LIMIT_ENABLED", "true")
            .var("RATE_LIMIT_STORAGE", "database")
            .var("TRUSTED_PROXIES", "127.0.0.1/32")
            .var("RATE_LIMIT_MAX", "6")
            .var("RATE_LIMIT_WINDOW", "60")
    };
    let first = limits(TestApp::builder()).spawn().await;
    let second = limits(first.sibling()).spawn().await;
    let (client, key) = ("203.0.113.41", "203.0.113.41|/get-session");
    for n in 0..3 {
        assert_eq!(get_session_from(&first, client).await, StatusCode::OK, "first instance, request {n}");
    }
    wait_for_general_count(&first, key, 3).await;
    // The second instance has not heard of this client yet: it admits on its own count (the
    // documented bound) until its flush adds its three and returns the shared six.
    for n in 0..3 {
        assert_eq!(get_session_from(&second, client).await, StatusCode::OK, "second instance, request {n}");
    }
    assert_eq!(wait_for_general_count(&second, key, 6).await, 6);
    // The flush's answer is applied right after its statement: give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get_session_from(&second, client).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the second instance counted the first's requests (alone it would admit three more)"
    );
    // The first instance last learnt 3: within the bound it admits at most the rest of the
    // limit on its own count, then refuses.
    let mut admitted = 0;
    while get_session_from(&first, client).await == StatusCode::OK {
        admitted += 1;
        assert!(admitted <= 3, "the first instance admitted more than the limit minus what it knew");
    }
    let total = 6 + admitted;
    assert!(total <= 2 * 6, "two instances admit at most the limit plus one instance's share: {total}");
    // Another client is unaffected.
    assert_eq!(get_session_from(&second, "203.0.113.42").await, StatusCode::OK);
}

#[tokio::test]
async fn scaleout_rate_limit_stale_counts_are_swept() {
    let app = shared_limits().spawn().await;
    // A count whose window passed long ago is deleted by the sweep a new instance runs at start.
    app.db
        .execute(
            r#"INSERT INTO "rateLimit" ("id", "key", "count", "lastRequest") VALUES ('stale', '192.0.2.1|/sign-in/email', 3, 1000)"#,
            vec![],
        )
        .await;
    let user = User::sign_up(&app, "reader@example.com").await;
    assert_eq!(user.get(GET_SESSION).await.status(), StatusCode::OK);
    let sibling = app.sibling().var("RATE_LIMIT_ENABLED", "true").var("RATE_LIMIT_STORAGE", "database").spawn().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sibling.db.count(r#"SELECT count(*) FROM "rateLimit" WHERE "id" = 'stale'"#, vec![]).await > 0 {
        assert!(Instant::now() < deadline, "the stale count was not swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
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
