//! The endpoints of Better Auth's `twoFactor` plugin under `/api/auth/two-factor`
//! (`docs/better-auth-plugins.md` §Two-factor): HTTP shape only. Settings (`enable`,
//! `get-totp-uri`, `generate-backup-codes`, `disable`) need a session; the verify endpoints
//! serve a signed-in user or a sign-in waiting for its second step (the `two_factor` cookie, or
//! the `two-factor-token` header for clients without cookies).

use poem::{Request, web::Data};
use poem_openapi::{OpenApi, param::Header};

use crate::{
    auth::{
        dto::StatusResponse,
        error::{AuthError, TwoFactorError},
        guard::{Credentials, OptionalAuth, SessionAuth, client_info, read_credentials},
        password::Password,
        reply::AuthReply,
        sessions::{CurrentSession, Lookup, Sessions},
        two_factor::{Enabled, Factor, TRUST_LIFETIME, Verified, Verifier},
        two_factor_dto::{
            BackupCodesResponse, EnableTwoFactorRequest, EnableTwoFactorResponse, PasswordRequest, SendOtpRequest,
            TotpUriResponse, TwoFactorMethod, VerifiedResponse, VerifyBackupCodeRequest, VerifyCodeRequest,
        },
    },
    error::{ApiError, api_errors},
    http::body::JsonBody,
    state::AppState,
    tags::ApiTags,
};

/// Two-factor operations.
pub(crate) struct TwoFactorApi;

api_errors!(
    /// Errors of the two-factor settings operations (session, password, fresh session).
    TwoFactorSettingsError: 400, 401, 403, 413, 415, 429, 503
);
api_errors!(
    /// Errors of the verify operations.
    TwoFactorVerifyError: 400, 401, 403, 413, 415, 429, 503
);

/// Who is verifying: the presented session if it is live, else the pending sign-in.
async fn verifier(state: &AppState, credentials: &Credentials) -> Result<Verifier, ApiError> {
    if let Some((token, _)) = &credentials.token
        && let Lookup::Valid(found) = state.sessions.resolve(token).await?
    {
        let (session, user, _) = *found;
        return Ok(Verifier::Session(Box::new(CurrentSession { session, user, token: token.clone() })));
    }
    match &credentials.two_factor {
        Some(challenge) => Ok(Verifier::Pending { challenge: challenge.clone(), remember: !credentials.dont_remember }),
        None => Err(AuthError::from(TwoFactorError::InvalidCookie).into()),
    }
}

/// Verifies `factor` for whoever the request presents (session, else pending sign-in) and
/// shapes the answer.
async fn verify(
    state: &AppState,
    req: &Request,
    factor: Factor,
    trust_device: Option<bool>,
) -> Result<AuthReply<VerifiedResponse>, ApiError> {
    let credentials = read_credentials(req, &state.cookies, &state.config.auth_secret);
    let who = verifier(state, &credentials).await?;
    let trust = trust_device.unwrap_or(false);
    let verified = state.two_factor.verify(who, factor, trust, &client_info(req, state)).await?;
    Ok(verified_reply(state, verified))
}

/// The answer of a successful verification: the session cookie when one was started, the
/// pending sign-in's cookie cleared, the trusted device's cookie when asked for.
fn verified_reply(state: &AppState, verified: Verified) -> AuthReply<VerifiedResponse> {
    let names = &state.cookies;
    let secret = &state.config.auth_secret;
    let body = VerifiedResponse {
        token: verified.token.as_ref().map(|t| t.expose().to_owned()),
        user: (&verified.user).into(),
    };
    let mut reply = AuthReply::new(body);
    if let (Some(token), Some(remember)) = (&verified.token, verified.new_session) {
        reply = reply.session_cookie(names, token, state.sessions.cookie_max_age(remember), secret);
        if !remember && verified.trust.is_none() {
            reply = reply.dont_remember_cookie(names, secret);
        }
    }
    if verified.was_pending {
        reply = reply.cookie(names.clear(&names.two_factor));
    }
    if let Some(trust) = verified.trust {
        reply = reply
            .cookie(names.set_signed(&names.trust_device, &trust, Some(TRUST_LIFETIME.as_secs()), secret))
            .clear_dont_remember(names);
    }
    reply
}

