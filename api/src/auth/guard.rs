//! Who is calling: the signed session cookie or a bearer token, resolved to the current session
//! and user, and the security extractors every operation takes exactly one of: [`SessionAuth`]
//! (a session is required), [`OptionalAuth`], [`NoAuth`] and [`SignInAuth`].
//!
//! CSRF by construction: each of these extractors applies the cookie-write origin check
//! (`auth::csrf`) to an unsafe request before the handler runs, so no handler can forget it;
//! [`SignInAuth`] adds the login-CSRF check. Only [`SessionAuth`] exempts a request with a
//! valid bearer token (it authenticates by that token, not by the ambient cookie). A handler
//! declares its security extractor after its body and parameters when those must be refused
//! first (415 before 403, as Better Auth orders them).
//!
//! Reading follows Better Auth with its `bearer` plugin (`docs/better-auth-wire.md` §4.3, §9):
//! a valid `Authorization: Bearer` (signed value, percent-encoded or not, or the raw token)
//! overrides the cookie; a bearer value with a bad signature is ignored. In the OpenAPI spec the
//! scheme appears as two alternatives, `cookieAuth` and `bearerAuth`, so Swagger UI and
//! generated SDKs can use either.

use poem::{Request, RequestBody, http::header};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use crate::{
    auth::{
        cookies::{self, CookieSettings},
        csrf,
        error::AuthError,
        model::ClientInfo,
        sessions::{AuthVia, CurrentSession, Lookup},
        token::SessionToken,
    },
    config::AuthSecret,
    error::ApiError,
    http::client_ip::{client_ip, normalised},
    state::AppState,
};

/// What a request presents.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// The verified token and how it came, if any.
    pub(crate) token: Option<(SessionToken, AuthVia)>,
    /// Whether the signed `dont_remember` flag cookie is present and valid.
    pub(crate) dont_remember: bool,
    /// Whether a `dont_remember` cookie of any kind was sent (to clear it on a remembered sign-in).
    pub(crate) has_dont_remember_cookie: bool,
    /// A pending two-factor sign-in: the signed `two_factor` cookie, or for clients without
    /// cookies the [`TWO_FACTOR_HEADER`] (same signed value), verified.
    pub(crate) two_factor: Option<String>,
    /// The signed `trust_device` cookie's value, verified.
    pub(crate) trust_device: Option<String>,
    /// Whether a `trust_device` cookie of any kind was sent.
    pub(crate) has_trust_device_cookie: bool,
}

/// The request header a client without cookies sends the pending two-factor sign-in in (the
/// value of the `set-two-factor-token` header of sign-in).
pub(crate) const TWO_FACTOR_HEADER: &str = "two-factor-token";

/// Where a new session comes from: the client address (socket, or `X-Forwarded-For` from a
/// trusted proxy) and its `User-Agent`.
pub(crate) fn client_info(req: &Request, state: &AppState) -> ClientInfo {
    let ip_address = client_ip(req, &state.config.trusted_proxies).map(normalised).unwrap_or_default();
    let user_agent = req.headers().get(header::USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()));
    ClientInfo::new(&ip_address, user_agent.as_deref().unwrap_or_default())
}

/// Reads and verifies the request's cookie and bearer credentials.
pub(crate) fn read_credentials(req: &Request, names: &CookieSettings, secret: &AuthSecret) -> Credentials {
    let cookie_header = req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie_token = cookies::find_cookie(cookie_header, &names.session_token)
        .and_then(|value| cookies::verify(&value, secret))
        .map(|token| (SessionToken::from_client(token), AuthVia::Cookie));
    let bearer_token = bearer_value(req).and_then(|value| verify_bearer(&value, secret));
    let dont_remember_cookie = cookies::find_cookie(cookie_header, &names.dont_remember);
    let signed_cookie =
        |name: &str| cookies::find_cookie(cookie_header, name).and_then(|v| cookies::verify(&v, secret));
    let two_factor_header = req
        .headers()
        .get(TWO_FACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cookies::verify(&cookies::decode_uri_component(v.trim()), secret));
    let trust_device_cookie = cookies::find_cookie(cookie_header, &names.trust_device);
    Credentials {
        two_factor: two_factor_header.or_else(|| signed_cookie(&names.two_factor)),
        trust_device: trust_device_cookie.as_deref().and_then(|v| cookies::verify(v, secret)),
        has_trust_device_cookie: trust_device_cookie.is_some(),
        token: bearer_token.map(|token| (token, AuthVia::Bearer)).or(cookie_token),
        dont_remember: dont_remember_cookie
            .as_deref()
            .and_then(|value| cookies::verify(value, secret))
            .is_some_and(|flag| flag == "true"),
        has_dont_remember_cookie: dont_remember_cookie.is_some(),
    }
}

