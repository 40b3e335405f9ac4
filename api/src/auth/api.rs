//! The Better Auth endpoints under `/api/auth` (`docs/better-auth-wire.md` §3): HTTP shape only.
//! Each handler validates its body, calls the domain (`accounts`, `sessions`) and shapes the
//! reply with cookies; its security extractor has already applied the CSRF checks.
//!
//! Also the rules the shared layers apply to this API: how its malformed parameters are
//! reported, and which of its paths carry a secret that must not be logged.

use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Query};

use crate::{
    auth::{
        accounts::{SignIn, SignInOutcome, SignUp},
        csrf,
        dto::{
            SessionWithUser, SignInAnswer, SignInRequest, SignInResponse, SignOutRequest, SignUpRequest,
            SignUpResponse, SuccessResponse, TwoFactorRedirect, UserDto,
        },
        error::{AuthError, RedirectField},
        guard::{NoAuth, OptionalAuth, SignInAuth, client_info, read_credentials},
        model::{JwtSlot, User},
        reply::AuthReply,
        sessions::Lookup,
        two_factor::{CHALLENGE_LIFETIME, TRUST_LIFETIME},
    },
    error::{ParamErrors, ParamStatus, api_errors},
    http::{
        body::{JsonBody, JsonOrFormBody},
        schema::{NullableObject, Success},
    },
    state::AppState,
    tags::ApiTags,
};

/// How the auth API reports a parameter that does not parse: 400, as Better Auth does, and
/// every parameter named as a query parameter (the reset link's path token included).
pub(crate) const PARAMETER_ERRORS: ParamErrors = ParamErrors {
    status: ParamStatus::BadRequest,
    place: |_| "query",
    unparsable_path: "[path.token] is not a valid token",
};

/// Paths whose last segment is a secret (the mailed password-reset token): the request log
/// shows them redacted.
pub(crate) const SECRET_PATHS: &[&str] = &["/api/auth/reset-password/"];

/// Operations under `/api/auth`.
pub(crate) struct AuthApi;

/// Answer of `GET /api/auth/ok`.
#[derive(Debug, Object)]
#[oai(example)]
pub(crate) struct OkResponse {
    /// Always `true`.
    ok: bool,
}

api_errors!(
    /// Errors of `POST /sign-up/email`.
    SignUpError: 400, 403, 413, 415, 422, 429, 503
);
api_errors!(
    /// Errors of `POST /sign-in/email`.
    SignInError: 400, 401, 403, 413, 415, 429, 503
);
api_errors!(
    /// Errors of `POST /sign-out`.
    SignOutError: 400, 403, 413, 415, 429, 503
);
api_errors!(
    /// Errors of `GET /get-session`.
    GetSessionError: 400, 401, 429, 503
);
api_errors!(
    /// Errors of `POST /get-session`.
    PostSessionError: 405
);
api_errors!(
    /// Errors of `GET /ok` (only the rate limiter can refuse it).
    OkError: 429
);

