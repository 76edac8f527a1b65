//! Paging a service's on-call, by anyone, exactly once per incident and service.
//!
//! A page is first written to `pd_pages` (status `pending`, unique key), then
//! sent while holding a short lease on the row, then marked `sent` and put on
//! the incident's timeline. A page PagerDuty could not take (network, 429,
//! 5xx) stays `pending` and the `pagerduty.trigger_oncall` task sends it
//! later; a page PagerDuty refused (4xx) is marked `failed` with the reason
//! and can be asked for again. PagerDuty's own de-duplication (`incident_key`
//! on REST, `dedup_key` on Events v2) covers the window where an answer is lost.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firefighter_core::event::IncidentEvent;
pub use firefighter_core::oncall::PageRequest;
use firefighter_core::{Firefighter, Incident, IncidentId, UserId};
use serde::Serialize;
use uuid::Uuid;

use crate::models::{ConferenceBridge, Event, EventLink, EventPayload, NewIncident, Reference};
use crate::store::{NewPageRow, PageRow, PagerDutyStore, SentPage, ServiceRow};
use crate::{Error, PagerDuty, Result};

/// How long one attempt may hold a page.
const LEASE: Duration = Duration::from_secs(90);
/// First retry delay of a page PagerDuty could not take.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// Longest retry delay.
const MAX_RETRY: Duration = Duration::from_secs(600);
/// A page still not sent after this long is given up (and says so).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Longest title (PagerDuty's Events API takes 1,024 characters).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest details text a person may type.
pub const MAX_DETAILS_CHARS: usize = 10_000;
/// The timeline event type of a page (as in FireFighter).
pub const PAGE_EVENT_TYPE: &str = "trigger_oncall";

/// A service that can be paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceChoice {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Short description.
    pub summary: String,
    /// `active`, `warning`, `critical`, `maintenance`, `disabled`.
    pub status: String,
    /// Link to it on PagerDuty.
    pub pagerduty_url: String,
    /// Its escalation policy, by name.
    pub escalation_policy: Option<String>,
    /// Hidden and never paged.
    pub ignored: bool,
}

impl From<ServiceRow> for ServiceChoice {
    fn from(s: ServiceRow) -> Self {
        ServiceChoice {
            id: s.pagerduty_id,
            name: s.name,
            summary: s.summary,
            status: s.status,
            pagerduty_url: s.web_url,
            escalation_policy: s.escalation_policy_name,
            ignored: s.ignore,
        }
    }
}

/// Where a page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStatus {
    /// Recorded, not yet accepted by PagerDuty (it is retried).
    Pending,
    /// PagerDuty accepted it.
    Sent,
    /// PagerDuty refused it; see the error.
    Failed,
}

/// A page, as shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageInfo {
    /// Identifier.
    pub id: Uuid,
    /// `incident_key` / `dedup_key` sent to PagerDuty.
    pub key: String,
    /// The incident, if any.
    pub incident_id: Option<IncidentId>,
    /// The service.
    pub service_id: String,
    /// Its name.
    pub service_name: String,
    /// The title sent.
    pub title: String,
    /// Where it stands.
    pub status: PageStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Link to the PagerDuty incident (or service, for Events API pages).
    pub pagerduty_url: Option<String>,
    /// PagerDuty's incident number.
    pub incident_number: Option<i64>,
    /// Who asked.
    pub requested_by: Option<UserId>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When PagerDuty accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

impl PageInfo {
    fn from_row(row: PageRow, service_name: String) -> PageInfo {
        PageInfo {
            id: row.id,
            key: row.page_key,
            incident_id: row.incident_id.map(IncidentId),
            service_id: row.service_id,
            service_name,
            title: row.title,
            status: match row.status.as_str() {
                "sent" => PageStatus::Sent,
                "failed" => PageStatus::Failed,
                _ => PageStatus::Pending,
            },
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_error: row.last_error,
            pagerduty_url: row.web_url,
            incident_number: row.incident_number,
            requested_by: row.requested_by,
            created_at: row.created_at,
            sent_at: row.sent_at,
        }
    }
}

