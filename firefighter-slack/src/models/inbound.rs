//! What Slack sends us: slash commands, interactivity payloads and Events API callbacks.

use std::collections::HashMap;

use serde::Deserialize;

/// A slash command (form-encoded).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SlashCommand {
    /// The workspace.
    #[serde(default)]
    #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
    pub team_id: String,
    /// Where the command was typed.
    #[serde(default)]
    pub channel_id: String,
    /// Who typed it.
    pub user_id: String,
    /// The command (`/incident`).
    pub command: String,
    /// What follows the command.
    #[serde(default)]
    pub text: String,
    /// Where to answer (ephemeral messages), valid 30 minutes.
    #[serde(default)]
    pub response_url: String,
    /// Opens a modal within 3 seconds.
    #[serde(default)]
    pub trigger_id: String,
}

/// A reference to a user.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct UserRef {
    /// `U...`.
    pub id: String,
    /// The workspace.
    #[serde(default)]
    #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
    pub team_id: Option<String>,
}

/// A reference to a channel.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ChannelRef {
    /// `C...`.
    pub id: String,
}

/// A selected option.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SelectedOption {
    /// Its value.
    pub value: String,
}

/// The value of one input element in a view's state (or of an action).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ElementValue {
    /// Text inputs.
    #[serde(default)]
    pub value: Option<String>,
    /// Selects and radio buttons.
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
    /// Multi-selects.
    #[serde(default)]
    pub selected_options: Option<Vec<SelectedOption>>,
    /// User pickers.
    #[serde(default)]
    pub selected_user: Option<String>,
    /// Date and time pickers (Unix seconds).
    #[serde(default)]
    #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
    pub selected_date_time: Option<i64>,
}

impl ElementValue {
    /// The chosen value of a select, or the text of an input, trimmed; `None` when empty.
    pub(crate) fn single(&self) -> Option<String> {
        self.selected_option
            .as_ref()
            .map(|o| o.value.clone())
            .or_else(|| self.value.clone())
            .or_else(|| self.selected_user.clone())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The chosen values of a multi-select.
    pub(crate) fn many(&self) -> Vec<String> {
        self.selected_options
            .as_ref()
            .map(|o| o.iter().map(|o| o.value.clone()).collect())
            .unwrap_or_default()
    }
}

/// The values entered in a view: block id → action id → value.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ViewState {
    /// The values.
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, ElementValue>>,
}

impl ViewState {
    /// The value of the (first) element of a block.
    pub(crate) fn get(&self, block_id: &str) -> Option<&ElementValue> {
        self.values.get(block_id).and_then(|b| b.values().next())
    }

    /// The single value of a block (select or text input).
    pub(crate) fn single(&self, block_id: &str) -> Option<String> {
        self.get(block_id).and_then(ElementValue::single)
    }

    /// The values of a multi-select block.
    pub(crate) fn many(&self, block_id: &str) -> Vec<String> {
        self.get(block_id)
            .map(ElementValue::many)
            .unwrap_or_default()
    }
}

/// A view (modal) as Slack sends it back.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct View {
    /// Its id (stable while the modal is open).
    pub id: String,
    /// For `views.update` races.
    #[serde(default)]
    pub hash: Option<String>,
    /// Which modal.
    #[serde(default)]
    pub callback_id: String,
    /// What we stored in it.
    #[serde(default)]
    pub private_metadata: String,
    /// What the user entered.
    #[serde(default)]
    pub state: ViewState,
    /// The first view of the stack.
    #[serde(default)]
    pub root_view_id: Option<String>,
}

/// One action of a `block_actions` payload.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Action {
    /// Which element.
    pub action_id: String,
    /// Its block.
    #[serde(default)]
    pub block_id: String,
    /// Buttons.
    #[serde(default)]
    pub value: Option<String>,
    /// Selects.
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
    /// Date and time pickers.
    #[serde(default)]
    pub selected_date_time: Option<i64>,
}

impl Action {
    /// The button value or the selected option.
    pub(crate) fn chosen(&self) -> Option<String> {
        self.value
            .clone()
            .or_else(|| self.selected_option.as_ref().map(|o| o.value.clone()))
    }
}

/// A click or a change in a message, a modal or the home tab.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct BlockActions {
    /// Who.
    pub user: UserRef,
    /// Opens or pushes a modal within 3 seconds.
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// The actions (one in practice).
    #[serde(default)]
    pub actions: Vec<Action>,
    /// The modal, when the action happened in one.
    #[serde(default)]
    pub view: Option<View>,
    /// The channel, when the action happened in a message.
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    /// Where to answer.
    #[serde(default)]
    pub response_url: Option<String>,
}

