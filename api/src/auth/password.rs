//! Passwords: length rules, Better Auth's scrypt format, and the bounded pool that hashes
//! off the async threads.
//!
//! Format (`docs/better-auth-wire.md` §6): NFKC-normalise, then scrypt N=16384, r=16, p=1, 64-byte
//! key, with the **32-character hex salt string's bytes** as the salt; stored as
//! `<salthex>:<keyhex>`. Lengths are counted in UTF-16 code units before normalisation, as
//! JavaScript's `.length` does.
//!
//! Each hash takes ~90 ms of CPU and 32 MiB of memory, so at most `HASH_CONCURRENCY` run at
//! once and at most `HASH_QUEUE` wait; past that, callers get `Overloaded` (503 +
//! `Retry-After`) instead of memory growing with the queue.

use std::{fmt, sync::Arc};

use prometheus::IntGauge;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::{
    auth::{error::AuthError, model::UserId, store::AuthStore},
    config::HashingConfig,
    error::ApiError,
    metrics::METRICS,
};

/// Shortest acceptable new password.
pub(crate) const MIN_LEN: usize = 8;
/// Longest acceptable password (checked before any hashing, sign-in included).
pub(crate) const MAX_LEN: usize = 128;

/// A password as submitted. A secret: no `Display`, redacting `Debug`.
#[derive(Clone)]
pub(crate) struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// A new password (sign-up, change, reset): 8..=128 UTF-16 code units.
    pub(crate) fn parse_new(raw: String) -> Result<Self, AuthError> {
        match utf16_len(&raw) {
            n if n < MIN_LEN => Err(AuthError::PasswordTooShort),
            n if n > MAX_LEN => Err(AuthError::PasswordTooLong),
            _ => Ok(Self(raw)),
        }
    }

    /// A password to check against a stored hash: only the maximum applies (§3.2).
    pub(crate) fn parse_existing(raw: String) -> Result<Self, AuthError> {
        if utf16_len(&raw) > MAX_LEN {
            return Err(AuthError::PasswordTooLong);
        }
        Ok(Self(raw))
    }

    fn normalized(&self) -> String {
        self.0.nfkc().collect()
    }
}

fn utf16_len(value: &str) -> usize {
    value.encode_utf16().count()
}

fn scrypt_params() -> scrypt::Params {
    // Constant, valid parameters: log2(16384) = 14, r = 16, p = 1.
    scrypt::Params::new(14, 16, 1).expect("Better Auth's scrypt parameters are valid")
}

fn derive_key(password: &Password, salt_hex: &str) -> [u8; 64] {
    let mut key = [0u8; 64];
    // A 64-byte output is always valid for scrypt.
    scrypt::scrypt(password.normalized().as_bytes(), salt_hex.as_bytes(), &scrypt_params(), &mut key)
        .expect("a 64-byte scrypt output is valid");
    key
}

/// Hashes with a fresh random salt into Better Auth's stored format.
pub(crate) fn hash_blocking(password: &Password) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator is available");
    hash_with_salt(password, &hex::encode(salt))
}

fn hash_with_salt(password: &Password, salt_hex: &str) -> String {
    format!("{salt_hex}:{}", hex::encode(derive_key(password, salt_hex)))
}

/// Hashes `raw` exactly as sign-up does, on the calling thread, without the length rules: the
/// unit `examples/scrypt_time.rs` times (the only item of this module outside the crate).
pub fn hash_for_benchmark(raw: &str) -> String {
    hash_blocking(&Password(raw.to_owned()))
}

/// Hashes made by Better Auth (`docs/better-auth-wire.md` §6.2): `(password, stored)`. The
/// first two were produced with a fixed salt, the third by a Better Auth sign-up.
const BETTER_AUTH_HASHES: [(&str, &str); 3] = [
    (
        "password123",
        "0123456789abcdef0123456789abcdef:e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d",
    ),
    (
        "p\u{00e4}ssw\u{00f6}rd-\u{fb01}",
        "0123456789abcdef0123456789abcdef:7daaf11981732893a8a382ee79154efe022344a9f261f1c8ecc9579216b76d4ba4e84990eb385d040924552c72a417984c0ba9d1001a13e4aaa8bb03036d75e2",
    ),
    (
        "password123",
        "01a6893c74b9fe934c866a9f8429041a:121fe91e067730b52e2027f4d8a30d59d497a5f9bc50532335cbaf1406954b715a075cffaa0b6d5b8f2649880ae1c1074f4194ea6870dd2e5f1c238bec1dbf0c",
    ),
];

