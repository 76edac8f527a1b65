//! The one error type of firefighter-core.

use std::fmt;

use serde::Serialize;

use crate::lifecycle::Refusal;

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (`title`, `priority_id`...).
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Everything that can go wrong in firefighter-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is invalid; nothing was written.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Something referenced does not exist; nothing was written.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its identifier, as given.
        id: String,
    },
    /// The lifecycle refuses the status change; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The change conflicts with the stored state (a unique value taken, or
    /// concurrent changes that did not settle); nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed; the transaction was rolled back.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The configuration is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// A service firefighter needs is not available right now (a writer
    /// stopped, a file that cannot be written); nothing was recorded.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back (the database holds a value this version does not know).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// An invalid-input error about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A not-found error.
    pub fn not_found(what: &'static str, id: impl fmt::Display) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// Whether trying again later may succeed (database trouble, concurrency).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Database(_) | Error::Conflict(_) | Error::Unavailable(_)
        )
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Collects field errors and turns them into one [`Error::Invalid`].
#[derive(Debug, Default)]
pub(crate) struct Validation(Vec<FieldError>);

impl Validation {
    pub(crate) fn check<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Error::Invalid(mut errors)) => {
                self.0.append(&mut errors);
                None
            }
            Err(other) => {
                self.0.push(FieldError {
                    field: String::new(),
                    message: other.to_string(),
                });
                None
            }
        }
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
