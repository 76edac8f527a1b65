//! The ticket intake (FireFighter's Landbot API, reference §8.3):
//! `POST /api/v2/firefighter/raid/jira_bot` makes a Jira ticket without an
//! incident from a bot's (or any client's) JSON, uploads its attachments,
//! and sends the RAID alert ([`crate::alerts`]). The answer is `201` with
//! the ticket key as a JSON string (`"SBI-42"`).
//!
//! **Who may call it.** The route sits behind the server's login, which also
//! takes API tokens (`Authorization: Bearer <token>` or `Token <token>`);
//! the server hands the caller over as a [`Caller`](firefighter_core::plugin::Caller). Without it: 401.
//!
//! **The body**, field by field as FireFighter's (`null` where it says
//! "may be null"); every problem is answered at once, `400` in the API's
//! error format (`{"type": "validation_error", "errors": [{"code",
//! "detail", "attr"}]}`), and nothing is created:
//!
//! | Field | Rule |
//! |---|---|
//! | `summary` | required text, at most 255 characters |
//! | `description` | required text, at most 30,000 characters |
//! | `reporter_email` | required e-mail |
//! | `platform` | required: `ES`, `IT`, `FR`, `UK`, `DE`, `All`, `Internal` |
//! | `suggested_team_routing` | required text, at most 10 characters ("Team suggested for routing" in the description unless `SBI`) |
//! | `seller_contract_id` | required, may be null, at most 128 characters (with `RAID_TOOLBOX_URL`: a link to the seller in the description) |
//! | `zoho` | required, may be null, at most 256 characters |
//! | `incident_category` | required, may be null, at most 128 characters (written to `RAID_JIRA_INCIDENT_CATEGORY_FIELD` when set) |
//! | `priority` | required, may be null: 1 to 5 (null: `-`) |
//! | `business_impact` | required, may be null: `High`, `Medium`, `Low` |
//! | `zendesk` | optional, may be null, at most 256 characters |
//! | `labels` | optional list of labels (null: none), each at most 128 characters without spaces; empty ones dropped |
//! | `environments` | optional list of `INT`, `STG`, `PRD`, `SUPPORT`, `-` (null or empty: `-`); empty ones dropped |
//! | `project` | optional project key (letters, digits, `_`, starting with a letter; upper-cased; null or empty: `RAID_INTAKE_PROJECT_KEY`, default `SBI`) |
//! | `issue_type` | optional: `Incident` (default), `Service Request`, `Documentation/Process Request`, `Feature Request` |
//! | `attachments` | optional text: empty, a URL, URLs separated by commas, or a list as text (`['a', 'b']`): at most 10, each at most 2048 characters, `http`/`https`, its host resolving to public addresses only ([`crate::attachments`]) |
//!
//! **The ticket.** The reporter is the firefighter account with this e-mail
//! and its Jira account, else `RAID_DEFAULT_JIRA_QRAFT_USER_ID` (also when
//! Jira refuses that account as reporter). The description ends with a
//! line saying the ticket came through the intake and, for an address
//! outside the company's domains (`RAID_COMPANY_EMAIL_DOMAINS`; unset: every
//! address is outside), the reporter's e-mail. The custom fields are
//! [`crate::config`]'s.
//!
//! **Attachments** are refused before anything is created when they break a
//! rule above (400, `attr: "attachments"`). After the ticket is created, an
//! attachment that fails (the server answers 404, it is larger than the
//! limit, a redirect leads to a private address...) does not undo the
//! ticket: the answer is still `201` with the key, and carries the header
//! `Firefighter-Attachment-Errors`, a JSON array of
//! `{"index", "url", "detail"}` (index from 0), one per failed attachment.
//!
//! **Exactly once.** With an `Idempotency-Key` header (1 to 255 visible
//! characters), the key is claimed for the caller in core's idempotency
//! records (the same table as the REST API's, its own scope): the same key
//! and body answered before are answered the same again (header
//! `Idempotent-Replayed: true`); the same key with another body is refused
//! (422); while the first request runs, 409. The ticket carries the label
//! `ff-intake-<hash of caller and key>` and is searched by it before it is
//! created: a request cut short (the process died, the request timed out)
//! and retried adopts the ticket instead of making a second, uploads only
//! the attachments it lacks, and sends the alert once. Without the header a
//! retry makes another ticket.
//!
//! **The alert** is sent after the attachments. A failure worth retrying
//! (the chat vendor's rate limit) is kept in the Jira inbox and sent by
//! `jira.replay_webhooks` once its lease ends (about five minutes), by
//! whichever instance runs the task; its keys make a resend safe.

