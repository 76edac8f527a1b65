//! A typed client of Confluence Cloud's REST API v2 pages: basic auth
//! (account + API token), timeouts always set, failures mapped to
//! [`crate::Error`], 429 / 5xx retried with `backon` honouring `Retry-After`.

use std::time::Duration;

use crate::models::{
    BodyWrite, LabelWire, MultiEntity, Page, PageCreate, PageSummary, PageUpdate, PageWire,
    SpaceWire, VersionWrite, id_to_string,
};
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

    /// A call to the REST API v2 (`/wiki/api/v2{path}`).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        self.send_to(
            method,
            &format!("{}/wiki/api/v2{path}", self.site),
            query,
            body,
        )
        .await
    }

    async fn send_to(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, url)
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
    /// The site's web address of a page: `_links.webui` under `/wiki`, or
    /// the page's stable address when Confluence gave no link.
    pub fn page_url(&self, id: &str, webui: Option<&str>) -> String {
        match webui.filter(|w| w.starts_with('/')) {
            Some(webui) => format!("{}/wiki{webui}", self.site),
            None => format!("{}/wiki/pages/viewpage.action?pageId={id}", self.site),
        }
    }

    /// Where people edit a page.
    pub fn page_edit_url(&self, id: &str) -> String {
        format!("{}/wiki/pages/editpage.action?pageId={id}", self.site)
    }

    /// Every result of a v2 list, following `_links.next` (the relative URL
    /// of the next page of results) to the end.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        const MAX_PAGES: usize = 200;
        let mut results = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (path, query) = match &next {
                None => (path.to_owned(), query),
                Some(link) => (next_path(link)?, &[][..]),
            };
            let page: MultiEntity<T> = self
                .retried(|| async {
                    let response = match self.send(Method::GET, &path, query, None).await {
                        Err(Error::Api { status: 404, .. }) => {
                            return Err(Error::PageNotFound(path.clone()));
                        }
                        other => other?,
                    };
                    decode(response).await
                })
                .await?;
            next = page.next().map(str::to_owned);
            results.extend(page.results);
            if next.is_none() {
                return Ok(results);
            }
        }
        Err(Error::Decode(format!(
            "more than {MAX_PAGES} pages of results from {path}"
        )))
    }

    /// The id of the space with this key (`GET /wiki/api/v2/spaces?keys=`).
    pub async fn space_id(&self, key: &str) -> Result<String> {
        let spaces: Vec<SpaceWire> = self.list("/spaces", &[("keys", key)]).await?;
        spaces
            .into_iter()
            .find(|s| s.key == key)
            .map(|s| id_to_string(s.id))
            .ok_or_else(|| Error::SpaceNotFound(key.to_owned()))
    }

    /// The current pages of a space titled exactly `title`
    /// (`GET /wiki/api/v2/spaces/{id}/pages?title=`, every page of results).
    pub async fn pages_titled(&self, space_id: &str, title: &str) -> Result<Vec<PageSummary>> {
        check_id(space_id)?;
        let pages: Vec<PageSummary> = self
            .list(
                &format!("/spaces/{space_id}/pages"),
                &[("title", title), ("status", "current"), ("limit", "250")],
            )
            .await
            .map_err(|e| match e {
                Error::PageNotFound(_) => Error::Api {
                    status: 404,
                    message: format!("space {space_id} not found"),
                },
                other => other,
            })?;
        Ok(pages.into_iter().filter(|p| p.title == title).collect())
    }

    /// The space of a page, or `None` when `id` is not a page
    /// (`GET /wiki/api/v2/pages/{id}`); a folder has no space in the API, so
    /// `Some(None)` says it is a folder (`GET /wiki/api/v2/folders/{id}`).
    /// Neither: [`Error::PageNotFound`].
    pub async fn parent_space(&self, id: &str) -> Result<Option<String>> {
        check_id(id)?;
        let page = format!("/pages/{id}");
        let found: Option<Option<String>> = self
            .retried(|| async {
                match self.send(Method::GET, &page, &[], None).await {
                    Err(Error::Api { status: 404, .. }) => Ok(None),
                    Err(e) => Err(e),
                    Ok(response) => {
                        let wire: PageWire = decode(response).await?;
                        Ok(Some(wire.space_id.map(id_to_string)))
                    }
                }
            })
            .await?;
        if let Some(space) = found {
            return Ok(space);
        }
        let folder = format!("/folders/{id}");
        self.retried(|| async {
            match self.send(Method::GET, &folder, &[], None).await {
                Err(Error::Api { status: 404, .. }) => Err(Error::PageNotFound(id.to_owned())),
                Err(e) => Err(e),
                Ok(_) => Ok(None),
            }
        })
        .await
    }

    /// Creates a published page (`POST /wiki/api/v2/pages`) with a storage
    /// body. Sent once, never retried here: an answer lost after Confluence
    /// created the page must be followed by a look-up, not a second create.
    pub async fn create_page(
        &self,
        space_id: &str,
        parent_id: &str,
        title: &str,
        body: &str,
    ) -> Result<CreatedPage> {
        check_id(space_id)?;
        check_id(parent_id)?;
        let create = serde_json::to_value(PageCreate {
            space_id,
            status: "current",
            title,
            parent_id,
            body: BodyWrite {
                representation: "storage",
                value: body,
            },
        })
        .map_err(|e| Error::Decode(e.to_string()))?;
        let response = self
            .send(Method::POST, "/pages", &[], Some(&create))
            .await?;
        let wire: PageWire = decode(response).await?;
        let webui = wire.links.as_ref().and_then(|l| l.webui.clone());
        let page = wire.into_page();
        Ok(CreatedPage {
            url: self.page_url(&page.id, webui.as_deref()),
            id: page.id,
            title: page.title,
        })
    }

    /// A page's labels (`GET /wiki/api/v2/pages/{id}/labels`, every page of
    /// results), lower-cased.
    pub async fn labels(&self, page_id: &str) -> Result<Vec<String>> {
        check_id(page_id)?;
        let labels: Vec<LabelWire> = self
            .list(&format!("/pages/{page_id}/labels"), &[("limit", "250")])
            .await
            .map_err(|e| match e {
                Error::PageNotFound(_) => Error::PageNotFound(page_id.to_owned()),
                other => other,
            })?;
        Ok(labels.into_iter().map(|l| l.name.to_lowercase()).collect())
    }

    /// The child pages of a page (`GET /wiki/api/v2/pages/{id}/children`,
    /// every page of results); `None` when `id` is not a page (a folder).
    pub async fn children(&self, page_id: &str) -> Result<Option<Vec<PageSummary>>> {
        check_id(page_id)?;
        match self
            .list(&format!("/pages/{page_id}/children"), &[("limit", "250")])
            .await
        {
            Ok(children) => Ok(Some(children)),
            Err(Error::PageNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pages with their storage body and web link
    /// (`GET /wiki/api/v2/pages?id=..&body-format=storage`, 250 ids per
    /// request, every page of results), in no particular order; ids that
    /// are not (or no longer) pages are left out.
    pub async fn pages_with_bodies(&self, ids: &[String]) -> Result<Vec<(Page, Option<String>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(250) {
            for id in chunk {
                check_id(id)?;
            }
            let mut query: Vec<(&str, &str)> = chunk.iter().map(|id| ("id", id.as_str())).collect();
            query.extend([("body-format", "storage"), ("limit", "250")]);
            let pages: Vec<PageWire> = self.list("/pages", &query).await?;
            out.extend(pages.into_iter().map(|wire| {
                let webui = wire.links.as_ref().and_then(|l| l.webui.clone());
                (wire.into_page(), webui)
            }));
        }
        Ok(out)
    }

    /// Every page below a page, at any depth (REST API v1
    /// `GET /wiki/rest/api/content/{id}/descendant/page`, following
    /// `_links.next` to the end).
    pub async fn descendant_pages(&self, page_id: &str) -> Result<Vec<PageSummary>> {
        const MAX_PAGES: usize = 200;
        check_id(page_id)?;
        let mut url = format!(
            "{}/wiki/rest/api/content/{page_id}/descendant/page?limit=200&start=0",
            self.site
        );
        let mut results = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: MultiEntity<PageSummary> = self
                .retried(|| async {
                    match self.send_to(Method::GET, &url, &[], None).await {
                        Err(Error::Api { status: 404, .. }) => {
                            Err(Error::PageNotFound(page_id.to_owned()))
                        }
                        Err(e) => Err(e),
                        Ok(response) => decode(response).await,
                    }
                })
                .await?;
            let next = page.next().map(str::to_owned);
            results.extend(page.results);
            match next {
                None => return Ok(results),
                Some(link) => url = format!("{}{}", self.site, v1_next_path(&link)?),
            }
        }
        Err(Error::Decode(format!(
            "more than {MAX_PAGES} pages of descendants of {page_id}"
        )))
    }

    /// Moves a page relative to `target` (REST API v1
    /// `PUT /wiki/rest/api/content/{pageId}/move/{position}/{targetId}`):
    /// [`MovePosition::Append`] makes it `target`'s last child, `Before` and
    /// `After` put it beside `target`, under `target`'s parent.
    pub async fn move_page(
        &self,
        page_id: &str,
        position: MovePosition,
        target_id: &str,
    ) -> Result<()> {
        check_id(page_id)?;
        check_id(target_id)?;
        let url = format!(
            "{}/wiki/rest/api/content/{page_id}/move/{}/{target_id}",
            self.site,
            position.as_str()
        );
        self.retried(|| async {
            match self.send_to(Method::PUT, &url, &[], None).await {
                Err(Error::Api { status: 404, .. }) => Err(Error::PageNotFound(page_id.to_owned())),
                Err(e) => Err(e),
                Ok(_) => Ok(()),
            }
        })
        .await
    }

    /// Moves a page just before `target`, under the same parent
    /// (`PUT /wiki/rest/api/content/{pageId}/move/before/{targetId}`, REST API v1).
    pub async fn move_before(&self, page_id: &str, target_id: &str) -> Result<()> {
        check_id(page_id)?;
        check_id(target_id)?;
        let url = format!(
            "{}/wiki/rest/api/content/{page_id}/move/before/{target_id}",
            self.site
        );
        self.retried(|| async {
            self.send_to(Method::PUT, &url, &[], None).await?;
            Ok(())
        })
        .await
    }
}

/// Where [`ConfluenceClient::move_page`] puts a page, relative to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovePosition {
    /// Just before the target, under the target's parent.
    Before,
    /// Just after the target, under the target's parent.
    After,
    /// As the target's last child.
    Append,
}

