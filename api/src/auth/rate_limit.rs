//! Rate limiting of `/api/auth/*` with Better Auth's rules and algorithm
//! (`docs/better-auth-wire.md` §7.3): per client address and path, a fixed window that restarts
//! on the first request after it elapses; rejected requests do not count.
//!
//! The store is in memory (per instance). [`RateLimitStore`] is the seam for a shared store
//! (database or Redis) when several instances must share limits.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use ipnet::IpNet;
use poem::{Endpoint, Request, Response};

use crate::{
    config::RateLimitConfig,
    error::ApiError,
    http::{
        client_ip::{client_ip, normalised},
        layer::{Layer, call_next},
    },
};

/// One limit: at most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Window length.
    pub(crate) window: Duration,
    /// Requests allowed per window.
    pub(crate) max: u32,
}

/// The rule for a path relative to `/api/auth` (Better Auth's built-in rules, then the default).
fn rule_for(path: &str, config: &RateLimitConfig) -> Rule {
    const STRICT: [&str; 4] = ["/sign-in", "/sign-up", "/change-password", "/change-email"];
    const MAIL: [&str; 2] = ["/request-password-reset", "/send-verification-email"];
    if STRICT.iter().any(|p| path.starts_with(p)) {
        Rule { window: Duration::from_secs(10), max: 3 }
    } else if MAIL.contains(&path) || path.starts_with("/forget-password") {
        Rule { window: Duration::from_secs(60), max: 3 }
    } else {
        Rule { window: config.window, max: config.max }
    }
}

/// Where request counts live.
pub(crate) trait RateLimitStore: Send + Sync {
    /// Counts a request for `key` at `now`; `Err(retry_after)` when over the limit.
    fn hit(&self, key: &str, rule: Rule, now: Instant) -> Result<(), Duration>;
}

/// A process-local store.
#[derive(Default)]
struct MemoryStore {
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl RateLimitStore for MemoryStore {
    fn hit(&self, key: &str, rule: Rule, now: Instant) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() > 100_000 {
            // Bound memory under address-spraying: forget windows that have ended.
            entries.retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(3600));
        }
        match entries.get_mut(key) {
            Some((count, last)) if now.duration_since(*last) < rule.window => {
                if *count >= rule.max {
                    return Err(rule.window - now.duration_since(*last));
                }
                *count += 1;
                *last = now;
                Ok(())
            }
            Some(entry) => {
                *entry = (1, now);
                Ok(())
            }
            None => {
                entries.insert(key.to_owned(), (1, now));
                Ok(())
            }
        }
    }
}

/// The limiter: configuration plus a store.
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    store: Box<dyn RateLimitStore>,
}

impl RateLimiter {
    /// An in-memory limiter.
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        Self { config, store: Box::new(MemoryStore::default()) }
    }

    /// Checks one request for `client` on `path` (relative to `/api/auth`).
    fn check(&self, client: &str, path: &str) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let path = path.trim_end_matches('/');
        let rule = rule_for(path, &self.config);
        self.store
            .hit(&format!("{client}|{path}"), rule, Instant::now())
            .map_err(|wait| ApiError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 })
    }
}

/// The layer that limits every request under `/api/auth/`, before routing (as Better Auth
/// does, so unknown paths count too).
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
            // Without a usable address every client shares one bucket per path (Better Auth's
            // `no-trusted-ip`): safe, if coarse.
            let client = client_ip(&req, &self.trusted_proxies).map_or_else(|| "no-trusted-ip".to_owned(), normalised);
            self.limiter.check(&client, path)?;
        }
        call_next(next, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RateLimitConfig {
        RateLimitConfig { enabled: true, window: Duration::from_secs(10), max: 100 }
    }

    #[test]
    fn better_auths_rules_apply_by_path() {
        assert_eq!(rule_for("/sign-in/email", &config()).max, 3);
        assert_eq!(rule_for("/sign-up/email", &config()).window, Duration::from_secs(10));
        assert_eq!(rule_for("/request-password-reset", &config()).window, Duration::from_secs(60));
        assert_eq!(rule_for("/get-session", &config()).max, 100);
    }

    #[test]
    fn the_fourth_sign_in_in_a_window_is_refused_and_rejections_do_not_count() {
        let store = MemoryStore::default();
        let rule = Rule { window: Duration::from_secs(10), max: 3 };
        let start = Instant::now();
        for i in 0..3 {
            assert!(store.hit("1.2.3.4|/sign-in/email", rule, start + Duration::from_secs(i)).is_ok());
        }
        let wait = store.hit("1.2.3.4|/sign-in/email", rule, start + Duration::from_secs(3)).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(9), "measured from the last counted request");
        assert!(store.hit("5.6.7.8|/sign-in/email", rule, start).is_ok(), "another client is unaffected");
        assert!(store.hit("1.2.3.4|/sign-in/email", rule, start + Duration::from_secs(12)).is_ok(), "window over");
    }

    #[test]
    fn disabled_limiting_allows_everything() {
        let limiter = RateLimiter::new(RateLimitConfig { enabled: false, ..config() });
        for _ in 0..10 {
            assert!(limiter.check("1.2.3.4", "/sign-in/email").is_ok());
        }
    }
}
