//! The Better Auth endpoints (`better-auth-wire.md` §3).

use poem_openapi::{Object, OpenApi, payload::Json};

use crate::app::ApiTags;

/// Operations under `/api/auth`.
pub struct AuthApi;

/// Answer of `GET /api/auth/ok`.
#[derive(Debug, Object)]
pub struct OkResponse {
    /// Always `true`.
    pub ok: bool,
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Check that the auth service is up
    ///
    /// Better Auth's `GET /ok`: always `{"ok":true}`.
    #[oai(path = "/ok", method = "get", operation_id = "get_auth_ok")]
    async fn ok(&self) -> Json<OkResponse> {
        Json(OkResponse { ok: true })
    }
}
