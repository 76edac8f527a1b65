//! The declaration: the pinned announcement in the incident channel, the
//! one in `tech_incidents`, and the emergency communication process.

use firefighter_core::Status;
use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, button, escape, fields, header, section, url_button};

fn incident_fields(v: &IncidentView, opener: &str) -> Vec<String> {
    let i = v.incident();
    let mut f = vec![
        format!(
            "*Priority:*\n{} - {}",
            v.priority_label(),
            escape(&v.priority.description)
        ),
        format!("*Status:*\n{}", i.status.label()),
        format!(
            "*Category:*\n{} - {}",
            escape(&v.group),
            escape(&v.category.name)
        ),
        format!("*Environment:*\n{}", v.env_names()),
        format!("*Opened by:*\n{opener}"),
        format!(
            "*Declared:*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            i.created_at.timestamp(),
            i.created_at.to_rfc3339()
        ),
    ];
    if i.private {
        f.push("*Visibility:*\n:lock: private".into());
    }
    f
}

/// The pinned announcement in the incident channel, with the post-mortems
/// (backend, link) and the documents integrations linked (title, link: a
/// Jira ticket).
pub(crate) fn declared(
    v: &IncidentView,
    opener: &str,
    postmortems: &[(String, String)],
    links: &[(String, String)],
) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![
        header(&v.title_line()),
        section(&escape(if i.description.is_empty() {
            "_No description._"
        } else {
            &i.description
        })),
        fields(&incident_fields(v, opener)),
    ];
    for (backend, url) in postmortems {
        b.push(section(&format!(":memo: Post-mortem ({backend}): <{url}>")));
    }
    // Within Slack's 50 blocks, whatever integrations link.
    for (title, url) in links.iter().take(20) {
        // A link Slack would refuse is shown as text rather than break the announcement.
        let line = if blocks::is_web_link(url) {
            format!(":link: <{url}|{}>", escape(title))
        } else {
            format!(":link: {}: {}", escape(title), escape(url))
        };
        b.push(section(&line));
    }
    let mut actions = vec![url_button("Incident page", &v.url)];
    if i.status != Status::Closed {
        actions.insert(
            0,
            button("Update", crate::ids::action::UPDATE, &i.id.0.to_string()),
        );
    }
    b.push(blocks::actions("declared_actions", actions));
    (format!("Incident {}: {}", i.id, i.title), Value::Array(b))
}

/// The announcement of a new incident in `tech_incidents`.
pub(crate) fn general_declared(v: &IncidentView, opener: &str) -> (String, Value) {
    let i = v.incident();
    let b = vec![
        section(&format!(
            ":rotating_light: A new {} incident has been declared in {}",
            v.priority_label(),
            v.channel_ref()
        )),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.short_description())
        )),
        fields(&incident_fields(v, opener)[..5]),
        blocks::actions("general_actions", vec![url_button("Incident page", &v.url)]),
    ];
    (
        format!("New {} incident {}: {}", v.priority.name, i.id, i.title),
        Value::Array(b),
    )
}

/// The emergency communication process (P1 in production).
pub(crate) fn com_process(guide: Option<&str>, usergroup: Option<&str>) -> (String, Value) {
    let who = usergroup
        .map(|g| format!("<!subteam^{g}>"))
        .unwrap_or_else(|| "the communication team".into());
    let mut b = vec![section(&format!(
        ":loudspeaker: *This is a P1 in production: follow the emergency communication process.* Name a communication lead and keep {who} informed."
    ))];
    if let Some(g) = guide {
        b.push(blocks::actions(
            "com_guide",
            vec![url_button("Communication process", g)],
        ));
    }
    ("Emergency communication process".into(), Value::Array(b))
}
