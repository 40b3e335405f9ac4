//! Request bodies: media-type check, size-limited read, JSON (or form) parsing, and strict
//! validation against the documented schema with errors that name the field.
//!
//! The extractor keeps Better Auth's order (`docs/better-auth-wire.md` §1.2–§1.3): 415 and 400
//! (invalid JSON) are decided while extracting; schema validation (400/422 naming
//! `[body.<field>]`) happens when the handler calls [`Body::parse`], after its origin check.
//! Validation is driven by the DTO's own OpenAPI schema, so what the spec documents and what
//! the server accepts cannot drift apart: required fields, JSON kinds (a number is not a string,
//! unlike poem-openapi's lenient parsing), `null` only where the schema says `nullable`, and
//! no NUL character anywhere (PostgreSQL cannot store one in `text`).

use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::{Map, Value};

use crate::{
    error::{ApiError, ParamStatus, RequestError},
    validation::{ValidationError, ValidationErrors},
};

const JSON_MEDIA: &str = "application/json";
const FORM_MEDIA: &str = "application/x-www-form-urlencoded";

/// The largest body to read, in bytes, as request data (`http::middleware::BodyLimit` sets it
/// from `BODY_LIMIT`); without it, 1 MiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadLimit(pub(crate) usize);

/// A JSON request body for the DTO `T`, read and syntax-checked but not yet validated.
/// With `FORM = true` (sign-in and sign-up only) a form-encoded body is accepted too.
pub(crate) struct Body<T, const FORM: bool = false> {
    value: Option<Value>,
    _dto: PhantomData<fn() -> T>,
}

/// A body that must be JSON.
pub(crate) type JsonBody<T> = Body<T, false>;
/// A body that may be JSON or `application/x-www-form-urlencoded` (values become strings).
pub(crate) type JsonOrFormBody<T> = Body<T, true>;

impl<T: ParseFromJSON + Type, const FORM: bool> Body<T, FORM> {
    /// Validates the body against `T`'s schema and builds `T`. Errors name every bad field.
    pub(crate) fn parse(self) -> Result<T, ValidationErrors> {
        parse_value::<T>(self.value)
    }

    /// Like [`Self::parse`], but a key the schema does not declare is an error too (so a typo
    /// such as `completed` for `is_completed` is not silently ignored).
    pub(crate) fn parse_strict(self) -> Result<T, ValidationErrors> {
        if let Some(Value::Object(object)) = &self.value {
            let schema = Registry::new().create_fake_schema::<T>();
            let unknown: Vec<ValidationError> = object
                .keys()
                .filter(|key| !schema.properties.iter().any(|(name, _)| name == key))
                .map(|key| ValidationError::new(key.clone(), "Unknown field").in_body())
                .collect();
            if !unknown.is_empty() {
                return Err(ValidationErrors(unknown));
            }
        }
        self.parse()
    }

    /// Whether the body is an object with this key (whatever its value).
    pub(crate) fn has_key(&self, key: &str) -> bool {
        matches!(&self.value, Some(Value::Object(object)) if object.contains_key(key))
    }

    /// Whether the request carried a body at all.
    pub(crate) fn is_present(&self) -> bool {
        self.value.is_some()
    }
}

