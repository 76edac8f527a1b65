//! REST API v2: `Authorization: Token token=…`, the versioned `Accept`
//! header, `From` on every call (required to create incidents), classic
//! offset/limit pagination.

use std::sync::Arc;

use governor::DefaultDirectRateLimiter;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::{RetryPolicy, error_from, http_client, limiter};
use crate::models::{
    ContactMethod, Incident, ListPage, NewIncident, NewIncidentRequest, Oncall, Service, Team, User,
};
use crate::{Error, PagerDutyConfig, Result};

/// `Accept` header of REST API v2.
pub const ACCEPT: &str = "application/vnd.pagerduty+json;version=2";
/// Largest page PagerDuty serves.
pub const PAGE_LIMIT: u32 = 100;
/// Classic pagination serves records up to offset + limit = 10,000.
pub const PAGINATION_CAP: u32 = 10_000;

/// A REST API v2 client. Cheap to clone.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    from: String,
    limiter: Arc<DefaultDirectRateLimiter>,
    retry: RetryPolicy,
    page_limit: u32,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for the configured account.
    pub fn new(config: &PagerDutyConfig) -> Result<RestClient> {
        Ok(RestClient {
            http: http_client(config.timeout)?,
            base: config.api_url.trim_end_matches('/').to_owned(),
            token: config.api_key.clone(),
            from: config.account_email.clone(),
            limiter: limiter(
                &format!("{}\n{}", config.api_url, config.api_key.expose_secret()),
                config.requests_per_minute,
            ),
            retry: RetryPolicy::default(),
            page_limit: PAGE_LIMIT,
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> RestClient {
        self.retry = retry;
        self
    }

    /// Asks for smaller pages (tests of pagination).
    pub fn with_page_limit(mut self, limit: u32) -> RestClient {
        self.page_limit = limit.clamp(1, PAGE_LIMIT);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One attempt: paced, authenticated, non-2xx mapped to [`Error`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        self.limiter.until_ready().await;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, ACCEPT)
            // The contract requires it on every operation, GETs included.
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Token token={}", self.token.expose_secret()),
            )
            .header("From", &self.from)
            .query(query);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.map_err(Error::transport)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(error_from(response).await)
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        self.retry
            .run(what, || async {
                let response = self.send(method.clone(), path, query, body).await?;
                let bytes = response.bytes().await.map_err(Error::transport)?;
                serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{what}: {e}")))
            })
            .await
    }

    /// Every item of a classic list, page after page. Fails (returning
    /// nothing) if a page fails after retries or the list passes 10,000.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &'static str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut offset: u32 = 0;
        loop {
            if offset + self.page_limit > PAGINATION_CAP {
                return Err(Error::TooManyRecords(what));
            }
            let mut q = query.to_vec();
            q.push(("limit", self.page_limit.to_string()));
            q.push(("offset", offset.to_string()));
            let page: ListPage<T> = self.call(what, Method::GET, path, &q, None).await?;
            let n = u32::try_from(page.items.len()).unwrap_or(u32::MAX);
            items.extend(page.items);
            if page.more != Some(true) || n == 0 {
                return Ok(items);
            }
            offset = offset.saturating_add(n);
        }
    }

    /// Who is on call now, with users, escalation policies and schedules.
    pub async fn oncalls(&self) -> Result<Vec<Oncall>> {
        let include = ["users", "escalation_policies", "schedules"];
        let query: Vec<(&str, String)> = include
            .iter()
            .map(|i| ("include[]", (*i).to_owned()))
            .collect();
        self.list("/oncalls", "on-calls", &query).await
    }

    /// Every service.
    pub async fn services(&self) -> Result<Vec<Service>> {
        self.list("/services", "services", &[]).await
    }

    /// Every user, with contact methods and team references.
    pub async fn users(&self) -> Result<Vec<User>> {
        self.list(
            "/users",
            "users",
            &[("include[]", "contact_methods".to_owned())],
        )
        .await
    }

    /// Every team.
    pub async fn teams(&self) -> Result<Vec<Team>> {
        self.list("/teams", "teams", &[]).await
    }

    /// The contact methods of a user (full objects).
    pub async fn contact_methods(&self, user_id: &str) -> Result<Vec<ContactMethod>> {
        let page: ListPage<ContactMethod> = self
            .call(
                "contact methods",
                Method::GET,
                &format!("/users/{}/contact_methods", path_segment(user_id)),
                &[],
                None,
            )
            .await?;
        Ok(page.items)
    }

    /// Creates an incident (`POST /incidents`, with `From`).
    pub async fn create_incident(&self, incident: NewIncident) -> Result<Incident> {
        #[derive(serde::Deserialize)]
        struct Created {
            incident: Incident,
        }
        let body = serde_json::to_value(NewIncidentRequest { incident })
            .map_err(|e| Error::Decode(e.to_string()))?;
        let created: Created = self
            .call(
                "create incident",
                Method::POST,
                "/incidents",
                &[],
                Some(&body),
            )
            .await?;
        Ok(created.incident)
    }

    /// Adds a note to an incident (`POST /incidents/{id}/notes`).
    pub async fn add_note(&self, incident_id: &str, content: &str) -> Result<()> {
        let body = serde_json::json!({ "note": { "content": content } });
        let path = format!("/incidents/{}/notes", urlencode_path(incident_id));
        let _: serde_json::Value = self
            .call("add note", Method::POST, &path, &[], Some(&body))
            .await?;
        Ok(())
    }

    /// The incident of `service_id` with this `incident_key`, if any (to
    /// recover a page whose answer was lost).
    pub async fn incident_by_key(&self, service_id: &str, key: &str) -> Result<Option<Incident>> {
        let page: ListPage<Incident> = self
            .call(
                "find incident",
                Method::GET,
                "/incidents",
                &[
                    ("incident_key", key.to_owned()),
                    ("service_ids[]", service_id.to_owned()),
                    ("date_range", "all".to_owned()),
                ],
                None,
            )
            .await?;
        Ok(page.items.into_iter().find(|i| {
            i.incident_key
                .as_deref()
                .is_none_or(|k| k.is_empty() || k == key)
        }))
    }
}

/// PagerDuty ids are alphanumeric; anything else is percent-encoded.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Keeps an id usable as one path segment (PagerDuty ids are alphanumeric;
/// anything else is percent-encoded rather than trusted).
fn urlencode_path(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
