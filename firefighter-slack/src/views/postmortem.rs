//! The post-mortem recap.

use firefighter_core::{Incident, Status};
use serde_json::Value;

use super::callback;
use super::metadata;
use crate::models::blocks::{escape, modal, section};

/// The post-mortem recap.
pub(crate) fn postmortem(
    incident: &Incident,
    required: bool,
    documents: &[(String, String)],
    backends: bool,
) -> Value {
    let mut b = vec![section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ))];
    if !documents.is_empty() {
        for (backend, url) in documents {
            b.push(section(&format!(":memo: Post-mortem ({backend}): <{url}>")));
        }
    } else if !backends {
        b.push(section("No post-mortem backend is enabled: write the post-mortem in your usual tool, then move the incident to *Post-mortem*."));
    } else if required && incident.status < Status::Mitigated {
        b.push(section("A post-mortem is required. Its document is listed here once the post-mortem backend announces it, usually after mitigation."));
    } else if required {
        b.push(section(
            ":warning: A post-mortem is required, and no backend has announced its document yet. The incident cannot be closed until it is ready.",
        ));
    } else {
        b.push(section("A post-mortem is not mandatory for this incident."));
    }
    modal(
        callback::POSTMORTEM,
        "Post-mortem",
        None,
        b,
        &metadata(incident),
    )
}
