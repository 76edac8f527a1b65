//! Workspace members (`slack_users`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firefighter_core::UserId;
use serde::Serialize;
use uuid::Uuid;

use crate::Result;

use super::*;

/// A workspace member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SlackUserRow {
    /// `U...`.
    pub slack_id: String,
    /// The firefighter user.
    pub user_id: Option<Uuid>,
    /// The workspace.
    pub team_id: Option<String>,
    /// Handle.
    pub handle: String,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Avatar.
    pub image: Option<String>,
    /// A bot.
    pub is_bot: bool,
    /// Deactivated.
    pub deleted: bool,
    /// Last written.
    pub updated_at: DateTime<Utc>,
}

impl SlackStore {
    /// Inserts or updates workspace members, in batches.
    pub async fn upsert_users(&self, rows: &[SlackUserRow]) -> Result<()> {
        // Queued on the writer with core's user writes of the same sync.
        let writer = SlackStore::new(self.writer.clone());
        on_pool!(writer, pool => {
            for chunk in rows.chunks(BATCH) {
                let mut tx = pool.begin().await?;
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO slack_users (slack_id, user_id, team_id, handle, name, email, image, is_bot, deleted, updated_at) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.slack_id.clone())
                        .push_bind(r.user_id)
                        .push_bind(r.team_id.clone())
                        .push_bind(r.handle.clone())
                        .push_bind(r.name.clone())
                        .push_bind(r.email.clone())
                        .push_bind(r.image.clone())
                        .push_bind(r.is_bot)
                        .push_bind(r.deleted)
                        .push_bind(r.updated_at);
                });
                qb.push(
                    " ON CONFLICT (slack_id) DO UPDATE SET user_id = COALESCE(excluded.user_id, slack_users.user_id), \
                     team_id = excluded.team_id, handle = excluded.handle, name = excluded.name, email = excluded.email, \
                     image = excluded.image, is_bot = excluded.is_bot, deleted = excluded.deleted, updated_at = excluded.updated_at",
                );
                qb.build().execute(&mut *tx).await?;
                tx.commit().await?;
            }
            Ok(())
        })
    }

    /// A workspace member.
    pub async fn slack_user(&self, slack_id: &str) -> Result<Option<SlackUserRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as::<_, SlackUserRow>(
            "SELECT slack_id, user_id, team_id, handle, name, email, image, is_bot, deleted, updated_at FROM slack_users WHERE slack_id = $1",
        )
        .bind(slack_id)
        .fetch_optional(pool)
        .await?))
    }

    /// Slack id → firefighter user, for every linked member.
    pub async fn user_links(&self) -> Result<HashMap<String, UserId>> {
        let rows: Vec<(String, Uuid)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT slack_id, user_id FROM slack_users WHERE user_id IS NOT NULL",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(s, u)| (s, UserId(u))).collect())
    }

    /// How many members are stored.
    pub async fn count_users(&self) -> Result<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM slack_users").fetch_one(pool).await?))
    }
}
