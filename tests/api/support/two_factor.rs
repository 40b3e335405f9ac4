//! Two-factor sign-in as clients drive it: an authenticator app ([`Authenticator`], computing
//! codes from a `totpURI` as any RFC 6238 app does), enrolment ([`enrol`]), and a sign-in waiting
//! for its second step ([`Pending`], in a browser with the `two_factor` cookie or in a native
//! app with the `two-factor-token` header).

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::support::{
    http::{ClientOptions, header_str, ok_json, plain_client},
    server::Service,
    users::{PASSWORD, SIGN_IN, User},
    wire::unix_now,
};

/// `POST`: start an enrolment.
pub const ENABLE: &str = "/api/auth/two-factor/enable";
/// `POST`: turn two-factor off.
pub const DISABLE: &str = "/api/auth/two-factor/disable";
/// `POST`: the enrolment's URI again.
pub const GET_TOTP_URI: &str = "/api/auth/two-factor/get-totp-uri";
/// `POST`: new backup codes.
pub const GENERATE_BACKUP_CODES: &str = "/api/auth/two-factor/generate-backup-codes";
/// `POST`: verify a TOTP code.
pub const VERIFY_TOTP: &str = "/api/auth/two-factor/verify-totp";
/// `POST`: verify a backup code.
pub const VERIFY_BACKUP_CODE: &str = "/api/auth/two-factor/verify-backup-code";
/// `POST`: send a code by email.
pub const SEND_OTP: &str = "/api/auth/two-factor/send-otp";
/// `POST`: verify a code sent by email.
pub const VERIFY_OTP: &str = "/api/auth/two-factor/verify-otp";
/// The header a client without cookies carries the pending sign-in in.
pub const TWO_FACTOR_HEADER: &str = "two-factor-token";
/// The sign-in answer's header with the pending sign-in.
pub const SET_TWO_FACTOR_HEADER: &str = "set-two-factor-token";

/// An authenticator app holding one secret.
#[derive(Clone, Debug)]
pub struct Authenticator {
    key: Vec<u8>,
}

impl Authenticator {
    /// Scans an `otpauth://totp/…?secret=<base32>` URI.
    pub fn scan(uri: &str) -> Self {
        let url = url::Url::parse(uri).expect("totpURI is a URL");
        assert_eq!(url.scheme(), "otpauth");
        let secret = url.query_pairs().find(|(k, _)| k == "secret").expect("secret parameter").1.into_owned();
        let key = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).expect("base32 secret");
        Self { key }
    }

    /// The current 30-second step.
    pub fn step_now() -> u64 {
        u64::try_from(unix_now()).expect("after 1970") / 30
    }

    /// The code of a step (RFC 6238: HMAC-SHA-1, 6 digits).
    pub fn code_at(&self, step: u64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key).expect("any key length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let value =
            u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
        format!("{:06}", value % 1_000_000)
    }

    /// The code shown now.
    pub fn code_now(&self) -> String {
        self.code_at(Self::step_now())
    }

    /// A code that is not the code of any step the server accepts now.
    pub fn wrong_code(&self) -> String {
        let step = Self::step_now();
        let taken: Vec<String> = (step - 2..=step + 2).map(|s| self.code_at(s)).collect();
        (0..10).map(|d| format!("{d}{d}{d}{d}{d}{d}")).find(|c| !taken.contains(c)).expect("a free code")
    }
}

/// What `enable` answered.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// The authenticator that scanned the `totpURI`.
    pub app: Authenticator,
    /// The ten backup codes.
    pub backup_codes: Vec<String>,
}

/// Starts an enrolment for `user` (not yet confirmed).
pub async fn start_enrolment(user: &User) -> Enrolment {
    let body = ok_json(user.post(ENABLE, &json!({"password": PASSWORD})).await).await;
    let uri = body["totpURI"].as_str().expect("totpURI").to_owned();
    let backup_codes = body["backupCodes"]
        .as_array()
        .expect("backupCodes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    Enrolment { app: Authenticator::scan(&uri), backup_codes }
}

/// Enrols `user` and confirms with the current code: two-factor sign-in is on. Returns the
/// enrolment and the user with the session that replaced theirs. The step used is spent.
pub async fn enrol(user: &User) -> (Enrolment, User) {
    let enrolment = start_enrolment(user).await;
    let response = user.post(VERIFY_TOTP, &json!({"code": enrolment.app.code_now()})).await;
    let bearer = header_str(&response, "set-auth-token");
    let body = ok_json(response).await;
    let mut user = user.clone();
    user.token = body["token"].as_str().expect("token").to_owned();
    user.bearer = bearer.expect("set-auth-token");
    (enrolment, user)
}

/// A sign-in waiting for its second step.
pub struct Pending {
    /// The sign-in answer's body.
    pub body: Value,
    /// Its `Set-Cookie` lines.
    pub set_cookies: Vec<String>,
    /// The `set-two-factor-token` header.
    pub token: String,
    client: Client,
    base: String,
    browser: bool,
}

impl Pending {
    /// Signs `email` in from a browser (cookie jar, trusted `Origin`) that must be challenged.
    pub async fn browser(at: &impl Service, email: &str) -> Self {
        Self::start(at, email, ClientOptions::default().browser().build(), true).await
    }

    /// Signs `email` in from a native app (no cookies) that must be challenged.
    pub async fn app(at: &impl Service, email: &str) -> Self {
        Self::start(at, email, plain_client(), false).await
    }

    /// Signs `email` in from `client` (a browser one keeps its cookies).
    pub async fn start(at: &impl Service, email: &str, client: Client, browser: bool) -> Self {
        let response = client
            .post(format!("{}{SIGN_IN}", at.base()))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookies = crate::support::http::set_cookies(&response);
        let token = header_str(&response, SET_TWO_FACTOR_HEADER).expect("set-two-factor-token header");
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["twoFactorRedirect"], json!(true), "a challenge, not a session: {body}");
        Self { body, set_cookies, token, client, base: at.base().to_owned(), browser }
    }

    /// `POST` the second step: the browser sends its cookies, the app the header.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        let request = self.client.post(format!("{}{path}", self.base)).json(body);
        let request = if self.browser { request } else { request.header(TWO_FACTOR_HEADER, &self.token) };
        request.send().await.expect("request sent")
    }

    /// The client (a browser keeps the session cookie after success).
    pub fn client(&self) -> &Client {
        &self.client
    }
}
