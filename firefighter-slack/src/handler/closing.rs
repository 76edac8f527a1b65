//! Closing (`Closed`): the incident's channel is archived; reopening it
//! brings the channel back.

use firefighter_core::IncidentId;

use crate::store::ConversationStatus;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn on_closed(&self, id: IncidentId, key: &str) -> Result<()> {
        let Some(c) = self.store().incident_channel(id).await? else {
            return Ok(());
        };
        if c.status == ConversationStatus::Archived {
            return Ok(());
        }
        self.once(key, "archive", || async {
            match self.api().archive_channel(&c.channel_id).await {
                Ok(()) => {}
                Err(e) if e.is_code("already_archived") || e.is_code("channel_not_found") => {}
                Err(e) => return Err(e),
            }
            self.store()
                .set_conversation_status(&c.channel_id, ConversationStatus::Archived)
                .await?;
            Ok(String::new())
        })
        .await
        .map(drop)
    }

    /// A reopened incident's channel is unarchived (once per reopening).
    pub(super) async fn reopen_channel(&self, id: IncidentId, key: &str) -> Result<()> {
        let Some(c) = self.store().incident_channel(id).await? else {
            return Ok(());
        };
        if c.status != ConversationStatus::Archived {
            return Ok(());
        }
        self.once(key, "unarchive", || async {
            match self.api().unarchive_channel(&c.channel_id).await {
                Ok(()) => {}
                Err(e) if e.is_code("not_archived") => {}
                Err(e) => return Err(e),
            }
            self.store()
                .set_conversation_status(&c.channel_id, ConversationStatus::Opened)
                .await?;
            Ok(String::new())
        })
        .await
        .map(drop)
    }
}
