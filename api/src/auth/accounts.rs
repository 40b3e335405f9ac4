//! Accounts: sign-up, sign-in, profile, password change and reset, email verification and
//! change, and deletion. The rules between the HTTP edge and the auth store.
//!
//! Sign-in does the same scrypt work whether or not the account exists, and answers unknown
//! email, missing password and wrong password identically (`docs/better-auth-wire.md` §7.4).
//! Sign-up writes the user, its credential account and its first session in one transaction.
//! Every write goes through `auth::store`, which keeps the session cache coherent; each security
//! event (`auth::audit`) is recorded in the transaction of the change it describes.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tracing::Instrument;

use crate::{
    auth::{
        cookies::encode_uri_component,
        email::Email,
        error::{AuthError, LinkProblem},
        model::{AuditEvent, AuditKind, ClientInfo, Session, SignInFailure, User, UserId},
        password::{Hasher, Password},
        sessions::{CurrentSession, Sessions},
        store::AuthStore,
        throttle::{AccountThrottle, RESET_AFTER},
        token::{ResetToken, SessionToken, sha256_hex},
        two_factor::{Challenge, SecondStep, TwoFactor},
        verification::{self, TokenProblem, VerificationClaims},
    },
    config::{AuthSecret, VerificationConfig},
    db::is_unique_violation,
    error::ApiError,
    mail::{Mail, Mailer},
    metrics::METRICS,
    timestamp::now_millis,
};

/// A validated sign-up.
#[derive(Debug)]
pub(crate) struct SignUp {
    /// Display name.
    pub(crate) name: String,
    /// The address.
    pub(crate) email: Email,
    /// A new password (length already checked).
    pub(crate) password: Password,
    /// Profile image URL.
    pub(crate) image: Option<String>,
    /// Whether the session should outlive the browser.
    pub(crate) remember: bool,
}

/// A validated sign-in.
#[derive(Debug)]
pub(crate) struct SignIn {
    /// The address.
    pub(crate) email: Email,
    /// The password to check.
    pub(crate) password: Password,
    /// Whether the session should outlive the browser.
    pub(crate) remember: bool,
}

/// A validated profile change: `None` leaves a field as is; `Some(None)` removes the image.
#[derive(Debug)]
pub(crate) struct ProfileUpdate {
    /// New display name.
    pub(crate) name: Option<String>,
    /// New image URL, or `Some(None)` to remove it.
    pub(crate) image: Option<Option<String>>,
}

/// A validated password change.
#[derive(Debug)]
pub(crate) struct PasswordChange {
    /// The new password.
    pub(crate) new_password: Password,
    /// The current password, checked first.
    pub(crate) current_password: Password,
    /// End every session (this one too) and start a new one.
    pub(crate) revoke_other_sessions: bool,
}

/// What sign-up produces: the user, and a session unless email verification is required.
pub(crate) struct SignedUp {
    /// The new user (a synthetic one when the address was taken and verification is required).
    pub(crate) user: User,
    /// The first session and its raw token.
    pub(crate) session: Option<(Session, SessionToken)>,
}

/// What sign-in produces: the user and the new session's raw token.
pub(crate) struct SignedIn {
    /// The user.
    pub(crate) user: User,
    /// The new session's raw token.
    pub(crate) token: SessionToken,
    /// The trusted device's renewed `trust_device` value, when it skipped the second factor.
    pub(crate) renewed_trust: Option<String>,
}

/// How a sign-in with good credentials ends.
pub(crate) enum SignInOutcome {
    /// Signed in.
    Session(SignedIn),
    /// Two-factor sign-in is on: no session until the second factor is verified.
    SecondFactor(Challenge),
}

/// Settings the account rules need.
pub(crate) struct AccountSettings {
    /// Verification and reset settings.
    pub(crate) verification: VerificationConfig,
    /// Signs verification links.
    pub(crate) secret: AuthSecret,
    /// The URL mailed links start with.
    pub(crate) public_base_url: String,
    /// Per-account sign-in throttling, when on.
    pub(crate) throttle: Option<AccountThrottle>,
}

