//! Session management under `/api/auth` (`docs/better-auth-wire.md` §3.5): list the user's sessions
//! and revoke one, all, or all others. Revocation deletes rows, so it takes effect on the very
//! next request. Also the account's security events (`security-events`, not in Better Auth).
//!
//! Unlike Better Auth, `list-sessions` never returns a usable credential: tokens are stored
//! hashed, and each entry's `token` is the session id, an opaque handle that `revoke-session`
//! accepts (as does the caller's own raw token).

use poem::{Request, web::Data};
use poem_openapi::{OpenApi, param::Query};

use crate::{
    auth::{
        dto::{EmptyRequest, RevokeSessionRequest, SecurityEventPage, SessionDto, SessionList, StatusResponse},
        error::AuthError,
        guard::{SessionAuth, client_info},
        reply::AuthReply,
    },
    error::api_errors,
    http::{body::JsonBody, schema::Success},
    state::AppState,
    tags::ApiTags,
};

/// Session management operations.
pub(crate) struct SessionsApi;

api_errors!(
    /// Errors of `GET /list-sessions`.
    ListSessionsError: 401, 403, 429, 503
);
api_errors!(
    /// Errors of `GET /security-events`.
    SecurityEventsError: 400, 401, 429, 503
);
api_errors!(
    /// Errors of the revoke operations.
    RevokeError: 400, 401, 403, 413, 415, 429, 503
);

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl SessionsApi {
    /// List your active sessions
    ///
    /// Every unexpired session of the signed-in user, oldest first. `token` is an opaque handle
    /// for `revoke-session`, not a credential. Requires a recent sign-in
    /// (`403 SESSION_NOT_FRESH` after `SESSION_FRESH_AGE`, one day by default), as Better Auth.
    #[oai(path = "/list-sessions", method = "get", operation_id = "list_sessions")]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<AuthReply<SessionList>, ListSessionsError> {
        let sessions = state.sessions.list(&auth.0).await?;
        Ok(AuthReply::new(SessionList(sessions.iter().map(|s| SessionDto::new(s, s.id.as_str())).collect())))
    }

    /// Revoke one of your sessions
    ///
    /// `token` is a handle from `list-sessions` (or your own raw token). Always answers
    /// `{"status":true}`; a handle of someone else's session changes nothing. Revoking your own
    /// current session also clears its cookies.
    #[oai(path = "/revoke-session", method = "post", operation_id = "revoke_session")]
    async fn revoke_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<RevokeSessionRequest>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, RevokeError> {
        let request = body.parse().map_err(AuthError::Validation)?;
        let current = auth.0;
        let deleted = state.sessions.revoke(&current, request.token, &client_info(req, &state)).await?;
        let reply = AuthReply::new(StatusResponse { status: true });
        Ok(match deleted {
            Some(id) if id == current.session.id => {
                tracing::info!(session.id = %id, "current session revoked");
                reply.clear_cookies(&state.cookies)
            }
            Some(id) => {
                tracing::info!(session.id = %id, "session revoked");
                reply
            }
            None => reply,
        })
    }

    /// Revoke all your sessions
    ///
    /// Ends every session of the signed-in user, this one included, and clears the cookies.
    #[oai(path = "/revoke-sessions", method = "post", operation_id = "revoke_sessions")]
    async fn revoke_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Option<EmptyRequest>>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, RevokeError> {
        if body.is_present() {
            body.parse().map_err(AuthError::Validation)?;
        }
        let ended = state.sessions.revoke_all(&auth.0.user.id, None, &client_info(req, &state)).await?;
        tracing::info!(user.id = %auth.0.user.id, ended, "all sessions revoked");
        Ok(AuthReply::new(StatusResponse { status: true }).clear_cookies(&state.cookies))
    }

    /// Revoke your other sessions
    ///
    /// Ends every session of the signed-in user except the current one (sign out everywhere
    /// else). The current cookie is untouched.
    #[oai(path = "/revoke-other-sessions", method = "post", operation_id = "revoke_other_sessions")]
    async fn revoke_other_sessions(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Option<EmptyRequest>>,
        auth: SessionAuth,
    ) -> Result<AuthReply<StatusResponse>, RevokeError> {
        if body.is_present() {
            body.parse().map_err(AuthError::Validation)?;
        }
        let client = client_info(req, &state);
        let ended = state.sessions.revoke_all(&auth.0.user.id, Some(&auth.0.session.id), &client).await?;
        tracing::info!(user.id = %auth.0.user.id, ended, "other sessions revoked");
        Ok(AuthReply::new(StatusResponse { status: true }))
    }

    /// Recent security activity on your account
    ///
    /// The signed-in user's security events (sign-ups, sign-ins and refused sign-ins,
    /// sign-outs, revocations, password and email changes), newest first, `limit` at a time
    /// (default 20, at most 100). Pass `nextCursor` as `cursor` for older events. Events are
    /// kept for `AUDIT_RETENTION_DAYS` (90 by default). Not part of Better Auth.
    #[oai(path = "/security-events", method = "get", operation_id = "list_security_events")]
    async fn list_security_events(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// How many events (1 to 100, default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        #[oai(validator(max_length = 20))]
        cursor: Query<Option<String>>,
    ) -> Result<Success<SecurityEventPage>, SecurityEventsError> {
        let page = state.audit.page(&auth.0.user.id, cursor.0.as_deref(), limit.0.unwrap_or(20)).await?;
        Ok(Success(page.into()))
    }
}
