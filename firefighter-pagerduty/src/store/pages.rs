//! Pages (`pd_pages`): recorded once, leased while sent, then marked sent or failed.

use chrono::{DateTime, Utc};
use firefighter_core::{IncidentId, UserId};
use uuid::Uuid;

use super::PagerDutyStore;
use crate::Result;

/// A page (a PagerDuty incident firefighter sends or sent).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct PageRow {
    pub(crate) id: Uuid,
    pub(crate) page_key: String,
    pub(crate) incident_id: Option<i64>,
    pub(crate) service_id: String,
    pub(crate) title: String,
    pub(crate) details: String,
    pub(crate) conference_url: String,
    pub(crate) requested_by: Option<UserId>,
    pub(crate) api: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) next_attempt_at: DateTime<Utc>,
    pub(crate) lease_until: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
    pub(crate) pagerduty_incident_id: Option<String>,
    pub(crate) incident_number: Option<i64>,
    pub(crate) pagerduty_status: Option<String>,
    pub(crate) web_url: Option<String>,
    pub(crate) api_url: Option<String>,
    pub(crate) timeline_recorded: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) sent_at: Option<DateTime<Utc>>,
}

/// What PagerDuty said about a sent page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SentPage {
    pub(crate) pagerduty_incident_id: Option<String>,
    pub(crate) incident_number: Option<i64>,
    pub(crate) pagerduty_status: Option<String>,
    pub(crate) web_url: Option<String>,
    pub(crate) api_url: Option<String>,
}

/// A page to record before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct NewPageRow {
    pub(crate) page_key: String,
    pub(crate) incident_id: Option<IncidentId>,
    pub(crate) service_id: String,
    pub(crate) title: String,
    pub(crate) details: String,
    pub(crate) conference_url: String,
    pub(crate) requested_by: Option<UserId>,
    pub(crate) api: &'static str,
}

macro_rules! page_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, page_key, incident_id, service_id, title, details, conference_url, \
             requested_by, api, status, attempts, next_attempt_at, lease_until, last_error, \
             pagerduty_incident_id, incident_number, pagerduty_status, web_url, api_url, \
             timeline_recorded, created_at, updated_at, sent_at FROM pd_pages ",
            $tail
        )
    };
}

impl PagerDutyStore {
    /// Records a page to send; false when its key (or its incident and
    /// service) is already recorded.
    pub(crate) async fn insert_page(&self, page: &NewPageRow, at: DateTime<Utc>) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            let inserted = sqlx::query::<Db>(
                "INSERT INTO pd_pages (id, page_key, incident_id, service_id, title, details, conference_url, \
                 requested_by, api, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10) ON CONFLICT DO NOTHING",
            )
            .bind(Uuid::new_v4())
            .bind(page.page_key.clone())
            .bind(page.incident_id.map(|i| i.0))
            .bind(page.service_id.clone())
            .bind(page.title.clone())
            .bind(page.details.clone())
            .bind(page.conference_url.clone())
            .bind(page.requested_by)
            .bind(page.api)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// A failed page asked for again: back to pending with the new request.
    pub(crate) async fn reset_failed_page(
        &self,
        page: &NewPageRow,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query::<Db>(
                "UPDATE pd_pages SET status = 'pending', title = $2, details = $3, conference_url = $4, \
                 requested_by = $5, api = $6, attempts = 0, last_error = NULL, next_attempt_at = $7, updated_at = $7 \
                 WHERE page_key = $1 AND status = 'failed'",
            )
            .bind(page.page_key.clone())
            .bind(page.title.clone())
            .bind(page.details.clone())
            .bind(page.conference_url.clone())
            .bind(page.requested_by)
            .bind(page.api)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// A page by its key.
    pub(crate) async fn page_by_key(&self, key: &str) -> Result<Option<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query_as::<Db, PageRow>(page_select!("WHERE page_key = $1"))
                    .bind(key.to_owned())
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// The page of an incident to a service, if any.
    pub(crate) async fn page_for(
        &self,
        incident: IncidentId,
        service_id: &str,
    ) -> Result<Option<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE incident_id = $1 AND service_id = $2"
            ))
            .bind(incident.0)
            .bind(service_id.to_owned())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Every page of an incident, oldest first.
    pub(crate) async fn pages_for_incident(&self, incident: IncidentId) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE incident_id = $1 ORDER BY created_at, id"
            ))
            .bind(incident.0)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The latest pages, newest first.
    pub(crate) async fn recent_pages(&self, limit: u32) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query_as::<Db, PageRow>(page_select!(
                    "ORDER BY created_at DESC, id LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?,
            )
        })
    }

    /// Takes the right to send a pending page until `lease_until`, for this
    /// instance; false when it was sent, failed, or someone else is sending
    /// it (an instance whose heartbeat stopped is no one: its lease is free).
    pub(crate) async fn claim_page(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query::<Db>(
                "UPDATE pd_pages SET lease_until = $2, lease_owner = $4, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = $1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3 \
                 OR lease_owner IN (SELECT i.id FROM instances i WHERE i.heartbeat_at < $5))",
            )
            .bind(id)
            .bind(lease_until)
            .bind(at)
            .bind(firefighter_core::instance::id())
            .bind(firefighter_core::instance::presumed_dead_before(at))
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Records that PagerDuty accepted a page.
    pub(crate) async fn mark_page_sent(
        &self,
        id: Uuid,
        sent: &SentPage,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>(
                "UPDATE pd_pages SET status = 'sent', lease_until = NULL, lease_owner = NULL, last_error = NULL, \
                 pagerduty_incident_id = $2, incident_number = $3, pagerduty_status = $4, web_url = $5, \
                 api_url = $6, sent_at = $7, updated_at = $7 WHERE id = $1",
            )
            .bind(id)
            .bind(sent.pagerduty_incident_id.clone())
            .bind(sent.incident_number)
            .bind(sent.pagerduty_status.clone())
            .bind(sent.web_url.clone())
            .bind(sent.api_url.clone())
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    pub(crate) async fn mark_page_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>(
                "UPDATE pd_pages SET status = CASE WHEN $3 THEN 'pending' ELSE 'failed' END, lease_until = NULL, lease_owner = NULL, \
                 last_error = $2, next_attempt_at = COALESCE($4, next_attempt_at), updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(error.to_owned())
            .bind(retry_at.is_some())
            .bind(retry_at)
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records that the page is on the incident's timeline.
    pub(crate) async fn mark_page_recorded(&self, id: Uuid) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>("UPDATE pd_pages SET timeline_recorded = TRUE WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Pages with work left at `at`: pending and due, or sent but not yet
    /// on their incident's timeline.
    pub(crate) async fn due_pages(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE (status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1 \
                 OR lease_owner IN (SELECT i.id FROM instances i WHERE i.heartbeat_at < $3))) \
                 OR (status = 'sent' AND incident_id IS NOT NULL AND NOT timeline_recorded) \
                 ORDER BY created_at, id LIMIT $2"
            ))
            .bind(at)
            .bind(i64::from(limit))
            .bind(firefighter_core::instance::presumed_dead_before(at))
            .fetch_all(pool)
            .await?)
        })
    }
}
