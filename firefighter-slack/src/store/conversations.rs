//! Conversations and their members (`slack_conversations`, `slack_conversation_members`).

use std::collections::HashMap;

use firefighter_core::{CategoryId, IncidentId};
use serde::Serialize;
use uuid::Uuid;

use crate::{Error, Result};

use super::*;

/// A conversation's kind (FireFighter's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConversationKind {
    /// Not known yet.
    Unknown = 0,
    /// A public channel.
    Public = 10,
    /// A private channel.
    Private = 20,
    /// A direct message.
    Direct = 30,
    /// A group direct message.
    GroupDirect = 40,
}

impl ConversationKind {
    fn from_i16(v: i16) -> ConversationKind {
        match v {
            10 => ConversationKind::Public,
            20 => ConversationKind::Private,
            30 => ConversationKind::Direct,
            40 => ConversationKind::GroupDirect,
            _ => ConversationKind::Unknown,
        }
    }

    /// From the `channel_type` of member events (`C`, `G`).
    pub(crate) fn from_channel_type(t: &str) -> ConversationKind {
        match t {
            "C" => ConversationKind::Public,
            "G" => ConversationKind::Private,
            "D" => ConversationKind::Direct,
            _ => ConversationKind::Unknown,
        }
    }

    /// From a `conversations.*` answer.
    pub(crate) fn of(channel: &crate::models::api::Channel) -> ConversationKind {
        if channel.is_im {
            ConversationKind::Direct
        } else if channel.is_mpim {
            ConversationKind::GroupDirect
        } else if channel.is_private {
            ConversationKind::Private
        } else {
            ConversationKind::Public
        }
    }
}

/// A conversation's state (FireFighter's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConversationStatus {
    /// Not opened yet.
    NotOpened = 0,
    /// Open.
    Opened = 1,
    /// Archived.
    Archived = 2,
}

impl ConversationStatus {
    fn from_i16(v: i16) -> ConversationStatus {
        match v {
            0 => ConversationStatus::NotOpened,
            2 => ConversationStatus::Archived,
            _ => ConversationStatus::Opened,
        }
    }
}

/// A conversation firefighter knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    /// Slack's id.
    pub channel_id: String,
    /// Name, without `#`.
    pub name: String,
    /// Kind.
    pub kind: ConversationKind,
    /// State.
    pub status: ConversationStatus,
    /// Shared with another workspace.
    pub is_shared: bool,
    /// Special meaning (`tech_incidents`, `it_deploy`, `dev_firefighter`...).
    pub tag: Option<String>,
    /// Members of these categories' incidents are invited.
    pub category_ids: Vec<CategoryId>,
    /// The incident, for incident channels.
    pub incident_id: Option<IncidentId>,
    /// Members known.
    pub member_count: i64,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    channel_id: String,
    name: String,
    kind: i16,
    status: i16,
    is_shared: bool,
    tag: Option<String>,
    incident_id: Option<i64>,
    member_count: i64,
}

pub(super) const CONVERSATION_SELECT: &str = "SELECT c.channel_id, c.name, c.kind, c.status, c.is_shared, c.tag, \
     ic.incident_id, (SELECT COUNT(*) FROM slack_conversation_members m WHERE m.channel_id = c.channel_id) AS member_count \
     FROM slack_conversations c LEFT JOIN slack_incident_channels ic ON ic.channel_id = c.channel_id";

