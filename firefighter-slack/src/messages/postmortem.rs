//! Post-mortems and the next steps after mitigation.

use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, button, escape, section, url_button};

/// What to do about the post-mortem after mitigation.
pub(crate) fn postmortem_reminder(
    v: &IncidentView,
    guide: Option<&str>,
    documents: &[(String, String)],
) -> (String, Value) {
    let write = match documents.first() {
        Some((_, url)) => format!("Write the <{url}|post-mortem> and mark it ready"),
        None => "Write the post-mortem".to_owned(),
    };
    let mut b = vec![section(&format!(
        ":memo: *Incident {} needs a post-mortem.*\n1. Move the incident to *Post-mortem* (`/incident update`).\n2. {write}.\n3. Record the key events above.\n4. Close the incident (`/incident close`).",
        v.incident().id
    ))];
    if let Some(g) = guide {
        b.push(blocks::actions(
            "pm_guide",
            vec![url_button("Post-mortem guide", g)],
        ));
    }
    (
        format!("Incident {} needs a post-mortem", v.incident().id),
        Value::Array(b),
    )
}

/// What to do after mitigation without a post-mortem.
pub(crate) fn next_actions(v: &IncidentView) -> (String, Value) {
    let b = vec![section(&format!(
        ":white_check_mark: *Incident {} is mitigated.* Next:\n1. Record the key events above.\n2. Close the incident (`/incident close`).\nA post-mortem is optional for this incident.",
        v.incident().id
    ))];
    (
        format!("Incident {} is mitigated", v.incident().id),
        Value::Array(b),
    )
}

/// A post-mortem was created.
pub(crate) fn postmortem_created(
    v: &IncidentView,
    backend: &str,
    url: &str,
    announcement: bool,
) -> (String, Value) {
    let head = if announcement {
        format!(
            ":memo: A post-mortem was created for {} incident {} ({})",
            v.priority_label(),
            v.incident().id,
            v.channel_ref()
        )
    } else {
        format!(
            ":memo: The post-mortem of incident {} is ready to be written",
            v.incident().id
        )
    };
    let b = vec![
        section(&head),
        section(&format!("*{}*", escape(&v.incident().title))),
        blocks::actions(
            "pm_links",
            vec![url_button(&format!("Post-mortem ({backend})"), url)],
        ),
    ];
    (head.replace('*', ""), Value::Array(b))
}

/// The post-mortem is overdue.
pub(crate) fn postmortem_overdue(
    v: &IncidentView,
    days: i64,
    announcement: bool,
    documents: &[(String, String)],
) -> (String, Value) {
    let head = format!(
        ":hourglass: Incident {}{} was mitigated {days} days ago: its post-mortem must be completed.",
        v.incident().id,
        if announcement {
            format!(" ({})", v.channel_ref())
        } else {
            String::new()
        }
    );
    let mut b = vec![
        section(&head),
        section(&format!("*{}*", escape(&v.incident().title))),
    ];
    for (backend, url) in documents {
        let name = if backend == firefighter_core::postmortem::BUILT_IN {
            "in firefighter"
        } else {
            backend.as_str()
        };
        b.push(section(&format!(
            ":memo: <{url}|The post-mortem> ({})",
            escape(name)
        )));
    }
    if !announcement {
        b.push(blocks::actions(
            "pm_overdue",
            vec![button(
                "Update status",
                crate::ids::action::UPDATE_STATUS,
                &v.incident().id.0.to_string(),
            )],
        ));
    }
    (head, Value::Array(b))
}
