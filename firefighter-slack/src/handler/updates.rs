//! Updates (`Updated`): what one change of an incident does in its channel
//! (rename, topic, the update message, roles, next steps, invitations), then
//! the announcements and the pinned message.

use firefighter_core::event::UpdateKind;
use firefighter_core::{IncidentId, Priority, PriorityId, Status, TimelineEntry, UpdateId};

use super::{PAGE_EVENT, Steps, settle};
use crate::channel;
use crate::messages::{self, Change, IncidentView, Strategy, kind};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

/// What an `Updated` event carries.
pub(super) struct UpdatedEvent<'a> {
    pub(super) update_id: UpdateId,
    pub(super) update_kind: UpdateKind,
    /// The fields this update set.
    pub(super) changed: &'a [String],
    pub(super) old_priority: Option<PriorityId>,
    pub(super) event_type: Option<&'a str>,
}

/// An update and what it means, read once for every step.
///
/// Decided from what this event set, never from the incident as it is now:
/// a late delivery of an earlier change (a retry, a lease taken over) must
/// not redo what a later change did.
pub(super) struct UpdateContext<'a> {
    id: IncidentId,
    pub(super) v: IncidentView,
    pub(super) key: &'a str,
    pub(super) event: UpdatedEvent<'a>,
    /// The priority before this update, when it changed it.
    pub(super) old: Option<Priority>,
    /// To a more urgent priority.
    pub(super) escalated: bool,
    /// The update's timeline entry.
    pub(super) entry: Option<TimelineEntry>,
    /// This update is the one that set the status to mitigated.
    pub(super) mitigated_by_this: bool,
    /// Key for messages that appear once per incident, whichever delivery gets there first.
    pub(super) once_per_incident: String,
}

impl UpdateContext<'_> {
    pub(super) fn id(&self) -> IncidentId {
        self.id
    }

    /// This update set `field`.
    pub(super) fn has(&self, field: &str) -> bool {
        self.event.changed.iter().any(|c| c == field)
    }
}

impl Slack {
    pub(super) async fn on_updated(
        &self,
        id: IncidentId,
        key: &str,
        event: UpdatedEvent<'_>,
    ) -> Result<()> {
        let u = self.read_update(id, key, event).await?;
        // A reopening (this update took the incident out of Closed): the
        // channel comes back before anything is posted to it.
        let reopened = u.entry.as_ref().is_some_and(|e| {
            e.changes.iter().any(|c| {
                c.field == firefighter_core::timeline::field::STATUS
                    && c.old.as_deref() == Some(Status::Closed.slug())
            })
        });
        if reopened && let Err(e) = self.reopen_channel(id, key).await {
            // Slack may refuse a bot the unarchive: the reopening is still
            // recorded and shown everywhere else; the channel stays archived.
            tracing::warn!(incident = id.0, error = %e, "the reopened incident's channel could not be unarchived");
        }

        // An escalation into P1-P3 of an incident without a channel gets one now.
        if u.v.channel_id.is_none()
            && u.escalated
            && u.v.is_critical()
            && u.v.incident().status < Status::Closed
        {
            self.set_up_channel(id, key).await?;
            return Ok(());
        }
        let mut steps: Steps = Vec::new();
        if let Some(channel) = u.v.channel_id.clone() {
            if u.event.update_kind == UpdateKind::Roles {
                self.on_roles_changed(&u, &channel, &mut steps).await?;
            } else {
                self.on_fields_changed(&u, &channel, &mut steps).await?;
            }
        }
        self.announce_status(&u, &mut steps).await?;
        self.refresh_after_update(&u, &mut steps).await;
        settle(steps)
    }

