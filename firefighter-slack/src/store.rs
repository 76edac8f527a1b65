//! The Slack integration's own tables (see `migrations/`), on the same
//! database as core, with the same SQL for SQLite and PostgreSQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;
use firefighter_core::{CategoryId, IncidentId, UpdateId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// The migrations table of this crate (never collides with core's).
pub const MIGRATIONS_TABLE: &str = "_ff_slack_migrations";

/// Rows per multi-row insert.
const BATCH: usize = 500;

/// Runs this crate's migrations on the database.
pub async fn migrate(pool: &DatabasePool) -> Result<()> {
    match pool {
        DatabasePool::Sqlite(p) => {
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.dangerous_set_table_name(MIGRATIONS_TABLE);
            m.run(p).await?;
        }
        DatabasePool::Postgres(p) => {
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.dangerous_set_table_name(MIGRATIONS_TABLE);
            m.run(p).await?;
        }
    }
    Ok(())
}

/// Runs the same code on either pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            DatabasePool::Sqlite($pool) => $body,
            DatabasePool::Postgres($pool) => $body,
        }
    };
}

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
    pub fn from_channel_type(t: &str) -> ConversationKind {
        match t {
            "C" => ConversationKind::Public,
            "G" => ConversationKind::Private,
            "D" => ConversationKind::Direct,
            _ => ConversationKind::Unknown,
        }
    }

    /// From a `conversations.*` answer.
    pub fn of(channel: &crate::models::api::Channel) -> ConversationKind {
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

/// A user group firefighter knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredUserGroup {
    /// `S...`.
    pub usergroup_id: String,
    /// Handle, without `@`.
    pub handle: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// From another workspace.
    pub is_external: bool,
    /// Special meaning (`invited_for_all_public_p1`).
    pub tag: Option<String>,
    /// Members are invited to these categories' incidents.
    pub category_ids: Vec<CategoryId>,
    /// Members known.
    pub member_count: i64,
}

#[derive(sqlx::FromRow)]
struct UserGroupRow {
    usergroup_id: String,
    handle: String,
    name: String,
    description: String,
    is_external: bool,
    tag: Option<String>,
    member_count: i64,
}

/// An SOS target: where to ask for help, and whom to address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Sos {
    /// Identifier.
    pub id: Uuid,
    /// Name shown in the SOS modal.
    pub name: String,
    /// The channel to post in.
    pub channel_id: String,
    /// The user group to mention (`@here` when none).
    pub usergroup_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

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

/// The Slack tables.
#[derive(Debug, Clone)]
pub struct SlackStore {
    pool: DatabasePool,
    /// Where latency-sensitive writes go (core's writer on SQLite).
    writer: DatabasePool,
}

