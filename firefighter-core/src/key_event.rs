//! Key events (milestones): when the incident started, was detected, declared,
//! recovered... They feed the metrics and the closing guard.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;

/// The impact started.
pub const STARTED: &str = "started";
/// Someone noticed.
pub const DETECTED: &str = "detected";
/// The incident was declared (set by the system).
pub const DECLARED: &str = "declared";
/// The impact ended (set when the status becomes Mitigated, editable).
pub const RECOVERED: &str = "recovered";
/// The status became Mitigated (set by the system).
pub const MITIGATED: &str = "mitigated";
/// The incident was closed (set by the system).
pub const RESOLVED: &str = "resolved";

/// A kind of key event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneType {
    /// Unique slug (`started`, `detected`...).
    pub event_type: String,
    /// Name.
    pub name: String,
    /// One-line summary.
    pub summary: String,
    /// People may set it (otherwise only the system does).
    pub user_editable: bool,
    /// Needed before closing a P1 to P3.
    pub required: bool,
    /// Shown in the key-events forms.
    pub asked_for: bool,
    /// Longer explanation.
    pub description: String,
}

/// A recorded key event of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEvent {
    /// Its type's slug.
    pub event_type: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who recorded it (`None`: the system).
    pub recorded_by: Option<UserId>,
}

/// The required key event types missing from `recorded`.
pub fn missing_required(types: &[MilestoneType], recorded: &[KeyEvent]) -> Vec<String> {
    types
        .iter()
        .filter(|t| t.required && !recorded.iter().any(|k| k.event_type == t.event_type))
        .map(|t| t.event_type.clone())
        .collect()
}
