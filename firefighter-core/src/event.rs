//! Incident events and their handlers: the durable replacement of Django signals.
//!
//! Events are written to the outbox in the same transaction as the change that
//! caused them, with one delivery per registered handler. The
//! [`crate::outbox::Dispatcher`] then delivers each one at least once.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IncidentId, PriorityId, UpdateId};

/// What kind of update an [`IncidentEvent::Updated`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// Fields (status, priority, title...) changed, maybe with a message.
    Fields,
    /// Only a message was posted (or a technical event such as an on-call page).
    Message,
    /// Roles changed.
    Roles,
}

/// A conversation (chat channel) that an integration opened for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// The platform (`slack`).
    pub platform: String,
    /// The platform's id of the channel.
    pub id: String,
    /// Its name.
    pub name: String,
    /// A link to it.
    pub url: String,
}

/// Something that happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentEvent {
    /// The incident was declared.
    Created,
    /// The incident was updated.
    Updated {
        /// The timeline entry of the update.
        update_id: UpdateId,
        /// What kind of update.
        update_kind: UpdateKind,
        /// The fields that changed (see [`crate::timeline::field`]).
        changed: Vec<String>,
        /// The priority before, when it changed.
        old_priority: Option<PriorityId>,
        /// The event type of the timeline entry, if any.
        event_type: Option<String>,
    },
    /// The incident was closed.
    Closed,
    /// Key events were set or cleared.
    KeyEventsUpdated,
    /// A post-mortem document is wanted from an external backend (the
    /// backend's event handler creates it, once, then records it with
    /// [`crate::Firefighter::record_postmortem`]).
    PostMortemRequested {
        /// Which backend.
        backend: String,
    },
    /// A post-mortem document was created.
    PostMortemCreated {
        /// Which backend.
        backend: String,
        /// Link to the document.
        url: String,
    },
    /// The incident wants a conversation (a chat channel).
    ConversationRequested {
        /// Data from the declaring form that integrations may use.
        extras: serde_json::Value,
    },
    /// An integration finished setting up the incident's conversation.
    ChannelReady {
        /// The channel.
        channel: ChannelInfo,
    },
    /// Something the incident's responders must know, said where they work
    /// (chat integrations post it in the incident's conversation): an
    /// integration that could not do its part and says what to fix.
    Notice {
        /// What to tell, for a person.
        text: String,
    },
    /// An integration linked a document of its own to the incident (a Jira
    /// ticket): chat integrations bookmark it in the incident's
    /// conversation and show it in the pinned announcement.
    LinkAdded {
        /// What it is, for people (`Jira ticket INC-42`).
        title: String,
        /// Where it is.
        url: String,
    },
    /// The incident's conversation opened outside office hours while an
    /// on-call vendor is on (at most once per incident): chat integrations
    /// offer to page the on-call.
    OffHoursHint {
        /// When and where.
        hint: crate::oncall::OffHoursHint,
    },
}

impl IncidentEvent {
    /// The event's kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            IncidentEvent::Created => "created",
            IncidentEvent::Updated { .. } => "updated",
            IncidentEvent::Closed => "closed",
            IncidentEvent::KeyEventsUpdated => "key_events_updated",
            IncidentEvent::PostMortemRequested { .. } => "post_mortem_requested",
            IncidentEvent::PostMortemCreated { .. } => "post_mortem_created",
            IncidentEvent::ConversationRequested { .. } => "conversation_requested",
            IncidentEvent::ChannelReady { .. } => "channel_ready",
            IncidentEvent::OffHoursHint { .. } => "off_hours_hint",
            IncidentEvent::Notice { .. } => "notice",
            IncidentEvent::LinkAdded { .. } => "link_added",
        }
    }
}

/// An event as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Outbox sequence number.
    pub id: i64,
    /// The incident.
    pub incident_id: IncidentId,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The event.
    pub event: IncidentEvent,
}

/// One delivery of one event to one handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's row id.
    pub id: i64,
    /// The event.
    pub event: StoredEvent,
    /// The handler's name.
    pub handler: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl Delivery {
    /// Stable across attempts: `<event id>:<handler>`. Handlers pass it to
    /// vendors (or check it) so a retried delivery never does a thing twice.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.event.id, self.handler)
    }
}

/// Why a handler did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Try again later, after `retry_after` if the handler knows (a vendor's `Retry-After`).
    #[error("{message}")]
    Retry {
        /// What went wrong.
        message: String,
        /// When to try again, if known.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help; the delivery is parked as failed (and can be re-queued).
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    /// A transient failure.
    pub fn retry(message: impl Into<String>) -> HandlerError {
        HandlerError::Retry {
            message: message.into(),
            retry_after: None,
        }
    }

    /// The outbox's view of an integration's error: retried when it says
    /// trying again may help (after its hint), parked otherwise.
    pub fn classify<E: Retryable + ?Sized>(e: &E) -> HandlerError {
        if e.is_retryable() {
            HandlerError::Retry {
                message: e.to_string(),
                retry_after: e.retry_after(),
            }
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

/// How an error tells whether trying again may succeed: one classification
/// shared by the outbox ([`HandlerError::classify`]), the inbox
/// ([`crate::inbox::InboxFailure::classify`]) and each integration's error.
pub trait Retryable: std::fmt::Display {
    /// Whether trying again later may succeed (a vendor's 429 or 5xx, a
    /// dropped connection, the database busy).
    fn is_retryable(&self) -> bool;
    /// How long the vendor asked to wait, when it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl Retryable for crate::Error {
    fn is_retryable(&self) -> bool {
        self.is_transient()
    }
}

/// Reacts to incident events. Delivery is at least once: use
/// [`Delivery::idempotency_key`] to avoid doing a thing twice.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// A stable, unique name; deliveries are keyed by it.
    fn name(&self) -> &str;
    /// Handles one delivery.
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError>;
}

/// Static registration of an event handler, submitted with [`crate::register_event_handler!`].
/// Only constant data and function pointers can be submitted (an `inventory` rule).
#[derive(Debug)]
pub struct EventHandlerRegistration {
    /// The handler's name.
    pub name: &'static str,
    /// Builds the handler; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn EventHandler>,
}

inventory::collect!(EventHandlerRegistration);

/// Names of every statically registered event handler, built or not (sorted).
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<EventHandlerRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names
}

/// Registers an event handler from any crate.
#[macro_export]
macro_rules! register_event_handler {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}
