//! Trusted origins: which `Origin`s may call with credentials (CORS) and may send
//! cookie-authenticated writes (CSRF checks), matched as Better Auth matches them
//! (`docs/better-auth-wire.md` §7.1): exact origins, or patterns with `*`/`?` wildcards.

use url::Url;

/// The configured trusted origins.
#[derive(Clone, Debug)]
pub(crate) struct TrustedOrigins {
    exact: Vec<String>,
    patterns: Vec<String>,
}

impl TrustedOrigins {
    /// Splits configured entries into exact origins and wildcard patterns.
    pub(crate) fn new(entries: &[String]) -> Self {
        let (patterns, exact) = entries.iter().cloned().partition(|e| e.contains('*') || e.contains('?'));
        Self { exact, patterns }
    }

    /// Whether an `Origin` header value (or any URL, reduced to its origin) is trusted.
    pub(crate) fn is_trusted(&self, value: &str) -> bool {
        let Some(origin) = origin_of(value) else { return false };
        if self.exact.contains(&origin) {
            return true;
        }
        let host = Url::parse(&origin).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        self.patterns.iter().any(|pattern| {
            if pattern.contains("://") { wildcard_match(pattern, &origin) } else { wildcard_match(pattern, &host) }
        })
    }
}

/// `scheme://host[:port]` of a URL, default port dropped; `None` for opaque origins
/// (`null`, `file:`, data URLs) and unparsable values.
pub(crate) fn origin_of(value: &str) -> Option<String> {
    let url = Url::parse(value.trim()).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Glob match where `*` matches any run of characters (dots included) and `?` one character.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> TrustedOrigins {
        TrustedOrigins::new(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn exact_origins_match_scheme_host_and_port() {
        let trusted = origins(&["http://localhost:3000", "https://app.example.com"]);
        assert!(trusted.is_trusted("http://localhost:3000"));
        assert!(trusted.is_trusted("http://localhost:3000/some/page?x=1"), "a Referer reduces to its origin");
        assert!(trusted.is_trusted("https://app.example.com:443"));
        assert!(!trusted.is_trusted("http://localhost:3001"));
        assert!(!trusted.is_trusted("https://localhost:3000"));
        assert!(!trusted.is_trusted("https://app.example.com.evil.io"));
        assert!(!trusted.is_trusted("null"));
        assert!(!trusted.is_trusted(""));
    }

    #[test]
    fn wildcards_match_hosts_or_whole_origins() {
        let trusted = origins(&["*.example.com", "https://*.preview.dev"]);
        assert!(trusted.is_trusted("https://a.example.com"));
        assert!(trusted.is_trusted("http://a.b.example.com"));
        assert!(!trusted.is_trusted("https://example.org"));
        assert!(trusted.is_trusted("https://pr-1.preview.dev"));
        assert!(!trusted.is_trusted("http://pr-1.preview.dev"));
    }
}
