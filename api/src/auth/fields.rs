//! Field types of the auth API whose OpenAPI schema states an auth rule that the body parser
//! must not enforce itself, because the operation answers with Better Auth's own code: an email
//! address (Better Auth's pattern) and a password (its length rule).

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::{
    auth::{email, password::MAX_LEN},
    http::schema::{parse_string, string_type_basics},
};

/// An email address: at most 254 characters matching Better Auth's pattern
/// ([`email::PATTERN`]). The parser only requires a string; the operation that takes it
/// validates the address with [`email::Email`] and answers with its own error code.
///
/// No `format: email`: that is RFC 5322's rule, which admits addresses Better Auth refuses
/// (`d^0=h1{rvw@arn.example.io`) and refuses some it accepts (a local part over 64 characters);
/// the pattern is the server's rule exactly (`docs/better-auth-wire.md` §7.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EmailAddress(pub(crate) String);

impl Type for EmailAddress {
    string_type_basics!();

    fn name() -> Cow<'static, str> {
        "string_email".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.max_length = Some(email::MAX_LEN);
        schema.pattern = Some(email::PATTERN.to_owned());
        schema.example = Some(Value::String("ada@example.com".to_owned()));
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl ParseFromJSON for EmailAddress {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        parse_string(value).map(Self).map_err(ParseError::expected_type)
    }
}

impl ToJSON for EmailAddress {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A password as sent: `format: password`, `MIN` (when non-zero) to 128 UTF-16 code units. The
/// length is checked by `auth::password::Password`, in UTF-16 code units as Better Auth counts,
/// with Better Auth's error codes; the request-body checker leaves `format: password` fields
/// alone.
///
/// JSON Schema counts characters (code points), and a character outside the Basic Multilingual
/// Plane is two UTF-16 units, so the schema declares the bounds every accepted password meets in
/// characters: `minLength` is half of `MIN` (four emoji are eight units), `maxLength` 128. A
/// password outside them is always refused; the field's description states the exact rule.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PasswordInput<const MIN: usize>(pub(crate) String);

impl<const MIN: usize> std::fmt::Debug for PasswordInput<MIN> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordInput([redacted])")
    }
}

impl<const MIN: usize> Type for PasswordInput<MIN> {
    string_type_basics!();

    fn name() -> Cow<'static, str> {
        format!("string_password_{MIN}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("string", "password");
        schema.min_length = (MIN > 0).then_some(MIN.div_ceil(2));
        schema.max_length = Some(MAX_LEN);
        schema.example = Some(Value::String("correct horse battery".to_owned()));
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl<const MIN: usize> ParseFromJSON for PasswordInput<MIN> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        parse_string(value).map(Self).map_err(ParseError::expected_type)
    }
}

impl<const MIN: usize> ToJSON for PasswordInput<MIN> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}
