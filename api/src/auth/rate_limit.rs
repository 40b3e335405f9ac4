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
//! database counts the same keys), while the general rule stays in memory: counting every
//! `get-session` in the database would cost a write per request. With N instances the general
//! rule therefore allows up to N times its limit per client (the README states the bound).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use ipnet::IpNet;
use poem::{Endpoint, Request, Response};

use crate::{
    auth::store::AuthStore,
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

/// A key's count and the time of its last counted request.
#[derive(Clone, Copy, Debug)]
struct Window {
    count: u32,
    last: Instant,
}

impl Window {
    /// Better Auth's algorithm: restart after a window, refuse at the limit, else count.
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

/// One rule's entries in two generations: `current` holds the keys counted since `rotated_at`,
/// `previous` those counted in the window before it; anything older has expired and is gone.
#[derive(Debug, Default)]
struct Table {
    current: HashMap<String, Window>,
    previous: HashMap<String, Window>,
    rotated_at: Option<Instant>,
    overflow: Option<Window>,
}

impl Table {
    /// Starts a new generation once a window has passed since the last one. The maps that
    /// expire are handed to `expired`, to be freed after the lock is released.
    fn rotate(&mut self, now: Instant, window: Duration, expired: &mut Vec<HashMap<String, Window>>) {
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
        expired: &mut Vec<HashMap<String, Window>>,
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
            return self.overflow.get_or_insert(Window { count: 0, last: now }).count(rule, now);
        }
        self.current.insert(key.to_owned(), Window { count: 1, last: now });
        Ok(())
    }
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
        let mut expired = Vec::new();
        let result = self.table(rule.name).lock().unwrap_or_else(PoisonError::into_inner).hit(
            key,
            rule,
            now,
            self.capacity,
            &mut expired,
        );
        // The expired maps are freed here, after the lock is released.
        drop(expired);
        result
    }
}

/// The limiter: configuration, the documented operations under `/api/auth`, the in-memory
/// counts, and the shared store the strict and mail rules count in, if any.
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    operations: Vec<PathTemplate>,
    memory: MemoryStore,
    shared: Option<AuthStore>,
}

impl RateLimiter {
    /// A limiter for these operations (paths relative to `/api/auth`), counting the strict and
    /// mail rules in `shared`'s `rateLimit` table when given, everything else in memory.
    pub(crate) fn new(config: RateLimitConfig, operations: Vec<PathTemplate>, shared: Option<AuthStore>) -> Self {
        Self { config, operations, memory: MemoryStore::new(ENTRIES_PER_RULE), shared }
    }

    /// Counts a request for `key` under `rule`; `Ok(Err(retry_after))` when over the limit.
    async fn hit(&self, key: &str, rule: Rule, now: Instant) -> Result<Result<(), Duration>, ApiError> {
        let Some(shared) = self.shared.as_ref().filter(|_| rule.name != RuleName::General) else {
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

    impl Table {
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
        let mut table = Table::default();
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
        let mut table = Table::default();
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
        let mut table = Table::default();
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
    fn disabled_limiting_allows_everything() {
        let limiter = limiter(RateLimitConfig { enabled: false, ..config() });
        for _ in 0..10 {
            assert!(check(&limiter, "1.2.3.4", "/sign-in/email").is_ok());
        }
    }
}
