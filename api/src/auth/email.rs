//! `Email`: an address that passed Better Auth's (zod's) email check, lower-cased
//! (`docs/better-auth-wire.md` §7.5). No trimming, as Better Auth: `"a@b.co "` is invalid.

use std::{fmt, sync::LazyLock};

use regex::Regex;

/// zod 4's default `z.email()` pattern, which Better Auth checks addresses with (ASCII only, a
/// top-level domain of at least two letters), character for character. The OpenAPI schema of
/// every email field declares it as its `pattern` (`auth::fields::EmailAddress`); it means the
/// same in ECMAScript (the schema's dialect, and zod's) as in Rust: no flags, and `$` is the end
/// of the input.
pub(crate) const PATTERN: &str =
    r"^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(PATTERN).expect("the email pattern is a valid regex"));

/// Longest accepted address (RFC 5321's path limit minus the angle brackets).
pub(crate) const MAX_LEN: usize = 254;

/// A valid, lower-cased email address. Personal data: `Debug` redacts the local part.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

/// Why an address was refused (the caller decides the status and code).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Invalid email address")]
pub(crate) struct InvalidEmail;

impl Email {
    /// Validates and lower-cases an address.
    pub(crate) fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        if raw.len() > MAX_LEN || !EMAIL.is_match(raw) {
            return Err(InvalidEmail);
        }
        Ok(Self(raw.to_lowercase()))
    }

    /// The address.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(***@{domain})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn valid_addresses_are_lower_cased() {
        assert_eq!(Email::parse("Alice.Smith+tag@Example.COM").expect("valid").as_str(), "alice.smith+tag@example.com");
        assert_eq!(Email::parse("o'neil@sub.example.io").expect("valid").as_str(), "o'neil@sub.example.io");
    }

    #[test]
    fn invalid_addresses_are_refused() {
        let cases = [
            ("", "empty"),
            ("plainaddress", "no @"),
            ("a@b", "no TLD"),
            ("a@b.c", "one-letter TLD"),
            ("a@b.com ", "trailing space (no trimming)"),
            (" a@b.com", "leading space"),
            ("a..b@c.com", "double dot"),
            (".a@b.com", "leading dot"),
            ("a.@b.com", "trailing dot in local part"),
            ("a@-b.com", "domain label starting with a hyphen"),
            ("ü@example.com", "non-ASCII"),
            ("a@b.com\u{0}", "NUL"),
            ("a\n@b.com", "newline"),
        ];
        for (input, reason) in cases {
            assert_eq!(Email::parse(input), Err(InvalidEmail), "{reason}: {input:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(InvalidEmail), "too long");
    }

    #[test]
    fn debug_hides_the_local_part() {
        assert_eq!(
            format!("{:?}", Email::parse("secret.person@example.com").expect("valid")),
            "Email(***@example.com)"
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_output_is_lower_case(input in ".{0,80}") {
            if let Ok(email) = Email::parse(&input) {
                prop_assert_eq!(email.as_str(), input.to_lowercase());
            }
        }
    }
}
