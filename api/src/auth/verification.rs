//! Email-verification tokens: Better Auth's stateless HS256 JWTs (`docs/better-auth-wire.md` §3.6):
//! `{"email", "userId", "iat", "exp"}` plus `updateTo` and `requestType` for email changes,
//! signed with `AUTH_SECRET`; the signature is checked in constant time and `alg` must be HS256.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::AuthSecret;

/// What a verification JWT asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerificationClaims {
    /// The (current) address of the user.
    pub(crate) email: String,
    /// The user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    /// For an email change: the new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) update_to: Option<String>,
    /// For an email change: `change-email-verification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_type: Option<String>,
    /// For an email change, this service only: when the password was last set (Unix
    /// milliseconds); a password set since cancels the link (`docs/better-auth-wire.md` §12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) password_set_at: Option<i64>,
    /// Issued at (seconds).
    pub(crate) iat: i64,
    /// Expires at (seconds).
    pub(crate) exp: i64,
}

/// Why a verification token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Malformed, wrong algorithm, or bad signature.
    Invalid,
    /// Well-formed and genuine, but past `exp`.
    Expired,
}

const JWT_HEADER: &str = r#"{"alg":"HS256"}"#;

fn mac(secret: &AuthSecret) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.expose_bytes()).expect("HMAC takes keys of any length")
}

/// Signs claims as a compact HS256 JWT.
pub(crate) fn sign_jwt(claims: &VerificationClaims, secret: &AuthSecret) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(JWT_HEADER), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Verifies a compact HS256 JWT and returns its claims.
pub(crate) fn verify_jwt(
    token: &str,
    secret: &AuthSecret,
    now: OffsetDateTime,
) -> Result<VerificationClaims, TokenProblem> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Invalid);
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenProblem::Invalid)?;
    if header["alg"] != "HS256" {
        return Err(TokenProblem::Invalid);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenProblem::Invalid)?;
    let mut mac = mac(secret);
    mac.update(format!("{}.{payload}", token.split('.').next().unwrap_or_default()).as_bytes());
    mac.verify_slice(&signature).map_err(|_| TokenProblem::Invalid)?;
    let claims: VerificationClaims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenProblem::Invalid)?;
    if claims.exp <= now.unix_timestamp() {
        return Err(TokenProblem::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> AuthSecret {
        AuthSecret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_owned()).expect("valid")
    }

    fn claims(exp_in: i64) -> VerificationClaims {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        VerificationClaims {
            email: "a@example.com".to_owned(),
            user_id: Some("u1".to_owned()),
            update_to: None,
            request_type: None,
            password_set_at: None,
            iat: now,
            exp: now + exp_in,
        }
    }

    #[test]
    fn jwts_round_trip_and_expire() {
        let now = OffsetDateTime::now_utc();
        let token = sign_jwt(&claims(3600), &secret());
        assert_eq!(verify_jwt(&token, &secret(), now), Ok(claims(3600)));
        let expired = sign_jwt(&claims(-1), &secret());
        assert_eq!(verify_jwt(&expired, &secret(), now), Err(TokenProblem::Expired));
    }

    #[test]
    fn forged_or_malformed_jwts_are_invalid() {
        let now = OffsetDateTime::now_utc();
        let token = sign_jwt(&claims(3600), &secret());
        let other = AuthSecret::new("another-secret-0123456789abcdefghijklmnop".to_owned()).expect("valid");
        let (head, rest) = token.split_once('.').expect("three parts");
        let none_alg = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        let mut flipped = token.clone();
        flipped.pop();
        flipped.push(if token.ends_with('A') { 'B' } else { 'A' });
        for (bad, reason) in [
            (sign_jwt(&claims(3600), &other), "other secret"),
            (none_alg, "alg none"),
            (flipped, "signature changed"),
            (format!("{head}.e30.{}", token.rsplit('.').next().unwrap_or_default()), "payload swapped"),
            ("a.b".to_owned(), "two parts"),
            (String::new(), "empty"),
        ] {
            assert_eq!(verify_jwt(&bad, &secret(), now), Err(TokenProblem::Invalid), "{reason}");
        }
    }
}
