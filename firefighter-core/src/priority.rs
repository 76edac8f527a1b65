//! Priorities (P1 to P5 and GAMEDAY) and what they drive.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::PriorityId;

/// How responders are mobilised for a priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// A dedicated conversation, responders invited, announcements.
    Critical,
    /// Tracked, without mobilising anyone.
    Normal,
}

/// A priority level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priority {
    /// Identifier.
    pub id: PriorityId,
    /// `P1` ... `P5`, `GAMEDAY`.
    pub name: String,
    /// 1 is the most urgent. Rules compare values (`< 4` means P1 to P3).
    pub value: i32,
    /// Shown before the name.
    pub emoji: String,
    /// What the priority means.
    pub description: String,
    /// Sort order in lists.
    pub order: i32,
    /// Chosen when nothing else is.
    pub default: bool,
    /// A post-mortem is required for production incidents of this priority.
    pub needs_postmortem: bool,
    /// Can be chosen when declaring.
    pub enabled_create: bool,
    /// Can be chosen when updating.
    pub enabled_update: bool,
    /// Time after which responders are reminded to post an update.
    pub reminder_time: Duration,
    /// Time after mitigation before the incident channel is reminded to
    /// finish the post-mortem (the original's five days).
    pub postmortem_reminder_time: Duration,
    /// Time without progress before that reminder is sent again; zero
    /// reminds once.
    pub postmortem_reminder_repeat_time: Duration,
    /// Target time to mitigate.
    pub sla: Duration,
    /// Overrides the response type derived from the value.
    pub recommended_response_type: Option<ResponseType>,
}

impl Priority {
    /// The response type: the configured one, else critical for P1 to P3.
    pub fn response_type(&self) -> ResponseType {
        self.recommended_response_type.unwrap_or(if self.value < 4 {
            ResponseType::Critical
        } else {
            ResponseType::Normal
        })
    }

    /// Emoji, name and description, as shown in pickers.
    pub fn full_name(&self) -> String {
        format!("{} {} - {}", self.emoji, self.name, self.description)
    }
}
