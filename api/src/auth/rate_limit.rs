//! Rate limiting of `/api/auth/*` with Better Auth's rules and algorithm
//! (`docs/better-auth-wire.md` §7.3): per client address and operation, a fixed window that
//! restarts on the first request after it elapses; rejected requests do not count.
//!
//! Memory stays bounded whatever clients send (`docs/better-auth-wire.md` §7.3, "Store"):
//! - the key is the client address and the documented operation the path routes to (its
//!   template, so `/reset-password/{token}` is one operation); every other path under
//!   `/api/auth` shares one bucket per address;
//! - each rule has its own table of two generations, rotated once per window of that rule, so an
//!   entry is forgotten at most two windows after its last counted request without ever
//!   scanning the table;
//! - each table holds at most [`ENTRIES_PER_RULE`] entries; past that, the older generation is
//!   dropped early, and new clients beyond it share one overflow bucket (limited, never
//!   unlimited).
//!
//! Storage (`RATE_LIMIT_STORAGE`): in memory, per instance; or `database`, where the strict and
//! mail rules count in Better Auth's `rateLimit` table (one atomic statement per counted request,
//! so the limit is exact across any number of instances, and a Node Better Auth on the same
//! database counts the same keys). The general rule is shared too, but approximately: counting
//! every `get-session` in the database would cost a write per request, so each instance counts
//! locally and, every [`FLUSH_INTERVAL`], adds what it counted to the keys' rows in one
//! statement and reads back the shared counts; a request is refused when the last known shared
//! count plus what this instance counted since exceeds the limit. Within one interval each
//! instance decides on what it knew at its last flush, so N instances admit at most the limit
//! plus, per other instance, what that instance admitted in one interval (at most the limit):
//! the README states the bound.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::{Duration, Instant},
};

use ipnet::IpNet;
use poem::{Endpoint, Request, Response};

use crate::{
    auth::store::{AuthStore, Delta},
    config::RateLimitConfig,
    error::ApiError,
    http::{
        client_ip::{client_ip, normalised},
        layer::{Layer, call_next},
        paths::PathTemplate,
    },
    metrics::METRICS,
};

/// The most entries one rule's table holds (about 150 bytes each).
pub(crate) const ENTRIES_PER_RULE: usize = 100_000;

/// How often an instance adds its general-rule counts to the shared table and learns the other
/// instances' (`RATE_LIMIT_STORAGE=database`): the time within which instances can disagree.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The most keys one flush statement carries (four parameters each, well within PostgreSQL's
/// and SQLite's limits).
const FLUSH_BATCH: usize = 1_000;

/// Operations (and everything below them) under the strict rule: Better Auth's sign-in rule
/// plus every other operation that checks a password, so none of them is a faster password
/// oracle than sign-in, and the two-factor plugin's operations (its own rule is the same, 3 per
/// 10 s: `docs/better-auth-plugins.md` §Two-factor).
const STRICT: [&str; 6] = ["/sign-in", "/sign-up", "/change-password", "/change-email", "/delete-user", "/two-factor"];
/// Operations under the mail rule (Better Auth's).
const MAIL: [&str; 2] = ["/request-password-reset", "/send-verification-email"];
/// Operations that mail an address named in the request. Besides their own rule they share one
/// mail budget per client address (the mail rule), so alternating between them sends no more.
const MAILING: [&str; 3] = ["/request-password-reset", "/send-verification-email", "/change-email"];
/// The bucket of every path under `/api/auth` that is no documented operation.
const UNKNOWN_PATH: &str = "*";
/// The bucket of the shared mail budget.
const MAIL_BUDGET: &str = "mail";

/// Which of the rules a limit is; each has its own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleName {
    /// 3 per 10 s: sign-in, sign-up and every password check.
    Strict,
    /// 3 per 60 s: mail.
    Mail,
    /// `RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW`: everything else.
    General,
}

