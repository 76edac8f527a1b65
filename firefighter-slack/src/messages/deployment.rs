//! Deployment freezes in `it_deploy`.

use firefighter_core::Status;
use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{escape, section};

/// A deployment freeze (or its end) in `it_deploy`.
pub(crate) fn deploy_warning(v: &IncidentView, active: bool) -> (String, Value) {
    let i = v.incident();
    let (headline, text) = if active {
        (
            format!(
                ":warning: *Please refrain from deploying:* {} incident {} in production",
                v.priority_label(),
                i.id
            ),
            format!(
                "*{}* ({}) until it is mitigated.",
                escape(&i.title),
                v.channel_ref()
            ),
        )
    } else if i.status >= Status::Mitigated {
        (
            format!(
                ":white_check_mark: *(Mitigated)* incident {} — you can resume your deployments",
                i.id
            ),
            format!("*{}* ({})", escape(&i.title), v.channel_ref()),
        )
    } else {
        (
            format!(
                ":white_check_mark: Incident {} no longer freezes deployments",
                i.id
            ),
            format!(
                "*{}* ({}) is now {}.",
                escape(&i.title),
                v.channel_ref(),
                v.priority_label()
            ),
        )
    };
    (
        headline.replace('*', ""),
        Value::Array(vec![section(&headline), section(&text)]),
    )
}
