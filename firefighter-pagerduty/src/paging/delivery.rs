//! Delivering pages: one attempt holds a short lease on the page, a page
//! PagerDuty could not take is retried with growing delays (and given up
//! after a day), and a sent page is put on its incident's timeline.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firefighter_core::{Firefighter, IncidentId};

use super::page::{PageInfo, PageOutcome, PageStatus};
use crate::store::{PageRow, ServiceRow};
use crate::{PagerDuty, Result};

/// How long one attempt may hold a page.
const LEASE: Duration = Duration::from_secs(90);
/// First retry delay of a page PagerDuty could not take.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// Longest retry delay.
const MAX_RETRY: Duration = Duration::from_secs(600);
/// A page still not sent after this long is given up (and says so).
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The timeline event type of a page (as in FireFighter).
pub const PAGE_EVENT_TYPE: &str = "trigger_oncall";

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

impl PagerDuty {
    /// One attempt at sending a pending page, holding its lease.
    pub(super) async fn attempt(
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

    pub(super) async fn record_on_timeline(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stop() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(30), MAX_RETRY);
    }
}
