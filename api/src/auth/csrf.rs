//! Cross-site request forgery defences, as Better Auth applies them (`docs/better-auth-wire.md`
//! §7.1–§7.2): a state-changing request that carries a cookie must come from a trusted origin;
//! sign-in and sign-up additionally refuse cross-site navigations and untrusted origins even
//! without cookies; redirect targets in bodies must be trusted or safe relative paths.
//!
//! Requests without cookies and without fetch metadata (native apps, curl, bearer clients)
//! pass, as in Better Auth: without a cookie there is no ambient authority to forge.
//!
//! The origin checks are not called by handlers: the security extractors of `auth::guard`,
//! one of which every operation takes, apply them before the handler runs. Handlers call only
//! [`check_redirect`], for the redirect fields of their body.

use poem::{
    Request,
    http::{HeaderMap, Method, header},
};

use crate::{
    auth::error::{AuthError, RedirectField},
    http::origin::{TrustedOrigins, origin_of},
};

/// Whether a method changes state (everything but GET, HEAD, OPTIONS).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The cookie-write check every security extractor applies: an unsafe request with any
/// `Cookie` header needs a trusted `Origin` (or `Referer`).
pub(crate) fn check_cookie_request(req: &Request, trusted: &TrustedOrigins) -> Result<(), AuthError> {
    if is_unsafe(req.method()) && req.headers().contains_key(header::COOKIE) {
        return check_origin(req.headers(), trusted);
    }
    Ok(())
}

/// The origin must be present and trusted. `Origin` wins over `Referer`; a `Referer` counts by
/// its origin.
pub(crate) fn check_origin(headers: &HeaderMap, trusted: &TrustedOrigins) -> Result<(), AuthError> {
    let source = header_text(headers, header::ORIGIN.as_str())
        .filter(|v| !v.is_empty())
        .or_else(|| header_text(headers, header::REFERER.as_str()).filter(|v| !v.is_empty()));
    // A browser may send `Origin: null` for a same-origin request in privacy-sensitive contexts;
    // `Sec-Fetch-Site` is set by the browser itself (scripts cannot), so it vouches for it
    // (`docs/better-auth-wire.md` §7.1 step 2).
    if source == Some("null") && header_text(headers, "sec-fetch-site") == Some("same-origin") {
        return Ok(());
    }
    match source {
        None | Some("null") => Err(AuthError::MissingOrNullOrigin),
        Some(value) if trusted.is_trusted(value) => Ok(()),
        Some(_) => Err(AuthError::InvalidOrigin),
    }
}

/// Login CSRF for sign-in and sign-up (§7.2), after [`check_cookie_request`].
pub(crate) fn check_login(req: &Request, trusted: &TrustedOrigins) -> Result<(), AuthError> {
    let headers = req.headers();
    if headers.contains_key(header::COOKIE) {
        return check_origin(headers, trusted);
    }
    let site = header_text(headers, "sec-fetch-site");
    let mode = header_text(headers, "sec-fetch-mode");
    let dest = header_text(headers, "sec-fetch-dest");
    if site.is_some() || mode.is_some() || dest.is_some() {
        if site == Some("cross-site") && mode == Some("navigate") {
            return Err(AuthError::CrossSiteNavigationLoginBlocked);
        }
        return check_origin(headers, trusted);
    }
    if headers.contains_key(header::ORIGIN) || headers.contains_key(header::REFERER) {
        return check_origin(headers, trusted);
    }
    Ok(())
}

/// A redirect target from a request field must be a trusted absolute URL or a safe relative
/// path: a single leading `/`, no backslash, no control character, no encoded slash.
pub(crate) fn check_redirect(
    value: Option<&str>,
    field: RedirectField,
    trusted: &TrustedOrigins,
) -> Result<(), AuthError> {
    let Some(value) = value else { return Ok(()) };
    if value.is_empty() || is_safe_relative(value) || (origin_of(value).is_some() && trusted.is_trusted(value)) {
        return Ok(());
    }
    Err(AuthError::InvalidRedirect(field))
}

fn is_safe_relative(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && !value.chars().any(char::is_control)
        && !lower.contains("%2f")
        && !lower.contains("%5c")
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request headers and the expected outcome.
    type Case = (&'static [(&'static str, &'static str)], Result<(), AuthError>);

    fn trusted() -> TrustedOrigins {
        TrustedOrigins::new(&["http://localhost:3000".to_owned()])
    }

    fn req(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri_str("/api/auth/sign-in/email");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn cookie_carrying_writes_need_a_trusted_origin() {
        let cases: [Case; 7] = [
            (&[("cookie", "a=1")], Err(AuthError::MissingOrNullOrigin)),
            (&[("cookie", "a=1"), ("origin", "null")], Err(AuthError::MissingOrNullOrigin)),
            (&[("cookie", "a=1"), ("origin", "null"), ("sec-fetch-site", "same-origin")], Ok(())),
            (&[("cookie", "a=1"), ("origin", "https://evil.example")], Err(AuthError::InvalidOrigin)),
            (&[("cookie", "a=1"), ("origin", "http://localhost:3000")], Ok(())),
            (&[("cookie", "a=1"), ("referer", "http://localhost:3000/page")], Ok(())),
            (&[("origin", "https://evil.example")], Ok(())),
        ];
        for (headers, expected) in cases {
            let got = check_cookie_request(&req(Method::POST, headers), &trusted());
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{headers:?}");
        }
        assert!(check_cookie_request(&req(Method::GET, &[("cookie", "a=1")]), &trusted()).is_ok(), "reads pass");
    }

    #[test]
    fn login_csrf_follows_better_auth() {
        let cases: [Case; 6] = [
            (&[], Ok(())),
            (
                &[("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate")],
                Err(AuthError::CrossSiteNavigationLoginBlocked),
            ),
            (&[("sec-fetch-site", "same-origin")], Err(AuthError::MissingOrNullOrigin)),
            (&[("sec-fetch-site", "same-origin"), ("origin", "http://localhost:3000")], Ok(())),
            (&[("origin", "https://evil.example")], Err(AuthError::InvalidOrigin)),
            (&[("origin", "http://localhost:3000")], Ok(())),
        ];
        for (headers, expected) in cases {
            let got = check_login(&req(Method::POST, headers), &trusted());
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{headers:?}");
        }
    }

    #[test]
    fn redirect_targets_must_be_trusted_or_safe_paths() {
        let ok = ["/dashboard", "/a/b?c=d", "http://localhost:3000/x", ""];
        for value in ok {
            assert!(check_redirect(Some(value), RedirectField::Callback, &trusted()).is_ok(), "{value}");
        }
        let bad = [
            "https://evil.example/x",
            "//evil.example",
            "/\\evil",
            "/a%2F..",
            "javascript:alert(1)",
            "dashboard",
            "/a\nb",
        ];
        for value in bad {
            assert!(check_redirect(Some(value), RedirectField::Callback, &trusted()).is_err(), "{value}");
        }
    }
}
