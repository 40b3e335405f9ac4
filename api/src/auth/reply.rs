//! [`AuthReply`]: a 200 JSON response plus the exact `Set-Cookie` lines, the bearer plugin's
//! `set-auth-token` header (`docs/better-auth-wire.md` §4.2, §9) and the `jwt` plugin's
//! `set-auth-jwt` (`docs/better-auth-plugins.md` §JWT).
//!
//! poem-openapi's header responses keep only one `Set-Cookie` and its cookie jar re-encodes
//! values, so this type writes the lines itself; its OpenAPI metadata still documents them.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, header},
};
use poem_openapi::{
    ApiResponse,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

use crate::{
    auth::{cookies::CookieSettings, token::SessionToken},
    config::AuthSecret,
};

/// A successful auth response: JSON body, cookies, and headers.
pub(crate) struct AuthReply<T> {
    body: T,
    set_cookies: Vec<String>,
    auth_token: Option<String>,
    jwt: Option<String>,
    no_store: bool,
    location: Option<String>,
    exposed: Vec<(&'static str, String)>,
}

impl<T> AuthReply<T> {
    /// A 200 with this body and no extra headers.
    pub(crate) fn new(body: T) -> Self {
        Self {
            body,
            set_cookies: Vec::new(),
            auth_token: None,
            no_store: false,
            location: None,
            jwt: None,
            exposed: Vec::new(),
        }
    }

    /// Adds one exact `Set-Cookie` line (built by [`CookieSettings`]).
    #[must_use]
    pub(crate) fn cookie(mut self, line: String) -> Self {
        self.set_cookies.push(line);
        self
    }

    /// Adds a header for clients without cookies, listed in `Access-Control-Expose-Headers`.
    #[must_use]
    pub(crate) fn exposed_header(mut self, name: &'static str, value: String) -> Self {
        self.exposed.push((name, value));
        self
    }

    /// Sets the signed session cookie (`max_age: None` for a browser-session cookie) and, as
    /// Better Auth's bearer plugin does, `set-auth-token` with the signed value.
    #[must_use]
    pub(crate) fn session_cookie(
        mut self,
        names: &CookieSettings,
        token: &SessionToken,
        max_age: Option<u64>,
        secret: &AuthSecret,
    ) -> Self {
        self.set_cookies.push(names.set_signed(&names.session_token, token.expose(), max_age, secret));
        self.auth_token = Some(crate::auth::cookies::sign(token.expose(), secret));
        self
    }

    /// Sets the signed `dont_remember` flag cookie.
    #[must_use]
    pub(crate) fn dont_remember_cookie(mut self, names: &CookieSettings, secret: &AuthSecret) -> Self {
        self.set_cookies.push(names.set_signed(&names.dont_remember, "true", None, secret));
        self
    }

    /// Clears only the `dont_remember` cookie.
    #[must_use]
    pub(crate) fn clear_dont_remember(mut self, names: &CookieSettings) -> Self {
        self.set_cookies.push(names.clear(&names.dont_remember));
        self
    }

    /// Clears all three cookies.
    #[must_use]
    pub(crate) fn clear_cookies(mut self, names: &CookieSettings) -> Self {
        self.set_cookies.extend(names.clear_all());
        self
    }

    /// Adds the `jwt` plugin's `set-auth-jwt` header (`get-session` with a session).
    #[must_use]
    pub(crate) fn jwt(mut self, token: Option<String>) -> Self {
        self.jwt = token;
        self
    }

    /// Adds `Cache-Control: no-store` and `Pragma: no-cache`.
    #[must_use]
    pub(crate) fn no_store(mut self) -> Self {
        self.no_store = true;
        self
    }

    /// Adds a `Location` header (sign-in with `callbackURL`, still status 200).
    #[must_use]
    pub(crate) fn location(mut self, url: Option<String>) -> Self {
        self.location = url;
        self
    }
}

impl<T: ToJSON + Send> IntoResponse for AuthReply<T> {
    fn into_response(self) -> Response {
        let mut response = poem::web::Json(self.body.to_json()).into_response();
        let headers = response.headers_mut();
        for line in &self.set_cookies {
            if let Ok(value) = HeaderValue::from_str(line) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        let mut exposed = self.exposed;
        if let Some(jwt) = self.jwt {
            exposed.insert(0, ("set-auth-jwt", jwt));
        }
        if let Some(token) = self.auth_token {
            exposed.insert(0, ("set-auth-token", token));
        }
        let mut names = Vec::new();
        for (name, value) in exposed {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
                names.push(name);
            }
        }
        if let Ok(value) = HeaderValue::from_str(&names.join(", "))
            && !names.is_empty()
        {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
        if self.no_store {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        if let Some(location) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

impl<T: Type + ToJSON + Send> ApiResponse for AuthReply<T> {
    fn meta() -> MetaResponses {
        let string = || MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")));
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Success",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: T::schema_ref(),
                }],
                headers: vec![
                    MetaHeader {
                        name: "Set-Cookie".to_owned(),
                        description: Some(
                            "Session cookies, when this operation sets or clears them: `better-auth.session_token` \
                             (HttpOnly, SameSite=Lax, signed), and `better-auth.dont_remember` for `rememberMe: false`. \
                             Names and attributes follow COOKIE_PREFIX, COOKIE_DOMAIN and COOKIE_SAMESITE \
                             (defaults shown), with `__Secure-` and `Secure` on https."
                                .to_owned(),
                        ),
                        required: false,
                        deprecated: false,
                        schema: string(),
                    },
                    MetaHeader {
                        name: "set-auth-token".to_owned(),
                        description: Some(
                            "The signed session token for clients without cookies: send it back as \
                             `Authorization: Bearer <value>`. Present whenever a session cookie is set."
                                .to_owned(),
                        ),
                        required: false,
                        deprecated: false,
                        schema: string(),
                    },
                    MetaHeader {
                        name: "set-auth-jwt".to_owned(),
                        description: Some(
                            "Only on `get-session` with a session (unless JWT_SESSION_HEADER=false): a fresh JWT \
                             for other backends, as `GET /api/auth/token` returns it."
                                .to_owned(),
                        ),
                        required: false,
                        deprecated: false,
                        schema: string(),
                    },
                ],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