/// A modal submitted.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ViewSubmission {
    /// Who.
    pub user: UserRef,
    /// The modal.
    pub view: View,
    /// Pushes a modal.
    #[serde(default)]
    #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
    pub trigger_id: Option<String>,
}

/// An interactivity payload (the `payload` field of the form).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Interaction {
    /// Buttons, selects, pickers.
    BlockActions(BlockActions),
    /// A modal submitted.
    ViewSubmission(ViewSubmission),
    /// A modal closed.
    ViewClosed {
        /// Who.
        #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
        user: UserRef,
    },
    /// A global shortcut.
    Shortcut {
        /// Who.
        user: UserRef,
        /// Which shortcut.
        callback_id: String,
        /// Opens a modal.
        trigger_id: String,
    },
    /// Anything else (message shortcuts...), acknowledged and ignored.
    #[serde(other)]
    Other,
}

/// The Events API envelope.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Envelope {
    /// The endpoint check when the URL is configured.
    UrlVerification {
        /// Echoed back.
        challenge: String,
    },
    /// An event.
    EventCallback {
        /// Unique per event; retries repeat it.
        event_id: String,
        /// The workspace.
        #[serde(default)]
        #[expect(dead_code, reason = "part of the payload; nothing reads it yet")]
        team_id: String,
        /// The event.
        event: serde_json::Value,
    },
    /// Slack stopped sending events for a while.
    AppRateLimited {
        /// When the limit started.
        #[serde(default)]
        minute_rate_limited: Option<i64>,
    },
}

/// A channel in rename events.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RenamedChannel {
    /// Id.
    pub id: String,
    /// New name.
    #[serde(default)]
    pub name: String,
}

/// What a reaction was added to.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ReactionItem {
    /// `message`...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The channel.
    #[serde(default)]
    pub channel: String,
    /// The message.
    #[serde(default)]
    pub ts: String,
}

/// The events firefighter handles.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event {
    /// Someone opened the app's home.
    AppHomeOpened {
        /// Who.
        user: String,
        /// `home` or `messages`.
        #[serde(default)]
        tab: String,
    },
    /// A public channel was archived.
    ChannelArchive {
        /// The channel.
        channel: String,
    },
    /// A private channel was archived.
    GroupArchive {
        /// The channel.
        channel: String,
    },
    /// A public channel was unarchived.
    ChannelUnarchive {
        /// The channel.
        channel: String,
    },
    /// A private channel was unarchived.
    GroupUnarchive {
        /// The channel.
        channel: String,
    },
    /// A public channel was renamed.
    ChannelRename {
        /// The channel.
        channel: RenamedChannel,
    },
    /// A private channel was renamed.
    GroupRename {
        /// The channel.
        channel: RenamedChannel,
    },
    /// A channel's id changed (workspace migration).
    ChannelIdChanged {
        /// Before.
        old_channel_id: String,
        /// After.
        new_channel_id: String,
    },
    /// A channel was shared with another workspace.
    ChannelShared {
        /// The channel.
        channel: String,
    },
    /// A channel stopped being shared.
    ChannelUnshared {
        /// The channel.
        channel: String,
    },
    /// Someone joined a channel.
    MemberJoinedChannel {
        /// Who.
        user: String,
        /// Where.
        channel: String,
        /// `C` (public) or `G` (private).
        #[serde(default)]
        channel_type: Option<String>,
    },
    /// Someone left a channel.
    MemberLeftChannel {
        /// Who.
        user: String,
        /// Where.
        channel: String,
        /// `C` (public) or `G` (private).
        #[serde(default)]
        channel_type: Option<String>,
    },
    /// A message (we look at a few system subtypes only).
    Message {
        /// Where.
        #[serde(default)]
        channel: String,
        /// The subtype.
        #[serde(default)]
        subtype: Option<String>,
        /// Author.
        #[serde(default)]
        user: Option<String>,
        /// The message.
        #[serde(default)]
        ts: String,
        /// For `message_deleted`.
        #[serde(default)]
        deleted_ts: Option<String>,
    },
    /// A reaction was added.
    ReactionAdded {
        /// Who reacted.
        user: String,
        /// The emoji name, without colons.
        reaction: String,
        /// On what.
        item: ReactionItem,
    },
    /// Anything else.
    #[serde(other)]
    Other,
}
