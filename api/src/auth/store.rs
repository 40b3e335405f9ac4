//! The auth store: the one way to Better Auth's tables (`user`, `session`, `account`,
//! `verification`, the `jwt` plugin's `jwks` and the two-factor plugin's `twoFactor`), to the audit
//! trail (`auditEvent`) and to the session cache that sits in front of them.
//!
//! It owns the database handle and the cache, so the cache cannot be bypassed: reads of a
//! session go through the cache, and every write goes through an [`AuthWrite`], whose methods
//! are the only place the cache is invalidated, once per kind of write (each method says what
//! it invalidates). Writes made outside the service reach the cache through `auth::cache`'s
//! PostgreSQL listener instead.
//!
//! An [`AuthWrite`] runs either statement by statement ([`AuthStore::write`]; each statement
//! commits on its own and invalidates at once) or in one transaction ([`AuthStore::begin`];
//! invalidation waits for the commit, so a concurrent lookup cannot cache a row that is about to
//! change). Security events are recorded only through [`AuthWrite::record`], so an event joins
//! the transaction of the change it describes.

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use time::OffsetDateTime;

use crate::{
    auth::{
        cache::{self, SessionCache},
        model::{
            AuditEvent, AuditRecord, LiveSession, Session, SessionId, SigningKeyRow, TwoFactorRecord, User, UserId,
        },
        repo::{accounts, audit_events, jwks, rate_limits, sessions, two_factors, users, verifications},
        token::{ResetToken, SessionToken, StoredToken},
    },
    config::TokenStorage,
    timestamp::now_millis,
};

/// Requests counted in memory for one rate-limit key, to add to its shared count.
pub(crate) use crate::auth::repo::rate_limits::Delta;

/// The database handle, the session cache, and how session tokens are stored; cheap to clone.
#[derive(Clone)]
pub(crate) struct AuthStore {
    db: DatabaseConnection,
    cache: Arc<SessionCache>,
    storage: TokenStorage,
}

impl AuthStore {
    /// A store over `db` whose cache keeps entries at most `cache_ttl` (zero disables it). On
    /// PostgreSQL the cache is trusted only once [`Self::listen`] is connected.
    pub(crate) fn new(db: DatabaseConnection, cache_ttl: Duration, storage: TokenStorage) -> Self {
        let trusted = db.get_database_backend() != DatabaseBackend::Postgres;
        Self { db, cache: Arc::new(SessionCache::new(cache_ttl, trusted)), storage }
    }

    /// What `session.token` holds for `token`.
    pub(crate) fn stored(&self, token: &SessionToken) -> StoredToken {
        token.stored(self.storage)
    }

    /// The live session for a token and its user, from the cache or (one query) the database.
    /// An expired session is deleted and reported as absent.
    pub(crate) async fn live_session(
        &self,
        token: &SessionToken,
        now: OffsetDateTime,
    ) -> Result<Option<LiveSession>, DbErr> {
        let stored = self.stored(token);
        if let Some(cached) = self.cache.get(&stored)
            && cached.0.expires_at > now
        {
            return Ok(Some(cached));
        }
        let generation = self.cache.generation();
        let Some((session, user)) = sessions::find_by_token(&self.db, &stored).await? else {
            return Ok(None);
        };
        if session.expires_at <= now {
            self.write().delete_session(&session).await?;
            return Ok(None);
        }
        let jwt = self.cache.insert(generation, stored, session.clone(), user.clone());
        Ok(Some((session, user, jwt)))
    }

    /// A user by id.
    pub(crate) async fn user(&self, id: &UserId) -> Result<Option<User>, DbErr> {
        users::find(&self.db, id).await
    }

    /// A user by (lower-cased) email.
    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<User>, DbErr> {
        users::find_by_email(&self.db, email).await
    }

    /// A user by email with the hash of their password, if their credential account has one.
    pub(crate) async fn user_with_password(&self, email: &str) -> Result<Option<(User, Option<String>)>, DbErr> {
        users::find_with_password(&self.db, email).await
    }

    /// Whether an account with this email exists.
    pub(crate) async fn email_exists(&self, email: &str) -> Result<bool, DbErr> {
        users::email_exists(&self.db, email).await
    }

    /// The password hash of a user's credential account (`None`: no such account;
    /// `Some(None)`: it has no password).
    pub(crate) async fn credential_password(&self, user: &UserId) -> Result<Option<Option<String>>, DbErr> {
        accounts::credential_password(&self.db, user).await
    }

