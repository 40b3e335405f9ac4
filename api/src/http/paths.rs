//! The path templates of the documented operations (`/api/v1/tasks/{id}`), matched against
//! request paths exactly as the router matches them: literal segments byte for byte, a parameter
//! any non-empty segment, no trailing slash. Read once from the OpenAPI metadata, so a new
//! operation is known to every layer that needs the routes (`Allow`, the rate limit) without a
//! list to keep up to date.

use poem_openapi::registry::MetaApi;

/// One documented path.
#[derive(Debug)]
pub(crate) struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

/// One segment of a path template.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    /// Must equal the request's segment.
    Literal(String),
    /// `{name}`: any non-empty segment.
    Parameter,
}

impl PathTemplate {
    /// Parses `/a/{b}/c`.
    pub(crate) fn parse(template: &str) -> Self {
        let segments = template
            .split('/')
            .skip(1)
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    Segment::Parameter
                } else {
                    Segment::Literal(segment.to_owned())
                }
            })
            .collect();
        Self { text: template.to_owned(), segments }
    }

    /// The template as documented.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the router would route `path` to this template.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let mut segments = path.split('/').skip(1);
        let all_match = self.segments.iter().all(|expected| match (expected, segments.next()) {
            (Segment::Literal(literal), Some(segment)) => literal == segment,
            (Segment::Parameter, Some(segment)) => !segment.is_empty(),
            (_, None) => false,
        });
        all_match && segments.next().is_none()
    }
}

/// Every documented path of `apis` that starts with `prefix`, once each, the prefix removed.
pub(crate) fn documented_under(apis: &[MetaApi], prefix: &str) -> Vec<PathTemplate> {
    let mut found: Vec<PathTemplate> = Vec::new();
    for path in apis.iter().flat_map(|api| &api.paths) {
        if let Some(relative) = path.path.strip_prefix(prefix)
            && !found.iter().any(|known| known.as_str() == relative)
        {
            found.push(PathTemplate::parse(relative));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_match_exactly_and_parameters_match_one_non_empty_segment() {
        let item = PathTemplate::parse("/api/v1/tasks/{id}");
        assert!(item.matches("/api/v1/tasks/42"));
        assert!(item.matches("/api/v1/tasks/not%2Fa-number"));
        for other in ["/api/v1/tasks/", "/api/v1/tasks", "/api/v1/tasks/1/x", "/api/V1/tasks/1", "", "/"] {
            assert!(!item.matches(other), "{other:?}");
        }
        let plain = PathTemplate::parse("/sign-in/email");
        assert!(plain.matches("/sign-in/email"));
        assert!(!plain.matches("/sign-in/email/"));
        assert!(!plain.matches("/sign-in//email"));
        assert_eq!(plain.as_str(), "/sign-in/email");
    }
}
