//! Field-level validation errors, shared by the request-body parser and the domain newtypes.
//!
//! A failure names its field the way Better Auth does (`[body.email] Invalid email address`),
//! so clients see the same shape on the auth and the tasks endpoints. Which HTTP status a
//! validation failure becomes is decided in `error.rs`.

use std::fmt;

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidationError {
    /// Where the field is, e.g. `body.title` or `query.limit`; `body` for the whole body.
    pub(crate) field: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

impl ValidationError {
    /// A failure of `field` (a bare name such as `title`, located later with [`Self::in_body`]).
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Locates the field in the request body: `title` becomes `body.title`.
    #[must_use]
    pub(crate) fn in_body(self) -> Self {
        self.located("body")
    }

    /// Locates the field in the query string: `limit` becomes `query.limit`.
    #[must_use]
    pub(crate) fn in_query(self) -> Self {
        self.located("query")
    }

    /// Locates the field in the headers: `If-Match` becomes `header.If-Match`.
    #[must_use]
    pub(crate) fn in_header(self) -> Self {
        self.located("header")
    }

    fn located(mut self, place: &str) -> Self {
        self.field = if self.field.is_empty() { place.to_owned() } else { format!("{place}.{}", self.field) };
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.field, self.message)
    }
}

/// One or more invalid fields; displayed joined by `"; "` as Better Auth joins zod issues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(error: ValidationError) -> Self {
        Self(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_located_field() {
        let errors = ValidationErrors(vec![
            ValidationError::new("email", "Invalid email address").in_body(),
            ValidationError::new("", "Invalid input: expected object, received array").in_body(),
            ValidationError::new("limit", "must be from 1 to 100").in_query(),
        ]);
        assert_eq!(
            errors.to_string(),
            "[body.email] Invalid email address; [body] Invalid input: expected object, received array; \
             [query.limit] must be from 1 to 100"
        );
    }
}
