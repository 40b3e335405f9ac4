//! Request and response bodies of the auth endpoints, in Better Auth's wire format
//! (`docs/better-auth-wire.md` §1.4–§1.5, §3): camelCase keys, `null` for absent values, ISO
//! dates with milliseconds. Field docs become the OpenAPI schema descriptions.
//!
//! Requests convert into the domain's inputs with `TryFrom`, in Better Auth's order of checks;
//! the domain never sees these types.

use poem_openapi::{
    Object, Union,
    types::{Example, MaybeUndefined},
};

use crate::{
    auth::{
        accounts::{PasswordChange, ProfileUpdate, SignIn, SignUp},
        audit::AuditPage,
        email::Email,
        error::AuthError,
        fields::{EmailAddress, PasswordInput},
        jwt::PublicJwk,
        model::{AuditRecord, Session, User},
        password::Password,
        token::SessionToken,
    },
    http::schema::NullableObject,
    timestamp::Timestamp,
    validation::{ValidationError, ValidationErrors},
};

/// Body of `POST /sign-up/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SignUpRequest {
    /// Display name (may be empty).
    #[oai(validator(max_length = 256))]
    pub(crate) name: String,
    /// Email address; must be a valid address, stored lower-cased.
    pub(crate) email: EmailAddress,
    /// Password: 8 to 128 characters, counted in UTF-16 code units as JavaScript's `.length`
    /// does (a character outside the Basic Multilingual Plane, such as an emoji, counts 2).
    pub(crate) password: PasswordInput<8>,
    /// Profile image URL.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) image: Option<String>,
    /// Where the verification email should lead: a trusted origin or a relative path.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
    /// `false` gives a session that ends with the browser and lasts at most one day.
    pub(crate) remember_me: Option<bool>,
}

/// Body of `POST /sign-in/email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SignInRequest {
    /// Email address of the account.
    pub(crate) email: EmailAddress,
    /// The account's password (at most 128 UTF-16 code units).
    pub(crate) password: PasswordInput<0>,
    /// Where to go after sign-in: a trusted origin or a relative path; echoed as `url`.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
    /// Default `true`; `false` gives a browser-session cookie and a one-day session.
    pub(crate) remember_me: Option<bool>,
}

/// Optional body of `POST /sign-out` (accepted for Better Auth compatibility; unused).
#[derive(Debug, Default, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SignOutRequest {
    /// Ignored (used by Better Auth only for social providers).
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
}

/// A user as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "User", rename_all = "camelCase", example)]
pub(crate) struct UserDto {
    /// User id (32 alphanumeric characters).
    #[oai(validator(max_length = 64))]
    pub(crate) id: String,
    /// Display name.
    #[oai(validator(max_length = 256))]
    pub(crate) name: String,
    /// Email address, lower-case.
    pub(crate) email: EmailAddress,
    /// Whether the address has been verified.
    pub(crate) email_verified: bool,
    /// Profile image URL, or `null`.
    #[oai(nullable, validator(max_length = 2048))]
    pub(crate) image: Option<String>,
    /// When the user was created.
    pub(crate) created_at: Timestamp,
    /// When the user was last changed.
    pub(crate) updated_at: Timestamp,
    /// Whether two-factor sign-in is on (Better Auth's `twoFactor` plugin field; `false` until
    /// an enrolment is confirmed).
    pub(crate) two_factor_enabled: bool,
}

impl From<&User> for UserDto {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            name: user.name.clone(),
            email: EmailAddress(user.email.clone()),
            email_verified: user.email_verified,
            image: user.image.clone(),
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
            two_factor_enabled: user.two_factor_enabled,
        }
    }
}

/// A session as Better Auth returns it.
#[derive(Debug, Object)]
#[oai(rename = "Session", rename_all = "camelCase", example)]
pub(crate) struct SessionDto {
    /// Session id.
    #[oai(validator(max_length = 64))]
    pub(crate) id: String,
    /// From `get-session`: the raw session token the client holds (the database keeps only its
    /// hash). From `list-sessions`: an opaque handle for `revoke-session`, not a credential.
    #[oai(validator(max_length = 64))]
    pub(crate) token: String,
    /// Owner's user id.
    #[oai(validator(max_length = 64))]
    pub(crate) user_id: String,
    /// When the session ends unless refreshed.
    pub(crate) expires_at: Timestamp,
    /// When the session was created (sign-in time).
    pub(crate) created_at: Timestamp,
    /// When the session was last refreshed.
    pub(crate) updated_at: Timestamp,
    /// Client address at sign-in (`""` when unknown).
    #[oai(nullable, validator(max_length = 64))]
    pub(crate) ip_address: Option<String>,
    /// Client `User-Agent` at sign-in (`""` when absent).
    #[oai(nullable, validator(max_length = 8192))]
    pub(crate) user_agent: Option<String>,
}

