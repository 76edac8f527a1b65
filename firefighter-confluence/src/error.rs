//! The one error type of firefighter-confluence, classified for retries.

use std::time::Duration;

/// Everything that can go wrong in firefighter-confluence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("Confluence configuration: {0}")]
    Config(String),
    /// The page does not exist (or the account cannot see it).
    #[error("Confluence page {0} does not exist or is not visible to CONFLUENCE_USERNAME")]
    PageNotFound(String),
    /// Someone else saved the page in between; nothing was written.
    #[error(
        "Confluence page {page_id} changed while it was being updated (version {version} is taken): nothing was written, the next run starts from the new version"
    )]
    VersionConflict {
        /// The page.
        page_id: String,
        /// The version we tried to write.
        version: i64,
    },
    /// Confluence answered 429 (or 503 with `Retry-After`).
    #[error("Confluence rate limit reached{}", match .retry_after { Some(d) => format!(" (retry in {} s)", d.as_secs_f64()), None => String::new() })]
    RateLimited {
        /// What `Retry-After` said.
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx answer.
    #[error("Confluence answered HTTP {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Confluence's message.
        message: String,
    },
    /// Confluence could not be reached.
    #[error("could not reach Confluence: {0}")]
    Transport(String),
    /// Confluence's answer could not be read.
    #[error("unexpected answer from Confluence: {0}")]
    Decode(String),
    /// Reading firefighter's data failed.
    #[error("{0}")]
    Source(String),
}

impl Error {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Transport(_) => true,
            Error::Api { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }

    /// The wait Confluence asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

impl From<firefighter_core::env_vars::SettingError> for Error {
    fn from(error: firefighter_core::env_vars::SettingError) -> Error {
        Error::Config(error.0)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl firefighter_core::Retryable for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        Error::retry_after(self)
    }
}
