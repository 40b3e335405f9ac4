//! The account lifecycle under `/api/auth` (`docs/better-auth-wire.md` §3.6 and §13): profile
//! update, password change and reset, email verification and change, deletion. HTTP shape
//! only; the rules are in `auth::accounts`.
//!
//! Stricter than Better Auth on purpose: reset tokens are stored hashed, a reset ends every
//! session of the user, and deleting an account always requires the password.

use std::time::Duration;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    auth::{
        accounts::{PasswordChange, ProfileUpdate},
        cookies::encode_uri_component,
        csrf,
        dto::{
            ChangeEmailRequest, ChangePasswordRequest, ChangePasswordResponse, DeleteUserRequest, DeleteUserResponse,
            RequestPasswordResetRequest, ResetPasswordRequest, SendVerificationEmailRequest, StatusMessageResponse,
            StatusResponse, UpdateUserRequest, VerifyEmailResponse,
        },
        email::Email,
        error::{AuthError, RedirectField},
        guard::{NoAuth, OptionalAuth, SessionAuth, client_info, read_credentials, require_session},
        password::Password,
        reply::AuthReply,
        sessions::Sessions,
        token::ResetToken,
    },
    error::{ApiError, api_errors},
    http::{
        body::JsonBody,
        schema::{NullableObject, Required},
    },
    state::AppState,
    tags::ApiTags,
    validation::ValidationError,
};

/// Account lifecycle operations.
pub(crate) struct AccountApi;

api_errors!(
    /// Errors of operations that need a session and take a body.
    AccountError: 400, 401, 403, 413, 415, 429, 503
);
api_errors!(
    /// Errors of the unauthenticated mail-link operations.
    LinkError: 400, 401, 403, 413, 415, 429, 503
);

/// The answer to a link opened from a mail: JSON, or a redirect to the `callbackURL`.
#[derive(ApiResponse)]
pub(crate) enum VerifyEmailReply {
    /// Verified (no `callbackURL` given).
    #[oai(status = 200)]
    Ok(Json<VerifyEmailResponse>),
    /// Redirect to `callbackURL` (with `?error=<CODE>` when the link was refused).
    #[oai(status = 302)]
    Redirect(
        /// Where to go.
        #[oai(header = "Location")]
        String,
    ),
}

/// The answer to a mailed password-reset link: always a redirect.
#[derive(ApiResponse)]
pub(crate) enum ResetLinkReply {
    /// Redirect to `callbackURL?token=<token>`, or `?error=INVALID_TOKEN`.
    #[oai(status = 302)]
    Redirect(
        /// Where to go.
        #[oai(header = "Location")]
        String,
    ),
}

const RESET_REQUESTED: &str = "If this email exists in our system, check your email for the reset link";

/// `url` with one more query parameter.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={}", encode_uri_component(value))
}

