//! Modals and the home tab (Block Kit views), built from core's data, one
//! file per modal flow. Pure functions: the interactivity code loads the
//! data and sends the views.

mod close;
mod declare;
mod downgrade;
mod options;
mod postmortem;
mod select_incident;
mod sos;
mod status;
mod update;

use firefighter_core::Incident;
use serde_json::{Value, json};

use crate::models::blocks::{modal, section};

pub(crate) use crate::ids::callback;
pub(crate) use close::{close, closure_reason};
pub(crate) use declare::{WizardState, open_wizard};
pub(crate) use downgrade::downgrade;
pub(crate) use postmortem::{DocumentLine, postmortem};
pub(crate) use select_incident::select_incident;
pub(crate) use sos::sos;
pub(crate) use status::status;
pub(crate) use update::{edit, update_menu, update_roles, update_status};

fn metadata(incident: &Incident) -> String {
    json!({"incident": incident.id.0}).to_string()
}

/// A message in a modal (an error or a confirmation).
pub(crate) fn notice(title: &str, text: &str) -> Value {
    modal(callback::NOTICE, title, None, vec![section(text)], "{}")
}
