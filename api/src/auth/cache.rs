//! An in-memory cache of live sessions (session + user by stored token), so an authenticated
//! request costs no database round trip, without giving up immediate revocation.
//!
//! Unlike Better Auth's cookie cache (which lets a revoked session live for minutes), every
//! write that ends or changes a session or a user invalidates the entry:
//! - in this process, right after the write commits: every such write goes through
//!   `auth::store::AuthWrite`, which owns the cache and invalidates per kind of write;
//! - in every other process sharing a PostgreSQL database, through triggers on `session` and
//!   `user` that `NOTIFY auth_cache` (so writes by any client, a Node Better Auth included,
//!   count), received by [`listen`]. A notification names a session by its id, never by its
//!   token (which with `SESSION_TOKEN_STORAGE=plain` is the credential itself, and any database
//!   client may `LISTEN`); entries are indexed by session id for it. While that listener is not
//!   connected the cache is not trusted: every lookup goes to the database, and the cache is
//!   emptied when it reconnects.
//!
//! A write that invalidates also waits, bounded by [`SETTLE_LIMIT`], until every listening
//! process has applied it ([`SessionCache::settle`]): it notifies a marker after the write
//! committed; PostgreSQL delivers notifications to each listener in commit order, so a process
//! that receives the marker has already applied the write's own notifications, and answers with
//! an acknowledgement. The writer waits for as many acknowledgements (its own echo included) as
//! there are listener connections on the database, so the answer to a sign-out or revocation
//! leaves once every instance has dropped the session (the README's "Running several instances"
//! states the guarantee and its limits).
//!
//! A lookup racing with an invalidation cannot re-insert a stale row: entries are inserted only
//! if no invalidation happened since the lookup started (a generation counter). Entries also
//! expire after `SESSION_CACHE_TTL` as a last bound (e.g. several processes on one SQLite file).
//!
//! An entry also carries the JWT last signed for its user's `set-auth-jwt` header
//! ([`JwtSlot`]): it goes wherever the entry goes, so every invalidation above drops it too.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::oneshot;

use crate::auth::{
    model::{JwtSlot, LiveSession, Session, User, UserId},
    token::StoredToken,
};
use crate::metrics::METRICS;

/// Most entries kept; past this the cache starts over (bounded memory).
const CAPACITY: usize = 200_000;

/// The notification channel the triggers publish on.
const CHANNEL: &str = "auth_cache";

/// The longest a write waits for its settle marker to come back (a listener that lags longer
/// than this is not waited for; the write has committed either way).
const SETTLE_LIMIT: Duration = Duration::from_secs(1);

/// The `application_name` of listener connections, by which a writer counts the processes it
/// waits for.
const LISTENER_NAME: &str = "api-session-cache";

/// A settle marker's waiter: how many acknowledgements are still missing.
struct Waiter {
    missing: usize,
    done: oneshot::Sender<()>,
}

/// The settle markers this process has notified and waits for (`m:<instance>:<sequence>`,
/// acknowledged with `a:<instance>:<sequence>`).
struct Markers {
    /// Random per process, so that one process never takes another's marker for its own.
    instance: String,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiter>>,
}

impl Markers {
    fn new() -> Self {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the OS random number generator is available");
        Self { instance: hex::encode(id), next: AtomicU64::new(0), waiting: Mutex::new(HashMap::new()) }
    }

    /// A new marker payload and the receiver woken once `listeners` processes received it.
    fn register(&self, listeners: usize) -> (u64, String, oneshot::Receiver<()>) {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, rx) = oneshot::channel();
        let waiter = Waiter { missing: listeners.max(1), done };
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).insert(sequence, waiter);
        (sequence, format!("m:{}:{sequence}", self.instance), rx)
    }

    fn forget(&self, sequence: u64) {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(&sequence);
    }

    /// Whether a marker (`<instance>:<sequence>`) is this process's own.
    fn is_own(&self, marker: &str) -> bool {
        marker.split_once(':').is_some_and(|(instance, _)| instance == self.instance)
    }

    /// Counts one process having received one of this process's markers (its own echo or an
    /// acknowledgement); wakes the waiter when none is missing. Other processes' are ignored.
    fn received(&self, marker: &str) {
        let Some((instance, sequence)) = marker.split_once(':') else { return };
        let Ok(sequence) = sequence.parse::<u64>() else { return };
        if instance != self.instance {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(waiter) = waiting.get_mut(&sequence) else { return };
        waiter.missing = waiter.missing.saturating_sub(1);
        if waiter.missing == 0
            && let Some(waiter) = waiting.remove(&sequence)
        {
            let _ = waiter.done.send(());
        }
    }
}

struct Entry {
    session: Session,
    user: User,
    jwt: Arc<JwtSlot>,
    cached_at: Instant,
}

/// The cached entries by stored token, and the stored token of each by session id (what the
/// cross-process notifications name).
#[derive(Default)]
struct Entries {
    by_token: HashMap<StoredToken, Entry>,
    by_id: HashMap<String, StoredToken>,
}

