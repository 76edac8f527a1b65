//! A typed client of Jira Cloud's REST API v3: basic auth (account + API
//! token), timeouts always set, failures mapped to [`crate::Error`] (Jira's
//! `{"errorMessages": [...], "errors": {"field": "message"}}` kept field by
//! field), 429 / 5xx / time-outs retried with `backon` honouring
//! `Retry-After`. Creating an issue is retried on 429 only (Jira did not
//! take the request): after a 5xx or a time-out the issue may exist, and
//! the caller looks it up before trying again (see [`crate::tickets`]).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::models::{
    CreatedIssue, ErrorCollection, IssueSummary, JiraUser, RemoteLink, SearchResults,
};
use crate::{Error, JiraConfig, Result};

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all.
    pub max_attempts: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest server-requested wait honoured in place (longer: the error
    /// is returned, and the outbox waits instead).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A Jira client. Cheap to clone.
#[derive(Clone)]
pub struct JiraClient {
    http: reqwest::Client,
    site: String,
    user: String,
    password: SecretString,
    retry: RetryPolicy,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("site", &self.site)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl JiraClient {
    /// A client for the configured site.
    pub fn new(config: &JiraConfig) -> Result<JiraClient> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("firefighter-jira/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(JiraClient {
            http,
            site: config.api_url.clone(),
            user: config.user.clone(),
            password: config.password.clone(),
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> JiraClient {
        self.retry = retry;
        self
    }

    /// The page of an issue (`<site>/browse/<key>`).
    pub fn browse_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.site)
    }

    /// A request to `/rest/api/3{path}` with the account's credentials.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/rest/api/3{path}", self.site))
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        let mut request = self.request(method, path).query(query);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        execute(request).await
    }
}

/// Sends `request`; a failure (transport or HTTP status) as [`Error`].
pub(crate) async fn execute(request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            Error::Transport(format!("timed out: {}", e.without_url()))
        } else {
            Error::Transport(e.without_url().to_string())
        }
    })?;
    if response.status().is_success() {
        return Ok(response);
    }
    Err(error_of(response).await)
}

impl JiraClient {
    pub(crate) async fn retried<T, F, Fut>(&self, when: fn(&Error) -> bool, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let max_wait = self.retry.max_wait;
        op.retry(
            ExponentialBuilder::default()
                .with_min_delay(self.retry.min_delay)
                .with_max_times(self.retry.max_attempts.saturating_sub(1))
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .when(when)
        .adjust(move |e, planned| {
            planned.and_then(|d| match e.retry_after() {
                Some(wait) if wait > max_wait => None,
                Some(wait) => Some(wait),
                None => Some(d),
            })
        })
        .notify(|e, wait| {
            tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "Jira call failed; retrying");
        })
        .await
    }

    /// Creates an issue (`POST /rest/api/3/issue` with `{"fields": ...}`).
    /// Retried on 429 only.
    pub async fn create_issue(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<CreatedIssue> {
        let body = serde_json::json!({ "fields": fields });
        self.retried(
            |e| matches!(e, Error::RateLimited { .. }),
            || async { json(self.send(Method::POST, "/issue", &[], Some(&body)).await?).await },
        )
        .await
    }

    /// The issues matching `jql` (`GET /rest/api/3/search/jql`, ids and keys
    /// only, every page of results).
    pub async fn search(&self, jql: &str) -> Result<Vec<IssueSummary>> {
        let mut issues = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("jql", jql), ("fields", "key"), ("maxResults", "50")];
            if let Some(t) = &token {
                query.push(("nextPageToken", t));
            }
            let page: SearchResults = self
                .retried(Error::is_retryable, || async {
                    json(self.send(Method::GET, "/search/jql", &query, None).await?).await
                })
                .await?;
            issues.extend(page.issues);
            match page.next_page_token {
                Some(next) if !next.is_empty() && Some(&next) != token.as_ref() => {
                    token = Some(next);
                }
                _ => return Ok(issues),
            }
        }
    }

    /// A user by account id (`GET /rest/api/3/user?accountId=`); `None` when
    /// there is none.
    pub async fn user(&self, account_id: &str) -> Result<Option<JiraUser>> {
        let query = [("accountId", account_id)];
        match self
            .retried(Error::is_retryable, || async {
                json(self.send(Method::GET, "/user", &query, None).await?).await
            })
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(Error::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Users matching `query` (an e-mail, a name; `GET /rest/api/3/user/search`).
    pub async fn search_users(&self, query: &str) -> Result<Vec<JiraUser>> {
        let params = [("query", query), ("maxResults", "50")];
        self.retried(Error::is_retryable, || async {
            json(
                self.send(Method::GET, "/user/search", &params, None)
                    .await?,
            )
            .await
        })
        .await
    }

    /// Adds a watcher (`POST /rest/api/3/issue/{key}/watchers`, the account
    /// id as a JSON string); adding one twice changes nothing.
    pub async fn add_watcher(&self, issue: &str, account_id: &str) -> Result<()> {
        let path = format!("/issue/{}/watchers", segment(issue)?);
        let body = serde_json::Value::String(account_id.to_owned());
        self.retried(Error::is_retryable, || async {
            self.send(Method::POST, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// Adds (or, with the same `globalId`, updates) a remote link
    /// (`POST /rest/api/3/issue/{key}/remotelink`).
    pub async fn add_remote_link(&self, issue: &str, link: &RemoteLink) -> Result<()> {
        let path = format!("/issue/{}/remotelink", segment(issue)?);
        let body = serde_json::to_value(link).map_err(|e| Error::Decode(e.to_string()))?;
        self.retried(Error::is_retryable, || async {
            self.send(Method::POST, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }
}

/// An issue key or id fit for a path.
pub(crate) fn segment(issue: &str) -> Result<&str> {
    if !issue.is_empty()
        && issue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(issue)
    } else {
        Err(Error::Invalid(format!(
            "\"{issue}\" is not a Jira issue key"
        )))
    }
}

pub(crate) async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let text = response
        .text()
        .await
        .map_err(|e| Error::Transport(e.without_url().to_string()))?;
    serde_json::from_str(&text).map_err(|e| Error::Decode(e.to_string()))
}

/// Seconds (`Retry-After: 30`) or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(
        wait.to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

async fn error_of(response: reqwest::Response) -> Error {
    let status = response.status();
    let wait = retry_after(response.headers());
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && wait.is_some())
    {
        return Error::RateLimited { retry_after: wait };
    }
    let text = response.text().await.unwrap_or_default();
    let errors: ErrorCollection = serde_json::from_str(&text).unwrap_or_default();
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        let mut message = errors.error_messages.join("; ");
        if message.is_empty() {
            message = text.chars().take(300).collect();
        }
        if message.trim().is_empty() {
            message = status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_owned();
        }
        return Error::Unavailable {
            status: status.as_u16(),
            message,
        };
    }
    let mut messages = errors.error_messages;
    if messages.is_empty() && errors.errors.is_empty() {
        let t: String = text.chars().take(300).collect();
        messages.push(if t.trim().is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_owned()
        } else {
            t
        });
    }
    Error::Rejected {
        status: status.as_u16(),
        messages,
        fields: errors.errors,
    }
}
