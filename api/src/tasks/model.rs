//! Task domain types: validated at the edge, trusted inside.
//!
//! `TaskTitle` and `TaskDescription` can only be built by `parse`, which trims (titles),
//! counts characters (Unicode scalar values, so an emoji is one) and refuses NUL and other
//! control characters (a description may contain newlines and tabs). Text is otherwise kept
//! exactly as sent: combining characters and emoji round-trip unchanged.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::{
    auth::model::UserId,
    config::AuthSecret,
    validation::{ValidationError, ValidationErrors},
};

/// Longest title, in characters.
pub(crate) const TITLE_MAX: usize = 200;
/// Longest description, in characters.
pub(crate) const DESCRIPTION_MAX: usize = 10_000;
/// Default page size.
pub(crate) const DEFAULT_LIMIT: u64 = 20;
/// Largest page size.
pub(crate) const MAX_LIMIT: u64 = 100;
/// Longest `Idempotency-Key`, in characters.
pub(crate) const IDEMPOTENCY_KEY_MAX: usize = 255;

/// A tasks-domain failure a client can cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskError {
    /// No such task for this user (also: another user's task).
    #[error("task not found")]
    NotFound,
    /// The user already has the maximum number of tasks.
    #[error("task limit reached")]
    LimitReached {
        /// The configured limit.
        limit: u64,
    },
    /// `If-Match` named a version that is no longer current.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A field failed validation.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// The `Idempotency-Key` was already used for a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A request with the same `Idempotency-Key` is still running.
    #[error("idempotency key in progress")]
    IdempotencyInProgress,
    /// A sync cursor older than the change feed's retention.
    #[error("sync cursor expired")]
    SyncCursorExpired,
    /// The user, or this server, already has the maximum number of live-update streams.
    #[error("too many streams")]
    TooManyStreams,
}

impl From<ValidationErrors> for TaskError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<ValidationError> for TaskError {
    fn from(error: ValidationError) -> Self {
        Self::Validation(error.into())
    }
}

/// A task id: a positive integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TaskId(i64);

impl TaskId {
    /// Ids start at 1; anything else names no task.
    pub(crate) fn parse(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }

    /// The number.
    pub(crate) fn get(self) -> i64 {
        self.0
    }
}

/// A trimmed title of 1 to 200 characters without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskTitle(String);

impl TaskTitle {
    /// Validates a title; the error names the field `title`.
    pub(crate) fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(ValidationError::new("title", "must not be empty"));
        }
        if chars > TITLE_MAX {
            return Err(ValidationError::new("title", format!("must be at most {TITLE_MAX} characters (got {chars})")));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new("title", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The title.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description of at most 10,000 characters; newlines and tabs allowed, other control
/// characters not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskDescription(String);

impl TaskDescription {
    /// Validates a description; the error names the field `description`.
    pub(crate) fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars > DESCRIPTION_MAX {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {DESCRIPTION_MAX} characters (got {chars})"),
            ));
        }
        if raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ValidationError::new(
                "description",
                "must not contain control characters other than newline and tab",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The description.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task to create.
#[derive(Clone, Debug)]
pub(crate) struct NewTask {
    /// Title.
    pub(crate) title: TaskTitle,
    /// Optional description.
    pub(crate) description: Option<TaskDescription>,
}

/// A full replacement (PUT).
#[derive(Clone, Debug)]
pub(crate) struct TaskReplacement {
    /// Title.
    pub(crate) title: TaskTitle,
    /// Description (`None` clears it).
    pub(crate) description: Option<TaskDescription>,
    /// Completion flag.
    pub(crate) is_completed: bool,
}

/// A partial update (PATCH): `None` leaves a field unchanged; `Some(None)` clears the
/// description.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskPatch {
    /// New title.
    pub(crate) title: Option<TaskTitle>,
    /// New description, or `Some(None)` to clear it.
    pub(crate) description: Option<Option<TaskDescription>>,
    /// New completion flag.
    pub(crate) is_completed: Option<bool>,
}

impl TaskPatch {
    /// Whether the patch changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.is_completed.is_none()
    }
}

/// A stored task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    /// Id.
    pub(crate) id: TaskId,
    /// Title.
    pub(crate) title: String,
    /// Description.
    pub(crate) description: Option<String>,
    /// Completion flag.
    pub(crate) is_completed: bool,
    /// Owner's user id.
    pub(crate) owner_id: UserId,
    /// Creation time.
    pub(crate) created_at: OffsetDateTime,
    /// Last change (microseconds; the version behind the ETag).
    pub(crate) updated_at: OffsetDateTime,
}

