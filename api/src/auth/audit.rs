//! The security audit trail: a user's own events, newest first, a page at a time; and the
//! retention sweep. The events themselves (`AuditKind`, `AuditEvent`) are in `auth::model`.
//!
//! An event is written only by `AuthWrite::record` (`auth::store`), so it joins the
//! transaction of the change it describes: the change and its record commit together or not
//! at all. An event holds its kind, the user (none for a failed sign-in with an unknown
//! address, so nothing links it to an account), a reason for failures (or the method of a
//! second factor), the client address and `User-Agent`, and the time; never an email address,
//! a password, a token, a secret or a code.

use std::time::Duration;

use sea_orm::DbErr;
use time::OffsetDateTime;

use crate::{
    auth::{
        error::AuthError,
        model::{AuditRecord, UserId},
        store::AuthStore,
    },
    error::ApiError,
    validation::ValidationError,
};

/// The largest page of events.
pub(crate) const MAX_PAGE: u32 = 100;

/// One page of a user's events, newest first.
#[derive(Debug)]
pub(crate) struct AuditPage {
    /// The events.
    pub(crate) events: Vec<AuditRecord>,
    /// The cursor of the next (older) page, if there is one.
    pub(crate) next: Option<String>,
}

/// A page cursor: the id of the last event seen. It only narrows the caller's own events, so it
/// needs no signature.
fn parse_cursor(cursor: &str) -> Result<i64, ValidationError> {
    cursor
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && cursor.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ValidationError::new("cursor", "is not a valid cursor for this list").in_query())
}

/// The audit trail over the auth store; cheap to clone.
#[derive(Clone)]
pub(crate) struct AuditTrail {
    store: AuthStore,
    retention: Duration,
}

impl AuditTrail {
    /// The trail over `store`, keeping events for `retention`.
    pub(crate) fn new(store: AuthStore, retention: Duration) -> Self {
        Self { store, retention }
    }

    /// The user's events older than `cursor` (or the newest), at most `limit` (1..=[`MAX_PAGE`]).
    pub(crate) async fn page(&self, user: &UserId, cursor: Option<&str>, limit: u32) -> Result<AuditPage, ApiError> {
        let before = cursor.map(parse_cursor).transpose().map_err(|err| AuthError::Validation(err.into()))?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut events = self.store.audit_events(user, before, limit + 1).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|last| last.id.to_string())
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }

    /// Deletes the events older than the retention period; returns how many.
    pub(crate) async fn sweep(&self, now: OffsetDateTime) -> Result<u64, DbErr> {
        self.store.write().delete_audit_events_before(now - self.retention).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_positive_decimal_ids() {
        assert_eq!(parse_cursor("42"), Ok(42));
        for bad in ["", "0", "-1", "+1", " 1", "1e3", "abc", "99999999999999999999"] {
            assert_eq!(parse_cursor(bad).expect_err(bad).field, "query.cursor", "{bad:?}");
        }
    }
}
