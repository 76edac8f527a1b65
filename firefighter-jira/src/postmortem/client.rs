//! The Jira calls of post-mortems.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{json, segment};
use crate::models::{IssueLinkRequest, IssueLinkTypeName, IssueView, LinkedIssueKey};
use crate::{Error, JiraClient, Result};

/// The Jira calls of post-mortems.
impl JiraClient {
    /// The name of an issue's workflow status (`GET /rest/api/3/issue/{key}?fields=status`).
    pub async fn issue_status(&self, issue: &str) -> Result<String> {
        let path = format!("/issue/{}", segment(issue)?);
        let view: IssueView = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, &path, &[("fields", "status")], None)
                        .await?,
                )
                .await
            })
            .await?;
        view.fields
            .status
            .map(|s| s.name)
            .ok_or_else(|| Error::Decode(format!("issue {issue} came without its status")))
    }

    /// The keys of the issues linked to an issue
    /// (`GET /rest/api/3/issue/{key}?fields=issuelinks`).
    pub async fn linked_issues(&self, issue: &str) -> Result<Vec<String>> {
        let path = format!("/issue/{}", segment(issue)?);
        let view: IssueView = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, &path, &[("fields", "issuelinks")], None)
                        .await?,
                )
                .await
            })
            .await?;
        Ok(view
            .fields
            .issuelinks
            .into_iter()
            .filter_map(|l| l.inward_issue.or(l.outward_issue))
            .map(|i| i.key)
            .collect())
    }

    /// Sets fields of an issue (`PUT /rest/api/3/issue/{key}` with
    /// `{"fields": ...}`); the same edit twice changes nothing more.
    pub async fn edit_issue(&self, issue: &str, fields: &Map<String, Value>) -> Result<()> {
        let path = format!("/issue/{}", segment(issue)?);
        let body = json!({ "fields": fields });
        self.retried(Error::is_retryable, || async {
            self.send(Method::PUT, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// Links two issues (`POST /rest/api/3/issueLink`): `inward` "relates
    /// to" (or "blocks") `outward` for link type `link_type`.
    pub async fn link_issues(&self, link_type: &str, inward: &str, outward: &str) -> Result<()> {
        let request = IssueLinkRequest {
            link_type: IssueLinkTypeName {
                name: link_type.to_owned(),
            },
            inward_issue: LinkedIssueKey {
                key: segment(inward)?.to_owned(),
            },
            outward_issue: LinkedIssueKey {
                key: segment(outward)?.to_owned(),
            },
        };
        let body = serde_json::to_value(&request).map_err(|e| Error::Decode(e.to_string()))?;
        self.retried(Error::is_retryable, || async {
            self.send(Method::POST, "/issueLink", &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// Assigns an issue (`PUT /rest/api/3/issue/{key}/assignee` with
    /// `{"accountId": ...}`).
    pub async fn assign_issue(&self, issue: &str, account_id: &str) -> Result<()> {
        let path = format!("/issue/{}/assignee", segment(issue)?);
        let body = json!({ "accountId": account_id });
        self.retried(Error::is_retryable, || async {
            self.send(Method::PUT, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }
}
