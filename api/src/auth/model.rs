//! The auth domain's records: a user, a session, their typed ids, where a new session comes
//! from, a JWT signing key, the JWT kept with a cached session, and the security events of the
//! audit trail. `auth::repo` reads and
//! writes them; every layer passes these types, so a user id cannot be given where a session id
//! is expected.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use time::OffsetDateTime;

use crate::auth::token::{StoredToken, new_id};

/// A text id newtype: generated for new rows, or wrapped as read from the database or a client.
macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub(crate) struct $name(String);

        impl $name {
            /// A new random id (32 alphanumeric characters, as Better Auth generates).
            pub(crate) fn generate() -> Self {
                Self(new_id())
            }

            /// Wraps an id as stored (rows written by a Node Better Auth may use any text).
            pub(crate) fn new(raw: String) -> Self {
                Self(raw)
            }

            /// The id, for queries and response bodies.
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }

        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// `user.id`.
    UserId
);
impl UserId {
    /// The id's text, for a response body that owns it.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

text_id!(
    /// `session.id`, also the opaque handle `list-sessions` shows and `revoke-session` takes.
    SessionId
);

/// A row of `user`.
#[derive(Clone, Debug)]
pub(crate) struct User {
    /// `id`
    pub(crate) id: UserId,
    /// `name`
    pub(crate) name: String,
    /// `email` (lower-case)
    pub(crate) email: String,
    /// `emailVerified`
    pub(crate) email_verified: bool,
    /// `image`
    pub(crate) image: Option<String>,
    /// `createdAt`
    pub(crate) created_at: OffsetDateTime,
    /// `updatedAt`
    pub(crate) updated_at: OffsetDateTime,
    /// `twoFactorEnabled` (`NULL`, a row written without the plugin, reads as `false`)
    pub(crate) two_factor_enabled: bool,
}

/// A row of `session`.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// `id`
    pub(crate) id: SessionId,
    /// `token` as stored (a hash unless storage is `plain`)
    pub(crate) token: StoredToken,
    /// `userId`
    pub(crate) user_id: UserId,
    /// `expiresAt`
    pub(crate) expires_at: OffsetDateTime,
    /// `createdAt`
    pub(crate) created_at: OffsetDateTime,
    /// `updatedAt`
    pub(crate) updated_at: OffsetDateTime,
    /// `ipAddress`
    pub(crate) ip_address: Option<String>,
    /// `userAgent`
    pub(crate) user_agent: Option<String>,
}

/// A row of `jwks`: one signing key of the `jwt` plugin. `private_key` is the private JWK as
/// Better Auth stores it: `symmetricEncrypt` output (under `AUTH_SECRET`) as a JSON string. It
/// has a redacting `Debug`, so a key row never reaches a log.
#[derive(Clone)]
pub(crate) struct SigningKeyRow {
    /// `id`, the `kid` of the tokens it signs.
    pub(crate) id: String,
    /// `publicKey`: the public JWK as JSON text.
    pub(crate) public_key: String,
    /// `privateKey`: the encrypted private JWK.
    pub(crate) private_key: String,
    /// `createdAt`
    pub(crate) created_at: OffsetDateTime,
    /// `expiresAt`: when the key stops signing (set when keys rotate).
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// `alg` (`None` on rows older than the column: the configured algorithm).
    pub(crate) alg: Option<String>,
    /// `crv`
    pub(crate) crv: Option<String>,
}

impl fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("id", &self.id)
            .field("public_key", &self.public_key)
            .field("private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Where a new session comes from. Both values come from request headers, so both are capped
/// at [`ClientInfo::MAX_BYTES`] when made: nothing a client sends is stored at any size.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientInfo {
    ip_address: String,
    user_agent: String,
}

impl ClientInfo {
    /// The most bytes of each header-derived value stored with a session.
    pub(crate) const MAX_BYTES: usize = 512;

    /// The client address and `User-Agent`, each cut to [`Self::MAX_BYTES`] on a character
    /// boundary.
    pub(crate) fn new(ip_address: &str, user_agent: &str) -> Self {
        Self { ip_address: capped(ip_address).to_owned(), user_agent: capped(user_agent).to_owned() }
    }

    /// Normalised client address, `""` when unknown (Better Auth's convention).
    pub(crate) fn ip_address(&self) -> &str {
        &self.ip_address
    }

