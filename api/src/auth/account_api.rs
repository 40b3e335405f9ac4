//! The account lifecycle under `/api/auth` (`better-auth-wire.md` §3.6 and its addendum §13):
//! profile update, password change and reset, email verification and change, deletion.
//! HTTP shape only; the rules are in `auth::account`.
//!
//! Stricter than Better Auth where the issue asks for it: reset tokens are stored hashed, a
//! reset ends every session of the user, and deleting an account always requires the password.

use std::time::Duration;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    api_errors,
    app::{ApiTags, AppState},
    auth::{
        account,
        api::client_info,
        csrf,
        dto::{
            ChangeEmailRequest, ChangePasswordRequest, ChangePasswordResponse, DeleteUserRequest, DeleteUserResponse,
            RequestPasswordResetRequest, ResetPasswordRequest, SendVerificationEmailRequest, StatusMessageResponse,
            StatusResponse, UpdateUserRequest, VerifyEmailResponse,
        },
        email::Email,
        error::{AuthError, RedirectField},
        guard::{NoAuth, OptionalAuth, SessionAuth, read_credentials, require_session},
        password::Password,
        reply::AuthReply,
        repo,
    },
    error::ApiError,
    http::body::JsonBody,
    timestamp::now_millis,
    validation::ValidationError,
};