impl<'a, T: ParseFromJSON + Type + Send, const FORM: bool> ApiExtractor<'a> for Body<T, FORM> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        // Only JSON is documented: form bodies are accepted on sign-in/up for Better Auth
        // compatibility, but every value arrives as a string (so `rememberMe=false` fails, as in
        // Better Auth), and generators mishandle two media types sharing one schema.
        let content = vec![MetaMediaType { content_type: JSON_MEDIA, schema: T::schema_ref() }];
        Some(MetaRequest { description: None, content, required: T::IS_REQUIRED })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let limit = request.data::<ReadLimit>().map_or(1024 * 1024, |limit| limit.0);
        let allowed = if FORM { "application/x-www-form-urlencoded, application/json" } else { JSON_MEDIA };
        let media_type = request.content_type().map(media_type_of);
        if let Some(media) = &media_type
            && media != JSON_MEDIA
            && !(FORM && media == FORM_MEDIA)
        {
            let found = request.content_type().unwrap_or_default().to_owned();
            return Err(ApiError::from(RequestError::UnsupportedMediaType { found: Some(found), allowed }).into());
        }
        let bytes = match body.take() {
            Ok(body) => body.into_bytes_limit(limit).await.map_err(|err| match err {
                poem::error::ReadBodyError::PayloadTooLarge => ApiError::from(RequestError::PayloadTooLarge { limit }),
                other => ApiError::from(RequestError::InvalidParameter {
                    message: format!("[body] {other}"),
                    status: ParamStatus::UnprocessableEntity,
                }),
            })?,
            Err(_) => Default::default(),
        };
        let value = match media_type.as_deref() {
            // No content type and no body: the body is "undefined" (§1.2).
            None if bytes.is_empty() => None,
            // An empty body where none is required is absent too (some generated clients send a
            // JSON content type with nothing after it); where a body is required it is invalid
            // JSON, as in Better Auth.
            Some(_) if bytes.is_empty() && !T::IS_REQUIRED => None,
            None => {
                return Err(ApiError::from(RequestError::UnsupportedMediaType { found: None, allowed }).into());
            }
            Some(FORM_MEDIA) => Some(form_to_json(&bytes)),
            Some(_) => Some(serde_json::from_slice(&bytes).map_err(|_| ApiError::from(RequestError::InvalidJson))?),
        };
        Ok(Self { value, _dto: PhantomData })
    }
}

