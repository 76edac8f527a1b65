//! The read-only recap of an incident.

use serde_json::Value;

use super::callback;
use super::metadata;
use crate::models::blocks::{self, escape, header, modal, section};

/// A read-only recap.
pub(crate) fn status(
    v: &crate::messages::IncidentView,
    roles: &[(String, String)],
    last: Option<(String, String)>,
) -> Value {
    let i = v.incident();
    let duration = chrono::Utc::now() - i.created_at;
    let mut b = vec![
        header(&format!("Incident {}", i.id)),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.description)
        )),
        blocks::fields(&[
            format!("*Status:*\n{}", i.status.label()),
            format!("*Priority:*\n{}", v.priority_label()),
            format!(
                "*Environment:*\n{}",
                v.environments
                    .iter()
                    .map(|e| e.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "*Category:*\n{} - {}",
                escape(&v.group),
                escape(&v.category.name)
            ),
            format!(
                "*Opened:*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
                i.created_at.timestamp(),
                i.created_at
            ),
            format!(
                "*Duration:*\n{}h{:02}",
                duration.num_hours(),
                duration.num_minutes() % 60
            ),
        ]),
    ];
    if !roles.is_empty() {
        let lines: Vec<String> = roles.iter().map(|(r, u)| format!("*{r}:* {u}")).collect();
        b.push(section(&format!(
            ":busts_in_silhouette: *Key participants*\n{}",
            lines.join("\n")
        )));
    }
    if let Some((when, what)) = last {
        b.push(section(&format!(
            ":speech_balloon: *Last update* ({when})\n{}",
            escape(&what)
        )));
    }
    b.push(blocks::actions(
        "status_links",
        vec![blocks::url_button("Incident page", &v.url)],
    ));
    modal(callback::STATUS, "Incident status", None, b, &metadata(i))
}
