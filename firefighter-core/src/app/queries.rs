//! Reading incidents, and what the lifecycle offers next.

use crate::lifecycle::{self, LifecycleFacts, PostMortemState};
use crate::store::Catalog;
use crate::{
    Error, Incident, IncidentDetails, IncidentFilter, IncidentId, Result, Status, TimelineEntry,
    key_event,
};

/// How long the reference data is cached before it is read again (other
use super::{Firefighter, find_priority};

impl Firefighter {
    /// An incident, or [`Error::NotFound`].
    pub async fn incident(&self, id: IncidentId) -> Result<Incident> {
        self.inner
            .store
            .incident(id)
            .await?
            .ok_or_else(|| Error::not_found("incident", id))
    }

    /// An incident with its roles, members, key events and costs.
    pub async fn incident_details(&self, id: IncidentId) -> Result<IncidentDetails> {
        self.inner
            .store
            .incident_details(id)
            .await?
            .ok_or_else(|| Error::not_found("incident", id))
    }

    /// Incidents matching a filter.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        self.inner.store.list_incidents(filter).await
    }

    /// The timeline of an incident, newest first.
    pub async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
        self.incident(id).await?;
        self.inner.store.timeline(id).await
    }

    /// Whether a post-mortem is required: the priority needs one and the incident touches production.
    pub fn postmortem_required(&self, catalog: &Catalog, incident: &Incident) -> bool {
        let needs = catalog
            .priorities
            .iter()
            .find(|p| p.id == incident.priority_id)
            .is_some_and(|p| p.needs_postmortem);
        needs
            && incident.environment_ids.iter().any(|e| {
                catalog
                    .environments
                    .iter()
                    .any(|env| env.id == *e && env.is_production())
            })
    }

    /// The state of the incident's post-mortem across every enabled backend.
    pub async fn postmortem_state(&self, incident: &Incident) -> PostMortemState {
        let states =
            futures::future::join_all(self.inner.postmortem.iter().map(|p| p.state(incident)))
                .await;
        crate::postmortem::combine(states)
    }

    /// The statuses that may be chosen next for an incident (each may still
    /// need a message or a closure reason), for forms.
    pub async fn offered_statuses(&self, id: IncidentId) -> Result<Vec<Status>> {
        let details = self.incident_details(id).await?;
        let catalog = self.catalog().await?;
        let missing = key_event::missing_required(&catalog.milestone_types, &details.key_events);
        let pm = if self.postmortem_required(&catalog, &details.incident) {
            self.postmortem_state(&details.incident).await
        } else {
            PostMortemState::NoBackend
        };
        let priority = find_priority(&catalog, details.incident.priority_id)?;
        Ok(lifecycle::offered_statuses(&LifecycleFacts {
            status: details.incident.status,
            priority_value: priority.value,
            postmortem_required: self.postmortem_required(&catalog, &details.incident),
            ignore: details.incident.ignore,
            was_mitigated: details.incident.mitigated_at.is_some(),
            postmortem: &pm,
            missing_key_events: &missing,
        }))
    }
}
