//! Better Auth's cookies, byte for byte (`docs/better-auth-wire.md` §4): names (`COOKIE_PREFIX`),
//! attributes (`COOKIE_DOMAIN`, `COOKIE_SAMESITE`, `Secure`) and their order, the HMAC-SHA256
//! signed value and its encoding, and how a `Cookie` header is read back.
//!
//! Signatures are verified in constant time (`Mac::verify_slice`). A value with a bad, missing
//! or malformed signature is simply no cookie: the caller sees no session.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::{AuthSecret, CookieConfig};

type HmacSha256 = Hmac<Sha256>;

/// Length of a standard, padded base64 HMAC-SHA256 signature.
const SIGNATURE_LEN: usize = 44;

/// Every cookie this service sets or clears, named and attributed in one place from
/// [`CookieConfig`] (`COOKIE_PREFIX`, `COOKIE_DOMAIN`, `COOKIE_SAMESITE`, and `Secure` when
/// `BASE_URL` is https), exactly as Better Auth's cookie getter names and attributes them: a
/// cookie added later gets a name field here and the same attributes.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    /// `<prefix>.session_token`
    pub(crate) session_token: String,
    /// `<prefix>.session_data` (the cookie cache, which this service never sets; cleared
    /// alongside the others as Better Auth does)
    pub(crate) session_data: String,
    /// `<prefix>.dont_remember`
    pub(crate) dont_remember: String,
    /// `<prefix>.two_factor`: a pending two-factor sign-in (`docs/better-auth-plugins.md` §Two-factor)
    pub(crate) two_factor: String,
    /// `<prefix>.trust_device`: a device that skips the second factor
    pub(crate) trust_device: String,
    /// Every attribute after `Max-Age`, in Better Auth's order:
    /// `; [Domain=<domain>; ]Path=/; HttpOnly; [Secure; ]SameSite=<Lax|Strict|None>`.
    attributes: String,
}

impl CookieSettings {
    /// Names (`[__Secure-]<prefix>.<cookie>`) and attributes for a deployment.
    pub(crate) fn new(config: &CookieConfig) -> Self {
        let name = |cookie: &str| format!("{}{}.{cookie}", if config.secure { "__Secure-" } else { "" }, config.prefix);
        let mut attributes = String::new();
        if let Some(domain) = &config.domain {
            attributes.push_str(&format!("; Domain={domain}"));
        }
        attributes.push_str("; Path=/; HttpOnly");
        if config.secure {
            attributes.push_str("; Secure");
        }
        attributes.push_str(&format!("; SameSite={}", config.same_site.as_str()));
        Self {
            session_token: name("session_token"),
            session_data: name("session_data"),
            dont_remember: name("dont_remember"),
            two_factor: name("two_factor"),
            trust_device: name("trust_device"),
            attributes,
        }
    }

    /// `Set-Cookie` value setting `name` to the signed `value`. `max_age: None` makes a
    /// browser-session cookie.
    pub(crate) fn set_signed(&self, name: &str, value: &str, max_age: Option<u64>, secret: &AuthSecret) -> String {
        self.line(name, &encode_uri_component(&sign(value, secret)), max_age)
    }

    /// The `Set-Cookie` value that clears `name`: empty, `Max-Age=0`, and the attributes it was
    /// set with (a browser deletes a cookie only when `Domain` and `Path` match).
    pub(crate) fn clear(&self, name: &str) -> String {
        self.line(name, "", Some(0))
    }

    /// The `Set-Cookie` values that clear all three cookies, in Better Auth's order.
    pub(crate) fn clear_all(&self) -> Vec<String> {
        [&self.session_token, &self.session_data, &self.dont_remember]
            .into_iter()
            .map(|name| self.clear(name))
            .collect()
    }

    /// `<name>=<value>[; Max-Age=<n>]` and the attributes.
    fn line(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut line = format!("{name}={value}");
        if let Some(age) = max_age {
            line.push_str(&format!("; Max-Age={age}"));
        }
        line.push_str(&self.attributes);
        line
    }
}

