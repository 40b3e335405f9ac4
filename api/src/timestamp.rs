//! Timestamps on the wire and in the database.
//!
//! Better Auth prints dates with JavaScript's `toISOString()`: UTC, exactly three fraction
//! digits, `Z` (`better-auth-wire.md` §1.4). [`Timestamp`] is that type for JSON bodies and
//! the OpenAPI schema (`string`, `date-time`). Auth timestamps are created at millisecond
//! precision so what the database holds and what clients see agree.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use time::{
    OffsetDateTime, UtcOffset,
    format_description::{BorrowedFormatItem, well_known::Rfc3339},
    macros::format_description,
};

const MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const MICROS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A UTC instant, serialised as `YYYY-MM-DDTHH:MM:SS.sssZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Wraps an instant (converted to UTC).
    pub fn new(at: OffsetDateTime) -> Self {
        Self(at.to_offset(UtcOffset::UTC))
    }

    /// The instant.
    pub fn get(self) -> OffsetDateTime {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(at: OffsetDateTime) -> Self {
        Self::new(at)
    }
}

/// Now, truncated to whole milliseconds (JavaScript `Date` precision).
pub fn now_millis() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc(), 1_000_000)
}

/// Now, truncated to whole microseconds (PostgreSQL `timestamptz` precision).
pub fn now_micros() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc(), 1_000)
}

fn truncate(at: OffsetDateTime, unit_nanos: u32) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % unit_nanos).unwrap_or(at)
}

/// `toISOString()` form: `2026-11-28T06:36:38.913Z`.
pub fn iso_millis(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(MILLIS).unwrap_or_default()
}

/// Fixed-width microsecond form: `2026-11-28T06:36:38.913402Z`.
pub fn iso_micros(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(MICROS).unwrap_or_default()
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self::new(OffsetDateTime::parse(&text, &Rfc3339)?)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(iso_millis(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn formats_always_have_fixed_width() {
        let at = datetime!(2026-11-28 06:36:38.9 +02:00);
        assert_eq!(iso_millis(at), "2026-11-28T04:36:38.900Z");
        assert_eq!(iso_micros(at), "2026-11-28T04:36:38.900000Z");
        let whole = datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(iso_millis(whole), "2026-01-02T03:04:05.000Z");
    }

    #[test]
    fn now_is_truncated_to_the_stored_precision() {
        assert_eq!(now_millis().nanosecond() % 1_000_000, 0);
        assert_eq!(now_micros().nanosecond() % 1_000, 0);
    }
}
