//! Updates: the update message in the channel, mitigated and escalated
//! announcements, the reminder to post one, the downgrade hint.

use firefighter_core::Status;
use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, button, context, escape, fields, section};

/// A field change shown in an update.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// Field name.
    pub field: String,
    /// New value.
    pub new: String,
}

/// A status update in the incident channel.
pub(crate) fn status_update(
    v: &IncidentView,
    message: Option<&str>,
    changes: &[Change],
    by: &str,
) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![section(&format!(
        ":information_source: *A new update was posted on incident {}*",
        i.id
    ))];
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        b.push(section(&format!(">{}", escape(m).replace('\n', "\n>"))));
    }
    if !changes.is_empty() {
        let f: Vec<String> = changes
            .iter()
            .map(|c| format!("*{}:*\n{}", c.field, escape(&c.new)))
            .collect();
        b.push(fields(&f));
    }
    if i.status == Status::Mitigated
        && v.details.incident.mitigated_at.is_some()
        && changes.iter().any(|c| c.field == "Status")
    {
        b.push(context(":large_green_circle: The impact is over. Record the key events, then follow the next steps below."));
    }
    b.push(context(&format!("Posted by {by}")));
    if i.status != Status::Closed {
        b.push(blocks::actions(
            "status_actions",
            vec![button(
                "Update",
                crate::ids::action::UPDATE,
                &i.id.0.to_string(),
            )],
        ));
    }
    (format!("Update on incident {}", i.id), Value::Array(b))
}

/// Mitigated / escalated announcements in `tech_incidents`.
pub(crate) fn general_status(
    v: &IncidentView,
    headline: &str,
    message: Option<&str>,
) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![
        section(headline),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.short_description())
        )),
    ];
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        b.push(section(&format!(">{}", escape(m).replace('\n', "\n>"))));
    }
    b.push(fields(&[
        format!("*Priority:*\n{}", v.priority_label()),
        format!("*Status:*\n{}", i.status.label()),
        format!("*Category:*\n{}", escape(&v.category.name)),
        format!("*Channel:*\n{}", v.channel_ref()),
    ]));
    (headline.replace('*', ""), Value::Array(b))
}

/// Nobody posted an update for a while.
pub(crate) fn update_reminder(v: &IncidentView, quiet_for: &str) -> (String, Value) {
    let advice = if v.announced() {
        "Many people are probably impacted: post an update so it is broadcast."
    } else {
        "You may want to post an update."
    };
    let b = vec![
        section(&format!(
            ":bell: No update on incident {} for {quiet_for}. {advice}",
            v.incident().id
        )),
        blocks::actions(
            "reminder_actions",
            vec![button(
                "Post an update",
                crate::ids::action::UPDATE_STATUS,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (
        format!("Reminder to update incident {}", v.incident().id),
        Value::Array(b),
    )
}

/// Suggests downgrading an incident that no longer needs a channel.
pub(crate) fn downgrade_hint(v: &IncidentView) -> (String, Value) {
    let b = vec![
        section(&format!(
            ":arrow_down: Incident {} is now {}: it may not need a channel any more. You can turn it into a regular incident (the channel is archived).",
            v.incident().id,
            v.priority_label()
        )),
        blocks::actions(
            "downgrade_actions",
            vec![button(
                "Change workflow",
                crate::ids::action::DOWNGRADE,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (
        "This incident may not need a channel".into(),
        Value::Array(b),
    )
}