/// Password-reset mails, and separately verification mails, one recipient can receive per
/// [`RECIPIENT_WINDOW`] (when rate limiting is on), however many client addresses ask.
const RECIPIENT_MAILS: u32 = 3;
/// See [`RECIPIENT_MAILS`].
const RECIPIENT_WINDOW: Duration = Duration::from_secs(600);

/// Account rules over the auth store; cheap to clone.
#[derive(Clone)]
pub(crate) struct Accounts {
    store: AuthStore,
    sessions: Sessions,
    hasher: Hasher,
    mailer: Mailer,
    two_factor: TwoFactor,
    settings: Arc<AccountSettings>,
}

impl Accounts {
    /// The account service.
    pub(crate) fn new(
        store: AuthStore,
        sessions: Sessions,
        hasher: Hasher,
        mailer: Mailer,
        two_factor: TwoFactor,
        settings: AccountSettings,
    ) -> Self {
        Self { store, sessions, hasher, mailer, two_factor, settings: Arc::new(settings) }
    }

    /// Whether mail can be sent (password reset and verification need it).
    pub(crate) fn mail_enabled(&self) -> bool {
        self.mailer.is_enabled()
    }

    /// A user by id.
    pub(crate) async fn user(&self, id: &UserId) -> Result<Option<User>, ApiError> {
        Ok(self.store.user(id).await?)
    }

    /// Creates the user, its credential account and (unless verification is required) a session.
    ///
    /// With `REQUIRE_EMAIL_VERIFICATION`, a taken address gets the same answer as a new one (a
    /// synthetic user, no session) after the same hashing work, so sign-up cannot probe for
    /// accounts; the verification mail goes out only for a real new account.
    pub(crate) async fn sign_up(&self, input: SignUp, client: &ClientInfo) -> Result<SignedUp, ApiError> {
        let require_verification = self.settings.verification.require_verified_email;
        let now = now_millis();
        let user = User {
            id: UserId::generate(),
            name: input.name,
            email: input.email.as_str().to_owned(),
            email_verified: false,
            image: input.image,
            created_at: now,
            updated_at: now,
            two_factor_enabled: false,
        };
        // Reserve hashing capacity first: under overload the request is shed before any database work.
        let slot = self.hasher.reserve().await?;
        if self.store.email_exists(&user.email).await? {
            if require_verification {
                let _ = slot.hash(input.password).await?;
                return Ok(SignedUp { user, session: None });
            }
            return Err(AuthError::UserAlreadyExists.into());
        }
        let password_hash = slot.hash(input.password).await?;
        let mut write = self.store.begin().await?;
        let written = async {
            write.insert_user(&user).await?;
            write.insert_credential_account(&user.id, &password_hash, now).await?;
            write.record(&AuditEvent::new(AuditKind::SignUp, &user.id, client)).await?;
            if require_verification {
                return Ok(None);
            }
            self.sessions.start(&mut write, &user.id, input.remember, client).await.map(Some)
        }
        .await;
        let session = match written {
            Ok(session) => {
                write.commit().await?;
                session
            }
            // Two sign-ups raced past the existence check: the unique index decides.
            Err(err) if is_unique_violation(&err) && require_verification => {
                return Ok(SignedUp { user, session: None });
            }
            Err(err) if is_unique_violation(&err) => return Err(AuthError::UserAlreadyExists.into()),
            Err(err) => return Err(err.into()),
        };
        tracing::info!(user.id = %user.id, "user signed up");
        if require_verification {
            self.send_verification_mail(&user, None, None);
        }
        Ok(SignedUp { user, session })
    }

