//! The text a page carries: who asked, the incident's priority,
//! environment, category, page and channel, then what was typed.

use firefighter_core::event::IncidentEvent;
use firefighter_core::{Firefighter, Incident, UserId};

use crate::Result;

/// The details sent to PagerDuty and the meeting place: the incident's
/// priority, environment, category, page and channel, then the text typed.
pub(super) async fn page_details(
    app: &Firefighter,
    incident: Option<&Incident>,
    requested_by: Option<UserId>,
    typed: &str,
) -> Result<(String, String)> {
    let settings = app.settings();
    let by = match requested_by {
        Some(id) => app
            .store()
            .user(id)
            .await?
            .map(|u| if u.name.is_empty() { u.email } else { u.name }),
        None => None,
    };
    let by = by.map(|n| format!(" by {n}")).unwrap_or_default();
    let Some(incident) = incident else {
        let header = format!("Triggered from {}{by}", settings.app_display_name);
        return Ok((join_details(&header, "", typed), String::new()));
    };
    let catalog = app.catalog().await?;
    let mut lines = vec![format!(
        "Triggered from {} incident #{}{by}",
        settings.app_display_name, incident.id.0
    )];
    if let Some(p) = catalog
        .priorities
        .iter()
        .find(|p| p.id == incident.priority_id)
    {
        lines.push(format!("Priority: {}", p.name));
    }
    let envs: Vec<&str> = incident
        .environment_ids
        .iter()
        .filter_map(|id| catalog.environments.iter().find(|e| e.id == *id))
        .map(|e| e.value.as_str())
        .collect();
    if !envs.is_empty() {
        lines.push(format!("Environment: {}", envs.join(", ")));
    }
    if let Some(c) = catalog
        .categories
        .iter()
        .find(|c| c.id == incident.category_id)
    {
        match catalog.groups.iter().find(|g| g.id == c.group_id) {
            Some(g) => lines.push(format!("Category: {} – {}", g.name, c.name)),
            None => lines.push(format!("Category: {}", c.name)),
        }
    }
    let incident_url = settings.incident_url(incident.id);
    lines.push(format!("Incident page: {incident_url}"));
    let channel = app
        .store()
        .incident_events(incident.id)
        .await?
        .into_iter()
        .rev()
        .find_map(|e| match e.event {
            IncidentEvent::ChannelReady { channel } => Some(channel),
            _ => None,
        });
    let conference_url = match &channel {
        Some(c) => {
            let platform = capitalized(&c.platform);
            lines.push(format!("{platform} channel: #{} {}", c.name, c.url));
            c.url.clone()
        }
        None => incident_url,
    };
    let header = lines.join("\n");
    Ok((
        join_details(&header, &incident.description, typed),
        conference_url,
    ))
}

fn join_details(header: &str, description: &str, typed: &str) -> String {
    let mut text = header.to_owned();
    for part in [description.trim(), typed.trim()] {
        if !part.is_empty() && !text.contains(part) {
            text.push_str("\n\n");
            text.push_str(part);
        }
    }
    text
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keep_every_part_once() {
        assert_eq!(join_details("H", "desc", "desc"), "H\n\ndesc");
        assert_eq!(join_details("H", "", "typed"), "H\n\ntyped");
        assert_eq!(capitalized("slack"), "Slack");
    }
}