/// `value + "." + base64(HMAC-SHA256(secret, value))`, before URI encoding.
pub(crate) fn sign(value: &str, secret: &AuthSecret) -> String {
    let mut mac = new_mac(secret);
    mac.update(value.as_bytes());
    format!("{value}.{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The value inside a signed string if its signature is valid: split at the last `.`, the
/// signature must be 44 characters ending in `=` (§4.3).
pub(crate) fn verify(signed: &str, secret: &AuthSecret) -> Option<String> {
    let (value, signature) = signed.rsplit_once('.')?;
    if value.is_empty() || signature.len() != SIGNATURE_LEN || !signature.ends_with('=') {
        return None;
    }
    let signature = STANDARD.decode(signature).ok()?;
    let mut mac = new_mac(secret);
    mac.update(value.as_bytes());
    mac.verify_slice(&signature).ok()?;
    Some(value.to_owned())
}

/// Like [`verify`], but also accepting a URL-safe base64 signature, as Better Auth's bearer
/// plugin does (§9 step 3).
pub(crate) fn verify_lenient(signed: &str, secret: &AuthSecret) -> Option<String> {
    if let Some(value) = verify(signed, secret) {
        return Some(value);
    }
    let (value, signature) = signed.rsplit_once('.')?;
    let standard: String = signature
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let padded = if standard.len() == SIGNATURE_LEN - 1 { format!("{standard}=") } else { standard };
    verify(&format!("{value}.{padded}"), secret)
}

fn new_mac(secret: &AuthSecret) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    HmacSha256::new_from_slice(secret.expose_bytes()).expect("HMAC takes keys of any length")
}

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes
/// `%XX` (upper-case hex) of its UTF-8 bytes.
pub(crate) fn encode_uri_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-decodes `value` if it contains `%`; on malformed input keeps it raw (§4.3).
pub(crate) fn decode_uri_component(value: &str) -> String {
    if !value.contains('%') {
        return value.to_owned();
    }
    percent_decode(value).unwrap_or_else(|| value.to_owned())
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of cookie `name` in a `Cookie` header as Better Auth reads it: pairs split on
/// `;`, trimmed, first occurrence wins, one pair of surrounding quotes stripped, then
/// percent-decoded.
pub(crate) fn find_cookie(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        Some(decode_uri_component(value))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::SameSite;

    fn secret() -> AuthSecret {
        AuthSecret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_owned()).expect("valid")
    }

    // Test vectors from `docs/better-auth-wire.md` §4.3, produced by Better Auth itself.
    const VECTORS: [(&str, &str, &str); 3] = [
        (
            "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY",
            "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY.92dZuUzbYW2FqtwkoGFGsuByjqxOdT1zvLgRJIkLob4=",
            "W5OD3U6Iw4qz9VqC4aqQFlTnmgDU04yY.92dZuUzbYW2FqtwkoGFGsuByjqxOdT1zvLgRJIkLob4%3D",
        ),
        (
            "BenzUeeSqrysrG151XVgMbvxqULH0tks",
            "BenzUeeSqrysrG151XVgMbvxqULH0tks.3+y08XwoJ+HzRvljYM/uiwd2wgqbr0PtCs948WxBcCk=",
            "BenzUeeSqrysrG151XVgMbvxqULH0tks.3%2By08XwoJ%2BHzRvljYM%2Fuiwd2wgqbr0PtCs948WxBcCk%3D",
        ),
        (
            "true",
            "true.1Ue91JS+cwPpyhFiSTriJ9vlBOt6RG78rdQqJ+TjbEk=",
            "true.1Ue91JS%2BcwPpyhFiSTriJ9vlBOt6RG78rdQqJ%2BTjbEk%3D",
        ),
    ];

    #[test]
    fn signing_matches_better_auth_test_vectors() {
        for (value, signed, encoded) in VECTORS {
            assert_eq!(sign(value, &secret()), signed);
            assert_eq!(encode_uri_component(signed), encoded);
            assert_eq!(decode_uri_component(encoded), signed);
            assert_eq!(verify(signed, &secret()).as_deref(), Some(value));
        }
    }

    #[test]
    fn set_cookie_lines_match_better_auth_byte_for_byte() {
        let names = CookieSettings::new(&CookieConfig::default());
        assert_eq!(
            names.set_signed(&names.session_token, VECTORS[0].0, Some(604_800), &secret()),
            format!("better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax", VECTORS[0].2)
        );
        assert_eq!(
            names.set_signed(&names.dont_remember, "true", None, &secret()),
            format!("better-auth.dont_remember={}; Path=/; HttpOnly; SameSite=Lax", VECTORS[2].2)
        );
        let secure = CookieSettings::new(&CookieConfig { secure: true, ..CookieConfig::default() });
        assert_eq!(
            secure.set_signed(&secure.session_token, VECTORS[0].0, None, &secret()),
            format!("__Secure-better-auth.session_token={}; Path=/; HttpOnly; Secure; SameSite=Lax", VECTORS[0].2)
        );
        assert_eq!(
            names.clear_all(),
            [
                "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
                "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
                "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            ]
        );
    }

    #[test]
    fn prefix_domain_and_same_site_apply_to_every_cookie_in_better_auths_attribute_order() {
        let settings = CookieSettings::new(&CookieConfig {
            prefix: "tasks-app".to_owned(),
            domain: Some("example.com".to_owned()),
            same_site: SameSite::None,
            secure: true,
        });
        assert_eq!(
            settings.set_signed(&settings.session_token, VECTORS[0].0, Some(604_800), &secret()),
            format!(
                "__Secure-tasks-app.session_token={}; Max-Age=604800; Domain=example.com; Path=/; HttpOnly; Secure; \
                 SameSite=None",
                VECTORS[0].2
            )
        );
        assert_eq!(
            settings.set_signed(&settings.dont_remember, "true", None, &secret()),
            format!(
                "__Secure-tasks-app.dont_remember={}; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=None",
                VECTORS[2].2
            )
        );
        let clearing = settings.clear_all();
        assert_eq!(clearing.len(), 3);
        for (line, cookie) in clearing.iter().zip(["session_token", "session_data", "dont_remember"]) {
            assert_eq!(
                line,
                &format!(
                    "__Secure-tasks-app.{cookie}=; Max-Age=0; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=None"
                )
            );
        }
        let strict = CookieSettings::new(&CookieConfig { same_site: SameSite::Strict, ..CookieConfig::default() });
        assert_eq!(
            strict.clear(&strict.dont_remember),
            "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn tampered_foreign_or_malformed_values_do_not_verify() {
        let (_, signed, _) = VECTORS[0];
        let other = AuthSecret::new("another-secret-0123456789abcdefghijklmnop".to_owned()).expect("valid");
        let cases = [
            (signed.replacen('W', "X", 1), "value changed"),
            (signed.replace("Lob4=", "Lob5="), "signature changed"),
            (signed.trim_end_matches('=').to_owned(), "signature without padding"),
            (VECTORS[0].0.to_owned(), "unsigned"),
            (format!(".{}", &signed[33..]), "empty value"),
            (String::new(), "empty"),
        ];
        for (value, reason) in cases {
            assert_eq!(verify(&value, &secret()), None, "{reason}");
        }
        assert_eq!(verify(signed, &other), None, "signed under another secret");
    }

    #[test]
    fn bearer_signatures_may_use_the_url_safe_alphabet() {
        let (value, signed, _) = VECTORS[1];
        let url_safe = signed.replace('+', "-").replace('/', "_");
        assert_eq!(verify_lenient(&url_safe, &secret()).as_deref(), Some(value));
        assert_eq!(verify(&url_safe, &secret()), None);
    }

    #[test]
    fn cookie_headers_are_read_like_better_auth() {
        let header = format!("a=1; better-auth.session_token=\"{}\"; better-auth.session_token=second", VECTORS[1].2);
        assert_eq!(find_cookie(&header, "better-auth.session_token").as_deref(), Some(VECTORS[1].1));
        assert_eq!(find_cookie("x=%E0%A4%A", "x").as_deref(), Some("%E0%A4%A"), "bad encoding stays raw");
        assert_eq!(find_cookie("a=1", "better-auth.session_token"), None);
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(value in "[ -~]{1,64}") {
            prop_assume!(!value.is_empty());
            let signed = sign(&value, &secret());
            prop_assert_eq!(verify(&signed, &secret()), Some(value.clone()));
            let encoded = encode_uri_component(&signed);
            prop_assert_eq!(verify(&decode_uri_component(&encoded), &secret()), Some(value));
        }

        #[test]
        fn arbitrary_input_never_panics_or_verifies(input in ".{0,120}") {
            prop_assert_eq!(verify(&input, &secret()), None);
            let _ = verify_lenient(&input, &secret());
            let _ = find_cookie(&input, "better-auth.session_token");
            let _ = decode_uri_component(&input);
        }
    }
}
