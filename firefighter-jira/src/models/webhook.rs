//! Jira's webhook bodies (the fields used): an issue updated, a comment
//! created, updated or deleted.

use serde::Deserialize;
use serde_json::Value;

/// `jira:issue_updated`: the issue, what changed, who changed it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateHook {
    #[serde(default)]
    pub issue: HookIssue,
    #[serde(default)]
    pub changelog: Option<Changelog>,
    #[serde(default)]
    pub user: Option<HookUser>,
}

/// The issue a webhook is about.
#[derive(Debug, Default, Deserialize)]
pub struct HookIssue {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub fields: Option<HookIssueFields>,
}

/// The issue fields a webhook carries (those read).
#[derive(Debug, Default, Deserialize)]
pub struct HookIssueFields {
    #[serde(default)]
    pub summary: Option<String>,
}

/// What an update changed.
#[derive(Debug, Default, Deserialize)]
pub struct Changelog {
    #[serde(default)]
    pub items: Vec<ChangeItem>,
}

/// One changed field (`fieldId`, and its values before and after as text).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeItem {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub field_id: Option<String>,
    #[serde(default)]
    pub from_string: Option<String>,
    #[serde(default)]
    pub to_string: Option<String>,
}

/// The account that made the change or wrote the comment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookUser {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `comment_created`, `comment_updated`, `comment_deleted`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentHook {
    #[serde(default)]
    pub webhook_event: String,
    #[serde(default)]
    pub issue: HookIssue,
    #[serde(default)]
    pub comment: Option<HookComment>,
}

/// A comment: its author and body (ADF, or wiki markup as a string).
#[derive(Debug, Default, Deserialize)]
pub struct HookComment {
    #[serde(default)]
    pub author: Option<HookUser>,
    #[serde(default)]
    pub body: Value,
}