/// What asking for a page did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PageOutcome {
    /// PagerDuty accepted the page now.
    Sent {
        /// The page.
        page: PageInfo,
    },
    /// This service was already paged for this incident (or this request): nothing was sent.
    AlreadyPaged {
        /// The earlier page.
        page: PageInfo,
    },
    /// PagerDuty could not take it now; it is saved and sent automatically.
    Queued {
        /// The page.
        page: PageInfo,
        /// Why it is not sent yet.
        reason: String,
    },
    /// Another request is sending this page right now.
    InProgress {
        /// The page.
        page: PageInfo,
    },
}

impl PageOutcome {
    /// The page.
    pub fn page(&self) -> &PageInfo {
        match self {
            PageOutcome::Sent { page }
            | PageOutcome::AlreadyPaged { page }
            | PageOutcome::Queued { page, .. }
            | PageOutcome::InProgress { page } => page,
        }
    }

    /// A sentence for the person who asked.
    pub fn message(&self) -> String {
        let page = self.page();
        match self {
            PageOutcome::Sent { .. } => format!(
                "The {} on-call was paged on PagerDuty{}.",
                page.service_name,
                page.pagerduty_url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
            PageOutcome::AlreadyPaged { .. } => format!(
                "The {} on-call was already paged{}; nothing was sent again.",
                page.service_name,
                page.incident_id
                    .map(|i| format!(" for incident {i}"))
                    .unwrap_or_default()
            ),
            PageOutcome::Queued { reason, .. } => format!(
                "PagerDuty could not take the page right now ({reason}). It is saved and will be sent automatically."
            ),
            PageOutcome::InProgress { .. } => format!(
                "The {} on-call is being paged right now; nothing was sent twice.",
                page.service_name
            ),
        }
    }
}

/// What one delivery pass did (the `pagerduty.trigger_oncall` task).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Pages accepted by PagerDuty.
    pub sent: usize,
    /// Pages still waiting (PagerDuty unavailable).
    pub retrying: usize,
    /// Pages refused or given up.
    pub failed: usize,
    /// Pages put on their incident's timeline.
    pub recorded: usize,
}

impl std::fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} page(s) sent, {} retrying, {} failed, {} recorded on timelines",
            self.sent, self.retrying, self.failed, self.recorded
        )
    }
}

// ------------------------------------------------------------------ data functions

/// Services that can be paged (not ignored), by name; with the ignored ones when asked.
pub async fn services(app: &Firefighter, include_ignored: bool) -> Result<Vec<ServiceChoice>> {
    let store = crate::store_of(app)?;
    Ok(store
        .services(include_ignored)
        .await?
        .into_iter()
        .map(ServiceChoice::from)
        .collect())
}

/// Services that can still be paged for an incident: not ignored, and not
/// already paged (or being paged) for it. For Slack's `/incident oncall`.
pub async fn services_not_yet_paged(
    app: &Firefighter,
    incident: IncidentId,
) -> Result<Vec<ServiceChoice>> {
    services_left(&crate::store_of(app)?, incident).await
}

pub(crate) async fn services_left(
    store: &PagerDutyStore,
    incident: IncidentId,
) -> Result<Vec<ServiceChoice>> {
    let taken: Vec<String> = store
        .pages_for_incident(incident)
        .await?
        .into_iter()
        .filter(|p| p.status != "failed")
        .map(|p| p.service_id)
        .collect();
    Ok(store
        .services(false)
        .await?
        .into_iter()
        .filter(|s| !taken.contains(&s.pagerduty_id))
        .map(ServiceChoice::from)
        .collect())
}

