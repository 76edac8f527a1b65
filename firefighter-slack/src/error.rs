//! The one error type of firefighter-slack.

use std::time::Duration;

use firefighter_core::event::HandlerError;

/// Everything that can go wrong in firefighter-slack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Slack answered `ok: false` with an error code (`channel_not_found`, `name_taken`...).
    #[error("Slack {method} failed: {code}{}", needed.as_ref().map(|n| format!(" (needs scope {n})")).unwrap_or_default())]
    Api {
        /// The Web API method.
        method: String,
        /// Slack's error code.
        code: String,
        /// The missing scope, for `missing_scope`.
        needed: Option<String>,
    },
    /// Slack refused the call for now (HTTP 429 or `ratelimited`).
    #[error("Slack rate-limited {method}{}", retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The Web API method.
        method: String,
        /// Slack's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// Slack answered with an unexpected HTTP status.
    #[error("Slack {method} answered HTTP {status}")]
    Http {
        /// The Web API method.
        method: String,
        /// The status code.
        status: u16,
    },
    /// Slack could not be reached (connection, timeout).
    #[error("could not reach Slack for {method}: {source}")]
    Transport {
        /// The Web API method.
        method: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// Slack's answer could not be read.
    #[error("unexpected answer from Slack {method}: {message}")]
    Decode {
        /// The Web API method.
        method: String,
        /// What did not match.
        message: String,
    },
    /// A core command failed (validation, lifecycle refusal, storage).
    #[error(transparent)]
    Core(#[from] firefighter_core::Error),
    /// Our own tables failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Our migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The configuration is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// An inbound Slack request is malformed.
    #[error("malformed Slack request: {0}")]
    BadRequest(String),
    /// We cannot take the request now (it could not be recorded); nothing was done.
    #[error("{0}")]
    Unavailable(String),
    /// The person may not see this private incident (core's privacy rule);
    /// nothing about it is shown and nothing is changed.
    #[error(
        "You are not a member of incident {0}: only its members and staff can see or change it."
    )]
    NotMember(firefighter_core::IncidentId),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Slack error codes that say "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
];

impl Error {
    /// Slack's error code, when Slack answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::RateLimited { .. } => Some("ratelimited"),
            _ => None,
        }
    }

    /// Whether this is Slack's error `code`.
    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Transport { .. } => true,
            Error::Http { status, .. } => *status >= 500,
            Error::Api { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            Error::Core(e) => e.is_transient(),
            Error::Database(_) | Error::Unavailable(_) => true,
            _ => false,
        }
    }

    /// Whether the call surely did nothing on Slack's side (so even a write may be retried).
    pub(crate) fn surely_not_applied(&self) -> bool {
        match self {
            Error::RateLimited { .. } => true,
            Error::Transport { source, .. } => source.is_connect(),
            _ => false,
        }
    }

    /// How long Slack asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The outbox's view of this error: retry transient ones, park the rest.
    pub fn into_handler_error(self) -> HandlerError {
        HandlerError::classify(&self)
    }
}

impl firefighter_core::Retryable for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        Error::retry_after(self)
    }
}

impl From<Error> for HandlerError {
    fn from(e: Error) -> Self {
        HandlerError::classify(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors() {
        let limited = Error::RateLimited {
            method: "chat.postMessage".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(matches!(
            limited.into_handler_error(),
            HandlerError::Retry {
                retry_after: Some(_),
                ..
            }
        ));
        let gone = Error::Api {
            method: "conversations.archive".into(),
            code: "channel_not_found".into(),
            needed: None,
        };
        assert!(!gone.is_retryable());
        assert!(gone.is_code("channel_not_found"));
        assert!(matches!(
            gone.into_handler_error(),
            HandlerError::Permanent(_)
        ));
        assert!(
            Error::Http {
                method: "users.list".into(),
                status: 503
            }
            .is_retryable()
        );
        let scope = Error::Api {
            method: "bookmarks.add".into(),
            code: "missing_scope".into(),
            needed: Some("bookmarks:write".into()),
        };
        assert!(scope.to_string().contains("bookmarks:write"));
    }
}
