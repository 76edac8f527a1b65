//! Answers of the Slack Web API methods firefighter calls.

use serde::{Deserialize, Serialize};

/// `auth.test`: who the bot is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthInfo {
    /// The workspace id (`T...`).
    #[serde(default)]
    pub team_id: String,
    /// The bot's user id (`U...`).
    #[serde(default)]
    pub user_id: String,
    /// The workspace URL (`https://acme.slack.com/`).
    #[serde(default)]
    pub url: String,
    /// The bot id (`B...`).
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// A conversation (channel, private channel, DM).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Channel {
    /// `C...` or `G...` or `D...`.
    pub id: String,
    /// The name (empty for DMs).
    #[serde(default)]
    pub name: String,
    /// A private channel.
    #[serde(default)]
    pub is_private: bool,
    /// Archived.
    #[serde(default)]
    pub is_archived: bool,
    /// Shared with another workspace.
    #[serde(default)]
    pub is_shared: bool,
    /// A direct message.
    #[serde(default)]
    pub is_im: bool,
    /// A group direct message.
    #[serde(default)]
    pub is_mpim: bool,
}

/// A user's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Profile {
    /// E-mail (needs `users:read.email`).
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub real_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Avatar.
    #[serde(default)]
    pub image_72: Option<String>,
}

/// A workspace member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Member {
    /// `U...` or `W...`.
    pub id: String,
    /// The workspace.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The handle.
    #[serde(default)]
    pub name: String,
    /// Deactivated.
    #[serde(default)]
    pub deleted: bool,
    /// A bot.
    #[serde(default)]
    pub is_bot: bool,
    /// An app user.
    #[serde(default)]
    pub is_app_user: bool,
    /// A guest.
    #[serde(default)]
    pub is_restricted: bool,
    /// A single-channel guest.
    #[serde(default)]
    pub is_ultra_restricted: bool,
    /// Full name.
    #[serde(default)]
    pub real_name: Option<String>,
    /// Profile.
    #[serde(default)]
    pub profile: Profile,
}

impl Member {
    /// The best name to show.
    pub fn display_name(&self) -> String {
        [
            self.profile.real_name.as_deref(),
            self.real_name.as_deref(),
            self.profile.display_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .unwrap_or(&self.name)
        .to_owned()
    }

    /// A person who may become a firefighter user (not a bot, guest or deactivated account).
    pub fn is_person(&self) -> bool {
        !self.deleted
            && !self.is_bot
            && !self.is_app_user
            && !self.is_restricted
            && !self.is_ultra_restricted
            && self.id != "USLACKBOT"
    }
}

/// A user group (`@sre`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserGroup {
    /// `S...`.
    pub id: String,
    /// Handle, without `@`.
    #[serde(default)]
    pub handle: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// From another workspace.
    #[serde(default)]
    pub is_external: bool,
    /// Members, when asked for.
    #[serde(default)]
    pub users: Option<Vec<String>>,
}

/// A message in a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HistoryMessage {
    /// Its timestamp (its id in the channel).
    pub ts: String,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// Author.
    #[serde(default)]
    pub user: Option<String>,
    /// Subtype (`channel_topic`...).
    #[serde(default)]
    pub subtype: Option<String>,
    /// Message metadata of the bot's own messages (`include_all_metadata`).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// Where a posted message landed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Posted {
    /// The conversation.
    pub channel: String,
    /// The message's timestamp.
    pub ts: String,
}

/// One page of a cursor-paged list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page, `None` on the last one.
    pub next_cursor: Option<String>,
}

/// A message to post.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewMessage {
    /// The conversation (or a user id for a DM from the app).
    pub channel: String,
    /// Fallback text (notifications, screen readers).
    pub text: String,
    /// Block Kit blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<serde_json::Value>,
    /// Reply in this thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Message metadata (`event_type` = our message kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl NewMessage {
    /// A message with blocks.
    pub fn new(channel: &str, text: impl Into<String>, blocks: serde_json::Value) -> NewMessage {
        NewMessage {
            channel: channel.to_owned(),
            text: text.into(),
            blocks: Some(blocks),
            thread_ts: None,
            metadata: None,
        }
    }

    /// Tags the message with its kind (Slack message metadata).
    pub fn kind(mut self, kind: &str) -> NewMessage {
        let effect = self
            .metadata
            .as_ref()
            .and_then(|m| m["event_payload"]["effect"].as_str())
            .map(str::to_owned);
        self.metadata = Some(serde_json::json!({"event_type": kind, "event_payload": {}}));
        if let Some(effect) = effect {
            self = self.effect(&effect);
        }
        self
    }

    /// Tags the message with the effect that posts it (its idempotency key),
    /// so a retry can find it in the channel's history.
    pub fn effect(mut self, key: &str) -> NewMessage {
        let metadata = self.metadata.get_or_insert_with(
            || serde_json::json!({"event_type": "ff_message", "event_payload": {}}),
        );
        metadata["event_payload"]["effect"] = serde_json::Value::String(key.to_owned());
        self
    }
}
