//! Request and response bodies of the auth endpoints, in Better Auth's wire format
//! (`better-auth-wire.md` §1.4–§1.5, §3): camelCase keys, `null` for absent values, ISO dates
//! with milliseconds. Field docs become the OpenAPI schema descriptions.

use poem_openapi::Object;

use crate::{
    auth::{
        repo::{SessionRow, UserRow},
        token::SessionToken,
    },
    timestamp::Timestamp,
};

/// Body of `POST /sign-up/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignUpRequest {
    /// Display name (may be empty).
    pub name: String,
    /// Email address; must be a valid address, stored lower-cased.
    pub email: String,
    /// Password: 8 to 128 characters (counted in UTF-16 code units, as JavaScript does).
    pub password: String,
    /// Profile image URL.
    pub image: Option<String>,
    /// Where the verification email should lead: a trusted origin or a relative path.
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
    /// `false` gives a session that ends with the browser and lasts at most one day.
    pub remember_me: Option<bool>,
}

/// Body of `POST /sign-in/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignInRequest {
    /// Email address of the account.
    pub email: String,
    /// The account's password (at most 128 characters).
    pub password: String,
    /// Where to go after sign-in: a trusted origin or a relative path; echoed as `url`.
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
    /// Default `true`; `false` gives a browser-session cookie and a one-day session.
    pub remember_me: Option<bool>,
}

/// Optional body of `POST /sign-out` (accepted for Better Auth compatibility; unused).
#[derive(Debug, Default, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignOutRequest {
    /// Ignored (used by Better Auth only for social providers).
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// A user as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct UserDto {
    /// User id (32 alphanumeric characters).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email address, lower-case.
    pub email: String,
    /// Whether the address has been verified.
    pub email_verified: bool,
    /// Profile image URL, or `null`.
    #[oai(nullable)]
    pub image: Option<String>,
    /// When the user was created.
    pub created_at: Timestamp,
    /// When the user was last changed.
    pub updated_at: Timestamp,
}

impl From<&UserRow> for UserDto {
    fn from(user: &UserRow) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            image: user.image.clone(),
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}

/// A session as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "Session", rename_all = "camelCase")]
pub struct SessionDto {
    /// Session id.
    pub id: String,
    /// The raw session token the client holds (the database keeps only its hash).
    pub token: String,
    /// Owner's user id.
    pub user_id: String,
    /// When the session ends unless refreshed.
    pub expires_at: Timestamp,
    /// When the session was created (sign-in time).
    pub created_at: Timestamp,
    /// When the session was last refreshed.
    pub updated_at: Timestamp,
    /// Client address at sign-in (`""` when unknown).
    #[oai(nullable)]
    pub ip_address: Option<String>,
    /// Client `User-Agent` at sign-in (`""` when absent).
    #[oai(nullable)]
    pub user_agent: Option<String>,
}

impl SessionDto {
    /// The DTO for a session row, showing `token` (the raw token, not the stored form).
    pub fn new(session: &SessionRow, token: &str) -> Self {
        Self {
            id: session.id.clone(),
            token: token.to_owned(),
            user_id: session.user_id.clone(),
            expires_at: session.expires_at.into(),
            created_at: session.created_at.into(),
            updated_at: session.updated_at.into(),
            ip_address: session.ip_address.clone(),
            user_agent: session.user_agent.clone(),
        }
    }
}

/// Answer of `POST /sign-up/email`.
#[derive(Debug, Object)]
pub struct SignUpResponse {
    /// The new session's token (also set as the session cookie and in `set-auth-token`).
    #[oai(nullable)]
    pub token: Option<String>,
    /// The new user.
    pub user: UserDto,
}

/// Answer of `POST /sign-in/email`.
#[derive(Debug, Object)]
pub struct SignInResponse {
    /// `true` when a `callbackURL` was given (the client then navigates to `url`).
    pub redirect: bool,
    /// The new session's token (also set as the session cookie and in `set-auth-token`).
    pub token: String,
    /// The `callbackURL`, when one was given; absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// The signed-in user.
    pub user: UserDto,
}

