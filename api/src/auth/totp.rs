//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) exactly as Better Auth's two-factor
//! plugin computes it (`docs/better-auth-plugins.md` §Two-factor, "TOTP"), so an authenticator
//! enrolled through a Node Better Auth keeps working here and the other way round:
//!
//! - the stored secret (decrypted) is a 32-character string and the HMAC key is its UTF-8
//!   bytes; a secret imported as `base32:<text>` is the base32-decoded bytes;
//! - the `otpauth://` URI carries those key bytes in base32 without padding;
//! - a code is accepted in the current step and one step either side.
//!
//! Unlike Better Auth, [`TotpKey::matching_step`] reports which step matched, so the caller can
//! refuse a step already used (replay). Codes are compared in constant time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::auth::{
    cookies::encode_uri_component,
    token::{random_alphanumeric, random_string},
};

/// Digits of a code.
const DIGITS: u32 = 6;
/// Seconds per step.
pub(crate) const PERIOD: u64 = 30;
/// Steps accepted on either side of the current one.
const WINDOW: u64 = 1;
/// Better Auth's secret alphabet (`generateRandomString`'s default: `a-z0-9A-Z-_`).
const SECRET_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
/// Prefix of a secret imported from another provider.
const BASE32_PREFIX: &str = "base32:";

/// A new secret as Better Auth generates it: 32 characters (stored encrypted).
pub(crate) fn generate_secret() -> String {
    random_string(SECRET_ALPHABET, 32)
}

/// Ten backup codes as Better Auth generates them: `xxxxx-xxxxx` of `[a-zA-Z0-9]`.
pub(crate) fn generate_backup_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let code = random_alphanumeric(10);
            format!("{}-{}", &code[..5], &code[5..])
        })
        .collect()
}

/// The HMAC key of a user's TOTP; a secret, so `Debug` is redacted.
pub(crate) struct TotpKey(Vec<u8>);

impl fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpKey([redacted])")
    }
}

impl TotpKey {
    /// The key of a decrypted stored secret; `None` for a malformed `base32:` import.
    pub(crate) fn from_secret(secret: &str) -> Option<Self> {
        match secret.strip_prefix(BASE32_PREFIX) {
            Some(encoded) => {
                let upper = encoded.trim_end_matches('=').to_ascii_uppercase();
                data_encoding::BASE32_NOPAD.decode(upper.as_bytes()).ok().map(Self)
            }
            None => Some(Self(secret.as_bytes().to_vec())),
        }
    }

    /// The code of one step (HOTP with the step as counter).
    pub(crate) fn code_at(&self, step: u64) -> String {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary =
            u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
        format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
    }

    /// The step `code` belongs to, if it is the code of the step at `unix_seconds` or of one
    /// step either side. Every candidate is compared, in constant time.
    pub(crate) fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        let current = unix_seconds / PERIOD;
        let mut matched = None;
        for step in current.saturating_sub(WINDOW)..=current + WINDOW {
            if bool::from(self.code_at(step).as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(step);
            }
        }
        matched
    }

    /// The `otpauth://totp/` URI an authenticator scans, byte for byte as Better Auth writes it:
    /// label `issuer:account` with `encodeURIComponent`, then `secret`, `issuer`, `digits` and
    /// `period` form-encoded.
    pub(crate) fn uri(&self, issuer: &str, account: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("secret", &data_encoding::BASE32_NOPAD.encode(&self.0))
            .append_pair("issuer", issuer)
            .append_pair("digits", &DIGITS.to_string())
            .append_pair("period", &PERIOD.to_string())
            .finish();
        format!("otpauth://totp/{}:{}?{query}", encode_uri_component(issuer), encode_uri_component(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed by better-auth 1.7.25's `createOTP` for this secret.
    const SECRET: &str = "abcdefghijABCDEFGHIJ0123456789-_";

    #[test]
    fn codes_match_better_auth_and_rfc_6238() {
        let key = TotpKey::from_secret(SECRET).expect("plain secret");
        assert_eq!(key.code_at(1), "223079");
        assert_eq!(key.code_at(59_000_000), "306954");
        // RFC 6238 appendix B, SHA-1, T = 59 s (8 digits 94287082).
        let rfc = TotpKey(b"12345678901234567890".to_vec());
        assert_eq!(rfc.code_at(1), "287082");
    }

    #[test]
    fn the_uri_matches_better_auth_byte_for_byte() {
        let key = TotpKey::from_secret(SECRET).expect("plain secret");
        assert_eq!(
            key.uri("My App & Co", "ann+2fa@example.com"),
            "otpauth://totp/My%20App%20%26%20Co:ann%2B2fa%40example.com?secret=MFRGGZDFMZTWQ2LKIFBEGRCFIZDUQSKKGAYTEMZUGU3DOOBZFVPQ&issuer=My+App+%26+Co&digits=6&period=30"
        );
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let key = TotpKey::from_secret(SECRET).expect("plain secret");
        let now = 1_700_000_000;
        let step = now / PERIOD;
        for offset in [step - 1, step, step + 1] {
            assert_eq!(key.matching_step(&key.code_at(offset), now), Some(offset));
        }
        assert_eq!(key.matching_step(&key.code_at(step - 2), now), None);
        assert_eq!(key.matching_step(&key.code_at(step + 2), now), None);
        assert_eq!(key.matching_step("", now), None);
        assert_eq!(key.matching_step(&format!("{}0", key.code_at(step)), now), None);
    }

    #[test]
    fn imported_base32_secrets_decode_and_bad_ones_are_refused() {
        let key = TotpKey::from_secret("base32:gezdgnbvgy3tqojqgezdgnbvgy3tqojq").expect("valid base32");
        assert_eq!(key.0, b"12345678901234567890");
        assert!(TotpKey::from_secret("base32:not base32!").is_none());
    }

    #[test]
    fn generated_secrets_and_backup_codes_have_better_auths_shape() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 32);
        assert!(secret.bytes().all(|b| SECRET_ALPHABET.contains(&b)));
        let codes = generate_backup_codes();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(code.bytes().filter(|&b| b != b'-').all(|b| b.is_ascii_alphanumeric()));
        }
        assert_eq!(format!("{:?}", TotpKey::from_secret(&secret)), "Some(TotpKey([redacted]))");
    }
}
