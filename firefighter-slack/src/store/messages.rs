//! Messages we posted, by kind (`slack_messages`).

use chrono::{DateTime, Utc};
use firefighter_core::{IncidentId, UpdateId};
use serde::Serialize;

use crate::Result;

use super::*;

/// A message the bot posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredMessage {
    /// The conversation.
    pub channel_id: String,
    /// Its timestamp.
    pub ts: String,
    /// Our kind (`ff_incident_declared`...).
    pub kind: String,
    /// The incident.
    pub incident_id: Option<i64>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

impl SlackStore {
    /// Records a posted message.
    pub async fn record_message(
        &self,
        channel_id: &str,
        ts: &str,
        kind: &str,
        incident: Option<IncidentId>,
        update: Option<UpdateId>,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_messages (channel_id, ts, kind, incident_id, update_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (channel_id, ts) DO NOTHING",
        )
        .bind(channel_id)
        .bind(ts)
        .bind(kind)
        .bind(incident.map(|i| i.0))
        .bind(update.map(|u| u.0))
        .bind(now())
        .execute(pool)
        .await?.rows_affected());
        Ok(())
    }

    /// Messages of one kind for an incident, oldest first.
    pub async fn messages(&self, incident: IncidentId, kind: &str) -> Result<Vec<StoredMessage>> {
        on_pool!(self, pool => Ok(sqlx::query_as::<_, StoredMessage>(
            "SELECT channel_id, ts, kind, incident_id, created_at FROM slack_messages WHERE incident_id = $1 AND kind = $2 ORDER BY created_at, ts",
        )
        .bind(incident.0)
        .bind(kind)
        .fetch_all(pool)
        .await?))
    }

    /// Forgets a message (deleted).
    pub(crate) async fn forget_message(&self, channel_id: &str, ts: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_messages WHERE channel_id = $1 AND ts = $2")
            .bind(channel_id).bind(ts).execute(pool).await?.rows_affected());
        Ok(())
    }
}
