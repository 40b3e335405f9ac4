//! Timestamps on the wire and in the database.
//!
//! Better Auth prints dates with JavaScript's `toISOString()`: UTC, exactly three fraction
//! digits, `Z` (`docs/better-auth-wire.md` §1.4). [`Timestamp`] is that type for JSON bodies and
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
pub(crate) struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Wraps an instant (converted to UTC).
    pub(crate) fn new(at: OffsetDateTime) -> Self {
        Self(at.to_offset(UtcOffset::UTC))
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(at: OffsetDateTime) -> Self {
        Self::new(at)
    }
}

/// Now, truncated to whole milliseconds (JavaScript `Date` precision).
pub(crate) fn now_millis() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc(), 1_000_000)
}

/// Now, truncated to whole microseconds (PostgreSQL `timestamptz` precision).
pub(crate) fn now_micros() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc(), 1_000)
}

fn truncate(at: OffsetDateTime, unit_nanos: u32) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % unit_nanos).unwrap_or(at)
}

/// `toISOString()` form: `2026-11-28T06:36:38.913Z`.
pub(crate) fn iso_millis(at: OffsetDateTime) -> String {
    match millis_ascii(at) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => at.to_offset(UtcOffset::UTC).format(MILLIS).unwrap_or_default(),
    }
}

/// [`iso_millis`] into a stack buffer, for years 0 to 9999. Every response carries timestamps;
/// writing the digits directly is several times cheaper than interpreting a format description
/// (or `format!`), which showed in the profile of a task list.
fn millis_ascii(at: OffsetDateTime) -> Option<[u8; 24]> {
    fn put(buf: &mut [u8; 24], start: usize, width: usize, mut value: u32) {
        for slot in buf[start..start + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let at = at.to_offset(UtcOffset::UTC);
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    put(&mut buf, 0, 4, year);
    put(&mut buf, 5, 2, u32::from(u8::from(at.month())));
    put(&mut buf, 8, 2, u32::from(at.day()));
    put(&mut buf, 11, 2, u32::from(at.hour()));
    put(&mut buf, 14, 2, u32::from(at.minute()));
    put(&mut buf, 17, 2, u32::from(at.second()));
    put(&mut buf, 20, 3, u32::from(at.millisecond()));
    Some(buf)
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

/// The same text as [`ToJSON`] (for responses written with `SerdeJson`).
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match millis_ascii(self.0) {
            Some(text) => serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?),
            None => serializer.serialize_str(&iso_millis(self.0)),
        }
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
        let early = datetime!(0987-06-05 04:03:02.001999 UTC);
        assert_eq!(iso_millis(early), "0987-06-05T04:03:02.001Z");
        for at in [at, whole, early, datetime!(9999-12-31 23:59:59.999 UTC)] {
            let reference = at.to_offset(UtcOffset::UTC).format(MILLIS).expect("formats");
            assert_eq!(iso_millis(at), reference, "{at}");
            let serialized = serde_json::to_value(Timestamp::new(at)).expect("serializes");
            assert_eq!(serialized, Value::String(reference));
        }
    }

    #[test]
    fn now_is_truncated_to_the_stored_precision() {
        assert_eq!(now_millis().nanosecond() % 1_000_000, 0);
        assert_eq!(now_micros().nanosecond() % 1_000, 0);
    }
}