/// Account lifecycle operations.
pub struct AccountApi;

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
pub enum VerifyEmailReply {
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
pub enum ResetLinkReply {
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
    format!("{url}{separator}{name}={}", crate::auth::cookies::encode_uri_component(value))
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
        let request = body.parse().map_err(AuthError::Validation)?;
        let image = match &request.image {
            poem_openapi::types::MaybeUndefined::Undefined => None,
            poem_openapi::types::MaybeUndefined::Null => Some(None),
            poem_openapi::types::MaybeUndefined::Value(url) => Some(Some(url.as_str())),
        };
        if request.name.is_none() && image.is_none() {
            return Err(AuthError::NoFieldsToUpdate.into());
        }
        let current = auth.0;
        repo::update_profile(&state.db, &current.user.id, request.name.as_deref(), image, now_millis()).await?;
        state.session_cache.invalidate_user(&current.user.id);
        tracing::info!(user.id = %current.user.id, "profile updated");
        let names = &state.cookie_names;
        let secret = &state.config.auth_secret;
        let remembered = !read_credentials(req, names, secret).dont_remember;
        let max_age = remembered.then(|| state.config.session.expires_in.as_secs());
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
        let request = body.parse().map_err(AuthError::Validation)?;
        let new_password = Password::parse_new(request.new_password.0)?;
        let current_password = Password::parse_existing(request.current_password.0)?;
        let current = auth.0;
        let revoke = request.revoke_other_sessions.unwrap_or(false);
        let replacement = account::change_password(
            &state,
            &current,
            new_password,
            current_password,
            revoke,
            &client_info(req, &state),
        )
        .await?;
        let user = repo::find_user(&state.db, &current.user.id).await?.unwrap_or(current.user);
        let Some((session, token)) = replacement else {
            return Ok(AuthReply::new(ChangePasswordResponse { token: None, user: (&user).into() }));
        };
        let remembered = session.expires_at - session.created_at > crate::auth::session::DONT_REMEMBER_LIFETIME;
        let max_age = remembered.then(|| state.config.session.expires_in.as_secs());
        Ok(AuthReply::new(ChangePasswordResponse { token: Some(token.expose().to_owned()), user: (&user).into() })
            .session_cookie(&state.cookie_names, &token, max_age, &state.config.auth_secret))
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
        req: &Request,
        _auth: NoAuth,
        body: JsonBody<RequestPasswordResetRequest>,
    ) -> Result<AuthReply<StatusMessageResponse>, LinkError> {
        csrf::check_cookie_request(req, &state.origins)?;
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.redirect_to.as_deref(), RedirectField::Redirect, &state.origins)?;
        if !state.mailer.is_enabled() {
            return Err(AuthError::ResetPasswordDisabled.into());
        }
        let email = Email::parse(&request.email.0).map_err(|_| invalid_email("email"))?;
        account::request_password_reset(&state, email, request.redirect_to);
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
        /// Where to send the browser (a trusted origin or a relative path).
        #[oai(name = "callbackURL", validator(max_length = 2048))]
        callback_url: Query<Option<String>>,
    ) -> Result<ResetLinkReply, LinkError> {
        let Some(callback) = callback_url.0 else {
            let error =
                ValidationError::new("callbackURL", "Invalid input: expected string, received undefined").in_query();
            return Err(AuthError::Validation(error.into()).into());
        };
        csrf::check_redirect(Some(&callback), RedirectField::Callback, &state.origins)?;
        let target = absolute(&state, &callback);
        Ok(ResetLinkReply::Redirect(if account::reset_token_is_valid(&state, &token.0).await? {
            with_param(&target, "token", &token.0)
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
        _auth: NoAuth,
        body: JsonBody<ResetPasswordRequest>,
        /// The reset token, when not in the body.
        #[oai(name = "token", validator(max_length = 256))]
        query_token: Query<Option<String>>,
    ) -> Result<AuthReply<StatusResponse>, LinkError> {
        csrf::check_cookie_request(req, &state.origins)?;
        let request = body.parse().map_err(AuthError::Validation)?;
        // Better Auth checks the new password before the token: a too-short password leaves
        // the token usable.
        let new_password = Password::parse_new(request.new_password.0)?;
        let token = request.token.or(query_token.0).filter(|t| !t.is_empty()).ok_or(AuthError::InvalidToken)?;
        account::reset_password(&state, &token, new_password).await?;
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
        _auth: OptionalAuth,
        body: JsonBody<SendVerificationEmailRequest>,
    ) -> Result<AuthReply<StatusResponse>, LinkError> {
        let started = tokio::time::Instant::now();
        csrf::check_cookie_request(req, &state.origins)?;
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        if !state.mailer.is_enabled() {
            return Err(AuthError::VerificationEmailNotEnabled { with_code: true }.into());
        }
        let email = Email::parse(&request.email.0).map_err(|_| invalid_email("email"))?;
        let session = match require_session(req, &state).await {
            Ok(current) => Some(current),
            Err(ApiError::Auth(AuthError::Unauthorized { .. })) => None,
            Err(other) => return Err(other.into()),
        };
        if let Some(current) = session {
            if current.user.email != email.as_str() {
                return Err(AuthError::EmailMismatch.into());
            }
            if current.user.email_verified {
                return Err(AuthError::EmailAlreadyVerified.into());
            }
            account::send_verification_mail(&state, &current.user, None, request.callback_url.as_deref());
            return Ok(AuthReply::new(StatusResponse { status: true }));
        }
        if let Some(user) = repo::find_user_by_email(&state.db, email.as_str()).await?
            && !user.email_verified
        {
            account::send_verification_mail(&state, &user, None, request.callback_url.as_deref());
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
        _auth: NoAuth,
        /// The token from the link (about 1 KB; the limit keeps the longest valid URL within
        /// the 64 KiB the HTTP parser accepts).
        #[oai(validator(max_length = 2048))]
        token: Query<Option<String>>,
        /// Where to send the browser afterwards (a trusted origin or a relative path).
        #[oai(name = "callbackURL", validator(max_length = 2048))]
        callback_url: Query<Option<String>>,
    ) -> Result<VerifyEmailReply, LinkError> {
        let callback = callback_url.0.filter(|c| !c.is_empty());
        csrf::check_redirect(callback.as_deref(), RedirectField::Callback, &state.origins)?;
        let Some(token) = token.0 else {
            let error = ValidationError::new("token", "Invalid input: expected string, received undefined").in_query();
            return Err(AuthError::Validation(error.into()).into());
        };
        let outcome = account::verify_email(&state, &token).await;
        match (outcome, callback) {
            (Ok(user), None) => Ok(VerifyEmailReply::Ok(Json(VerifyEmailResponse {
                status: true,
                user: crate::http::schema::NullableObject(user.as_ref().map(Into::into)),
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
    /// An address already in use gets the same `{"status":true}` and no mail.
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
        account::change_email(&state, &auth.0.user, new_email, request.callback_url.as_deref()).await?;
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
        body: JsonBody<DeleteUserRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<DeleteUserResponse>, AccountError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        account::delete_user(&state, &auth.0.user.id, password).await?;
        Ok(AuthReply::new(DeleteUserResponse { success: true, message: "User deleted".to_owned() })
            .clear_cookies(&state.cookie_names))
    }
}
