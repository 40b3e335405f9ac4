//! Request and response bodies of the auth endpoints, in Better Auth's wire format
//! (`better-auth-wire.md` §1.4–§1.5, §3): camelCase keys, `null` for absent values, ISO dates
//! with milliseconds. Field docs become the OpenAPI schema descriptions.

use poem_openapi::{Object, types::Example};

use crate::{
    auth::{
        repo::{SessionRow, UserRow},
        token::SessionToken,
    },
    http::schema::{EmailAddress, NullableObject, PasswordInput},
    timestamp::Timestamp,
};

/// Body of `POST /sign-up/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SignUpRequest {
    /// Display name (may be empty).
    #[oai(validator(max_length = 256))]
    pub name: String,
    /// Email address; must be a valid address, stored lower-cased.
    pub email: EmailAddress,
    /// Password: 8 to 128 characters (counted in UTF-16 code units, as JavaScript does).
    pub password: PasswordInput<8>,
    /// Profile image URL.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub image: Option<String>,
    /// Where the verification email should lead: a trusted origin or a relative path.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub callback_url: Option<String>,
    /// `false` gives a session that ends with the browser and lasts at most one day.
    pub remember_me: Option<bool>,
}

/// Body of `POST /sign-in/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SignInRequest {
    /// Email address of the account.
    pub email: EmailAddress,
    /// The account's password (at most 128 characters).
    pub password: PasswordInput<0>,
    /// Where to go after sign-in: a trusted origin or a relative path; echoed as `url`.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub callback_url: Option<String>,
    /// Default `true`; `false` gives a browser-session cookie and a one-day session.
    pub remember_me: Option<bool>,
}

/// Optional body of `POST /sign-out` (accepted for Better Auth compatibility; unused).
#[derive(Debug, Default, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SignOutRequest {
    /// Ignored (used by Better Auth only for social providers).
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

/// A user as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "User", rename_all = "camelCase", example)]
pub struct UserDto {
    /// User id (32 alphanumeric characters).
    #[oai(validator(max_length = 64))]
    pub id: String,
    /// Display name.
    #[oai(validator(max_length = 256))]
    pub name: String,
    /// Email address, lower-case.
    pub email: EmailAddress,
    /// Whether the address has been verified.
    pub email_verified: bool,
    /// Profile image URL, or `null`.
    #[oai(nullable, validator(max_length = 2048))]
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
            email: EmailAddress(user.email.clone()),
            email_verified: user.email_verified,
            image: user.image.clone(),
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}

/// A session as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "Session", rename_all = "camelCase", example)]
pub struct SessionDto {
    /// Session id.
    #[oai(validator(max_length = 64))]
    pub id: String,
    /// From `get-session`: the raw session token the client holds (the database keeps only its
    /// hash). From `list-sessions`: an opaque handle for `revoke-session`, not a credential.
    #[oai(validator(max_length = 64))]
    pub token: String,
    /// Owner's user id.
    #[oai(validator(max_length = 64))]
    pub user_id: String,
    /// When the session ends unless refreshed.
    pub expires_at: Timestamp,
    /// When the session was created (sign-in time).
    pub created_at: Timestamp,
    /// When the session was last refreshed.
    pub updated_at: Timestamp,
    /// Client address at sign-in (`""` when unknown).
    #[oai(nullable, validator(max_length = 64))]
    pub ip_address: Option<String>,
    /// Client `User-Agent` at sign-in (`""` when absent).
    #[oai(nullable, validator(max_length = 8192))]
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

/// Answer of `POST /sign-up/email`: the new session's token (also set as the session cookie
/// and in `set-auth-token`; `null` when email verification is required) and the new `user`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SignUpResponse {
    /// The new session's token, or `null` when email verification is required.
    #[oai(nullable, validator(max_length = 64))]
    pub token: Option<String>,
    pub user: UserDto,
}

/// Answer of `POST /sign-in/email`: the new session's token (also set as the session cookie and
/// in `set-auth-token`) and the signed-in `user`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SignInResponse {
    /// `true` when a `callbackURL` was given (the client then navigates to `url`).
    pub redirect: bool,
    /// The new session's token.
    #[oai(validator(max_length = 64))]
    pub token: String,
    /// The `callbackURL`, when one was given; absent otherwise.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub url: Option<String>,
    pub user: UserDto,
}

/// Answer of `GET /get-session` when signed in: the current `session` and its `user`.
#[derive(Debug, Object)]
#[oai(rename = "SessionWithUser", example)]
pub struct SessionWithUser {
    pub session: SessionDto,
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
#[oai(example)]
pub struct SuccessResponse {
    /// Always `true`.
    pub success: bool,
}

/// `{"status": true}`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatusResponse {
    /// Always `true`.
    pub status: bool,
}