/// Answer of `GET /get-session` when signed in.
#[derive(Debug, Object)]
#[oai(rename = "SessionWithUser")]
pub struct SessionWithUser {
    /// The current session.
    pub session: SessionDto,
    /// Its user.
    pub user: UserDto,
}

impl SessionWithUser {
    /// Builds the pair for a session presented with `token`.
    pub fn new(session: &SessionRow, user: &UserRow, token: &SessionToken) -> Self {
        Self { session: SessionDto::new(session, token.expose()), user: user.into() }
    }
}

/// `{"success": true}`.
#[derive(Debug, Object)]
pub struct SuccessResponse {
    /// Always `true`.
    pub success: bool,
}

/// `{"status": true}`.
#[derive(Debug, Object)]
pub struct StatusResponse {
    /// Always `true`.
    pub status: bool,
}

/// Body of `POST /revoke-session`.
#[derive(Debug, Object)]
pub struct RevokeSessionRequest {
    /// The session's `token` as listed by `list-sessions` (an opaque handle), or the caller's
    /// own raw session token.
    pub token: String,
}

/// Body of `POST /update-user`: only the fields present change.
#[derive(Debug, Object)]
pub struct UpdateUserRequest {
    /// New display name.
    pub name: Option<String>,
    /// New profile image URL; `null` removes it.
    #[oai(nullable)]
    pub image: poem_openapi::types::MaybeUndefined<String>,
}

/// Body of `POST /change-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    /// The new password (8 to 128 characters).
    pub new_password: String,
    /// The current password.
    pub current_password: String,
    /// `true` ends every session, this one included, and starts a new one (new cookie/token).
    pub revoke_other_sessions: Option<bool>,
}

/// Answer of `POST /change-password`.
#[derive(Debug, Object)]
pub struct ChangePasswordResponse {
    /// The new session's token when `revokeOtherSessions` was `true`, else `null`.
    #[oai(nullable)]
    pub token: Option<String>,
    /// The user.
    pub user: UserDto,
}

/// Body of `POST /request-password-reset`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RequestPasswordResetRequest {
    /// The account's email address.
    pub email: String,
    /// Page the mailed link leads to (a trusted origin or a relative path); it receives
    /// `?token=…`.
    pub redirect_to: Option<String>,
}

/// `{"status": true, "message": …}`.
#[derive(Debug, Object)]
pub struct StatusMessageResponse {
    /// Always `true`.
    pub status: bool,
    /// What happens next.
    pub message: String,
}

/// Body of `POST /reset-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ResetPasswordRequest {
    /// The new password (8 to 128 characters).
    pub new_password: String,
    /// The token from the reset link (or pass it as `?token=`).
    pub token: Option<String>,
}

/// Body of `POST /send-verification-email`.
#[derive(Debug, Object)]
pub struct SendVerificationEmailRequest {
    /// The address to verify (with a session: must be the session user's).
    pub email: String,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// Answer of `GET /verify-email`.
#[derive(Debug, Object)]
pub struct VerifyEmailResponse {
    /// Always `true`.
    pub status: bool,
    /// The user after an email change; `null` for a plain verification.
    #[oai(nullable)]
    pub user: Option<UserDto>,
}

/// Body of `POST /change-email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChangeEmailRequest {
    /// The new address; it changes once the link mailed to it is opened.
    pub new_email: String,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// Body of `POST /delete-user`.
#[derive(Debug, Object)]
pub struct DeleteUserRequest {
    /// The current password (required).
    pub password: String,
    /// Accepted for Better Auth compatibility; unused.
    #[oai(rename = "callbackURL")]
    pub callback_url: Option<String>,
}

/// Answer of `POST /delete-user`.
#[derive(Debug, Object)]
pub struct DeleteUserResponse {
    /// Always `true`.
    pub success: bool,
    /// `User deleted`.
    pub message: String,
}

/// An empty body (`{}`), accepted where Better Auth's client sends one.
#[derive(Debug, Default, Object)]
pub struct EmptyRequest {}
