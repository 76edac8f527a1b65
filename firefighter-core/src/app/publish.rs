//! Events integrations record without changing the incident.

use chrono::{DateTime, Utc};

use crate::event::ChannelInfo;
use crate::oncall::OffHoursHint;
use crate::store::now;
use crate::timeline::event_type;
use crate::{IncidentEvent, IncidentId, Result, TimelineEntry, UpdateId};

use super::Firefighter;

impl Firefighter {
    /// Records events for an incident without changing it (integrations
    /// publishing `ChannelReady`, `PostMortemCreated`...), with an optional
    /// timeline message.
    pub async fn publish(
        &self,
        id: IncidentId,
        events: Vec<IncidentEvent>,
        timeline_message: Option<(&str, Option<&str>)>,
    ) -> Result<()> {
        let timeline = timeline_message
            .map(|(message, event_type)| {
                let at = now();
                vec![TimelineEntry {
                    id: UpdateId::new(),
                    incident_id: id,
                    created_by: None,
                    created_at: at,
                    event_ts: at,
                    event_type: event_type.map(str::to_owned),
                    message: Some(message.to_owned()),
                    status: None,
                    changes: Vec::new(),
                }]
            })
            .unwrap_or_default();
        self.inner
            .store
            .append(id, timeline, events, self.subscribers())
            .await?;
        self.committed();
        Ok(())
    }

    /// Records that an integration finished setting up the incident's
    /// conversation ([`IncidentEvent::ChannelReady`], with an optional
    /// timeline note). When it opened outside office hours and an on-call
    /// vendor is on, the off-hours hint ([`IncidentEvent::OffHoursHint`],
    /// timeline entry [`event_type::ONCALL_HINT`]) is written in the same
    /// transaction, once per incident; it is returned.
    pub async fn channel_ready(
        &self,
        id: IncidentId,
        channel: ChannelInfo,
        note: Option<(&str, Option<&str>)>,
        opened_at: DateTime<Utc>,
    ) -> Result<Option<OffHoursHint>> {
        let at = now();
        let entry = |message: String, event_type: Option<&str>| TimelineEntry {
            id: UpdateId::new(),
            incident_id: id,
            created_by: None,
            created_at: at,
            event_ts: opened_at,
            event_type: event_type.map(str::to_owned),
            message: Some(message),
            status: None,
            changes: Vec::new(),
        };
        let mut timeline: Vec<TimelineEntry> = note
            .map(|(message, event_type)| entry(message.to_owned(), event_type))
            .into_iter()
            .collect();
        let hint = match &self.inner.oncall {
            Some(_) => OffHoursHint::for_channel(channel.clone(), opened_at, self.inner.tz),
            None => None,
        };
        let hint = match hint {
            Some(hint) if !self.was_hinted(id).await? => Some(hint),
            _ => None,
        };
        let mut events = vec![IncidentEvent::ChannelReady { channel }];
        if let Some(hint) = &hint {
            timeline.push(entry(hint.timeline_text(), Some(event_type::ONCALL_HINT)));
            events.push(IncidentEvent::OffHoursHint { hint: hint.clone() });
        }
        self.inner
            .store
            .append(id, timeline, events, self.subscribers())
            .await?;
        self.committed();
        Ok(hint)
    }

    /// Whether the incident already got its off-hours hint.
    async fn was_hinted(&self, id: IncidentId) -> Result<bool> {
        Ok(self
            .inner
            .store
            .incident_events(id)
            .await?
            .iter()
            .any(|e| matches!(e.event, IncidentEvent::OffHoursHint { .. })))
    }
}
