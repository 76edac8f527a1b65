use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `CreatedIssue`: the answer to `POST /rest/api/3/issue`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedIssue {
    /// The issue id.
    pub id: String,
    /// The issue key (`INC-12`).
    pub key: String,
}

/// An issue of search results (only its id and key are asked for).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueSummary {
    /// The issue id.
    pub id: String,
    /// The issue key.
    pub key: String,
}

/// `SearchAndReconcileResults`: the answer to `GET /rest/api/3/search/jql`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// The issues found.
    #[serde(default)]
    pub issues: Vec<IssueSummary>,
    /// The next page, when there is one.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `ErrorCollection`: Jira's error answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCollection {
    /// General messages.
    #[serde(default)]
    pub error_messages: Vec<String>,
    /// A message per field.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

/// `RemoteIssueLinkRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteLink {
    /// Identifies the link, so adding it again updates it instead.
    pub global_id: String,
    /// The linked object.
    pub object: RemoteLinkObject,
}

/// `RemoteObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteLinkObject {
    /// The link.
    pub url: String,
    /// Its title.
    pub title: String,
}

/// `IssueBean`, with only the fields asked for (`?fields=status,issuelinks`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IssueView {
    /// The issue key.
    #[serde(default)]
    pub key: String,
    /// The fields returned.
    #[serde(default)]
    pub fields: IssueViewFields,
}

/// The fields of [`IssueView`] that are read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IssueViewFields {
    /// The workflow status.
    #[serde(default)]
    pub status: Option<IssueStatus>,
    /// The issue's links to other issues.
    #[serde(default)]
    pub issuelinks: Vec<IssueLinkView>,
}

/// `StatusDetails` (its name).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueStatus {
    /// The status name (`Ready`, `In Progress`).
    pub name: String,
}

/// `IssueLink`, as listed in an issue's `issuelinks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueLinkView {
    /// The other issue, when it is the inward one.
    #[serde(default)]
    pub inward_issue: Option<LinkedIssueKey>,
    /// The other issue, when it is the outward one.
    #[serde(default)]
    pub outward_issue: Option<LinkedIssueKey>,
}

/// `LinkedIssue` (its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIssueKey {
    /// The issue key.
    pub key: String,
}

/// `LinkIssueRequestJsonBean`: links two issues with a link type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueLinkRequest {
    /// The link type, by name.
    #[serde(rename = "type")]
    pub link_type: IssueLinkTypeName,
    /// The inward issue ("is related to", "is blocked by").
    pub inward_issue: LinkedIssueKey,
    /// The outward issue ("relates to", "blocks").
    pub outward_issue: LinkedIssueKey,
}

/// `IssueLinkType`, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueLinkTypeName {
    /// `Relates`, `Blocks`...
    pub name: String,
}

/// `Attachment` (the fields used): the answer to an upload, and the
/// `attachment` field of an issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The file name.
    pub filename: String,
}

/// `IssueBean` with only `fields.attachment` asked for
/// (`GET /rest/api/3/issue/{key}?fields=attachment`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IssueAttachments {
    /// The fields asked for.
    #[serde(default)]
    pub fields: AttachmentFields,
}

/// The `fields` of [`IssueAttachments`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttachmentFields {
    /// The issue's attachments.
    #[serde(default)]
    pub attachment: Vec<Attachment>,
}
