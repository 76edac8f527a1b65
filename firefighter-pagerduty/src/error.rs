//! The one error type of firefighter-pagerduty, classified for retries.

use std::time::Duration;

/// Whether trying again may help, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// PagerDuty asked us to slow down; wait this long if it said.
    RateLimited(Option<Duration>),
    /// A passing failure (network, 5xx, database busy): try again later.
    Transient,
    /// Trying again will not help (bad input, unknown service, 4xx).
    Permanent,
}

/// Everything that can go wrong in firefighter-pagerduty.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("PagerDuty configuration: {0}")]
    Config(String),
    /// The request is invalid (a person's input); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The service is not known (never synced, or a typo); nothing was written.
    #[error(
        "unknown PagerDuty service \"{0}\" (run pagerduty.fetch_services if it was added recently)"
    )]
    UnknownService(String),
    /// The service is flagged ignored; nothing was written.
    #[error("the PagerDuty service \"{0}\" is ignored by firefighter and cannot be paged")]
    IgnoredService(String),
    /// PagerDuty answered 429.
    #[error("PagerDuty rate limit reached{}", match .retry_after { Some(d) => format!(" (retry in {} s)", d.as_secs_f64()), None => String::new() })]
    RateLimited {
        /// What `ratelimit-reset` / `Retry-After` said.
        retry_after: Option<Duration>,
    },
    /// PagerDuty refused the request or failed (any non-2xx other than 429).
    #[error("PagerDuty answered HTTP {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// PagerDuty's error code, when it gave one.
        code: Option<i64>,
        /// PagerDuty's message (and error details).
        message: String,
    },
    /// PagerDuty could not be reached (connection, timeout).
    #[error("could not reach PagerDuty: {0}")]
    Transport(String),
    /// PagerDuty's answer could not be read.
    #[error("unexpected answer from PagerDuty: {0}")]
    Decode(String),
    /// Classic pagination stops at offset + limit = 10,000.
    #[error(
        "PagerDuty lists at most 10,000 {0} through offset pagination and there are more; nothing was written"
    )]
    TooManyRecords(&'static str),
    /// Core refused or failed (an incident that does not exist, the database...).
    #[error(transparent)]
    Core(#[from] firefighter_core::Error),
    /// The integration's tables could not be read or written (the transaction was rolled back).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The integration's tables could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<firefighter_core::env_vars::SettingError> for Error {
    fn from(error: firefighter_core::env_vars::SettingError) -> Error {
        Error::Config(error.0)
    }
}

impl Error {
    /// How to react to this error.
    pub fn retry(&self) -> Retry {
        match self {
            Error::RateLimited { retry_after } => Retry::RateLimited(*retry_after),
            Error::Api { status, .. } if *status >= 500 || *status == 408 => Retry::Transient,
            Error::Transport(_) | Error::Database(_) => Retry::Transient,
            Error::Core(e) if e.is_transient() => Retry::Transient,
            _ => Retry::Permanent,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Permanent
    }

    /// The wait PagerDuty asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry() {
            Retry::RateLimited(d) => d,
            _ => None,
        }
    }

    /// Whether PagerDuty answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    pub(crate) fn transport(e: reqwest::Error) -> Error {
        // Never echo the URL's query (it carries no secret, but keep logs short).
        Error::Transport(e.without_url().to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let api = |status| Error::Api {
            status,
            code: None,
            message: String::new(),
        };
        assert_eq!(api(503).retry(), Retry::Transient);
        assert_eq!(api(400).retry(), Retry::Permanent);
        assert_eq!(api(404).retry(), Retry::Permanent);
        assert!(api(404).is_not_found());
        let limited = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(limited.is_retryable());
        assert!(!Error::UnknownService("PX".into()).is_retryable());
        assert!(Error::Transport("reset".into()).is_retryable());
    }
}