/// `api hash-selftest`: recomputes Better Auth's own hashes with this build's hash function on
/// this CPU, and reports each result, its time, and the CPU features the process sees. It
/// proves that a binary hashes byte-identically on a given CPU, e.g. an emulated x86-64 without
/// SSE4/AVX (`tests/api/portability.rs`). Returns the JSON report (one line) and whether every
/// hash matched.
pub fn self_test(build: &crate::cpu_build::Choice) -> (String, bool) {
    let mut all_match = true;
    let mut results = Vec::new();
    for (password, expected) in BETTER_AUTH_HASHES {
        let (salt_hex, _) = expected.split_once(':').expect("a fixture hash has a salt");
        let started = std::time::Instant::now();
        let computed = hash_with_salt(&Password(password.to_owned()), salt_hex);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        all_match &= computed == expected;
        results.push(
            serde_json::json!({"hash": computed, "matches": computed == expected, "ms": (ms * 100.0).round() / 100.0}),
        );
    }
    let report = serde_json::json!({
        "matches": all_match,
        "hashes": results,
        "keep_work_area": allocator::freed_large_blocks_kept(),
        "cpu_features": cpu_features(),
        "build": build.build,
        "build_reason": build.reason,
        "build_fallback": build.fallback,
        "build_id": crate::cpu_build::BUILD_ID,
    });
    (report.to_string(), all_match)
}

/// The x86-64 features that code generation or the crates' runtime detection (`sha2`'s SHA-NI
/// and AVX2 paths) could use, as this process sees them (an emulator reports its own CPU's).
fn cpu_features() -> serde_json::Value {
    #[cfg(target_arch = "x86_64")]
    {
        serde_json::json!({
            "sse4.1": std::arch::is_x86_feature_detected!("sse4.1"),
            "avx": std::arch::is_x86_feature_detected!("avx"),
            "avx2": std::arch::is_x86_feature_detected!("avx2"),
            "avx512f": std::arch::is_x86_feature_detected!("avx512f"),
            "sha": std::arch::is_x86_feature_detected!("sha"),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        serde_json::json!({})
    }
}

/// Whether `password` matches a stored `<salthex>:<keyhex>`; compares in constant time.
/// A malformed stored value never matches (and never panics).
pub(crate) fn verify_blocking(password: &Password, stored: &str) -> bool {
    let Some((salt_hex, key_hex)) = stored.split_once(':') else {
        tracing::warn!("stored password hash is malformed");
        return false;
    };
    let computed = hex::encode(derive_key(password, salt_hex));
    computed.as_bytes().ct_eq(key_hex.as_bytes()).into()
}

/// A hash of a random password nobody knows, checked when the account does not exist so an
/// unknown email costs the same scrypt work as a wrong password.
const DUMMY_HASH: &str = "5f1c3e8d2b7a49e6a0d4c8b1f3e2a7d9:\
    6e9c5a0d7f3b1e8c2a4d6f0b9e7c5a3d1f8b6e4c2a0d9f7b5e3c1a8d6f4b2e0c\
    9a7d5f3b1e8c6a4d2f0b9e7c5a3d1f8b6e4c2a0d9f7b5e3c1a8d6f4b2e0c9a7d";

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the hashing threads: low enough that the async workers win the CPU when both
/// want it (about 9:1 under Linux's scheduler), not so low that a busy host starves sign-in.
const HASHING_NICENESS: u8 = 25; // thread-priority's 0..=99 scale; 25 maps to nice 9

fn lower_priority() {
    let priority = thread_priority::ThreadPriorityValue::try_from(HASHING_NICENESS)
        .map(thread_priority::ThreadPriority::Crossplatform)
        .unwrap_or(thread_priority::ThreadPriority::Min);
    if let Err(err) = thread_priority::set_current_thread_priority(priority) {
        tracing::debug!(error = ?err, "cannot lower the hashing thread's priority");
    }
}

/// How long a request waits for a place in a full pool before it is refused.
const ADMISSION_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Typical time of one hash, for `Retry-After` estimates.
const TYPICAL_HASH: std::time::Duration = std::time::Duration::from_millis(100);

/// The bounded hashing pool: `HASH_CONCURRENCY` dedicated threads at a lowered CPU priority, so
/// a sign-in storm uses spare CPU without delaying other requests, plus at most `HASH_QUEUE`
/// waiting jobs. A caller reserves its place ([`Hasher::reserve`]) before doing any other work,
/// so a request that will be shed costs almost nothing.
#[derive(Clone)]
pub(crate) struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
    slots: Arc<Semaphore>,
    capacity: usize,
    concurrency: usize,
    /// Jobs handed to the threads and not started yet (`api_password_hash_queued`).
    queued: IntGauge,
}

/// A reserved place in the hashing pool, good for one hash or verification.
pub(crate) struct HashSlot {
    permit: tokio::sync::OwnedSemaphorePermit,
    jobs: std::sync::mpsc::SyncSender<Job>,
    queued: IntGauge,
}

impl Hasher {
    /// Starts the pool's threads; they stop when the last `Hasher` clone is dropped.
    pub(crate) fn new(config: &HashingConfig) -> Self {
        Self::with_queue_gauge(config, METRICS.hash_queued.clone())
    }

    /// [`Hasher::new`], counting its queue in `queued` (a test's own gauge).
    fn with_queue_gauge(config: &HashingConfig, queued: IntGauge) -> Self {
        let capacity = config.concurrency + config.queue;
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(capacity);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for index in 0..config.concurrency {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new().name(format!("scrypt-{index}")).spawn(move || {
                lower_priority();
                loop {
                    let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs,
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            concurrency: config.concurrency.max(1),
            queued,
        }
    }

    /// Checks a user's current password against their credential account (sensitive
    /// operations: password change, deletion, two-factor settings).
    pub(crate) async fn check_user_password(
        &self,
        store: &AuthStore,
        user: &UserId,
        password: Password,
    ) -> Result<(), ApiError> {
        let Some(stored) = store.credential_password(user).await?.flatten() else {
            return Err(AuthError::CredentialAccountNotFound.into());
        };
        if !self.verify(password, Some(stored)).await? {
            return Err(AuthError::InvalidPassword.into());
        }
        Ok(())
    }

    /// Reserves a place. When the pool and its queue are full, waits briefly for one to free
    /// up, then fails with `Overloaded` (503 + `Retry-After`, estimated from the queued work).
    /// The short wait also paces clients that retry at once, so a flood of refusals cannot eat
    /// the CPU the rest of the service needs.
    pub(crate) async fn reserve(&self) -> Result<HashSlot, ApiError> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => match tokio::time::timeout(ADMISSION_WAIT, self.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    let queued = u32::try_from(self.capacity - self.slots.available_permits()).unwrap_or(u32::MAX);
                    let wait = TYPICAL_HASH * queued / u32::try_from(self.concurrency).unwrap_or(1);
                    METRICS.hash_shed.inc();
                    tracing::warn!("password hashing queue is full; shedding load");
                    return Err(ApiError::Overloaded { retry_after_secs: wait.as_secs().max(1) });
                }
            },
        };
        Ok(HashSlot { permit, jobs: self.jobs.clone(), queued: self.queued.clone() })
    }

    /// Reserves a place and hashes a new password.
    pub(crate) async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.reserve().await?.hash(password).await
    }

    /// Reserves a place and checks a password (see [`HashSlot::verify`]).
    pub(crate) async fn verify(&self, password: Password, stored: Option<String>) -> Result<bool, ApiError> {
        self.reserve().await?.verify(password, stored).await
    }

    #[cfg(test)]
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        self.reserve().await?.run(work).await
    }
}