    /// `User-Agent`, `""` when absent.
    pub(crate) fn user_agent(&self) -> &str {
        &self.user_agent
    }
}

/// The longest prefix of `value` of at most [`ClientInfo::MAX_BYTES`] that ends on a character
/// boundary.
fn capped(value: &str) -> &str {
    if value.len() <= ClientInfo::MAX_BYTES {
        return value;
    }
    let end = (0..=ClientInfo::MAX_BYTES).rev().find(|&i| value.is_char_boundary(i)).unwrap_or(0);
    &value[..end]
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuditKind {
    /// An account was created.
    SignUp,
    /// A sign-in succeeded (a new session).
    SignIn,
    /// A sign-in was refused (see [`SignInFailure`]).
    SignInFailed,
    /// A session was ended by signing out.
    SignOut,
    /// One session was revoked.
    SessionRevoked,
    /// Every session was revoked.
    SessionsRevoked,
    /// Every other session was revoked.
    OtherSessionsRevoked,
    /// The password was changed.
    PasswordChanged,
    /// The password was reset through a mailed link.
    PasswordReset,
    /// The address was verified.
    EmailVerified,
    /// The address was changed.
    EmailChanged,
    /// The account was deleted.
    AccountDeleted,
    /// Two-factor sign-in was turned on (a confirmed TOTP enrolment, or codes by email).
    TwoFactorEnabled,
    /// Two-factor sign-in was turned off.
    TwoFactorDisabled,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
    /// A second factor was accepted (see [`SecondFactorMethod`]).
    TwoFactorSucceeded,
    /// A second factor was refused (see [`SecondFactorMethod`]).
    TwoFactorFailed,
    /// A trusted device skipped the second step of a sign-in.
    TrustedDeviceUsed,
}

impl AuditKind {
    /// The stored name (`auditEvent.type`), also the API's event type.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign-up",
            Self::SignIn => "sign-in",
            Self::SignInFailed => "sign-in-failed",
            Self::SignOut => "sign-out",
            Self::SessionRevoked => "session-revoked",
            Self::SessionsRevoked => "sessions-revoked",
            Self::OtherSessionsRevoked => "other-sessions-revoked",
            Self::PasswordChanged => "password-changed",
            Self::PasswordReset => "password-reset",
            Self::EmailVerified => "email-verified",
            Self::EmailChanged => "email-changed",
            Self::AccountDeleted => "account-deleted",
            Self::TwoFactorEnabled => "two-factor-enabled",
            Self::TwoFactorDisabled => "two-factor-disabled",
            Self::BackupCodesRegenerated => "backup-codes-regenerated",
            Self::TwoFactorSucceeded => "two-factor-succeeded",
            Self::TwoFactorFailed => "two-factor-failed",
            Self::TrustedDeviceUsed => "trusted-device-used",
        }
    }
}

/// Why a sign-in was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignInFailure {
    /// The account exists; the password did not match (or it has none).
    InvalidPassword,
    /// No account has the address (the event has no user).
    UnknownEmail,
    /// The password matched but the address is not verified yet.
    EmailNotVerified,
}

impl SignInFailure {
    /// The stored reason (`auditEvent.reason`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPassword => "invalid-password",
            Self::UnknownEmail => "unknown-email",
            Self::EmailNotVerified => "email-not-verified",
        }
    }
}

/// How a second factor was presented: the reason of a two-factor event (never the code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecondFactorMethod {
    /// An authenticator's TOTP code.
    Totp,
    /// A code sent by email.
    Otp,
    /// A backup code.
    BackupCode,
}

impl SecondFactorMethod {
    /// The stored reason (`auditEvent.reason`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Otp => "otp",
            Self::BackupCode => "backup-code",
        }
    }
}

/// An event to record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditEvent<'a> {
    /// What happened.
    pub(crate) kind: AuditKind,
    /// To whom (`None` only for a sign-in refused for an unknown address).
    pub(crate) user: Option<&'a UserId>,
    /// Why, for a refused sign-in ([`SignInFailure`]); how, for a second factor
    /// ([`SecondFactorMethod`]).
    pub(crate) reason: Option<&'static str>,
    /// From where.
    pub(crate) client: &'a ClientInfo,
}

