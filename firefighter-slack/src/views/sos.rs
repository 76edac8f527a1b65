//! Choosing an SOS target.

use firefighter_core::Incident;
use serde_json::Value;

use super::callback;
use super::metadata;
use crate::models::blocks::{escape, input, modal, option, section, static_select};
use crate::store::Sos;

/// Choose an SOS target.
pub(crate) fn sos(incident: &Incident, targets: &[Sos]) -> Value {
    if targets.is_empty() {
        let b = vec![section(
            ":warning: No SOS target is configured. Ask an administrator to add one in the back-office.",
        )];
        return modal(callback::SOS, "Ask for help", None, b, &metadata(incident));
    }
    let options: Vec<Value> = targets
        .iter()
        .map(|t| option(&t.name, &t.id.to_string()))
        .collect();
    let b = vec![
        section(&format!(
            "*Incident {}:* {}",
            incident.id,
            escape(&incident.title)
        )),
        input(
            "sos",
            "Who do you need?",
            static_select("sos", "Choose", options, None),
            false,
            None,
        ),
    ];
    modal(
        callback::SOS,
        "Ask for help",
        Some("Send SOS"),
        b,
        &metadata(incident),
    )
}
