//! Jira → firefighter (reference §8.5): Jira's webhooks about incident
//! tickets, `POST /api/v2/firefighter/raid/jira_update` (an issue changed)
//! and `POST /api/v2/firefighter/raid/jira_comment` (a comment created,
//! updated or deleted).
//!
//! - **Authentication**: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the
//!   raw body with RAID_JIRA_WEBHOOK_SECRET>`, compared in constant time.
//!   Missing, malformed, another algorithm, a wrong signature, or no secret
//!   configured: 401 and nothing recorded. The old `?secret=` query scheme
//!   is not accepted.
//! - **Never lost, never applied twice**: a signed webhook is recorded in
//!   core's inbox (source `jira`) before it is answered, under Jira's
//!   `X-Atlassian-Webhook-Identifier` (the same on Jira's retries; else the
//!   body's SHA-256), so a redelivered copy is not applied again. It is then
//!   applied; one whose application failed or was cut short by a crash is
//!   applied by the `jira.replay_webhooks` task. Status and priority
//!   changes go through core's lifecycle, each under an idempotency key
//!   made of the inbox item.
//! - **No loop**: webhooks authored by firefighter's own Jira accounts
//!   (`RAID_DEFAULT_JIRA_QRAFT_USER_ID` and the account of the API token)
//!   are ignored, and a change firefighter pushed ([`crate::sync`]) is
//!   recognised by its marker in `jira_sync_markers`, which the webhook
//!   consumes.
//! - **Status** (`Incoming`/`Pending resolution` → Open, `in progress` →
//!   Mitigating, `Reporter validation` → Mitigated, `Closed` → Closed;
//!   other statuses ignored): Closed only from a mapped status (an
//!   automation moving `Code Review` → `Closed` is ignored); a change the
//!   lifecycle refuses is told on the timeline, and a refused closure in
//!   the incident's conversation too (a `Notice`). **Priority**: only from
//!   the configured priority field (`JIRA_FIELD_PRIORITY`), 1–5, `P1`–`P5`
//!   or Jira's names (Highest … Lowest).
//! - Only tickets firefighter made (incident tickets, the intake's) are
//!   acted on; webhooks about other issues of the project are ignored.
//! - **Watchers** are told of every status or priority change and every
//!   comment through core's notifier (Slack's direct messages), except app
//!   accounts, firefighter's own, those without a firefighter user, and the
//!   e-mails of `RAID_WATCHER_EMAIL_EXCLUSIONS`.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use firefighter_core::inbox::{Inbox, InboxFailure, InboxHandler, InboxItem};
use firefighter_core::notify::{Delivered, Notification};
use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{Firefighter, IncidentEvent, IncidentId, Status, Update, User};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::client::{json as read_json, segment};
use crate::ledger::{PRIORITY, STATUS, SyncLedger};
use crate::models::{Watcher, Watchers};
use crate::sync::{PRIORITY_SYNC, STATUS_SYNC, SYNC_WARNING, incident_status_of};
use crate::users::JiraUserStore;
use crate::{Error, JiraClient, JiraConfig, Result};

/// The inbox source of Jira's webhooks.
pub const SOURCE: &str = "jira";
/// Where Jira sends issue changes.
pub const UPDATE_PATH: &str = "/api/v2/firefighter/raid/jira_update";
/// Where Jira sends comment events.
pub const COMMENT_PATH: &str = "/api/v2/firefighter/raid/jira_comment";
/// The replay task.
pub const TASK_REPLAY: &str = "jira.replay_webhooks";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature";
/// Jira's id of a webhook delivery, the same on its retries.
pub const IDENTIFIER_HEADER: &str = "x-atlassian-webhook-identifier";

/// The inbox kind of a RAID alert kept for a retry (the intake's, whose
/// chat vendor failed): applied by the replay like a webhook.
pub const ALERT_KIND: &str = "alert";

/// Inbox kinds.
mod kind {
    pub(super) const UPDATE: &str = "update";
    pub(super) const COMMENT: &str = "comment";
}