/// Body of `POST /revoke-session`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RevokeSessionRequest {
    /// The session's `token` as listed by `list-sessions` (an opaque handle), or the caller's
    /// own raw session token.
    #[oai(validator(max_length = 256))]
    pub token: String,
}

/// Body of `POST /update-user`: only the fields present change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateUserRequest {
    /// New display name.
    #[oai(validator(max_length = 256))]
    pub name: Option<String>,
    /// New profile image URL; `null` removes it.
    #[oai(nullable, validator(max_length = 2048))]
    pub image: poem_openapi::types::MaybeUndefined<String>,
}

/// Body of `POST /change-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ChangePasswordRequest {
    /// The new password (8 to 128 characters).
    pub new_password: PasswordInput<8>,
    /// The current password.
    pub current_password: PasswordInput<0>,
    /// `true` ends every session, this one included, and starts a new one (new cookie/token).
    pub revoke_other_sessions: Option<bool>,
}

/// Answer of `POST /change-password`: the new session's token when `revokeOtherSessions` was
/// `true` (else `null`), and the `user`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ChangePasswordResponse {
    /// The new session's token, or `null`.
    #[oai(nullable, validator(max_length = 64))]
    pub token: Option<String>,
    pub user: UserDto,
}

/// Body of `POST /request-password-reset`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct RequestPasswordResetRequest {
    /// The account's email address.
    pub email: EmailAddress,
    /// Page the mailed link leads to (a trusted origin or a relative path); it receives
    /// `?token=…`.
    #[oai(validator(max_length = 2048))]
    pub redirect_to: Option<String>,
}

/// `{"status": true, "message": …}`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatusMessageResponse {
    /// Always `true`.
    pub status: bool,
    /// What happens next.
    #[oai(validator(max_length = 256))]
    pub message: String,
}

/// Body of `POST /reset-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ResetPasswordRequest {
    /// The new password (8 to 128 characters).
    pub new_password: PasswordInput<8>,
    /// The token from the reset link (or pass it as `?token=`).
    #[oai(validator(max_length = 256))]
    pub token: Option<String>,
}

/// Body of `POST /send-verification-email`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SendVerificationEmailRequest {
    /// The address to verify (with a session: must be the session user's).
    pub email: EmailAddress,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL", validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

/// Answer of `GET /verify-email`: `user` is the updated user after an email change, `null`
/// after a plain verification.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VerifyEmailResponse {
    /// Always `true`.
    pub status: bool,
    /// The updated user after an email change; `null` after a plain verification.
    pub user: NullableObject<UserDto>,
}

/// Body of `POST /change-email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ChangeEmailRequest {
    /// The new address; it changes once the link mailed to it is opened.
    pub new_email: EmailAddress,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL", validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

/// Body of `POST /delete-user`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DeleteUserRequest {
    /// The current password (required).
    pub password: PasswordInput<0>,
    /// Accepted for Better Auth compatibility; unused.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

/// Answer of `POST /delete-user`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DeleteUserResponse {
    /// Always `true`.
    pub success: bool,
    /// `User deleted`.
    #[oai(validator(max_length = 64))]
    pub message: String,
}

/// An empty body (`{}`), accepted where Better Auth's client sends one.
#[derive(Debug, Default, Object)]
#[oai(example)]
pub struct EmptyRequest {}

// Examples shown in the OpenAPI document and pre-filled by Swagger UI.

const EXAMPLE_USER_ID: &str = "sRrjlKcO9hEwQWsKmIl2lBuGpFImfHlm";
const EXAMPLE_TOKEN: &str = "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY";

fn example_time() -> Timestamp {
    time::macros::datetime!(2026-11-28 06:36:28.087 UTC).into()
}

fn example_password<const MIN: usize>() -> PasswordInput<MIN> {
    PasswordInput("correct horse battery".to_owned())
}

impl Example for SignUpRequest {
    fn example() -> Self {
        Self {
            name: "Ada Lovelace".to_owned(),
            email: EmailAddress("ada@example.com".to_owned()),
            password: example_password(),
            image: None,
            callback_url: None,
            remember_me: Some(true),
        }
    }
}

impl Example for SignInRequest {
    fn example() -> Self {
        Self {
            email: EmailAddress("ada@example.com".to_owned()),
            password: example_password(),
            callback_url: None,
            remember_me: Some(true),
        }
    }
}

