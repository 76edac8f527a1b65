//! On-call: pages recorded on the timeline posted in the channel, and the
//! offer to page the on-call when the channel opened outside office hours.

use firefighter_core::oncall::OffHoursHint;
use firefighter_core::{IncidentId, Status, UpdateId};

use crate::messages::{self, IncidentView, Strategy, kind};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    /// Posts a page of the on-call (its timeline entry) in the incident
    /// channel, once per delivery.
    pub(super) async fn page_note(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
        update_id: UpdateId,
    ) -> Result<()> {
        let id = v.incident().id;
        let Some(entry) = self.entry(id, update_id).await? else {
            return Ok(());
        };
        let Some(text) = entry.message.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(());
        };
        let by = match entry.created_by {
            Some(u) => Some(self.mention(u).await),
            None => None,
        };
        let (text, blocks) = messages::oncall_paged(text, by.as_deref());
        self.post_once(
            key,
            kind::ONCALL_PAGED,
            (id, Some(update_id)),
            kind::ONCALL_PAGED,
            NewMessage::new(channel, text, blocks),
            Strategy::Append,
        )
        .await
        .map(drop)
    }

    /// The incident's channel opened outside office hours: offers to page
    /// the on-call in it (a button opening the on-call modal), once.
    pub(super) async fn on_off_hours_hint(
        &self,
        id: IncidentId,
        key: &str,
        hint: &OffHoursHint,
    ) -> Result<()> {
        if hint.channel.platform != crate::PLATFORM {
            return Ok(());
        }
        let v = self.incident_view(id).await?;
        if v.incident().status == Status::Closed {
            return Ok(());
        }
        let Some(channel) = v.channel_id.clone() else {
            return Ok(());
        };
        let (text, blocks) = messages::oncall_hint(&v, hint);
        self.post_once(
            key,
            kind::ONCALL_HINT,
            (id, None),
            kind::ONCALL_HINT,
            NewMessage::new(&channel, text, blocks),
            Strategy::Append,
        )
        .await
        .map(drop)
    }

    /// An integration's notice (`Notice`), posted once in the incident's channel.
    pub(super) async fn on_notice(&self, id: IncidentId, key: &str, text: &str) -> Result<()> {
        let v = self.incident_view(id).await?;
        let Some(channel) = v.channel_id.clone() else {
            return Ok(());
        };
        let blocks = serde_json::json!([crate::models::blocks::section(&format!(
            ":warning: {}",
            crate::models::blocks::escape(text)
        ))]);
        self.post_once(
            key,
            kind::INTEGRATION_NOTICE,
            (id, None),
            kind::INTEGRATION_NOTICE,
            NewMessage::new(&channel, text, blocks),
            Strategy::Append,
        )
        .await
        .map(drop)
    }
}