impl RuleName {
    /// The rule's name in `api_rate_limit_refusals_total{rule}` (one of `metrics::RATE_LIMIT_RULES`).
    fn label(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Mail => "mail",
            Self::General => "general",
        }
    }
}

/// One limit: at most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Which rule.
    pub(crate) name: RuleName,
    /// Window length.
    pub(crate) window: Duration,
    /// Requests allowed per window.
    pub(crate) max: u32,
}

const STRICT_RULE: Rule = Rule { name: RuleName::Strict, window: Duration::from_secs(10), max: 3 };
const MAIL_RULE: Rule = Rule { name: RuleName::Mail, window: Duration::from_secs(60), max: 3 };

/// The longest window of the fixed rules (the general rule's is configured): how long a shared
/// count can matter after its last request.
pub(crate) const LONGEST_FIXED_WINDOW: Duration = MAIL_RULE.window;

/// One key's count under a rule, kept in a [`Table`].
trait Counter: Copy {
    /// The count of a key whose first request is at `now`.
    fn first(now: Instant) -> Self;
    /// Better Auth's algorithm: restart after a window, refuse at the limit, else count;
    /// `Err(retry_after)` when refused.
    fn count(&mut self, rule: Rule, now: Instant) -> Result<(), Duration>;
}

/// A key's count and the time of its last counted request.
#[derive(Clone, Copy, Debug)]
struct Window {
    count: u32,
    last: Instant,
}

impl Counter for Window {
    fn first(now: Instant) -> Self {
        Self { count: 1, last: now }
    }

    fn count(&mut self, rule: Rule, now: Instant) -> Result<(), Duration> {
        let elapsed = now.duration_since(self.last);
        if elapsed >= rule.window {
            *self = Self { count: 1, last: now };
        } else if self.count >= rule.max {
            return Err(rule.window - elapsed);
        } else {
            self.count += 1;
            self.last = now;
        }
        Ok(())
    }
}

/// A key's count under the shared general rule: what this instance counted since its last
/// flush, the shared count that flush returned, and the last counted request known here (on
/// any instance).
#[derive(Clone, Copy, Debug)]
struct SharedWindow {
    unflushed: u32,
    shared: u32,
    last: Instant,
}

impl Counter for SharedWindow {
    fn first(now: Instant) -> Self {
        Self { unflushed: 1, shared: 0, last: now }
    }

    fn count(&mut self, rule: Rule, now: Instant) -> Result<(), Duration> {
        let elapsed = now.duration_since(self.last);
        if elapsed >= rule.window {
            // A new window: the shared count restarts (the row does too when this is flushed).
            self.shared = 0;
        } else if self.shared.saturating_add(self.unflushed) >= rule.max {
            return Err(rule.window - elapsed);
        }
        self.unflushed = self.unflushed.saturating_add(1);
        self.last = now;
        Ok(())
    }
}

/// One rule's entries in two generations: `current` holds the keys counted since `rotated_at`,
/// `previous` those counted in the window before it; anything older has expired and is gone.
#[derive(Debug)]
struct Table<W = Window> {
    current: HashMap<String, W>,
    previous: HashMap<String, W>,
    rotated_at: Option<Instant>,
    overflow: Option<W>,
}

impl<W> Default for Table<W> {
    fn default() -> Self {
        Self { current: HashMap::new(), previous: HashMap::new(), rotated_at: None, overflow: None }
    }
}

impl<W: Counter> Table<W> {
    /// Starts a new generation once a window has passed since the last one. The maps that
    /// expire are handed to `expired`, to be freed after the lock is released.
    fn rotate(&mut self, now: Instant, window: Duration, expired: &mut Vec<HashMap<String, W>>) {
        let Some(rotated_at) = self.rotated_at else {
            self.rotated_at = Some(now);
            return;
        };
        let since = now.duration_since(rotated_at);
        if since < window {
            return;
        }
        // Every key in `previous` was last counted before `rotated_at`, a window ago or more.
        expired.push(std::mem::take(&mut self.previous));
        if since >= window * 2 {
            // No request rotated the table for two windows: `current` has expired too.
            expired.push(std::mem::take(&mut self.current));
        } else {
            self.previous = std::mem::take(&mut self.current);
        }
        self.rotated_at = Some(now);
    }

