//! Closing: the close form (or why not yet) and the early closure reason.

use firefighter_core::Incident;
use firefighter_core::lifecycle::ClosureReason;
use firefighter_core::store::Catalog;
use serde_json::{Value, json};

use super::callback;
use super::metadata;
use super::options::{category_groups, category_option};
use crate::models::blocks::{
    self, context, escape, input, modal, option, section, static_select, text_input,
};

/// Close: the form when the incident can be closed, otherwise why not.
pub(crate) fn close(catalog: &Catalog, incident: &Incident, refusal: Option<&[String]>) -> Value {
    let head = section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ));
    match refusal {
        Some(reasons) => {
            let list: Vec<String> = reasons.iter().map(|r| format!("• {}", escape(r))).collect();
            let b = vec![
                head,
                section(&format!(
                    ":no_entry: *This incident cannot be closed yet:*\n{}",
                    list.join("\n")
                )),
                blocks::actions(
                    "close_blocked",
                    vec![blocks::button(
                        "Update status",
                        crate::ids::action::PUSH_UPDATE_STATUS,
                        &incident.id.0.to_string(),
                    )],
                ),
            ];
            modal(
                callback::CLOSE,
                "Close incident",
                None,
                b,
                &metadata(incident),
            )
        }
        None => {
            let b = vec![
                head,
                input(
                    "message",
                    "Closing message",
                    text_input("message", true, None, None, Some(1200)),
                    true,
                    None,
                ),
                input(
                    "category",
                    "Incident category",
                    blocks::grouped_select(
                        "category",
                        "Category",
                        category_groups(catalog, false),
                        category_option(catalog, incident.category_id),
                    ),
                    false,
                    None,
                ),
                context(":file_cabinet: The incident channel will be archived."),
            ];
            modal(
                callback::CLOSE,
                "Close incident",
                Some("Close"),
                b,
                &metadata(incident),
            )
        }
    }
}

/// Close early: a reason other than "resolved", an optional reference and a message.
/// `carry` holds the priority and category changed in the status modal.
pub(crate) fn closure_reason(incident: &Incident, carry: &Value) -> Value {
    let reasons: Vec<Value> = ClosureReason::EARLY
        .iter()
        .map(|r| option(r.label(), r.slug()))
        .collect();
    let mut meta = json!({"incident": incident.id.0});
    if let Some(p) = carry.get("priority") {
        meta["priority"] = p.clone();
    }
    if let Some(c) = carry.get("category") {
        meta["category"] = c.clone();
    }
    let b = vec![
        section(&format!(
            "*Incident {}* is {}: closing it now needs a reason.",
            incident.id,
            incident.status.label()
        )),
        input(
            "reason",
            "Closure reason",
            static_select("reason", "Why close it?", reasons, None),
            false,
            None,
        ),
        input(
            "reference",
            "Reference",
            text_input("reference", false, None, None, Some(100)),
            true,
            Some("The duplicate incident or a link (optional)."),
        ),
        input(
            "message",
            "Message",
            text_input("message", true, None, Some(1), Some(1200)),
            false,
            None,
        ),
    ];
    modal(
        callback::CLOSURE_REASON,
        "Close incident",
        Some("Close"),
        b,
        &meta.to_string(),
    )
}
