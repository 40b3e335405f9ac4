//! Two-factor sign-in, compatible with Better Auth's `twoFactor` plugin
//! (`docs/better-auth-plugins.md` §Two-factor): enrolment (TOTP secret and backup codes, sealed
//! with Better Auth's `symmetricEncrypt`), the second step of a sign-in (TOTP, backup code or a
//! code by email), trusted devices, and turning it off.
//!
//! The rules this module keeps, beyond Better Auth's:
//!
//! - a pending sign-in lives 10 minutes, names its user, allows 5 attempts and is consumed by
//!   the verification that succeeds (one session per challenge);
//! - verifications of one user run one at a time (the `twoFactor` row is locked for the whole
//!   check), so a TOTP step is accepted at most once (the last used step is kept for 90 s) and
//!   a backup code works once;
//! - every failure at sign-in counts against the user: from the 5th in a row the next attempt
//!   waits 1, 2, 4, 8, 16 s, and the 10th locks verification for 15 minutes
//!   (`ACCOUNT_TEMPORARILY_LOCKED`); a success clears the count;
//! - enabling, confirming and disabling need the password and a fresh session, and end every
//!   other session of the user (the caller gets a new one).
//!
//! Codes and secrets are compared in constant time and never logged.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{
    auth::{
        error::{AuthError, TwoFactorError},
        model::{AuditEvent, AuditKind, ClientInfo, SecondFactorMethod, TwoFactorRecord, User, UserId},
        password::{Hasher, Password},
        sessions::{CurrentSession, Sessions},
        store::{AuthStore, AuthWrite},
        symmetric,
        token::{SessionToken, random_string},
        totp::{self, PERIOD, TotpKey},
    },
    config::AuthSecret,
    error::ApiError,
    mail::{Mail, Mailer},
    timestamp::now_millis,
};

/// How long a pending sign-in (the `two_factor` cookie) lives.
pub(crate) const CHALLENGE_LIFETIME: Duration = Duration::from_secs(600);
/// How long a trusted device skips the second step (the `trust_device` cookie).
pub(crate) const TRUST_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Attempts one pending sign-in (or one emailed code) allows.
const ATTEMPTS: i64 = 5;
/// How long an emailed code is valid.
const OTP_LIFETIME: Duration = Duration::from_secs(180);
/// Failures in a row before verification locks for [`LOCK_DURATION`].
const LOCK_AFTER: i32 = 10;
/// The lock after [`LOCK_AFTER`] failures (Better Auth's default).
const LOCK_DURATION: Duration = Duration::from_secs(900);
/// Failures in a row before each further one adds a growing wait.
const DELAY_AFTER: i32 = 5;
/// Better Auth's `generateRandomString` default alphabet.
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

/// The wait imposed after `failures` failed verifications in a row, if any.
pub(crate) fn wait_after(failures: i32) -> Option<Duration> {
    if failures >= LOCK_AFTER {
        Some(LOCK_DURATION)
    } else if failures >= DELAY_AFTER {
        Some(Duration::from_secs(1 << (failures - DELAY_AFTER)))
    } else {
        None
    }
}

/// Settings of the two-factor rules.
pub(crate) struct TwoFactorSettings {
    /// Seals secrets and signs trusted-device tokens.
    pub(crate) secret: AuthSecret,
    /// The issuer named in TOTP URIs unless `enable` is given one.
    pub(crate) issuer: String,
}

/// Who asks to verify a second factor.
pub(crate) enum Verifier {
    /// A signed-in user (confirming an enrolment, or checking a code).
    Session(Box<CurrentSession>),
    /// A sign-in waiting for its second step: the `two_factor` value, and whether the session
    /// to start should outlive the browser.
    Pending {
        /// The pending sign-in's identifier (signature already checked).
        challenge: String,
        /// `rememberMe` of the sign-in (its `dont_remember` cookie).
        remember: bool,
    },
}

