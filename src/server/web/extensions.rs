//! Where integrations plug into the web UI. Each function below is the one
//! place a feature adds its entries (behind its cargo feature, when its
//! integration is enabled in the settings):
//!
//! - [`nav_links`]: entries of the navigation bar (PagerDuty's `/oncall/`).
//! - [`backoffice_sections`]: sections of the back-office index (Slack
//!   conversations, PagerDuty services...).
//! - [`external_links`]: links shown on an incident's page (its chat channel,
//!   post-mortem, tickets), computed from what integrations recorded.

use firefighter_core::event::IncidentEvent;
use firefighter_core::{IncidentDetails, StoredEvent};

use crate::server::AppState;

/// A link to a page served by an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NavLink {
    /// Text of the link.
    pub(crate) title: String,
    /// Path under the mount prefix (`/oncall/`).
    pub(crate) href: String,
}

impl NavLink {
    pub(crate) fn new(title: &str, href: &str) -> NavLink {
        NavLink {
            title: title.to_owned(),
            href: href.to_owned(),
        }
    }
}

/// Navigation entries contributed by integrations, after "Incidents" and
/// before "Docs". None without integrations.
///
/// An integration with pages adds, behind its feature:
/// `if <enabled in state.app.settings()> { links.push(NavLink::new("On-call", "/oncall/")) }`.
pub(crate) fn nav_links(state: &AppState) -> Vec<NavLink> {
    crate::server::integrations::nav_links(state)
        .into_iter()
        .map(|(title, href)| NavLink::new(title, href))
        .collect()
}

/// Sections of the back-office index contributed by integrations, as
/// (title, path under the mount prefix). None without integrations.
pub(crate) fn backoffice_sections(state: &AppState) -> Vec<NavLink> {
    crate::server::integrations::backoffice_sections(state)
        .into_iter()
        .map(|(title, href)| NavLink::new(title, href))
        .collect()
}

/// A link from an incident to something outside firefighter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalLink {
    /// What it is ("Slack channel #inc-20260319-12").
    pub(crate) title: String,
    /// Where it goes (always `http://` or `https://`).
    pub(crate) url: String,
}

/// Only web links are shown: a `javascript:` URL recorded by a faulty
/// integration must never become clickable.
fn is_web_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(char::is_whitespace)
}

/// The links of an incident: conversations integrations opened
/// ([`IncidentEvent::ChannelReady`]), post-mortem documents
/// ([`IncidentEvent::PostMortemCreated`]), documents integrations linked
/// ([`IncidentEvent::LinkAdded`]), and custom fields named `*_url`
/// holding a web address (tickets and pages of integrations that record them there).
pub(crate) fn external_links(
    details: &IncidentDetails,
    events: &[StoredEvent],
) -> Vec<ExternalLink> {
    let mut links: Vec<ExternalLink> = Vec::new();
    let mut push = |title: String, url: &str| {
        if is_web_url(url) && !links.iter().any(|l| l.url == url) {
            links.push(ExternalLink {
                title,
                url: url.trim().to_owned(),
            });
        }
    };
    for stored in events {
        match &stored.event {
            IncidentEvent::ChannelReady { channel } => push(
                format!(
                    "{} channel #{}",
                    capitalized(&channel.platform),
                    channel.name
                ),
                &channel.url,
            ),
            IncidentEvent::PostMortemCreated { backend, url } => {
                push(format!("Post-mortem ({})", capitalized(backend)), url)
            }
            // An integration's own document, named by it ("Jira ticket INC-42").
            IncidentEvent::LinkAdded { title, url } => push(title.clone(), url),
            _ => {}
        }
    }
    for (key, value) in &details.incident.custom_fields {
        if let Some(name) = key.strip_suffix("_url")
            && let Some(url) = value.as_str()
        {
            push(capitalized(&name.replace('_', " ")), url);
        }
    }
    links
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use firefighter_core::event::ChannelInfo;
    use firefighter_core::{Incident, IncidentId, Status};

    use super::*;

    fn details(custom: serde_json::Value) -> IncidentDetails {
        let now = chrono::Utc::now();
        IncidentDetails {
            incident: Incident {
                id: IncidentId(1),
                title: "Checkout is down for everyone".into(),
                description: String::new(),
                status: Status::Open,
                priority_id: Default::default(),
                category_id: Default::default(),
                environment_id: Default::default(),
                environment_ids: Vec::new(),
                created_by: Default::default(),
                created_at: now,
                updated_at: now,
                mitigated_at: None,
                closed_at: None,
                closure_reason: None,
                closure_reference: String::new(),
                custom_fields: custom.as_object().cloned().unwrap_or_default(),
                dedup_key: None,
                ignore: false,
                private: false,
                tags: Vec::new(),
                version: 1,
            },
            roles: Vec::new(),
            members: Vec::new(),
            key_events: Vec::new(),
            costs: Vec::new(),
        }
    }

    fn stored(event: IncidentEvent) -> StoredEvent {
        StoredEvent {
            id: 1,
            incident_id: IncidentId(1),
            created_at: chrono::Utc::now(),
            event,
        }
    }

    #[test]
    fn channels_post_mortems_and_url_fields_become_links() {
        let d = details(serde_json::json!({
            "jira_ticket_url": "https://jira.example.com/browse/INC-1",
            "impacts": {"customers_impact": "HI"},
        }));
        let events = [
            stored(IncidentEvent::ChannelReady {
                channel: ChannelInfo {
                    platform: "slack".into(),
                    id: "C1".into(),
                    name: "inc-1".into(),
                    url: "https://slack.example.com/archives/C1".into(),
                },
            }),
            stored(IncidentEvent::PostMortemCreated {
                backend: "confluence".into(),
                url: "https://wiki.example.com/pm/1".into(),
            }),
        ];
        let links = external_links(&d, &events);
        let titles: Vec<&str> = links.iter().map(|l| l.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Slack channel #inc-1",
                "Post-mortem (Confluence)",
                "Jira ticket"
            ]
        );
    }

    #[test]
    fn a_linked_document_keeps_the_name_its_integration_gave() {
        let d = details(serde_json::json!({
            "jira_ticket_url": "https://jira.example.com/browse/INC-1",
        }));
        let events = [stored(IncidentEvent::LinkAdded {
            title: "Jira ticket INC-1".into(),
            url: "https://jira.example.com/browse/INC-1".into(),
        })];
        let links = external_links(&d, &events);
        assert_eq!(
            links,
            [ExternalLink {
                title: "Jira ticket INC-1".into(),
                url: "https://jira.example.com/browse/INC-1".into(),
            }]
        );
    }

    #[test]
    fn only_web_addresses_are_linked() {
        let d = details(serde_json::json!({
            "evil_url": "javascript:alert(1)",
            "spaced_url": "https://example.com/a b",
            "count_url": 3,
        }));
        assert!(external_links(&d, &[]).is_empty());
    }
}