mod fields;
mod http;
mod request;
mod settings;

use firefighter_core::{Email, Firefighter, User};
use serde_json::{Value, json};

use crate::alerts::{AlertOutcome, NewTicket, alert_new_ticket};
use crate::attachments::{Attached, AttachmentReport, Downloader, attach_all};
use crate::error::Problem;
use crate::users::{JiraUserStore, account_of};
use crate::{Error, JiraClient, JiraConfig, Result};

pub use fields::{intake_description, intake_fields, intake_label};
pub use http::{intake_routes, routes};
pub use request::IntakeRequest;
pub use settings::IntakeSettings;

/// Where the intake is served.
pub const INTAKE_PATH: &str = "/api/v2/firefighter/raid/jira_bot";
/// The answer's header listing the attachments that failed.
pub const ATTACHMENT_ERRORS_HEADER: &str = "firefighter-attachment-errors";

/// The environment variables the intake reads (besides [`crate::config`]'s).
pub const INTAKE_VARIABLES: &[&str] = &[
    "RAID_TOOLBOX_URL",
    "RAID_COMPANY_EMAIL_DOMAINS",
    "RAID_INTAKE_PROJECT_KEY",
    "RAID_INTAKE_ATTACHMENT_MAX_BYTES",
    "RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS",
];

/// `platform`'s choices.
pub const PLATFORMS: &[&str] = &["ES", "IT", "FR", "UK", "DE", "All", "Internal"];
/// `environments`' choices.
pub const ENVIRONMENTS: &[&str] = &["INT", "STG", "PRD", "SUPPORT", "-"];
/// `business_impact`'s choices.
pub const INTAKE_BUSINESS_IMPACTS: &[&str] = &["High", "Medium", "Low"];
/// `issue_type`'s choices (the first is the default).
pub const ISSUE_TYPES: &[&str] = &[
    "Incident",
    "Service Request",
    "Documentation/Process Request",
    "Feature Request",
];
/// Longest description taken.
pub const MAX_DESCRIPTION_CHARS: usize = 30_000;

/// How long a claimed key is this request's before a retry may take it
/// over (longer than any intake runs: the create, ten attachments).
const CLAIM: chrono::TimeDelta = chrono::TimeDelta::minutes(3);
/// How long a key is remembered (as the REST API's).
const KEY_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What the intake did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The ticket's key.
    pub key: String,
    /// `false`: an earlier attempt made it and this one adopted it.
    pub created: bool,
    /// Each attachment's outcome, in the request's order.
    pub attachments: Vec<AttachmentReport>,
    /// The alert: what it did, or why it is still to be sent.
    pub alert: std::result::Result<AlertOutcome, String>,
}

impl Submitted {
    /// The attachments that failed, as the answer's header lists them.
    pub fn attachment_errors(&self) -> Vec<Value> {
        self.attachments
            .iter()
            .filter_map(|a| match &a.outcome {
                Attached::Failed(why) => {
                    Some(json!({"index": a.index, "url": a.url, "detail": why}))
                }
                _ => None,
            })
            .collect()
    }
}

/// The intake: what it needs to make tickets.
#[derive(Debug, Clone)]
pub struct Intake {
    app: Firefighter,
    client: JiraClient,
    users: JiraUserStore,
    config: JiraConfig,
    settings: IntakeSettings,
    downloader: Downloader,
}

impl Intake {
    /// The intake for this configuration (attachments fetched from public
    /// addresses only).
    pub fn new(
        app: Firefighter,
        client: JiraClient,
        users: JiraUserStore,
        config: JiraConfig,
        settings: IntakeSettings,
    ) -> Intake {
        let downloader =
            Downloader::new(settings.attachment_max_bytes, settings.attachment_timeout);
        Intake {
            app,
            client,
            users,
            config,
            settings,
            downloader,
        }
    }

    /// Replaces the downloader (tests: a local server, see
    /// [`Downloader::allowing_loopback_for_tests`]).
    pub fn with_downloader(mut self, downloader: Downloader) -> Intake {
        self.downloader = downloader;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &IntakeSettings {
        &self.settings
    }

    /// Resolves each attachment's host and checks its addresses: the
    /// problems found (`attr: "attachments"`), before anything is created.
    pub async fn check_attachments(&self, request: &IntakeRequest) -> Vec<Problem> {
        let checks = request
            .attachments
            .iter()
            .map(|url| self.downloader.check(url));
        futures::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(std::result::Result::err)
            .map(|e| Problem::field("attachments", "invalid", e.to_string()))
            .collect()
    }

    /// The reporter's Jira account (theirs, else the default one) and their
    /// firefighter account, if any.
    async fn reporter(&self, email: &Email) -> Result<(String, Option<User>)> {
        let user = self.app.store().user_by_email(email.as_str()).await?;
        let account = match &user {
            Some(user) => match account_of(&self.client, &self.users, user).await {
                Ok(account) => account,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::warn!(reporter = %email, error = %e, "the reporter's Jira account could not be looked up");
                    None
                }
            },
            None => None,
        };
        Ok((
            account.unwrap_or_else(|| self.config.default_reporter.clone()),
            user,
        ))
    }