impl SessionDto {
    /// The DTO for a session row, showing `token` (the raw token, not the stored form).
    pub(crate) fn new(session: &Session, token: &str) -> Self {
        Self {
            id: session.id.as_str().to_owned(),
            token: token.to_owned(),
            user_id: session.user_id.as_str().to_owned(),
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
pub(crate) struct SignUpResponse {
    /// The new session's token, or `null` when email verification is required.
    #[oai(nullable, validator(max_length = 64))]
    pub(crate) token: Option<String>,
    pub(crate) user: UserDto,
}

/// Answer of `POST /sign-in/email`: the new session's token (also set as the session cookie and
/// in `set-auth-token`) and the signed-in `user`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct SignInResponse {
    /// `true` when a `callbackURL` was given (the client then navigates to `url`).
    pub(crate) redirect: bool,
    /// The new session's token.
    #[oai(validator(max_length = 64))]
    pub(crate) token: String,
    /// The `callbackURL`, when one was given; absent otherwise.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) url: Option<String>,
    pub(crate) user: UserDto,
}

/// Answer of `POST /sign-in/email`: a session, or (two-factor sign-in on) the second step.
#[derive(Debug, Union)]
#[oai(one_of)]
pub(crate) enum SignInAnswer {
    /// Signed in.
    Session(SignInResponse),
    /// A second factor is needed.
    TwoFactor(TwoFactorRedirect),
}

/// Answer of `POST /sign-in/email` when the user has two-factor sign-in on: no session yet; the
/// `two_factor` cookie (and the `set-two-factor-token` header) carry the pending sign-in.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct TwoFactorRedirect {
    /// Always `true`.
    pub(crate) two_factor_redirect: bool,
    /// What the user can verify with: `totp` (an authenticator app is enrolled), `otp` (codes
    /// by email; mail is configured).
    #[oai(validator(max_items = 2))]
    pub(crate) two_factor_methods: Vec<String>,
}

impl Example for TwoFactorRedirect {
    fn example() -> Self {
        Self { two_factor_redirect: true, two_factor_methods: vec!["totp".to_owned()] }
    }
}

/// Answer of `GET /get-session` when signed in: the current `session` and its `user`.
#[derive(Debug, Object)]
#[oai(rename = "SessionWithUser", example)]
pub(crate) struct SessionWithUser {
    pub(crate) session: SessionDto,
    pub(crate) user: UserDto,
}

impl SessionWithUser {
    /// Builds the pair for a session presented with `token`.
    pub(crate) fn new(session: &Session, user: &User, token: &SessionToken) -> Self {
        Self { session: SessionDto::new(session, token.expose()), user: user.into() }
    }
}

/// `{"success": true}`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct SuccessResponse {
    /// Always `true`.
    pub(crate) success: bool,
}

/// `{"status": true}`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct StatusResponse {
    /// Always `true`.
    pub(crate) status: bool,
}

/// Body of `POST /revoke-session`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct RevokeSessionRequest {
    /// The session's `token` as listed by `list-sessions` (an opaque handle), or the caller's
    /// own raw session token.
    #[oai(validator(max_length = 256))]
    pub(crate) token: String,
}

/// Body of `POST /update-user`: only the fields present change.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct UpdateUserRequest {
    /// New display name.
    #[oai(validator(max_length = 256))]
    pub(crate) name: Option<String>,
    /// New profile image URL; `null` removes it.
    #[oai(nullable, validator(max_length = 2048))]
    pub(crate) image: MaybeUndefined<String>,
}

