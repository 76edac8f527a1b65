//! The Slack Web API behind our own trait, so handlers, modals and tests
//! never depend on how the calls are made.

mod http;
mod pacing;

use async_trait::async_trait;
use serde_json::Value;

pub use http::{HttpSlackClient, ResponseObserver};

use crate::Result;
use crate::models::api::{
    AuthInfo, Channel, HistoryMessage, Member, NewMessage, Page, Posted, UserGroup,
};

/// The Slack Web API methods firefighter uses.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait SlackApi: Send + Sync + 'static {
    /// `auth.test`: the bot's identity and workspace.
    async fn auth_test(&self) -> Result<AuthInfo>;

    /// `conversations.create`.
    async fn create_channel(&self, name: &str, private: bool) -> Result<Channel>;
    /// `conversations.rename`.
    async fn rename_channel(&self, channel: &str, name: &str) -> Result<Channel>;
    /// `conversations.setTopic`.
    async fn set_topic(&self, channel: &str, topic: &str) -> Result<()>;
    /// `conversations.archive`.
    async fn archive_channel(&self, channel: &str) -> Result<()>;
    /// `conversations.unarchive` (a reopened incident's channel).
    async fn unarchive_channel(&self, channel: &str) -> Result<()>;
    /// `conversations.join` (public channels).
    async fn join_channel(&self, channel: &str) -> Result<()>;
    /// `conversations.invite` (up to 1,000 users at once).
    async fn invite(&self, channel: &str, users: &[String]) -> Result<()>;
    /// `conversations.info`.
    async fn channel_info(&self, channel: &str) -> Result<Channel>;
    /// `conversations.members`, one page.
    async fn channel_members(&self, channel: &str, cursor: Option<String>) -> Result<Page<String>>;
    /// `conversations.list` (public and private channels the bot sees), one page.
    async fn list_channels(&self, cursor: Option<String>) -> Result<Page<Channel>>;
    /// `conversations.history`: the one message at `ts`.
    async fn message_at(&self, channel: &str, ts: &str) -> Result<Option<HistoryMessage>>;
    /// `conversations.history`: the latest messages (up to 100) since
    /// `oldest` (a Slack timestamp), with their metadata.
    async fn messages_since(&self, channel: &str, oldest: &str) -> Result<Vec<HistoryMessage>>;
    /// `conversations.open`: the DM channel with a user.
    async fn open_dm(&self, user: &str) -> Result<String>;

    /// `chat.postMessage`.
    async fn post_message(&self, message: &NewMessage) -> Result<Posted>;
    /// `chat.update`.
    async fn update_message(&self, channel: &str, ts: &str, message: &NewMessage) -> Result<()>;
    /// `chat.delete`.
    async fn delete_message(&self, channel: &str, ts: &str) -> Result<()>;
    /// `chat.postEphemeral`.
    async fn post_ephemeral(&self, channel: &str, user: &str, message: &NewMessage) -> Result<()>;
    /// `pins.add`.
    async fn pin(&self, channel: &str, ts: &str) -> Result<()>;
    /// `bookmarks.add` (a link).
    async fn add_bookmark(
        &self,
        channel: &str,
        title: &str,
        link: &str,
        emoji: Option<String>,
    ) -> Result<()>;
    /// `bookmarks.list`: the links bookmarked in a channel.
    async fn bookmark_links(&self, channel: &str) -> Result<Vec<String>>;

    /// `views.open`; returns the view id.
    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<String>;
    /// `views.update`.
    async fn update_view(&self, view_id: &str, hash: Option<String>, view: &Value) -> Result<()>;
    /// `views.push`.
    async fn push_view(&self, trigger_id: &str, view: &Value) -> Result<String>;
    /// `views.publish` (home tab).
    async fn publish_home(&self, user: &str, view: &Value) -> Result<()>;

    /// `users.info`.
    async fn user_info(&self, user: &str) -> Result<Member>;
    /// `users.lookupByEmail`.
    async fn user_by_email(&self, email: &str) -> Result<Member>;
    /// `users.list`, one page of up to `limit` members.
    async fn list_users(&self, cursor: Option<String>, limit: u32) -> Result<Page<Member>>;
    /// `usergroups.list` with members.
    async fn list_usergroups(&self) -> Result<Vec<UserGroup>>;
    /// `usergroups.users.list`.
    async fn usergroup_members(&self, usergroup: &str) -> Result<Vec<String>>;

    /// Answers through a slash command's or an action's `response_url`.
    async fn respond(&self, response_url: &str, body: &Value) -> Result<()>;
}