    fn hit(
        &mut self,
        key: &str,
        rule: Rule,
        now: Instant,
        capacity: usize,
        expired: &mut Vec<HashMap<String, W>>,
    ) -> Result<(), Duration> {
        self.rotate(now, rule.window, expired);
        if let Some(window) = self.current.get_mut(key) {
            return window.count(rule, now);
        }
        if let Some(window) = self.previous.get_mut(key) {
            window.count(rule, now)?;
            // Counted now: it belongs to the current generation.
            if let Some((key, window)) = self.previous.remove_entry(key) {
                self.current.insert(key, window);
            }
            return Ok(());
        }
        if self.current.len() + self.previous.len() >= capacity {
            // Full: forget the older generation early (lenient for those keys, never unbounded).
            expired.push(std::mem::take(&mut self.previous));
        }
        if self.current.len() >= capacity {
            // Still full: every new key shares one bucket until the next rotation.
            return match &mut self.overflow {
                Some(overflow) => overflow.count(rule, now),
                None => {
                    self.overflow = Some(W::first(now));
                    Ok(())
                }
            };
        }
        self.current.insert(key.to_owned(), W::first(now));
        Ok(())
    }

    /// The entry of `key`, in either generation.
    fn get_mut(&mut self, key: &str) -> Option<&mut W> {
        match self.current.get_mut(key) {
            Some(entry) => Some(entry),
            None => self.previous.get_mut(key),
        }
    }
}

/// Counts a request for `key` at `now` in a locked table; `Err(retry_after)` when over the
/// limit. The maps that expire are freed after the lock is released.
fn hit_locked<W: Counter>(
    table: &Mutex<Table<W>>,
    key: &str,
    rule: Rule,
    now: Instant,
    capacity: usize,
) -> Result<(), Duration> {
    let mut expired = Vec::new();
    let result = table.lock().unwrap_or_else(PoisonError::into_inner).hit(key, rule, now, capacity, &mut expired);
    drop(expired);
    result
}

/// A process-local store: one table per rule, each behind its own lock held for one lookup.
struct MemoryStore {
    capacity: usize,
    tables: [Mutex<Table>; 3],
}

impl MemoryStore {
    fn new(capacity: usize) -> Self {
        Self { capacity, tables: Default::default() }
    }

    fn table(&self, rule: RuleName) -> &Mutex<Table> {
        match rule {
            RuleName::Strict => &self.tables[0],
            RuleName::Mail => &self.tables[1],
            RuleName::General => &self.tables[2],
        }
    }
}

impl MemoryStore {
    /// Counts a request for `key` at `now`; `Err(retry_after)` when over the limit.
    fn hit(&self, key: &str, rule: Rule, now: Instant) -> Result<(), Duration> {
        hit_locked(self.table(rule.name), key, rule, now, self.capacity)
    }
}

/// The general rule shared through the database: counted in memory, flushed to the
/// `rateLimit` table every [`FLUSH_INTERVAL`] (see the module documentation).
struct SharedGeneral {
    rule: Rule,
    capacity: usize,
    table: Mutex<Table<SharedWindow>>,
    store: AuthStore,
}