/// Body of `POST /change-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct ChangePasswordRequest {
    /// The new password: 8 to 128 characters, counted in UTF-16 code units as JavaScript's
    /// `.length` does (a character outside the Basic Multilingual Plane counts 2).
    pub(crate) new_password: PasswordInput<8>,
    /// The current password.
    pub(crate) current_password: PasswordInput<0>,
    /// `true` ends every session, this one included, and starts a new one (new cookie/token).
    pub(crate) revoke_other_sessions: Option<bool>,
}

/// Answer of `POST /change-password`: the new session's token when `revokeOtherSessions` was
/// `true` (else `null`), and the `user`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct ChangePasswordResponse {
    /// The new session's token, or `null`.
    #[oai(nullable, validator(max_length = 64))]
    pub(crate) token: Option<String>,
    pub(crate) user: UserDto,
}

/// Body of `POST /request-password-reset`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct RequestPasswordResetRequest {
    /// The account's email address.
    pub(crate) email: EmailAddress,
    /// Page the mailed link leads to (a trusted origin or a relative path); it receives
    /// `?token=…`.
    #[oai(validator(max_length = 2048))]
    pub(crate) redirect_to: Option<String>,
}

/// `{"status": true, "message": …}`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct StatusMessageResponse {
    /// Always `true`.
    pub(crate) status: bool,
    /// What happens next.
    #[oai(validator(max_length = 256))]
    pub(crate) message: String,
}

/// Body of `POST /reset-password`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct ResetPasswordRequest {
    /// The new password: 8 to 128 characters, counted in UTF-16 code units as JavaScript's
    /// `.length` does (a character outside the Basic Multilingual Plane counts 2).
    pub(crate) new_password: PasswordInput<8>,
    /// The token from the reset link (or pass it as `?token=`).
    #[oai(validator(max_length = 256))]
    pub(crate) token: Option<String>,
}

/// Body of `POST /send-verification-email`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct SendVerificationEmailRequest {
    /// The address to verify (with a session: must be the session user's).
    pub(crate) email: EmailAddress,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL", validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
}

/// Answer of `GET /verify-email`: `user` is the updated user after an email change, `null`
/// after a plain verification.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct VerifyEmailResponse {
    /// Always `true`.
    pub(crate) status: bool,
    /// The updated user after an email change; `null` after a plain verification.
    pub(crate) user: NullableObject<UserDto>,
}

/// Body of `POST /change-email`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct ChangeEmailRequest {
    /// The new address; it changes once the link mailed to it is opened.
    pub(crate) new_email: EmailAddress,
    /// Where the link leads after verifying (a trusted origin or a relative path).
    #[oai(rename = "callbackURL", validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
    /// The current password; required unless the session is fresh (not in Better Auth).
    pub(crate) password: Option<PasswordInput<0>>,
}

/// Body of `POST /delete-user`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct DeleteUserRequest {
    /// The current password (required).
    pub(crate) password: PasswordInput<0>,
    /// Accepted for Better Auth compatibility; unused.
    #[oai(rename = "callbackURL", skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) callback_url: Option<String>,
}

/// Answer of `POST /delete-user`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct DeleteUserResponse {
    /// Always `true`.
    pub(crate) success: bool,
    /// `User deleted`.
    #[oai(validator(max_length = 64))]
    pub(crate) message: String,
}

/// An empty body (`{}`), accepted where Better Auth's client sends one.
#[derive(Debug, Default, Object)]
#[oai(example)]
pub(crate) struct EmptyRequest {}

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
            two_factor_enabled: false,
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
        Self { name: Some("Ada King".to_owned()), image: MaybeUndefined::Undefined }
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
        Self {
            new_email: EmailAddress("ada.king@example.com".to_owned()),
            callback_url: Some("/".to_owned()),
            password: Some(example_password()),
        }
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
pub(crate) struct SessionList(pub(crate) Vec<SessionDto>);

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

impl TryFrom<SignUpRequest> for SignUp {
    type Error = AuthError;