fn now() -> DateTime<Utc> {
    firefighter_core::store::now()
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

const CONVERSATION_SELECT: &str = "SELECT c.channel_id, c.name, c.kind, c.status, c.is_shared, c.tag, \
     ic.incident_id, (SELECT COUNT(*) FROM slack_conversation_members m WHERE m.channel_id = c.channel_id) AS member_count \
     FROM slack_conversations c LEFT JOIN slack_incident_channels ic ON ic.channel_id = c.channel_id";

const USERGROUP_SELECT: &str = "SELECT g.usergroup_id, g.handle, g.name, g.description, g.is_external, g.tag, \
     (SELECT COUNT(*) FROM slack_usergroup_members m WHERE m.usergroup_id = g.usergroup_id) AS member_count \
     FROM slack_usergroups g";

impl SlackStore {
    /// The tables on this database (run [`migrate`] first).
    pub fn new(pool: DatabasePool) -> SlackStore {
        SlackStore {
            writer: pool.clone(),
            pool,
        }
    }

    /// The tables, with writes on the acknowledgement path queued on
    /// `writer` (see `Store::write_database`).
    pub fn with_writer(pool: DatabasePool, writer: DatabasePool) -> SlackStore {
        SlackStore { pool, writer }
    }

    /// The database.
    pub fn pool(&self) -> &DatabasePool {
        &self.pool
    }

    // ------------------------------------------------------------ users

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

    // ---------------------------------------------------- conversations

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
    pub async fn set_conversation_status(
        &self,
        channel_id: &str,
        status: ConversationStatus,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET status = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(status as i16).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Renames a conversation.
    pub async fn rename_conversation(&self, channel_id: &str, name: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET name = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(name).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Sets whether a conversation is shared.
    pub async fn set_conversation_shared(&self, channel_id: &str, shared: bool) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE slack_conversations SET is_shared = $2, updated_at = $3 WHERE channel_id = $1")
            .bind(channel_id).bind(shared).bind(now()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Sets a conversation's kind (member events tell it).
    pub async fn set_conversation_kind(
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
    pub async fn add_conversation_members(
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
    pub async fn remove_conversation_member(&self, channel_id: &str, member: &str) -> Result<()> {
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

    // ---------------------------------------------------- incident channels

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
    pub async fn incident_channels(&self) -> Result<HashMap<IncidentId, String>> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT incident_id, channel_id FROM slack_incident_channels",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(i, c)| (IncidentId(i), c)).collect())
    }

    // ------------------------------------------------------------ messages

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

    /// Every message posted for an incident, oldest first.
    pub async fn incident_messages(&self, incident: IncidentId) -> Result<Vec<StoredMessage>> {
        on_pool!(self, pool => Ok(sqlx::query_as::<_, StoredMessage>(
            "SELECT channel_id, ts, kind, incident_id, created_at FROM slack_messages WHERE incident_id = $1 ORDER BY created_at, ts",
        )
        .bind(incident.0)
        .fetch_all(pool)
        .await?))
    }

    /// Forgets a message (deleted).
    pub async fn forget_message(&self, channel_id: &str, ts: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_messages WHERE channel_id = $1 AND ts = $2")
            .bind(channel_id).bind(ts).execute(pool).await?.rows_affected());
        Ok(())
    }

    // ---------------------------------------------------------- user groups

    /// Inserts a user group or refreshes its details (tag and categories are kept).
    pub async fn upsert_usergroup(
        &self,
        id: &str,
        handle: &str,
        name: &str,
        description: &str,
        is_external: bool,
    ) -> Result<()> {
        let at = now();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_usergroups (usergroup_id, handle, name, description, is_external, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (usergroup_id) DO UPDATE SET handle = excluded.handle, \
             name = excluded.name, description = excluded.description, is_external = excluded.is_external, updated_at = excluded.updated_at",
        )
        .bind(id).bind(handle).bind(name).bind(description).bind(is_external).bind(at)
        .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn usergroups_where(
        &self,
        clause: &str,
        arg: Option<&str>,
    ) -> Result<Vec<StoredUserGroup>> {
        let sql = format!("{USERGROUP_SELECT} {clause} ORDER BY g.handle");
        let rows: Vec<UserGroupRow> = on_pool!(self, pool => {
            let q = sqlx::query_as::<_, UserGroupRow>(sqlx::AssertSqlSafe(sql));
            let q = match arg { Some(a) => q.bind(a.to_owned()), None => q };
            q.fetch_all(pool).await?
        });
        let links: Vec<(String, Uuid)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT usergroup_id, category_id FROM slack_usergroup_categories",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| StoredUserGroup {
                category_ids: links
                    .iter()
                    .filter(|(g, _)| *g == r.usergroup_id)
                    .map(|(_, c)| CategoryId(*c))
                    .collect(),
                usergroup_id: r.usergroup_id,
                handle: r.handle,
                name: r.name,
                description: r.description,
                is_external: r.is_external,
                tag: r.tag,
                member_count: r.member_count,
            })
            .collect())
    }

    /// Every user group.
    pub async fn usergroups(&self) -> Result<Vec<StoredUserGroup>> {
        self.usergroups_where("", None).await
    }

    /// A user group.
    pub async fn usergroup(&self, id: &str) -> Result<Option<StoredUserGroup>> {
        Ok(self
            .usergroups_where("WHERE g.usergroup_id = $1", Some(id))
            .await?
            .pop())
    }

    /// Tags a user group (`None` clears).
    pub async fn set_usergroup_tag(&self, id: &str, tag: Option<&str>) -> Result<()> {
        let tag = tag.map(str::trim).filter(|t| !t.is_empty());
        let r = on_pool!(self, pool => sqlx::query("UPDATE slack_usergroups SET tag = $2, updated_at = $3 WHERE usergroup_id = $1")
            .bind(id).bind(tag).bind(now()).execute(pool).await?.rows_affected());
        if r == 0 {
            return Err(Error::BadRequest(format!("user group {id} is not known")));
        }
        Ok(())
    }

    /// Links a user group to incident categories (replacing its links).
    pub async fn set_usergroup_categories(
        &self,
        id: &str,
        categories: &[CategoryId],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_usergroup_categories WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            for c in categories {
                sqlx::query("INSERT INTO slack_usergroup_categories (usergroup_id, category_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id).bind(c.0).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Replaces the members of a user group.
    pub async fn set_usergroup_members(&self, id: &str, members: &[String]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_usergroup_members WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            for chunk in members.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO slack_usergroup_members (usergroup_id, slack_id) ");
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(id.to_owned()).push_bind(m.clone());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Forgets a user group.
    pub async fn delete_usergroup(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in ["slack_usergroup_members", "slack_usergroup_categories", "slack_usergroups"] {
                let sql = format!("DELETE FROM {table} WHERE usergroup_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE slack_sos SET usergroup_id = NULL WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    // ------------------------------------------------------------ invitations

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

    // --------------------------------------------------------------- SOS

    /// Adds an SOS target.
    pub async fn add_sos(
        &self,
        name: &str,
        channel_id: &str,
        usergroup_id: Option<&str>,
    ) -> Result<Sos> {
        let sos = Sos {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            channel_id: channel_id.to_owned(),
            usergroup_id: usergroup_id.map(str::to_owned),
            created_at: now(),
        };
        if sos.name.is_empty() {
            return Err(Error::BadRequest("an SOS needs a name".into()));
        }
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_sos (id, name, channel_id, usergroup_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sos.id).bind(&sos.name).bind(&sos.channel_id).bind(&sos.usergroup_id).bind(sos.created_at)
        .execute(pool).await.map(|r| r.rows_affected()));
        match r {
            Ok(_) => Ok(sos),
            Err(e) if unique_violation(&e) => Err(Error::BadRequest(format!(
                "an SOS named {} exists",
                sos.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every SOS target.
    pub async fn sos_list(&self) -> Result<Vec<Sos>> {
        on_pool!(self, pool => Ok(sqlx::query_as::<_, Sos>(
            "SELECT id, name, channel_id, usergroup_id, created_at FROM slack_sos ORDER BY name",
        )
        .fetch_all(pool)
        .await?))
    }

    /// Removes an SOS target.
    pub async fn delete_sos(&self, id: Uuid) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_sos WHERE id = $1").bind(id).execute(pool).await?.rows_affected());
        Ok(r > 0)
    }

    // ---------------------------------------------------------- idempotency

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
    pub async fn replace_effect(&self, key: &str, result: &str) -> Result<()> {
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
    pub async fn release_event(&self, event_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM slack_events WHERE event_id = $1").bind(event_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Forgets event ids older than `before` (Slack retries within minutes).
    pub async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_events WHERE received_at < $1").bind(before).execute(pool).await?.rows_affected());
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
    pub async fn release_reaction(&self, channel_id: &str, ts: &str) -> Result<()> {
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

/// A submission to record ([`SlackStore::insert_submissions`]), leased to
/// the instance recording it so it is applied right after the acknowledgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewSubmission {
    /// Its id.
    pub id: Uuid,
    /// What to redo (`declare`, `update`, `key_event`).
    pub kind: String,
    /// What is needed to redo it (JSON).
    pub payload: String,
    /// Who submitted it.
    pub slack_user: String,
    /// The lease's token.
    pub claim_token: Uuid,
    /// The lease's end.
    pub claimed_until: DateTime<Utc>,
}

/// A recorded submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredSubmission {
    /// Its id.
    pub id: Uuid,
    /// What to redo.
    pub kind: String,
    /// What is needed to redo it (JSON).
    pub payload: String,
    /// Who submitted it.
    pub slack_user: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Attempts so far (the current one included while leased).
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The lease's end (while an attempt runs).
    pub claimed_until: Option<DateTime<Utc>>,
    /// The lease's token.
    pub claim_token: Option<Uuid>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was given up on.
    pub parked_at: Option<DateTime<Utc>>,
    /// When it was applied (or answered with a refusal).
    pub done_at: Option<DateTime<Utc>>,
}

/// How an attempt at a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionEnd {
    /// Applied, or refused for good (with the refusal).
    Done(Option<String>),
    /// Failed; try again at this time.
    Retry(DateTime<Utc>, String),
    /// Failed too often; kept for a person.
    Park(String),
}

const SUBMISSION_SELECT: &str = "SELECT id, kind, payload, slack_user, created_at, attempts, next_attempt_at, \
     claimed_until, claim_token, last_error, parked_at, done_at FROM slack_submissions";

impl SlackStore {
    // ---------------------------------------------------------- submissions

    /// Records submissions, all in one transaction (group commit). A
    /// submission already recorded (replayed from the journal) is left as it is.
    pub async fn insert_submissions(&self, rows: &[NewSubmission]) -> Result<()> {
        self.insert_submissions_at(rows, now()).await
    }

    /// [`SlackStore::insert_submissions`], recorded and due at `at`.
    pub(crate) async fn insert_submissions_at(
        &self,
        rows: &[NewSubmission],
        at: DateTime<Utc>,
    ) -> Result<()> {
        // On the writer: queued behind core's writes, never sleeping on SQLite's lock.
        let writer = SlackStore::new(self.writer.clone());
        on_pool!(writer, pool => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO slack_submissions (id, kind, payload, slack_user, created_at, attempts, next_attempt_at, \
                     claimed_until, claim_token) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.kind.clone())
                        .push_bind(r.payload.clone())
                        .push_bind(r.slack_user.clone())
                        .push_bind(at)
                        .push_bind(1_i32)
                        .push_bind(at)
                        .push_bind(r.claimed_until)
                        .push_bind(r.claim_token);
                });
                qb.push(" ON CONFLICT (id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Leases up to `limit` due submissions (unfinished, not parked, lease
    /// expired) until `lease_until`; each lease counts as an attempt.
    pub async fn claim_due_submissions(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredSubmission>> {
        const DUE: &str = "done_at IS NULL AND parked_at IS NULL AND next_attempt_at <= $1 \
                           AND (claimed_until IS NULL OR claimed_until < $1)";
        let ids: Vec<Uuid> = on_pool!(self, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM slack_submissions WHERE {DUE} ORDER BY created_at LIMIT $2"
        )))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?);
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            // Conditional on the same terms: of two instances, one wins the row.
            let token = Uuid::new_v4();
            let row: Option<StoredSubmission> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE slack_submissions SET claimed_until = $2, claim_token = $3, attempts = attempts + 1 \
                 WHERE id = $4 AND {DUE} RETURNING id, kind, payload, slack_user, created_at, attempts, \
                 next_attempt_at, claimed_until, claim_token, last_error, parked_at, done_at"
            )))
            .bind(now)
            .bind(lease_until)
            .bind(token)
            .bind(id)
            .fetch_optional(pool)
            .await?);
            claimed.extend(row);
        }
        Ok(claimed)
    }

    /// Ends an attempt; false when the lease was lost (someone else took the row).
    pub async fn end_submission(&self, id: Uuid, token: Uuid, end: &SubmissionEnd) -> Result<bool> {
        let at = now();
        let (sql, error, when) = match end {
            SubmissionEnd::Done(e) => (
                "UPDATE slack_submissions SET done_at = $1, last_error = COALESCE($2, last_error), \
                 claimed_until = NULL, claim_token = NULL WHERE id = $3 AND claim_token = $4",
                e.clone(),
                at,
            ),
            SubmissionEnd::Retry(next, e) => (
                "UPDATE slack_submissions SET next_attempt_at = $1, last_error = $2, claimed_until = NULL, \
                 claim_token = NULL WHERE id = $3 AND claim_token = $4",
                Some(e.clone()),
                *next,
            ),
            SubmissionEnd::Park(e) => (
                "UPDATE slack_submissions SET parked_at = $1, last_error = $2, claimed_until = NULL, \
                 claim_token = NULL WHERE id = $3 AND claim_token = $4",
                Some(e.clone()),
                at,
            ),
        };
        let r = on_pool!(self, pool => sqlx::query(sql)
            .bind(when)
            .bind(error)
            .bind(id)
            .bind(token)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(r == 1)
    }

    /// A submission.
    pub async fn submission(&self, id: Uuid) -> Result<Option<StoredSubmission>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SUBMISSION_SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Parked submissions, newest first (the back-office).
    pub async fn parked_submissions(&self, limit: u32) -> Result<Vec<StoredSubmission>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SUBMISSION_SELECT} WHERE parked_at IS NOT NULL ORDER BY parked_at DESC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?))
    }

    /// Puts a parked submission back in the queue, with fresh attempts.
    pub async fn requeue_submission(&self, id: Uuid) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query(
            "UPDATE slack_submissions SET parked_at = NULL, attempts = 0, next_attempt_at = $1 \
             WHERE id = $2 AND parked_at IS NOT NULL",
        )
        .bind(now())
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(r == 1)
    }

    /// Forgets submissions done before `before`.
    pub async fn purge_submissions(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_submissions WHERE done_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(r)
    }
}