impl Example for UserDto {
    fn example() -> Self {
        Self {
            id: EXAMPLE_USER_ID.to_owned(),
            name: "Ada Lovelace".to_owned(),
            email: EmailAddress("ada@example.com".to_owned()),
            email_verified: false,
            image: None,
            created_at: example_time(),
            updated_at: example_time(),
        }
    }
}

impl Example for SessionDto {
    fn example() -> Self {
        Self {
            id: "nECYb2EDNXop2bY5l15uIjhYsg2RiOCu".to_owned(),
            token: EXAMPLE_TOKEN.to_owned(),
            user_id: EXAMPLE_USER_ID.to_owned(),
            expires_at: time::macros::datetime!(2026-12-05 06:36:28.087 UTC).into(),
            created_at: example_time(),
            updated_at: example_time(),
            ip_address: Some("203.0.113.7".to_owned()),
            user_agent: Some("Mozilla/5.0".to_owned()),
        }
    }
}

impl Example for SignUpResponse {
    fn example() -> Self {
        Self { token: Some(EXAMPLE_TOKEN.to_owned()), user: UserDto::example() }
    }
}

impl Example for SignInResponse {
    fn example() -> Self {
        Self { redirect: false, token: EXAMPLE_TOKEN.to_owned(), url: None, user: UserDto::example() }
    }
}

impl Example for SessionWithUser {
    fn example() -> Self {
        Self { session: SessionDto::example(), user: UserDto::example() }
    }
}

impl Example for SuccessResponse {
    fn example() -> Self {
        Self { success: true }
    }
}

impl Example for StatusResponse {
    fn example() -> Self {
        Self { status: true }
    }
}

impl Example for RevokeSessionRequest {
    fn example() -> Self {
        Self { token: "nECYb2EDNXop2bY5l15uIjhYsg2RiOCu".to_owned() }
    }
}

impl Example for UpdateUserRequest {
    fn example() -> Self {
        Self { name: Some("Ada King".to_owned()), image: poem_openapi::types::MaybeUndefined::Undefined }
    }
}

impl Example for ChangePasswordRequest {
    fn example() -> Self {
        Self {
            new_password: PasswordInput("a much longer passphrase".to_owned()),
            current_password: example_password(),
            revoke_other_sessions: Some(true),
        }
    }
}

impl Example for ChangePasswordResponse {
    fn example() -> Self {
        Self { token: Some(EXAMPLE_TOKEN.to_owned()), user: UserDto::example() }
    }
}

impl Example for RequestPasswordResetRequest {
    fn example() -> Self {
        Self { email: EmailAddress("ada@example.com".to_owned()), redirect_to: Some("/reset-password".to_owned()) }
    }
}

impl Example for StatusMessageResponse {
    fn example() -> Self {
        Self {
            status: true,
            message: "If this email exists in our system, check your email for the reset link".to_owned(),
        }
    }
}

impl Example for ResetPasswordRequest {
    fn example() -> Self {
        Self {
            new_password: PasswordInput("a much longer passphrase".to_owned()),
            token: Some("Xy7kq2LmPz9RtW4vBn6cHd3J".to_owned()),
        }
    }
}

impl Example for SendVerificationEmailRequest {
    fn example() -> Self {
        Self { email: EmailAddress("ada@example.com".to_owned()), callback_url: Some("/".to_owned()) }
    }
}

impl Example for VerifyEmailResponse {
    fn example() -> Self {
        Self { status: true, user: NullableObject(None) }
    }
}

impl Example for ChangeEmailRequest {
    fn example() -> Self {
        Self { new_email: EmailAddress("ada.king@example.com".to_owned()), callback_url: Some("/".to_owned()) }
    }
}

impl Example for DeleteUserRequest {
    fn example() -> Self {
        Self { password: example_password(), callback_url: None }
    }
}

impl Example for DeleteUserResponse {
    fn example() -> Self {
        Self { success: true, message: "User deleted".to_owned() }
    }
}

impl Example for SignOutRequest {
    fn example() -> Self {
        Self { callback_url: None }
    }
}

impl Example for EmptyRequest {
    fn example() -> Self {
        Self {}
    }
}

/// Answer of `GET /list-sessions`: the user's active sessions, oldest first.
#[derive(Debug)]
pub struct SessionList(pub Vec<SessionDto>);

impl poem_openapi::types::Type for SessionList {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "SessionList".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("array");
        schema.items = Some(Box::new(SessionDto::schema_ref()));
        schema.max_items = Some(10_000);
        schema.description = Some("The user's active sessions, oldest first.");
        schema.example = poem_openapi::types::ToJSON::to_json(&vec![SessionDto::example()]);
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        SessionDto::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl poem_openapi::types::ToJSON for SessionList {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}
