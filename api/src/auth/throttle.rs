//! Per-account throttling of password sign-in (README, "Security model"): independent of the
//! client address and shared by every instance (the counts are rows of the `rateLimit` table).
//!
//! Every sign-in attempt for an email is claimed, in one statement, before the password is
//! hashed: the first [`AccountThrottle::free`] attempts since the last success are free; after
//! that an attempt is accepted only once a delay has passed since the previous one was answered
//! (a wrong password restarts the clock when it is answered, not when it was claimed), 1 s doubling
//! with each further attempt up to [`AccountThrottle::max_delay`]; earlier attempts get `429` with
//! `Retry-After` and are not counted. A successful sign-in or a password reset clears the count;
//! a quiet [`RESET_AFTER`] starts it over. Unknown emails are counted the same way (the key is a
//! hash of the submitted address), so the answers reveal nothing about accounts, and the delay
//! an attacker can impose on the owner is bounded: at most `max_delay` after each attempt.

use std::time::Duration;

use crate::auth::token::sha256_hex;

/// The delay after the first throttled attempt; each further attempt doubles it.
const BASE_DELAY: Duration = Duration::from_secs(1);

/// A count whose last attempt is this old starts over.
pub(crate) const RESET_AFTER: Duration = Duration::from_secs(15 * 60);

/// The throttle's settings (`SIGN_IN_THROTTLE_FAILURES`, `SIGN_IN_THROTTLE_MAX_DELAY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccountThrottle {
    /// Attempts since the last success that are never delayed.
    pub(crate) free: u32,
    /// The longest delay between two attempts.
    pub(crate) max_delay: Duration,
}

impl AccountThrottle {
    /// The `rateLimit` key of an email's attempts: a hash, so that the table holds no address
    /// (and the key never collides with `<address>|<operation>`).
    pub(crate) fn key(email: &str) -> String {
        format!("sign-in-account|{}", sha256_hex(&email.to_lowercase()))
    }

    /// How long after an attempt the next one is accepted, when `count` attempts were counted.
    pub(crate) fn delay(&self, count: u32) -> Duration {
        if count < self.free {
            return Duration::ZERO;
        }
        let doublings = (count - self.free).min(20);
        (BASE_DELAY * 2u32.pow(doublings)).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_after_the_free_attempts_up_to_the_cap() {
        let throttle = AccountThrottle { free: 5, max_delay: Duration::from_secs(60) };
        let delays: Vec<u64> = (0..14).map(|count| throttle.delay(count).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(throttle.delay(u32::MAX).as_secs(), 60, "no overflow");
    }

    #[test]
    fn keys_hide_the_address_and_ignore_case() {
        let key = AccountThrottle::key("Alice@Example.com");
        assert_eq!(key, AccountThrottle::key("alice@example.com"));
        assert!(!key.contains("alice"));
    }
}
