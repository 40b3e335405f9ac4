//! The Better Auth endpoints under `/api/auth` (`better-auth-wire.md` §3): HTTP shape only.
//! Each handler checks origins, validates its body, calls the domain (`account`, `session`) and
//! shapes the reply with cookies.

use poem::{Request, http::header, web::Data};
use poem_openapi::{Object, OpenApi, param::Query};

use crate::{
    api_errors,
    app::{ApiTags, AppState},
    auth::{
        account::{self, SignUp},
        csrf,
        dto::{
            SessionWithUser, SignInRequest, SignInResponse, SignOutRequest, SignUpRequest, SignUpResponse,
            SuccessResponse, UserDto,
        },
        error::{AuthError, RedirectField},
        guard::{NoAuth, OptionalAuth, read_credentials},
        reply::AuthReply,
        repo,
        session::{self, ClientInfo, Lookup},
    },
    http::{
        body::{JsonBody, JsonOrFormBody},
        client_ip::{client_ip, normalised},
        schema::{NullableObject, Success},
    },
};

/// Operations under `/api/auth`.
pub struct AuthApi;

/// Answer of `GET /api/auth/ok`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct OkResponse {
    /// Always `true`.
    pub ok: bool,
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

/// Where a new session comes from: the client address (socket, or `X-Forwarded-For` from a
/// trusted proxy) and its `User-Agent`.
pub fn client_info(req: &Request, state: &AppState) -> ClientInfo {
    ClientInfo {
        ip_address: client_ip(req, &state.config.trusted_proxies).map(normalised).unwrap_or_default(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
    }
}

/// Max-Age of a new session cookie: none for `rememberMe: false` (a browser-session cookie).
pub fn cookie_max_age(remember: bool, state: &AppState) -> Option<u64> {
    remember.then(|| state.config.session.expires_in.as_secs())
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
        _auth: NoAuth,
        body: JsonOrFormBody<SignUpRequest>,
    ) -> Result<AuthReply<SignUpResponse>, SignUpError> {
        csrf::check_cookie_request(req, &state.origins)?;
        csrf::check_login(req, &state.origins)?;
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        let input = SignUp::try_from(request)?;
        let remember = input.remember();
        let signed_up = account::sign_up(&state, input, &client_info(req, &state)).await?;
        let user = (&signed_up.user).into();
        // With email verification required there is no session until the address is verified.
        let Some((_session, token)) = signed_up.session else {
            return Ok(AuthReply::new(SignUpResponse { token: None, user }));
        };
        let names = &state.cookie_names;
        let secret = &state.config.auth_secret;
        let reply = AuthReply::new(SignUpResponse { token: Some(token.expose().to_owned()), user }).session_cookie(
            names,
            &token,
            cookie_max_age(remember, &state),
            secret,
        );
        Ok(if remember { reply } else { reply.dont_remember_cookie(names, secret) })
    }

    /// Sign in with email and password
    ///
    /// Starts a new session: sets the HTTP-only session cookie and returns the token (also in
    /// `set-auth-token`). A wrong password and an unknown email get the same
    /// `401 INVALID_EMAIL_OR_PASSWORD`, in the same time. Accepts JSON or a form.
    #[oai(path = "/sign-in/email", method = "post", operation_id = "sign_in_email")]
    async fn sign_in_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: NoAuth,
        body: JsonOrFormBody<SignInRequest>,
    ) -> Result<AuthReply<SignInResponse>, SignInError> {
        csrf::check_cookie_request(req, &state.origins)?;
        csrf::check_login(req, &state.origins)?;
        let request = body.parse().map_err(AuthError::Validation)?;
        csrf::check_redirect(request.callback_url.as_deref(), RedirectField::Callback, &state.origins)?;
        let remember = request.remember_me.unwrap_or(true);
        let (user, _session, token) =
            account::sign_in(&state, &request.email.0, request.password.0, remember, &client_info(req, &state)).await?;
        let names = &state.cookie_names;
        let secret = &state.config.auth_secret;
        let credentials = read_credentials(req, names, secret);
        let url = request.callback_url.filter(|u| !u.is_empty());
        let reply = AuthReply::new(SignInResponse {
            redirect: url.is_some(),
            token: token.expose().to_owned(),
            url: url.clone(),
            user: (&user).into(),
        })
        .session_cookie(names, &token, cookie_max_age(remember, &state), secret)
        .location(url);
        Ok(match (remember, credentials.has_dont_remember_cookie) {
            (false, _) => reply.dont_remember_cookie(names, secret),
            (true, true) => reply.clear_dont_remember(names),
            (true, false) => reply,
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
        _auth: OptionalAuth,
        body: JsonBody<Option<SignOutRequest>>,
    ) -> Result<AuthReply<SuccessResponse>, SignOutError> {
        csrf::check_cookie_request(req, &state.origins)?;
        if body.is_present() {
            body.parse().map_err(AuthError::Validation)?;
        }
        let credentials = read_credentials(req, &state.cookie_names, &state.config.auth_secret);
        if let Some((token, _)) = credentials.token {
            let stored = token.stored(state.config.session.token_storage);
            repo::delete_session_by_token(&state.db, &stored).await?;
            state.session_cache.invalidate_token(&stored);
            tracing::info!("session ended by sign-out");
        }
        Ok(AuthReply::new(SuccessResponse { success: true }).clear_cookies(&state.cookie_names))
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
        let names = &state.cookie_names;
        let secret = &state.config.auth_secret;
        let credentials = read_credentials(req, names, secret);
        let Some((token, _via)) = credentials.token else {
            return Ok(AuthReply::new(NullableObject(None)).no_store());
        };
        let (session, user) =
            match session::find(&state.db, &state.session_cache, &token, &state.config.session).await? {
                Lookup::Valid(found) => *found,
                Lookup::Gone => return Ok(AuthReply::new(NullableObject(None)).no_store().clear_cookies(names)),
            };
        let skip_refresh = credentials.dont_remember || disable_refresh.0.is_some_and(|v| !v.is_empty());
        if skip_refresh || !session::refresh_due(&session, &state.config.session, time::OffsetDateTime::now_utc()) {
            return Ok(AuthReply::new(NullableObject(Some(SessionWithUser::new(&session, &user, &token)))).no_store());
        }
        let Some(session) = session::refresh(&state.db, &state.session_cache, session, &state.config.session).await?
        else {
            return Err(AuthError::FailedToGetSession { set_cookies: names.clear_all() }.into());
        };
        tracing::debug!(session.id = %session.id, "session refreshed");
        let max_age = Some(state.config.session.expires_in.as_secs());
        Ok(AuthReply::new(NullableObject(Some(SessionWithUser::new(&session, &user, &token))))
            .no_store()
            .session_cookie(names, &token, max_age, secret))
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