    /// Better Auth's order: schema issues (email format, empty password) together, then the
    /// password's minimum, then its maximum.
    fn try_from(request: SignUpRequest) -> Result<Self, AuthError> {
        let mut issues = Vec::new();
        let email = Email::parse(&request.email.0)
            .map_err(|err| issues.push(ValidationError::new("email", err.to_string()).in_body()))
            .ok();
        if let Some(image) = &request.image
            && let Err(issue) = profile_image(image)
        {
            issues.push(issue);
        }
        if request.password.0.is_empty() {
            issues
                .push(ValidationError::new("password", "Too small: expected string to have >=1 characters").in_body());
        }
        let (Some(email), true) = (email, issues.is_empty()) else {
            return Err(AuthError::Validation(ValidationErrors(issues)));
        };
        Ok(Self {
            name: request.name,
            email,
            password: Password::parse_new(request.password.0)?,
            image: request.image,
            remember: request.remember_me.unwrap_or(true),
        })
    }
}

/// A profile image must be an `http:` or `https:` URL (Better Auth stores any string, so a page
/// showing it could be handed `javascript:`; `docs/better-auth-wire.md` §12). The length is
/// capped by the schema.
fn profile_image(url: &str) -> Result<(), ValidationError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(ValidationError::new("image", "must be an http or https URL").in_body()),
    }
}

impl TryFrom<SignInRequest> for SignIn {
    type Error = AuthError;

    /// An address that cannot be valid is `INVALID_EMAIL`; a password over the maximum is
    /// refused before any hashing.
    fn try_from(request: SignInRequest) -> Result<Self, AuthError> {
        Ok(Self {
            email: Email::parse(&request.email.0).map_err(|_| AuthError::InvalidEmail)?,
            password: Password::parse_existing(request.password.0)?,
            remember: request.remember_me.unwrap_or(true),
        })
    }
}

impl TryFrom<UpdateUserRequest> for ProfileUpdate {
    type Error = AuthError;

    /// `image: null` removes the image; a body changing nothing is refused.
    fn try_from(request: UpdateUserRequest) -> Result<Self, AuthError> {
        let image = match request.image {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(url) => {
                profile_image(&url).map_err(|issue| AuthError::Validation(ValidationErrors(vec![issue])))?;
                Some(Some(url))
            }
        };
        if request.name.is_none() && image.is_none() {
            return Err(AuthError::NoFieldsToUpdate);
        }
        Ok(Self { name: request.name, image })
    }
}

impl TryFrom<ChangePasswordRequest> for PasswordChange {
    type Error = AuthError;

    /// The new password is checked before the current one, as Better Auth does.
    fn try_from(request: ChangePasswordRequest) -> Result<Self, AuthError> {
        let new_password = Password::parse_new(request.new_password.0)?;
        let current_password = Password::parse_existing(request.current_password.0)?;
        Ok(Self {
            new_password,
            current_password,
            revoke_other_sessions: request.revoke_other_sessions.unwrap_or(false),
        })
    }
}

/// Answer of `GET /token`: a JWT for the signed-in user.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct TokenResponse {
    /// The JWT (`sub` is the user id; see `GET /api/auth/jwks` for the keys that verify it).
    #[oai(validator(max_length = 16384))]
    pub(crate) token: String,
}

impl Example for TokenResponse {
    fn example() -> Self {
        Self { token: "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl".to_owned() }
    }
}

/// A JSON Web Key Set: the public keys that verify this service's JWTs.
#[derive(Debug, Object)]
#[oai(rename = "JsonWebKeySet", example)]
pub(crate) struct JwksResponse {
    /// The public keys, current and recently retired (the newest 100 at most).
    #[oai(validator(max_items = 100))]
    pub(crate) keys: Vec<PublicJwkDto>,
}

impl Example for JwksResponse {
    fn example() -> Self {
        Self {
            keys: vec![PublicJwkDto {
                alg: "EdDSA".to_owned(),
                crv: Some("Ed25519".to_owned()),
                x: Some("BYHebPL_xYvX2WXHYal4S7TA__8hiwcbAW2jsqKJRLk".to_owned()),
                y: None,
                n: None,
                e: None,
                kty: "OKP".to_owned(),
                kid: "oA9r1hlsuH2kc0eYHvJeZFtbF6FyU3mB".to_owned(),
            }],
        }
    }
}