impl Task {
    /// The strong ETag of this version: the last-change time in microseconds.
    pub(crate) fn etag(&self) -> ETag {
        ETag(self.updated_at)
    }
}

/// A task version, rendered as a strong entity tag `"<hex microseconds>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ETag(OffsetDateTime);

impl ETag {
    /// The version's timestamp.
    pub(crate) fn updated_at(self) -> OffsetDateTime {
        self.0
    }

    fn parse_one(tag: &str) -> Option<Self> {
        let hex = tag.strip_prefix('"')?.strip_suffix('"')?;
        if hex.is_empty() || hex.len() > 16 {
            return None;
        }
        let micros = i64::from_str_radix(hex, 16).ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok().map(Self)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{:x}\"", self.0.unix_timestamp_nanos() / 1_000)
    }
}

/// What an `If-Match` header asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// No header: no condition.
    None,
    /// `*`: the task must exist.
    Any,
    /// One of these versions must be current (empty: nothing can match).
    OneOf(Vec<ETag>),
}

impl Precondition {
    /// Parses `If-Match` (RFC 9110 §13.1.1): `*`, or a list of entity tags; weak tags never
    /// match (strong comparison) and unparsable ones are ignored.
    pub(crate) fn from_if_match(header: Option<&str>) -> Self {
        let Some(header) = header.map(str::trim) else { return Self::None };
        if header == "*" {
            return Self::Any;
        }
        Self::OneOf(header.split(',').filter_map(|tag| ETag::parse_one(tag.trim())).collect())
    }
}

/// Filters of a list query.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListFilter {
    /// Only ids below this (the keyset cursor).
    pub(crate) before: Option<TaskId>,
    /// Only completed (`true`) or open (`false`) tasks.
    pub(crate) completed: Option<bool>,
    /// A `LIKE` pattern (already escaped) for the title, compared case-insensitively.
    pub(crate) title_pattern: Option<String>,
}

/// A keyset cursor: the last id of a page, bound to its user by an HMAC so it is opaque and a
/// cursor from another user or a forged one is refused.
pub(crate) struct Cursor;

impl Cursor {
    /// The cursor continuing after `last` for `user_id`.
    pub(crate) fn encode(last: TaskId, user_id: &UserId, secret: &AuthSecret) -> String {
        let id = last.get().to_string();
        URL_SAFE_NO_PAD.encode(format!("{id}.{}", Self::sign(&id, user_id, secret)))
    }

    /// The id a cursor continues after, if it is well-formed and was issued to `user_id`.
    pub(crate) fn decode(cursor: &str, user_id: &UserId, secret: &AuthSecret) -> Result<TaskId, ValidationError> {
        let invalid = || ValidationError::new("cursor", "is not a valid cursor for this list");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (id, signature) = text.split_once('.').ok_or_else(invalid)?;
        let expected = Self::sign(id, user_id, secret);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes())) {
            return Err(invalid());
        }
        id.parse::<i64>().ok().and_then(TaskId::parse).ok_or_else(invalid)
    }

    fn sign(id: &str, user_id: &UserId, secret: &AuthSecret) -> String {
        sign("task-cursor", id, user_id, secret)
    }
}

/// An HMAC of `payload` for `purpose` and one user, truncated to 96 bits, in base64url.
fn sign(purpose: &str, payload: &str, user_id: &UserId, secret: &AuthSecret) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{purpose}:{user_id}:{payload}").as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..12])
}

/// A position in a user's change feed: the last change seen (`seq`, the owner's change
/// counter) and when the cursor was issued (Unix seconds), bound to the user by an HMAC like
/// [`Cursor`]. Every answer issues a fresh one, so only a client that has not synced for the
/// whole retention holds an expired cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SyncCursor {
    /// The owner's change counter up to which every change has been seen.
    pub(crate) seq: i64,
    /// When the cursor was issued, Unix seconds.
    pub(crate) issued_at: i64,
}

impl SyncCursor {
    /// The opaque text of this cursor for `user_id`.
    pub(crate) fn encode(self, user_id: &UserId, secret: &AuthSecret) -> String {
        let payload = format!("{}.{}", self.seq, self.issued_at);
        let signature = sign("task-sync", &payload, user_id, secret);
        URL_SAFE_NO_PAD.encode(format!("{payload}.{signature}"))
    }