/// The factor presented.
pub(crate) enum Factor {
    /// A TOTP code.
    Totp(String),
    /// A backup code; with `disable_session`, no session is started.
    BackupCode {
        /// The code.
        code: String,
        /// Verify only, start no session.
        disable_session: bool,
    },
    /// A code sent by email.
    EmailCode(String),
}

impl Factor {
    /// The method, as the audit trail names it.
    fn method(&self) -> SecondFactorMethod {
        match self {
            Self::Totp(_) => SecondFactorMethod::Totp,
            Self::BackupCode { .. } => SecondFactorMethod::BackupCode,
            Self::EmailCode(_) => SecondFactorMethod::Otp,
        }
    }
}

/// What a successful verification produced.
pub(crate) struct Verified {
    /// The user.
    pub(crate) user: User,
    /// The session token to report (`None` with `disableSession`).
    pub(crate) token: Option<SessionToken>,
    /// A session was started: whether it outlives the browser.
    pub(crate) new_session: Option<bool>,
    /// Whether a pending sign-in was consumed (its cookie is cleared).
    pub(crate) was_pending: bool,
    /// A new trusted-device value (`<hmac>!<id>`), when asked for.
    pub(crate) trust: Option<String>,
}

/// What a sign-in with good credentials must do next.
pub(crate) enum SecondStep {
    /// Start the session now (two-factor off, or a trusted device, whose new value is given).
    Skip {
        /// The trusted device's renewed value.
        renewed_trust: Option<String>,
    },
    /// Ask for a second factor.
    Challenge(Challenge),
}

/// A pending sign-in.
pub(crate) struct Challenge {
    /// The `two_factor` cookie's value.
    pub(crate) id: String,
    /// `twoFactorMethods`.
    pub(crate) methods: Vec<&'static str>,
    /// A `trust_device` cookie was sent but is not valid: clear it.
    pub(crate) clear_trust: bool,
}

/// What `enable` produced.
pub(crate) enum Enabled {
    /// A TOTP enrolment to confirm with a first code.
    Totp {
        /// The `otpauth://` URI.
        uri: String,
        /// The ten backup codes.
        backup_codes: Vec<String>,
    },
    /// Codes by email, on at once: the caller's new session (every other one ended).
    Email {
        /// The new session's token.
        token: SessionToken,
    },
}

/// Two-factor rules over the auth store; cheap to clone.
#[derive(Clone)]
pub(crate) struct TwoFactor {
    store: AuthStore,
    sessions: Sessions,
    hasher: Hasher,
    mailer: Mailer,
    settings: Arc<TwoFactorSettings>,
}

fn attempts_id(challenge: &str) -> String {
    format!("2fa-attempts-{challenge}")
}

fn last_step_id(user: &UserId) -> String {
    format!("2fa-totp-step-{user}")
}

fn otp_id(key: &str) -> String {
    format!("2fa-otp-{key}")
}

/// How an emailed code is stored: base64url SHA-256, as Better Auth's `storeOTP: "hashed"`.
fn otp_digest(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
}

fn seconds(duration: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}

