//! Reading incidents.

use crate::{Error, Incident, IncidentDetails, IncidentFilter, IncidentId, Result, TimelineEntry};

use super::Firefighter;

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
}