    async fn read_update<'a>(
        &self,
        id: IncidentId,
        key: &'a str,
        event: UpdatedEvent<'a>,
    ) -> Result<UpdateContext<'a>> {
        use firefighter_core::timeline::field;
        let v = self.incident_view(id).await?;
        let old = event
            .old_priority
            .and_then(|p| v.catalog.priorities.iter().find(|x| x.id == p).cloned());
        let escalated = old.as_ref().is_some_and(|o| v.priority.value < o.value);
        let entry = self.entry(id, event.update_id).await?;
        let sets_status = event.changed.iter().any(|c| c == field::STATUS);
        let mitigated_by_this =
            sets_status && entry.as_ref().and_then(|e| e.status) == Some(Status::Mitigated);
        Ok(UpdateContext {
            id,
            v,
            key,
            event,
            old,
            escalated,
            entry,
            mitigated_by_this,
            once_per_incident: format!("incident:{}:mitigated", id.0),
        })
    }

    /// Anything but roles changed: the channel follows, in this order.
    async fn on_fields_changed(
        &self,
        u: &UpdateContext<'_>,
        channel: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        use firefighter_core::timeline::field;
        let (v, key) = (&u.v, u.key);
        if u.has(field::CATEGORY) || u.has(field::ENVIRONMENTS) {
            self.rename_channel(v, key, channel, steps).await?;
        }
        if u.has(field::STATUS) || u.has(field::PRIORITY) || u.has(field::CATEGORY) {
            steps.push(("topic", self.set_topic_once(v, key, channel).await));
        }
        self.post_update_message(u, channel, steps).await;
        if u.event.event_type == Some(PAGE_EVENT) {
            steps.push((
                "page_note",
                self.page_note(v, key, channel, u.event.update_id).await,
            ));
        }
        if u.mitigated_by_this {
            self.after_mitigation(u, channel, steps).await?;
        }
        if let Some(o) = &u.old
            && o.value < 4
            && v.priority.value >= 4
            && v.incident().status < Status::Closed
        {
            steps.push(("downgrade_hint", self.downgrade_hint(v, key, channel).await));
        }
        if !v.incident().private && v.incident().status < Status::Closed {
            self.reinvite(u, channel, steps).await?;
        }
        Ok(())
    }

    /// The channel's name follows the category and environments.
    async fn rename_channel(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        let name = channel::channel_name(v.incident(), &v.catalog, self.app()?.time_zone());
        let current = self
            .store()
            .conversation(channel)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        if name != current {
            let r = self
                .once(key, "rename", || async {
                    let c = self.api().rename_channel(channel, &name).await?;
                    self.store().rename_conversation(channel, &c.name).await?;
                    Ok(c.name)
                })
                .await;
            steps.push(("rename", r.map(drop)));
        }
        Ok(())
    }

    /// The update's message and changed fields, in the channel.
    async fn post_update_message(&self, u: &UpdateContext<'_>, channel: &str, steps: &mut Steps) {
        // Technical messages (SOS, paging, :mega:) are not echoed back (FireFighter's quirk 7).
        if !(u.event.update_kind == UpdateKind::Fields || u.event.event_type.is_none()) {
            return;
        }
        let (v, id, update_id) = (&u.v, u.id(), u.event.update_id);
        let changes = describe_changes(v, u.entry.as_ref());
        let by = self
            .updater(id, update_id)
            .await
            .unwrap_or_else(|| "the system".into());
        let message = u.entry.as_ref().and_then(|e| e.message.clone());
        if message.is_some() || !changes.is_empty() {
            let (text, blocks) = messages::status_update(v, message.as_deref(), &changes, &by);
            steps.push((
                "status_message",
                self.post_once(
                    u.key,
                    "status",
                    (id, Some(update_id)),
                    kind::STATUS_UPDATED,
                    NewMessage::new(channel, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop),
            ));
        }
    }

    /// Invites who joined the responders since (a note on the timeline when someone was).
    async fn reinvite(
        &self,
        u: &UpdateContext<'_>,
        channel: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        let id = u.id();
        let r = self
            .once(u.key, "reinvite", || async {
                self.invite_responders(id, channel, false).await
            })
            .await;
        if let Ok(note) = &r
            && !note.is_empty()
        {
            self.app()?
                .publish(
                    id,
                    Vec::new(),
                    Some((&format!("Slack: {note}"), Some(super::CHANNEL_EVENT))),
                )
                .await?;
        }
        steps.push(("reinvite", r.map(drop)));
        Ok(())
    }

    /// Suggests to the commander to downgrade an incident now below P4.
    async fn downgrade_hint(&self, v: &IncidentView, key: &str, channel: &str) -> Result<()> {
        let commander = v
            .details
            .roles
            .iter()
            .find(|r| r.slug == firefighter_core::role::COMMANDER)
            .map(|r| r.user_id);
        let Some(user) = commander else { return Ok(()) };
        let Some(slack_id) = self.slack_id_of(user).await? else {
            return Ok(());
        };
        let (text, blocks) = messages::downgrade_hint(v);
        self.once(key, "downgrade_hint", || async {
            self.api()
                .post_ephemeral(channel, &slack_id, &NewMessage::new(channel, text, blocks))
                .await
                .map(|_| String::new())
        })
        .await
        .map(drop)
    }

    pub(super) async fn entry(
        &self,
        id: IncidentId,
        update_id: UpdateId,
    ) -> Result<Option<TimelineEntry>> {
        Ok(self
            .app()?
            .timeline(id)
            .await?
            .into_iter()
            .find(|e| e.id == update_id))
    }

    /// Who made the update, as a mention.
    pub(super) async fn updater(&self, id: IncidentId, update_id: UpdateId) -> Option<String> {
        let entry = self.entry(id, update_id).await.ok().flatten()?;
        Some(self.mention(entry.created_by?).await)
    }
}

/// The changed fields an update message shows.
fn describe_changes(v: &IncidentView, entry: Option<&TimelineEntry>) -> Vec<Change> {
    use firefighter_core::timeline::field;
    let Some(entry) = entry else {
        return Vec::new();
    };
    entry
        .changes
        .iter()
        .filter_map(|c| {
            let label = match c.field.as_str() {
                field::STATUS => "Status",
                field::PRIORITY => "Priority",
                field::CATEGORY => "Category",
                field::TITLE => "Title",
                field::DESCRIPTION => "Description",
                field::ENVIRONMENTS => "Environment",
                field::CLOSURE_REASON => "Closure reason",
                _ => return None,
            };
            let new = match c.field.as_str() {
                field::STATUS => Status::parse(c.new.as_deref().unwrap_or_default())
                    .map(|s| s.label().to_owned())
                    .unwrap_or_default(),
                field::PRIORITY => v.priority_label(),
                _ => c.new.clone().unwrap_or_default(),
            };
            Some(Change {
                field: label.to_owned(),
                new,
            })
        })
        .collect()
}
