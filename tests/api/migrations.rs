//! Migrations: up/down/up on a fresh database, and the auth tables (with the `jwt` plugin's
//! `jwks`) exactly as Better Auth creates them (`docs/better-auth-wire.md` §8), read back from the database catalog.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};

use crate::support::db::{TestDatabase, postgres_url};

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let store = TestDatabase::create().await;
    let db = Database::connect(&store.url).await.expect("connects");
    Migrator::up(&db, None).await.expect("up");
    assert_eq!(Migrator::get_pending_migrations(&db).await.expect("status").len(), 0);
    Migrator::down(&db, None).await.expect("down");
    assert_eq!(tables(&db).await, Vec::<String>::new(), "down removes every table");
    Migrator::up(&db, None).await.expect("up again");
    // PostgreSQL also keeps a per-owner task counter for the exact per-user limit.
    let expected: &[&str] = match postgres_url() {
        Some(_) => &[
            "account",
            "auditEvent",
            "jwks",
            "rateLimit",
            "session",
            "task",
            "task_change",
            "task_idempotency",
            "task_quota",
            "task_sync_head",
            "twoFactor",
            "user",
            "verification",
        ],
        None => &[
            "account",
            "auditEvent",
            "jwks",
            "rateLimit",
            "session",
            "task",
            "task_change",
            "task_idempotency",
            "task_sync_head",
            "twoFactor",
            "user",
            "verification",
        ],
    };
    assert_eq!(tables(&db).await, expected);
    db.close().await.ok();
}

async fn tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'seaql_migrations' ORDER BY name"
        }
        _ => {
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
    };
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("catalog");
    rows.iter().map(|r| r.try_get::<String>("", "name").expect("name")).collect()
}

/// `(column, type, not null)` per table, in declaration order.
async fn columns(db: &sea_orm::DatabaseConnection, table: &str) -> Vec<(String, String, bool)> {
    let backend = db.get_database_backend();
    let rows = match backend {
        DatabaseBackend::Sqlite => db
            .query_all_raw(Statement::from_string(backend, format!("SELECT name, type, \"notnull\" AS nn FROM pragma_table_info('{table}') ORDER BY cid")))
            .await
            .expect("pragma"),
        _ => db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT column_name::text AS name, data_type::text AS type, (is_nullable = 'NO')::int::int8 AS nn \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                [table.into()],
            ))
            .await
            .expect("catalog"),
    };
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("", "name").expect("name");
            let ty: String = r.try_get("", "type").expect("type");
            let nn: i64 = r.try_get("", "nn").expect("notnull");
            (name, ty.to_lowercase(), nn == 1)
        })
        .collect()
}

fn expect(spec: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    spec.iter().map(|(n, t, nn)| ((*n).to_owned(), (*t).to_owned(), *nn)).collect()
}

#[tokio::test]
async fn auth_tables_match_better_auth_exactly() {
    let store = TestDatabase::create().await;
    let db = Database::connect(&store.url).await.expect("connects");
    Migrator::up(&db, None).await.expect("up");
    let pg = postgres_url().is_some();
    let (text, ts, boolean) =
        if pg { ("text", "timestamp with time zone", "boolean") } else { ("text", "date", "integer") };
    let cases = [
        (
            "user",
            vec![
                ("id", text, true),
                ("name", text, true),
                ("email", text, true),
                ("emailVerified", boolean, true),
                ("image", text, false),
                ("createdAt", ts, true),
                ("updatedAt", ts, true),
                // The two-factor plugin's column (`docs/better-auth-plugins.md` §Two-factor).
                ("twoFactorEnabled", boolean, false),
            ],
        ),
        (
            "session",
            vec![
                ("id", text, true),
                ("expiresAt", ts, true),
                ("token", text, true),
                ("createdAt", ts, true),
                ("updatedAt", ts, true),
                ("ipAddress", text, false),
                ("userAgent", text, false),
                ("userId", text, true),
            ],
        ),
        (
            "account",
            vec![
                ("id", text, true),
                ("accountId", text, true),
                ("providerId", text, true),
                ("userId", text, true),
                ("accessToken", text, false),
                ("refreshToken", text, false),
                ("idToken", text, false),
                ("accessTokenExpiresAt", ts, false),
                ("refreshTokenExpiresAt", ts, false),
                ("scope", text, false),
                ("password", text, false),
                ("createdAt", ts, true),
                ("updatedAt", ts, true),
            ],
        ),
        (
            "verification",
            vec![
                ("id", text, true),
                ("identifier", text, true),
                ("value", text, true),
                ("expiresAt", ts, true),
                ("createdAt", ts, true),
                ("updatedAt", ts, true),
            ],
        ),
        (
            // The `jwt` plugin's keys (`docs/better-auth-plugins.md` §JWT).
            "jwks",
            vec![
                ("id", text, true),
                ("publicKey", text, true),
                ("privateKey", text, true),
                ("createdAt", ts, true),
                ("expiresAt", ts, false),
                ("alg", text, false),
                ("crv", text, false),
            ],
        ),
        (
            "rateLimit",
            vec![("id", text, true), ("key", text, true), ("count", "integer", true), ("lastRequest", "bigint", true)],
        ),
        (
            "twoFactor",
            vec![
                ("id", text, true),
                ("secret", text, true),
                ("backupCodes", text, true),
                ("userId", text, true),
                ("verified", boolean, false),
                ("failedVerificationCount", "integer", false),
                ("lockedUntil", ts, false),
            ],
        ),
    ];
    for (table, spec) in cases {
        assert_eq!(columns(&db, table).await, expect(&spec), "table {table}");
    }
    // SQLite reports an INTEGER PRIMARY KEY as nullable (it is the rowid); it is never null.
    let (task_id, task_bool, task_ts) = if pg {
        (("bigint", true), "boolean", "timestamp with time zone")
    } else {
        (("integer", false), "integer", "text")
    };
    let task = [
        ("id", task_id.0, task_id.1),
        ("title", "text", true),
        ("description", "text", false),
        ("is_completed", task_bool, true),
        ("owner_id", "text", true),
        ("created_at", task_ts, true),
        ("updated_at", task_ts, true),
    ];
    assert_eq!(columns(&db, "task").await, expect(&task), "table task");
    db.close().await.ok();
}

#[tokio::test]
async fn lookups_have_their_indexes_and_constraints() {
    let store = TestDatabase::create().await;
    let db = Database::connect(&store.url).await.expect("connects");
    Migrator::up(&db, None).await.expect("up");
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name",
        _ => "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    };
    let names: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
    for expected in [
        "session_userId_idx",
        "account_userId_idx",
        "verification_identifier_idx",
        "verification_reset_user_idx",
        "task_owner_id_id_idx",
        "twoFactor_secret_idx",
        "twoFactor_userId_idx",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    // The unique constraints on user.email and session.token are backed by indexes too.
    let unique = match backend {
        DatabaseBackend::Sqlite => ["sqlite_autoindex_user_2", "sqlite_autoindex_session_2"],
        _ => ["user_email_key", "session_token_key"],
    };
    for expected in unique {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    db.close().await.ok();
}