    /// Checks the credentials, then either starts a session or, when the user has two-factor
    /// sign-in on and `trust_cookie` is not a valid trusted device of theirs, opens the second
    /// step instead. This is the only way from credentials to a session, so nothing (a password
    /// reset included) skips the second factor.
    pub(crate) async fn sign_in(
        &self,
        input: SignIn,
        client: &ClientInfo,
        trust_cookie: Option<&str>,
    ) -> Result<SignInOutcome, ApiError> {
        let SignIn { email, password, remember } = input;
        // The credential check runs to its end in a task of its own, even if the client goes
        // away: the attempt it counts against the account's throttle is then always settled
        // (cleared by the right password, timed from its answer by a wrong one). Dropped with
        // the request, abandoned attempts with the right password would pile up until the
        // owner's next sign-in is throttled.
        let accounts = self.clone();
        let check_client = client.clone();
        let check = async move { accounts.check_credentials(email, password, &check_client).await };
        let user = tokio::spawn(check.in_current_span())
            .await
            .map_err(|err| ApiError::Internal(format!("the credential check failed: {err}")))??;
        // The credentials are good: this is the one place sign-in turns into a session.
        let renewed_trust = match self.two_factor.second_step(&user.id, trust_cookie, client).await? {
            SecondStep::Challenge(challenge) => return Ok(SignInOutcome::SecondFactor(challenge)),
            SecondStep::Skip { renewed_trust } => renewed_trust,
        };
        let mut write = self.store.begin().await?;
        let (_session, token) = self.sessions.start(&mut write, &user.id, remember, client).await?;
        write.record(&AuditEvent::new(AuditKind::SignIn, &user.id, client)).await?;
        write.commit().await?;
        METRICS.sign_ins.success.inc();
        tracing::info!(user.id = %user.id, "user signed in");
        Ok(SignInOutcome::Session(SignedIn { user, token, renewed_trust }))
    }

