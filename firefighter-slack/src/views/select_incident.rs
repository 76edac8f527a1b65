//! Choosing the incident first (the command was not run in an incident channel).

use firefighter_core::Incident;
use serde_json::{Value, json};

use super::callback;
use crate::models::blocks::{input, modal, option, section, static_select};

/// Choose the incident first (the command was not run in an incident channel).
pub(crate) fn select_incident(incidents: &[Incident], target: &str) -> Value {
    let meta = json!({"target": target}).to_string();
    if incidents.is_empty() {
        let b = vec![section(
            ":x: This needs an active critical incident, and there is none.",
        )];
        return modal(callback::SELECT, "Choose an incident", None, b, &meta);
    }
    let options: Vec<Value> = incidents
        .iter()
        .take(100)
        .map(|i| option(&format!("{}: {}", i.id.0, i.title), &i.id.0.to_string()))
        .collect();
    let b = vec![input(
        "incident",
        "Incident",
        static_select("incident", "Choose an incident", options, None),
        false,
        None,
    )];
    modal(
        callback::SELECT,
        "Choose an incident",
        Some("Continue"),
        b,
        &meta,
    )
}
