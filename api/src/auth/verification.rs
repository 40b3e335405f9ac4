//! Tokens sent by mail: password-reset tokens and email-verification tokens.
//!
//! Reset tokens are 24 random characters, single use, valid for `RESET_TOKEN_EXPIRES_IN`, and
//! stored only as `verification.identifier = "reset-password:<sha256 hex>"` (Better Auth stores
//! the raw token; a database leak must not allow taking over accounts).
//!
//! Verification tokens are Better Auth's stateless HS256 JWTs (`better-auth-wire.md` §3.6):
//! `{"email", "userId", "iat", "exp"}` plus `updateTo` and `requestType` for email changes,
//! signed with `AUTH_SECRET`; the signature is checked in constant time and `alg` must be HS256.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ConnectionTrait, DbErr, Statement};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::{
    auth::token::{new_id, random_alphanumeric, sha256_hex},
    config::AuthSecret,
    db::{auth_time, read_time},
};

/// What a verification JWT asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationClaims {
    /// The (current) address of the user.
    pub email: String,
    /// The user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For an email change: the new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_to: Option<String>,
    /// For an email change: `change-email-verification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

/// Why a verification token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
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
pub fn sign_jwt(claims: &VerificationClaims, secret: &AuthSecret) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(JWT_HEADER), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Verifies a compact HS256 JWT and returns its claims.
pub fn verify_jwt(token: &str, secret: &AuthSecret, now: OffsetDateTime) -> Result<VerificationClaims, TokenProblem> {
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

/// A new raw password-reset token (what the mail carries).
pub fn new_reset_token() -> String {
    random_alphanumeric(24)
}

fn reset_identifier(token: &str) -> String {
    format!("reset-password:{}", sha256_hex(token))
}

/// Stores a reset token for `user_id`, valid until `expires_at`.
pub async fn store_reset_token(
    db: &impl ConnectionTrait,
    token: &str,
    user_id: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
           VALUES ($1, $2, $3, $4, $5, $5)"#,
        vec![
            new_id().into(),
            reset_identifier(token).into(),
            user_id.into(),
            auth_time(backend, expires_at),
            auth_time(backend, now),
        ],
    ))
    .await?;
    Ok(())
}

/// The user a live reset token belongs to, without consuming it.
pub async fn peek_reset_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, DbErr> {
    live_reset_user(db, r#"SELECT "value", "expiresAt" FROM "verification" WHERE "identifier" = $1"#, token, now).await
}

/// Consumes a reset token: deletes its row and returns the user it belonged to if it was still
/// valid. Of two concurrent uses, only one gets the user.
pub async fn consume_reset_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, DbErr> {
    live_reset_user(
        db,
        r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt""#,
        token,
        now,
    )
    .await
}

/// Runs `sql` (which yields the token's `value` and `expiresAt`) and returns the user id when
/// the token exists and has not expired.
async fn live_reset_user(
    db: &impl ConnectionTrait,
    sql: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, DbErr> {
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, vec![reset_identifier(token).into()]);
    match db.query_one_raw(statement).await? {
        Some(row) if read_time(&row, "expiresAt")? > now => Ok(Some(row.try_get("", "value")?)),
        _ => Ok(None),
    }
}

/// Deletes expired verification rows (periodic clean-up).
pub async fn delete_expired(db: &impl ConnectionTrait, now: OffsetDateTime) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            r#"DELETE FROM "verification" WHERE "expiresAt" < $1"#,
            vec![auth_time(backend, now)],
        ))
        .await?;
    Ok(result.rows_affected())
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

    #[test]
    fn reset_tokens_are_stored_hashed() {
        let token = new_reset_token();
        assert_eq!(token.len(), 24);
        let identifier = reset_identifier(&token);
        assert!(!identifier.contains(&token));
        assert_eq!(identifier.len(), "reset-password:".len() + 64);
    }
}
