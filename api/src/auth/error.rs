//! What can go wrong in the auth domain, without HTTP: statuses, codes and messages are
//! assigned once, in `crate::error`, from Better Auth's catalogue (`docs/better-auth-wire.md` §2).

use crate::validation::ValidationErrors;

/// An auth failure a client can cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// The body failed schema validation (missing or mistyped field, bad email on sign-up).
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// Sign-in with an email that is not a valid address.
    #[error("invalid email")]
    InvalidEmail,
    /// Unknown email, wrong password or no password on the account: one answer for all.
    #[error("invalid email or password")]
    InvalidEmailOrPassword,
    /// Sign-up with an email that already has an account.
    #[error("user already exists")]
    UserAlreadyExists,
    /// A new password shorter than the minimum.
    #[error("password too short")]
    PasswordTooShort,
    /// A password longer than the maximum (checked before any hashing).
    #[error("password too long")]
    PasswordTooLong,
    /// The current password given for a sensitive operation is wrong.
    #[error("invalid password")]
    InvalidPassword,
    /// No valid session. Carries the `Set-Cookie` lines that clear stale cookies, if any.
    #[error("unauthorized")]
    Unauthorized {
        /// Exact `Set-Cookie` header values to send with the 401.
        set_cookies: Vec<String>,
    },
    /// A cookie-carrying unsafe request from an origin that is not trusted.
    #[error("invalid origin")]
    InvalidOrigin,
    /// A cookie-carrying unsafe request without `Origin`/`Referer` (or with `Origin: null`).
    #[error("missing or null origin")]
    MissingOrNullOrigin,
    /// Sign-in/up triggered by a cross-site top-level navigation (login CSRF).
    #[error("cross-site navigation login blocked")]
    CrossSiteNavigationLoginBlocked,
    /// An untrusted redirect target in a request field.
    #[error("invalid redirect target in {0:?}")]
    InvalidRedirect(RedirectField),
    /// Sign-in when verification is required and the email is not verified.
    #[error("email not verified")]
    EmailNotVerified,
    /// A reset or verification token that is unknown, used or malformed.
    #[error("invalid token")]
    InvalidToken,
    /// The user a token refers to no longer exists.
    #[error("user not found")]
    UserNotFound,
    /// The user has no email/password account.
    #[error("credential account not found")]
    CredentialAccountNotFound,
    /// A session older than the freshness window asked for a fresh-only operation.
    #[error("session not fresh")]
    SessionNotFresh,
    /// `update-user` tried to set `email`.
    #[error("email can not be updated")]
    EmailCanNotBeUpdated,
    /// `update-user` with nothing to change.
    #[error("no fields to update")]
    NoFieldsToUpdate,
    /// `change-email` to the current address.
    #[error("email is the same")]
    EmailIsTheSame,
    /// `send-verification-email` for an already verified address.
    #[error("email already verified")]
    EmailAlreadyVerified,
    /// `send-verification-email` for another address than the session's.
    #[error("email mismatch")]
    EmailMismatch,
    /// Password reset needs outgoing mail, which is not configured (`MAIL_TRANSPORT=none`).
    #[error("reset password disabled")]
    ResetPasswordDisabled,
    /// Verification mail needs outgoing mail, which is not configured. `change-email` sends
    /// this with a message only (`docs/better-auth-wire.md` §2.1).
    #[error("verification email not enabled")]
    VerificationEmailNotEnabled {
        /// Whether the body carries the `code` (everywhere but `change-email`).
        with_code: bool,
    },
    /// An email-verification link that is forged, expired or whose user is gone (401 there).
    #[error("verification link rejected: {0:?}")]
    VerificationLink(LinkProblem),
    /// The session vanished while get-session was refreshing it.
    #[error("failed to get session")]
    FailedToGetSession {
        /// Exact `Set-Cookie` header values that clear the stale cookies.
        set_cookies: Vec<String>,
    },
    /// `POST /get-session` (only GET is served).
    #[error("POST get-session needs deferred refresh")]
    DeferSessionRefreshRequired,
    /// A two-factor failure (`docs/better-auth-plugins.md` §Two-factor, "Errors").
    #[error("two-factor: {0:?}")]
    TwoFactor(TwoFactorError),
}

/// Why a two-factor operation was refused; each is one of Better Auth's plugin codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TwoFactorError {
    /// No pending sign-in: the `two_factor` cookie (or header) is missing, forged, expired,
    /// used, or names a user that is gone.
    InvalidCookie,
    /// The user has no TOTP enrolment (or, at sign-in, an unconfirmed one).
    TotpNotEnabled,
    /// `enable` while a confirmed enrolment exists.
    TotpAlreadyEnabled,
    /// Two-factor sign-in is off for the user.
    NotEnabled,
    /// Backup codes asked of a user without an enrolment.
    BackupCodesNotEnabled,
    /// A wrong, used or replayed TOTP or emailed code.
    InvalidCode,
    /// A wrong or used backup code.
    InvalidBackupCode,
    /// The pending sign-in (or emailed code) has used up its attempts.
    TooManyAttempts,
    /// Codes by email need outgoing mail, which is not configured.
    OtpNotConfigured,
    /// No emailed code is pending (never sent, expired or used).
    OtpExpired,
    /// Too many failures for this user: locked for the given seconds.
    Locked {
        /// Seconds until the next attempt is allowed (`Retry-After`).
        retry_after_secs: u64,
    },
}

impl From<TwoFactorError> for AuthError {
    fn from(err: TwoFactorError) -> Self {
        Self::TwoFactor(err)
    }
}

/// Why an email-verification link was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkProblem {
    /// Forged or malformed.
    InvalidToken,
    /// Past its lifetime.
    TokenExpired,
    /// The user it names no longer exists.
    UserNotFound,
}

impl LinkProblem {
    /// The error code, also used as `?error=` on a callback redirect.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::UserNotFound => "USER_NOT_FOUND",
        }
    }
}

/// Which request field carried an untrusted redirect target (each has its own code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RedirectField {
    /// `callbackURL`
    Callback,
    /// `redirectTo`
    Redirect,
}