/// The media type alone: the part before `;`, trimmed and lower-cased.
fn media_type_of(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// A form body as a JSON object of strings; the first occurrence of a key wins.
fn form_to_json(bytes: &[u8]) -> Value {
    let mut object = Map::new();
    for (key, value) in url::form_urlencoded::parse(bytes) {
        object.entry(key.into_owned()).or_insert(Value::String(value.into_owned()));
    }
    Value::Object(object)
}

/// Validates `value` against `T`'s schema, then builds `T`.
pub(crate) fn parse_value<T: ParseFromJSON + Type>(value: Option<Value>) -> Result<T, ValidationErrors> {
    let mut registry = Registry::new();
    let schema = registry.create_fake_schema::<T>();
    let object = match &value {
        Some(Value::Object(object)) => object,
        other => {
            return Err(ValidationError::new(
                "",
                format!("Invalid input: expected object, received {}", kind_of(other.as_ref())),
            )
            .in_body()
            .into());
        }
    };
    let mut errors = Vec::new();
    for (name, property) in &schema.properties {
        let inline = match property {
            MetaSchemaRef::Inline(inline) => Some(&**inline),
            MetaSchemaRef::Reference(_) => None,
        };
        let (expected, nullable) = inline.map_or(("object", false), |s| {
            let nullable_any_of = s.any_of.iter().any(|m| matches!(m, MetaSchemaRef::Inline(i) if i.nullable));
            let ty = if s.ty.is_empty() && !s.any_of.is_empty() { "object" } else { s.ty };
            (ty, s.nullable || nullable_any_of)
        });
        let required = schema.required.contains(name);
        let problem = match object.get(*name) {
            None if required => Some(format!("Invalid input: expected {expected}, received undefined")),
            None => None,
            Some(Value::Null) if nullable => None,
            // A `$ref` (an object or an enum declared once) is left to its own parser below.
            Some(found) if inline.is_some() && !matches_kind(expected, found) => {
                Some(format!("Invalid input: expected {expected}, received {}", kind_of(Some(found))))
            }
            Some(found) if contains_nul(found) => Some("Invalid input: NUL characters are not allowed".to_owned()),
            Some(found) => inline.and_then(|s| constraint_problem(s, found)),
        };
        if let Some(message) = problem {
            errors.push(ValidationError::new(*name, message).in_body());
        }
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    T::parse_from_json(value).map_err(|err| ValidationError::new("", err.into_message()).in_body().into())
}

/// The documented limits of a property (lengths, ranges, item counts), checked here so the error
/// names the field; poem-openapi's own validators would only say the body failed to parse.
/// `format: password` fields are left to the domain, which answers with Better Auth's codes.
fn constraint_problem(schema: &poem_openapi::registry::MetaSchema, value: &Value) -> Option<String> {
    match value {
        Value::String(text) if schema.format != Some("password") => {
            let chars = text.chars().count();
            match (schema.min_length, schema.max_length) {
                (Some(min), _) if chars < min => Some(format!("Too small: expected string to have >={min} characters")),
                (_, Some(max)) if chars > max => Some(format!("Too big: expected string to have <={max} characters")),
                _ => None,
            }
        }
        Value::Number(number) => {
            let n = number.as_f64()?;
            match (schema.minimum, schema.maximum) {
                (Some(min), _) if n < min => Some(format!("Too small: expected number to be >={min}")),
                (_, Some(max)) if n > max => Some(format!("Too big: expected number to be <={max}")),
                _ => None,
            }
        }
        Value::Array(items) => match schema.max_items {
            Some(max) if items.len() > max => Some(format!("Too big: expected array to have <={max} items")),
            _ => None,
        },
        _ => None,
    }
}

fn matches_kind(expected: &str, value: &Value) -> bool {
    match expected {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// zod's name for a JSON value's type.
fn kind_of(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Object)]
    struct Sample {
        #[oai(validator(max_length = 5))]
        name: String,
        email: String,
        remember_me: Option<bool>,
        #[oai(nullable)]
        image: Option<String>,
    }

    fn messages(value: Option<Value>) -> String {
        parse_value::<Sample>(value).map(|_| String::new()).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn bad_bodies_name_each_field_like_better_auth() {
        let cases = [
            (None, "[body] Invalid input: expected object, received undefined"),
            (Some(json!([])), "[body] Invalid input: expected object, received array"),
            (Some(json!(null)), "[body] Invalid input: expected object, received null"),
            (Some(json!({"email": "a@b.co"})), "[body.name] Invalid input: expected string, received undefined"),
            (
                Some(json!({"name": 5, "email": "a@b.co"})),
                "[body.name] Invalid input: expected string, received number",
            ),
            (
                Some(json!({"name": "x", "email": "a@b.co", "remember_me": "false"})),
                "[body.remember_me] Invalid input: expected boolean, received string",
            ),
            (Some(json!({"name": "x", "email": null})), "[body.email] Invalid input: expected string, received null"),
            (
                Some(json!({"name": "a\u{0}b", "email": "a@b.co"})),
                "[body.name] Invalid input: NUL characters are not allowed",
            ),
            (
                Some(json!({})),
                "[body.name] Invalid input: expected string, received undefined; \
                 [body.email] Invalid input: expected string, received undefined",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(messages(body.clone()), expected, "body: {body:?}");
        }
    }

    #[test]
    fn documented_limits_are_enforced_with_the_field_named() {
        assert_eq!(
            messages(Some(json!({"name": "toolong", "email": "a@b.co"}))),
            "[body.name] Too big: expected string to have <=5 characters"
        );
        assert_eq!(messages(Some(json!({"name": "ééééé", "email": "a@b.co"}))), "", "limits count characters");
    }

    #[test]
    fn nullable_fields_accept_null_and_unknown_keys_are_ignored() {
        let parsed = parse_value::<Sample>(Some(json!({"name": "", "email": "a@b.co", "image": null, "extra": 1})))
            .expect("valid");
        assert_eq!(parsed.image, None);
        assert_eq!(parsed.name, "");
    }

    #[test]
    fn form_bodies_become_string_objects() {
        let value = form_to_json(b"email=a%40b.co&password=p+w&email=second");
        assert_eq!(value, json!({"email": "a@b.co", "password": "p w"}));
    }
}
