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

mod apply;
mod signature;

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
use firefighter_core::Firefighter;
use firefighter_core::inbox::{Inbox, InboxFailure};
use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::ledger::SyncLedger;
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

pub use apply::priority_value;
pub use signature::{SignatureError, sign, verify_signature};

/// Inbox kinds.
mod kind {
    pub(super) const UPDATE: &str = "update";
    pub(super) const COMMENT: &str = "comment";
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
    let config = JiraConfig::from_env().map_err(crate::error::config_error)?;
    let Some(config) = config else {
        return Ok(None);
    };
    let webhooks = Webhooks::new(ctx.app_handle(), ctx.store.clone(), config)
        .map_err(crate::error::config_error)?;
    Ok(Some(Arc::new(ReplayTask { webhooks })))
}

firefighter_core::register_task!(TaskRegistration {
    name: TASK_REPLAY,
    build: build_replay,
});
