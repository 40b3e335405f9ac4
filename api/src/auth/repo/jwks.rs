//! The `jwks` table: the JWT signing keys (`docs/better-auth-plugins.md` §JWT).
//!
//! A key is created at most once per need, however many requests or instances ask at once:
//! [`insert_unless_changed`] inserts only while the table still holds the number of rows the
//! caller saw when it decided a key was missing. On SQLite a writing statement holds the
//! database's write lock from its first step, so the count and the insert are one atomic step;
//! on PostgreSQL the statement runs after `LOCK TABLE … SHARE ROW EXCLUSIVE` (which conflicts
//! with itself and with every insert, but not with reads) in the caller's transaction.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult};

use super::{execute, statement};
use time::OffsetDateTime;

use crate::{
    auth::model::SigningKeyRow,
    db::{auth_time, read_optional_time, read_time},
};

/// Every key, oldest first (rows are never deleted; a handful per year of rotation).
pub(crate) async fn all(db: &impl ConnectionTrait) -> Result<Vec<SigningKeyRow>, DbErr> {
    let sql = r#"SELECT "id", "publicKey", "privateKey", "createdAt", "expiresAt", "alg", "crv" FROM "jwks""#;
    let rows = db.query_all_raw(statement(db, sql, vec![])).await?;
    let mut keys = rows.iter().map(key_from).collect::<Result<Vec<_>, _>>()?;
    keys.sort_by_key(|key| key.created_at);
    Ok(keys)
}

/// Inserts `key` if the table still holds `seen` rows; `false` when another writer added (or
/// removed) a key in the meantime. Call inside a transaction (PostgreSQL locks the table).
pub(crate) async fn insert_unless_changed(
    db: &impl ConnectionTrait,
    key: &SigningKeyRow,
    seen: usize,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        execute(db, r#"LOCK TABLE "jwks" IN SHARE ROW EXCLUSIVE MODE"#, vec![]).await?;
    }
    let seen = i64::try_from(seen).unwrap_or(i64::MAX);
    let inserted = execute(
        db,
        r#"INSERT INTO "jwks" ("id", "publicKey", "privateKey", "createdAt", "expiresAt", "alg", "crv")
           SELECT $1, $2, $3, $4, $5, $6, $7 WHERE (SELECT count(*) FROM "jwks") = $8"#,
        vec![
            key.id.clone().into(),
            key.public_key.clone().into(),
            key.private_key.clone().into(),
            auth_time(backend, key.created_at),
            match key.expires_at {
                Some(at) => auth_time(backend, at),
                None if backend == DatabaseBackend::Sqlite => Option::<String>::None.into(),
                None => Option::<OffsetDateTime>::None.into(),
            },
            key.alg.clone().into(),
            key.crv.clone().into(),
            seen.into(),
        ],
    )
    .await?;
    Ok(inserted == 1)
}

fn key_from(row: &QueryResult) -> Result<SigningKeyRow, DbErr> {
    Ok(SigningKeyRow {
        id: row.try_get("", "id")?,
        public_key: row.try_get("", "publicKey")?,
        private_key: row.try_get("", "privateKey")?,
        created_at: read_time(row, "createdAt")?,
        expires_at: read_optional_time(row, "expiresAt")?,
        alg: row.try_get("", "alg")?,
        crv: row.try_get("", "crv")?,
    })
}