/// The pages of an incident, oldest first.
pub async fn pages(app: &Firefighter, incident: IncidentId) -> Result<Vec<PageInfo>> {
    let store = crate::store_of(app)?;
    let names = service_names(&store).await?;
    Ok(store
        .pages_for_incident(incident)
        .await?
        .into_iter()
        .map(|p| {
            let name = names
                .get(&p.service_id)
                .cloned()
                .unwrap_or_else(|| p.service_id.clone());
            PageInfo::from_row(p, name)
        })
        .collect())
}

/// The latest pages (with or without incident), newest first.
pub async fn recent_pages(app: &Firefighter, limit: u32) -> Result<Vec<PageInfo>> {
    let store = crate::store_of(app)?;
    let names = service_names(&store).await?;
    Ok(store
        .recent_pages(limit)
        .await?
        .into_iter()
        .map(|p| {
            let name = names
                .get(&p.service_id)
                .cloned()
                .unwrap_or_else(|| p.service_id.clone());
            PageInfo::from_row(p, name)
        })
        .collect())
}

/// Flags a service ignored (hidden, never paged, its policy left out of the
/// roster and invitations) or not. Kept across syncs.
pub async fn set_service_ignored(app: &Firefighter, service_id: &str, ignore: bool) -> Result<()> {
    let store = crate::store_of(app)?;
    if store.set_service_ignored(service_id, ignore).await? {
        Ok(())
    } else {
        Err(Error::UnknownService(service_id.to_owned()))
    }
}

/// Pages the on-call of a service (see [`PagerDuty::trigger_oncall`]), with
/// the PagerDuty configuration read from the environment.
pub async fn trigger_oncall(app: &Firefighter, request: PageRequest) -> Result<PageOutcome> {
    let pagerduty = PagerDuty::from_env(app.store().clone())?.ok_or_else(|| {
        Error::Config("PagerDuty is switched off (ENABLE_PAGERDUTY is not set)".into())
    })?;
    pagerduty.trigger_oncall(app, request).await
}

async fn service_names(store: &PagerDutyStore) -> Result<HashMap<String, String>> {
    Ok(store
        .services(true)
        .await?
        .into_iter()
        .map(|s| (s.pagerduty_id, s.name))
        .collect())
}

// ------------------------------------------------------------------ sending

impl PagerDuty {
    /// Pages the on-call of `request.service_id`: once per incident and
    /// service (or once per `request_id` without incident), whatever the
    /// number of submissions or retries. Validation errors, an unknown or
    /// ignored service and PagerDuty refusals are errors; PagerDuty being
    /// unavailable is not (the page is queued and sent later).
    pub async fn trigger_oncall(
        &self,
        app: &Firefighter,
        request: PageRequest,
    ) -> Result<PageOutcome> {
        let summary = request.summary.trim();
        if summary.is_empty() {
            return Err(Error::Invalid(
                "say what is going on (the title is empty)".into(),
            ));
        }
        if summary.chars().count() > MAX_SUMMARY_CHARS {
            return Err(Error::Invalid(format!(
                "the title must be at most {MAX_SUMMARY_CHARS} characters long"
            )));
        }
        if request.details.chars().count() > MAX_DETAILS_CHARS {
            return Err(Error::Invalid(format!(
                "the details must be at most {MAX_DETAILS_CHARS} characters long"
            )));
        }
        let service_id = request.service_id.trim();
        let service = self
            .store
            .service(service_id)
            .await?
            .ok_or_else(|| Error::UnknownService(service_id.to_owned()))?;
        if service.ignore {
            return Err(Error::IgnoredService(service.name));
        }
        let incident = match request.incident_id {
            Some(id) => Some(app.incident(id).await?),
            None => None,
        };
        if let Some(incident) = &incident
            && let Some(existing) = self
                .store
                .page_for(incident.id, &service.pagerduty_id)
                .await?
        {
            return self
                .resume(app, existing, &service, &request, incident)
                .await;
        }
        let key = match &incident {
            Some(i) => incident_page_key(i, app.time_zone(), &service.pagerduty_id),
            None => request_page_key(request.request_id.as_deref(), &service.pagerduty_id),
        };
        let new = self
            .new_page(app, key, &service, &request, incident.as_ref())
            .await?;
        if !self
            .store
            .insert_page(&new, firefighter_core::store::now())
            .await?
        {
            // Someone recorded it first (a double submit racing this one).
            let existing = match &incident {
                Some(i) => self.store.page_for(i.id, &service.pagerduty_id).await?,
                None => self.store.page_by_key(&new.page_key).await?,
            }
            .ok_or_else(|| {
                Error::Invalid("this page was just recorded by another request; try again".into())
            })?;
            if existing.status == "failed" {
                return self.retry_failed(app, existing, new, &service).await;
            }
            return self.attempt(app, existing, &service).await;
        }
        let row = self.page_row(&new.page_key).await?;
        self.attempt(app, row, &service).await
    }

