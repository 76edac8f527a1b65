//! The post-mortem recap: each document with its state, and the button that
//! creates it from Mitigated on.

use firefighter_core::{Incident, Status};
use serde_json::Value;

use super::callback;
use super::metadata;
use crate::ids::action;
use crate::models::blocks::{actions, button, escape, modal, section};

/// A post-mortem document as the recap shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentLine {
    pub(crate) backend: String,
    pub(crate) url: String,
    /// `ready`, `draft`, or what the backend says.
    pub(crate) state: String,
}

/// The post-mortem recap.
pub(crate) fn postmortem(
    incident: &Incident,
    required: bool,
    documents: &[DocumentLine],
    backends: bool,
    can_create: bool,
) -> Value {
    let mut b = vec![section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ))];
    if !documents.is_empty() {
        for d in documents {
            let name = if d.backend == firefighter_core::postmortem::BUILT_IN {
                "written in firefighter".to_owned()
            } else {
                d.backend.clone()
            };
            b.push(section(&format!(
                ":memo: <{}|Post-mortem> ({}): *{}*",
                d.url,
                escape(&name),
                escape(&d.state)
            )));
        }
        if required && documents.iter().any(|d| d.state != "ready") {
            b.push(section(
                "The incident can be closed once every post-mortem document is ready.",
            ));
        }
    } else if !backends {
        b.push(section("No post-mortem backend is enabled: write the post-mortem in your usual tool, then move the incident to *Post-mortem*."));
    } else if required && incident.status < Status::Mitigated {
        b.push(section(
            "A post-mortem is required. It is created when the incident is mitigated.",
        ));
    } else if required {
        b.push(section(
            ":warning: A post-mortem is required and none exists yet. The incident cannot be closed until it is written and ready.",
        ));
    } else if incident.status < Status::Mitigated {
        b.push(section("A post-mortem is not mandatory for this incident; one can be written once it is mitigated."));
    } else {
        b.push(section(
            "A post-mortem is not mandatory for this incident, but you can write one.",
        ));
    }
    if can_create {
        b.push(actions(
            "postmortem_actions",
            vec![button(
                "Create the post-mortem now",
                action::CREATE_POSTMORTEM,
                &incident.id.0.to_string(),
            )],
        ));
    }
    modal(
        callback::POSTMORTEM,
        "Post-mortem",
        None,
        b,
        &metadata(incident),
    )
}
