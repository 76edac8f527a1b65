//! firefighter → Jira (reference §8.6): an incident's status and priority
//! pushed to its ticket on every change, except the changes that came from
//! Jira (their timeline entries carry [`STATUS_SYNC`] or [`PRIORITY_SYNC`]),
//! and the closing of a downgraded incident (its ticket stays open: the
//! work goes on in Jira).
//! Run by the `jira.tickets` handler after the ticket's creation, in the
//! incident's event order, so a change never reaches Jira before its ticket.
//!
//! Before each write, the value is remembered in `jira_sync_markers`
//! ([`crate::ledger`]): the webhook Jira sends back for it consumes the
//! marker and is not applied back. A move Jira cannot make (no path in the
//! workflow, a transition refused) is a warning on the incident's timeline,
//! never a retry loop; Jira not answering is retried.

use chrono::Utc;
use firefighter_core::event::ChannelInfo;
use firefighter_core::{Firefighter, IncidentId, Status, UpdateId};
use serde_json::{Map, json};

use crate::ledger::{PRIORITY, STATUS, SyncLedger};
use crate::models::{RemoteLink, RemoteLinkObject};
use crate::tickets::KEY_FIELD;
use crate::workflow::{Moved, Mover};
use crate::{JiraClient, JiraConfig, Result};

/// Event type of a status change that came from Jira.
pub const STATUS_SYNC: &str = "jira_status_sync";
/// Event type of a priority change that came from Jira.
pub const PRIORITY_SYNC: &str = "jira_priority_sync";
/// Event type of a warning about the sync on the timeline.
pub const SYNC_WARNING: &str = "jira_sync_warning";

/// The Jira status an incident status is pushed as, and the statuses that
/// lead there when the workflow cannot be read (FireFighter's two steps).
pub fn jira_status_of(status: Status) -> (&'static str, &'static [&'static str]) {
    match status {
        Status::Open => ("Incoming", &[]),
        Status::Investigating | Status::Mitigating => {
            ("in progress", &["Pending resolution", "in progress"])
        }
        Status::Mitigated | Status::PostMortem => ("Reporter validation", &[]),
        Status::Closed => ("Closed", &[]),
    }
}

/// The incident status a Jira status is synced as (`None`: not mapped, ignored).
pub fn incident_status_of(jira_status: &str) -> Option<Status> {
    match jira_status.trim().to_lowercase().as_str() {
        "incoming" | "pending resolution" => Some(Status::Open),
        "in progress" => Some(Status::Mitigating),
        "reporter validation" => Some(Status::Mitigated),
        "closed" => Some(Status::Closed),
        _ => None,
    }
}

/// The ticket key recorded on the incident.
async fn ticket_of(app: &Firefighter, id: IncidentId) -> Result<Option<String>> {
    Ok(app
        .incident(id)
        .await?
        .custom_fields
        .get(KEY_FIELD)
        .and_then(|v| v.as_str())
        .map(str::to_owned))
}

/// Everything the push needs.
#[derive(Debug, Clone, Copy)]
pub struct Pusher<'a> {
    /// The application.
    pub app: &'a Firefighter,
    /// Jira.
    pub client: &'a JiraClient,
    /// Settings.
    pub config: &'a JiraConfig,
    /// The markers.
    pub ledger: &'a SyncLedger,
    /// Transitions.
    pub mover: &'a Mover,
}

