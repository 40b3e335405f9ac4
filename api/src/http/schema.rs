//! Payload and field types the APIs share: a nullable object (`null` or the object, declared as
//! such so generated clients accept `null`), a required parameter whose absence the handler
//! reports itself, a header parameter that does not ignore values it cannot read, a JSON body
//! written straight from `serde`, and a described `200` answer. Nothing here knows a route.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{Example, IsObjectType, ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// The `Type` items shared by string newtypes whose raw value is their `String`.
macro_rules! string_type_basics {
    () => {
        const IS_REQUIRED: bool = true;

        type RawValueType = String;

        type RawElementValueType = String;

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            Some(&self.0)
        }

        fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    };
}

pub(crate) use string_type_basics;

/// The `Type` items of a required wrapper around `Option<T>` (`Self(pub(crate) Option<T>)`):
/// `T`'s raw values when present, none when absent.
macro_rules! option_wrapper_basics {
    () => {
        const IS_REQUIRED: bool = true;

        type RawValueType = T::RawValueType;

        type RawElementValueType = T::RawElementValueType;

        fn register(registry: &mut Registry) {
            T::register(registry);
        }

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            self.0.as_ref().and_then(Type::as_raw_value)
        }

        fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            match &self.0 {
                Some(value) => value.raw_element_iter(),
                None => Box::new(std::iter::empty()),
            }
        }
    };
}

/// The string inside a JSON value, or the value back when it is not a string.
pub(crate) fn parse_string(value: Option<Value>) -> Result<String, Value> {
    match value.unwrap_or_default() {
        Value::String(text) => Ok(text),
        other => Err(other),
    }
}

/// An object or `null`, declared `anyOf: [<T>, {nullable: true, enum: [null]}]`: the OpenAPI
/// 3.0 form that validators and generated clients read as "T or null" (`nullable` next to an
/// `allOf` does not make `null` valid).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NullableObject<T>(pub(crate) Option<T>);

impl<T: Type + IsObjectType + ToJSON + Example> Type for NullableObject<T> {
    option_wrapper_basics!();

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut null = MetaSchema::new("object");
        null.nullable = true;
        null.enum_items = vec![Value::Null];
        let mut schema = MetaSchema::ANY;
        schema.any_of = vec![T::schema_ref(), MetaSchemaRef::Inline(Box::new(null))];
        schema.example = T::example().to_json();
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

impl<T: ParseFromJSON + IsObjectType + ToJSON + Example> ParseFromJSON for NullableObject<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Ok(Self(None)),
            value => T::parse_from_json(value).map(|v| Self(Some(v))).map_err(ParseError::propagate),
        }
    }
}

/// Written as the object or `null`, like the `ToJSON` form (for bodies written with serde).
impl<T: serde::Serialize> serde::Serialize for NullableObject<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: ToJSON + IsObjectType + Example> ToJSON for NullableObject<T> {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.as_ref().and_then(ToJSON::to_json).unwrap_or(Value::Null))
    }
}

/// A parameter the spec declares `required: true` whose absence the handler reports itself
/// (`None`), so that the error keeps its documented wording and its place among the handler's
/// checks (Better Auth's `[query.token] Invalid input: expected string, received undefined`,
/// after the `callbackURL` check) rather than the framework's generic refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Required<T>(pub(crate) Option<T>);

impl<T: Type> Type for Required<T> {
    option_wrapper_basics!();

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }
}

impl<T: ParseFromParameter> ParseFromParameter for Required<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(value).map(|value| Self(Some(value))).map_err(ParseError::propagate)
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(iter: I) -> ParseResult<Self> {
        let mut values = iter.into_iter().peekable();
        if values.peek().is_none() {
            return Ok(Self(None));
        }
        T::parse_from_parameters(values).map(|value| Self(Some(value))).map_err(ParseError::propagate)
    }
}

/// A header parameter like poem-openapi's `Header`, except that a value that is not visible
/// ASCII (say, UTF-8) is read (lossily) and validated instead of being skipped as if the header
/// were absent: a client that sends a header expects it to count or to be refused.
pub(crate) struct StrictHeader<T>(pub(crate) T);

impl<'a, T: ParseFromParameter> poem_openapi::ApiExtractor<'a> for StrictHeader<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] = &[poem_openapi::ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = T::IS_REQUIRED;

    type ParamType = T;
    type ParamRawType = T::RawValueType;

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn param_in() -> Option<poem_openapi::registry::MetaParamIn> {
        Some(poem_openapi::registry::MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(T::schema_ref())
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        self.0.as_raw_value()
    }

    async fn from_request(
        request: &'a poem::Request,
        _body: &mut poem::RequestBody,
        param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let values = request
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().eq_ignore_ascii_case(param_opts.name))
            .map(|(_, value)| String::from_utf8_lossy(value.as_bytes()));
        T::parse_from_parameters(values).map(Self).map_err(|err| {
            poem_openapi::error::ParseParamError { name: param_opts.name, reason: err.into_message() }.into()
        })
    }
}

/// A JSON body written straight from `serde::Serialize`, documented with `T`'s OpenAPI schema.
///
/// poem-openapi's `Json` first builds a `serde_json::Value` (a map per object) and then writes
/// it; for the task responses that was about 15 % of a list's CPU. A type used here must
/// serialize exactly as its `ToJSON` does: each one has a test comparing the two.
pub(crate) struct SerdeJson<T>(pub(crate) T);

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: Type + Send> poem_openapi::payload::Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = JSON_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: serde::Serialize + Send> poem::IntoResponse for SerdeJson<T> {
    fn into_response(self) -> poem::Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => poem::Response::builder().content_type(JSON_CONTENT_TYPE).body(body),
            // Serializing plain structs of strings, numbers and booleans cannot fail.
            Err(err) => {
                tracing::error!(error = %err, "response serialization failed");
                poem::Response::builder().status(poem::http::StatusCode::INTERNAL_SERVER_ERROR).finish()
            }
        }
    }
}

/// A plain `200` JSON answer whose OpenAPI description is "Success" (poem-openapi leaves a bare
/// `Json` response undescribed).
pub(crate) struct Success<T>(pub(crate) T);

impl<T: ToJSON + Send> poem::IntoResponse for Success<T> {
    fn into_response(self) -> poem::Response {
        poem_openapi::payload::Json(self.0).into_response()
    }
}

impl<T: Type + ToJSON + Send> poem_openapi::ApiResponse for Success<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        poem_openapi::registry::MetaResponses {
            responses: vec![poem_openapi::registry::MetaResponse {
                description: "Success",
                status: Some(200),
                status_range: None,
                content: vec![poem_openapi::registry::MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_parameter_left_out_is_none_and_a_present_one_is_parsed() {
        assert_eq!(Required::<String>::parse_from_parameters(Vec::<&str>::new()).ok(), Some(Required(None)));
        assert_eq!(Required::<String>::parse_from_parameters(["x"]).ok(), Some(Required(Some("x".to_owned()))));
        assert_eq!(Required::<String>::parse_from_parameters([""]).ok(), Some(Required(Some(String::new()))));
    }

    #[test]
    fn a_required_parameter_is_declared_required_with_the_inner_schema() {
        const { assert!(<Required<String> as Type>::IS_REQUIRED) };
        assert_eq!(Required::<String>::schema_ref(), String::schema_ref());
    }
}
