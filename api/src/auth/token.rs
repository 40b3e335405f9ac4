//! Random identifiers, the secrets the service hands out (session and password-reset tokens),
//! and the form a session token is stored in.
//!
//! Ids and tokens come from Better Auth's generator (`docs/better-auth-wire.md` §5.1): 32
//! characters of `[a-zA-Z0-9]` from the OS CSPRNG by rejection sampling (bytes ≥ 248 are
//! redrawn, so every character is equally likely), about 190 bits. Tokens are secrets: their
//! `Debug` is redacted and they have no `Display`.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::config::TokenStorage;

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` random characters of `[a-zA-Z0-9]`.
pub(crate) fn random_alphanumeric(len: usize) -> String {
    random_string(ALPHABET, len)
}

/// `len` random characters of `alphabet` (at most 256 characters), each equally likely:
/// bytes at or above the largest multiple of the alphabet's size are redrawn.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    let size = alphabet.len();
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // The OS generator failing is not recoverable; a predictable token would be worse.
        getrandom::fill(&mut buf).expect("the OS random number generator is available");
        for &byte in &buf {
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % size]));
            }
        }
    }
    out
}

/// A new row id (user, session, account, verification).
pub(crate) fn new_id() -> String {
    random_alphanumeric(32)
}

/// `Debug` that names the type and hides the value.
macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

/// The raw session token a client holds (in the signed cookie or as a bearer token).
/// A secret: it is never logged, and `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionToken(String);

impl SessionToken {
    /// A fresh random token.
    pub(crate) fn generate() -> Self {
        Self(random_alphanumeric(32))
    }

    /// Wraps a token received from a client (its signature already verified).
    pub(crate) fn from_client(raw: String) -> Self {
        Self(raw)
    }

    /// The raw token, for the response body and for signing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// What `session.token` holds for this token.
    pub(crate) fn stored(&self, storage: TokenStorage) -> StoredToken {
        match storage {
            TokenStorage::Hashed => StoredToken(sha256_hex(&self.0)),
            TokenStorage::Plain => StoredToken(self.0.clone()),
        }
    }
}

redacted_debug!(SessionToken);

/// The form of a session token in `session.token`: its SHA-256 hex by default, the raw token
/// with `SESSION_TOKEN_STORAGE=plain` (so still a credential: `Debug` is redacted). The session
/// cache is keyed by it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct StoredToken(String);

impl StoredToken {
    /// Wraps a value read from `session.token` (or named by a cache notification).
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The stored value, for queries.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for StoredToken {
    fn borrow(&self) -> &str {
        &self.0
    }
}

redacted_debug!(StoredToken);

/// A password-reset token: 24 random characters, mailed in a link, stored only as its SHA-256
/// (`auth::repo::verifications`), single use.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ResetToken(String);

impl ResetToken {
    /// A fresh random token.
    pub(crate) fn generate() -> Self {
        Self(random_alphanumeric(24))
    }

    /// Wraps a token a client presented (unchecked: a lookup decides whether it is live).
    pub(crate) fn from_client(raw: String) -> Self {
        Self(raw)
    }

    /// The raw token, for the mailed link and the redirect that hands it to the page.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

redacted_debug!(ResetToken);

/// Lower-case hex SHA-256, how secrets are stored so a database leak does not leak them.
pub(crate) fn sha256_hex(value: &str) -> String {
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
        assert_eq!(hashed.as_str().len(), 64);
        assert_ne!(hashed.as_str(), token.expose());
        assert_eq!(token.stored(TokenStorage::Plain).as_str(), token.expose());
        assert_eq!(format!("{token:?}"), "SessionToken([redacted])");
        assert_eq!(format!("{:?}", token.stored(TokenStorage::Plain)), "StoredToken([redacted])");
    }

    #[test]
    fn reset_tokens_are_24_characters_and_never_printed() {
        let token = ResetToken::generate();
        assert_eq!(token.expose().len(), 24);
        assert_eq!(format!("{token:?}"), "ResetToken([redacted])");
    }

    proptest! {
        #[test]
        fn any_length_is_honoured(len in 0usize..200) {
            prop_assert_eq!(random_alphanumeric(len).len(), len);
        }
    }
}