    /// The user whose credentials these are, after counting the attempt against the account's
    /// throttle and settling it: every refusal is recorded, a success clears the count.
    async fn check_credentials(&self, email: Email, password: Password, client: &ClientInfo) -> Result<User, ApiError> {
        // Reserve hashing capacity first: under overload the request is shed before any database work.
        let slot = self.hasher.reserve().await.inspect_err(|_| METRICS.sign_ins.shed.inc())?;
        self.claim_sign_in_attempt(email.as_str()).await.inspect_err(|err| {
            if matches!(err, ApiError::RateLimited { .. }) {
                METRICS.sign_ins.throttled.inc();
            }
        })?;
        let attempted_email = email.as_str().to_owned();
        let (user, stored_hash) = match self.store.user_with_password(email.as_str()).await? {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let matches = slot.verify(password, stored_hash).await?;
        let user = match user {
            Some(user) if matches => user,
            // Both refusals write one event, so an unknown address costs the same as a wrong
            // password; the unknown address's event names no user and holds no address.
            user => {
                let reason = if user.is_some() { SignInFailure::InvalidPassword } else { SignInFailure::UnknownEmail };
                let event = AuditEvent::sign_in_failed(user.as_ref().map(|u| &u.id), reason, client);
                self.store.write().record(&event).await?;
                self.finish_failed_sign_in_attempt(attempted_email).await?;
                METRICS.sign_ins.wrong_credentials.inc();
                tracing::info!("sign-in refused");
                return Err(AuthError::InvalidEmailOrPassword.into());
            }
        };
        if self.settings.verification.require_verified_email && !user.email_verified {
            let event = AuditEvent::sign_in_failed(Some(&user.id), SignInFailure::EmailNotVerified, client);
            self.store.write().record(&event).await?;
            METRICS.sign_ins.email_not_verified.inc();
            // Only the account's owner gets here (the password matched): send them a new link.
            self.mail_verification_link(&user, None).await?;
            return Err(AuthError::EmailNotVerified.into());
        }
        self.clear_sign_in_attempts(&user.email).await?;
        Ok(user)
    }

    /// Counts a sign-in attempt for `email` against its throttle (`auth::throttle`), refusing
    /// it with `429` when it comes too early.
    async fn claim_sign_in_attempt(&self, email: &str) -> Result<(), ApiError> {
        let Some(throttle) = self.settings.throttle else { return Ok(()) };
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut delays = Vec::new();
        let mut count = throttle.free;
        while throttle.delay(count) < throttle.max_delay && delays.len() < 32 {
            delays.push((count, millis(throttle.delay(count))));
            count += 1;
        }
        delays.push((count, millis(throttle.max_delay)));
        let now_ms = unix_millis(OffsetDateTime::now_utc());
        let key = AccountThrottle::key(email);
        let refused =
            self.store.write().claim_attempt(&key, now_ms, millis(RESET_AFTER), throttle.free, &delays).await?;
        let Some((count, last_ms)) = refused else { return Ok(()) };
        let delay = throttle.delay(u32::try_from(count).unwrap_or(u32::MAX));
        let wait_ms = (last_ms.saturating_add(millis(delay)) - now_ms).max(1);
        tracing::info!("sign-in throttled for the account");
        Err(ApiError::RateLimited { retry_after_secs: u64::try_from(wait_ms).unwrap_or(1).div_ceil(1000) })
    }

    /// After a wrong password: the next attempt's delay runs from this answer, not from when
    /// the attempt was claimed (hashing takes a while).
    async fn finish_failed_sign_in_attempt(&self, email: String) -> Result<(), ApiError> {
        if self.settings.throttle.is_some() {
            self.store
                .write()
                .touch_count(&AccountThrottle::key(&email), unix_millis(OffsetDateTime::now_utc()))
                .await?;
        }
        Ok(())
    }

    /// Forgets the sign-in attempts counted for `email` (after a success or a password reset).
    async fn clear_sign_in_attempts(&self, email: &str) -> Result<(), ApiError> {
        if self.settings.throttle.is_some() {
            self.store.write().clear_count(&AccountThrottle::key(email)).await?;
        }
        Ok(())
    }

    /// Changes the name and/or image.
    pub(crate) async fn update_profile(&self, user: &UserId, update: &ProfileUpdate) -> Result<(), ApiError> {
        let image = update.image.as_ref().map(Option::as_deref);
        self.store.write().update_profile(user, update.name.as_deref(), image, now_millis()).await?;
        tracing::info!(user.id = %user, "profile updated");
        Ok(())
    }

    /// Checks a user's current password against their credential account.
    async fn check_password(&self, user: &UserId, password: Password) -> Result<(), ApiError> {
        self.hasher.check_user_password(&self.store, user, password).await
    }

    /// Changes the password. With `revoke_other_sessions`, every session of the user ends (this
    /// one too) and a new session is returned, all in one transaction.
    pub(crate) async fn change_password(
        &self,
        current: &CurrentSession,
        change: PasswordChange,
        client: &ClientInfo,
    ) -> Result<Option<(Session, SessionToken)>, ApiError> {
        let user = &current.user.id;
        self.check_password(user, change.current_password).await?;
        let hash = self.hasher.hash(change.new_password).await?;
        let revoke = change.revoke_other_sessions;
        let mut write = self.store.begin().await?;
        if !write.update_password(user, &hash, now_millis()).await? {
            return Err(AuthError::CredentialAccountNotFound.into());
        }
        let replacement = if revoke {
            write.delete_user_sessions(user, None).await?;
            let remember = Sessions::is_remembered(&current.session);
            Some(self.sessions.start(&mut write, user, remember, client).await?)
        } else {
            None
        };
        write.record(&AuditEvent::new(AuditKind::PasswordChanged, user, client)).await?;
        write.commit().await?;
        tracing::info!(user.id = %user, revoke_others = revoke, "password changed");
        Ok(replacement)
    }

    /// Starts a password reset: when the address has an account, stores a single-use token and
    /// mails its link. All of it runs in the background, so the answer (always the same) takes
    /// the same time whether or not the account exists.
    pub(crate) fn request_password_reset(&self, email: Email, redirect_to: Option<String>) {
        let accounts = self.clone();
        let work = async move {
            if let Err(err) = accounts.mail_reset_link(&email, redirect_to.as_deref()).await {
                tracing::warn!(error = %err, "password reset request failed");
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(work));
    }

    async fn mail_reset_link(&self, email: &Email, redirect_to: Option<&str>) -> Result<(), sea_orm::DbErr> {
        // Counted for unknown addresses too; the answer was the same before this runs.
        if !self.recipient_allows("reset-mail-to", email.as_str()).await? {
            tracing::info!("password reset mail not sent: the recipient's limit is reached");
            return Ok(());
        }
        let Some(user) = self.store.user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        let url = self.reset_link(&user.id, redirect_to).await?;
        self.mailer.send_in_background(Mail {
            to: user.email.clone(),
            subject: "Reset your password".to_owned(),
            text: format!("Someone asked to reset the password of your account. If it was you, open this link within the hour:\n\n{url}\n\nIf it was not you, ignore this message."),
            url,
        });
        tracing::info!(user.id = %user.id, "password reset requested");
        Ok(())
    }

    /// Whether one more mail of a kind (`kind`, the key's prefix) may go to `email`: with rate
    /// limiting on, at most [`RECIPIENT_MAILS`] per [`RECIPIENT_WINDOW`] per recipient, whatever
    /// client addresses ask, counted in the `rateLimit` table (shared by every instance) under a
    /// hash of the address, so the table holds no addresses.
    async fn recipient_allows(&self, kind: &str, email: &str) -> Result<bool, sea_orm::DbErr> {
        if self.settings.throttle.is_none() {
            return Ok(true);
        }
        let window_ms = i64::try_from(RECIPIENT_WINDOW.as_millis()).unwrap_or(i64::MAX);
        let key = format!("{kind}|{}", sha256_hex(&email.to_lowercase()));
        let now_ms = unix_millis(OffsetDateTime::now_utc());
        Ok(self.store.write().count_request(&key, now_ms, window_ms, RECIPIENT_MAILS).await?.is_none())
    }

    /// Mails a verification link to `user`'s address unless the recipient's limit is reached
    /// ([`Self::recipient_allows`]); the caller's answer is the same either way.
    async fn mail_verification_link(&self, user: &User, callback: Option<&str>) -> Result<(), sea_orm::DbErr> {
        if !self.mailer.is_enabled() {
            return Ok(());
        }
        if !self.recipient_allows("verification-mail-to", &user.email).await? {
            tracing::info!(user.id = %user.id, "verification mail not sent: the recipient's limit is reached");
            return Ok(());
        }
        self.send_verification_mail(user, None, callback);
        Ok(())
    }

    /// Stores a new single-use reset token for `user` and returns its link.
    async fn reset_link(&self, user: &UserId, redirect_to: Option<&str>) -> Result<String, sea_orm::DbErr> {
        let token = ResetToken::generate();
        let now = now_millis();
        let expires_at = now + self.settings.verification.reset_token_lifetime;
        self.store.write().store_reset_token(&token, user, now, expires_at).await?;
        Ok(format!(
            "{}/api/auth/reset-password/{}?callbackURL={}",
            self.settings.public_base_url,
            token.expose(),
            encode_uri_component(redirect_to.unwrap_or_default())
        ))
    }

    /// Whether a reset token is currently valid (for the mailed link's redirect).
    pub(crate) async fn reset_token_is_valid(&self, token: &ResetToken) -> Result<bool, ApiError> {
        Ok(self.store.reset_token_owner(token, OffsetDateTime::now_utc()).await?.is_some())
    }

    /// Completes a password reset: consumes the token, sets the password and ends every session
    /// of the user, in one transaction.
    pub(crate) async fn reset_password(
        &self,
        token: &ResetToken,
        new_password: Password,
        client: &ClientInfo,
    ) -> Result<(), ApiError> {
        if self.store.reset_token_owner(token, OffsetDateTime::now_utc()).await?.is_none() {
            return Err(AuthError::InvalidToken.into());
        }
        let hash = self.hasher.hash(new_password).await?;
        let now = now_millis();
        let mut write = self.store.begin().await?;
        // Consuming is what counts: of two concurrent uses, only one gets the user.
        let Some(user) = write.consume_reset_token(token, OffsetDateTime::now_utc()).await? else {
            return Err(AuthError::InvalidToken.into());
        };
        let Some(account) = write.user(&user).await? else {
            write.commit().await?;
            return Err(AuthError::UserNotFound.into());
        };
        if !write.update_password(&user, &hash, now).await? {
            write.insert_credential_account(&user, &hash, now).await?;
        }
        let ended = write.delete_user_sessions(&user, None).await?;
        write.record(&AuditEvent::new(AuditKind::PasswordReset, &user, client)).await?;
        write.commit().await?;
        self.clear_sign_in_attempts(&account.email).await?;
        tracing::info!(user.id = %user, sessions_ended = ended, "password reset");
        Ok(())
    }

    /// Sends a verification link for `email`. With a session (`signed_in`), the address must be
    /// that user's and not yet verified; without one, a link goes out only when the address has
    /// an unverified account, and the caller learns nothing either way.
    pub(crate) async fn send_verification(
        &self,
        email: &Email,
        signed_in: Option<&User>,
        callback: Option<&str>,
    ) -> Result<(), ApiError> {
        if let Some(user) = signed_in {
            if user.email != email.as_str() {
                return Err(AuthError::EmailMismatch.into());
            }
            if user.email_verified {
                return Err(AuthError::EmailAlreadyVerified.into());
            }
            self.mail_verification_link(user, callback).await?;
            return Ok(());
        }
        if let Some(user) = self.store.user_by_email(email.as_str()).await?
            && !user.email_verified
        {
            self.mail_verification_link(&user, callback).await?;
        }
        Ok(())
    }

    /// Mails a verification link to `user` (or, for an email change, to `update_to`, bound to
    /// when the password was last set).
    fn send_verification_mail(&self, user: &User, update_to: Option<(&Email, Option<i64>)>, callback: Option<&str>) {
        let (update_to, password_set_at) = update_to.unzip();
        if !self.mailer.is_enabled() {
            return;
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let lifetime = i64::try_from(self.settings.verification.verification_token_lifetime.as_secs()).unwrap_or(3600);
        let claims = VerificationClaims {
            email: user.email.clone(),
            user_id: Some(user.id.as_str().to_owned()),
            update_to: update_to.map(|e| e.as_str().to_owned()),
            request_type: update_to.map(|_| "change-email-verification".to_owned()),
            password_set_at: password_set_at.flatten(),
            iat: now,
            exp: now + lifetime,
        };
        let token = verification::sign_jwt(&claims, &self.settings.secret);
        let url = format!(
            "{}/api/auth/verify-email?token={token}&callbackURL={}",
            self.settings.public_base_url,
            encode_uri_component(callback.unwrap_or("/"))
        );
        let (to, subject) = match update_to {
            Some(new) => (new.as_str().to_owned(), "Confirm your new email address"),
            None => (user.email.clone(), "Verify your email address"),
        };
        self.mailer.send_in_background(Mail {
            to,
            subject: subject.to_owned(),
            text: format!(
                "Open this link to confirm this address:\n\n{url}\n\nIf you did not ask for this, ignore this message."
            ),
            url,
        });
    }

    /// Applies a verification link: verifies the address, or completes an email change. Returns
    /// the user after an email change, `None` after a plain verification.
    pub(crate) async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<Option<User>, ApiError> {
        let refused = |problem| ApiError::from(AuthError::VerificationLink(problem));
        let claims =
            verification::verify_jwt(token, &self.settings.secret, OffsetDateTime::now_utc()).map_err(|problem| {
                refused(match problem {
                    TokenProblem::Invalid => LinkProblem::InvalidToken,
                    TokenProblem::Expired => LinkProblem::TokenExpired,
                })
            })?;
        // A link is bound to the user it was sent to (`userId`), as in Better Auth: once the
        // address has moved on (changed, then taken by someone else), an old link must not
        // verify or move the new owner's address.
        let user = if claims.update_to.is_some() {
            let Some(user_id) = claims.user_id.clone() else {
                return Err(refused(LinkProblem::InvalidToken));
            };
            let Some(user) = self.store.user(&UserId::new(user_id)).await? else {
                return Err(refused(LinkProblem::UserNotFound));
            };
            if user.email != claims.email.to_lowercase() {
                return Err(refused(LinkProblem::InvalidToken));
            }
            // A password set since the link was issued (the old address's owner answering the
            // change notice with a reset) cancels the change (`docs/better-auth-wire.md` §12).
            // Links without the claim (issued by Better Auth on a shared database) predate this.
            let password_set = self.store.password_set_at(&user.id).await?.map(unix_millis);
            if claims.password_set_at.is_some() && password_set != claims.password_set_at {
                return Err(refused(LinkProblem::InvalidToken));
            }
            user
        } else {
            let Some(user) = self.store.user_by_email(&claims.email).await? else {
                return Err(refused(LinkProblem::UserNotFound));
            };
            if claims.user_id.as_deref().is_some_and(|id| id != user.id.as_str()) {
                return Err(refused(LinkProblem::InvalidToken));
            }
            user
        };
        let now = now_millis();
        match (&claims.update_to, claims.request_type.as_deref()) {
            (Some(new_email), Some("change-email-verification")) => {
                let new_email = Email::parse(new_email).map_err(|_| refused(LinkProblem::InvalidToken))?;
                let mut write = self.store.begin().await?;
                match write.update_email(&user.id, &user.email, new_email.as_str(), now).await {
                    Ok(true) => {}
                    // Another link or change moved the address first.
                    Ok(false) => return Err(refused(LinkProblem::InvalidToken)),
                    // The address was taken since the link was sent.
                    Err(err) if is_unique_violation(&err) => return Err(refused(LinkProblem::InvalidToken)),
                    Err(err) => return Err(err.into()),
                }
                write.record(&AuditEvent::new(AuditKind::EmailChanged, &user.id, client)).await?;
                write.commit().await?;
                tracing::info!(user.id = %user.id, "email changed");
                Ok(self.store.user(&user.id).await?)
            }
            _ => {
                if !user.email_verified {
                    let mut write = self.store.begin().await?;
                    write.set_email_verified(&user.id, now).await?;
                    write.record(&AuditEvent::new(AuditKind::EmailVerified, &user.id, client)).await?;
                    write.commit().await?;
                    tracing::info!(user.id = %user.id, "email verified");
                }
                Ok(None)
            }
        }
    }

    /// Starts an email change: mails a confirmation link to the new address, and a notice to
    /// the current one with a reset link that stops the change (a password set since cancels
    /// the link; `docs/better-auth-wire.md` §12). Needs the current password or, without one, a
    /// fresh session. An address already in use gets the same answer and no link.
    pub(crate) async fn change_email(
        &self,
        current: &CurrentSession,
        password: Option<Password>,
        new_email: Email,
        callback: Option<&str>,
    ) -> Result<(), ApiError> {
        let user = &current.user;
        match password {
            Some(password) => self.check_password(&user.id, password).await?,
            None if !self.sessions.is_fresh(&current.session) => return Err(AuthError::SessionNotFresh.into()),
            None => {}
        }
        if new_email.as_str() == user.email {
            return Err(AuthError::EmailIsTheSame.into());
        }
        if !self.mailer.is_enabled() {
            return Err(AuthError::VerificationEmailNotEnabled { with_code: false }.into());
        }
        self.notify_email_change(user, &new_email).await?;
        if self.store.email_exists(new_email.as_str()).await? {
            return Ok(());
        }
        let password_set_at = self.store.password_set_at(&user.id).await?.map(unix_millis);
        self.send_verification_mail(user, Some((&new_email, password_set_at)), callback);
        tracing::info!(user.id = %user.id, "email change requested");
        Ok(())
    }

    /// Tells the current address that a change to `new_email` was asked for, with a way to stop
    /// it: a reset link (a new password ends every session and cancels the pending change).
    async fn notify_email_change(&self, user: &User, new_email: &Email) -> Result<(), sea_orm::DbErr> {
        let url = self.reset_link(&user.id, None).await?;
        self.mailer.send_in_background(Mail {
            to: user.email.clone(),
            subject: "Your email address is being changed".to_owned(),
            text: format!(
                "Someone signed in to your account asked to change its email address to {new_email}.\n\nIf it was you, there is nothing to do. If it was not you, open this link within the hour and choose a new password: that ends every session of your account and cancels the change.\n\n{url}",
                new_email = new_email.as_str()
            ),
            url,
        });
        Ok(())
    }

    /// Deletes the account after checking its password: tasks, sessions, accounts and the user
    /// go in one transaction.
    pub(crate) async fn delete_user(
        &self,
        user: &UserId,
        password: Password,
        client: &ClientInfo,
    ) -> Result<(), ApiError> {
        self.check_password(user, password).await?;
        let mut write = self.store.begin().await?;
        write.delete_user(user).await?;
        write.record(&AuditEvent::new(AuditKind::AccountDeleted, user, client)).await?;
        write.commit().await?;
        tracing::info!(user.id = %user, "user deleted");
        Ok(())
    }
}

/// A time as Unix milliseconds (the precision of the auth timestamps).
fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