impl<'a> AuditEvent<'a> {
    /// `kind` happened to `user`, from `client`.
    pub(crate) fn new(kind: AuditKind, user: &'a UserId, client: &'a ClientInfo) -> Self {
        Self { kind, user: Some(user), reason: None, client }
    }

    /// A refused sign-in; `user` is `None` when the address has no account.
    pub(crate) fn sign_in_failed(user: Option<&'a UserId>, reason: SignInFailure, client: &'a ClientInfo) -> Self {
        Self { kind: AuditKind::SignInFailed, user, reason: Some(reason.as_str()), client }
    }

    /// `kind` happened to `user` through a second factor presented by `method`.
    pub(crate) fn second_factor(
        kind: AuditKind,
        user: &'a UserId,
        method: SecondFactorMethod,
        client: &'a ClientInfo,
    ) -> Self {
        Self { kind, user: Some(user), reason: Some(method.as_str()), client }
    }
}

/// A recorded event, as its user sees it.
#[derive(Clone, Debug)]
pub(crate) struct AuditRecord {
    /// `auditEvent.id` (grows with time).
    pub(crate) id: i64,
    /// What happened (`auditEvent.type`, an [`AuditKind`] name).
    pub(crate) kind: String,
    /// Why, for a refusal.
    pub(crate) reason: Option<String>,
    /// The client address, `""` when unknown.
    pub(crate) ip_address: String,
    /// The client's `User-Agent`, `""` when absent.
    pub(crate) user_agent: String,
    /// When.
    pub(crate) created_at: OffsetDateTime,
}

/// A row of `twoFactor`: one user's enrolment. The secret and the codes stay sealed (Better
/// Auth's `symmetricEncrypt`) until the domain opens them; no `Debug`, so they are never logged.
pub(crate) struct TwoFactorRecord {
    /// `id`
    pub(crate) id: String,
    /// `secret`, sealed.
    pub(crate) secret: String,
    /// `backupCodes`, a sealed JSON array.
    pub(crate) backup_codes: String,
    /// `verified` (`NULL` reads as `true`, as in Better Auth): the enrolment was confirmed by a code.
    pub(crate) verified: bool,
    /// `lockedUntil`
    pub(crate) locked_until: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_cut_to_512_bytes_on_a_character_boundary() {
        let long = format!("a{}", "é".repeat(1000));
        let info = ClientInfo::new("10.0.0.1", &long);
        assert_eq!(info.user_agent().len(), 511, "the 512th byte is inside a character");
        assert!(long.starts_with(info.user_agent()));
        assert_eq!(ClientInfo::new("", "short").user_agent(), "short");
        assert_eq!(ClientInfo::new(&"x".repeat(600), "").ip_address().len(), 512);
    }
}

/// A live session, its user, and the slot of the token last signed for that user's
/// `set-auth-jwt` header (shared with the session cache entry when there is one).
pub(crate) type LiveSession = (Session, User, Arc<JwtSlot>);

/// The token last signed for one cached session's user, for the `set-auth-jwt` header
/// (`auth::jwt`).
///
/// It lives in the session cache entry that holds that user (`auth::cache`): an entry is dropped
/// by every change to its session or user (here, in another instance or by any other client), and
/// the slot with it, so a kept token never carries a user's stale fields. The slot of a lookup
/// that was not cached lives for one request.
#[derive(Default)]
pub(crate) struct JwtSlot(Mutex<Option<KeptJwt>>);

/// A token in a [`JwtSlot`].
struct KeptJwt {
    token: String,
    /// The key that signed it: a token of a retired key is not served again.
    kid: String,
    /// Unix time from which it is no longer served.
    renew_at: i64,
}

impl JwtSlot {
    /// The kept token, if `kid` still signs and `now` (unix seconds) is before its renewal time.
    pub(crate) fn kept(&self, kid: &str, now: i64) -> Option<String> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.as_ref().filter(|kept| kept.kid == kid && now < kept.renew_at).map(|kept| kept.token.clone())
    }

    /// Keeps `token`, signed by `kid`, to be served until `renew_at` (unix seconds).
    pub(crate) fn keep(&self, token: String, kid: String, renew_at: i64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(KeptJwt { token, kid, renew_at });
    }
}

/// Says only whether a token is kept: a token must not reach a log.
impl fmt::Debug for JwtSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        f.debug_struct("JwtSlot").field("kept", &kept).finish()
    }
}
