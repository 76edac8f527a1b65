//! Calls for help.

use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{escape, section};

/// A call for help.
pub(crate) fn sos(v: &IncidentView, target: &str, by: &str) -> (String, Value) {
    let text = format!(
        ":sos: {target} we need help on {} incident {} ({}): *{}* — asked by {by}",
        v.priority_label(),
        v.incident().id,
        v.channel_ref(),
        escape(&v.incident().title)
    );
    (text.replace('*', ""), Value::Array(vec![section(&text)]))
}