    /// A cursor's position, if it is well-formed and was issued to `user_id`; `field` names the
    /// parameter it came in (`since`, `Last-Event-ID`).
    pub(crate) fn decode(
        cursor: &str,
        field: &str,
        user_id: &UserId,
        secret: &AuthSecret,
    ) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new(field, "is not a valid sync cursor for this user");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (payload, signature) = text.rsplit_once('.').ok_or_else(invalid)?;
        let expected = sign("task-sync", payload, user_id, secret);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes())) {
            return Err(invalid());
        }
        let (seq, issued_at) = payload.split_once('.').ok_or_else(invalid)?;
        let seq = seq.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(invalid)?;
        let issued_at = issued_at.parse::<i64>().map_err(|_| invalid())?;
        Ok(Self { seq, issued_at })
    }
}

/// One entry of the change feed: a task's latest version, or the id of a deleted task.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    /// The task was created or changed; this is its current version.
    Upsert(Task),
    /// The task was deleted.
    Delete(TaskId),
}

/// A change and its position in the owner's feed.
#[derive(Clone, Debug)]
pub(crate) struct FeedEntry {
    /// The owner's change counter at this change.
    pub(crate) seq: i64,
    /// What changed.
    pub(crate) change: Change,
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters, chosen by the client and scoped to
/// its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a key; the error names the header.
    pub(crate) fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "Idempotency-Key";
        if raw.is_empty() || raw.len() > IDEMPOTENCY_KEY_MAX {
            return Err(ValidationError::new(field, format!("must be 1 to {IDEMPOTENCY_KEY_MAX} characters")));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(field, "must be visible ASCII characters (no spaces)"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A write to the tasks, as an idempotent request: what is compared when a key comes back.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TaskWrite<'a> {
    /// `POST /tasks`.
    Create(&'a NewTask),
    /// `PUT /tasks/{id}`.
    Replace(TaskId, &'a TaskReplacement, &'a Precondition),
    /// `PATCH /tasks/{id}`.
    Patch(TaskId, &'a TaskPatch, &'a Precondition),
    /// `DELETE /tasks/{id}`.
    Delete(TaskId, &'a Precondition),
}

impl TaskWrite<'_> {
    /// The status the API answers this write with when it succeeds (stored with the key).
    pub(crate) fn success_status(self) -> u16 {
        match self {
            Self::Create(_) => 201,
            Self::Replace(..) | Self::Patch(..) => 200,
            Self::Delete(..) => 204,
        }
    }

    /// SHA-256 (hex) of a canonical rendering of the request: the operation, the task, every
    /// field as validated and the `If-Match` condition. Equal requests have equal fingerprints.
    pub(crate) fn fingerprint(self) -> String {
        use serde_json::{Value, json};
        let text = |t: Option<&str>| t.map_or(Value::Null, |t| Value::String(t.to_owned()));
        let condition = |p: &Precondition| match p {
            Precondition::None => Value::Null,
            Precondition::Any => json!("*"),
            Precondition::OneOf(tags) => tags.iter().map(ToString::to_string).collect(),
        };
        let canonical = match self {
            Self::Create(task) => {
                json!(["create", task.title.as_str(), text(task.description.as_ref().map(TaskDescription::as_str))])
            }
            Self::Replace(id, task, precondition) => json!([
                "replace",
                id.get(),
                task.title.as_str(),
                text(task.description.as_ref().map(TaskDescription::as_str)),
                task.is_completed,
                condition(precondition)
            ]),
            Self::Patch(id, patch, precondition) => json!([
                "patch",
                id.get(),
                text(patch.title.as_ref().map(TaskTitle::as_str)),
                // Absent (unchanged) and `null` (cleared) must differ.
                patch
                    .description
                    .as_ref()
                    .map_or(json!({}), |d| json!({"set": text(d.as_ref().map(TaskDescription::as_str))})),
                patch.is_completed,
                condition(precondition)
            ]),
            Self::Delete(id, precondition) => json!(["delete", id.get(), condition(precondition)]),
        };
        hex::encode(<Sha256 as sha2::Digest>::digest(canonical.to_string().as_bytes()))
    }
}

/// A validated `q`: the title search, as a `LIKE` pattern in which `%`, `_` and `\` of the
/// query match literally. The case is left as sent: the query lowers both sides with the
/// database's own `lower()`, so the two always fold alike (SQLite folds ASCII only; lowering
/// here with Unicode rules would make `q=É` miss a title containing `É`).
pub(crate) fn search_pattern(q: &str) -> Result<String, ValidationError> {
    if q.chars().count() > TITLE_MAX {
        return Err(ValidationError::new("q", format!("must be at most {TITLE_MAX} characters")));
    }
    if q.chars().any(char::is_control) {
        return Err(ValidationError::new("q", "must not contain control characters"));
    }
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(TaskTitle::parse("  Buy milk \n").expect("valid").as_str(), "Buy milk");
        assert_eq!(TaskTitle::parse(&"é".repeat(200)).expect("200 characters").as_str().chars().count(), 200);
        let bad = [
            ("", "empty"),
            ("   \t ", "only whitespace"),
            (&"a".repeat(201) as &str, "201 characters"),
            ("a\u{0}b", "NUL"),
            ("a\nb", "newline inside a title"),
            ("a\u{7}b", "bell"),
        ];
        for (input, reason) in bad {
            let err = TaskTitle::parse(input).expect_err(reason);
            assert_eq!(err.field, "title", "{reason}");
        }
    }

    #[test]
    fn descriptions_allow_newlines_and_tabs_only() {
        assert!(TaskDescription::parse("line 1\nline 2\tindented").is_ok());
        assert!(TaskDescription::parse("").is_ok());
        assert!(TaskDescription::parse(&"x".repeat(10_000)).is_ok());
        for (input, reason) in [("a\rb", "carriage return"), ("a\u{0}", "NUL"), ("\u{1b}[31m", "escape")] {
            assert_eq!(TaskDescription::parse(input).expect_err(reason).field, "description");
        }
        assert!(TaskDescription::parse(&"x".repeat(10_001)).is_err());
    }

    #[test]
    fn emoji_and_combining_characters_are_kept_exactly() {
        let text = "e\u{301} 👩‍👩‍👧 ok";
        assert_eq!(TaskTitle::parse(text).expect("valid").as_str(), text);
        assert_eq!(TaskDescription::parse(text).expect("valid").as_str(), text);
    }

    #[test]
    fn etags_round_trip_and_if_match_is_parsed_strictly() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_312_998_123_456_000).expect("valid");
        let tag = ETag(at);
        let text = tag.to_string();
        assert!(text.starts_with('"') && text.ends_with('"'));
        assert_eq!(Precondition::from_if_match(Some(&text)), Precondition::OneOf(vec![tag]));
        assert_eq!(Precondition::from_if_match(Some(&format!("\"zz\", {text}"))), Precondition::OneOf(vec![tag]));
        assert_eq!(Precondition::from_if_match(Some(&format!("W/{text}"))), Precondition::OneOf(vec![]));
        assert_eq!(Precondition::from_if_match(Some("*")), Precondition::Any);
        assert_eq!(Precondition::from_if_match(None), Precondition::None);
        assert_eq!(Precondition::from_if_match(Some("garbage")), Precondition::OneOf(vec![]));
    }