    async fn resume(
        &self,
        app: &Firefighter,
        existing: PageRow,
        service: &ServiceRow,
        request: &PageRequest,
        incident: &Incident,
    ) -> Result<PageOutcome> {
        match existing.status.as_str() {
            "failed" => {
                let new = self
                    .new_page(
                        app,
                        existing.page_key.clone(),
                        service,
                        request,
                        Some(incident),
                    )
                    .await?;
                self.retry_failed(app, existing, new, service).await
            }
            _ => self.attempt(app, existing, service).await,
        }
    }

    async fn retry_failed(
        &self,
        app: &Firefighter,
        existing: PageRow,
        mut new: NewPageRow,
        service: &ServiceRow,
    ) -> Result<PageOutcome> {
        new.page_key = existing.page_key;
        self.store
            .reset_failed_page(&new, firefighter_core::store::now())
            .await?;
        let row = self.page_row(&new.page_key).await?;
        self.attempt(app, row, service).await
    }

    async fn page_row(&self, key: &str) -> Result<PageRow> {
        self.store
            .page_by_key(key)
            .await?
            .ok_or_else(|| Error::Invalid(format!("page {key} vanished while being sent")))
    }

    async fn new_page(
        &self,
        app: &Firefighter,
        page_key: String,
        service: &ServiceRow,
        request: &PageRequest,
        incident: Option<&Incident>,
    ) -> Result<NewPageRow> {
        let (details, conference_url) =
            page_details(app, incident, request.requested_by, request.details.trim()).await?;
        Ok(NewPageRow {
            page_key,
            incident_id: incident.map(|i| i.id),
            service_id: service.pagerduty_id.clone(),
            title: request.summary.trim().to_owned(),
            details,
            conference_url,
            requested_by: request.requested_by,
            api: if self.config.routing_key(&service.pagerduty_id).is_some() {
                "events"
            } else {
                "rest"
            },
        })
    }