    /// When the user's password was last set (`None` without a credential account).
    pub(crate) async fn password_set_at(&self, user: &UserId) -> Result<Option<OffsetDateTime>, DbErr> {
        accounts::password_set_at(&self.db, user).await
    }

    /// The user's unexpired sessions, oldest first.
    pub(crate) async fn live_sessions(&self, user: &UserId, now: OffsetDateTime) -> Result<Vec<Session>, DbErr> {
        sessions::list_live(&self.db, user, now).await
    }

    /// The user a live reset token belongs to, without consuming it.
    pub(crate) async fn reset_token_owner(
        &self,
        token: &ResetToken,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, DbErr> {
        verifications::peek_reset_token(&self.db, token, now).await
    }

    /// Every JWT signing key, oldest first.
    pub(crate) async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, DbErr> {
        jwks::all(&self.db).await
    }

    /// The user's audit events with an id below `before` (all when `None`), newest first.
    pub(crate) async fn audit_events(
        &self,
        user: &UserId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, DbErr> {
        audit_events::page(&self.db, user, before, limit).await
    }

    /// Whether the user has two-factor sign-in on.
    pub(crate) async fn two_factor_enabled(&self, user: &UserId) -> Result<bool, DbErr> {
        users::two_factor_enabled(&self.db, user).await
    }

    /// The user's two-factor enrolment, if any.
    pub(crate) async fn two_factor(&self, user: &UserId) -> Result<Option<TwoFactorRecord>, DbErr> {
        two_factors::find(&self.db, user).await
    }

    /// The live value stored under a verification identifier (two-factor state; not cached).
    pub(crate) async fn verification_value(
        &self,
        identifier: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, DbErr> {
        verifications::find_live(&self.db, identifier, now).await
    }

    /// Writes that commit one statement at a time.
    pub(crate) fn write(&self) -> AuthWrite<'_, Autocommit<'_>> {
        AuthWrite { target: Autocommit(&self.db), db: &self.db, cache: &self.cache, stale: Vec::new() }
    }

    /// Writes in one transaction; nothing is visible, or invalidated, before
    /// [`AuthWrite::commit`].
    pub(crate) async fn begin(&self) -> Result<AuthWrite<'_, DatabaseTransaction>, DbErr> {
        Ok(AuthWrite { target: self.db.begin().await?, db: &self.db, cache: &self.cache, stale: Vec::new() })
    }

    /// Forgets the cached sessions of a user whose row turned out to be gone (deleted behind the
    /// service's back, found by a failed foreign key).
    pub(crate) fn forget_user(&self, user: &UserId) {
        self.cache.invalidate_user(user);
    }

    /// Keeps the cache coherent with other processes sharing a PostgreSQL database (runs until
    /// aborted); without it the PostgreSQL cache is never trusted.
    pub(crate) async fn listen(self) {
        cache::listen(self.db, self.cache).await;
    }
}

/// Where an [`AuthWrite`] sends its statements.
pub(crate) trait WriteTarget {
    /// The connection statements run on.
    type Conn: ConnectionTrait;
    /// Whether invalidation must wait for a commit.
    const TRANSACTIONAL: bool;
    /// The connection.
    fn conn(&self) -> &Self::Conn;
}

/// Statements that each commit on their own.
pub(crate) struct Autocommit<'a>(&'a DatabaseConnection);

impl WriteTarget for Autocommit<'_> {
    type Conn = DatabaseConnection;
    const TRANSACTIONAL: bool = false;

    fn conn(&self) -> &DatabaseConnection {
        self.0
    }
}

impl WriteTarget for DatabaseTransaction {
    type Conn = DatabaseTransaction;
    const TRANSACTIONAL: bool = true;

    fn conn(&self) -> &DatabaseTransaction {
        self
    }
}

/// What a write made stale in the cache.
enum Stale {
    /// One session, by stored token.
    Token(StoredToken),
    /// Every session of a user (the user row changed, or sessions were deleted by user).
    User(UserId),
}

/// Writes to the auth tables. Each method invalidates exactly what its write makes stale:
/// at once when it runs outside a transaction, after [`Self::commit`] inside one; then it waits
/// until the other processes on PostgreSQL have been told (`SessionCache::settle`).
pub(crate) struct AuthWrite<'s, T: WriteTarget> {
    target: T,
    db: &'s DatabaseConnection,
    cache: &'s SessionCache,
    stale: Vec<Stale>,
}

