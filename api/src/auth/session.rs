//! Sessions: creating one, finding the one a request presents, the sliding refresh, and the
//! lifetime rules (`better-auth-wire.md` §4.4, §5).
//!
//! A session is looked up by its stored token (a SHA-256 hash by default) joined with its user
//! in one query. Expired rows are rejected and deleted when met, and swept periodically.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use crate::{
    auth::{
        cache::SessionCache,
        repo::{self, SessionRow, UserRow},
        token::{SessionToken, new_id},
    },
    config::SessionConfig,
    timestamp::now_millis,
};

/// Lifetime of a session created with `rememberMe: false` (hard-coded in Better Auth).
pub const DONT_REMEMBER_LIFETIME: Duration = Duration::from_secs(86_400);

/// How the request presented its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthVia {
    /// The signed session cookie.
    Cookie,
    /// `Authorization: Bearer`.
    Bearer,
}

/// The authenticated session of a request.
#[derive(Clone, Debug)]
pub struct CurrentSession {
    /// The session row.
    pub session: SessionRow,
    /// Its user.
    pub user: UserRow,
    /// The raw token the client presented.
    pub token: SessionToken,
    /// Cookie or bearer.
    pub via: AuthVia,
}

/// Where a new session comes from.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Normalised client address, `""` when unknown (Better Auth's convention).
    pub ip_address: String,
    /// `User-Agent`, `""` when absent.
    pub user_agent: String,
}

/// A new session row for `user_id`, and its raw token.
pub fn new_session(
    user_id: &str,
    remember: bool,
    client: &ClientInfo,
    config: &SessionConfig,
) -> (SessionRow, SessionToken) {
    let now = now_millis();
    let lifetime = if remember { config.expires_in } else { DONT_REMEMBER_LIFETIME };
    let token = SessionToken::generate();
    let row = SessionRow {
        id: new_id(),
        token: token.stored(config.token_storage),
        user_id: user_id.to_owned(),
        expires_at: now + lifetime,
        created_at: now,
        updated_at: now,
        ip_address: Some(client.ip_address.clone()),
        user_agent: Some(client.user_agent.clone()),
    };
    (row, token)
}

/// What a presented token resolves to.
#[derive(Debug)]
pub enum Lookup {
    /// A live session.
    Valid(Box<(SessionRow, UserRow)>),
    /// No such session, or it expired (and was deleted): the client's cookies are stale.
    Gone,
}

/// Finds the live session for a token, from the cache or (one query) the database. An expired
/// session is deleted and reported as gone.
pub async fn find(
    db: &impl ConnectionTrait,
    cache: &SessionCache,
    token: &SessionToken,
    config: &SessionConfig,
) -> Result<Lookup, DbErr> {
    let stored = token.stored(config.token_storage);
    let now = OffsetDateTime::now_utc();
    if let Some((session, user)) = cache.get(&stored)
        && session.expires_at > now
    {
        return Ok(Lookup::Valid(Box::new((session, user))));
    }
    let generation = cache.generation();
    let Some((session, user)) = repo::find_session(db, &stored).await? else {
        return Ok(Lookup::Gone);
    };
    if session.expires_at <= now {
        repo::delete_session(db, &session.id).await?;
        cache.invalidate_token(&stored);
        return Ok(Lookup::Gone);
    }
    cache.insert(generation, stored, session.clone(), user.clone());
    Ok(Lookup::Valid(Box::new((session, user))))
}

/// Whether a session is due for its sliding refresh: at least `update_age` since it was
/// created or last refreshed, assuming it was set to expire `expires_in` after that (§3.4).
pub fn refresh_due(session: &SessionRow, config: &SessionConfig, now: OffsetDateTime) -> bool {
    session.expires_at - config.expires_in + config.update_age <= now
}

/// Extends a session to `now + expires_in`. Returns the updated row, or `None` when it vanished.
pub async fn refresh(
    db: &impl ConnectionTrait,
    cache: &SessionCache,
    mut session: SessionRow,
    config: &SessionConfig,
) -> Result<Option<SessionRow>, DbErr> {
    let now = now_millis();
    let expires_at = now + config.expires_in;
    let refreshed = repo::refresh_session(db, &session.id, expires_at, now).await?;
    cache.invalidate_token(&session.token);
    if !refreshed {
        return Ok(None);
    }
    session.expires_at = expires_at;
    session.updated_at = now;
    Ok(Some(session))
}

/// Whether a session was created recently enough for sensitive operations (§5.4).
pub fn is_fresh(session: &SessionRow, config: &SessionConfig) -> bool {
    config.fresh_age.is_zero() || OffsetDateTime::now_utc() - session.created_at < config.fresh_age
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenStorage;

    fn config() -> SessionConfig {
        SessionConfig {
            expires_in: Duration::from_secs(604_800),
            update_age: Duration::from_secs(86_400),
            fresh_age: Duration::from_secs(86_400),
            token_storage: TokenStorage::Hashed,
            cache_ttl: Duration::from_secs(300),
        }
    }

    #[test]
    fn remember_me_off_sessions_last_one_day() {
        let (remembered, _) = new_session("u", true, &ClientInfo::default(), &config());
        let (forgotten, token) = new_session("u", false, &ClientInfo::default(), &config());
        assert_eq!(remembered.expires_at - remembered.created_at, time::Duration::days(7));
        assert_eq!(forgotten.expires_at - forgotten.created_at, time::Duration::days(1));
        assert_ne!(forgotten.token, token.expose(), "stored hashed");
        assert_eq!(forgotten.ip_address.as_deref(), Some(""));
    }

    #[test]
    fn refresh_is_due_once_a_day_has_passed() {
        let now = OffsetDateTime::now_utc();
        let (mut session, _) = new_session("u", true, &ClientInfo::default(), &config());
        session.expires_at = now + time::Duration::days(6) - time::Duration::minutes(1);
        assert!(refresh_due(&session, &config(), now), "set 1 day + 1 minute ago");
        session.expires_at = now + time::Duration::days(6) + time::Duration::minutes(1);
        assert!(!refresh_due(&session, &config(), now), "set 23 hours 59 minutes ago");
    }
}
