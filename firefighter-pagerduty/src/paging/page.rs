//! A page as people see it, and what asking for one did.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firefighter_core::{Firefighter, IncidentId, UserId};
use serde::Serialize;
use uuid::Uuid;

use crate::Result;
use crate::store::{PageRow, PagerDutyStore};

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
    pub(super) fn from_row(row: PageRow, service_name: String) -> PageInfo {
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

async fn service_names(store: &PagerDutyStore) -> Result<HashMap<String, String>> {
    Ok(store
        .services(true)
        .await?
        .into_iter()
        .map(|s| (s.pagerduty_id, s.name))
        .collect())
}
