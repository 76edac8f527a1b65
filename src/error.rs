//! The one error type of the `firefighter` facade (server, API, CLI). Its
//! HTTP form is decided in one place: `server::error`.

/// A problem with one input field, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// A stable code (`required`, `invalid`, `does_not_exist`, `max_length`...).
    pub code: String,
    /// What is wrong, for a person.
    pub detail: String,
    /// The field, or `None` when it concerns the whole request.
    pub attr: Option<String>,
}

impl Problem {
    /// A problem with a field.
    pub fn field(attr: impl Into<String>, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            code: code.to_owned(),
            detail: detail.into(),
            attr: Some(attr.into()),
        }
    }
}

/// Everything that can go wrong in the facade.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the core (validation, not found, lifecycle refusal, database...).
    #[error(transparent)]
    Core(#[from] firefighter_core::Error),
    /// No credentials were given.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// The credentials are wrong, expired or revoked.
    #[error("Incorrect authentication credentials.")]
    AuthenticationFailed,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    PermissionDenied(String),
    /// A cookie-authenticated change came without a valid CSRF token.
    #[error("CSRF token missing or incorrect: reload the page and try again.")]
    Csrf,
    /// The request could not be read (malformed JSON, wrong content type...).
    #[error("{0}")]
    Parse(String),
    /// The request was read but some values are invalid.
    #[error("invalid input: {}", .0.iter().map(|p| format!("{}: {}", p.attr.as_deref().unwrap_or("-"), p.detail)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// Nothing at this address (or not visible to the caller).
    #[error("Not found.")]
    NotFound,
    /// The same `Idempotency-Key` was used with another request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// A request with the same `Idempotency-Key` is still being processed.
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    /// The body is larger than the limit.
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// None of the formats the client accepts can be produced.
    #[error("{0}")]
    NotAcceptable(String),
    /// The request body's media type is not supported.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request ran longer than `FF_REQUEST_TIMEOUT_SECS` (the seconds) and was stopped.
    #[error(
        "the server stopped this request after {0} seconds; it may still have taken effect: check before retrying"
    )]
    Timeout(u64),
    /// The configuration is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// Input/output failed (binding the port, reading the terminal...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A failure that is a bug or an outage, not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// An invalid-input error about one field.
    pub fn invalid(attr: impl Into<String>, code: &str, detail: impl Into<String>) -> Error {
        Error::Invalid(vec![Problem::field(attr, code, detail)])
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
