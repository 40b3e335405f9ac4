//! Sessions: creating one, resolving the one a request presents, the sliding refresh, the
//! lifetime and freshness rules (`docs/better-auth-wire.md` §4.4, §5), listing and revoking.
//!
//! A session is looked up by its stored token (a SHA-256 hash by default) joined with its user
//! in one query, or served from the cache. Expired rows are rejected and deleted when met, and
//! swept periodically. Every write goes through `auth::store`, which keeps the cache coherent,
//! so revocation takes effect on the very next request.

use std::time::Duration;

use sea_orm::DbErr;
use time::OffsetDateTime;

use crate::{
    auth::{
        error::AuthError,
        model::{AuditEvent, AuditKind, ClientInfo, LiveSession, Session, SessionId, User, UserId},
        store::{AuthStore, AuthWrite, WriteTarget},
        token::SessionToken,
    },
    config::SessionConfig,
    error::ApiError,
    timestamp::now_millis,
};

/// Lifetime of a session created with `rememberMe: false` (hard-coded in Better Auth).
pub(crate) const DONT_REMEMBER_LIFETIME: Duration = Duration::from_secs(86_400);

/// How the request presented its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthVia {
    /// The signed session cookie.
    Cookie,
    /// `Authorization: Bearer`.
    Bearer,
}

/// The authenticated session of a request.
#[derive(Clone, Debug)]
pub(crate) struct CurrentSession {
    /// The session row.
    pub(crate) session: Session,
    /// Its user.
    pub(crate) user: User,
    /// The raw token the client presented.
    pub(crate) token: SessionToken,
}

/// What a presented token resolves to.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session, its user, and the slot of the user's `set-auth-jwt` token.
    Valid(Box<LiveSession>),
    /// No such session, or it expired (and was deleted): the client's cookies are stale.
    Gone,
}

/// Session rules over the auth store; cheap to clone.
#[derive(Clone)]
pub(crate) struct Sessions {
    store: AuthStore,
    config: SessionConfig,
}

impl Sessions {
    /// The session service over `store`.
    pub(crate) fn new(store: AuthStore, config: SessionConfig) -> Self {
        Self { store, config }
    }

    /// A new session row for `user`, and its raw token (not yet stored: see [`Self::start`]).
    pub(crate) fn new_session(&self, user: &UserId, remember: bool, client: &ClientInfo) -> (Session, SessionToken) {
        let now = now_millis();
        let lifetime = if remember { self.config.expires_in } else { DONT_REMEMBER_LIFETIME };
        let lifetime = lifetime.min(self.config.absolute_lifetime);
        let token = SessionToken::generate();
        let row = Session {
            id: SessionId::generate(),
            token: self.store.stored(&token),
            user_id: user.clone(),
            expires_at: now + lifetime,
            created_at: now,
            updated_at: now,
            ip_address: Some(client.ip_address().to_owned()),
            user_agent: Some(client.user_agent().to_owned()),
        };
        (row, token)
    }