    async fn find(&self, project: &str, label: &str) -> Result<Option<String>> {
        let jql = format!("project = \"{project}\" AND labels = \"{label}\" ORDER BY created ASC");
        Ok(self
            .client
            .search(&jql)
            .await?
            .into_iter()
            .next()
            .map(|i| i.key))
    }

    /// Makes the ticket of `request` (adopting the one carrying `label`,
    /// when a label is given and Jira has it), uploads its attachments and
    /// sends the alert.
    pub async fn submit(&self, request: &IntakeRequest, label: Option<&str>) -> Result<Submitted> {
        let (mut reporter, user) = self.reporter(&request.reporter_email).await?;
        let found = match label {
            Some(label) => self.find(&request.project, label).await?,
            None => None,
        };
        let (key, created) = match found {
            Some(key) => (key, false),
            None => {
                let fields = intake_fields(&self.config, &self.settings, request, &reporter, label);
                let mut made = self.client.create_issue(&fields).await;
                // The reporter's account cannot report in this project: the
                // default one does.
                if let Err(e) = &made
                    && e.field("reporter").is_some()
                    && reporter != self.config.default_reporter
                {
                    tracing::warn!(reporter = %request.reporter_email, error = %e, "Jira refused the reporter; using RAID_DEFAULT_JIRA_QRAFT_USER_ID");
                    reporter = self.config.default_reporter.clone();
                    let fields =
                        intake_fields(&self.config, &self.settings, request, &reporter, label);
                    made = self.client.create_issue(&fields).await;
                }
                match made {
                    Ok(issue) => (issue.key, true),
                    // Jira may have made it before failing: look again at once.
                    Err(e @ (Error::Unavailable { .. } | Error::Transport(_))) => match label {
                        Some(label) => match self.find(&request.project, label).await {
                            Ok(Some(key)) => (key, false),
                            Ok(None) => return Err(e),
                            Err(search) => {
                                tracing::warn!(error = %search, "could not look for the ticket after a failed creation");
                                return Err(e);
                            }
                        },
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        tracing::info!(key, created, "intake ticket");
        // Known as ours: its webhooks tell its watchers (no incident to sync).
        crate::ledger::SyncLedger::of(self.app.store().as_ref())?
            .record_ticket(&key, None)
            .await?;
        let attachments = attach_all(
            &self.client,
            &self.downloader,
            &key,
            &request.attachments,
            !created,
        )
        .await?;
        for failed in attachments
            .iter()
            .filter(|a| matches!(a.outcome, Attached::Failed(_)))
        {
            tracing::warn!(key, attachment = failed.index, url = %failed.url, outcome = ?failed.outcome, "attachment not added");
        }
        let ticket = NewTicket {
            key: key.clone(),
            url: self.client.browse_url(&key),
            project_key: request.project.clone(),
            issue_type: request.issue_type.clone(),
            summary: request.summary.clone(),
            description: request.description.clone(),
            business_impact: request.business_impact.clone(),
            reporter: user,
            reporter_email: Some(request.reporter_email.to_string()),
            incident_priority: None,
            private: false,
        };
        let alert = match alert_new_ticket(&self.app, &ticket).await {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.is_retryable() => {
                // Kept in the Jira inbox: `jira.replay_webhooks` sends it
                // once its lease ends, whatever happens to this process.
                let inbox = firefighter_core::inbox::Inbox::new(
                    self.app.store().clone(),
                    crate::webhooks::SOURCE,
                );
                match inbox
                    .record_keyed(
                        &format!("alert:{key}"),
                        crate::webhooks::ALERT_KIND,
                        &ticket,
                        "",
                    )
                    .await
                {
                    Ok(_) => Err(format!("to be retried: {e}")),
                    Err(lost) => {
                        tracing::error!(key, error = %lost, "the RAID alert could not be kept for a retry");
                        Err(format!("not sent: {e}"))
                    }
                }
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "RAID alert not sent");
                Err(e.to_string())
            }
        };
        Ok(Submitted {
            key,
            created,
            attachments,
            alert,
        })
    }
}
