//! Asking for a page: the request is checked, then recorded exactly once
//! per incident and service (or per request id) before anything is sent.

use firefighter_core::oncall::PageRequest;
use firefighter_core::{Firefighter, Incident};
use uuid::Uuid;

use super::details::page_details;
use super::page::PageOutcome;
use crate::store::{NewPageRow, PageRow, ServiceRow};
use crate::{Error, PagerDuty, Result};

/// Longest title (PagerDuty's Events API takes 1,024 characters).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest details text a person may type.
pub const MAX_DETAILS_CHARS: usize = 10_000;

/// Pages the on-call of a service (see [`PagerDuty::trigger_oncall`]), with
/// the PagerDuty configuration read from the environment.
pub async fn trigger_oncall(app: &Firefighter, request: PageRequest) -> Result<PageOutcome> {
    let pagerduty = PagerDuty::from_env(app.store().clone())?.ok_or_else(|| {
        Error::Config("PagerDuty is switched off (ENABLE_PAGERDUTY is not set)".into())
    })?;
    pagerduty.trigger_oncall(app, request).await
}

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

    pub(super) async fn page_row(&self, key: &str) -> Result<PageRow> {
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
}