impl HashSlot {
    /// Hashes a new password.
    pub(crate) async fn hash(self, password: Password) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await
    }

    /// Checks a password against a stored hash, or against a dummy hash when there is none
    /// (unknown user, no credential account), so both cost the same.
    pub(crate) async fn verify(self, password: Password, stored: Option<String>) -> Result<bool, ApiError> {
        self.run(move || match stored {
            Some(hash) => verify_blocking(&password, &hash),
            None => {
                let _ = verify_blocking(&password, DUMMY_HASH);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let permit = self.permit;
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.dec();
            METRICS.hash_in_flight.inc();
            let output = span.in_scope(work);
            METRICS.hash_in_flight.dec();
            // Free the place before answering, so the caller sees the capacity it returned.
            drop(permit);
            let _ = done.send(output);
        });
        // The channel holds as many jobs as there are permits, so this cannot be full. Counted
        // as queued before it is sent: a thread may pick it up (and count it out) at once.
        self.queued.inc();
        if self.jobs.try_send(job).is_err() {
            self.queued.dec();
            return Err(ApiError::Internal("the hashing pool stopped".to_owned()));
        }
        result.await.map_err(|_| ApiError::Internal("a hashing thread stopped".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password(s.to_owned())
    }

    /// One hashing thread and a queue of `queue`.
    fn test_config(queue: usize) -> HashingConfig {
        HashingConfig { concurrency: 1, queue, keep_work_area: true, cpu_specific_build: true }
    }

    // Test vectors from `docs/better-auth-wire.md` §6.2, produced by Better Auth.
    #[test]
    fn hashes_match_better_auth_test_vectors() {
        for (password, stored) in BETTER_AUTH_HASHES {
            let (salt, _) = stored.split_once(':').expect("salt:key");
            assert_eq!(hash_with_salt(&pw(password), salt), stored);
        }
        let build = crate::cpu_build::Choice {
            build: crate::cpu_build::BUILD,
            reason: "unit test".to_owned(),
            fallback: false,
        };
        let (report, all_match) = self_test(&build);
        assert!(all_match, "{report}");
    }

    #[test]
    fn a_hash_made_by_better_auth_sign_up_verifies() {
        let (_, stored) = BETTER_AUTH_HASHES[2];
        assert!(verify_blocking(&pw("password123"), stored));
        assert!(!verify_blocking(&pw("password124"), stored));
    }

    #[test]
    fn new_hashes_have_better_auths_shape_and_verify() {
        let stored = hash_blocking(&pw("hunter2hunter2"));
        assert_eq!(stored.len(), 161);
        let (salt, key) = stored.split_once(':').expect("salt:key");
        assert!(salt.len() == 32 && salt.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(key.len(), 128);
        assert!(verify_blocking(&pw("hunter2hunter2"), &stored));
    }

    #[test]
    fn malformed_stored_hashes_never_match() {
        for stored in ["", "nocolon", ":", "zz:zz", "0123:"] {
            assert!(!verify_blocking(&pw("password123"), stored), "{stored:?}");
        }
        assert!(!verify_blocking(&pw("password123"), DUMMY_HASH));
    }

    #[test]
    fn lengths_count_utf16_code_units_before_normalisation() {
        let cases: [(&str, Result<(), AuthError>); 6] = [
            ("1234567", Err(AuthError::PasswordTooShort)),
            ("12345678", Ok(())),
            ("😀😀😀😀", Ok(())), // four emoji are eight UTF-16 units
            ("😀😀😀", Err(AuthError::PasswordTooShort)),
            (&"a".repeat(128), Ok(())),
            (&"a".repeat(129), Err(AuthError::PasswordTooLong)),
        ];
        for (input, expected) in cases {
            let got = Password::parse_new(input.to_owned()).map(|_| ());
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{input:?}");
        }
        assert!(Password::parse_existing("short".to_owned()).is_ok(), "sign-in checks only the maximum");
        assert!(Password::parse_existing("😀".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn hashing_threads_run_at_a_lowered_priority() {
        let hasher = Hasher::new(&test_config(0));
        let nice = hasher
            .run(|| {
                // Field 19 of /proc/thread-self/stat is the nice value.
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
                let after_name = stat.rsplit_once(')').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
                after_name.split_whitespace().nth(16).and_then(|v| v.parse::<i32>().ok())
            })
            .await
            .expect("ran");
        assert!(nice.is_some_and(|n| n >= 5), "hashing threads are niced: {nice:?}");
    }

    #[tokio::test]
    async fn the_queue_gauge_counts_jobs_waiting_for_a_thread() {
        let queued = IntGauge::new("test_queued", "test").expect("gauge");
        let hasher = Hasher::with_queue_gauge(&test_config(2), queued.clone());
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let busy = hasher.clone();
        let first = tokio::spawn(async move {
            busy.run(move || {
                let _ = started.send(());
                let _ = blocked.recv();
            })
            .await
        });
        running.await.expect("the only thread runs the first job");
        assert_eq!(queued.get(), 0, "a running job is not queued");
        let waiting: Vec<_> = (0..2)
            .map(|n| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.run(move || n).await })
            })
            .collect();
        // The waiting tasks run when this one yields (a current-thread runtime).
        for _ in 0..10_000 {
            if queued.get() >= 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(queued.get(), 2, "both jobs wait for the busy thread");
        release.send(()).expect("the first job waits");
        assert!(first.await.expect("joined").is_ok());
        for job in waiting {
            assert!(job.await.expect("joined").is_ok());
        }
        assert_eq!(queued.get(), 0, "every job left the queue when a thread took it");
    }

    #[tokio::test]
    async fn the_pool_sheds_load_past_its_queue() {
        let hasher = Hasher::new(&test_config(0));
        let busy = hasher.clone();
        // Occupy the only place for longer than a caller is willing to wait.
        let first = tokio::spawn(async move { busy.run(|| std::thread::sleep(ADMISSION_WAIT * 3)).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        let second = hasher.hash(pw("second-password")).await;
        assert!(matches!(second, Err(ApiError::Overloaded { .. })), "{second:?}");
        assert!(started.elapsed() >= ADMISSION_WAIT, "it waited for a place before giving up");
        assert!(first.await.expect("joined").is_ok());
        assert!(hasher.hash(pw("third-password")).await.is_ok(), "capacity returns");
    }

    #[tokio::test]
    async fn a_place_freed_during_the_admission_wait_is_taken() {
        let hasher = Hasher::new(&test_config(0));
        let busy = hasher.clone();
        let first = tokio::spawn(async move { busy.run(|| std::thread::sleep(ADMISSION_WAIT / 5)).await });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(hasher.hash(pw("second-password")).await.is_ok());
        assert!(first.await.expect("joined").is_ok());
    }
}
