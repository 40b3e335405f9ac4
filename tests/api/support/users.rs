//! Users of the service: signed up or in over HTTP ([`User`], holding everything a sign-up or
//! sign-in hands a client) and sessions presented by cookie or bearer token ([`Credential`]).

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    http::{ClientOptions, header_str, ok_json, plain_client},
    server::Service,
    wire::session_cookie_pair,
};

/// A valid password; every [`User`] signs up with it.
pub const PASSWORD: &str = "correct horse battery";

/// `POST`: sign up with email and password.
pub const SIGN_UP: &str = "/api/auth/sign-up/email";
/// `POST`: sign in with email and password.
pub const SIGN_IN: &str = "/api/auth/sign-in/email";
/// `POST`: end the presented session.
pub const SIGN_OUT: &str = "/api/auth/sign-out";
/// `GET`: the presented session and its user, or `null`.
pub const GET_SESSION: &str = "/api/auth/get-session";

/// Which client a [`User`]'s own requests go through, and so how they authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A browser page on the trusted origin: a cookie jar holding the session cookie, and
    /// `Origin` on every request.
    Browser,
    /// A native app or SDK: no cookies, no `Origin`; `Authorization: Bearer` on every request.
    Bearer,
}

/// A user with one session, as a sign-up or sign-in handed it to the client.
#[derive(Clone, Debug)]
pub struct User {
    /// The address signed up or in with.
    pub email: String,
    /// The user's id (`user.id`).
    pub id: String,
    /// The raw session token (the response body's `token`).
    pub token: String,
    /// The `set-auth-token` header: the signed token, for `Authorization: Bearer`.
    pub bearer: String,
    /// `<session cookie name>=<value>` exactly as `Set-Cookie` gave it, ready for a `Cookie`
    /// header.
    pub cookie: String,
    base: String,
    client: Client,
    via: Via,
}

impl User {
    /// Signs up `email` (with [`PASSWORD`]) from a native app (see [`Via::Bearer`]).
    pub async fn sign_up(at: &impl Service, email: &str) -> Self {
        Self::sign_up_via(at, email, Via::Bearer).await
    }

    /// Signs up `email` (with [`PASSWORD`]) through a new client of the given kind.
    pub async fn sign_up_via(at: &impl Service, email: &str, via: Via) -> Self {
        let body = json!({"name": "Test User", "email": email, "password": PASSWORD});
        Self::arrive(at, SIGN_UP, &body, email, via).await
    }

    /// Signs `email` in from a native app: another session of an existing user.
    pub async fn sign_in(at: &impl Service, email: &str, password: &str) -> Self {
        Self::sign_in_via(at, email, password, Via::Bearer).await
    }

    /// Signs `email` in through a new client of the given kind: another session.
    pub async fn sign_in_via(at: &impl Service, email: &str, password: &str, via: Via) -> Self {
        Self::arrive(at, SIGN_IN, &json!({"email": email, "password": password}), email, via).await
    }

    async fn arrive(at: &impl Service, path: &str, body: &Value, email: &str, via: Via) -> Self {
        let client = match via {
            Via::Browser => ClientOptions::default().browser(),
            Via::Bearer => ClientOptions::default(),
        }
        .build();
        let response = client.post(format!("{}{path}", at.base())).json(body).send().await.expect("request sent");
        let status = response.status();
        let bearer = header_str(&response, "set-auth-token");
        let cookie = session_cookie_pair(&response);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{path} for {email}: {body}");
        Self {
            email: email.to_owned(),
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            token: body["token"].as_str().expect("session token").to_owned(),
            bearer: bearer.expect("set-auth-token header"),
            cookie: cookie.expect("session cookie"),
            base: at.base().to_owned(),
            client,
            via,
        }
    }

    /// The same session, talking to another server (an instance on the same database).
    pub fn on(&self, at: &impl Service) -> Self {
        Self { base: at.base().to_owned(), ..self.clone() }
    }

    /// The `Authorization` header value for this session.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.bearer)
    }

    /// A request through this user's own client, authenticated its way (see [`Via`]).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match self.via {
            Via::Browser => request,
            Via::Bearer => request.bearer_auth(&self.bearer),
        }
    }

    /// `GET` through this user's client.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("request sent")
    }

    /// `POST` JSON through this user's client.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.expect("request sent")
    }

    /// `POST` JSON from another, cookie-less client presenting only this session's cookie, and
    /// `Origin: origin` if given: the cookie-carrying write a forged cross-site request makes.
    pub async fn post_with_cookie(&self, path: &str, body: &Value, origin: Option<&str>) -> Response {
        let request = plain_client().post(format!("{}{path}", self.base)).header("cookie", &self.cookie);
        let request = match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        };
        request.json(body).send().await.expect("request sent")
    }

    /// `GET /get-session` through this user's client: the JSON body (`null` when signed out).
    pub async fn session(&self) -> Value {
        ok_json(self.get(GET_SESSION).await).await
    }
}

/// Signs `email` in with [`PASSWORD`] from a cookie-less client that adds `headers` (`Origin`,
/// Fetch Metadata, `X-Forwarded-For`, …); the raw response.
pub async fn sign_in_with_headers(at: &impl Service, email: &str, headers: &[(&str, &str)]) -> Response {
    let request = plain_client().post(format!("{}{SIGN_IN}", at.base()));
    let request = headers.iter().fold(request, |request, (name, value)| request.header(*name, *value));
    request.json(&json!({"email": email, "password": PASSWORD})).send().await.expect("request sent")
}

/// Signs in with a cookie-less client and returns the status (for "which password works").
pub async fn sign_in_status(at: &impl Service, email: &str, password: &str) -> StatusCode {
    plain_client()
        .post(format!("{}{SIGN_IN}", at.base()))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request sent")
        .status()
}

/// How a request presents a session.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A whole `Cookie` header.
    Cookie(String),
    /// The value after `Authorization: Bearer `.
    Bearer(String),
}

impl Credential {
    /// Adds this credential to a request.
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Cookie(cookie) => request.header("cookie", cookie),
            Self::Bearer(value) => request.bearer_auth(value),
        }
    }
}

/// `GET /get-session` presenting `credential` from a client that holds no cookies.
pub async fn get_session(at: &impl Service, credential: &Credential) -> Response {
    let request = plain_client().get(format!("{}{GET_SESSION}", at.base()));
    credential.apply(request).send().await.expect("request sent")
}

/// `GET /get-session` presenting a `Cookie` header.
pub async fn get_session_with_cookie(at: &impl Service, cookie: &str) -> Response {
    get_session(at, &Credential::Cookie(cookie.to_owned())).await
}

/// `GET /get-session` presenting `Authorization: Bearer <value>`.
pub async fn get_session_with_bearer(at: &impl Service, value: &str) -> Response {
    get_session(at, &Credential::Bearer(value.to_owned())).await
}

/// The `get-session` body (`null` when no session) when presenting a bearer value.
pub async fn session_for_bearer(at: &impl Service, value: &str) -> Value {
    ok_json(get_session_with_bearer(at, value).await).await
}

/// The `get-session` body (`null` when no session) when presenting a `Cookie` header.
pub async fn session_for_cookie(at: &impl Service, cookie: &str) -> Value {
    ok_json(get_session_with_cookie(at, cookie).await).await
}