/// Why a webhook's signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `RAID_JIRA_WEBHOOK_SECRET` is not set.
    NoSecret,
    /// No `X-Hub-Signature` header.
    Missing,
    /// Not `sha256=<hex>`.
    Malformed,
    /// Another algorithm than SHA-256.
    Unsupported,
    /// The signature does not match the body.
    Mismatch,
}

impl SignatureError {
    fn explain(self) -> &'static str {
        match self {
            SignatureError::NoSecret => {
                "Jira webhooks are refused: RAID_JIRA_WEBHOOK_SECRET is not set"
            }
            SignatureError::Missing => "the X-Hub-Signature header is missing",
            SignatureError::Malformed => "the X-Hub-Signature header is not sha256=<hex digest>",
            SignatureError::Unsupported => "only sha256 signatures are accepted",
            SignatureError::Mismatch => "the signature does not match the body",
        }
    }
}

/// Checks `X-Hub-Signature` (`sha256=<hex>`, the method in any case)
/// against the HMAC-SHA256 of `body` with `secret`, in constant time.
pub fn verify_signature(
    secret: Option<&SecretString>,
    header: Option<&str>,
    body: &[u8],
) -> std::result::Result<(), SignatureError> {
    let secret = secret
        .map(ExposeSecret::expose_secret)
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::NoSecret)?;
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (method, digest) = header.split_once('=').ok_or(SignatureError::Malformed)?;
    if !method.trim().eq_ignore_ascii_case("sha256") {
        return Err(if method.is_empty() {
            SignatureError::Malformed
        } else {
            SignatureError::Unsupported
        });
    }
    let digest = hex::decode(digest.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature header value of `body` with `secret` (for tests and fakes).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ------------------------------------------------------------------ Jira's JSON

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateHook {
    #[serde(default)]
    issue: HookIssue,
    #[serde(default)]
    changelog: Option<Changelog>,
    #[serde(default)]
    user: Option<HookUser>,
}

#[derive(Debug, Default, Deserialize)]
struct HookIssue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    fields: Option<HookIssueFields>,
}