impl SharedGeneral {
    /// Starts flushing every [`FLUSH_INTERVAL`] for as long as the limiter lives (the task
    /// holds a weak reference and ends when the limiter is dropped).
    fn start(rule: Rule, capacity: usize, store: AuthStore) -> Arc<Self> {
        let shared = Arc::new(Self { rule, capacity, table: Mutex::default(), store });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Self::flush_forever(Arc::downgrade(&shared)));
        }
        shared
    }

    async fn flush_forever(shared: Weak<Self>) {
        let mut interval = tokio::time::interval(FLUSH_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(shared) = shared.upgrade() else { return };
            if let Err(err) = shared.flush().await {
                tracing::warn!(error = %err, "rate-limit flush failed; counts kept for the next one");
            }
        }
    }

    fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        hit_locked(&self.table, key, self.rule, now, self.capacity)
    }

    /// Adds every key's unflushed count to its shared row and takes the shared counts back.
    /// Requests counted while the statement runs stay unflushed for the next flush.
    async fn flush(&self) -> Result<(), sea_orm::DbErr> {
        let now = Instant::now();
        let now_ms = epoch_millis();
        let pending: Vec<(String, u32, i64)> = {
            let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            table
                .current
                .iter()
                .chain(&table.previous)
                .filter(|(_, entry)| entry.unflushed > 0)
                .map(|(key, entry)| {
                    let ago = i64::try_from(now.duration_since(entry.last).as_millis()).unwrap_or(i64::MAX);
                    (key.clone(), entry.unflushed, now_ms.saturating_sub(ago))
                })
                .collect()
        };
        let window_ms = i64::try_from(self.rule.window.as_millis()).unwrap_or(i64::MAX);
        for batch in pending.chunks(FLUSH_BATCH) {
            let deltas: Vec<Delta<'_>> =
                batch.iter().map(|(key, count, last_ms)| Delta { key, count: *count, last_ms: *last_ms }).collect();
            let counts = self.store.write().add_requests(&deltas, window_ms).await?;
            let flushed: HashMap<&str, u32> = batch.iter().map(|(key, count, _)| (key.as_str(), *count)).collect();
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, shared, last_ms) in counts {
                let Some(entry) = table.get_mut(&key) else { continue };
                entry.unflushed =
                    entry.unflushed.saturating_sub(flushed.get(key.as_str()).copied().unwrap_or_default());
                entry.shared = u32::try_from(shared).unwrap_or(u32::MAX);
                // Another instance may have counted a request since this one's last.
                let ago = u64::try_from(now_ms.saturating_sub(last_ms)).unwrap_or_default();
                if let Some(last) = now.checked_sub(Duration::from_millis(ago)) {
                    entry.last = entry.last.max(last);
                }
            }
        }
        Ok(())
    }
}

/// The limiter: configuration, the documented operations under `/api/auth`, the in-memory
/// counts, and the shared store the strict and mail rules count in, if any.
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    operations: Vec<PathTemplate>,
    memory: MemoryStore,
    shared: Option<AuthStore>,
    shared_general: Option<Arc<SharedGeneral>>,
}

impl RateLimiter {
    /// A limiter for these operations (paths relative to `/api/auth`), counting the strict and
    /// mail rules in `shared`'s `rateLimit` table when given, and the general rule in memory,
    /// flushed to that table every [`FLUSH_INTERVAL`] when given (a task of the current Tokio
    /// runtime does it while the limiter lives).
    pub(crate) fn new(config: RateLimitConfig, operations: Vec<PathTemplate>, shared: Option<AuthStore>) -> Self {
        let general = Rule { name: RuleName::General, window: config.window, max: config.max };
        let shared_general = shared
            .as_ref()
            .filter(|_| config.enabled)
            .map(|store| SharedGeneral::start(general, ENTRIES_PER_RULE, store.clone()));
        Self { config, operations, memory: MemoryStore::new(ENTRIES_PER_RULE), shared, shared_general }
    }