impl SlackStore {
    /// Inserts a conversation or refreshes its name, kind, state and sharing (tag and categories are kept).
    pub async fn upsert_conversation(
        &self,
        channel_id: &str,
        name: &str,
        kind: ConversationKind,
        status: ConversationStatus,
        is_shared: bool,
    ) -> Result<()> {
        let at = now();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_conversations (channel_id, name, kind, status, is_shared, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (channel_id) DO UPDATE SET name = excluded.name, \
             kind = excluded.kind, status = excluded.status, is_shared = excluded.is_shared, updated_at = excluded.updated_at",
        )
        .bind(channel_id)
        .bind(name)
        .bind(kind as i16)
        .bind(status as i16)
        .bind(is_shared)
        .bind(at)
        .execute(pool)
        .await?.rows_affected());
        Ok(())
    }

    async fn conversation_categories(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<CategoryId>>> {
        let rows: Vec<(String, Uuid)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT channel_id, category_id FROM slack_conversation_categories",
        )
        .fetch_all(pool)
        .await?);
        let mut map: HashMap<String, Vec<CategoryId>> = HashMap::new();
        for (c, cat) in rows {
            if ids.contains(&c) {
                map.entry(c).or_default().push(CategoryId(cat));
            }
        }
        Ok(map)
    }

    async fn conversations_where(
        &self,
        clause: &str,
        arg: Option<&str>,
    ) -> Result<Vec<Conversation>> {
        let sql = format!("{CONVERSATION_SELECT} {clause} ORDER BY c.name");
        let rows: Vec<ConversationRow> = on_pool!(self, pool => {
            let q = sqlx::query_as::<_, ConversationRow>(sqlx::AssertSqlSafe(sql));
            let q = match arg { Some(a) => q.bind(a.to_owned()), None => q };
            q.fetch_all(pool).await?
        });
        let ids: Vec<String> = rows.iter().map(|r| r.channel_id.clone()).collect();
        let mut categories = self.conversation_categories(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| Conversation {
                category_ids: categories.remove(&r.channel_id).unwrap_or_default(),
                channel_id: r.channel_id,
                name: r.name,
                kind: ConversationKind::from_i16(r.kind),
                status: ConversationStatus::from_i16(r.status),
                is_shared: r.is_shared,
                tag: r.tag,
                incident_id: r.incident_id.map(IncidentId),
                member_count: r.member_count,
            })
            .collect())
    }

    /// A conversation.
    pub async fn conversation(&self, channel_id: &str) -> Result<Option<Conversation>> {
        Ok(self
            .conversations_where("WHERE c.channel_id = $1", Some(channel_id))
            .await?
            .pop())
    }

    /// The conversation with this tag.
    pub async fn conversation_by_tag(&self, tag: &str) -> Result<Option<Conversation>> {
        Ok(self
            .conversations_where("WHERE c.tag = $1", Some(tag))
            .await?
            .pop())
    }

    /// Every conversation whose tag contains `fragment`, not continued by a
    /// longer name ([`tag_holds`]: `raid_alert__partner.co` does not reach
    /// `raid_alert__partner.com`), by name. Matched here rather than with `LIKE`, where `_` is a wildcard.
    pub async fn conversations_tagged_with(&self, fragment: &str) -> Result<Vec<Conversation>> {
        Ok(self
            .conversations_where("WHERE c.tag IS NOT NULL", None)
            .await?
            .into_iter()
            .filter(|c| c.tag.as_deref().is_some_and(|t| tag_holds(t, fragment)))
            .collect())
    }

    /// Every conversation that is not an incident channel.
    pub async fn configured_conversations(&self) -> Result<Vec<Conversation>> {
        self.conversations_where("WHERE ic.incident_id IS NULL", None)
            .await
    }

    /// Tags a conversation (`None` clears). A tag belongs to one conversation at most.
    pub async fn set_conversation_tag(&self, channel_id: &str, tag: Option<&str>) -> Result<()> {
        let tag = tag.map(str::trim).filter(|t| !t.is_empty());
        let result = on_pool!(self, pool => sqlx::query(
            "UPDATE slack_conversations SET tag = $2, updated_at = $3 WHERE channel_id = $1",
        )
        .bind(channel_id)
        .bind(tag)
        .bind(now())
        .execute(pool)
        .await.map(|r| r.rows_affected()));
        match result {
            Ok(0) => Err(Error::BadRequest(format!(
                "conversation {channel_id} is not known"
            ))),
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e) => Err(Error::BadRequest(format!(
                "the tag {} is already on another conversation",
                tag.unwrap_or_default()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Links a conversation to incident categories (replacing its links).
    pub async fn set_conversation_categories(
        &self,
        channel_id: &str,
        categories: &[CategoryId],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_conversation_categories WHERE channel_id = $1")
                .bind(channel_id)
                .execute(&mut *tx)
                .await?;
            for c in categories {
                sqlx::query("INSERT INTO slack_conversation_categories (channel_id, category_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(channel_id)
                    .bind(c.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Sets a conversation's state.
    pub(crate) async fn set_conversation_status(
        &self,
        channel_id: &str,
        status: ConversationStatus,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET status = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(status as i16).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Renames a conversation.
    pub(crate) async fn rename_conversation(&self, channel_id: &str, name: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET name = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(name).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Sets whether a conversation is shared.
    pub(crate) async fn set_conversation_shared(
        &self,
        channel_id: &str,
        shared: bool,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET is_shared = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(shared).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Sets a conversation's kind (member events tell it).
    pub(crate) async fn set_conversation_kind(
        &self,
        channel_id: &str,
        kind: ConversationKind,
    ) -> Result<()> {
        if kind == ConversationKind::Unknown {
            return Ok(());
        }
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET kind = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(kind as i16).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Follows a channel id change everywhere it is stored.
    pub async fn change_channel_id(&self, old: &str, new: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in [
                "slack_conversations",
                "slack_conversation_members",
                "slack_conversation_categories",
                "slack_incident_channels",
                "slack_messages",
                "slack_sos",
                "slack_reactions",
            ] {
                let sql = format!("UPDATE {table} SET channel_id = $2 WHERE channel_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(old).bind(new).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Replaces the members of a conversation.
    pub async fn set_conversation_members(
        &self,
        channel_id: &str,
        members: &[String],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_conversation_members WHERE channel_id = $1")
                .bind(channel_id)
                .execute(&mut *tx)
                .await?;
            for chunk in members.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO slack_conversation_members (channel_id, slack_id) ");
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(channel_id.to_owned()).push_bind(m.clone());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Adds members to a conversation.
    pub(crate) async fn add_conversation_members(
        &self,
        channel_id: &str,
        members: &[String],
    ) -> Result<()> {
        on_pool!(self, pool => {
            for m in members {
                sqlx::query("INSERT INTO slack_conversation_members (channel_id, slack_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(channel_id).bind(m).execute(pool).await?;
            }
            Ok(())
        })
    }

    /// Removes a member from a conversation.
    pub(crate) async fn remove_conversation_member(
        &self,
        channel_id: &str,
        member: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_conversation_members WHERE channel_id = $1 AND slack_id = $2")
            .bind(channel_id).bind(member).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The members of a conversation (Slack ids).
    pub async fn conversation_members(&self, channel_id: &str) -> Result<Vec<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, String>(
            "SELECT slack_id FROM slack_conversation_members WHERE channel_id = $1 ORDER BY slack_id",
        )
        .bind(channel_id)
        .fetch_all(pool)
        .await?))
    }
}

/// Whether `tag` holds `word`: found, and not continued by a letter, a
/// digit, `.` or `-` (FireFighter matched any substring, so a partner's
/// `raid_alert__partner.co` reached `raid_alert__partner.com`; `_` still
/// continues a tag, as in `raid_alert__sbi_normal__fr`).
pub(crate) fn tag_holds(tag: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    tag.match_indices(word).any(|(at, _)| {
        !tag[at + word.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '-'))
    })
}

#[cfg(test)]
mod tag_tests {
    use super::tag_holds;

    #[test]
    fn a_tag_is_not_continued_by_a_longer_name() {
        assert!(tag_holds("raid_alert__sbi_high", "raid_alert__sbi_high"));
        assert!(tag_holds(
            "raid_alert__sbi_normal__fr",
            "raid_alert__sbi_normal"
        ));
        assert!(tag_holds(
            "old_raid_alert__sbi_normal",
            "raid_alert__sbi_normal"
        ));
        assert!(tag_holds(
            "raid_alert__sbi_high raid_alert__partner.com",
            "raid_alert__partner.com"
        ));
        assert!(!tag_holds(
            "raid_alert__partner.com",
            "raid_alert__partner.co"
        ));
        assert!(!tag_holds(
            "raid_alert__partner.com.evil",
            "raid_alert__partner.com"
        ));
        assert!(!tag_holds(
            "raid_alert__sbi_highest",
            "raid_alert__sbi_high"
        ));
        assert!(!tag_holds("anything", ""));
    }
}