    /// One attempt at sending a pending page, holding its lease.
    async fn attempt(
        &self,
        app: &Firefighter,
        row: PageRow,
        service: &ServiceRow,
    ) -> Result<PageOutcome> {
        if row.status == "sent" {
            return Ok(PageOutcome::AlreadyPaged {
                page: PageInfo::from_row(row, service.name.clone()),
            });
        }
        let at = firefighter_core::store::now();
        if !self.store.claim_page(row.id, at, at + lease()).await? {
            let current = self.page_row(&row.page_key).await?;
            let page = PageInfo::from_row(current, service.name.clone());
            return Ok(match page.status {
                PageStatus::Sent => PageOutcome::AlreadyPaged { page },
                _ => PageOutcome::InProgress { page },
            });
        }
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        match self.send(app, &row, service).await {
            Ok(sent) => {
                self.store
                    .mark_page_sent(row.id, &sent, firefighter_core::store::now())
                    .await?;
                let row = self.page_row(&row.page_key).await?;
                self.record_on_timeline(app, &row, &service.name).await;
                tracing::info!(page = %row.page_key, service = %service.pagerduty_id, "on-call paged");
                Ok(PageOutcome::Sent {
                    page: PageInfo::from_row(row, service.name.clone()),
                })
            }
            Err(e) if e.is_retryable() => {
                let delay = e.retry_after().unwrap_or_else(|| backoff(attempts));
                let next = firefighter_core::store::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(1));
                self.store
                    .mark_page_failed(
                        row.id,
                        &e.to_string(),
                        Some(next),
                        firefighter_core::store::now(),
                    )
                    .await?;
                tracing::warn!(page = %row.page_key, error = %e, retry_at = %next, "page not sent yet; queued");
                let row = self.page_row(&row.page_key).await?;
                Ok(PageOutcome::Queued {
                    page: PageInfo::from_row(row, service.name.clone()),
                    reason: e.to_string(),
                })
            }
            Err(e) => {
                self.store
                    .mark_page_failed(row.id, &e.to_string(), None, firefighter_core::store::now())
                    .await?;
                tracing::warn!(page = %row.page_key, error = %e, "PagerDuty refused the page");
                Err(e)
            }
        }
    }

    async fn send(
        &self,
        app: &Firefighter,
        row: &PageRow,
        service: &ServiceRow,
    ) -> Result<SentPage> {
        if row.api == "events" {
            let Some(routing_key) = self.config.routing_key(&row.service_id) else {
                return Err(Error::Config(format!(
                    "service {} has no Events API key in PAGERDUTY_ROUTING_KEYS any more",
                    row.service_id
                )));
            };
            use secrecy::ExposeSecret;
            let settings = app.settings();
            let mut links = Vec::new();
            if let Some(id) = row.incident_id {
                links.push(EventLink {
                    href: settings.incident_url(IncidentId(id)),
                    text: format!("{} incident #{id}", settings.app_display_name),
                });
            }
            if !row.conference_url.is_empty() && !links.iter().any(|l| l.href == row.conference_url)
            {
                links.push(EventLink {
                    href: row.conference_url.clone(),
                    text: "Where responders meet".into(),
                });
            }
            let event = Event {
                routing_key: routing_key.expose_secret().to_owned(),
                event_action: "trigger",
                dedup_key: row.page_key.clone(),
                payload: EventPayload {
                    summary: row.title.clone(),
                    source: settings.base_url().to_owned(),
                    severity: "critical",
                    custom_details: Some(serde_json::json!({ "details": row.details })),
                },
                client: Some(settings.app_display_name.clone()),
                client_url: Some(settings.base_url().to_owned()),
                links,
            };
            self.events.enqueue(&event).await?;
            return Ok(SentPage {
                pagerduty_status: Some("triggered".into()),
                web_url: Some(service.web_url.clone()).filter(|u| !u.is_empty()),
                ..SentPage::default()
            });
        }
        let incident = NewIncident {
            kind: "incident",
            title: row.title.clone(),
            service: Reference::to("service_reference", &row.service_id),
            urgency: "high",
            incident_key: row.page_key.clone(),
            // The details go in a note: the official schema types
            // `incident.body.details` as an object while the API takes text,
            // and a note is valid for both.
            body: None,
            conference_bridge: (!row.conference_url.is_empty()).then(|| ConferenceBridge {
                conference_url: row.conference_url.clone(),
            }),
        };
        let created = match self.rest.create_incident(incident).await {
            Ok(created) => {
                if !row.details.trim().is_empty()
                    && let Err(e) = self.rest.add_note(&created.id, &row.details).await
                {
                    // The page is sent; only the details are missing from PagerDuty.
                    tracing::warn!(page = %row.page_key, error = %e, "paged, but could not add the details as a note");
                }
                created
            }
            // An earlier attempt may have created it and lost the answer:
            // PagerDuty then refuses the same incident_key.
            Err(e @ Error::Api { status: 400, .. }) => {
                match self
                    .rest
                    .incident_by_key(&row.service_id, &row.page_key)
                    .await
                {
                    Ok(Some(found)) => found,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(SentPage {
            pagerduty_incident_id: Some(created.id),
            incident_number: created.incident_number,
            pagerduty_status: created.status,
            web_url: created.html_url,
            api_url: created.api_url,
        })
    }

    async fn record_on_timeline(
        &self,
        app: &Firefighter,
        row: &PageRow,
        service_name: &str,
    ) -> bool {
        let Some(id) = row.incident_id else {
            return false;
        };
        let text = match &row.web_url {
            Some(url) => format!("Triggered the {service_name} on-call on PagerDuty: {url}"),
            None => format!("Triggered the {service_name} on-call on PagerDuty."),
        };
        match app
            .post_message(
                IncidentId(id),
                row.requested_by,
                &text,
                Some(PAGE_EVENT_TYPE),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(page = %row.page_key, error = %e, "could not record the page on the timeline; will retry");
                return false;
            }
            Err(e) => {
                tracing::warn!(page = %row.page_key, error = %e, "could not record the page on the timeline; giving up");
            }
        }
        if let Err(e) = self.store.mark_page_recorded(row.id).await {
            tracing::warn!(page = %row.page_key, error = %e, "could not mark the page as recorded");
        }
        true
    }

    /// Sends due pending pages and records sent pages missing from their
    /// incident's timeline (the `pagerduty.trigger_oncall` task).
    pub async fn deliver_pending(&self, app: &Firefighter) -> Result<DeliveryReport> {
        self.deliver_due(app, firefighter_core::store::now()).await
    }

    /// [`PagerDuty::deliver_pending`] as if it were `at` (pages due by then are sent).
    pub async fn deliver_due(
        &self,
        app: &Firefighter,
        at: DateTime<Utc>,
    ) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let services: HashMap<String, ServiceRow> = self
            .store
            .services(true)
            .await?
            .into_iter()
            .map(|s| (s.pagerduty_id.clone(), s))
            .collect();
        for row in self.store.due_pages(at, 100).await? {
            let Some(service) = services.get(&row.service_id) else {
                continue;
            };
            if row.status == "sent" {
                if self.record_on_timeline(app, &row, &service.name).await {
                    report.recorded += 1;
                }
                continue;
            }
            let age = (at - row.created_at).to_std().unwrap_or_default();
            if age > GIVE_UP_AFTER || service.ignore {
                let why = if service.ignore {
                    format!("the service {} is now ignored", service.name)
                } else {
                    format!(
                        "not accepted by PagerDuty after 24 hours of retries (last error: {})",
                        row.last_error.as_deref().unwrap_or("none")
                    )
                };
                self.store.mark_page_failed(row.id, &why, None, at).await?;
                tracing::error!(page = %row.page_key, "page given up: {why}");
                report.failed += 1;
                continue;
            }
            match self.attempt(app, row, service).await {
                Ok(PageOutcome::Sent { .. }) => {
                    report.sent += 1;
                    report.recorded += 1;
                }
                Ok(PageOutcome::Queued { .. }) => report.retrying += 1,
                Ok(_) => {}
                Err(_) => report.failed += 1,
            }
        }
        Ok(report)
    }
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(90))
}

