//! Wire types: the only serde types mirroring PagerDuty's APIs. Fields
//! PagerDuty may leave out are optional, unknown fields are ignored.

mod events;
mod rest;

pub use events::{Event, EventAccepted, EventLink, EventPayload};
pub use rest::{
    ConferenceBridge, ContactMethod, EscalationPolicy, Incident, IncidentBody, ListPage,
    NewIncident, NewIncidentRequest, Oncall, Reference, Service, Team, User,
};
