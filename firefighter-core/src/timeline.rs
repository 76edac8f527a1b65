//! The timeline: the append-only record of everything that happened to an
//! incident: who, when, what changed (old → new) and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IncidentId, Status, UpdateId, UserId};

/// Names of the fields a timeline entry can record a change of.
pub mod field {
    /// The status.
    pub const STATUS: &str = "status";
    /// The priority.
    pub const PRIORITY: &str = "priority";
    /// The category.
    pub const CATEGORY: &str = "category";
    /// The title.
    pub const TITLE: &str = "title";
    /// The description.
    pub const DESCRIPTION: &str = "description";
    /// The environments.
    pub const ENVIRONMENTS: &str = "environments";
    /// The `ignore` flag.
    pub const IGNORE: &str = "ignore";
    /// The `private` flag.
    pub const PRIVATE: &str = "private";
    /// The closure reason.
    pub const CLOSURE_REASON: &str = "closure_reason";
    /// The closure reference.
    pub const CLOSURE_REFERENCE: &str = "closure_reference";
    /// Prefix of role changes: `role:commander`.
    pub const ROLE_PREFIX: &str = "role:";
    /// Prefix of key-event changes: `key_event:started`.
    pub const KEY_EVENT_PREFIX: &str = "key_event:";
}

/// Technical event types recorded on the timeline (besides key events).
pub mod event_type {
    /// The incident was closed early with a reason.
    pub const CLOSURE_REASON: &str = "closure_reason";
    /// The incident was downgraded (ignored and closed).
    pub const DOWNGRADED: &str = "downgraded";
    /// Roles changed.
    pub const ROLES: &str = "roles";
    /// Key events changed.
    pub const KEY_EVENTS: &str = "key_events";
    /// A cost was recorded.
    pub const COST: &str = "cost";
    /// On-call was paged.
    pub const TRIGGER_ONCALL: &str = "trigger_oncall";
    /// The incident's channel opened outside office hours (see [`crate::oncall::OffHoursHint`]).
    pub const ONCALL_HINT: &str = "oncall_hint";
    /// An SOS was sent.
    pub const SEND_SOS: &str = "send_sos";
    /// A post-mortem document was created.
    pub const POSTMORTEM_CREATED: &str = "postmortem_created";
    /// The built-in post-mortem was marked ready (or not ready again).
    pub const POSTMORTEM_READY: &str = "postmortem_ready";
    /// An integration recorded facts in `custom_fields` (a Jira ticket...).
    pub const CUSTOM_FIELDS: &str = "custom_fields";
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field (see [`field`]).
    pub field: String,
    /// The value before, as text (`None`: unset).
    pub old: Option<String>,
    /// The value after, as text (`None`: unset).
    pub new: Option<String>,
}

impl FieldChange {
    /// A change from `old` to `new`.
    pub fn new(field: impl Into<String>, old: Option<String>, new: Option<String>) -> FieldChange {
        FieldChange {
            field: field.into(),
            old,
            new,
        }
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Identifier.
    pub id: UpdateId,
    /// The incident.
    pub incident_id: IncidentId,
    /// Who did it (`None`: the system or an integration).
    pub created_by: Option<UserId>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it happened (may be earlier, for key events).
    pub event_ts: DateTime<Utc>,
    /// A key event slug or a technical event type (see [`event_type`]).
    pub event_type: Option<String>,
    /// The message that came with it.
    pub message: Option<String>,
    /// The status after the entry, when it changed.
    pub status: Option<Status>,
    /// What changed.
    pub changes: Vec<FieldChange>,
}
