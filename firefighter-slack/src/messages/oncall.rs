//! On-call: a page posted in the channel, the off-hours offer to page.

use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, button, context, escape, section};

/// An on-call was paged: the timeline entry's text, in the incident channel.
pub(crate) fn oncall_paged(text: &str, by: Option<&str>) -> (String, Value) {
    let mut b = vec![section(&format!(":rotating_light: {}", escape(text)))];
    if let Some(by) = by {
        b.push(context(&format!("Asked by {by}")));
    }
    (text.to_owned(), Value::Array(b))
}

/// The incident's channel opened outside office hours: responders may not
/// be around, and a button opens the on-call modal (as `/incident oncall` does).
pub(crate) fn oncall_hint(
    v: &IncidentView,
    hint: &firefighter_core::oncall::OffHoursHint,
) -> (String, Value) {
    let text = format!(
        "This incident started outside office hours ({}): responders may not be at their desks. If it cannot wait, page the on-call.",
        hint.local_time
    );
    let b = vec![
        section(&format!(":crescent_moon: {}", escape(&text))),
        blocks::actions(
            &format!("oncall_hint:{}", v.incident().id.0),
            vec![button(
                "Page the on-call",
                crate::ids::action::ONCALL,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (text, Value::Array(b))
}
