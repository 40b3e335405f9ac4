//! Request field types of the auth API whose OpenAPI schema states an auth rule that the body
//! parser must not enforce itself, because the operation answers with Better Auth's own code.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::{
    auth::password::MAX_LEN,
    http::schema::{parse_string, string_type_basics},
};

/// A password as sent: `format: password`, `MIN` (when non-zero) to 128 characters. The length
/// is checked by `auth::password::Password`, in UTF-16 code units as Better Auth counts, with
/// Better Auth's error codes; the request-body checker leaves `format: password` fields alone.
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
        schema.min_length = (MIN > 0).then_some(MIN);
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
