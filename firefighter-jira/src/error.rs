//! The one error type of firefighter-jira, classified for retries.

use std::collections::BTreeMap;
use std::time::Duration;

/// Everything that can go wrong in firefighter-jira.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("Jira configuration: {0}")]
    Config(String),
    /// Jira refused the request's fields: what to fix, field by field.
    #[error("Jira refused the request (HTTP {status}): {}", describe(.messages, .fields))]
    Rejected {
        /// The HTTP status (400, 401, 403, 404...).
        status: u16,
        /// `errorMessages`.
        messages: Vec<String>,
        /// `errors`: the message for each field.
        fields: BTreeMap<String, String>,
    },
    /// Jira answered 429 (or 503 with `Retry-After`).
    #[error("Jira rate limit reached{}", match .retry_after { Some(d) => format!(" (retry in {} s)", d.as_secs_f64()), None => String::new() })]
    RateLimited {
        /// What `Retry-After` said.
        retry_after: Option<Duration>,
    },
    /// Jira failed (5xx, 408).
    #[error("Jira answered HTTP {status}: {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Jira's message.
        message: String,
    },
    /// Jira could not be reached (or timed out).
    #[error("could not reach Jira: {0}")]
    Transport(String),
    /// Jira's answer could not be read.
    #[error("unexpected answer from Jira: {0}")]
    Decode(String),
    /// A value of the incident cannot be sent to Jira.
    #[error("{0}")]
    Invalid(String),
    /// A firefighter command or query failed (retried when it is transient).
    #[error("{0}")]
    Core(#[from] firefighter_core::Error),
    /// A request to the intake is invalid: every problem, field by field.
    #[error("invalid request: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Request(Vec<Problem>),
    /// An attachment was refused (the address guard) or could not be fetched.
    #[error("attachment {url}: {reason}")]
    Attachment {
        /// The address asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The chat integration could not tell people (retried when it says so).
    #[error("could not notify: {0}")]
    Notify(#[from] firefighter_core::notify::NotifyError),
}

/// One problem of a request: the field (`None`: the whole request), a
/// stable code, and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field concerned.
    pub attr: Option<String>,
    /// A stable code (`required`, `invalid_choice`, `max_length`...).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub detail: String,
}

impl Problem {
    /// A problem of `attr`.
    pub fn field(attr: &str, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            attr: Some(attr.to_owned()),
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.attr {
            Some(attr) => write!(f, "{attr}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

fn describe(messages: &[String], fields: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = messages.to_vec();
    parts.extend(fields.iter().map(|(f, m)| format!("field {f}: {m}")));
    if parts.is_empty() {
        "no explanation".into()
    } else {
        parts.join("; ")
    }
}

impl Error {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Transport(_) | Error::Unavailable { .. } => true,
            Error::Core(e) => e.is_transient(),
            Error::Notify(e) => firefighter_core::Retryable::is_retryable(e),
            _ => false,
        }
    }

    /// The wait Jira asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            Error::Notify(e) => firefighter_core::Retryable::retry_after(e),
            _ => None,
        }
    }

    /// What Jira said about `field`, when it refused it.
    pub fn field(&self, field: &str) -> Option<&str> {
        match self {
            Error::Rejected { fields, .. } => fields.get(field).map(String::as_str),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        Error::Core(firefighter_core::Error::Database(error))
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

/// A failure to set the integration up, as core reports it at start.
pub(crate) fn config_error(e: Error) -> firefighter_core::Error {
    firefighter_core::Error::Config(e.to_string())
}
