//! Turning a critical incident into a regular one.

use firefighter_core::Incident;
use serde_json::Value;

use super::callback;
use super::metadata;
use crate::models::blocks::{escape, modal, section};

/// Turn a critical incident into a regular one.
pub(crate) fn downgrade(incident: &Incident) -> Value {
    let b = vec![section(&format!(
        "*Incident {}:* {}\n\nIt will be marked as not needing the critical process: it is closed as ignored and its channel is archived. Use this when the incident turned out not to be critical.",
        incident.id,
        escape(&incident.title)
    ))];
    modal(
        callback::DOWNGRADE,
        "Change workflow",
        Some("Downgrade"),
        b,
        &metadata(incident),
    )
}
