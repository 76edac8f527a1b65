//! Interactivity: buttons, selects and pickers (`block_actions`), modal
//! submissions (`view_submission`), and opening incident-scoped modals.
//!
//! Submissions answer in the HTTP response (Slack's `response_action`):
//! field errors stay on the form, nothing is written on bad input.

use std::collections::BTreeMap;

use firefighter_core::IncidentId;
use firefighter_core::lifecycle::Refusal;
use serde_json::{Value, json};

use crate::models::inbound::View;
use crate::views::{self};

mod answers;
mod block_actions;
mod close;
mod declare;
mod downgrade;
mod key_events;
mod modals;
mod page;
mod postmortem;
mod roles;
mod sos;
mod submission;
mod update;

/// The incident-scoped modals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The update menu.
    Update,
    /// Update status.
    UpdateStatus,
    /// Update roles.
    UpdateRoles,
    /// Edit details.
    Edit,
    /// Close.
    Close,
    /// Read-only recap.
    Status,
    /// Page the on-call.
    OnCall,
    /// Post-mortem recap.
    Postmortem,
    /// Ask for help.
    Sos,
    /// Turn into a regular incident.
    Downgrade,
}

impl Target {
    const ALL: [Target; 10] = [
        Target::Update,
        Target::UpdateStatus,
        Target::UpdateRoles,
        Target::Edit,
        Target::Close,
        Target::Status,
        Target::OnCall,
        Target::Postmortem,
        Target::Sos,
        Target::Downgrade,
    ];

    /// Its name in view metadata.
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Target::Update => "update",
            Target::UpdateStatus => "update_status",
            Target::UpdateRoles => "update_roles",
            Target::Edit => "edit",
            Target::Close => "close",
            Target::Status => "status",
            Target::OnCall => "oncall",
            Target::Postmortem => "postmortem",
            Target::Sos => "sos",
            Target::Downgrade => "downgrade",
        }
    }

    fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.slug() == s)
    }
}

fn incident_of(view: &View) -> Option<IncidentId> {
    serde_json::from_str::<Value>(&view.private_metadata)
        .ok()?
        .get("incident")?
        .as_i64()
        .map(IncidentId)
}

/// The incident of a key event picker (`key_event:<incident>:<slug>`).
fn key_event_incident(block_id: &str) -> Option<IncidentId> {
    block_id
        .split(':')
        .nth(1)
        .and_then(|n| n.parse::<i64>().ok())
        .map(IncidentId)
}

fn response_errors(errors: BTreeMap<String, String>) -> Value {
    json!({"response_action": "errors", "errors": errors})
}

fn response_notice(title: &str, text: &str) -> Value {
    json!({"response_action": "update", "view": views::notice(title, text)})
}

fn clear() -> Value {
    json!({"response_action": "clear"})
}

/// Maps core's field errors onto the blocks of a form; the rest goes on `fallback`.
fn field_errors(
    err: &firefighter_core::Error,
    map: &[(&str, &str)],
    fallback: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |block: &str, message: String| {
        out.entry(block.to_owned())
            .and_modify(|m| {
                m.push(' ');
                m.push_str(&message);
            })
            .or_insert(message);
    };
    match err {
        firefighter_core::Error::Invalid(fields) => {
            for f in fields {
                let block = map
                    .iter()
                    .find(|(field, _)| {
                        f.field == *field || f.field.starts_with(&format!("{field}."))
                    })
                    .map(|(_, b)| *b)
                    .unwrap_or(fallback);
                put(block, f.message.clone());
            }
        }
        firefighter_core::Error::Refused(r) => put(fallback, r.messages().join(" ")),
        other => put(fallback, other.to_string()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_land_on_the_right_blocks() {
        let e = firefighter_core::Error::Invalid(vec![
            firefighter_core::FieldError {
                field: "title".into(),
                message: "too short".into(),
            },
            firefighter_core::FieldError {
                field: "other".into(),
                message: "odd".into(),
            },
        ]);
        let m = field_errors(&e, &[("title", "title_block")], "fallback");
        assert_eq!(m["title_block"], "too short");
        assert_eq!(m["fallback"], "odd");
    }

    #[test]
    fn targets_round_trip() {
        for t in Target::ALL {
            assert_eq!(Target::parse(t.slug()), Some(t));
        }
    }
}