/// A relative callback resolved against this service's public URL; absolute ones as given.
fn absolute(state: &AppState, callback: &str) -> String {
    if callback.starts_with('/') {
        let origin =
            url::Url::parse(&state.public_base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        format!("{origin}{callback}")
    } else if callback.is_empty() {
        format!("{}/", state.public_base_url)
    } else {
        callback.to_owned()
    }
}

fn invalid_email(field: &str) -> AuthError {
    AuthError::Validation(ValidationError::new(field, "Invalid email address").in_body().into())
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AccountApi {
    /// Update your profile
    ///
    /// Changes `name` and/or `image` (`null` removes the image). The email cannot be changed
    /// here (`400 EMAIL_CAN_NOT_BE_UPDATED`; use `change-email`); an empty body is
    /// `400 "No fields to update"`. Re-sends the session cookie.
    #[oai(path = "/update-user", method = "post", operation_id = "update_user")]
    async fn update_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<UpdateUserRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, AccountError> {
        if body.has_key("email") {
            return Err(AuthError::EmailCanNotBeUpdated.into());
        }
        let update = ProfileUpdate::try_from(body.parse().map_err(AuthError::Validation)?)?;
        let current = auth.0;
        state.accounts.update_profile(&current.user.id, &update).await?;
        let names = &state.cookies;
        let secret = &state.config.auth_secret;
        let remembered = !read_credentials(req, names, secret).dont_remember;
        let max_age = state.sessions.cookie_max_age(remembered);
        let reply =
            AuthReply::new(StatusResponse { status: true }).session_cookie(names, &current.token, max_age, secret);
        Ok(if remembered { reply } else { reply.dont_remember_cookie(names, secret) })
    }

    /// Change your password
    ///
    /// Needs the current password (`400 INVALID_PASSWORD` otherwise; nothing changes). With
    /// `revokeOtherSessions: true` every session ends, this one included, and a new session is
    /// started: its token is returned and set as the cookie.
    #[oai(path = "/change-password", method = "post", operation_id = "change_password")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<ChangePasswordRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<ChangePasswordResponse>, AccountError> {
        let change = PasswordChange::try_from(body.parse().map_err(AuthError::Validation)?)?;
        let current = auth.0;
        let replacement = state.accounts.change_password(&current, change, &client_info(req, &state)).await?;
        let user = state.accounts.user(&current.user.id).await?.unwrap_or(current.user);
        let Some((session, token)) = replacement else {
            return Ok(AuthReply::new(ChangePasswordResponse { token: None, user: (&user).into() }));
        };
        let max_age = state.sessions.cookie_max_age(Sessions::is_remembered(&session));
        Ok(AuthReply::new(ChangePasswordResponse { token: Some(token.expose().to_owned()), user: (&user).into() })
            .session_cookie(&state.cookies, &token, max_age, &state.config.auth_secret))
    }

    /// Ask for a password-reset link
    ///
    /// Mails a single-use link, valid for one hour, when the address has an account. The answer
    /// is the same, in the same time, whether or not it does. `redirectTo` (a trusted origin or a
    /// relative path) is the page the link leads to, with `?token=…`.
    #[oai(path = "/request-password-reset", method = "post", operation_id = "request_password_reset")]
    async fn request_password_reset(
        &self,
        state: Data<&AppState>,
        body: JsonBody<RequestPasswordResetRequest>,
        _auth: NoAuth,
    ) -> Result<AuthReply<StatusMessageResponse>, LinkError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.redirect_to.as_deref(), RedirectField::Redirect, &state.origins)?;
        if !state.accounts.mail_enabled() {
            return Err(AuthError::ResetPasswordDisabled.into());
        }
        let email = Email::parse(&request.email.0).map_err(|_| invalid_email("email"))?;
        state.accounts.request_password_reset(email, request.redirect_to);
        Ok(AuthReply::new(StatusMessageResponse { status: true, message: RESET_REQUESTED.to_owned() }))
    }

    /// Open a password-reset link
    ///
    /// The link mailed by `request-password-reset`. Redirects to `callbackURL?token=<token>`
    /// when the token is valid, else to `callbackURL?error=INVALID_TOKEN`.
    #[oai(path = "/reset-password/:token", method = "get", operation_id = "open_password_reset_link")]
    async fn open_reset_link(
        &self,
        state: Data<&AppState>,
        _auth: NoAuth,
        /// The reset token from the mail.
        #[oai(validator(max_length = 256))]
        token: Path<String>,
        /// Where to send the browser (a trusted origin or a relative path). Required: without
        /// it the answer is `400 VALIDATION_ERROR`, as from Better Auth.
        #[oai(name = "callbackURL", validator(max_length = 2048))]
        callback_url: Query<Required<String>>,
    ) -> Result<ResetLinkReply, LinkError> {
        let Query(Required(Some(callback))) = callback_url else {
            let error =
                ValidationError::new("callbackURL", "Invalid input: expected string, received undefined").in_query();
            return Err(AuthError::Validation(error.into()).into());
        };
        csrf::check_redirect(Some(&callback), RedirectField::Callback, &state.origins)?;
        let target = absolute(&state, &callback);
        let token = ResetToken::from_client(token.0);
        Ok(ResetLinkReply::Redirect(if state.accounts.reset_token_is_valid(&token).await? {
            with_param(&target, "token", token.expose())
        } else {
            with_param(&target, "error", "INVALID_TOKEN")
        }))
    }

    /// Set a new password with a reset token
    ///
    /// Consumes the token (single use; `400 INVALID_TOKEN` when unknown, used or expired), sets
    /// the password, and ends every session of the user.
    #[oai(path = "/reset-password", method = "post", operation_id = "reset_password")]
    async fn reset_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<ResetPasswordRequest>,
        /// The reset token, when not in the body.
        #[oai(name = "token", validator(max_length = 256))]
        query_token: Query<Option<String>>,
        _auth: NoAuth,
    ) -> Result<AuthReply<StatusResponse>, LinkError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        // Better Auth checks the new password before the token: a too-short password leaves
        // the token usable.
        let new_password = Password::parse_new(request.new_password.0)?;
        let token = request.token.or(query_token.0).filter(|t| !t.is_empty()).ok_or(AuthError::InvalidToken)?;
        state.accounts.reset_password(&ResetToken::from_client(token), new_password, &client_info(req, &state)).await?;
        Ok(AuthReply::new(StatusResponse { status: true }))
    }

    /// Send an email-verification link
    ///
    /// With a session, `email` must be the session user's (`EMAIL_MISMATCH`) and not yet
    /// verified (`EMAIL_ALREADY_VERIFIED`). Without one, the answer is always `{"status":true}`
    /// and takes at least 500 ms, so it reveals nothing about which addresses have accounts.
    #[oai(path = "/send-verification-email", method = "post", operation_id = "send_verification_email")]
    async fn send_verification_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<SendVerificationEmailRequest>,
        _auth: OptionalAuth,
    ) -> Result<AuthReply<StatusResponse>, LinkError> {
        let started = tokio::time::Instant::now();
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        if !state.accounts.mail_enabled() {
            return Err(AuthError::VerificationEmailNotEnabled { with_code: true }.into());
        }
        let email = Email::parse(&request.email.0).map_err(|_| invalid_email("email"))?;
        let session = match require_session(req, &state).await {
            Ok(current) => Some(current),
            Err(ApiError::Auth(AuthError::Unauthorized { .. })) => None,
            Err(other) => return Err(other.into()),
        };
        let signed_in = session.as_ref().map(|current| &current.user);
        state.accounts.send_verification(&email, signed_in, request.callback_url.as_deref()).await?;
        if signed_in.is_some() {
            return Ok(AuthReply::new(StatusResponse { status: true }));
        }
        tokio::time::sleep_until(started + Duration::from_millis(500)).await;
        Ok(AuthReply::new(StatusResponse { status: true }))
    }

    /// Open an email-verification link
    ///
    /// Verifies the address (`{"status":true,"user":null}`), or completes an email change
    /// (`user` is the updated user). With `callbackURL`, redirects there instead (adding
    /// `?error=<CODE>` when the link is refused). Refused links: `401 INVALID_TOKEN`,
    /// `TOKEN_EXPIRED` or `USER_NOT_FOUND`.
    #[oai(path = "/verify-email", method = "get", operation_id = "verify_email")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: NoAuth,
        /// The token from the link (about 1 KB; the limit keeps the longest valid URL within
        /// the 64 KiB the HTTP parser accepts). Required: without it the answer is
        /// `400 VALIDATION_ERROR` (after the `callbackURL` check), as from Better Auth.
        #[oai(validator(max_length = 2048))]
        token: Query<Required<String>>,
        /// Where to send the browser afterwards (a trusted origin or a relative path).
        #[oai(name = "callbackURL", validator(max_length = 2048))]
        callback_url: Query<Option<String>>,
    ) -> Result<VerifyEmailReply, LinkError> {
        let callback = callback_url.0.filter(|c| !c.is_empty());
        csrf::check_redirect(callback.as_deref(), RedirectField::Callback, &state.origins)?;
        let Query(Required(Some(token))) = token else {
            let error = ValidationError::new("token", "Invalid input: expected string, received undefined").in_query();
            return Err(AuthError::Validation(error.into()).into());
        };
        let outcome = state.accounts.verify_email(&token, &client_info(req, &state)).await;
        match (outcome, callback) {
            (Ok(user), None) => Ok(VerifyEmailReply::Ok(Json(VerifyEmailResponse {
                status: true,
                user: NullableObject(user.as_ref().map(Into::into)),
            }))),
            (Ok(_), Some(callback)) => Ok(VerifyEmailReply::Redirect(absolute(&state, &callback))),
            (Err(ApiError::Auth(AuthError::VerificationLink(problem))), Some(callback)) => {
                Ok(VerifyEmailReply::Redirect(with_param(&absolute(&state, &callback), "error", problem.code())))
            }
            (Err(err), _) => Err(err.into()),
        }
    }

    /// Change your email address
    ///
    /// Mails a confirmation link to the new address; the address changes when it is opened.
    /// The current address gets a notice with a link that stops the change. Needs the current
    /// `password` (`400 INVALID_PASSWORD` when wrong) or, without it, a fresh session (`403
    /// SESSION_NOT_FRESH`): a deliberate difference from Better Auth, which needs neither.
    /// An address already in use gets the same `{"status":true}` and no confirmation link.
    #[oai(path = "/change-email", method = "post", operation_id = "change_email")]
    async fn change_email(
        &self,
        state: Data<&AppState>,
        body: JsonBody<ChangeEmailRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, AccountError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        let new_email = Email::parse(&request.new_email.0).map_err(|_| invalid_email("newEmail"))?;
        let password = request.password.map(|password| Password::parse_existing(password.0)).transpose()?;
        state.accounts.change_email(&auth.0, password, new_email, request.callback_url.as_deref()).await?;
        Ok(AuthReply::new(StatusResponse { status: true }))
    }

    /// Delete your account
    ///
    /// Needs the current password (`400 INVALID_PASSWORD` otherwise; nothing is deleted).
    /// Removes the user with their sessions, accounts and tasks in one transaction, and clears
    /// the cookies.
    #[oai(path = "/delete-user", method = "post", operation_id = "delete_user")]
    async fn delete_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<DeleteUserRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<DeleteUserResponse>, AccountError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        state.accounts.delete_user(&auth.0.user.id, password, &client_info(req, &state)).await?;
        Ok(AuthReply::new(DeleteUserResponse { success: true, message: "User deleted".to_owned() })
            .clear_cookies(&state.cookies))
    }
}