fn unix_seconds(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

/// Constant-time string equality (length is not hidden).
fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl TwoFactor {
    /// The two-factor service.
    pub(crate) fn new(
        store: AuthStore,
        sessions: Sessions,
        hasher: Hasher,
        mailer: Mailer,
        settings: TwoFactorSettings,
    ) -> Self {
        Self { store, sessions, hasher, mailer, settings: Arc::new(settings) }
    }

    fn open(&self, sealed: &str) -> Result<String, ApiError> {
        symmetric::open(&self.settings.secret, sealed)
            .map_err(|err| ApiError::Internal(format!("a two-factor secret does not open: {err}")))
    }

    fn key_of(&self, record: &TwoFactorRecord) -> Result<TotpKey, ApiError> {
        TotpKey::from_secret(&self.open(&record.secret)?)
            .ok_or_else(|| ApiError::Internal("a stored TOTP secret is malformed".to_owned()))
    }

    /// The password and a fresh session: what changing two-factor settings needs.
    async fn check_sensitive(&self, current: &CurrentSession, password: Password) -> Result<(), ApiError> {
        if !self.sessions.is_fresh(&current.session) {
            return Err(AuthError::SessionNotFresh.into());
        }
        self.hasher.check_user_password(&self.store, &current.user.id, password).await
    }

    /// Ends every session of the user and starts a new one like the current (one transaction's
    /// part); returns its token.
    async fn replace_sessions(
        &self,
        write: &mut AuthWrite<'_, sea_orm::DatabaseTransaction>,
        current: &CurrentSession,
        client: &ClientInfo,
    ) -> Result<SessionToken, ApiError> {
        write.delete_user_sessions(&current.user.id, None).await?;
        let remember = Sessions::is_remembered(&current.session);
        let (_session, token) = self.sessions.start(write, &current.user.id, remember, client).await?;
        Ok(token)
    }

    /// Starts an enrolment (TOTP: a new secret and backup codes, active after the first code)
    /// or turns on codes by email at once.
    pub(crate) async fn enable(
        &self,
        current: &CurrentSession,
        password: Password,
        issuer: Option<String>,
        by_email: bool,
        client: &ClientInfo,
    ) -> Result<Enabled, ApiError> {
        self.check_sensitive(current, password).await?;
        let user = &current.user;
        if by_email {
            if !self.mailer.is_enabled() {
                return Err(AuthError::from(TwoFactorError::OtpNotConfigured).into());
            }
            let mut write = self.store.begin().await?;
            write.set_two_factor_enabled(&user.id, true, now_millis()).await?;
            let event =
                AuditEvent::second_factor(AuditKind::TwoFactorEnabled, &user.id, SecondFactorMethod::Otp, client);
            write.record(&event).await?;
            let token = self.replace_sessions(&mut write, current, client).await?;
            write.commit().await?;
            tracing::info!(user.id = %user.id, "two-factor (email codes) enabled");
            return Ok(Enabled::Email { token });
        }
        if self.store.two_factor(&user.id).await?.is_some_and(|record| record.verified) {
            return Err(AuthError::from(TwoFactorError::TotpAlreadyEnabled).into());
        }
        let secret = totp::generate_secret();
        let backup_codes = totp::generate_backup_codes();
        let sealed_codes =
            symmetric::seal(&self.settings.secret, &serde_json::to_string(&backup_codes).unwrap_or_default());
        let mut write = self.store.begin().await?;
        write
            .put_two_factor_unverified(&user.id, &symmetric::seal(&self.settings.secret, &secret), &sealed_codes)
            .await?;
        write.commit().await?;
        let key = TotpKey::from_secret(&secret).ok_or_else(|| ApiError::Internal("new secret".to_owned()))?;
        let issuer = issuer.unwrap_or_else(|| self.settings.issuer.clone());
        tracing::info!(user.id = %user.id, "two-factor enrolment started");
        Ok(Enabled::Totp { uri: key.uri(&issuer, &user.email), backup_codes })
    }

    /// The TOTP URI of the user's enrolment.
    pub(crate) async fn totp_uri(&self, current: &CurrentSession, password: Password) -> Result<String, ApiError> {
        self.check_sensitive(current, password).await?;
        let Some(record) = self.store.two_factor(&current.user.id).await? else {
            return Err(AuthError::from(TwoFactorError::TotpNotEnabled).into());
        };
        Ok(self.key_of(&record)?.uri(&self.settings.issuer, &current.user.email))
    }

    /// New backup codes (the old ones stop working).
    pub(crate) async fn regenerate_backup_codes(
        &self,
        current: &CurrentSession,
        password: Password,
        client: &ClientInfo,
    ) -> Result<Vec<String>, ApiError> {
        let user = &current.user.id;
        if !self.store.two_factor_enabled(user).await? {
            return Err(AuthError::from(TwoFactorError::NotEnabled).into());
        }
        self.check_sensitive(current, password).await?;
        let Some(record) = self.store.two_factor(user).await? else {
            return Err(AuthError::from(TwoFactorError::NotEnabled).into());
        };
        let codes = totp::generate_backup_codes();
        let sealed = symmetric::seal(&self.settings.secret, &serde_json::to_string(&codes).unwrap_or_default());
        let mut write = self.store.begin().await?;
        write.set_backup_codes(&record.id, &sealed).await?;
        write.record(&AuditEvent::new(AuditKind::BackupCodesRegenerated, user, client)).await?;
        write.commit().await?;
        tracing::info!(user.id = %user, "backup codes regenerated");
        Ok(codes)
    }

    /// Turns two-factor sign-in off: deletes the enrolment and the presented trusted device,
    /// ends every session and returns the caller's new one.
    pub(crate) async fn disable(
        &self,
        current: &CurrentSession,
        password: Password,
        trust_cookie: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SessionToken, ApiError> {
        self.check_sensitive(current, password).await?;
        let user = &current.user.id;
        let mut write = self.store.begin().await?;
        write.set_two_factor_enabled(user, false, now_millis()).await?;
        write.delete_two_factor(user).await?;
        if let Some((_, trust_id)) = trust_cookie.and_then(|value| value.split_once('!')) {
            write.delete_value(trust_id).await?;
        }
        write.record(&AuditEvent::new(AuditKind::TwoFactorDisabled, user, client)).await?;
        let token = self.replace_sessions(&mut write, current, client).await?;
        write.commit().await?;
        tracing::info!(user.id = %user, "two-factor disabled");
        Ok(token)
    }

    /// Whether a sign-in with good credentials needs a second step, and if so opens it.
    pub(crate) async fn second_step(
        &self,
        user: &UserId,
        trust_cookie: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SecondStep, ApiError> {
        if !self.store.two_factor_enabled(user).await? {
            return Ok(SecondStep::Skip { renewed_trust: None });
        }
        let now = now_millis();
        if let Some(trust_id) = self.trusted_device(user, trust_cookie, now).await? {
            let mut write = self.store.begin().await?;
            write.delete_value(&trust_id).await?;
            let renewed = self.new_trusted_device(&mut write, user, now).await?;
            write.record(&AuditEvent::new(AuditKind::TrustedDeviceUsed, user, client)).await?;
            write.commit().await?;
            return Ok(SecondStep::Skip { renewed_trust: Some(renewed) });
        }
        let id = format!("2fa-{}", random_string(ID_ALPHABET, 20));
        let expires = now + seconds(CHALLENGE_LIFETIME);
        let mut write = self.store.begin().await?;
        write.insert_value(&id, user.as_str(), now, expires).await?;
        write.insert_value(&attempts_id(&id), "0", now, expires).await?;
        write.commit().await?;
        let mut methods = Vec::new();
        if self.store.two_factor(user).await?.is_some_and(|record| record.verified) {
            methods.push("totp");
        }
        if self.mailer.is_enabled() {
            methods.push("otp");
        }
        tracing::info!(user.id = %user, "second factor required");
        Ok(SecondStep::Challenge(Challenge { id, methods, clear_trust: trust_cookie.is_some() }))
    }

    /// The trusted-device id of a valid `trust_device` value for this user.
    async fn trusted_device(
        &self,
        user: &UserId,
        value: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<String>, ApiError> {
        let Some((token, trust_id)) = value.and_then(|v| v.split_once('!')) else {
            return Ok(None);
        };
        if trust_id.is_empty() || !same(token, &self.trust_token(user, trust_id)) {
            return Ok(None);
        }
        let owner = self.store.verification_value(trust_id, now).await?;
        Ok(owner.is_some_and(|owner| owner == user.as_str()).then(|| trust_id.to_owned()))
    }

    /// `base64url(HMAC-SHA256(secret, "<user>!<id>"))`, as Better Auth signs a trusted device.
    fn trust_token(&self, user: &UserId, trust_id: &str) -> String {
        // HMAC takes keys of any length.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.settings.secret.expose_bytes()).expect("HMAC takes keys of any length");
        mac.update(format!("{user}!{trust_id}").as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    async fn new_trusted_device<T: crate::auth::store::WriteTarget>(
        &self,
        write: &mut AuthWrite<'_, T>,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let trust_id = format!("trust-device-{}", random_string(ID_ALPHABET, 32));
        write.insert_value(&trust_id, user.as_str(), now, now + seconds(TRUST_LIFETIME)).await?;
        Ok(format!("{}!{trust_id}", self.trust_token(user, &trust_id)))
    }

    /// The user of a pending sign-in.
    async fn pending_user(&self, challenge: &str) -> Result<User, ApiError> {
        let invalid = || ApiError::from(AuthError::from(TwoFactorError::InvalidCookie));
        let Some(owner) = self.store.verification_value(challenge, now_millis()).await? else {
            return Err(invalid());
        };
        self.store.user(&UserId::new(owner)).await?.ok_or_else(invalid)
    }

    /// Sends a code by email to the signed-in or signing-in user.
    pub(crate) async fn send_email_code(&self, who: &Verifier) -> Result<(), ApiError> {
        if !self.mailer.is_enabled() {
            return Err(AuthError::from(TwoFactorError::OtpNotConfigured).into());
        }
        let (user, key) = self.otp_target(who).await?;
        let code = random_string(b"0123456789", 6);
        let now = now_millis();
        let mut write = self.store.write();
        write.delete_value(&otp_id(&key)).await?;
        write
            .insert_value(&otp_id(&key), &format!("{}:0", otp_digest(&code)), now, now + seconds(OTP_LIFETIME))
            .await?;
        self.mailer.send_in_background(Mail {
            to: user.email.clone(),
            subject: "Your sign-in code".to_owned(),
            text: format!("Your sign-in code is {code}. It is valid for 3 minutes.\n\nIf you did not try to sign in, change your password."),
            url: String::new(),
        });
        tracing::info!(user.id = %user.id, "two-factor code sent by email");
        Ok(())
    }

    /// The user and the key an emailed code is filed under.
    async fn otp_target(&self, who: &Verifier) -> Result<(User, String), ApiError> {
        Ok(match who {
            Verifier::Session(current) => (current.user.clone(), format!("{}!{}", current.user.id, current.session.id)),
            Verifier::Pending { challenge, .. } => (self.pending_user(challenge).await?, challenge.clone()),
        })
    }

    /// Verifies a second factor. At sign-in, success consumes the pending sign-in and starts
    /// the session; with a session, a first TOTP code confirms the enrolment (and a first
    /// emailed code turns codes by email on), replacing every session of the user.
    pub(crate) async fn verify(
        &self,
        who: Verifier,
        factor: Factor,
        trust_device: bool,
        client: &ClientInfo,
    ) -> Result<Verified, ApiError> {
        let (user, key) = self.otp_target(&who).await?;
        let now = now_millis();
        let mut write = self.store.begin().await?;
        let record = write.lock_two_factor(&user.id).await?;
        let pending = match &who {
            Verifier::Pending { challenge, .. } => Some(challenge.as_str()),
            Verifier::Session(_) => None,
        };
        let refuse = |problem: TwoFactorError| Err(ApiError::from(AuthError::from(problem)));
        match (&factor, &record) {
            (Factor::Totp(_), None) => return refuse(TwoFactorError::TotpNotEnabled),
            (Factor::Totp(_), Some(record)) if pending.is_some() && !record.verified => {
                return refuse(TwoFactorError::TotpNotEnabled);
            }
            (Factor::BackupCode { .. }, None) => return refuse(TwoFactorError::BackupCodesNotEnabled),
            _ => {}
        }
        if let Some(challenge) = pending {
            if let Some(until) = record.as_ref().and_then(|r| r.locked_until).filter(|until| *until > now) {
                let retry_after_secs = u64::try_from((until - now).whole_seconds()).unwrap_or(0) + 1;
                return refuse(TwoFactorError::Locked { retry_after_secs });
            }
            match write.increment_value(&attempts_id(challenge), now).await? {
                None => return refuse(TwoFactorError::InvalidCookie),
                Some(attempts) if attempts > ATTEMPTS => {
                    write.consume_value(challenge, now).await?;
                    write.delete_value(&attempts_id(challenge)).await?;
                    write.commit().await?;
                    return refuse(TwoFactorError::TooManyAttempts);
                }
                Some(_) => {}
            }
        }
        let (method, failed) = (factor.method(), AuditKind::TwoFactorFailed);
        let accepted = match &factor {
            Factor::Totp(code) => self.accept_totp(&mut write, &user.id, record.as_ref(), code, now).await?,
            Factor::BackupCode { code, .. } => self.accept_backup_code(&mut write, record.as_ref(), code).await?,
            Factor::EmailCode(code) => match self.accept_email_code(&mut write, &key, code, now).await? {
                Ok(accepted) => accepted,
                Err(problem) => {
                    write.record(&AuditEvent::second_factor(failed, &user.id, method, client)).await?;
                    write.commit().await?;
                    return refuse(problem);
                }
            },
        };
        if !accepted {
            if let (Some(_), Some(record)) = (pending, &record) {
                let failures = write.record_two_factor_failure(&record.id).await?;
                if let Some(wait) = wait_after(failures) {
                    write.lock_two_factor_until(&record.id, now + seconds(wait)).await?;
                }
            }
            write.record(&AuditEvent::second_factor(failed, &user.id, method, client)).await?;
            write.commit().await?;
            tracing::info!(user.id = %user.id, "second factor refused");
            return refuse(match factor {
                Factor::BackupCode { .. } => TwoFactorError::InvalidBackupCode,
                _ => TwoFactorError::InvalidCode,
            });
        }
        let verified = match who {
            Verifier::Pending { challenge, remember } => {
                if let Some(record) = &record {
                    write.reset_two_factor_failures(&record.id).await?;
                }
                let owner = write.consume_value(&challenge, now).await?;
                if owner.is_none_or(|(owner, _)| owner != user.id.as_str()) {
                    return refuse(TwoFactorError::InvalidCookie);
                }
                write.delete_value(&attempts_id(&challenge)).await?;
                let succeeded = AuditEvent::second_factor(AuditKind::TwoFactorSucceeded, &user.id, method, client);
                write.record(&succeeded).await?;
                let start = !matches!(factor, Factor::BackupCode { disable_session: true, .. });
                let token = if start {
                    let (_session, token) = self.sessions.start(&mut write, &user.id, remember, client).await?;
                    write.record(&AuditEvent::new(AuditKind::SignIn, &user.id, client)).await?;
                    Some(token)
                } else {
                    None
                };
                let trust = if trust_device && start {
                    Some(self.new_trusted_device(&mut write, &user.id, now).await?)
                } else {
                    None
                };
                Verified { user, new_session: token.as_ref().map(|_| remember), token, was_pending: true, trust }
            }
            Verifier::Session(current) => {
                let confirms_totp = matches!(factor, Factor::Totp(_)) && record.as_ref().is_some_and(|r| !r.verified);
                let enables_email =
                    matches!(factor, Factor::EmailCode(_)) && !self.store.two_factor_enabled(&user.id).await?;
                if let (true, Some(record)) = (confirms_totp, &record) {
                    write.set_two_factor_verified(&record.id).await?;
                }
                if confirms_totp || enables_email {
                    write.set_two_factor_enabled(&user.id, true, now).await?;
                    write
                        .record(&AuditEvent::second_factor(AuditKind::TwoFactorEnabled, &user.id, method, client))
                        .await?;
                    let token = self.replace_sessions(&mut write, &current, client).await?;
                    tracing::info!(user.id = %user.id, "two-factor enabled");
                    let remember = Sessions::is_remembered(&current.session);
                    // The answer's user is the one just changed.
                    let user = User { two_factor_enabled: true, ..user };
                    Verified { user, token: Some(token), new_session: Some(remember), was_pending: false, trust: None }
                } else {
                    let succeeded = AuditEvent::second_factor(AuditKind::TwoFactorSucceeded, &user.id, method, client);
                    write.record(&succeeded).await?;
                    Verified { user, token: Some(current.token), new_session: None, was_pending: false, trust: None }
                }
            }
        };
        write.commit().await?;
        Ok(verified)
    }

    /// Whether `code` is the TOTP of an unused step; records the step when it is.
    async fn accept_totp(
        &self,
        write: &mut AuthWrite<'_, sea_orm::DatabaseTransaction>,
        user: &UserId,
        record: Option<&TwoFactorRecord>,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<bool, ApiError> {
        let Some(record) = record else { return Ok(false) };
        let Some(step) = self.key_of(record)?.matching_step(code, unix_seconds(now)) else {
            return Ok(false);
        };
        let last_id = last_step_id(user);
        let last: Option<u64> = write.value(&last_id, now).await?.and_then(|v| v.parse().ok());
        if last.is_some_and(|last| step <= last) {
            tracing::info!(user.id = %user, "replayed TOTP code refused");
            return Ok(false);
        }
        write.delete_value(&last_id).await?;
        // Kept until the step can no longer match (one step either side of the current one).
        write.insert_value(&last_id, &step.to_string(), now, now + seconds(Duration::from_secs(3 * PERIOD))).await?;
        Ok(true)
    }

    /// Whether `code` is one of the unused backup codes; removes it when it is.
    async fn accept_backup_code(
        &self,
        write: &mut AuthWrite<'_, sea_orm::DatabaseTransaction>,
        record: Option<&TwoFactorRecord>,
        code: &str,
    ) -> Result<bool, ApiError> {
        let Some(record) = record else { return Ok(false) };
        let codes: Vec<String> = serde_json::from_str(&self.open(&record.backup_codes)?)
            .map_err(|_| ApiError::Internal("stored backup codes are not a JSON array".to_owned()))?;
        let mut found = None;
        for (index, candidate) in codes.iter().enumerate() {
            if same(candidate, code) {
                found = Some(index);
            }
        }
        let Some(index) = found else { return Ok(false) };
        let remaining: Vec<&String> = codes.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, c)| c).collect();
        let sealed = symmetric::seal(&self.settings.secret, &serde_json::to_string(&remaining).unwrap_or_default());
        Ok(write.swap_backup_codes(&record.id, &record.backup_codes, &sealed).await?)
    }

    /// Whether `code` is the emailed code filed under `key` (5 attempts, then it is void).
    async fn accept_email_code(
        &self,
        write: &mut AuthWrite<'_, sea_orm::DatabaseTransaction>,
        key: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Result<bool, TwoFactorError>, ApiError> {
        let Some((stored, expires)) = write.consume_value(&otp_id(key), now).await? else {
            return Ok(Err(TwoFactorError::OtpExpired));
        };
        let (digest, attempts) = stored.rsplit_once(':').unwrap_or((stored.as_str(), "0"));
        let attempts: i64 = attempts.parse().unwrap_or(ATTEMPTS);
        if attempts >= ATTEMPTS {
            return Ok(Err(TwoFactorError::TooManyAttempts));
        }
        if same(digest, &otp_digest(code)) {
            return Ok(Ok(true));
        }
        write.insert_value(&otp_id(key), &format!("{digest}:{}", attempts + 1), now, expires).await?;
        Ok(Ok(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_grows_from_the_fifth_failure_and_locks_at_the_tenth() {
        let waits: Vec<Option<u64>> = (1..=11).map(|n| wait_after(n).map(|d| d.as_secs())).collect();
        assert_eq!(waits, [None, None, None, None, Some(1), Some(2), Some(4), Some(8), Some(16), Some(900), Some(900)]);
    }

    #[test]
    fn emailed_codes_are_stored_as_better_auths_hashed_form() {
        assert_eq!(otp_digest("123456"), "jZae727K08KaOmKSgOaGzww_XVqGr_PKEgIMkjrcbJI");
    }
}