#[derive(Debug, Default, Deserialize)]
struct HookIssueFields {
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Changelog {
    #[serde(default)]
    items: Vec<ChangeItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeItem {
    #[serde(default)]
    field: String,
    #[serde(default)]
    field_id: Option<String>,
    #[serde(default)]
    from_string: Option<String>,
    #[serde(default)]
    to_string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookUser {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentHook {
    #[serde(default)]
    webhook_event: String,
    #[serde(default)]
    issue: HookIssue,
    #[serde(default)]
    comment: Option<HookComment>,
}

#[derive(Debug, Default, Deserialize)]
struct HookComment {
    #[serde(default)]
    author: Option<HookUser>,
    #[serde(default)]
    body: Value,
}

/// The text of a comment body: a string (wiki markup) or an ADF document.
fn text_of(body: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => out.push_str(s),
            Value::Object(o) => {
                if let Some(Value::String(t)) = o.get("text") {
                    out.push_str(t);
                }
                if let Some(Value::Array(children)) = o.get("content") {
                    for c in children {
                        walk(c, out);
                    }
                    if matches!(
                        o.get("type").and_then(Value::as_str),
                        Some("paragraph" | "heading")
                    ) {
                        out.push('\n');
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    walk(body, &mut out);
    out.trim().to_owned()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A priority of the ticket's field as firefighter's value: `3`, `P3` or
/// Jira's names (Highest = 1 … Lowest = 5).
pub fn priority_value(text: &str) -> Option<i32> {
    let t = text.trim();
    let digits = t.strip_prefix(['P', 'p']).unwrap_or(t);
    if let Ok(n) = digits.parse::<i32>() {
        return (1..=5).contains(&n).then_some(n);
    }
    match t.to_lowercase().as_str() {
        "highest" => Some(1),
        "high" => Some(2),
        "medium" => Some(3),
        "low" => Some(4),
        "lowest" => Some(5),
        _ => None,
    }
}

// ------------------------------------------------------------------ the service

/// Jira's webhooks: the routes, and what is done with each one.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    app: AppHandle,
    client: JiraClient,
    config: JiraConfig,
    users: JiraUserStore,
    ledger: SyncLedger,
    inbox: Inbox,
    own_accounts: OnceCell<HashSet<String>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

impl Webhooks {
    /// The webhooks of `app` with this configuration.
    pub fn new(
        app: AppHandle,
        store: Arc<dyn firefighter_core::Store>,
        config: JiraConfig,
    ) -> Result<Webhooks> {
        if config.webhook_secret.is_none() {
            // Once per process (the routes and the replay task both build one).
            static TOLD: std::sync::Once = std::sync::Once::new();
            TOLD.call_once(|| {
                tracing::warn!(
                    "Jira's webhooks will be refused (401): set RAID_JIRA_WEBHOOK_SECRET to the secret of Jira's webhook so status, priority and comments come back from Jira"
                );
            });
        }
        let client = JiraClient::new(&config)?;
        Webhooks::with_client(app, store, config, client)
    }

    /// The same with a client of the caller's (tests shorten its retries).
    pub fn with_client(
        app: AppHandle,
        store: Arc<dyn firefighter_core::Store>,
        config: JiraConfig,
        client: JiraClient,
    ) -> Result<Webhooks> {
        Ok(Webhooks {
            inner: Arc::new(Inner {
                users: JiraUserStore::of(store.as_ref())?,
                ledger: SyncLedger::of(store.as_ref())?,
                inbox: Inbox::new(store, SOURCE),
                app,
                client,
                config,
                own_accounts: OnceCell::new(),
            }),
        })
    }

    /// The inbox of Jira's webhooks.
    pub fn inbox(&self) -> &Inbox {
        &self.inner.inbox
    }

    fn app(&self) -> std::result::Result<Firefighter, InboxFailure> {
        self.running()
            .map_err(|e| InboxFailure::Transient(e.to_string()))
    }

    /// The application; not running yet (starting, stopping) is worth a retry.
    fn running(&self) -> Result<Firefighter> {
        self.inner.app.get().ok_or_else(|| {
            Error::Core(firefighter_core::Error::Unavailable(
                "the application is not running yet".into(),
            ))
        })
    }

    /// Records a signed webhook (before it is answered) and applies it
    /// after; the answer for Jira.
    async fn receive(&self, kind: &'static str, headers: &HeaderMap, body: Bytes) -> Response {
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        if let Err(e) =
            verify_signature(self.inner.config.webhook_secret.as_ref(), signature, &body)
        {
            tracing::warn!(kind, reason = e.explain(), "a Jira webhook was refused");
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "detail": e.explain() })),
            )
                .into_response();
        }
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({ "detail": "the body is not a JSON object" })),
                )
                    .into_response();
            }
        };
        let key = headers
            .get(IDENTIFIER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| format!("id:{v}"))
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
        let actor = value
            .pointer("/user/accountId")
            .or_else(|| value.pointer("/comment/author/accountId"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let recorded = match self
            .inner
            .inbox
            .record_keyed(&key, kind, &value, &actor)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(kind, error = %e, "a Jira webhook could not be recorded; Jira will send it again");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({ "detail": "not recorded; send it again" })),
                )
                    .into_response();
            }
        };
        let hooks = self.clone();
        tokio::spawn(async move {
            hooks.inner.inbox.apply_recorded(recorded, &hooks).await;
        });
        (StatusCode::OK, axum::Json(json!({ "received": true }))).into_response()
    }

    /// Accounts whose changes are firefighter's own: the default reporter
    /// and the API token's account (asked once).
    async fn own_accounts(&self) -> Result<HashSet<String>> {
        if let Some(own) = self.inner.own_accounts.get() {
            return Ok(own.clone());
        }
        let mut own = HashSet::from([self.inner.config.default_reporter.clone()]);
        match self.inner.client.myself().await {
            Ok(Some(id)) => {
                own.insert(id);
                let _ = self.inner.own_accounts.set(own.clone());
            }
            Ok(None) => {
                let _ = self.inner.own_accounts.set(own.clone());
            }
            Err(e) if e.is_retryable() => return Err(e),
            // Not kept: asked again with the next webhook.
            Err(e) => tracing::warn!(error = %e, "the API token's Jira account is unknown"),
        }
        Ok(own)
    }

    async fn is_own(&self, account: Option<&str>) -> Result<bool> {
        Ok(match account {
            Some(a) if !a.is_empty() => self.own_accounts().await?.contains(a),
            _ => false,
        })
    }

    async fn apply_update(&self, item: &InboxItem, hook: UpdateHook) -> Result<()> {
        let items = hook.changelog.map(|c| c.items).unwrap_or_default();
        if items.is_empty() || hook.issue.key.is_empty() {
            return Ok(());
        }
        let author = hook.user.as_ref().and_then(|u| u.account_id.as_deref());
        let own = self.is_own(author).await?;
        let key = hook.issue.key.as_str();
        let Some(incident) = self.inner.ledger.ticket(key).await? else {
            // Not a ticket of ours (a project-wide webhook): nothing to do.
            tracing::debug!(
                key,
                "a webhook about a ticket firefighter did not make is ignored"
            );
            return Ok(());
        };
        let app = self.running()?;
        let who = hook
            .user
            .as_ref()
            .and_then(|u| u.display_name.clone())
            .unwrap_or_else(|| "Someone".into());
        let mut retry_later = None;
        for (n, change) in items.iter().enumerate() {
            let is_status = match &change.field_id {
                Some(id) => id == "status",
                None => change.field.eq_ignore_ascii_case("status"),
            };
            // The configured field only: Story Points or Jira's own priority
            // field are not the incident's priority.
            let is_priority = match &change.field_id {
                Some(id) => *id == self.inner.config.fields.priority,
                None => change.field == self.inner.config.fields.priority,
            };
            if !is_status && !is_priority {
                continue;
            }
            let field = if is_status { STATUS } else { PRIORITY };
            let to = change.to_string.clone().unwrap_or_default();
            if let Some(id) = incident {
                let value = if is_status {
                    to.clone()
                } else {
                    priority_value(&to)
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                };
                if self
                    .inner
                    .ledger
                    .consume_push(id, field, &value, Utc::now())
                    .await?
                {
                    tracing::debug!(
                        incident = id.0,
                        key,
                        field,
                        value,
                        "the echo of our own push is ignored"
                    );
                    continue;
                }
            }
            if own {
                tracing::debug!(key, field, "a change made by our own account is ignored");
                continue;
            }
            let note = Notification::new(
                format!("jira-change:{}:{n}", item.id),
                format!("Jira ticket {key} was modified"),
            )
            .field("Changed by", who.clone())
            .field(
                "Field",
                if is_status {
                    "Status".to_owned()
                } else {
                    "Priority".to_owned()
                },
            )
            .field(
                "From",
                change.from_string.clone().unwrap_or_else(|| "–".into()),
            )
            .field(
                "To",
                if to.is_empty() {
                    "–".into()
                } else {
                    to.clone()
                },
            )
            .link("Open in Jira", self.inner.client.browse_url(key));
            // The incident first: telling the watchers must not hold it back.
            if let Some(id) = incident {
                let request = format!("jira-webhook:{}:{n}", item.id);
                if is_status {
                    self.sync_status(&app, id, key, change, &request).await?;
                } else {
                    self.sync_priority(&app, id, &to, &request).await?;
                }
            }
            if let Err(e) = self.tell_watchers(&app, key, &note).await {
                if e.is_retryable() {
                    // Tried again with the item (the sync above is keyed,
                    // the notifications too).
                    retry_later.get_or_insert(e);
                } else {
                    tracing::warn!(key, error = %e, "the ticket's watchers could not be told");
                }
            }
        }
        match retry_later {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn sync_status(
        &self,
        app: &Firefighter,
        id: IncidentId,
        key: &str,
        change: &ChangeItem,
        request: &str,
    ) -> Result<()> {
        let to = change.to_string.clone().unwrap_or_default();
        let Some(target) = incident_status_of(&to) else {
            return Ok(());
        };
        let from = change.from_string.as_deref().unwrap_or_default();
        if target == Status::Closed && incident_status_of(from).is_none() {
            // An automation closing from a status of its own (Code Review → Closed).
            tracing::info!(
                incident = id.0,
                key,
                from,
                "Jira closed the ticket from an unmapped status; the incident stays as it is"
            );
            return Ok(());
        }
        let incident = app.incident(id).await?;
        if incident.status == target {
            return Ok(());
        }
        // A webhook applied late (a retry, a slower copy) must not undo a
        // newer change: the ticket must still be where it says.
        let (now_in_jira, _) = self.inner.client.status_of(key).await?;
        if !now_in_jira.trim().eq_ignore_ascii_case(to.trim()) {
            tracing::info!(
                incident = id.0,
                key,
                to,
                now_in_jira,
                "a webhook overtaken by a later change is not applied"
            );
            return Ok(());
        }
        let update = Update {
            message: Some(format!("Status synced from Jira ({to})")),
            status: Some(target),
            event_type: Some(STATUS_SYNC.to_owned()),
            ..Update::default()
        };
        if let Some(refusal) = app.check_status_change(id, &update).await? {
            let why = refusal.to_string();
            if target == Status::Closed {
                let text = format!(
                    "Jira ticket {key} was closed, but the incident could not be closed: {why}. Close it here once that is done."
                );
                if !already_on_timeline(app, id, &text).await? {
                    app.publish(
                        id,
                        vec![IncidentEvent::Notice { text: text.clone() }],
                        Some((&text, None)),
                    )
                    .await?;
                }
            } else {
                let text = format!(
                    "Jira ticket {key} moved to \"{to}\", but the incident stays {}: {why}.",
                    incident.status.label()
                );
                if !already_on_timeline(app, id, &text).await? {
                    app.post_message(id, None, &text, Some(SYNC_WARNING))
                        .await?;
                }
            }
            return Ok(());
        }
        match app.update_once(id, request, update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(e.into()),
            // The incident changed between the check and the write.
            Err(e) => {
                tracing::warn!(incident = id.0, key, error = %e, "the status from Jira was refused");
                Ok(())
            }
        }
    }

    async fn sync_priority(
        &self,
        app: &Firefighter,
        id: IncidentId,
        to: &str,
        request: &str,
    ) -> Result<()> {
        let Some(value) = priority_value(to) else {
            tracing::info!(
                incident = id.0,
                to,
                "a priority from Jira that is not 1 to 5 is ignored"
            );
            return Ok(());
        };
        let catalog = app.catalog().await?;
        let Some(priority) = catalog.priorities.iter().find(|p| p.value == value) else {
            return Ok(());
        };
        let incident = app.incident(id).await?;
        if incident.priority_id == priority.id {
            return Ok(());
        }
        let update = Update {
            message: Some(format!("Priority synced from Jira ({to})")),
            priority_id: Some(priority.id),
            event_type: Some(PRIORITY_SYNC.to_owned()),
            ..Update::default()
        };
        match app.update_once(id, request, update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "the priority from Jira was refused");
                Ok(())
            }
        }
    }

    async fn apply_comment(&self, item: &InboxItem, hook: CommentHook) -> Result<()> {
        let key = hook.issue.key.as_str();
        if key.is_empty() || self.inner.ledger.ticket(key).await?.is_none() {
            return Ok(());
        }
        let comment = hook.comment.unwrap_or_default();
        let author = comment.author.unwrap_or_default();
        if self.is_own(author.account_id.as_deref()).await? {
            return Ok(());
        }
        let app = self.running()?;
        let what = match hook.webhook_event.as_str() {
            "comment_updated" => "edited a comment on",
            "comment_deleted" => "deleted a comment on",
            _ => "commented on",
        };
        let who = author.display_name.unwrap_or_else(|| "Someone".into());
        let mut note = Notification::new(
            format!("jira-comment:{}", item.id),
            format!("{who} {what} Jira ticket {key}"),
        );
        if let Some(summary) = hook.issue.fields.and_then(|f| f.summary) {
            note = note.field("Ticket", cut(&summary, 200));
        }
        let text = text_of(&comment.body);
        if !text.is_empty() && hook.webhook_event != "comment_deleted" {
            note = note.paragraph(cut(&text, 1500));
        }
        let note = note.link("Open in Jira", self.inner.client.browse_url(key));
        self.tell_watchers(&app, key, &note).await
    }

    /// Tells every watcher of `key` who is a firefighter user reachable by
    /// the notifier, once per notification key and person.
    async fn tell_watchers(&self, app: &Firefighter, key: &str, note: &Notification) -> Result<()> {
        let Some(notifier) = app.notifier() else {
            tracing::debug!(key, "no notifier is on: watchers are not told");
            return Ok(());
        };
        let own = self.own_accounts().await?;
        for watcher in self.inner.client.watchers(key).await? {
            if !watcher.active
                || own.contains(&watcher.account_id)
                || watcher.account_type.as_deref() == Some("app")
            {
                continue;
            }
            let Some(user) = self.user_of(app, &watcher).await? else {
                continue;
            };
            if self
                .inner
                .config
                .watcher_exclusions
                .contains(&user.email.to_lowercase())
            {
                continue;
            }
            match notifier.notify_user(&user, note).await {
                Ok(Delivered::Unreachable(why)) => {
                    tracing::debug!(key, user = %user.email, why, "a watcher cannot be reached")
                }
                Ok(_) => {}
                Err(e) if firefighter_core::Retryable::is_retryable(&e) => {
                    return Err(Error::Unavailable {
                        status: 503,
                        message: format!("the notifier: {e}"),
                    });
                }
                Err(e) => {
                    tracing::warn!(key, user = %user.email, error = %e, "a watcher could not be told")
                }
            }
        }
        Ok(())
    }

    /// The firefighter user of a Jira account: mapped already, or by the
    /// account's e-mail (then mapped); `None` when there is none.
    async fn user_of(&self, app: &Firefighter, watcher: &Watcher) -> Result<Option<User>> {
        let store = app.store();
        if let Some(id) = self.inner.users.user_of(&watcher.account_id).await? {
            return Ok(store.user(id).await?);
        }
        let email = match &watcher.email_address {
            Some(e) => Some(e.clone()),
            None => self
                .inner
                .client
                .user(&watcher.account_id)
                .await?
                .and_then(|u| u.email_address),
        };
        let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
            return Ok(None);
        };
        let Some(user) = store.user_by_email(&email).await? else {
            return Ok(None);
        };
        self.inner
            .users
            .set_account(user.id, &user.email, &watcher.account_id)
            .await?;
        Ok(Some(user))
    }

    /// Applies the webhooks left unfinished whose retry is due.
    pub async fn replay(&self) -> Result<firefighter_core::inbox::ReplayReport> {
        Ok(self.inner.inbox.replay(Utc::now(), self).await?)
    }
}

