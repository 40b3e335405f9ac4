//! Random identifiers and session tokens, and how tokens are stored.
//!
//! Both come from Better Auth's generator (`better-auth-wire.md` §5.1): 32 characters of
//! `[a-zA-Z0-9]` from the OS CSPRNG by rejection sampling (bytes ≥ 248 are redrawn, so every
//! character is equally likely), about 190 bits.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::config::TokenStorage;

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` random characters of `[a-zA-Z0-9]`.
pub fn random_alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // The OS generator failing is not recoverable; a predictable token would be worse.
        getrandom::fill(&mut buf).expect("the OS random number generator is available");
        for &byte in &buf {
            if byte < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    out
}

/// A new row id (user, session, account, verification).
pub fn new_id() -> String {
    random_alphanumeric(32)
}

/// The raw session token a client holds (in the signed cookie or as a bearer token).
/// A secret: it is never logged, and `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        Self(random_alphanumeric(32))
    }

    /// Wraps a token received from a client (its signature already verified).
    pub fn from_client(raw: String) -> Self {
        Self(raw)
    }

    /// The raw token, for the response body and for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What `session.token` holds for this token.
    pub fn stored(&self, storage: TokenStorage) -> String {
        match storage {
            TokenStorage::Hashed => sha256_hex(&self.0),
            TokenStorage::Plain => self.0.clone(),
        }
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// Lower-case hex SHA-256, how secrets are stored so a database leak does not leak them.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ids_are_32_alphanumeric_characters_and_distinct() {
        let ids: HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())));
    }

    #[test]
    fn every_character_of_the_alphabet_occurs() {
        let sample = random_alphanumeric(20_000);
        for &c in ALPHABET {
            assert!(sample.as_bytes().contains(&c), "{} never drawn", char::from(c));
        }
    }

    #[test]
    fn hashed_storage_is_sha256_hex_and_plain_is_the_token() {
        let token = SessionToken::from_client("W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY".to_owned());
        let hashed = token.stored(TokenStorage::Hashed);
        assert_eq!(hashed.len(), 64);
        assert_ne!(hashed, token.expose());
        assert_eq!(token.stored(TokenStorage::Plain), token.expose());
        assert_eq!(format!("{token:?}"), "SessionToken([redacted])");
    }

    proptest! {
        #[test]
        fn any_length_is_honoured(len in 0usize..200) {
            prop_assert_eq!(random_alphanumeric(len).len(), len);
        }
    }
}
