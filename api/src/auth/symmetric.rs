//! Better Auth's `symmetricEncrypt` / `symmetricDecrypt` (`docs/better-auth-plugins.md`, "Secrets at rest"): how
//! its plugins keep secrets at rest in the database (two-factor secrets and backup codes, JWT
//! private keys), so rows written by a Node Better Auth can be read here and the other way round.
//!
//! XChaCha20-Poly1305 under the key SHA-256(`AUTH_SECRET`), a random 24-byte nonce in front of
//! the ciphertext and its 16-byte tag, the whole written as lower-case hex. Better Auth also
//! reads an envelope `$ba$<version>$<hex>` when several secret versions are configured; this
//! service has one secret, writes bare hex as Better Auth does with one secret, and reads either.

use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce, aead::Aead};
use sha2::{Digest, Sha256};

use crate::config::AuthSecret;

/// Why a stored value could not be decrypted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpenError {
    /// Not hex, too short, or a versioned envelope that is malformed.
    #[error("not a sealed value")]
    Malformed,
    /// The tag does not verify: another secret, or the value was changed.
    #[error("the value does not decrypt under this secret")]
    WrongKey,
    /// It decrypted, but the plaintext is not UTF-8.
    #[error("the plaintext is not UTF-8")]
    NotText,
}

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

fn cipher(secret: &AuthSecret) -> XChaCha20Poly1305 {
    let key = Sha256::digest(secret.expose_bytes());
    XChaCha20Poly1305::new(&key)
}

/// Encrypts `plaintext` as Better Auth's `symmetricEncrypt({key: secret, data})` does.
pub(crate) fn seal(secret: &AuthSecret, plaintext: &str) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    // The OS generator failing is not recoverable; a repeated nonce would be worse.
    getrandom::fill(&mut nonce).expect("the OS random number generator is available");
    let nonce = XNonce::from(nonce);
    // Encryption into a Vec cannot fail for inputs below the cipher's 256 GiB limit.
    let ciphertext =
        cipher(secret).encrypt(&nonce, plaintext.as_bytes()).expect("XChaCha20-Poly1305 encrypts any short input");
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    hex::encode(sealed)
}

/// Decrypts a value written by [`seal`] or by Better Auth (bare hex, or a `$ba$<n>$` envelope).
pub(crate) fn open(secret: &AuthSecret, sealed: &str) -> Result<String, OpenError> {
    let hex_part = match sealed.strip_prefix("$ba$") {
        Some(rest) => {
            let (version, ciphertext) = rest.split_once('$').ok_or(OpenError::Malformed)?;
            version.parse::<u32>().map_err(|_| OpenError::Malformed)?;
            ciphertext
        }
        None => sealed,
    };
    let bytes = hex::decode(hex_part).map_err(|_| OpenError::Malformed)?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed)?;
    let plaintext = cipher(secret).decrypt(&nonce, ciphertext).map_err(|_| OpenError::WrongKey)?;
    String::from_utf8(plaintext).map_err(|_| OpenError::NotText)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secret() -> AuthSecret {
        AuthSecret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_owned()).expect("valid")
    }

    /// Made by better-auth 1.7.25: `symmetricEncrypt({key: <the secret above>, data: PLAINTEXT})`.
    const BETTER_AUTH_SEALED: &str = "a309675f8bf3c4e6f39e57d8216585ee68e10a69e4bbe4ba32e75796ac96727d89358cdf91230b9be9bf98e5bebea5a682c015ef07661563a6fa2bbcf0be52d6a0c6";
    const PLAINTEXT: &str = "JBSWY3DPEHPK3PXP-secret-ü";

    #[test]
    fn opens_what_better_auth_sealed() {
        assert_eq!(open(&secret(), BETTER_AUTH_SEALED).as_deref(), Ok(PLAINTEXT));
        assert_eq!(open(&secret(), &format!("$ba$1${BETTER_AUTH_SEALED}")).as_deref(), Ok(PLAINTEXT));
    }

    #[test]
    fn sealing_is_randomised_and_round_trips() {
        let (a, b) = (seal(&secret(), PLAINTEXT), seal(&secret(), PLAINTEXT));
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(a.len(), BETTER_AUTH_SEALED.len(), "same layout as Better Auth's");
        assert_eq!(open(&secret(), &a).as_deref(), Ok(PLAINTEXT));
    }

    #[test]
    fn foreign_tampered_or_malformed_values_are_refused() {
        let other = AuthSecret::new("another-secret-0123456789abcdefghijklmnop".to_owned()).expect("valid");
        assert_eq!(open(&other, BETTER_AUTH_SEALED), Err(OpenError::WrongKey));
        let mut tampered = BETTER_AUTH_SEALED.to_owned();
        tampered.replace_range(60..61, if &BETTER_AUTH_SEALED[60..61] == "0" { "1" } else { "0" });
        assert_eq!(open(&secret(), &tampered), Err(OpenError::WrongKey));
        for bad in ["", "zz", "00", &BETTER_AUTH_SEALED[..70], "$ba$x$00", "$ba$1"] {
            assert_eq!(open(&secret(), bad), Err(OpenError::Malformed), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in ".{0,200}") {
            prop_assert_eq!(open(&secret(), &seal(&secret(), &text)), Ok(text));
        }
    }
}
