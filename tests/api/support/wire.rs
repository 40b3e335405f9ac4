//! Better Auth's wire format, recomputed here independently of the server so the tests check
//! the server against the format rather than against itself: signed cookie values (HMAC-SHA256,
//! padded standard base64, `encodeURIComponent`; `docs/better-auth-wire.md` §4.3), the exact
//! `Set-Cookie` lines (§4.2), stored token hashes, HS256 verification JWTs (§3.6), the `jwt`
//! plugin's signed tokens checked against a key set, and the shapes of ids and timestamps.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset,
    format_description::{BorrowedFormatItem, well_known::Rfc3339},
    macros::format_description,
};

use crate::support::{http::set_cookies, server::SECRET};

/// The session cookie's name on plain-http deployments (`__Secure-` prefixed under https).
pub const SESSION_COOKIE: &str = "better-auth.session_token";
/// Seven days, the session lifetime and the remembered cookie's `Max-Age`.
pub const WEEK_SECS: u64 = 604_800;
/// What sign-out (and a stale session) sends: the three cookies cleared, in Better Auth's order.
pub const CLEARED: [&str; 3] = [
    "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
];

/// JavaScript's `toISOString()` form: `2026-11-28T06:36:38.913Z`.
const ISO_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// HMAC-SHA256 of `data` under `secret`.
fn hmac_sha256(secret: &str, data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `value.base64(HMAC-SHA256(secret, value))`: a signed value as `set-auth-token` carries it.
pub fn sign_with(value: &str, secret: &str) -> String {
    format!("{value}.{}", STANDARD.encode(hmac_sha256(secret, value)))
}

/// [`sign_with`] the test server's secret.
pub fn sign(value: &str) -> String {
    sign_with(value, SECRET)
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The cookie value Better Auth writes for a token under the test secret: signed, then
/// URI-encoded.
pub fn cookie_value(token: &str) -> String {
    encode_uri_component(&sign(token))
}

/// A `Cookie` request header presenting `token` as the session, as a browser holding Better
/// Auth's cookie sends it.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={}", cookie_value(token))
}

/// The exact `Set-Cookie` line for a session token (`max_age: None` = browser-session cookie).
pub fn session_cookie_line(token: &str, max_age: Option<u64>) -> String {
    let max_age = max_age.map(|age| format!("; Max-Age={age}")).unwrap_or_default();
    format!("{SESSION_COOKIE}={}{max_age}; Path=/; HttpOnly; SameSite=Lax", cookie_value(token))
}

/// The exact `Set-Cookie` line of the `dont_remember` flag.
pub fn dont_remember_line() -> String {
    format!("better-auth.dont_remember={}; Path=/; HttpOnly; SameSite=Lax", cookie_value("true"))
}

/// The `name=value` part of the session cookie a response sets (`[__Secure-]<prefix>.session_token`,
/// whatever `COOKIE_PREFIX` is), ready for a `Cookie` header; `None` when it sets none or clears it.
pub fn session_cookie_pair(response: &Response) -> Option<String> {
    set_cookies(response).into_iter().filter_map(|line| line.split(';').next().map(str::to_owned)).find(|pair| {
        pair.split_once('=').is_some_and(|(name, value)| name.ends_with(".session_token") && !value.is_empty())
    })
}

/// Lower-case hex SHA-256: how session tokens (by default) and reset tokens are stored.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A compact HS256 JWT over `payload` with header `{"alg":"HS256"}`, signed with `secret`: what
/// Better Auth mails as an email-verification token (§3.6).
pub fn sign_hs256_jwt(payload: &Value, secret: &str) -> String {
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#), URL_SAFE_NO_PAD.encode(payload.to_string()));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(hmac_sha256(secret, &input)))
}

/// Whether a compact JWT's signature is HS256 over its first two parts with `secret`.
pub fn jwt_signature_matches(token: &str, secret: &str) -> bool {
    let Some((input, signature)) = token.rsplit_once('.') else { return false };
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret, input)) == signature
}