/// 30 s, 1 min, 2 min... up to 10 min.
fn backoff(attempts: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(10)))
        .min(MAX_RETRY)
}

/// FireFighter's key for an incident's page: `<YYYYMMDD-id>-<service id>`.
fn incident_page_key(incident: &Incident, tz: chrono_tz::Tz, service_id: &str) -> String {
    format!(
        "{}-{}",
        incident.canonical_name(tz),
        service_id.to_lowercase()
    )
}

/// The key of a page without incident: one per request id (a fresh one when none).
fn request_page_key(request_id: Option<&str>, service_id: &str) -> String {
    let id: String = request_id
        .map(|r| {
            r.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(64)
                .collect()
        })
        .filter(|r: &String| !r.is_empty())
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    format!("firefighter-{id}-{}", service_id.to_lowercase())
}

/// The details sent to PagerDuty and the meeting place: the incident's
/// priority, environment, category, page and channel, then the text typed.
async fn page_details(
    app: &Firefighter,
    incident: Option<&Incident>,
    requested_by: Option<UserId>,
    typed: &str,
) -> Result<(String, String)> {
    let settings = app.settings();
    let by = match requested_by {
        Some(id) => app
            .store()
            .user(id)
            .await?
            .map(|u| if u.name.is_empty() { u.email } else { u.name }),
        None => None,
    };
    let by = by.map(|n| format!(" by {n}")).unwrap_or_default();
    let Some(incident) = incident else {
        let header = format!("Triggered from {}{by}", settings.app_display_name);
        return Ok((join_details(&header, "", typed), String::new()));
    };
    let catalog = app.catalog().await?;
    let mut lines = vec![format!(
        "Triggered from {} incident #{}{by}",
        settings.app_display_name, incident.id.0
    )];
    if let Some(p) = catalog
        .priorities
        .iter()
        .find(|p| p.id == incident.priority_id)
    {
        lines.push(format!("Priority: {}", p.name));
    }
    let envs: Vec<&str> = incident
        .environment_ids
        .iter()
        .filter_map(|id| catalog.environments.iter().find(|e| e.id == *id))
        .map(|e| e.value.as_str())
        .collect();
    if !envs.is_empty() {
        lines.push(format!("Environment: {}", envs.join(", ")));
    }
    if let Some(c) = catalog
        .categories
        .iter()
        .find(|c| c.id == incident.category_id)
    {
        match catalog.groups.iter().find(|g| g.id == c.group_id) {
            Some(g) => lines.push(format!("Category: {} – {}", g.name, c.name)),
            None => lines.push(format!("Category: {}", c.name)),
        }
    }
    let incident_url = settings.incident_url(incident.id);
    lines.push(format!("Incident page: {incident_url}"));
    let channel = app
        .store()
        .incident_events(incident.id)
        .await?
        .into_iter()
        .rev()
        .find_map(|e| match e.event {
            IncidentEvent::ChannelReady { channel } => Some(channel),
            _ => None,
        });
    let conference_url = match &channel {
        Some(c) => {
            let platform = capitalized(&c.platform);
            lines.push(format!("{platform} channel: #{} {}", c.name, c.url));
            c.url.clone()
        }
        None => incident_url,
    };
    let header = lines.join("\n");
    Ok((
        join_details(&header, &incident.description, typed),
        conference_url,
    ))
}

fn join_details(header: &str, description: &str, typed: &str) -> String {
    let mut text = header.to_owned();
    for part in [description.trim(), typed.trim()] {
        if !part.is_empty() && !text.contains(part) {
            text.push_str("\n\n");
            text.push_str(part);
        }
    }
    text
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_safe() {
        assert_eq!(
            request_page_key(Some("ab c/../d"), "PX1Y"),
            "firefighter-abcd-px1y"
        );
        let a = request_page_key(None, "P1");
        let b = request_page_key(None, "P1");
        assert_ne!(a, b);
        assert!(request_page_key(Some(&"x".repeat(500)), "P").len() < 100);
    }

    #[test]
    fn retry_delays_grow_and_stop() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(30), MAX_RETRY);
    }

    #[test]
    fn details_keep_every_part_once() {
        assert_eq!(join_details("H", "desc", "desc"), "H\n\ndesc");
        assert_eq!(join_details("H", "", "typed"), "H\n\ntyped");
        assert_eq!(capitalized("slack"), "Slack");
    }
}