async fn already_on_timeline(app: &Firefighter, id: IncidentId, text: &str) -> Result<bool> {
    Ok(app
        .store()
        .timeline(id)
        .await?
        .iter()
        .any(|e| e.message.as_deref() == Some(text)))
}

#[async_trait]
impl InboxHandler for Webhooks {
    async fn apply(&self, item: &InboxItem) -> std::result::Result<(), InboxFailure> {
        let result = match item.kind.as_str() {
            kind::UPDATE => match serde_json::from_str::<UpdateHook>(&item.payload) {
                Ok(hook) => self.apply_update(item, hook).await,
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable webhook: {e}"))),
            },
            kind::COMMENT => match serde_json::from_str::<CommentHook>(&item.payload) {
                Ok(hook) => self.apply_comment(item, hook).await,
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable webhook: {e}"))),
            },
            ALERT_KIND => match serde_json::from_str::<crate::alerts::NewTicket>(&item.payload) {
                Ok(ticket) => {
                    let app = self.app()?;
                    crate::alerts::alert_new_ticket(&app, &ticket)
                        .await
                        .map(drop)
                }
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable alert: {e}"))),
            },
            other => return Err(InboxFailure::Refused(format!("unknown kind {other}"))),
        };
        result.map_err(|e| {
            tracing::warn!(item = %item.id, error = %e, "a Jira webhook was not applied");
            InboxFailure::classify(&e)
        })
    }
}