    /// Counts a request for `key` under `rule`; `Ok(Err(retry_after))` when over the limit.
    async fn hit(&self, key: &str, rule: Rule, now: Instant) -> Result<Result<(), Duration>, ApiError> {
        if rule.name == RuleName::General {
            return Ok(match &self.shared_general {
                Some(general) => general.hit(key, now),
                None => self.memory.hit(key, rule, now),
            });
        }
        let Some(shared) = self.shared.as_ref() else {
            return Ok(self.memory.hit(key, rule, now));
        };
        let now_ms = epoch_millis();
        let window_ms = i64::try_from(rule.window.as_millis()).unwrap_or(i64::MAX);
        let refused = shared.write().count_request(key, now_ms, window_ms, rule.max).await?;
        Ok(match refused {
            None => Ok(()),
            Some(last_ms) => {
                let left_ms = (last_ms.saturating_add(window_ms) - now_ms).clamp(0, window_ms);
                Err(Duration::from_millis(u64::try_from(left_ms).unwrap_or_default()))
            }
        })
    }

    /// The rule of a documented operation.
    fn rule_for(&self, operation: &str) -> Rule {
        if STRICT.iter().any(|prefix| operation.starts_with(prefix)) {
            STRICT_RULE
        } else if MAIL.contains(&operation) {
            MAIL_RULE
        } else {
            self.general()
        }
    }

    fn general(&self) -> Rule {
        Rule { name: RuleName::General, window: self.config.window, max: self.config.max }
    }

    /// Checks one request for `client` on `path` (relative to `/api/auth`).
    async fn check(&self, client: &str, path: &str) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let operation = self.operations.iter().find(|template| template.matches(path)).map(PathTemplate::as_str);
        let (bucket, rule) = match operation {
            Some(operation) => (operation, self.rule_for(operation)),
            None => (UNKNOWN_PATH, self.general()),
        };
        let now = Instant::now();
        let limited = |rule: RuleName, wait: Duration| {
            METRICS.rate_limited.with_label_values(&[rule.label()]).inc();
            if operation == Some("/sign-in/email") {
                METRICS.sign_ins.throttled.inc();
            }
            ApiError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 }
        };
        self.hit(&format!("{client}|{bucket}"), rule, now).await?.map_err(|wait| limited(rule.name, wait))?;
        if operation.is_some_and(|operation| MAILING.contains(&operation)) {
            let budget = self.hit(&format!("{client}|{MAIL_BUDGET}"), MAIL_RULE, now).await?;
            budget.map_err(|wait| limited(RuleName::Mail, wait))?;
        }
        Ok(())
    }
}

