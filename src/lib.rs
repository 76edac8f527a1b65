//! # firefighter
//!
//! Incident management as a library: declare, investigate, mitigate,
//! post-mortem, close. This facade re-exports the core
//! ([`core`]: model, lifecycle, storage, events, tasks) and adds the HTTP
//! server ([`server`]: REST API compatible with FireFighter's, login and
//! sessions, API tokens, web UI) and the command line ([`cli`]).
//!
//! The first command of a fresh clone starts everything on an embedded
//! SQLite database:
//!
//! ```text
//! cargo run --example firefighter
//! ```
//!
//! ## Feature flags
//!
//! | Feature | What it adds | Default |
//! |---|---|---|
//! | `slack` | [`slack`]: the incident lifecycle from Slack (commands, modals, channels, announcements, invitations) | yes |
//! | `pagerduty` | [`pagerduty`]: core's on-call vendor (roster for everyone, paging by anyone, on-call invitations); Slack and Confluence use it through core | yes |
//! | `confluence` | [`confluence`]: the on-call roster of the on-call vendor exported to a Confluence page | yes |
//! | `jira` | [`jira`]: an incident ticket in Jira for each declared incident, exactly once | yes |
//! | `server` | [`server`]: the HTTP server (REST API, login, web UI, integration routes) | yes |
//! | `cli` | [`cli`]: the command line (`serve`, `migrate`, `task`, `user`, `token`); implies `server` | yes |
//! | `browser-tests` | runs the headless Chromium test of the web UI | no |
//!
//! A compiled-in integration stays off until its variables are set;
//! `server::integrations::status` says which are on and why the others are not.
//! Referencing an integration here is also what links it into the binary,
//! so its static registrations (tasks, handlers, invite providers, the
//! on-call vendor) exist. Each feature builds alone.

#[cfg(feature = "confluence")]
pub use firefighter_confluence as confluence;
pub use firefighter_core as core;
#[cfg(feature = "jira")]
pub use firefighter_jira as jira;
#[cfg(feature = "pagerduty")]
pub use firefighter_pagerduty as pagerduty;
#[cfg(feature = "slack")]
pub use firefighter_slack as slack;

#[cfg(feature = "cli")]
pub mod cli;
mod error;
#[cfg(feature = "server")]
pub mod server;

pub use error::{Error, Problem, Result};
