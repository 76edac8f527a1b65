//! Reactions to incident events (outbox deliveries, at least once): the
//! incident channel's life, announcements, invitations, roles, key events.
//!
//! Every Slack side effect is recorded under the delivery's idempotency key
//! and a step name (`effects`), so a retried delivery skips what it already
//! did. Independent calls run concurrently: from "declared" to "channel ready
//! with responders invited" there are at most three Slack round trips one
//! after another (create; invite; per-user fallback).
//!
//! One file per phase: `channel_setup`, `updates` (with `announcements`,
//! `mitigation` and `roles`), `invitations`, `oncall`, `key_events`,
//! `postmortem`, `links` (documents integrations link), `closing`.

mod announcements;
mod channel_setup;
mod closing;
mod effects;
mod invitations;
mod key_events;
mod links;
mod mitigation;
mod oncall;
mod postmortem;
mod roles;
mod updates;

use async_trait::async_trait;
use firefighter_core::IncidentEvent;
use firefighter_core::event::{Delivery, EventHandler, HandlerError};
use firefighter_core::timeline::event_type;

use crate::{Error, Result, Slack};

use updates::UpdatedEvent;

/// The handler's name (deliveries are keyed by it).
pub(crate) const HANDLER_NAME: &str = "slack";

/// The timeline event type of channel set-up notes.
pub(crate) const CHANNEL_EVENT: &str = "slack_channel";

/// The timeline event type of a page of an on-call (recorded by the on-call
/// vendor once the page is sent): posted in the incident channel.
pub(crate) const PAGE_EVENT: &str = event_type::TRIGGER_ONCALL;

/// Reacts to incident events in Slack.
#[derive(Debug, Clone)]
pub(crate) struct SlackEventHandler {
    slack: Slack,
}

impl SlackEventHandler {
    /// A handler for this integration.
    pub(crate) fn new(slack: Slack) -> SlackEventHandler {
        SlackEventHandler { slack }
    }
}

#[async_trait]
impl EventHandler for SlackEventHandler {
    fn name(&self) -> &str {
        HANDLER_NAME
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let s = &self.slack;
        let key = delivery.idempotency_key();
        let id = delivery.event.incident_id;
        let result = match &delivery.event.event {
            IncidentEvent::ConversationRequested { .. } => s.set_up_channel(id, &key).await,
            IncidentEvent::Updated {
                update_id,
                update_kind,
                changed,
                old_priority,
                event_type,
            } => {
                let event = UpdatedEvent {
                    update_id: *update_id,
                    update_kind: *update_kind,
                    changed,
                    old_priority: *old_priority,
                    event_type: event_type.as_deref(),
                };
                s.on_updated(id, &key, event).await
            }
            IncidentEvent::Closed => s.on_closed(id, &key).await,
            IncidentEvent::KeyEventsUpdated => s.on_key_events(id).await,
            IncidentEvent::PostMortemCreated { backend, url } => {
                s.on_postmortem(id, &key, backend, url).await
            }
            IncidentEvent::OffHoursHint { hint } => s.on_off_hours_hint(id, &key, hint).await,
            IncidentEvent::Notice { text } => s.on_notice(id, &key, text).await,
            IncidentEvent::LinkAdded { title, url } => s.on_link_added(id, title, url).await,
            IncidentEvent::Created
            | IncidentEvent::ChannelReady { .. }
            | IncidentEvent::PostMortemRequested { .. } => Ok(()),
        };
        match result {
            Ok(()) => Ok(()),
            // The incident is gone: nothing left to do.
            Err(Error::Core(firefighter_core::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(e.into_handler_error()),
        }
    }
}

/// The outcome of independent steps, each under its name.
type Steps = Vec<(&'static str, Result<()>)>;

/// Collects the outcome of independent steps: the first retryable failure
/// wins (done steps are recorded and skipped on the retry); permanent ones are logged.
fn settle(results: Steps) -> Result<()> {
    let mut retry = None;
    for (step, r) in results {
        if let Err(e) = r {
            if e.is_retryable() {
                tracing::warn!(step, error = %e, "Slack step failed; the delivery will be retried");
                retry.get_or_insert(e);
            } else {
                tracing::warn!(step, error = %e, "Slack step failed");
            }
        }
    }
    retry.map_or(Ok(()), Err)
}