/// Now, in milliseconds since the Unix epoch (Better Auth's `lastRequest`).
fn epoch_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The layer that limits every request under `/api/auth/`, before routing (as Better Auth
/// does, so unknown paths count too, in their shared bucket).
pub(crate) struct RateLimit {
    limiter: RateLimiter,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimit {
    /// The layer, reading client addresses as `TRUSTED_PROXIES` allows.
    pub(crate) fn new(limiter: RateLimiter, trusted_proxies: Vec<IpNet>) -> Self {
        Self { limiter, trusted_proxies }
    }
}

impl Layer for RateLimit {
    async fn call<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        if let Some(path) = req.uri().path().strip_prefix("/api/auth") {
            // Without a usable address every client shares one bucket per operation (Better
            // Auth's `no-trusted-ip`): safe, if coarse.
            let client = client_ip(&req, &self.trusted_proxies).map_or_else(|| "no-trusted-ip".to_owned(), normalised);
            self.limiter.check(&client, path).await?;
        }
        call_next(next, req).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            enabled: true,
            window: Duration::from_secs(10),
            max: 100,
            storage: crate::config::RateLimitStorage::Memory,
            account_free_attempts: 5,
            account_max_delay: Duration::from_secs(60),
        }
    }

    fn limiter(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::new(config, crate::app::auth_operations(), None)
    }

    fn limited(limiter: &RateLimiter, client: &str, path: &str) -> bool {
        check(limiter, client, path).is_err()
    }

    fn check(limiter: &RateLimiter, client: &str, path: &str) -> Result<(), ApiError> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(limiter.check(client, path))
    }

    impl<W> Table<W> {
        fn len(&self) -> usize {
            self.current.len() + self.previous.len()
        }
    }

    #[test]
    fn better_auths_rules_apply_by_operation() {
        let limiter = limiter(config());
        assert_eq!(limiter.rule_for("/sign-in/email"), STRICT_RULE);
        assert_eq!(limiter.rule_for("/sign-up/email"), STRICT_RULE);
        assert_eq!(limiter.rule_for("/request-password-reset"), MAIL_RULE);
        assert_eq!(limiter.rule_for("/get-session").max, 100);
    }

    #[test]
    fn every_operation_that_takes_a_password_is_under_the_strict_rule() {
        let spec: Value = serde_json::from_str(&crate::app::openapi_service().spec()).expect("spec JSON");
        let schemas = &spec["components"]["schemas"];
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().expect("paths") {
            let Some(operation) = path.strip_prefix("/api/auth") else { continue };
            for request in item.as_object().expect("methods").values() {
                let Some(content) = request["requestBody"]["content"].as_object() else { continue };
                for media in content.values() {
                    let name =
                        media["schema"]["$ref"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
                    let properties = &schemas[name]["properties"];
                    if ["password", "currentPassword"].iter().any(|field| !properties[field].is_null()) {
                        checked += 1;
                        assert_eq!(limiter(config()).rule_for(operation), STRICT_RULE, "{path} takes a password");
                    }
                }
            }
        }
        assert!(checked >= 4, "sign-in, sign-up, change-password, delete-user at least: {checked}");
    }

    #[test]
    fn unknown_paths_share_one_bucket_per_client() {
        let limiter = limiter(RateLimitConfig { max: 3, ..config() });
        for n in 0..3 {
            assert!(!limited(&limiter, "1.2.3.4", &format!("/unknown-{n}")));
        }
        assert!(limited(&limiter, "1.2.3.4", "/yet-another-path"), "a new path is the same bucket");
        assert!(limited(&limiter, "1.2.3.4", "/sign-in/email/"), "not routed, so not sign-in's bucket");
        assert!(!limited(&limiter, "5.6.7.8", "/unknown-0"), "another client has its own");
        assert!(!limited(&limiter, "1.2.3.4", "/get-session"), "a documented operation has its own");
    }

    #[test]
    fn a_parameterised_operation_is_one_bucket() {
        let limiter = limiter(RateLimitConfig { max: 2, ..config() });
        assert!(!limited(&limiter, "1.2.3.4", "/reset-password/aaaa"));
        assert!(!limited(&limiter, "1.2.3.4", "/reset-password/bbbb"));
        assert!(limited(&limiter, "1.2.3.4", "/reset-password/cccc"));
    }

    #[test]
    fn mailing_operations_share_one_mail_budget_per_client() {
        let limiter = limiter(config());
        assert!(!limited(&limiter, "1.2.3.4", "/request-password-reset"));
        assert!(!limited(&limiter, "1.2.3.4", "/send-verification-email"));
        assert!(!limited(&limiter, "1.2.3.4", "/change-email"));
        assert!(limited(&limiter, "1.2.3.4", "/send-verification-email"), "the fourth mail in a minute");
        assert!(!limited(&limiter, "5.6.7.8", "/send-verification-email"), "another client");
    }

    #[test]
    fn the_fourth_sign_in_in_a_window_is_refused_and_rejections_do_not_count() {
        let store = MemoryStore::new(ENTRIES_PER_RULE);
        let start = Instant::now();
        for i in 0..3 {
            assert!(store.hit("1.2.3.4|/sign-in/email", STRICT_RULE, start + Duration::from_secs(i)).is_ok());
        }
        let wait =
            store.hit("1.2.3.4|/sign-in/email", STRICT_RULE, start + Duration::from_secs(3)).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(9), "measured from the last counted request");
        assert!(store.hit("5.6.7.8|/sign-in/email", STRICT_RULE, start).is_ok(), "another client is unaffected");
        assert!(
            store.hit("1.2.3.4|/sign-in/email", STRICT_RULE, start + Duration::from_secs(12)).is_ok(),
            "window over"
        );
    }

    #[test]
    fn entries_are_forgotten_two_windows_after_their_last_request_without_a_scan() {
        let mut table = Table::<Window>::default();
        let mut expired = Vec::new();
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        for n in 0..1000 {
            table.hit(&format!("client-{n}"), STRICT_RULE, at(0), 10_000, &mut expired).expect("counted");
        }
        assert_eq!(table.len(), 1000);
        table.hit("late", STRICT_RULE, at(9), 10_000, &mut expired).expect("counted");
        table.hit("other", STRICT_RULE, at(11), 10_000, &mut expired).expect("counted");
        assert_eq!(table.len(), 1002, "one window on, the keys are still within reach");
        table.hit("other", STRICT_RULE, at(22), 10_000, &mut expired).expect("counted");
        assert_eq!(table.len(), 1, "two windows on, only the key counted since remains");
        table.hit("other", STRICT_RULE, at(60), 10_000, &mut expired).expect("counted");
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_limited_key_stays_limited_across_a_rotation() {
        let mut table = Table::<Window>::default();
        let mut expired = Vec::new();
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);
        table.hit("warm-up", STRICT_RULE, at(0), 100, &mut expired).expect("counted");
        for millis in [5_000, 6_000, 7_000] {
            table.hit("attacker", STRICT_RULE, at(millis), 100, &mut expired).expect("counted");
        }
        // 10 s after the table's first request it rotates; the attacker's window is still open.
        let wait = table.hit("attacker", STRICT_RULE, at(10_500), 100, &mut expired).expect_err("still limited");
        assert_eq!(wait, Duration::from_millis(6_500));
        assert!(table.hit("attacker", STRICT_RULE, at(17_000), 100, &mut expired).is_ok(), "its window over");
    }

    #[test]
    fn a_full_table_stays_bounded_and_still_limits_new_clients() {
        let mut table = Table::<Window>::default();
        let mut expired = Vec::new();
        let now = Instant::now();
        for n in 0..10 {
            table.hit(&format!("client-{n}"), STRICT_RULE, now, 10, &mut expired).expect("counted");
        }
        let mut refused = 0;
        for n in 10..1000 {
            refused += usize::from(table.hit(&format!("client-{n}"), STRICT_RULE, now, 10, &mut expired).is_err());
        }
        assert_eq!(table.len(), 10, "never more than the capacity");
        assert_eq!(refused, 990 - 3, "new clients beyond it share one limited bucket");
        assert!(table.hit("client-0", STRICT_RULE, now, 10, &mut expired).is_ok(), "known clients keep their own");
    }

    #[test]
    fn a_shared_count_refuses_at_the_limit_with_what_this_instance_counted_since() {
        let general = Rule { name: RuleName::General, window: Duration::from_secs(10), max: 5 };
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);
        let mut entry = SharedWindow::first(at(0));
        entry.shared = 3; // a flush returned: two more requests counted on other instances
        entry.unflushed = 0;
        assert!(entry.count(general, at(100)).is_ok());
        assert!(entry.count(general, at(200)).is_ok());
        assert_eq!(entry.count(general, at(300)), Err(Duration::from_millis(9_900)), "3 shared + 2 here");
        assert_eq!(entry.unflushed, 2, "refusals are not counted");
        assert!(entry.count(general, at(10_200)).is_ok(), "a window after the last request, a new window");
        assert_eq!((entry.shared, entry.unflushed), (0, 3), "the earlier unflushed requests are still to be added");
    }

    #[test]
    fn disabled_limiting_allows_everything() {
        let limiter = limiter(RateLimitConfig { enabled: false, ..config() });
        for _ in 0..10 {
            assert!(check(&limiter, "1.2.3.4", "/sign-in/email").is_ok());
        }
    }
}
