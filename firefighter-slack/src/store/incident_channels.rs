//! The channel of each incident (`slack_incident_channels`).

use std::collections::HashMap;

use firefighter_core::IncidentId;

use crate::Result;

use super::*;

impl SlackStore {
    /// Records the channel of an incident.
    pub async fn link_incident_channel(
        &self,
        incident: IncidentId,
        channel_id: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_incident_channels (incident_id, channel_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (incident_id) DO NOTHING",
        )
        .bind(incident.0).bind(channel_id).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The channel of an incident.
    pub async fn incident_channel(&self, incident: IncidentId) -> Result<Option<Conversation>> {
        let channel: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT channel_id FROM slack_incident_channels WHERE incident_id = $1",
        )
        .bind(incident.0)
        .fetch_optional(pool)
        .await?);
        match channel {
            Some(c) => self.conversation(&c).await,
            None => Ok(None),
        }
    }

    /// The incident of a channel.
    pub async fn incident_of_channel(&self, channel_id: &str) -> Result<Option<IncidentId>> {
        let id: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT incident_id FROM slack_incident_channels WHERE channel_id = $1",
        )
        .bind(channel_id)
        .fetch_optional(pool)
        .await?);
        Ok(id.map(IncidentId))
    }

    /// Every incident channel: incident → channel id.
    pub(crate) async fn incident_channels(&self) -> Result<HashMap<IncidentId, String>> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT incident_id, channel_id FROM slack_incident_channels",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(i, c)| (IncidentId(i), c)).collect())
    }
}
