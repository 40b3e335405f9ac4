//! Better Auth's `jwt` plugin endpoints (`docs/better-auth-plugins.md` §JWT): `GET /api/auth/token`
//! (a JWT for the signed-in user) and the key set that verifies it, `GET /api/auth/jwks`, also
//! at `/.well-known/jwks.json` where JWT libraries look for it. HTTP shape only.
//!
//! Beyond Better Auth, the key set carries `Cache-Control` and an `ETag` (a verifier revalidates
//! with `If-None-Match` and gets `304`): verifiers fetch it rarely, and refetch when a token
//! names a `kid` they have not seen (both `jose` and PyJWT do).

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Header, payload::Json, types::ToJSON};
use sha2::{Digest, Sha256};

use crate::{
    auth::{
        dto::{JwksResponse, PublicJwkDto, TokenResponse},
        guard::{NoAuth, SessionAuth},
    },
    error::{ApiError, api_errors},
    http::schema::Success,
    state::AppState,
    tags::ApiTags,
};

/// How long a verifier may use the key set without asking again.
const JWKS_CACHE_CONTROL: &str = "public, max-age=300, stale-while-revalidate=60";

/// The `jwt` plugin's operations.
pub(crate) struct JwtApi;

api_errors!(
    /// Errors of `GET /api/auth/token`.
    TokenError: 401, 429, 503
);
api_errors!(
    /// Errors of `GET /api/auth/jwks`.
    JwksError: 400, 429, 503
);
api_errors!(
    /// Errors of `GET /.well-known/jwks.json`.
    WellKnownJwksError: 400, 503
);

/// The key set, or "unchanged".
#[derive(ApiResponse)]
pub(crate) enum JwksReply {
    /// The public keys.
    #[oai(status = 200)]
    Ok(
        Json<JwksResponse>,
        /// How long the key set may be cached.
        #[oai(header = "Cache-Control")]
        String,
        /// Version of the key set, for `If-None-Match`.
        #[oai(header = "ETag")]
        String,
    ),
    /// The key set is unchanged since the `ETag` sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        /// How long the key set may be cached.
        #[oai(header = "Cache-Control")]
        String,
        /// Version of the key set.
        #[oai(header = "ETag")]
        String,
    ),
}

#[OpenApi(tag = "ApiTags::Auth")]
impl JwtApi {
    /// Get a JWT for the signed-in user
    ///
    /// A short-lived token (15 minutes by default) that other backends verify offline against
    /// `GET /api/auth/jwks`: header `{alg, kid}`; claims `sub` (the user id), `iss`, `aud`,
    /// `iat`, `exp`, and the user's public fields. Better Auth's `jwt` plugin `GET /token`.
    #[oai(path = "/api/auth/token", method = "get", operation_id = "get_token")]
    async fn token(&self, state: Data<&AppState>, auth: SessionAuth) -> Result<Success<TokenResponse>, TokenError> {
        let token = state.jwts.token_for(&auth.0.user).await?;
        Ok(Success(TokenResponse { token }))
    }

    /// Get the JSON Web Key Set
    ///
    /// The public keys that verify this service's JWTs: the signing key and keys retired less
    /// than `JWKS_GRACE_PERIOD` ago, each with its `kid`. Creates the first key when there is
    /// none. Cacheable (`Cache-Control`, `ETag`; `If-None-Match` gives `304`).
    #[oai(path = "/api/auth/jwks", method = "get", operation_id = "get_jwks")]
    async fn jwks(
        &self,
        state: Data<&AppState>,
        _auth: NoAuth,
        /// An `ETag` from an earlier answer.
        #[oai(name = "If-None-Match", validator(max_length = 1024))]
        if_none_match: Header<Option<String>>,
    ) -> Result<JwksReply, JwksError> {
        Ok(key_set(&state, if_none_match.0.as_deref()).await?)
    }

    /// Get the JSON Web Key Set (well-known location)
    ///
    /// The same key set as `GET /api/auth/jwks`, where JWT libraries and gateways look for it.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "get_well_known_jwks")]
    async fn well_known_jwks(
        &self,
        state: Data<&AppState>,
        _auth: NoAuth,
        /// An `ETag` from an earlier answer.
        #[oai(name = "If-None-Match", validator(max_length = 1024))]
        if_none_match: Header<Option<String>>,
    ) -> Result<JwksReply, WellKnownJwksError> {
        Ok(key_set(&state, if_none_match.0.as_deref()).await?)
    }
}

/// The key set with its caching headers, or `304` when `if_none_match` names its `ETag`.
async fn key_set(state: &AppState, if_none_match: Option<&str>) -> Result<JwksReply, ApiError> {
    let keys = state.jwts.public_keys().await?;
    let body = JwksResponse { keys: keys.into_iter().map(PublicJwkDto::from).collect() };
    let text = body.to_json_string();
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(text.as_bytes())[..16]));
    let cache_control = JWKS_CACHE_CONTROL.to_owned();
    let matches = if_none_match.is_some_and(|header| {
        header.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(&etag))
    });
    Ok(if matches {
        JwksReply::NotModified(cache_control, etag)
    } else {
        JwksReply::Ok(Json(body), cache_control, etag)
    })
}
