//! Events API v2 (`POST /v2/enqueue`): 202 done, 400 never retried, 429 and
//! 5xx retried. The `dedup_key` makes a repeated trigger land on the same alert.

use super::{RetryPolicy, error_from, http_client};
use crate::models::{Event, EventAccepted};
use crate::{Error, PagerDutyConfig, Result};

/// An Events API v2 client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventsClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
}

impl EventsClient {
    /// A client for the configured Events API.
    pub fn new(config: &PagerDutyConfig) -> Result<EventsClient> {
        Ok(EventsClient {
            http: http_client(config.timeout)?,
            base: config.events_url.trim_end_matches('/').to_owned(),
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> EventsClient {
        self.retry = retry;
        self
    }

    /// Sends an event; `Ok` once PagerDuty accepted it (202).
    pub async fn enqueue(&self, event: &Event) -> Result<EventAccepted> {
        self.retry
            .run("enqueue event", || async {
                let response = self
                    .http
                    .post(format!("{}/v2/enqueue", self.base))
                    .json(event)
                    .send()
                    .await
                    .map_err(Error::transport)?;
                match response.status() {
                    // 202 is the documented answer; other 2xx are accepted too.
                    s if s.is_success() => {
                        let bytes = response.bytes().await.map_err(Error::transport)?;
                        Ok(serde_json::from_slice(&bytes).unwrap_or(EventAccepted {
                            status: Some(s.as_str().to_owned()),
                            message: None,
                            dedup_key: Some(event.dedup_key.clone()),
                        }))
                    }
                    // 400 (never retried: see Error::retry), 429 and 5xx (retried).
                    _ => Err(error_from(response).await),
                }
            })
            .await
    }
}
