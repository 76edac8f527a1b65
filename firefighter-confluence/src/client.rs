//! A typed client of Confluence Cloud's REST API v2 pages: basic auth
//! (account + API token), timeouts always set, failures mapped to
//! [`crate::Error`], 429 / 5xx retried with `backon` honouring `Retry-After`.

use std::time::Duration;

use crate::models::{BodyWrite, Page, PageUpdate, PageWire, VersionWrite};
use crate::{ConfluenceConfig, Error, Result};
use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all.
    pub max_attempts: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest server-requested wait honoured in place.
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

/// A Confluence client. Cheap to clone.
#[derive(Clone)]
pub struct ConfluenceClient {
    http: reqwest::Client,
    site: String,
    username: String,
    api_key: SecretString,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ConfluenceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfluenceClient")
            .field("site", &self.site)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ConfluenceClient {
    /// A client for the configured site.
    pub fn new(config: &ConfluenceConfig) -> Result<ConfluenceClient> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "firefighter-confluence/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(ConfluenceClient {
            http,
            site: config.site_url.clone(),
            username: config.username.clone(),
            api_key: config.api_key.clone(),
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> ConfluenceClient {
        self.retry = retry;
        self
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, format!("{}/wiki/api/v2{path}", self.site))
            .basic_auth(&self.username, Some(self.api_key.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .query(query);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Transport(e.without_url().to_string()))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
        {
            return Err(Error::RateLimited { retry_after });
        }
        let text = response.text().await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let message = json
            .pointer("/errors/0/title")
            .or_else(|| json.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let t: String = text.chars().take(300).collect();
                if t.trim().is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("no explanation")
                        .to_owned()
                } else {
                    t
                }
            });
        Err(Error::Api {
            status: status.as_u16(),
            message,
        })
    }

    async fn retried<T, F, Fut>(&self, op: F) -> Result<T>
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
        .when(Error::is_retryable)
        .adjust(move |e, planned| {
            planned.and_then(|d| match e.retry_after() {
                Some(wait) if wait > max_wait => None,
                Some(wait) => Some(wait),
                None => Some(d),
            })
        })
        .notify(|e, wait| {
            tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "Confluence call failed; retrying");
        })
        .await
    }

    /// A page with its storage body (`GET /wiki/api/v2/pages/{id}?body-format=storage`).
    pub async fn page(&self, id: &str) -> Result<Page> {
        check_id(id)?;
        let path = format!("/pages/{id}");
        self.retried(|| async {
            let response = match self
                .send(Method::GET, &path, &[("body-format", "storage")], None)
                .await
            {
                Err(Error::Api { status: 404, .. }) => {
                    return Err(Error::PageNotFound(id.to_owned()));
                }
                other => other?,
            };
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Error::Transport(e.without_url().to_string()))?;
            let wire: PageWire =
                serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?;
            // The id asked for is the one later written to.
            Ok(Page {
                id: id.to_owned(),
                ..wire.into_page()
            })
        })
        .await
    }

    /// Replaces a page's body (`PUT /wiki/api/v2/pages/{id}`) as version
    /// `current.version + 1`. A version taken meanwhile is
    /// [`Error::VersionConflict`]; nothing is written then.
    pub async fn update_page(&self, current: &Page, body: &str, message: &str) -> Result<Page> {
        check_id(&current.id)?;
        let path = format!("/pages/{}", current.id);
        let version = current.version + 1;
        let update = serde_json::to_value(PageUpdate {
            id: &current.id,
            status: if current.status == "draft" {
                "draft"
            } else {
                "current"
            },
            title: &current.title,
            body: BodyWrite {
                representation: "storage",
                value: body,
            },
            version: VersionWrite {
                number: version,
                message,
            },
        })
        .map_err(|e| Error::Decode(e.to_string()))?;
        self.retried(|| async {
            let response = match self.send(Method::PUT, &path, &[], Some(&update)).await {
                Err(Error::Api { status: 404, .. }) => {
                    return Err(Error::PageNotFound(current.id.clone()));
                }
                Err(Error::Api { status: 409, .. }) => {
                    return Err(Error::VersionConflict {
                        page_id: current.id.clone(),
                        version,
                    });
                }
                Err(Error::Api {
                    status: 400,
                    message,
                }) if message.to_lowercase().contains("version") => {
                    return Err(Error::VersionConflict {
                        page_id: current.id.clone(),
                        version,
                    });
                }
                other => other?,
            };
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Error::Transport(e.without_url().to_string()))?;
            let wire: PageWire =
                serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?;
            Ok(wire.into_page())
        })
        .await
    }
}

/// Page ids are numbers; anything else would change the path.
fn check_id(id: &str) -> Result<()> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "\"{id}\" is not a Confluence page id"
        )))
    }
}
