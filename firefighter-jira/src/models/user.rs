use serde::Deserialize;

/// `User` (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    /// The account id.
    pub account_id: String,
    /// The e-mail, when the account's privacy settings show it.
    #[serde(default)]
    pub email_address: Option<String>,
    /// The name shown.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the account is active.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// `Watchers`: the answer to `GET /rest/api/3/issue/{key}/watchers`.
#[derive(Debug, Clone, Deserialize)]
pub struct Watchers {
    /// The watchers.
    #[serde(default)]
    pub watchers: Vec<Watcher>,
}

/// `UserDetails` of a watcher (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watcher {
    /// The account id.
    pub account_id: String,
    /// `atlassian`, `app` or `customer`.
    #[serde(default)]
    pub account_type: Option<String>,
    /// The e-mail, when the account's privacy settings show it.
    #[serde(default)]
    pub email_address: Option<String>,
    /// Whether the account is active.
    #[serde(default = "yes")]
    pub active: bool,
}