/// The value after `Bearer ` (scheme matched case-insensitively), trimmed; `None` if empty.
fn bearer_value(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return None;
    }
    let token = value[7..].trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// A signed bearer value is verified; an unsigned one is the raw token (§9 step 2).
fn verify_bearer(value: &str, secret: &AuthSecret) -> Option<SessionToken> {
    if !value.contains('.') {
        return is_token_shaped(value).then(|| SessionToken::from_client(value.to_owned()));
    }
    let decoded = cookies::decode_uri_component(value);
    cookies::verify_lenient(&decoded, secret).map(SessionToken::from_client)
}

/// Raw tokens are short alphanumeric strings; anything else cannot be one of ours, and
/// refusing it early keeps garbage out of the database query.
fn is_token_shaped(value: &str) -> bool {
    (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Resolves the request's session or fails with 401 (plus clearing cookies when the cookie's
/// session is gone, as Better Auth does).
pub(crate) async fn require_session(req: &Request, state: &AppState) -> Result<CurrentSession, ApiError> {
    let credentials = read_credentials(req, &state.cookies, &state.config.auth_secret);
    let Some((token, via)) = credentials.token else {
        return Err(AuthError::Unauthorized { set_cookies: Vec::new() }.into());
    };
    match state.sessions.resolve(&token).await? {
        Lookup::Valid(found) => {
            let (session, user, _) = *found;
            Ok(CurrentSession { session, user, token })
        }
        Lookup::Gone => {
            let set_cookies = if via == AuthVia::Cookie { state.cookies.clear_all() } else { Vec::new() };
            Err(AuthError::Unauthorized { set_cookies }.into())
        }
    }
}

/// The application state a request carries (set by `app::routes`).
fn state_of(req: &Request) -> Result<&AppState, ApiError> {
    req.data::<AppState>().ok_or_else(|| ApiError::Internal("application state missing".to_owned()))
}

/// The cookie-write origin check of every security extractor: an unsafe request that carries
/// cookies must come from a trusted origin. Safe methods return before any lookup.
fn check_cookie_write(req: &Request) -> Result<(), ApiError> {
    if csrf::is_unsafe(req.method()) {
        csrf::check_cookie_request(req, &state_of(req)?.origins)?;
    }
    Ok(())
}

/// The session security scheme: the signed `better-auth.session_token` cookie or
/// `Authorization: Bearer <set-auth-token value>`.
///
/// A state-changing request that carries cookies must also come from a trusted origin (403
/// otherwise, checked before the session); a valid bearer token exempts it.
pub(crate) struct SessionAuth(pub(crate) CurrentSession);

/// Name of the cookie alternative in the OpenAPI document.
const COOKIE_SCHEME: &str = "cookieAuth";
/// Name of the bearer alternative in the OpenAPI document.
const BEARER_SCHEME: &str = "bearerAuth";

impl<'a> ApiExtractor<'a> for SessionAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "The session token from the `set-auth-token` response header of sign-in or sign-up, \
                     sent as `Authorization: Bearer <token>`. No Origin check applies.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("signed session token"),
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            COOKIE_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The HTTP-only session cookie set by sign-in or sign-up, named `<COOKIE_PREFIX>.session_token`: \
                     `better-auth.session_token` with the default prefix (documented here), \
                     `__Secure-better-auth.session_token` when the service runs on https. State-changing requests \
                     with cookies need a trusted `Origin`.",
                ),
                name: Some("better-auth.session_token"),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER_SCHEME, COOKIE_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let state = state_of(req)?;
        if csrf::is_unsafe(req.method()) {
            let has_valid_bearer =
                bearer_value(req).is_some_and(|v| verify_bearer(&v, &state.config.auth_secret).is_some());
            if !has_valid_bearer {
                csrf::check_cookie_request(req, &state.origins).map_err(ApiError::from)?;
            }
        }
        Ok(Self(require_session(req, state).await?))
    }
}

/// Registers the two session schemes in the OpenAPI document.
fn register_session_schemes(registry: &mut Registry) {
    <SessionAuth as ApiExtractor>::register(registry);
}

/// A public operation (`security: [{}]`): it needs no session, but an unsafe request with
/// cookies still needs a trusted origin. With `LOGIN` (sign-in, sign-up: operations that start
/// a session from credentials) Better Auth's login-CSRF check applies too
/// (`auth::csrf::check_login`), refusing untrusted origins and cross-site navigations even
/// without cookies.
pub(crate) struct Public<const LOGIN: bool>;

/// Declares an operation public.
pub(crate) type NoAuth = Public<false>;