/// A reply that sets the caller's replacement session (after every session was ended).
fn with_new_session<T>(
    state: &AppState,
    reply: AuthReply<T>,
    current: &CurrentSession,
    token: &crate::auth::token::SessionToken,
) -> AuthReply<T> {
    let remember = Sessions::is_remembered(&current.session);
    reply.session_cookie(&state.cookies, token, state.sessions.cookie_max_age(remember), &state.config.auth_secret)
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::TwoFactor")]
impl TwoFactorApi {
    /// Start two-factor enrolment
    ///
    /// `method: "totp"` (default): a new authenticator secret and ten backup codes; the
    /// enrolment becomes active with the first code given to `verify-totp` with this session.
    /// `method: "otp"`: codes by email, on at once (every other session ends; this one is
    /// replaced). Needs the password and a fresh session (`403 SESSION_NOT_FRESH`).
    /// `400 TOTP_ALREADY_ENABLED` when an active enrolment exists.
    #[oai(path = "/two-factor/enable", method = "post", operation_id = "enable_two_factor")]
    async fn enable(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<EnableTwoFactorRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<EnableTwoFactorResponse>, TwoFactorSettingsError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        let by_email = request.method == Some(TwoFactorMethod::Otp);
        let current = &auth.0;
        let enabled =
            state.two_factor.enable(current, password, request.issuer, by_email, &client_info(req, &state)).await?;
        Ok(match enabled {
            Enabled::Totp { uri, backup_codes } => AuthReply::new(EnableTwoFactorResponse {
                method: TwoFactorMethod::Totp,
                totp_uri: Some(uri),
                backup_codes: Some(backup_codes),
            }),
            Enabled::Email { token } => with_new_session(
                &state,
                AuthReply::new(EnableTwoFactorResponse {
                    method: TwoFactorMethod::Otp,
                    totp_uri: None,
                    backup_codes: None,
                }),
                current,
                &token,
            ),
        })
    }

    /// Get the TOTP URI
    ///
    /// The `otpauth://` URI of the enrolment, to show its QR code again. Needs the password
    /// and a fresh session. `400 TOTP_NOT_ENABLED` without an enrolment.
    #[oai(path = "/two-factor/get-totp-uri", method = "post", operation_id = "get_totp_uri")]
    async fn get_totp_uri(
        &self,
        state: Data<&AppState>,
        body: JsonBody<PasswordRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<TotpUriResponse>, TwoFactorSettingsError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        let totp_uri = state.two_factor.totp_uri(&auth.0, password).await?;
        Ok(AuthReply::new(TotpUriResponse { totp_uri }))
    }

    /// Generate new backup codes
    ///
    /// Ten new single-use codes; the previous ones stop working. Needs two-factor sign-in on
    /// (`400 TWO_FACTOR_NOT_ENABLED`), the password and a fresh session.
    #[oai(path = "/two-factor/generate-backup-codes", method = "post", operation_id = "generate_backup_codes")]
    async fn generate_backup_codes(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<PasswordRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<BackupCodesResponse>, TwoFactorSettingsError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        let backup_codes =
            state.two_factor.regenerate_backup_codes(&auth.0, password, &client_info(req, &state)).await?;
        Ok(AuthReply::new(BackupCodesResponse { status: true, backup_codes }))
    }

    /// Turn two-factor sign-in off
    ///
    /// Deletes the enrolment and this device's trust, ends every session of the user and
    /// replaces this one (new session cookie and `set-auth-token`). Needs the password and a
    /// fresh session.
    #[oai(path = "/two-factor/disable", method = "post", operation_id = "disable_two_factor")]
    async fn disable(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<PasswordRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, TwoFactorSettingsError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let password = Password::parse_existing(request.password.0)?;
        let credentials = read_credentials(req, &state.cookies, &state.config.auth_secret);
        let current = &auth.0;
        let token = state
            .two_factor
            .disable(current, password, credentials.trust_device.as_deref(), &client_info(req, &state))
            .await?;
        let reply = with_new_session(&state, AuthReply::new(StatusResponse { status: true }), current, &token);
        Ok(if credentials.has_trust_device_cookie {
            reply.cookie(state.cookies.clear(&state.cookies.trust_device))
        } else {
            reply
        })
    }

    /// Verify a TOTP code
    ///
    /// At sign-in (the `two_factor` cookie or `two-factor-token` header): starts the session
    /// (session cookie, `set-auth-token`) and, with `trustDevice`, sets the 30-day
    /// `trust_device` cookie. With a session: confirms a new enrolment (two-factor sign-in is
    /// on from then; every other session ends and this one is replaced). A code is accepted once.
    /// `401 INVALID_CODE`, `401 INVALID_TWO_FACTOR_COOKIE`, `400 TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE`
    /// (5 per sign-in), `429 ACCOUNT_TEMPORARILY_LOCKED` (too many failures; `Retry-After`).
    #[oai(path = "/two-factor/verify-totp", method = "post", operation_id = "verify_totp")]
    async fn verify_totp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<VerifyCodeRequest>,
        _auth: OptionalAuth,
        /// A client without cookies: the pending sign-in, as the `set-two-factor-token` header of
        /// the sign-in answer gave it (browsers send the `two_factor` cookie instead).
        #[oai(name = "two-factor-token", validator(max_length = 512))]
        _pending: Header<Option<String>>,
    ) -> Result<AuthReply<VerifiedResponse>, TwoFactorVerifyError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        Ok(verify(&state, req, Factor::Totp(request.code), request.trust_device).await?)
    }

    /// Verify a backup code
    ///
    /// Like `verify-totp` with one of the backup codes, each of which works once.
    /// `disableSession: true` checks the code without starting a session (`token: null`).
    /// `401 INVALID_BACKUP_CODE`.
    #[oai(path = "/two-factor/verify-backup-code", method = "post", operation_id = "verify_backup_code")]
    async fn verify_backup_code(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<VerifyBackupCodeRequest>,
        _auth: OptionalAuth,
        /// A client without cookies: the pending sign-in, as the `set-two-factor-token` header of
        /// the sign-in answer gave it (browsers send the `two_factor` cookie instead).
        #[oai(name = "two-factor-token", validator(max_length = 512))]
        _pending: Header<Option<String>>,
    ) -> Result<AuthReply<VerifiedResponse>, TwoFactorVerifyError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let factor =
            Factor::BackupCode { code: request.code, disable_session: request.disable_session.unwrap_or(false) };
        Ok(verify(&state, req, factor, request.trust_device).await?)
    }

    /// Send a code by email
    ///
    /// Mails a 6-digit code (valid 3 minutes) to the signing-in or signed-in user, for
    /// `verify-otp`. `400 OTP_NOT_CONFIGURED` without outgoing mail. The body is optional.
    #[oai(path = "/two-factor/send-otp", method = "post", operation_id = "send_two_factor_otp")]
    async fn send_otp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Option<SendOtpRequest>>,
        _auth: OptionalAuth,
        /// A client without cookies: the pending sign-in, as the `set-two-factor-token` header of
        /// the sign-in answer gave it (browsers send the `two_factor` cookie instead).
        #[oai(name = "two-factor-token", validator(max_length = 512))]
        _pending: Header<Option<String>>,
    ) -> Result<AuthReply<StatusResponse>, TwoFactorVerifyError> {
        if body.is_present() {
            body.parse().map_err(AuthError::Validation)?;
        }
        let credentials = read_credentials(req, &state.cookies, &state.config.auth_secret);
        let who = verifier(&state, &credentials).await?;
        state.two_factor.send_email_code(&who).await?;
        Ok(AuthReply::new(StatusResponse { status: true }))
    }

    /// Verify a code sent by email
    ///
    /// Like `verify-totp` with the code from `send-otp` (5 attempts per code).
    /// `400 OTP_HAS_EXPIRED` when no code is pending.
    #[oai(path = "/two-factor/verify-otp", method = "post", operation_id = "verify_two_factor_otp")]
    async fn verify_otp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<VerifyCodeRequest>,
        _auth: OptionalAuth,
        /// A client without cookies: the pending sign-in, as the `set-two-factor-token` header of
        /// the sign-in answer gave it (browsers send the `two_factor` cookie instead).
        #[oai(name = "two-factor-token", validator(max_length = 512))]
        _pending: Header<Option<String>>,
    ) -> Result<AuthReply<VerifiedResponse>, TwoFactorVerifyError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        Ok(verify(&state, req, Factor::EmailCode(request.code), request.trust_device).await?)
    }
}