/// The routes Jira calls (they authenticate requests themselves).
pub fn routes(webhooks: Webhooks) -> Router {
    let replay = webhooks.clone();
    tokio::spawn(async move {
        // What a previous run acknowledged but did not finish.
        if let Err(e) = replay.replay().await {
            tracing::warn!(error = %e, "could not replay Jira webhooks at start");
        }
    });
    Router::new()
        .route(
            UPDATE_PATH,
            post(
                |State(w): State<Webhooks>, headers: HeaderMap, body: Bytes| async move {
                    w.receive(kind::UPDATE, &headers, body).await
                },
            ),
        )
        .route(
            COMMENT_PATH,
            post(
                |State(w): State<Webhooks>, headers: HeaderMap, body: Bytes| async move {
                    w.receive(kind::COMMENT, &headers, body).await
                },
            ),
        )
        .with_state(webhooks)
}

// ------------------------------------------------------------------ client calls

impl JiraClient {
    /// The watchers of an issue (`GET /issue/{key}/watchers`); none when the issue is not found.
    pub async fn watchers(&self, key: &str) -> Result<Vec<Watcher>> {
        let path = format!("/issue/{}/watchers", segment(key)?);
        let found: Result<Watchers> = self
            .retried(Error::is_retryable, || async {
                read_json(self.send(Method::GET, &path, &[], None).await?).await
            })
            .await;
        match found {
            Ok(w) => Ok(w.watchers),
            Err(Error::Rejected { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The account id of the API token's account (`GET /rest/api/3/myself`).
    pub async fn myself(&self) -> Result<Option<String>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Me {
            account_id: Option<String>,
        }
        let me: Me = self
            .retried(Error::is_retryable, || async {
                read_json(self.send(Method::GET, "/myself", &[], None).await?).await
            })
            .await?;
        Ok(me.account_id)
    }
}

// ------------------------------------------------------------------ the replay task

/// Applies the webhooks left unfinished (a crash, Jira or the database
/// failing) and forgets those done more than a week ago.
#[derive(Debug)]
pub struct ReplayTask {
    webhooks: Webhooks,
}

#[async_trait]
impl PeriodicTask for ReplayTask {
    fn name(&self) -> &str {
        TASK_REPLAY
    }

    fn description(&self) -> &str {
        "Applies Jira webhooks received but not applied yet (after a crash or a failure), and forgets those applied more than a week ago"
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::Every { seconds: 60 })
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        let report = self.webhooks.replay().await.map_err(TaskError::failed)?;
        let purged = self
            .webhooks
            .inbox()
            .purge(Utc::now() - chrono::Duration::days(7))
            .await
            .map_err(TaskError::failed)?;
        Ok(TaskReport::counted([
            ("applied", report.done as u64),
            ("retried", report.retried as u64),
            ("parked", report.parked as u64),
            ("purged", purged),
        ]))
    }
}

fn build_replay(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    let config =
        JiraConfig::from_env().map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    let Some(config) = config else {
        return Ok(None);
    };
    let webhooks = Webhooks::new(ctx.app_handle(), ctx.store.clone(), config)
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    Ok(Some(Arc::new(ReplayTask { webhooks })))
}

firefighter_core::register_task!(TaskRegistration {
    name: TASK_REPLAY,
    build: build_replay,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_in_every_way_they_can_be_wrong() {
        let secret = SecretString::from("s3cret".to_owned());
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let good = sign("s3cret", body);
        assert_eq!(verify_signature(Some(&secret), Some(&good), body), Ok(()));
        let upper = good.replacen("sha256", "SHA256", 1);
        assert_eq!(verify_signature(Some(&secret), Some(&upper), body), Ok(()));
        assert_eq!(
            verify_signature(None, Some(&good), body),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_signature(Some(&secret), None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some("sha256"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(
                Some(&secret),
                Some(&good.replacen("sha256", "sha1", 1)),
                body
            ),
            Err(SignatureError::Unsupported)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some(&sign("other", body)), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some(&good), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn priorities_and_comment_texts_are_read() {
        assert_eq!(priority_value("3"), Some(3));
        assert_eq!(priority_value("P2"), Some(2));
        assert_eq!(priority_value("Highest"), Some(1));
        assert_eq!(priority_value("6"), None);
        assert_eq!(priority_value("-"), None);
        let adf = json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Looks "}, {"type": "text", "text": "fixed"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "thanks"}]}
        ]});
        assert_eq!(text_of(&adf), "Looks fixed\nthanks");
        assert_eq!(text_of(&json!("plain *wiki*")), "plain *wiki*");
    }
}
