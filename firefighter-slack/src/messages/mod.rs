//! The message catalogue (texts are ours), one file per message family, and
//! how messages are posted (`posting`): appended, updated in place or
//! replacing older ones, each one recorded so later posts find it.

mod declaration;
mod deployment;
mod incident_view;
mod key_events;
pub(crate) mod kind;
mod notification;
mod oncall;
mod posting;
mod postmortem;
mod roles;
mod sos;
pub(crate) mod tag;
mod updates;

pub(crate) use declaration::{com_process, declared, general_declared};
pub(crate) use deployment::deploy_warning;
pub(crate) use incident_view::IncidentView;
pub(crate) use key_events::key_events_form;
pub(crate) use notification::notification;
pub(crate) use oncall::{oncall_hint, oncall_paged};
pub(crate) use posting::Strategy;
pub(crate) use postmortem::{
    next_actions, postmortem_created, postmortem_overdue, postmortem_reminder,
};
pub(crate) use roles::{role_assigned, roles};
pub(crate) use sos::sos;
pub(crate) use updates::{Change, downgrade_hint, general_status, status_update, update_reminder};
