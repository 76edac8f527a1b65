//! Typed clients of PagerDuty's REST API v2 and Events API v2: base URLs
//! injectable, timeouts always set, every vendor failure mapped to
//! [`crate::Error`], retries with `backon` honouring `ratelimit-reset` /
//! `Retry-After`, and REST calls paced with `governor`.

mod events;
mod rest;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub use events::EventsClient;
pub use rest::{ACCEPT, PAGE_LIMIT, PAGINATION_CAP, RestClient};

use crate::{Error, Result};

/// How hard a client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub max_attempts: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// Longest server-requested wait honoured in place; a longer one gives
    /// up (the task runner or the page queue tries again later).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails permanently or the policy is spent.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .with_jitter();
        let max_wait = self.max_wait;
        op.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(Error::is_retryable)
            // Only when the backoff would retry anyway (`Some`): the server's
            // wait replaces ours; beyond `max_wait` we stop and report.
            .adjust(move |e, planned| {
                planned.and_then(|d| match e.retry_after() {
                    Some(wait) if wait > max_wait => None,
                    Some(wait) => Some(wait),
                    None => Some(d),
                })
            })
            .notify(|e, wait| {
                tracing::warn!(call = what, error = %e, wait_ms = wait.as_millis() as u64, "PagerDuty call failed; retrying");
            })
            .await
    }
}

/// One pacer per API key and base URL, shared by every client of the process.
fn limiter(key: &str, requests_per_minute: u32) -> Arc<DefaultDirectRateLimiter> {
    static LIMITERS: LazyLock<Mutex<HashMap<u64, Arc<DefaultDirectRateLimiter>>>> =
        LazyLock::new(Default::default);
    let id = {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        requests_per_minute.hash(&mut h);
        h.finish()
    };
    let rpm = NonZeroU32::new(requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    LIMITERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(id)
        .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_minute(rpm))))
        .clone()
}

/// Reads a wait in seconds from `ratelimit-reset`, then `Retry-After`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["ratelimit-reset", "retry-after"].iter().find_map(|name| {
        let text = headers.get(*name)?.to_str().ok()?.trim().to_owned();
        let secs: f64 = text.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
    })
}

/// Maps a non-2xx answer to [`Error`], reading PagerDuty's error body
/// (`{"error": {"message", "code", "errors"}}` on REST, `{"status", "message",
/// "errors"}` on Events).
async fn error_from(response: reqwest::Response) -> Error {
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(response.headers()),
        };
    }
    let body = response.text().await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let error = json.get("error").unwrap_or(&json);
    let mut message = error
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text: String = body.chars().take(300).collect();
            if text.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_owned()
            } else {
                text
            }
        });
    if let Some(errors) = error.get("errors").and_then(|e| e.as_array()) {
        let details: Vec<&str> = errors.iter().filter_map(|e| e.as_str()).collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    Error::Api {
        status: status.as_u16(),
        code: error.get("code").and_then(|c| c.as_i64()),
        message,
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("firefighter-pagerduty/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_waits_from_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("ratelimit-reset", "0.25".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }
}