/// One public key (RFC 7517); which members it has depends on `kty`.
#[derive(Debug, Object)]
#[oai(rename = "JsonWebKey")]
pub(crate) struct PublicJwkDto {
    /// Algorithm the key signs with: `EdDSA`, `ES256` or `RS256`.
    #[oai(validator(max_length = 16))]
    pub(crate) alg: String,
    /// Curve of an `OKP` or `EC` key: `Ed25519` or `P-256`.
    #[oai(skip_serializing_if_is_none, validator(max_length = 16))]
    pub(crate) crv: Option<String>,
    /// X coordinate (base64url) of an `OKP` or `EC` key.
    #[oai(skip_serializing_if_is_none, validator(max_length = 128))]
    pub(crate) x: Option<String>,
    /// Y coordinate (base64url) of an `EC` key.
    #[oai(skip_serializing_if_is_none, validator(max_length = 128))]
    pub(crate) y: Option<String>,
    /// Modulus (base64url) of an `RSA` key.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub(crate) n: Option<String>,
    /// Exponent (base64url) of an `RSA` key.
    #[oai(skip_serializing_if_is_none, validator(max_length = 16))]
    pub(crate) e: Option<String>,
    /// Key type: `OKP`, `EC` or `RSA`.
    #[oai(validator(max_length = 8))]
    pub(crate) kty: String,
    /// Key id: the `kid` header of the tokens this key signs.
    #[oai(validator(max_length = 256))]
    pub(crate) kid: String,
}

impl From<PublicJwk> for PublicJwkDto {
    fn from(key: PublicJwk) -> Self {
        Self { alg: key.alg, crv: key.crv, x: key.x, y: key.y, n: key.n, e: key.e, kty: key.kty, kid: key.kid }
    }
}

/// One security event on the caller's account.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SecurityEvent {
    /// Event id (larger is newer).
    #[oai(validator(max_length = 20))]
    pub(crate) id: String,
    /// What happened: `sign-up`, `sign-in`, `sign-in-failed`, `sign-out`, `session-revoked`,
    /// `sessions-revoked`, `other-sessions-revoked`, `password-changed`, `password-reset`,
    /// `email-verified`, `email-changed`, `two-factor-enabled`, `two-factor-disabled`,
    /// `backup-codes-regenerated`, `two-factor-succeeded`, `two-factor-failed`,
    /// `trusted-device-used` (more may be added).
    #[oai(rename = "type", validator(max_length = 64))]
    pub(crate) kind: String,
    /// Why, for `sign-in-failed`: `invalid-password` or `email-not-verified`. How, for
    /// `two-factor-enabled`, `two-factor-succeeded` and `two-factor-failed`: `totp`, `otp` (a
    /// code by email) or `backup-code` (never the code itself). Otherwise `null`.
    #[oai(nullable, validator(max_length = 64))]
    pub(crate) reason: Option<String>,
    /// Client address (`""` when unknown).
    #[oai(validator(max_length = 64))]
    pub(crate) ip_address: String,
    /// Client `User-Agent` (`""` when absent).
    #[oai(validator(max_length = 8192))]
    pub(crate) user_agent: String,
    /// When it happened.
    pub(crate) created_at: Timestamp,
}

impl From<AuditRecord> for SecurityEvent {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id.to_string(),
            kind: record.kind,
            reason: record.reason,
            ip_address: record.ip_address,
            user_agent: record.user_agent,
            created_at: record.created_at.into(),
        }
    }
}

impl Example for SecurityEvent {
    fn example() -> Self {
        Self {
            id: "42".to_owned(),
            kind: "sign-in".to_owned(),
            reason: None,
            ip_address: "203.0.113.7".to_owned(),
            user_agent: "Mozilla/5.0".to_owned(),
            created_at: example_time(),
        }
    }
}

/// Answer of `GET /security-events`: a page of the caller's security events, newest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct SecurityEventPage {
    /// The events, newest first.
    #[oai(validator(max_items = 100))]
    pub(crate) events: Vec<SecurityEvent>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    #[oai(nullable, validator(max_length = 20))]
    pub(crate) next_cursor: Option<String>,
}

impl From<AuditPage> for SecurityEventPage {
    fn from(page: AuditPage) -> Self {
        Self { events: page.events.into_iter().map(SecurityEvent::from).collect(), next_cursor: page.next }
    }
}

impl Example for SecurityEventPage {
    fn example() -> Self {
        Self { events: vec![SecurityEvent::example()], next_cursor: Some("42".to_owned()) }
    }
}
