//! Which services can be paged: not ignored, and not already paged for the incident.

use firefighter_core::{Firefighter, IncidentId};
use serde::Serialize;

use crate::store::{PagerDutyStore, ServiceRow};
use crate::{Error, Result};

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