    #[test]
    fn cursors_are_bound_to_their_user() {
        let secret = AuthSecret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz".to_owned()).expect("valid");
        let id = TaskId::parse(42).expect("positive");
        let (alice, bob) = (UserId::new("alice".to_owned()), UserId::new("bob".to_owned()));
        let cursor = Cursor::encode(id, &alice, &secret);
        assert_eq!(Cursor::decode(&cursor, &alice, &secret).expect("valid"), id);
        assert!(Cursor::decode(&cursor, &bob, &secret).is_err(), "foreign cursor");
        for bad in ["", "!!!", "NDI", &URL_SAFE_NO_PAD.encode("42.forged"), &URL_SAFE_NO_PAD.encode("-1.x")] {
            assert_eq!(Cursor::decode(bad, &alice, &secret).expect_err(bad).field, "cursor");
        }
    }

    #[test]
    fn search_patterns_escape_like_metacharacters() {
        assert_eq!(search_pattern("50%_off\\").expect("valid"), "%50\\%\\_off\\\\%");
        assert_eq!(search_pattern("MiLK").expect("valid"), "%MiLK%", "case is folded in SQL");
        assert!(search_pattern("a\u{0}").is_err());
    }

    proptest! {
        #[test]
        fn title_parsing_never_panics_and_accepted_titles_obey_the_rules(input in "\\PC{0,250}") {
            if let Ok(title) = TaskTitle::parse(&input) {
                let n = title.as_str().chars().count();
                prop_assert!((1..=TITLE_MAX).contains(&n));
                prop_assert_eq!(title.as_str(), input.trim());
            }
        }

        #[test]
        fn id_parsing_accepts_exactly_positive_numbers(raw in any::<i64>()) {
            prop_assert_eq!(TaskId::parse(raw).is_some(), raw > 0);
        }
    }
}