impl Pusher<'_> {
    /// Forgets a push that may not have happened; a failure to forget is
    /// logged, so that the push's own error is the one reported.
    async fn forget(&self, id: IncidentId, field: &str, value: &str) {
        if let Err(e) = self.ledger.forget_push(id, field, value).await {
            tracing::warn!(incident = id.0, field, error = %e, "could not forget a failed push's marker");
        }
    }

    /// Pushes what the timeline entry `update_id` changed (status, priority)
    /// to the incident's ticket, unless the change came from Jira.
    pub async fn push_update(
        &self,
        id: IncidentId,
        update_id: UpdateId,
        changed: &[String],
        event_type: Option<&str>,
    ) -> Result<()> {
        // A downgrade closes the incident process, not the ticket: the work
        // goes on in Jira (FireFighter closed the ticket anyway, §14.12).
        let wants_status = changed.iter().any(|c| c == "status")
            && event_type != Some(STATUS_SYNC)
            && event_type != Some(firefighter_core::timeline::event_type::DOWNGRADED);
        let wants_priority =
            changed.iter().any(|c| c == "priority") && event_type != Some(PRIORITY_SYNC);
        if !wants_status && !wants_priority {
            return Ok(());
        }
        let Some(key) = ticket_of(self.app, id).await? else {
            tracing::debug!(incident = id.0, "no Jira ticket: nothing to push");
            return Ok(());
        };
        let timeline = self.app.store().timeline(id).await?;
        let Some(entry) = timeline.iter().find(|e| e.id == update_id) else {
            return Ok(());
        };
        if wants_priority
            && let Some(name) = entry
                .changes
                .iter()
                .find(|c| c.field == "priority")
                .and_then(|c| c.new.clone())
        {
            self.push_priority(id, &key, &name).await?;
        }
        if wants_status && let Some(status) = entry.status {
            self.push_status(id, &key, status).await?;
        }
        Ok(())
    }

    async fn push_priority(&self, id: IncidentId, key: &str, name: &str) -> Result<()> {
        let catalog = self.app.catalog().await?;
        let Some(priority) = catalog.priorities.iter().find(|p| p.name == name) else {
            return Ok(());
        };
        if !(1..=5).contains(&priority.value) {
            return self
                .warn(
                    id,
                    &format!(
                        "Priority {} was not pushed to Jira ticket {key}: Jira's priority field takes 1 to 5.",
                        priority.name
                    ),
                )
                .await;
        }
        let value = priority.value.to_string();
        let expires = Utc::now()
            + chrono::Duration::from_std(self.config.sync_marker_ttl).unwrap_or_default();
        self.ledger
            .remember_push(id, PRIORITY, &value, expires)
            .await?;
        let mut fields = Map::new();
        fields.insert(
            self.config.fields.priority.clone(),
            json!({ "value": value }),
        );
        let pushed = self.client.set_fields(key, fields).await;
        if pushed.is_err() {
            // A push that may not have happened announces no echo to wait for.
            self.forget(id, PRIORITY, &value).await;
        }
        match pushed {
            Ok(()) => Ok(()),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                self.warn(
                    id,
                    &format!(
                        "Priority {} could not be pushed to Jira ticket {key}: {e}",
                        priority.name
                    ),
                )
                .await
            }
        }
    }

    async fn push_status(&self, id: IncidentId, key: &str, status: Status) -> Result<()> {
        let (target, steps) = jira_status_of(status);
        let ttl = chrono::Duration::from_std(self.config.sync_marker_ttl).unwrap_or_default();
        // The step being entered: if its transition fails, its marker goes.
        let entering = std::sync::Mutex::new(None::<String>);
        let remember = |step: String| {
            *entering.lock().unwrap_or_else(|e| e.into_inner()) = Some(step.clone());
            async move {
                self.ledger
                    .remember_push(id, STATUS, &step, Utc::now() + ttl)
                    .await
            }
        };
        let mut moved = self.mover.move_to(self.client, key, target, remember).await;
        if matches!(moved, Ok(Moved::NoPath(_))) && !steps.is_empty() {
            // FireFighter's fixed steps, each one offered from the status before.
            let mut last = Ok(Moved::AlreadyThere);
            for step in steps {
                last = self.mover.move_to(self.client, key, step, remember).await;
                if !matches!(last, Ok(Moved::AlreadyThere | Moved::Through(_))) {
                    break;
                }
            }
            moved = last;
        }
        if moved.is_err() {
            let failed = entering.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(step) = failed {
                self.forget(id, STATUS, &step).await;
            }
        }
        match moved {
            Ok(Moved::AlreadyThere) => Ok(()),
            Ok(Moved::Through(path)) => {
                tracing::info!(incident = id.0, key, ?path, "status pushed to Jira");
                Ok(())
            }
            Ok(Moved::NoPath(why)) => {
                self.warn(
                    id,
                    &format!(
                        "Jira ticket {key} was not moved to \"{target}\" ({}): {why}.",
                        status.label()
                    ),
                )
                .await
            }
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                self.warn(
                    id,
                    &format!("Jira ticket {key} was not moved to \"{target}\": {e}"),
                )
                .await
            }
        }
    }

    /// A warning on the incident's timeline (once per text and incident:
    /// a retried delivery does not repeat it).
    async fn warn(&self, id: IncidentId, text: &str) -> Result<()> {
        tracing::warn!(incident = id.0, text, "Jira sync");
        let timeline = self.app.store().timeline(id).await?;
        if timeline.iter().any(|e| {
            e.event_type.as_deref() == Some(SYNC_WARNING) && e.message.as_deref() == Some(text)
        }) {
            return Ok(());
        }
        self.app
            .post_message(id, None, text, Some(SYNC_WARNING))
            .await?;
        Ok(())
    }

    /// Links the incident's new conversation from its ticket (FireFighter's
    /// "Slack conversation #`<name>`" link), once (same `globalId`).
    pub async fn link_conversation(&self, id: IncidentId, channel: &ChannelInfo) -> Result<()> {
        let Some(key) = ticket_of(self.app, id).await? else {
            return Ok(());
        };
        if channel.url.is_empty() {
            return Ok(());
        }
        let link = RemoteLink {
            global_id: format!("firefighter-conversation-{}", id.0),
            object: RemoteLinkObject {
                url: channel.url.clone(),
                title: format!(
                    "{} conversation #{}",
                    platform_name(&channel.platform),
                    channel.name
                ),
            },
        };
        match self.client.add_remote_link(&key, &link).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                tracing::warn!(incident = id.0, key, error = %e, "the link to the conversation could not be added");
                Ok(())
            }
        }
    }
}

fn platform_name(platform: &str) -> String {
    let mut chars = platform.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Chat".into(),
    }
}