/// Declares a public operation that signs in, with the login-CSRF check.
pub(crate) type SignInAuth = Public<true>;

impl<'a, const LOGIN: bool> ApiExtractor<'a> for Public<LOGIN> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        check_cookie_write(req)?;
        if LOGIN {
            csrf::check_login(req, &state_of(req)?.origins).map_err(ApiError::from)?;
        }
        Ok(Self)
    }
}

/// Declares an operation that uses a session when one is presented and works without
/// (`security: [{bearerAuth: []}, {cookieAuth: []}, {}]`), so Swagger UI and generated clients
/// send their credentials. The handler reads the credentials itself. An unsafe request with
/// cookies needs a trusted origin, bearer token or not.
pub(crate) struct OptionalAuth;

impl<'a> ApiExtractor<'a> for OptionalAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_session_schemes(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER_SCHEME, COOKIE_SCHEME]
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        check_cookie_write(req)?;
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CookieConfig;

    fn secret() -> AuthSecret {
        AuthSecret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_owned()).expect("valid")
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri_str("/api/auth/get-session");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    const TOKEN: &str = "BenzUeeSqrysrG151XVgMbvxqULH0tks";
    const SIGNED: &str = "BenzUeeSqrysrG151XVgMbvxqULH0tks.3+y08XwoJ+HzRvljYM/uiwd2wgqbr0PtCs948WxBcCk=";
    const ENCODED: &str = "BenzUeeSqrysrG151XVgMbvxqULH0tks.3%2By08XwoJ%2BHzRvljYM%2Fuiwd2wgqbr0PtCs948WxBcCk%3D";

    fn token_of(headers: &[(&str, &str)]) -> Option<(String, AuthVia)> {
        read_credentials(&request(headers), &CookieSettings::new(&CookieConfig::default()), &secret())
            .token
            .map(|(t, via)| (t.expose().to_owned(), via))
    }

    #[test]
    fn bearer_accepts_signed_encoded_and_raw_tokens() {
        let cases = [
            format!("Bearer {SIGNED}"),
            format!("Bearer {ENCODED}"),
            format!("bearer {TOKEN}"),
            format!("BEARER   {SIGNED}  "),
        ];
        for value in cases {
            assert_eq!(token_of(&[("authorization", &value)]), Some((TOKEN.to_owned(), AuthVia::Bearer)), "{value}");
        }
    }

    #[test]
    fn bad_bearer_values_are_ignored_and_the_cookie_still_counts() {
        let cookie = format!("better-auth.session_token={ENCODED}");
        let tampered = format!("Bearer {}", SIGNED.replace("BcCk=", "BcCl="));
        for auth in [tampered.as_str(), "Bearer", "Basic abc", "Bearer a.b", "Bearer short", "Bearer ../../etc"] {
            assert_eq!(token_of(&[("authorization", auth)]).map(|t| t.1), None, "{auth}");
            assert_eq!(token_of(&[("authorization", auth), ("cookie", &cookie)]).map(|t| t.1), Some(AuthVia::Cookie));
        }
    }

    #[test]
    fn a_valid_bearer_overrides_the_cookie() {
        let cookie =
            "better-auth.session_token=W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY.92dZuUzbYW2FqtwkoGFGsuByjqxOdT1zvLgRJIkLob4%3D";
        let bearer = format!("Bearer {SIGNED}");
        assert_eq!(
            token_of(&[("cookie", cookie), ("authorization", &bearer)]),
            Some((TOKEN.to_owned(), AuthVia::Bearer))
        );
        assert_eq!(token_of(&[("cookie", cookie)]).map(|t| t.0).as_deref(), Some("W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY"));
    }

    #[test]
    fn cookies_under_another_name_or_unsigned_do_not_count() {
        assert_eq!(token_of(&[("cookie", &format!("__Secure-better-auth.session_token={ENCODED}"))]), None);
        assert_eq!(token_of(&[("cookie", &format!("better-auth.session_token={TOKEN}"))]), None);
    }

    #[test]
    fn the_dont_remember_flag_must_be_signed() {
        let names = CookieSettings::new(&CookieConfig::default());
        let signed = "better-auth.dont_remember=true.1Ue91JS%2BcwPpyhFiSTriJ9vlBOt6RG78rdQqJ%2BTjbEk%3D";
        assert!(read_credentials(&request(&[("cookie", signed)]), &names, &secret()).dont_remember);
        let forged = read_credentials(&request(&[("cookie", "better-auth.dont_remember=true")]), &names, &secret());
        assert!(!forged.dont_remember);
        assert!(forged.has_dont_remember_cookie);
    }
}
