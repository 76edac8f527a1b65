//! The one error type of firefighter-slack.

use std::time::Duration;

use firefighter_core::event::HandlerError;

/// Everything that can go wrong in firefighter-slack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Slack answered `ok: false` with an error code (`channel_not_found`, `name_taken`...).
    #[error("Slack {method} failed: {code}{}{}", needed.as_ref().map(|n| format!(" (needs scope {n})")).unwrap_or_default(), final_reason(code))]
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
    "rate_limited",
];

/// Slack error codes that are final, and why trying again cannot help:
/// the delivery is parked (visible in the back-office, re-queued by hand
/// once the cause is fixed) or the step settles on what it found. Any code
/// not in [`TRANSIENT_CODES`] is final; these are the ones we meet.
const FINAL_CODES: &[(&str, &str)] = &[
    (
        "invalid_auth",
        "the bot token is wrong: a person must fix SLACK_BOT_TOKEN",
    ),
    ("not_authed", "no token was sent: a configuration error"),
    (
        "token_revoked",
        "the app was uninstalled or its token revoked: reinstall it",
    ),
    (
        "account_inactive",
        "the bot user was deactivated: reinstall the app",
    ),
    (
        "missing_scope",
        "the app lacks a permission: add the scope named in the error and reinstall",
    ),
    (
        "not_allowed_token_type",
        "a user token where a bot token is needed: a configuration error",
    ),
    (
        "ekm_access_denied",
        "the workspace's keys refuse access: an administrator decides",
    ),
    (
        "team_access_not_granted",
        "the token has no access to this workspace",
    ),
    (
        "restricted_action",
        "a workspace policy forbids it (creating channels, inviting)",
    ),
    (
        "channel_not_found",
        "the conversation was deleted or the bot cannot see it",
    ),
    (
        "is_archived",
        "the conversation is archived: nothing can be posted there any more",
    ),
    (
        "already_archived",
        "archiving again has nothing to do: the step is done",
    ),
    (
        "not_in_channel",
        "the bot was removed from the conversation: someone must invite it back",
    ),
    (
        "name_taken",
        "another conversation has the name: the set-up picks another one instead",
    ),
    (
        "already_in_channel",
        "the person is there already: the step is done",
    ),
    (
        "cant_invite_self",
        "the bot cannot invite itself: nothing to do",
    ),
    ("user_not_found", "the person left the workspace"),
    (
        "users_not_found",
        "no member of the workspace has this e-mail address",
    ),
    ("user_disabled", "the person's account is deactivated"),
    (
        "user_not_visible",
        "the bot may not see this person (another workspace, a policy)",
    ),
    ("cannot_dm_bot", "a bot cannot be sent a direct message"),
    (
        "messages_tab_disabled",
        "the person turned off direct messages from apps",
    ),
    (
        "user_is_restricted",
        "a guest account cannot be invited there",
    ),
    (
        "invalid_blocks",
        "our message does not match Slack's rules: a bug to fix, sending it again fails again",
    ),
    (
        "msg_too_long",
        "the text is over Slack's limit: sending it again fails again",
    ),
    ("no_text", "an empty message: a bug to fix"),
    (
        "invalid_arguments",
        "a request Slack rejects as malformed: a bug to fix",
    ),
    (
        "already_pinned",
        "the message is pinned already: the step is done",
    ),
    ("not_pinnable", "this message cannot be pinned"),
    (
        "message_not_found",
        "the message was deleted: nothing to update",
    ),
    (
        "cant_update_message",
        "the message is not the bot's or too old to change",
    ),
    (
        "expired_trigger_id",
        "the person's click is over 3 s old: they must click again",
    ),
    ("view_not_found", "the modal was closed: nothing to update"),
];

/// Why a final code is final, for the message a person reads in the
/// back-office (` — the conversation is archived…`), or nothing.
fn final_reason(code: &str) -> String {
    FINAL_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, why)| format!(" — {why}"))
        .unwrap_or_default()
}

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
    fn every_final_code_is_final_and_says_why() {
        for (code, why) in FINAL_CODES {
            assert!(!TRANSIENT_CODES.contains(code), "{code} is listed as both");
            assert!(!why.is_empty());
            let e = Error::Api {
                method: "chat.postMessage".into(),
                code: (*code).into(),
                needed: None,
            };
            assert!(!e.is_retryable(), "{code}");
        }
        for code in TRANSIENT_CODES {
            let e = Error::Api {
                method: "chat.postMessage".into(),
                code: (*code).into(),
                needed: None,
            };
            assert!(e.is_retryable(), "{code}");
        }
    }

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
        assert!(scope.to_string().contains("add the scope"), "{scope}");
    }
}
