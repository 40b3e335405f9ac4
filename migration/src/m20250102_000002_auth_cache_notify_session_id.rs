//! The session-cache notification names a changed session by its id (`i:<session id>`) instead
//! of its stored token (`s:<token>`): with `SESSION_TOKEN_STORAGE=plain` (and in a database
//! shared with a Node Better Auth) the stored token is the live credential, and every client
//! that may `LISTEN` on the database would have received it. The id is no credential.
//!
//! A new prefix rather than a new meaning for `s:`: an instance of an older version that
//! receives `i:` during a rolling upgrade does not know it and empties its whole cache, which
//! is safe; reading an id as a token would have left the session cached.

use sea_orm_migration::prelude::*;

use crate::execute_on_postgres;

/// The trigger function, notifying `session_key` for a session row.
fn notify_function(session_key: &str) -> String {
    format!(
        r#"create or replace function "auth_cache_notify"() returns trigger language plpgsql as $$
begin
  if TG_TABLE_NAME = 'session' then
    perform pg_notify('auth_cache', {session_key});
  else
    perform pg_notify('auth_cache', 'u:' || OLD."id");
  end if;
  return null;
end
$$"#
    )
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_on_postgres(manager, &notify_function(r#"'i:' || OLD."id""#)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_on_postgres(manager, &notify_function(r#"'s:' || OLD."token""#)).await
    }
}
