//! The key events form.

use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, context, escape, section};

/// The key events form (one date and time picker per key event people set).
pub(crate) fn key_events_form(v: &IncidentView, missing: &[String]) -> (String, Value) {
    let id = v.incident().id.0;
    let mut b = vec![section(
        ":stopwatch: *Key events*: when did it start, when was it detected, when did it recover? They feed the metrics.",
    )];
    for m in v.catalog.milestone_types.iter().filter(|m| m.asked_for) {
        let current = v
            .details
            .key_events
            .iter()
            .find(|k| k.event_type == m.event_type);
        let label = format!(
            "*{}*{}",
            escape(&m.name),
            if m.required { "" } else { " _(optional)_" }
        );
        if m.user_editable {
            b.push(serde_json::json!({
                "type": "section",
                "block_id": format!("key_event:{id}:{}", m.event_type),
                "text": blocks::mrkdwn(&format!("{label}\n{}", escape(&m.summary))),
                "accessory": blocks::datetimepicker(
                    &format!("{}{}", crate::ids::action::KEY_EVENT_PREFIX, m.event_type),
                    current.map(|k| k.at.timestamp()),
                ),
            }));
        } else {
            let at = current
                .map(|k| {
                    format!(
                        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
                        k.at.timestamp(),
                        k.at.to_rfc3339()
                    )
                })
                .unwrap_or_else(|| "_not yet_".into());
            b.push(section(&format!("{label}: {at}")));
        }
    }
    b.push(context(&if missing.is_empty() {
        "All required key events are recorded.".to_owned()
    } else {
        format!("Still missing: {}.", missing.join(", "))
    }));
    (
        format!("Key events of incident {}", v.incident().id),
        Value::Array(b),
    )
}