impl poem_openapi::types::Example for OkResponse {
    fn example() -> Self {
        Self { ok: true }
    }
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account with email and password
    ///
    /// Creates the user and signs them in: sets the HTTP-only session cookie and returns the
    /// token (also in the `set-auth-token` header for bearer clients). Accepts JSON or a form.
    /// `422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` when the address is taken;
    /// `400 PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG` outside 8..=128 characters.
    #[oai(path = "/sign-up/email", method = "post", operation_id = "sign_up_email")]
    async fn sign_up_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonOrFormBody<SignUpRequest>,
        _auth: SignInAuth,
    ) -> Result<AuthReply<SignUpResponse>, SignUpError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        let input = SignUp::try_from(request)?;
        let remember = input.remember;
        let signed_up = state.accounts.sign_up(input, &client_info(req, &state)).await?;
        let user = (&signed_up.user).into();
        // With email verification required there is no session until the address is verified.
        let Some((_session, token)) = signed_up.session else {
            return Ok(AuthReply::new(SignUpResponse { token: None, user }));
        };
        let names = &state.cookies;
        let secret = &state.config.auth_secret;
        let reply = AuthReply::new(SignUpResponse { token: Some(token.expose().to_owned()), user }).session_cookie(
            names,
            &token,
            state.sessions.cookie_max_age(remember),
            secret,
        );
        Ok(if remember { reply } else { reply.dont_remember_cookie(names, secret) })
    }

    /// Sign in with email and password
    ///
    /// Starts a new session: sets the HTTP-only session cookie and returns the token (also in
    /// `set-auth-token`). A wrong password and an unknown email get the same
    /// `401 INVALID_EMAIL_OR_PASSWORD`, in the same time. Accepts JSON or a form.
    ///
    /// When the user has two-factor sign-in on (and this device is not trusted), no session
    /// starts: the answer is `{twoFactorRedirect: true, twoFactorMethods}` with the signed
    /// `two_factor` cookie (10 minutes) and the same value in `set-two-factor-token` for clients
    /// without cookies, who send it back as the `two-factor-token` header to a verify endpoint.
    #[oai(path = "/sign-in/email", method = "post", operation_id = "sign_in_email")]
    async fn sign_in_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonOrFormBody<SignInRequest>,
        _auth: SignInAuth,
    ) -> Result<AuthReply<SignInAnswer>, SignInError> {
        let mut request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        let url = request.callback_url.take().filter(|u| !u.is_empty());
        let input = SignIn::try_from(request)?;
        let remember = input.remember;
        let names = &state.cookies;
        let secret = &state.config.auth_secret;
        let credentials = read_credentials(req, names, secret);
        let outcome =
            state.accounts.sign_in(input, &client_info(req, &state), credentials.trust_device.as_deref()).await?;
        let signed_in = match outcome {
            SignInOutcome::Session(signed_in) => signed_in,
            SignInOutcome::SecondFactor(challenge) => {
                let body = SignInAnswer::TwoFactor(TwoFactorRedirect {
                    two_factor_redirect: true,
                    two_factor_methods: challenge.methods.iter().map(|m| (*m).to_owned()).collect(),
                });
                let mut reply = AuthReply::new(body);
                if !remember {
                    reply = reply.dont_remember_cookie(names, secret);
                }
                reply = reply.cookie(names.clear(&names.session_token)).cookie(names.clear(&names.session_data));
                if challenge.clear_trust || (credentials.has_trust_device_cookie && credentials.trust_device.is_none())
                {
                    reply = reply.cookie(names.clear(&names.trust_device));
                }
                return Ok(reply
                    .cookie(names.set_signed(
                        &names.two_factor,
                        &challenge.id,
                        Some(CHALLENGE_LIFETIME.as_secs()),
                        secret,
                    ))
                    .exposed_header("set-two-factor-token", crate::auth::cookies::sign(&challenge.id, secret)));
            }
        };
        let token = signed_in.token;
        let reply = AuthReply::new(SignInAnswer::Session(SignInResponse {
            redirect: url.is_some(),
            token: token.expose().to_owned(),
            url: url.clone(),
            user: (&signed_in.user).into(),
        }))
        .session_cookie(names, &token, state.sessions.cookie_max_age(remember), secret)
        .location(url);
        let reply = match (remember, credentials.has_dont_remember_cookie) {
            (false, _) => reply.dont_remember_cookie(names, secret),
            (true, true) => reply.clear_dont_remember(names),
            (true, false) => reply,
        };
        Ok(match signed_in.renewed_trust {
            Some(trust) => {
                reply.cookie(names.set_signed(&names.trust_device, &trust, Some(TRUST_LIFETIME.as_secs()), secret))
            }
            None => reply,
        })
    }

    /// Sign out
    ///
    /// Ends the session presented by cookie or bearer token (if any) and clears the session
    /// cookies. Always succeeds. The body is optional.
    #[oai(path = "/sign-out", method = "post", operation_id = "sign_out")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Option<SignOutRequest>>,
        _auth: OptionalAuth,
    ) -> Result<AuthReply<SuccessResponse>, SignOutError> {
        if body.is_present() {
            body.parse().map_err(AuthError::Validation)?;
        }
        let credentials = read_credentials(req, &state.cookies, &state.config.auth_secret);
        if let Some((token, _)) = credentials.token {
            state.sessions.end(&token, &client_info(req, &state)).await?;
            tracing::info!("session ended by sign-out");
        }
        Ok(AuthReply::new(SuccessResponse { success: true }).clear_cookies(&state.cookies))
    }

    /// Get the current session
    ///
    /// Returns the session and user presented by cookie or bearer token, or `null` when there
    /// is none (never 401). Extends the session by its full lifetime once a day (re-sending the
    /// cookie); otherwise it does not write. `disableRefresh` (any non-empty value) skips that.
    #[oai(path = "/get-session", method = "get", operation_id = "get_session")]
    async fn get_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: OptionalAuth,
        /// Accepted for Better Auth compatibility; this service has no cookie cache.
        #[oai(name = "disableCookieCache", validator(max_length = 16))]
        disable_cookie_cache: Query<Option<String>>,
        /// Any non-empty value skips the sliding refresh.
        #[oai(name = "disableRefresh", validator(max_length = 16))]
        disable_refresh: Query<Option<String>>,
    ) -> Result<AuthReply<NullableObject<SessionWithUser>>, GetSessionError> {
        let _ = disable_cookie_cache;
        let names = &state.cookies;
        let secret = &state.config.auth_secret;
        let credentials = read_credentials(req, names, secret);
        let Some((token, _via)) = credentials.token else {
            return Ok(AuthReply::new(NullableObject(None)).no_store());
        };
        let (session, user, jwt_slot) = match state.sessions.resolve(&token).await? {
            Lookup::Valid(found) => *found,
            Lookup::Gone => return Ok(AuthReply::new(NullableObject(None)).no_store().clear_cookies(names)),
        };
        let jwt = session_jwt(&state, &user, &jwt_slot).await;
        let skip_refresh = credentials.dont_remember || disable_refresh.0.is_some_and(|v| !v.is_empty());
        if skip_refresh || !state.sessions.refresh_due(&session, time::OffsetDateTime::now_utc()) {
            let body = NullableObject(Some(SessionWithUser::new(&session, &user, &token)));
            return Ok(AuthReply::new(body).no_store().jwt(jwt));
        }
        let Some(session) = state.sessions.refresh(session).await? else {
            return Err(AuthError::FailedToGetSession { set_cookies: names.clear_all() }.into());
        };
        tracing::debug!(session.id = %session.id, "session refreshed");
        Ok(AuthReply::new(NullableObject(Some(SessionWithUser::new(&session, &user, &token))))
            .no_store()
            .jwt(jwt)
            .session_cookie(names, &token, state.sessions.refreshed_cookie_max_age(&session), secret))
    }

    /// Refresh a deferred session (not supported)
    ///
    /// Better Auth answers `405 METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED` unless deferred
    /// refresh is configured; this service refreshes on `GET` and does the same.
    #[oai(path = "/get-session", method = "post", operation_id = "post_get_session", hidden)]
    async fn post_get_session(&self) -> Result<Success<UserDto>, PostSessionError> {
        Err(AuthError::DeferSessionRefreshRequired.into())
    }

    /// Check that the auth service is up
    ///
    /// Better Auth's `GET /ok`: always `{"ok":true}`.
    #[oai(path = "/ok", method = "get", operation_id = "get_auth_ok")]
    async fn ok(&self, _auth: NoAuth) -> Result<Success<OkResponse>, OkError> {
        Ok(Success(OkResponse { ok: true }))
    }
}

/// The `set-auth-jwt` value for a `get-session` answer (`docs/better-auth-plugins.md` §JWT): a
/// JWT unless `JWT_SESSION_HEADER=false`, the one kept in the session's cache entry while most
/// of its lifetime remains (`auth::jwt`). The session answer does not depend on it: when no
/// token can be signed (the key table unreachable before the first key was loaded) the header
/// is left out and a warning logged.
async fn session_jwt(state: &AppState, user: &User, slot: &JwtSlot) -> Option<String> {
    if !state.config.jwt.session_header {
        return None;
    }
    match state.jwts.session_token(user, slot).await {
        Ok(token) => Some(token),
        Err(err) => {
            tracing::warn!(error = %err, "no set-auth-jwt header: the JWT could not be signed");
            None
        }
    }
}
