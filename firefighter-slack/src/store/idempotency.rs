//! Idempotency keys: work done once per key.

use chrono::{DateTime, Utc};
use firefighter_core::{IncidentId, UserId};

use crate::Result;

use super::*;

impl SlackStore {
    /// The result of a side effect already done under `key`.
    pub async fn effect(&self, key: &str) -> Result<Option<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, String>("SELECT result FROM slack_effects WHERE effect_key = $1")
            .bind(key).fetch_optional(pool).await?))
    }

    /// Records a side effect done under `key`.
    pub async fn record_effect(&self, key: &str, result: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_effects (effect_key, result, created_at) VALUES ($1, $2, $3) ON CONFLICT (effect_key) DO NOTHING",
        )
        .bind(key).bind(result).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Records the latest result under `key`, replacing an earlier one (state
    /// kept between task runs, such as the last topic set).
    pub(crate) async fn replace_effect(&self, key: &str, result: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_effects (effect_key, result, created_at) VALUES ($1, $2, $3) ON CONFLICT (effect_key) DO UPDATE SET result = excluded.result, created_at = excluded.created_at",
        )
        .bind(key).bind(result).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Takes an Events API event; false when it was already taken (a retry).
    pub async fn claim_event(&self, event_id: &str) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_events (event_id, received_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id).bind(now()).execute(pool).await?.rows_affected());
        Ok(r == 1)
    }

    /// Frees an event id taken by [`SlackStore::claim_event`] (the event could not be recorded).
    pub(crate) async fn release_event(&self, event_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_events WHERE event_id = $1").bind(event_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Forgets event ids older than `before` (Slack retries within minutes).
    pub async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_events WHERE received_at < $1").bind(before).execute(pool).await?.rows_affected());
        Ok(r)
    }

    /// Forgets the attempt markers (`<effect>:attempt`) older than `before`
    /// of effects that completed: only an unfinished effect needs its marker
    /// (to look for what its earlier attempt did).
    pub async fn purge_attempt_markers(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = on_pool!(self, pool => sqlx::query(
            "DELETE FROM slack_effects WHERE effect_key LIKE '%:attempt' AND created_at < $1 \
             AND EXISTS (SELECT 1 FROM slack_effects done \
                         WHERE done.effect_key = substr(slack_effects.effect_key, 1, length(slack_effects.effect_key) - 8))",
        )
        .bind(before).execute(pool).await?.rows_affected());
        Ok(r)
    }

    /// Takes a message for a `:mega:` timeline entry; false when already taken.
    pub async fn claim_reaction(
        &self,
        channel_id: &str,
        ts: &str,
        incident: IncidentId,
    ) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_reactions (channel_id, message_ts, incident_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(channel_id).bind(ts).bind(incident.0).bind(now()).execute(pool).await?.rows_affected());
        Ok(r == 1)
    }

    /// Gives a `:mega:` claim back (the timeline entry could not be written).
    pub(crate) async fn release_reaction(&self, channel_id: &str, ts: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_reactions WHERE channel_id = $1 AND message_ts = $2")
            .bind(channel_id).bind(ts).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// When `user` was last told about holding `role`, in another incident than `incident`.
    pub async fn last_role_notice(
        &self,
        user: UserId,
        role: &str,
        incident: IncidentId,
    ) -> Result<Option<DateTime<Utc>>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, DateTime<Utc>>(
            "SELECT sent_at FROM slack_role_notices WHERE user_id = $1 AND role_slug = $2 AND incident_id <> $3 ORDER BY sent_at DESC LIMIT 1",
        )
        .bind(user.0).bind(role).bind(incident.0).fetch_optional(pool).await?))
    }

    /// Records a role DM; false when this one was already sent.
    pub async fn record_role_notice(
        &self,
        user: UserId,
        role: &str,
        incident: IncidentId,
    ) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_role_notices (user_id, role_slug, incident_id, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(user.0).bind(role).bind(incident.0).bind(now()).execute(pool).await?.rows_affected());
        Ok(r == 1)
    }
}