impl MovePosition {
    /// The word in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            MovePosition::Before => "before",
            MovePosition::After => "after",
            MovePosition::Append => "append",
        }
    }
}

/// A page just created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPage {
    /// Page id.
    pub id: String,
    /// Its title, as Confluence stored it.
    pub title: String,
    /// Where people read it.
    pub url: String,
}

/// Reads a JSON answer.
async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Transport(e.without_url().to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// The v2 path (with its query) of a `_links.next`: Confluence gives it
/// relative to the site (`/wiki/api/v2/...`); nothing else is followed.
fn next_path(link: &str) -> Result<String> {
    let rest = link.strip_prefix("/wiki").unwrap_or(link);
    match rest.strip_prefix("/api/v2") {
        Some(path) if path.starts_with('/') && !path.contains("..") => Ok(path.to_owned()),
        _ => Err(Error::Decode(format!(
            "unexpected link to the next results: \"{link}\""
        ))),
    }
}

/// The path (under the site) of a v1 `_links.next`: Confluence gives it
/// relative to `_links.base` (the site's `/wiki`), as `/rest/api/...`;
/// nothing else is followed.
fn v1_next_path(link: &str) -> Result<String> {
    let rest = link.strip_prefix("/wiki").unwrap_or(link);
    match rest.strip_prefix("/rest/api/") {
        Some(path) if !path.contains("..") => Ok(format!("/wiki/rest/api/{path}")),
        _ => Err(Error::Decode(format!(
            "unexpected link to the next results: \"{link}\""
        ))),
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
