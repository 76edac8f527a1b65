//! Who was invited to which incident.

use firefighter_core::{CategoryId, UserId};
use uuid::Uuid;

use crate::Result;

use super::*;

impl SlackStore {
    /// Members of conversations and user groups linked to a category, with a reason each.
    pub async fn category_invitees(&self, category: CategoryId) -> Result<Vec<(UserId, String)>> {
        let rows: Vec<(Uuid, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT su.user_id, '#' || c.name FROM slack_conversation_categories cc \
             JOIN slack_conversations c ON c.channel_id = cc.channel_id \
             JOIN slack_conversation_members m ON m.channel_id = cc.channel_id \
             JOIN slack_users su ON su.slack_id = m.slack_id \
             WHERE cc.category_id = $1 AND su.user_id IS NOT NULL AND su.deleted = FALSE AND su.is_bot = FALSE \
             UNION ALL \
             SELECT su.user_id, '@' || g.handle FROM slack_usergroup_categories gc \
             JOIN slack_usergroups g ON g.usergroup_id = gc.usergroup_id \
             JOIN slack_usergroup_members m ON m.usergroup_id = gc.usergroup_id \
             JOIN slack_users su ON su.slack_id = m.slack_id \
             WHERE gc.category_id = $1 AND su.user_id IS NOT NULL AND su.deleted = FALSE AND su.is_bot = FALSE",
        )
        .bind(category.0)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(u, w)| (UserId(u), w)).collect())
    }

    /// Members of the user groups with this tag, with the group's handle.
    pub async fn tagged_usergroup_members(&self, tag: &str) -> Result<Vec<(UserId, String)>> {
        let rows: Vec<(Uuid, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT su.user_id, g.handle FROM slack_usergroups g \
             JOIN slack_usergroup_members m ON m.usergroup_id = g.usergroup_id \
             JOIN slack_users su ON su.slack_id = m.slack_id \
             WHERE g.tag = $1 AND su.user_id IS NOT NULL AND su.deleted = FALSE AND su.is_bot = FALSE",
        )
        .bind(tag)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(u, h)| (UserId(u), h)).collect())
    }
}