/// The decoded header and payload of a compact JWT (the signature is not checked).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Value {
        let part = parts.next().unwrap_or_else(|| panic!("JWT {token} has a {what}"));
        let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_else(|err| panic!("JWT {what} is base64url: {err}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("JWT {what} is JSON: {err}"))
    };
    (decode("header"), decode("payload"))
}

/// Verifies a compact JWT signed with a public-key algorithm against a key set (`{"keys":
/// [...]}`), as a backend that knows only the JWKS does: the key is the one whose `kid` the
/// header names, and the header's `alg` must be the key's. Returns the header and the claims;
/// `Err` says why it does not verify (expiry and audience are the caller's to check).
pub fn verify_jwt(token: &str, jwks: &Value) -> Result<(Value, Value), String> {
    use ring::signature::{self, UnparsedPublicKey};
    let (input, signature) = token.rsplit_once('.').ok_or("not a compact JWT")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "signature is not base64url")?;
    let (header, claims) = jwt_parts(token);
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let keys = jwks["keys"].as_array().ok_or("no keys")?;
    let key = keys.iter().find(|key| key["kid"] == kid).ok_or_else(|| format!("no key {kid} in the set"))?;
    if key["alg"] != header["alg"] {
        return Err(format!("alg {} is not the key's {}", header["alg"], key["alg"]));
    }
    let member = |name: &str| -> Result<Vec<u8>, String> {
        let text = key[name].as_str().ok_or_else(|| format!("key has no {name}"))?;
        URL_SAFE_NO_PAD.decode(text).map_err(|_| format!("key {name} is not base64url"))
    };
    let message = input.as_bytes();
    let verified = match header["alg"].as_str() {
        Some("EdDSA") => UnparsedPublicKey::new(&signature::ED25519, member("x")?).verify(message, &signature),
        Some("ES256") => {
            let point = [&[0x04][..], &member("x")?, &member("y")?].concat();
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, &signature)
        }
        Some("RS256") => ring::rsa::PublicKeyComponents { n: member("n")?, e: member("e")? }.verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            message,
            &signature,
        ),
        other => return Err(format!("unexpected alg {other:?}")),
    };
    verified.map_err(|_| "the signature does not verify".to_owned())?;
    Ok((header, claims))
}

/// The current time in whole seconds since the epoch (JWT `iat`/`exp`).
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A well-formed session token the server never issued: 32 characters of `[a-z0-9]`.
pub fn unissued_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Better Auth's ids and tokens: 32 characters of `[a-zA-Z0-9]`.
pub fn is_generated_id(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A time in JavaScript's `toISOString()` form, as Better Auth writes dates on the wire (and in
/// SQLite).
pub fn iso_millis(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(ISO_MILLIS).expect("formats")
}

/// Whether a value is a time in JavaScript's `toISOString()` form: exactly that shape (three
/// fraction digits, `Z`), and a real time.
pub fn is_iso_millis(value: &Value) -> bool {
    let Some(text) = value.as_str() else { return false };
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ".as_bytes();
    text.len() == shape.len()
        && text.bytes().zip(shape).all(|(b, s)| if *s == b'd' { b.is_ascii_digit() } else { b == *s })
        && PrimitiveDateTime::parse(text, ISO_MILLIS).is_ok()
}

/// Parses an RFC 3339 time from a response body or a row read back through the database.
pub fn parse_time(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("expected a date, got {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|err| panic!("{text} is not a date: {err}"))
}

/// Asserts `at` is within a minute of `expected` (time passes while a test runs; this is not a
/// latency check).
pub fn assert_about(at: OffsetDateTime, expected: OffsetDateTime, what: &str) {
    let off = (at - expected).abs();
    assert!(off < time::Duration::minutes(1), "{what}: {at} is not about {expected}");
}
