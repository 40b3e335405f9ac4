//! Task domain types and rules.

use crate::validation::ValidationErrors;

/// A tasks-domain failure a client can cause.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
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
}