    /// Creates and stores a session for `user` as part of `write`.
    pub(crate) async fn start<T: WriteTarget>(
        &self,
        write: &mut AuthWrite<'_, T>,
        user: &UserId,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<(Session, SessionToken), DbErr> {
        let (session, token) = self.new_session(user, remember, client);
        write.insert_session(&session).await?;
        Ok((session, token))
    }

    /// Resolves a presented token to its live session and user. A session past its absolute
    /// lifetime is deleted and reported gone, whatever its `expiresAt` says (a row written by
    /// Better Auth, or by a version without the limit, may have been refreshed beyond it).
    pub(crate) async fn resolve(&self, token: &SessionToken) -> Result<Lookup, DbErr> {
        let now = OffsetDateTime::now_utc();
        Ok(match self.store.live_session(token, now).await? {
            Some((session, _, _)) if self.absolute_end(&session) <= now => {
                self.store.write().delete_session(&session).await?;
                Lookup::Gone
            }
            Some(found) => Lookup::Valid(Box::new(found)),
            None => Lookup::Gone,
        })
    }

    /// When a session ends for good: its sign-in (`createdAt`) plus `SESSION_ABSOLUTE_LIFETIME`.
    fn absolute_end(&self, session: &Session) -> OffsetDateTime {
        session.created_at + self.config.absolute_lifetime
    }

    /// Whether a session is due for its sliding refresh: at least `update_age` since it was
    /// created or last refreshed, assuming it was set to expire `expires_in` after that (§3.4),
    /// and its expiry not yet at its absolute end (where a refresh could not extend it).
    pub(crate) fn refresh_due(&self, session: &Session, now: OffsetDateTime) -> bool {
        session.expires_at - self.config.expires_in + self.config.update_age <= now
            && session.expires_at < self.absolute_end(session)
    }

    /// Extends a session to `now + expires_in`, never beyond its absolute end. Returns the
    /// updated row, or `None` when it vanished.
    pub(crate) async fn refresh(&self, mut session: Session) -> Result<Option<Session>, DbErr> {
        let now = now_millis();
        let expires_at = (now + self.config.expires_in).min(self.absolute_end(&session));
        if !self.store.write().refresh_session(&session, expires_at, now).await? {
            return Ok(None);
        }
        session.expires_at = expires_at;
        session.updated_at = now;
        Ok(Some(session))
    }

    /// Whether a session was created recently enough for sensitive operations (§5.4).
    pub(crate) fn is_fresh(&self, session: &Session) -> bool {
        self.config.fresh_age.is_zero() || OffsetDateTime::now_utc() - session.created_at < self.config.fresh_age
    }

    /// Whether a session was created with `rememberMe` (it outlives the browser).
    pub(crate) fn is_remembered(session: &Session) -> bool {
        session.expires_at - session.created_at > DONT_REMEMBER_LIFETIME
    }

    /// `Max-Age` of a session cookie: the full lifetime when remembered, none (a
    /// browser-session cookie) otherwise.
    pub(crate) fn cookie_max_age(&self, remember: bool) -> Option<u64> {
        remember.then_some(self.config.expires_in.min(self.config.absolute_lifetime).as_secs())
    }

    /// `Max-Age` of the cookie of a refreshed session: the full lifetime, or less when the
    /// absolute lifetime capped its expiry (rounded up: the refresh itself took milliseconds).
    pub(crate) fn refreshed_cookie_max_age(&self, session: &Session) -> Option<u64> {
        let left = session.expires_at - OffsetDateTime::now_utc() + time::Duration::milliseconds(999);
        Some(u64::try_from(left.whole_seconds()).unwrap_or(0).min(self.config.expires_in.as_secs()))
    }

    /// Ends the session a token names, if it still exists (sign-out), and records it.
    pub(crate) async fn end(&self, token: &SessionToken, client: &ClientInfo) -> Result<(), DbErr> {
        let mut write = self.store.begin().await?;
        if let Some(user) = write.delete_session_by_token(&self.store.stored(token)).await? {
            write.record(&AuditEvent::new(AuditKind::SignOut, &user, client)).await?;
        }
        write.commit().await
    }

    /// The user's active sessions, oldest first; only from a fresh session (as Better Auth).
    pub(crate) async fn list(&self, current: &CurrentSession) -> Result<Vec<Session>, ApiError> {
        if !self.is_fresh(&current.session) {
            return Err(AuthError::SessionNotFresh.into());
        }
        let now = OffsetDateTime::now_utc();
        let mut live = self.store.live_sessions(&current.user.id, now).await?;
        live.retain(|session| self.absolute_end(session) > now);
        Ok(live)
    }

    /// Revokes one of the caller's sessions, named by its id (the `list-sessions` handle) or
    /// its raw token. Returns the id of the session ended, if any: someone else's changes nothing.
    /// Records the revocation.
    pub(crate) async fn revoke(
        &self,
        current: &CurrentSession,
        handle: String,
        client: &ClientInfo,
    ) -> Result<Option<SessionId>, DbErr> {
        let user = &current.user.id;
        let stored = self.store.stored(&SessionToken::from_client(handle.clone()));
        let mut write = self.store.begin().await?;
        let deleted = write.delete_user_session(user, &SessionId::new(handle), &stored).await?;
        if deleted.is_some() {
            write.record(&AuditEvent::new(AuditKind::SessionRevoked, user, client)).await?;
        }
        write.commit().await?;
        Ok(deleted)
    }

    /// Ends every session of the user, or every one but `keep`, and records it. Returns how many.
    pub(crate) async fn revoke_all(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        client: &ClientInfo,
    ) -> Result<u64, DbErr> {
        let kind = if keep.is_some() { AuditKind::OtherSessionsRevoked } else { AuditKind::SessionsRevoked };
        let mut write = self.store.begin().await?;
        let ended = write.delete_user_sessions(user, keep).await?;
        write.record(&AuditEvent::new(kind, user, client)).await?;
        write.commit().await?;
        Ok(ended)
    }

    /// Deletes expired sessions and reset tokens (the periodic sweep); returns how many of each.
    pub(crate) async fn sweep_expired(&self, now: OffsetDateTime) -> (Result<u64, DbErr>, Result<u64, DbErr>) {
        let mut write = self.store.write();
        let sessions = write.delete_expired_sessions(now).await;
        let tokens = write.delete_expired_reset_tokens(now).await;
        (sessions, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenStorage;

    async fn sessions() -> Sessions {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("in-memory SQLite");
        let config = SessionConfig {
            expires_in: Duration::from_secs(604_800),
            update_age: Duration::from_secs(86_400),
            fresh_age: Duration::from_secs(86_400),
            absolute_lifetime: Duration::from_secs(2_592_000),
            token_storage: TokenStorage::Hashed,
            cache_ttl: Duration::from_secs(300),
        };
        Sessions::new(AuthStore::new(db, config.cache_ttl, config.token_storage), config)
    }

    fn user() -> UserId {
        UserId::new("u".to_owned())
    }

    #[tokio::test]
    async fn remember_me_off_sessions_last_one_day() {
        let sessions = sessions().await;
        let (remembered, _) = sessions.new_session(&user(), true, &ClientInfo::default());
        let (forgotten, token) = sessions.new_session(&user(), false, &ClientInfo::default());
        assert_eq!(remembered.expires_at - remembered.created_at, time::Duration::days(7));
        assert_eq!(forgotten.expires_at - forgotten.created_at, time::Duration::days(1));
        assert!(Sessions::is_remembered(&remembered) && !Sessions::is_remembered(&forgotten));
        assert_ne!(forgotten.token.as_str(), token.expose(), "stored hashed");
        assert_eq!(forgotten.ip_address.as_deref(), Some(""));
    }

    #[tokio::test]
    async fn refresh_is_due_once_a_day_has_passed() {
        let sessions = sessions().await;
        let now = OffsetDateTime::now_utc();
        let (mut session, _) = sessions.new_session(&user(), true, &ClientInfo::default());
        session.expires_at = now + time::Duration::days(6) - time::Duration::minutes(1);
        assert!(sessions.refresh_due(&session, now), "set 1 day + 1 minute ago");
        session.expires_at = now + time::Duration::days(6) + time::Duration::minutes(1);
        assert!(!sessions.refresh_due(&session, now), "set 23 hours 59 minutes ago");
    }

    #[tokio::test]
    async fn refresh_never_passes_the_absolute_lifetime() {
        let sessions = sessions().await;
        let now = OffsetDateTime::now_utc();
        let (mut session, _) = sessions.new_session(&user(), true, &ClientInfo::default());
        session.created_at = now - time::Duration::days(29);
        session.expires_at = now + time::Duration::hours(1);
        assert!(sessions.refresh_due(&session, now), "due by the sliding rule");
        session.expires_at = session.created_at + time::Duration::days(30);
        assert!(!sessions.refresh_due(&session, now), "already at its absolute end: nothing to extend");
    }
}
