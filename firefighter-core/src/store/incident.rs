//! Incidents: declared, changed, read and listed, with their timelines.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Incident, IncidentCost, IncidentDetails, IncidentEvent, IncidentFilter, IncidentId, KeyEvent,
    Result, RoleTypeId, TimelineEntry, UserId, Viewer,
};

/// A new incident, fully decided by the caller; the store assigns the id.
#[derive(Debug, Clone)]
pub struct NewIncidentRecord {
    /// The incident; its `id` and `version` are ignored.
    pub incident: Incident,
    /// Roles to assign.
    pub roles: Vec<(RoleTypeId, UserId)>,
    /// Members to add.
    pub members: Vec<UserId>,
    /// Key events to record.
    pub key_events: Vec<KeyEvent>,
    /// Timeline entries; their `incident_id` is filled in by the store.
    pub timeline: Vec<TimelineEntry>,
    /// Events to publish.
    pub events: Vec<IncidentEvent>,
    /// The handlers each event is delivered to.
    pub subscribers: Arc<[String]>,
    /// Who declares, for the `dedup_key`: an open incident with the key
    /// counts only if this viewer may see it (see [`IncidentStore::declare`]).
    pub dedup_viewer: Viewer,
    /// The caller's key for this declaration (an API `Idempotency-Key`): a
    /// repeat with the key gets the incident it declared, whatever its status.
    pub request_key: Option<String>,
}

/// What [`IncidentStore::declare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    /// A new incident was created.
    Created(Incident),
    /// An open incident with the same `dedup_key` exists; nothing was written.
    Existing(Incident),
}

/// A change of an existing incident, fully decided by the caller.
#[derive(Debug, Clone)]
pub struct IncidentChange {
    /// The incident's version the change was computed from; the write fails
    /// with [`crate::Error::Conflict`] if it changed meanwhile.
    pub expected_version: i64,
    /// The incident after the change (every mutable column is written).
    pub incident: Incident,
    /// Whether the environments changed (they are then replaced).
    pub environments_changed: bool,
    /// Whether the tags changed (they are then replaced).
    pub tags_changed: bool,
    /// Roles to assign (replacing the holder of that role type).
    pub roles_set: Vec<(RoleTypeId, UserId)>,
    /// Role types to clear.
    pub roles_cleared: Vec<RoleTypeId>,
    /// Members to add (ignored if already members).
    pub members_added: Vec<UserId>,
    /// Key events to set (replacing the same type).
    pub key_events_set: Vec<KeyEvent>,
    /// Key event types to clear.
    pub key_events_cleared: Vec<String>,
    /// Costs to add.
    pub costs_added: Vec<IncidentCost>,
    /// Post-mortem documents created with the change (one that exists
    /// already for that incident and backend is left as it is).
    pub postmortems_added: Vec<crate::postmortem::PostMortem>,
    /// Timeline entries to append.
    pub timeline: Vec<TimelineEntry>,
    /// Events to publish.
    pub events: Vec<IncidentEvent>,
    /// The handlers each event is delivered to.
    pub subscribers: Arc<[String]>,
    /// The caller's idempotency key, recorded with the change (see
    /// [`IncidentStore::request_applied`]); a second change with the same key fails.
    pub request_key: Option<String>,
}

impl IncidentChange {
    /// A change that writes nothing yet, starting from `incident`.
    pub fn from(incident: &Incident, subscribers: Arc<[String]>) -> IncidentChange {
        IncidentChange {
            expected_version: incident.version,
            incident: incident.clone(),
            environments_changed: false,
            tags_changed: false,
            roles_set: Vec::new(),
            roles_cleared: Vec::new(),
            members_added: Vec::new(),
            key_events_set: Vec::new(),
            key_events_cleared: Vec::new(),
            costs_added: Vec::new(),
            postmortems_added: Vec::new(),
            timeline: Vec::new(),
            events: Vec::new(),
            subscribers,
            request_key: None,
        }
    }
}

/// Incidents: each write is one transaction with its timeline entries and outbox events.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait IncidentStore: Send + Sync + std::fmt::Debug + 'static {
    /// Declares an incident (see [`Declared`]). A record with a
    /// `dedup_key` gets, instead, the open incident holding the key that its
    /// `dedup_viewer` may see (or that holds it for that declarer alone);
    /// else it is new, and holds the key for its declarer alone when holding
    /// it for everybody would show them an incident they may not see. So a
    /// key held out of the declarer's sight is, to them, a free key.
    async fn declare(&self, record: NewIncidentRecord) -> Result<Declared>;
    /// Applies a change; returns the incident as stored afterwards.
    async fn apply(&self, change: IncidentChange) -> Result<Incident>;
    /// Appends timeline entries and events to an incident without changing it
    /// (integrations recording what they did).
    async fn append(
        &self,
        incident: IncidentId,
        timeline: Vec<TimelineEntry>,
        events: Vec<IncidentEvent>,
        subscribers: Arc<[String]>,
    ) -> Result<()>;
    /// An incident.
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>>;
    /// An incident with roles, members, key events and costs.
    async fn incident_details(&self, id: IncidentId) -> Result<Option<IncidentDetails>>;
    /// Incidents matching a filter.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// Incidents matching a filter, with their details (one read of each
    /// child table per chunk of incidents).
    async fn list_incident_details(&self, filter: &IncidentFilter) -> Result<Vec<IncidentDetails>> {
        let incidents = self.list_incidents(filter).await?;
        self.incident_details_many(incidents).await
    }
    /// Roles, members, key events and costs of many incidents at once (lists and exports), in the given order.
    async fn incident_details_many(&self, incidents: Vec<Incident>)
    -> Result<Vec<IncidentDetails>>;
    /// A recorded cost.
    async fn incident_cost(&self, id: crate::CostId) -> Result<Option<IncidentCost>>;
    /// How many incidents match a filter (ignoring offset and limit).
    async fn count_incidents(&self, filter: &IncidentFilter) -> Result<u64>;
    /// The timeline of an incident, newest first.
    async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>>;
    /// The incident a change with this idempotency key was applied to, if any.
    async fn request_applied(&self, key: &str) -> Result<Option<IncidentId>>;
    /// Adds (`member`) or removes a member of an incident; false when nothing changed.
    async fn set_incident_member(
        &self,
        incident: IncidentId,
        user: UserId,
        member: bool,
    ) -> Result<bool>;
}