impl<T: WriteTarget> AuthWrite<'_, T> {
    fn conn(&self) -> &T::Conn {
        self.target.conn()
    }

    async fn mark(&mut self, stale: Stale) {
        if T::TRANSACTIONAL {
            self.stale.push(stale);
        } else {
            invalidate(self.cache, &stale);
            self.cache.settle(self.db).await;
        }
    }

    /// A user by id, read where this write runs (inside its transaction, if any).
    pub(crate) async fn user(&self, id: &UserId) -> Result<Option<User>, DbErr> {
        users::find(self.conn(), id).await
    }

    /// Inserts a user (nothing cached can refer to it yet).
    pub(crate) async fn insert_user(&mut self, user: &User) -> Result<(), DbErr> {
        users::insert(self.conn(), user).await
    }

    /// Inserts a user's credential account (accounts are not cached).
    pub(crate) async fn insert_credential_account(
        &mut self,
        user: &UserId,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), DbErr> {
        accounts::insert_credential(self.conn(), user, password_hash, now).await
    }

    /// Replaces a user's password; `false` when they have no credential account (passwords
    /// are not cached). Every outstanding reset token of the user goes with the old password,
    /// whichever way it is replaced (a reset, a change), so no older link outlives it.
    pub(crate) async fn update_password(
        &mut self,
        user: &UserId,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, DbErr> {
        verifications::delete_reset_tokens_of(self.conn(), user).await?;
        accounts::update_password(self.conn(), user, password_hash, now).await
    }

    /// Inserts a session (nothing cached can refer to it yet).
    pub(crate) async fn insert_session(&mut self, session: &Session) -> Result<(), DbErr> {
        sessions::insert(self.conn(), session).await
    }

    /// Extends a session; `false` when it vanished. Invalidates the session.
    pub(crate) async fn refresh_session(
        &mut self,
        session: &Session,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, DbErr> {
        let refreshed = sessions::refresh(self.conn(), &session.id, expires_at, now).await?;
        self.mark(Stale::Token(session.token.clone())).await;
        Ok(refreshed)
    }

    /// Deletes a session. Invalidates it.
    pub(crate) async fn delete_session(&mut self, session: &Session) -> Result<(), DbErr> {
        sessions::delete(self.conn(), &session.id).await?;
        self.mark(Stale::Token(session.token.clone())).await;
        Ok(())
    }

    /// Deletes the session with this stored token, if any; returns its user. Invalidates it.
    pub(crate) async fn delete_session_by_token(&mut self, token: &StoredToken) -> Result<Option<UserId>, DbErr> {
        let user = sessions::delete_by_token(self.conn(), token).await?;
        self.mark(Stale::Token(token.clone())).await;
        Ok(user)
    }

    /// Deletes one of the user's sessions, named by id or by stored token; returns its id.
    /// Invalidates the user's sessions when one was deleted.
    pub(crate) async fn delete_user_session(
        &mut self,
        user: &UserId,
        id: &SessionId,
        token: &StoredToken,
    ) -> Result<Option<SessionId>, DbErr> {
        let deleted = sessions::delete_one_of_user(self.conn(), user, id, token).await?;
        if deleted.is_some() {
            self.mark(Stale::User(user.clone())).await;
        }
        Ok(deleted)
    }

    /// Deletes every session of the user but `keep`; returns how many. Invalidates the user's
    /// sessions.
    pub(crate) async fn delete_user_sessions(&mut self, user: &UserId, keep: Option<&SessionId>) -> Result<u64, DbErr> {
        let ended = sessions::delete_all_of_user(self.conn(), user, keep).await?;
        self.mark(Stale::User(user.clone())).await;
        Ok(ended)
    }

    /// Changes a user's name and/or image. Invalidates the user's sessions (they carry the user).
    pub(crate) async fn update_profile(
        &mut self,
        user: &UserId,
        name: Option<&str>,
        image: Option<Option<&str>>,
        now: OffsetDateTime,
    ) -> Result<(), DbErr> {
        users::update_profile(self.conn(), user, name, image, now).await?;
        self.mark(Stale::User(user.clone())).await;
        Ok(())
    }

    /// Marks a user's email verified. Invalidates the user's sessions.
    pub(crate) async fn set_email_verified(&mut self, user: &UserId, now: OffsetDateTime) -> Result<(), DbErr> {
        users::set_email_verified(self.conn(), user, now).await?;
        self.mark(Stale::User(user.clone())).await;
        Ok(())
    }

    /// Moves a user's email from `current` to `email`; `false` when it is no longer `current`.
    /// Invalidates the user's sessions when it changed, and deletes the reset tokens mailed to
    /// the old address.
    pub(crate) async fn update_email(
        &mut self,
        user: &UserId,
        current: &str,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<bool, DbErr> {
        let changed = users::update_email(self.conn(), user, current, email, now).await?;
        if changed {
            verifications::delete_reset_tokens_of(self.conn(), user).await?;
            self.mark(Stale::User(user.clone())).await;
        }
        Ok(changed)
    }

    /// Deletes a user with their tasks, sessions and accounts. Invalidates the user's sessions.
    pub(crate) async fn delete_user(&mut self, user: &UserId) -> Result<(), DbErr> {
        users::delete(self.conn(), user).await?;
        self.mark(Stale::User(user.clone())).await;
        Ok(())
    }

    /// Stores a password-reset token for `user` (not cached).
    pub(crate) async fn store_reset_token(
        &mut self,
        token: &ResetToken,
        user: &UserId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), DbErr> {
        verifications::insert_reset_token(self.conn(), token, user, now, expires_at).await
    }

    /// Consumes a reset token; returns its user if it was live (not cached).
    pub(crate) async fn consume_reset_token(
        &mut self,
        token: &ResetToken,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, DbErr> {
        verifications::consume_reset_token(self.conn(), token, now).await
    }

    /// Turns two-factor sign-in on or off. Invalidates the user's sessions (the user row changed).
    pub(crate) async fn set_two_factor_enabled(
        &mut self,
        user: &UserId,
        on: bool,
        now: OffsetDateTime,
    ) -> Result<(), DbErr> {
        users::set_two_factor_enabled(self.conn(), user, on, now).await?;
        self.mark(Stale::User(user.clone())).await;
        Ok(())
    }

    /// The user's two-factor enrolment, write-locked until the transaction ends (not cached).
    pub(crate) async fn lock_two_factor(&mut self, user: &UserId) -> Result<Option<TwoFactorRecord>, DbErr> {
        two_factors::lock(self.conn(), user).await
    }

    /// Stores a new, unconfirmed enrolment (sealed secret and codes; not cached).
    pub(crate) async fn put_two_factor_unverified(
        &mut self,
        user: &UserId,
        secret: &str,
        backup_codes: &str,
    ) -> Result<(), DbErr> {
        two_factors::put_unverified(self.conn(), user, secret, backup_codes).await
    }

    /// Marks an enrolment confirmed (not cached).
    pub(crate) async fn set_two_factor_verified(&mut self, id: &str) -> Result<(), DbErr> {
        two_factors::set_verified(self.conn(), id).await
    }

    /// Replaces an enrolment's backup codes (not cached).
    pub(crate) async fn set_backup_codes(&mut self, id: &str, codes: &str) -> Result<(), DbErr> {
        two_factors::set_backup_codes(self.conn(), id, codes).await
    }

    /// Replaces the backup codes if they are still `expected` (not cached).
    pub(crate) async fn swap_backup_codes(&mut self, id: &str, expected: &str, codes: &str) -> Result<bool, DbErr> {
        two_factors::swap_backup_codes(self.conn(), id, expected, codes).await
    }

    /// Counts a failed second-factor verification; returns the new count (not cached).
    pub(crate) async fn record_two_factor_failure(&mut self, id: &str) -> Result<i32, DbErr> {
        two_factors::record_failure(self.conn(), id).await
    }

    /// Locks second-factor verification until `until` (not cached).
    pub(crate) async fn lock_two_factor_until(&mut self, id: &str, until: OffsetDateTime) -> Result<(), DbErr> {
        two_factors::lock_until(self.conn(), id, until).await
    }

    /// Clears the failure count and lock (not cached).
    pub(crate) async fn reset_two_factor_failures(&mut self, id: &str) -> Result<(), DbErr> {
        two_factors::reset_failures(self.conn(), id).await
    }

    /// Deletes the user's enrolment (not cached).
    pub(crate) async fn delete_two_factor(&mut self, user: &UserId) -> Result<(), DbErr> {
        two_factors::delete_of_user(self.conn(), user).await
    }

    /// Stores a verification value (two-factor state; not cached).
    pub(crate) async fn insert_value(
        &mut self,
        identifier: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), DbErr> {
        verifications::insert(self.conn(), identifier, value, now, expires_at).await
    }

    /// The live value under `identifier`, read where this write runs (not cached).
    pub(crate) async fn value(&self, identifier: &str, now: OffsetDateTime) -> Result<Option<String>, DbErr> {
        verifications::find_live(self.conn(), identifier, now).await
    }

    /// Deletes the values under `identifier`, returning the live one (not cached).
    pub(crate) async fn consume_value(
        &mut self,
        identifier: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, OffsetDateTime)>, DbErr> {
        verifications::consume(self.conn(), identifier, now).await
    }

    /// Adds one to the live counter under `identifier` (not cached).
    pub(crate) async fn increment_value(
        &mut self,
        identifier: &str,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, DbErr> {
        verifications::increment(self.conn(), identifier, now).await
    }

    /// Deletes the values under `identifier` (not cached).
    pub(crate) async fn delete_value(&mut self, identifier: &str) -> Result<(), DbErr> {
        verifications::delete(self.conn(), identifier).await
    }

    /// Deletes every expired session; returns how many. Nothing to invalidate: a cached
    /// session past its expiry is never served.
    pub(crate) async fn delete_expired_sessions(&mut self, now: OffsetDateTime) -> Result<u64, DbErr> {
        sessions::delete_expired(self.conn(), now).await
    }

    /// Stores a new JWT signing key unless the key table no longer holds `seen` rows (another
    /// request or instance created one first); `true` when this one was stored. Keys are not
    /// cached here. Run it in a transaction ([`AuthStore::begin`]): on PostgreSQL it locks the
    /// key table until the commit (and fails outside a transaction).
    pub(crate) async fn insert_signing_key(&mut self, key: &SigningKeyRow, seen: usize) -> Result<bool, DbErr> {
        jwks::insert_unless_changed(self.conn(), key, seen).await
    }

    /// Counts one rate-limited request for `key` in the `rateLimit` table (not cached):
    /// `Some(last counted request, epoch ms)` when refused.
    pub(crate) async fn count_request(
        &mut self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Option<i64>, DbErr> {
        rate_limits::hit(self.conn(), key, now_ms, window_ms, max).await
    }

    /// Adds requests counted in memory to their keys' counts in the `rateLimit` table, in one
    /// statement (not cached): each key's shared count and last request (epoch ms) after it.
    pub(crate) async fn add_requests(
        &mut self,
        deltas: &[Delta<'_>],
        window_ms: i64,
    ) -> Result<Vec<(String, i64, i64)>, DbErr> {
        rate_limits::add(self.conn(), deltas, window_ms).await
    }

    /// Claims one sign-in attempt for an account key in the `rateLimit` table (not cached):
    /// `Some((attempts, last attempt in epoch ms))` when it comes too early.
    pub(crate) async fn claim_attempt(
        &mut self,
        key: &str,
        now_ms: i64,
        reset_ms: i64,
        free: u32,
        delays: &[(u32, i64)],
    ) -> Result<Option<(i64, i64)>, DbErr> {
        rate_limits::claim(self.conn(), key, now_ms, reset_ms, free, delays).await
    }

    /// Restarts the delay of one key's count in the `rateLimit` table from `now_ms`.
    pub(crate) async fn touch_count(&mut self, key: &str, now_ms: i64) -> Result<(), DbErr> {
        rate_limits::touch(self.conn(), key, now_ms).await
    }

    /// Forgets one key's count in the `rateLimit` table.
    pub(crate) async fn clear_count(&mut self, key: &str) -> Result<(), DbErr> {
        rate_limits::delete(self.conn(), key).await
    }

    /// Deletes the rate-limit counts last counted before `before_ms`; returns how many.
    pub(crate) async fn delete_stale_rate_limits(&mut self, before_ms: i64) -> Result<u64, DbErr> {
        rate_limits::delete_older_than(self.conn(), before_ms).await
    }

    /// Records a security event (in this write's transaction, if any).
    pub(crate) async fn record(&mut self, event: &AuditEvent<'_>) -> Result<(), DbErr> {
        audit_events::insert(self.conn(), event, now_millis()).await
    }

    /// Deletes the audit events recorded before `cutoff` (retention); returns how many.
    pub(crate) async fn delete_audit_events_before(&mut self, cutoff: OffsetDateTime) -> Result<u64, DbErr> {
        audit_events::delete_before(self.conn(), cutoff).await
    }

    /// Deletes every expired reset token; returns how many (not cached).
    pub(crate) async fn delete_expired_reset_tokens(&mut self, now: OffsetDateTime) -> Result<u64, DbErr> {
        verifications::delete_expired(self.conn(), now).await
    }
}

impl AuthWrite<'_, DatabaseTransaction> {
    /// Commits the transaction, then invalidates what it made stale.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.target.commit().await?;
        for stale in &self.stale {
            invalidate(self.cache, stale);
        }
        if !self.stale.is_empty() {
            self.cache.settle(self.db).await;
        }
        Ok(())
    }
}

fn invalidate(cache: &SessionCache, stale: &Stale) {
    match stale {
        Stale::Token(token) => cache.invalidate_token(token),
        Stale::User(user) => cache.invalidate_user(user),
    }
}