impl Entries {
    fn insert(&mut self, stored_token: StoredToken, entry: Entry) {
        self.by_id.insert(entry.session.id.as_str().to_owned(), stored_token.clone());
        if let Some(old) = self.by_token.insert(stored_token, entry) {
            self.forget_id_of(&old);
        }
    }

    fn remove_token(&mut self, stored_token: &str) {
        if let Some(old) = self.by_token.remove(stored_token) {
            self.forget_id_of(&old);
        }
    }

    fn remove_id(&mut self, session_id: &str) {
        if let Some(stored_token) = self.by_id.remove(session_id) {
            self.by_token.remove(&stored_token);
        }
    }

    fn remove_user(&mut self, user_id: &str) {
        self.by_token.retain(|_, entry| entry.user.id.as_str() != user_id);
        let by_token = &self.by_token;
        self.by_id.retain(|_, stored_token| by_token.contains_key(stored_token));
    }

    /// Drops the id index entry of a removed entry, unless it already names another token.
    fn forget_id_of(&mut self, old: &Entry) {
        let id = old.session.id.as_str();
        if self.by_id.get(id).is_some_and(|token| !self.by_token.contains_key(token)) {
            self.by_id.remove(id);
        }
    }

    fn len(&self) -> usize {
        self.by_token.len()
    }

    fn clear(&mut self) {
        self.by_token.clear();
        self.by_id.clear();
    }
}

/// The session cache.
pub(crate) struct SessionCache {
    entries: RwLock<Entries>,
    generation: AtomicU64,
    trusted: AtomicBool,
    /// Whether the PostgreSQL listener is connected (independent of the cache being enabled:
    /// other processes' caches need the settle wait even when this one caches nothing).
    listening: AtomicBool,
    markers: Markers,
    ttl: Duration,
}

impl SessionCache {
    /// A cache whose entries live at most `ttl` (zero disables it). `trusted` says whether it
    /// may serve entries from the start (false until a cross-process listener is connected).
    pub(crate) fn new(ttl: Duration, trusted: bool) -> Self {
        Self {
            entries: RwLock::new(Entries::default()),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted && !ttl.is_zero()),
            listening: AtomicBool::new(false),
            markers: Markers::new(),
            ttl,
        }
    }

    /// The cached session and user for a stored token, if present, fresh and trusted.
    pub(crate) fn get(&self, stored_token: &StoredToken) -> Option<LiveSession> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = entries
            .by_token
            .get(stored_token)
            .filter(|entry| entry.cached_at.elapsed() < self.ttl)
            .map(|entry| (entry.session.clone(), entry.user.clone(), Arc::clone(&entry.jwt)));
        match found {
            Some(_) => METRICS.cache_hits.inc(),
            None => METRICS.cache_misses.inc(),
        }
        found
    }

    /// The current generation; pass it to [`Self::insert`] after reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a row read from the database, unless an invalidation happened since
    /// `generation` was taken (the row may be stale) or the cache is not trusted. Returns the
    /// entry's new, empty JWT slot (the request's own when the row was not cached).
    pub(crate) fn insert(
        &self,
        generation: u64,
        stored_token: StoredToken,
        session: Session,
        user: User,
    ) -> Arc<JwtSlot> {
        let jwt = Arc::new(JwtSlot::default());
        if !self.trusted.load(Ordering::Acquire) {
            return jwt;
        }
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the write lock: invalidations bump the generation under it too.
        if self.generation.load(Ordering::Acquire) != generation {
            return jwt;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(stored_token, Entry { session, user, jwt: Arc::clone(&jwt), cached_at: Instant::now() });
        jwt
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
        self.invalidate(|entries| entries.remove_token(stored_token));
    }

    fn forget_session(&self, session_id: &str) {
        self.invalidate(|entries| entries.remove_id(session_id));
    }

    fn forget_user(&self, user_id: &str) {
        self.invalidate(|entries| entries.remove_user(user_id));
    }

    /// Forgets everything.
    fn clear(&self) {
        self.invalidate(Entries::clear);
    }

    /// Trusts (or stops trusting) the cache; either way it starts empty.
    fn set_trusted(&self, trusted: bool) {
        self.clear();
        self.trusted.store(trusted && !self.ttl.is_zero(), Ordering::Release);
    }

    fn invalidate(&self, change: impl FnOnce(&mut Entries)) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        METRICS.cache_invalidations.inc();
        change(&mut entries);
    }

    /// Applies one notification payload: `i:<session id>` or `u:<user id>` from the triggers,
    /// `m:<instance>:<sequence>` a settle marker, `a:<instance>:<sequence>` its acknowledgement.
    /// Returns the acknowledgement to notify for another process's marker.
    fn apply_notification(&self, payload: &str) -> Option<String> {
        match payload.split_once(':') {
            Some(("i", session_id)) => self.forget_session(session_id),
            Some(("u", user_id)) => self.forget_user(user_id),
            Some(("m", marker)) if !self.markers.is_own(marker) => return Some(format!("a:{marker}")),
            Some(("m" | "a", marker)) => self.markers.received(marker),
            _ => self.clear(),
        }
        None
    }

    /// After a write that other processes must see (it committed and was invalidated here):
    /// notifies a marker and waits, at most [`SETTLE_LIMIT`], until every process listening on
    /// the database (this one included) has received it, and so applied the write's own
    /// notifications before it. Nothing to wait for on SQLite or while this process's listener
    /// is disconnected.
    pub(crate) async fn settle(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DatabaseBackend::Postgres || !self.listening.load(Ordering::Acquire) {
            return;
        }
        let count = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            [LISTENER_NAME.into()],
        );
        let listeners = match db.query_one_raw(count).await {
            Ok(Some(row)) => row.try_get::<i64>("", "n").ok().and_then(|n| usize::try_from(n).ok()).unwrap_or(1),
            _ => 1,
        };
        let (sequence, payload, settled) = self.markers.register(listeners);
        let settled = match notify(db.get_postgres_connection_pool(), &payload).await {
            Ok(()) => tokio::time::timeout(SETTLE_LIMIT, settled).await.is_ok_and(|settled| settled.is_ok()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot notify the session cache settle marker");
                false
            }
        };
        if !settled {
            self.markers.forget(sequence);
            tracing::warn!(listeners, "not every session cache acknowledged a change in time");
        }
    }
}

