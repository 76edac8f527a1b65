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
//! | *(none yet)* | Integrations (Slack, PagerDuty, Confluence, Jira) add a feature each; [`cli::integrations_status`] reports them | |

pub use firefighter_core as core;

pub mod cli;
mod error;
pub mod server;

pub use error::{Error, Problem, Result};
