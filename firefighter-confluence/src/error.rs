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
    /// The post-mortem template page cannot be read.
    #[error(
        "the post-mortem template page {0} (CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID) does not exist or is not visible to CONFLUENCE_USERNAME: fix the setting or the page's permissions, then re-queue this delivery"
    )]
    TemplateMissing(String),
    /// The post-mortem space does not exist.
    #[error(
        "the Confluence space \"{0}\" (CONFLUENCE_POSTMORTEM_SPACE) does not exist or is not visible to CONFLUENCE_USERNAME: fix the setting (a space key, not its name) or the space's permissions, then re-queue this delivery"
    )]
    SpaceNotFound(String),
    /// The post-mortem folder does not exist.
    #[error(
        "the post-mortem folder {0} (CONFLUENCE_POSTMORTEM_FOLDER_ID) is neither a page nor a folder visible to CONFLUENCE_USERNAME: fix the setting or its permissions, then re-queue this delivery"
    )]
    FolderNotFound(String),
    /// The post-mortem folder is in another space than the post-mortem space.
    #[error(
        "the post-mortem folder {folder_id} (CONFLUENCE_POSTMORTEM_FOLDER_ID) is in another space (id {folder_space_id}) than CONFLUENCE_POSTMORTEM_SPACE \"{space_key}\" (id {space_id}): set a folder of that space, or that folder's space, then re-queue this delivery"
    )]
    FolderInAnotherSpace {
        /// The folder.
        folder_id: String,
        /// Its space.
        folder_space_id: String,
        /// The configured space.
        space_key: String,
        /// Its id.
        space_id: String,
    },
    /// A page with the post-mortem's title exists and was not made for this incident.
    #[error(
        "the Confluence page {page_id} is already titled \"{title}\" in space \"{space_key}\" but was not made for incident #{incident}: rename or move that page, then re-queue this delivery"
    )]
    TitleTaken {
        /// The title.
        title: String,
        /// The page holding it.
        page_id: String,
        /// The space.
        space_key: String,
        /// The incident.
        incident: i64,
    },
    /// The runbook sync would delete more runbooks than it dares.
    #[error(
        "{missing} runbooks are no longer found under CONFLUENCE_RUNBOOKS_FOLDER_ID {folder_id} (at most {max} are deleted at once): none was deleted, as this looks like an API or configuration error rather than deleted pages; missing: {list}"
    )]
    TooManyMissingRunbooks {
        /// How many are missing.
        missing: usize,
        /// The most deleted at once.
        max: usize,
        /// The root page.
        folder_id: String,
        /// `<page id> <name>` of each.
        list: String,
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
    /// A firefighter command or query failed (retried when it is transient).
    #[error("{0}")]
    Core(#[from] firefighter_core::Error),
}

impl Error {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Transport(_) => true,
            Error::Api { status, .. } => *status >= 500 || *status == 408,
            Error::Core(e) => e.is_transient(),
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