/// `pg_notify` on [`CHANNEL`].
async fn notify(pool: &sea_orm::sqlx::PgPool, payload: &str) -> Result<(), sea_orm::sqlx::Error> {
    sea_orm::sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool).await.map(|_| ())
}

/// Keeps the cache coherent with other processes on PostgreSQL: listens on [`CHANNEL`] and
/// applies every notification (acknowledging other processes' settle markers); trusts the cache
/// only while connected.
pub(crate) async fn listen(db: DatabaseConnection, cache: std::sync::Arc<SessionCache>) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        cache.listening.store(false, Ordering::Release);
        cache.set_trusted(false);
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            sea_orm::sqlx::query("SELECT set_config('application_name', $1, false)")
                .bind(LISTENER_NAME)
                .execute(&mut listener)
                .await?;
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
        cache.listening.store(true, Ordering::Release);
        tracing::debug!("session cache listener connected");
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(ack) = cache.apply_notification(notification.payload()) {
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            if let Err(err) = notify(&pool, &ack).await {
                                tracing::warn!(error = %err, "cannot acknowledge a session cache settle marker");
                            }
                        });
                    }
                }
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
            two_factor_enabled: false,
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
    fn the_jwt_slot_lives_and_dies_with_its_entry() {
        let cache = cache();
        let (s, u) = rows("u1");
        let slot = cache.insert(cache.generation(), token(), s, u);
        let (_, _, cached) = cache.get(&token()).expect("cached");
        assert!(Arc::ptr_eq(&slot, &cached), "a hit shares the entry's slot");
        cache.apply_notification("u:u1");
        let (s, u) = rows("u1");
        let fresh = cache.insert(cache.generation(), token(), s, u);
        let (_, _, cached) = cache.get(&token()).expect("cached again");
        assert!(Arc::ptr_eq(&fresh, &cached) && !Arc::ptr_eq(&slot, &cached), "a new entry, a new slot");
    }

    #[test]
    fn a_session_notification_names_the_session_by_id_and_drops_it() {
        let cache = cache();
        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        cache.apply_notification(&format!("s:{}", token().as_str()));
        assert!(cache.get(&token()).is_none(), "an unknown payload (the old token form) empties the cache");

        let (s, u) = rows("u1");
        cache.insert(cache.generation(), token(), s, u);
        cache.apply_notification("i:other");
        assert!(cache.get(&token()).is_some(), "another session's id leaves this one");
        cache.apply_notification("i:s");
        assert!(cache.get(&token()).is_none(), "its own id drops it");
        assert!(cache.entries.read().expect("lock").by_id.is_empty(), "the id index is emptied with it");
    }

    #[test]
    fn a_settle_marker_completes_once_every_listener_received_it() {
        let (writer, other) = (cache(), cache());
        let (s, u) = rows("u1");
        other.insert(other.generation(), token(), s, u);
        let (_, marker, mut settled) = writer.markers.register(2);
        // The other process applies the write's notification, then acknowledges the marker.
        assert_eq!(other.apply_notification("i:s"), None);
        assert!(other.get(&token()).is_none());
        let ack = other.apply_notification(&marker).expect("a foreign marker is acknowledged");
        assert_eq!(writer.apply_notification(&marker), None, "the own echo counts, is not acknowledged");
        assert!(settled.try_recv().is_err(), "one of two listeners so far");
        // Another process's acknowledgement of a third one's marker does not count.
        assert_eq!(writer.apply_notification("a:0000000000000000:0"), None);
        assert!(settled.try_recv().is_err());
        assert_eq!(writer.apply_notification(&ack), None);
        assert!(settled.try_recv().is_ok(), "both listeners received it");
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
