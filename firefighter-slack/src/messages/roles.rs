//! Roles: who holds which, and the DM to a new holder.

use serde_json::Value;

use super::IncidentView;
use crate::models::blocks::{self, button, context, escape, section};

/// Who holds which role.
pub(crate) fn roles(
    v: &IncidentView,
    holders: &[(String, String)],
    by: Option<&str>,
) -> (String, Value) {
    let mut lines = Vec::new();
    for r in &v.catalog.role_types {
        let holder = holders
            .iter()
            .find(|(slug, _)| *slug == r.slug)
            .map(|(_, h)| h.as_str())
            .unwrap_or("_nobody yet_");
        lines.push(format!("{} *{}:* {holder}", r.emoji, escape(&r.name)));
    }
    let mut b = vec![section(&format!(
        ":busts_in_silhouette: *Roles*\n{}",
        lines.join("\n")
    ))];
    if let Some(by) = by {
        b.push(context(&format!("Updated by {by}")));
    }
    b.push(blocks::actions(
        "roles_actions",
        vec![button(
            "Update roles",
            crate::ids::action::UPDATE_ROLES,
            &v.incident().id.0.to_string(),
        )],
    ));
    (
        format!("Roles of incident {}", v.incident().id),
        Value::Array(b),
    )
}

/// A DM to someone who now holds a role.
pub(crate) fn role_assigned(
    v: &IncidentView,
    role: &firefighter_core::RoleType,
    automatic: bool,
) -> (String, Value) {
    let mut b = vec![section(&format!(
        "{} You are now *{}* of incident {} ({}).",
        role.emoji,
        escape(&role.name),
        v.incident().id,
        v.channel_ref()
    ))];
    if !role.summary.is_empty() {
        b.push(section(&escape(&role.summary)));
    }
    if automatic {
        b.push(context(
            "You got this role because you declared the incident.",
        ));
    }
    (
        format!("You are {} of incident {}", role.name, v.incident().id),
        Value::Array(b),
    )
}
