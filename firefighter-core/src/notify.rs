//! Telling people things outside an incident's conversation: a private
//! message to one person, a post in the conversations an operator tagged
//! for a purpose. A chat integration provides it (Slack); others use it
//! without knowing the chat vendor (Jira tells a ticket's watchers about a
//! comment, a reporter about their new ticket).
//!
//! Exactly once: a notification carries a key; the same key sent to the same
//! recipient is delivered once, however often it is asked (a retried
//! delivery, a webhook applied again after a crash).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::User;

/// Something to tell a person or a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Exactly-once key (with the recipient): a retried send of the same key
    /// delivers nothing new. Short, stable, made of the sender's ids.
    pub key: String,
    /// What it is about, in one line (a heading, and the text shown where
    /// only one line fits).
    pub title: String,
    /// Paragraphs of plain text (no markup: the provider escapes it).
    pub body: Vec<String>,
    /// Labelled facts (`Reporter` → `Ada`), in order.
    pub fields: Vec<(String, String)>,
    /// Where to read more (label, URL).
    pub link: Option<(String, String)>,
}

impl Notification {
    /// A notification with a key and a title.
    pub fn new(key: impl Into<String>, title: impl Into<String>) -> Notification {
        Notification {
            key: key.into(),
            title: title.into(),
            body: Vec::new(),
            fields: Vec::new(),
            link: None,
        }
    }

    /// Adds a paragraph.
    pub fn paragraph(mut self, text: impl Into<String>) -> Notification {
        self.body.push(text.into());
        self
    }

    /// Adds a labelled fact.
    pub fn field(mut self, label: impl Into<String>, value: impl Into<String>) -> Notification {
        self.fields.push((label.into(), value.into()));
        self
    }

    /// Sets the link.
    pub fn link(mut self, label: impl Into<String>, url: impl Into<String>) -> Notification {
        self.link = Some((label.into(), url.into()));
        self
    }
}

/// What became of one notification to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivered {
    /// Sent now.
    Sent,
    /// Sent by an earlier attempt with the same key; nothing sent again.
    AlreadySent,
    /// Cannot reach the recipient (no chat account, a deactivated account, a
    /// conversation archived): not an error worth retrying. Says why.
    Unreachable(String),
}

/// Why a notification could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Worth another try (the vendor limited the rate, did not answer).
    #[error("{message}")]
    Retry {
        /// What went wrong.
        message: String,
        /// How long the vendor asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Refused for good (a revoked token, a missing permission).
    #[error("{0}")]
    Failed(String),
}

impl crate::event::Retryable for NotifyError {
    fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Retry { .. })
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Retry { retry_after, .. } => *retry_after,
            NotifyError::Failed(_) => None,
        }
    }
}

/// A way to reach people: implemented by a chat integration.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// A stable name (`slack`).
    fn name(&self) -> &str;
    /// Sends `note` privately to `user` (a direct message), once per key.
    async fn notify_user(&self, user: &User, note: &Notification)
    -> Result<Delivered, NotifyError>;
    /// Posts `note` in every conversation whose operator tag contains `tag`,
    /// once per key and conversation; one answer per conversation (none
    /// when no conversation carries the tag).
    async fn notify_tagged(
        &self,
        tag: &str,
        note: &Notification,
    ) -> Result<Vec<Delivered>, NotifyError>;
}

/// Static registration of a notifier, submitted with
/// [`crate::register_notifier!`].
#[derive(Debug)]
pub struct NotifierRegistration {
    /// The notifier's name.
    pub name: &'static str,
    /// Builds it; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn Notifier>,
}

inventory::collect!(NotifierRegistration);

/// Names of every statically registered notifier, built or not (sorted).
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<NotifierRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names
}

/// Registers a notifier from any crate.
#[macro_export]
macro_rules! register_notifier {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}
