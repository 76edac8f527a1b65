//! The message catalogue (texts are ours), one file per message family, and
//! how messages are posted (`posting`): appended, updated in place or
//! replacing older ones, each one recorded so later posts find it.

mod declaration;
mod deployment;
mod incident_view;
mod invitations;
mod key_events;
pub mod kind;
mod oncall;
mod posting;
mod postmortem;
mod roles;
mod sos;
pub mod tag;
mod updates;

pub use declaration::{com_process, declared, general_declared};
pub use deployment::deploy_warning;
pub use incident_view::IncidentView;
pub use invitations::invitations;
pub use key_events::key_events_form;
pub use oncall::{oncall_hint, oncall_paged};
pub use posting::Strategy;
pub use postmortem::{next_actions, postmortem_created, postmortem_overdue, postmortem_reminder};
pub use roles::{role_assigned, roles};
pub use sos::sos;
pub use updates::{Change, downgrade_hint, general_status, status_update, update_reminder};
