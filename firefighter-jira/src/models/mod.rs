//! The serde types mirroring Jira Cloud's REST API v3: the only place that
//! knows Jira's JSON.

pub mod adf;
mod issue;
mod user;
pub mod webhook;

pub use issue::{
    Attachment, AttachmentFields, CreatedIssue, ErrorCollection, IssueAttachments,
    IssueLinkRequest, IssueLinkTypeName, IssueLinkView, IssueStatus, IssueSummary, IssueView,
    IssueViewFields, LinkedIssueKey, RemoteLink, RemoteLinkObject, SearchResults,
};
pub use user::{JiraUser, Watcher, Watchers};
