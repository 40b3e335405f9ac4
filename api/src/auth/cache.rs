//! An in-memory cache of live sessions (session + user by stored token), so an authenticated
//! request costs no database round trip, without giving up immediate revocation.
//!
//! Unlike Better Auth's cookie cache (which lets a revoked session live for minutes), every
//! write that ends or changes a session or a user invalidates the entry:
//! - in this process, right after the write commits: every such write goes through
//!   `auth::store::AuthWrite`, which owns the cache and invalidates per kind of write;
//! - in every other process sharing a PostgreSQL database, through triggers on `session` and
//!   `user` that `NOTIFY auth_cache` (so writes by any client, a Node Better Auth included,
//!   count), received by [`listen`]. While that listener is not connected the cache is not
//!   trusted: every lookup goes to the database, and the cache is emptied when it reconnects.
//!
//! A lookup racing with an invalidation cannot re-insert a stale row: entries are inserted only
//! if no invalidation happened since the lookup started (a generation counter). Entries also
//! expire after `SESSION_CACHE_TTL` as a last bound (e.g. several processes on one SQLite file).

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::auth::{
    model::{Session, User, UserId},
    token::StoredToken,
};

/// Most entries kept; past this the cache starts over (bounded memory).
const CAPACITY: usize = 200_000;

/// The notification channel the triggers publish on.
const CHANNEL: &str = "auth_cache";

struct Entry {
    session: Session,
    user: User,
    cached_at: Instant,
}

/// The session cache.
pub(crate) struct SessionCache {
    entries: RwLock<HashMap<StoredToken, Entry>>,
    generation: AtomicU64,
    trusted: AtomicBool,
    ttl: Duration,
}

impl SessionCache {
    /// A cache whose entries live at most `ttl` (zero disables it). `trusted` says whether it
    /// may serve entries from the start (false until a cross-process listener is connected).
    pub(crate) fn new(ttl: Duration, trusted: bool) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted && !ttl.is_zero()),
            ttl,
        }
    }

    /// The cached session and user for a stored token, if present, fresh and trusted.
    pub(crate) fn get(&self, stored_token: &StoredToken) -> Option<(Session, User)> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(stored_token)?;
        (entry.cached_at.elapsed() < self.ttl).then(|| (entry.session.clone(), entry.user.clone()))
    }

    /// The current generation; pass it to [`Self::insert`] after reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a row read from the database, unless an invalidation happened since
    /// `generation` was taken (the row may be stale) or the cache is not trusted.
    pub(crate) fn insert(&self, generation: u64, stored_token: StoredToken, session: Session, user: User) {
        if !self.trusted.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the write lock: invalidations bump the generation under it too.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(stored_token, Entry { session, user, cached_at: Instant::now() });
    }

    /// Forgets the session with this stored token.
    pub(crate) fn invalidate_token(&self, stored_token: &StoredToken) {
        self.forget_token(stored_token.as_str());
    }

    /// Forgets every session of this user (the user row changed, or sessions were revoked).
    pub(crate) fn invalidate_user(&self, user_id: &UserId) {
        self.forget_user(user_id.as_str());
    }

    fn forget_token(&self, stored_token: &str) {
        self.invalidate(|entries| {
            entries.remove(stored_token);
        });
    }

    fn forget_user(&self, user_id: &str) {
        self.invalidate(|entries| entries.retain(|_, entry| entry.user.id.as_str() != user_id));
    }

    /// Forgets everything.
    fn clear(&self) {
        self.invalidate(HashMap::clear);
    }

    /// Trusts (or stops trusting) the cache; either way it starts empty.
    fn set_trusted(&self, trusted: bool) {
        self.clear();
        self.trusted.store(trusted && !self.ttl.is_zero(), Ordering::Release);
    }

    fn invalidate(&self, change: impl FnOnce(&mut HashMap<StoredToken, Entry>)) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        change(&mut entries);
    }

    /// Applies one notification payload from the triggers: `s:<stored token>` or `u:<user id>`.
    fn apply_notification(&self, payload: &str) {
        match payload.split_once(':') {
            Some(("s", token)) => self.forget_token(token),
            Some(("u", user_id)) => self.forget_user(user_id),
            _ => self.clear(),
        }
    }
}

/// Keeps the cache coherent with other processes on PostgreSQL: listens on [`CHANNEL`] and
/// applies every notification; trusts the cache only while connected.
pub(crate) async fn listen(db: sea_orm::DatabaseConnection, cache: std::sync::Arc<SessionCache>) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        cache.set_trusted(false);
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        }
        .await;
        let mut listener = match listener {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "session cache listener cannot connect; cache disabled");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        cache.set_trusted(true);
        tracing::debug!("session cache listener connected");
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => cache.apply_notification(notification.payload()),
                // The connection was lost (and notifications with it): start over.
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "session cache listener failed; cache disabled");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::auth::model::SessionId;

    fn token() -> StoredToken {
        StoredToken::from_stored("tok".to_owned())
    }

    fn rows(user_id: &str) -> (Session, User) {
        let now = OffsetDateTime::now_utc();
        let session = Session {
            id: SessionId::new("s".to_owned()),
            token: token(),
            user_id: UserId::new(user_id.to_owned()),
            expires_at: now,
            created_at: now,
            updated_at: now,
            ip_address: None,
            user_agent: None,
        };
        let user = User {
            id: UserId::new(user_id.to_owned()),
            name: String::new(),
            email: String::new(),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
        };
        (session, user)
    }

    fn cache() -> SessionCache {
        SessionCache::new(Duration::from_secs(60), true)
    }

    #[test]
    fn hits_after_insert_and_misses_after_invalidation() {
        let cache = cache();
        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        assert!(cache.get(&token()).is_some());
        cache.invalidate_token(&token());
        assert!(cache.get(&token()).is_none());

        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        cache.apply_notification("u:u1");
        assert!(cache.get(&token()).is_none(), "a user notification drops their sessions");
    }

    #[test]
    fn a_lookup_racing_an_invalidation_does_not_reinsert_a_stale_row() {
        let cache = cache();
        let generation = cache.generation();
        cache.invalidate_user(&UserId::new("u1".to_owned()));
        let (s, u) = rows("u1");
        cache.insert(generation, token(), s, u);
        assert!(cache.get(&token()).is_none());
    }

    #[test]
    fn an_untrusted_or_disabled_cache_serves_nothing() {
        let cache = cache();
        cache.set_trusted(false);
        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        assert!(cache.get(&token()).is_none());
        let disabled = SessionCache::new(Duration::ZERO, true);
        let (s, u) = rows("u1");
        disabled.insert(disabled.generation(), token(), s, u);
        assert!(disabled.get(&token()).is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = SessionCache::new(Duration::from_millis(1), true);
        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&token()).is_none());
    }
}
