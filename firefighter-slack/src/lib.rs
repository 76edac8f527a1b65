//! # firefighter-slack
//!
//! The whole incident lifecycle from Slack: declare with `/incident open`,
//! update, escalate, mitigate, post-mortem and close from modals; incident
//! channels created, named, announced, archived; responders invited from
//! core's invitation registry; announcements in `tech_incidents`, deployment
//! freezes in `it_deploy`; the home tab; user, user group and conversation
//! syncs; reminders.
//!
//! ```no_run
//! # async fn demo(app: firefighter_core::Firefighter) -> firefighter_slack::Result<()> {
//! // Static registrations (handler, invite providers, tasks, tables) are
//! // switched on by SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; the routes are
//! // mounted by the server:
//! if let Some(slack) = firefighter_slack::Slack::from_env(app.settings().clone(), app.store().clone())? {
//!     let router = firefighter_slack::routes(app.clone(), slack.clone());
//!     let admin = firefighter_slack::admin_routes(app.clone(), slack);
//!     # let _ = (router, admin);
//! }
//! # Ok(()) }
//! ```
//!
//! ## What it registers
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | event handler | `slack` | channel creation and set-up, updates, announcements, invitations, archive; documents linked by integrations (`LinkAdded`) bookmarked and listed in the pinned announcement |
//! | notifier | `slack` | core's [`firefighter_core::Notifier`]: direct messages to people, posts in conversations whose tag contains a given tag; once per key and recipient |
//! | invite provider | `slack.category` | members of conversations and user groups linked to the category (private incidents too) |
//! | invite provider | `slack.public_p1_usergroups` | user groups tagged `invited_for_all_public_p1`, public P1 only |
//! | task | `slack.sync_users`, `slack.update_usergroups_members_from_slack`, `slack.fetch_conversations_members_from_slack`, `slack.send_reminders`, `slack.send_postmortem_reminders` | syncs and reminders |
//! | task | `slack.replay_submissions` (every minute, and once when the routes are built) | applies submissions and events recorded before their acknowledgement but left unfinished; parks them after 5 failed attempts |
//! | task | `slack.update_oncall_topic` (every 15 min, when an on-call vendor is on) | the on-call roster in the `tech_incidents` topic, set only when it changed |
//! | schema | `slack` | our tables (migrations table `_ff_slack_migrations`) |
//!
//! ## Features
//!
//! | Feature | What it adds | Default |
//! |---|---|---|
//! | `test-util` | `MockSlackApi`, the mockall mock of [`SlackApi`] | no |
//! | `contract-tests` | runs the contract tests against the Prism Slack mock | no |
//!
//! ## On-call
//!
//! Slack knows no on-call vendor: it uses core's ([`firefighter_core::Firefighter::oncall`],
//! whichever integration registered it). With one on, `/incident oncall` pages
//! a service not yet paged for the incident ([`oncall`]), the
//! `tech_incidents` topic shows who is on call (people mentioned through
//! their Slack identity), and a channel opened outside office hours gets a
//! button to page the on-call ([`firefighter_core::IncidentEvent::OffHoursHint`]).
//! Pages recorded on the timeline (event type
//! [`firefighter_core::timeline::event_type::TRIGGER_ONCALL`]) are posted in the
//! incident channel, once per delivery. Without one, `/incident oncall` says
//! that no on-call vendor is on.
//!
//! ## Notifications and linked documents
//!
//! Other integrations reach people through core's notifier
//! ([`firefighter_core::Firefighter::notifier`]), which Slack provides
//! (registered statically, or [`Slack::notifier`] for run-time assembly).
//! A person gets a direct message (their Slack id as stored, else looked up
//! by e-mail; someone without a Slack account, deactivated or a bot is
//! `Unreachable`); `notify_tagged` posts in every conversation whose tag
//! contains the tag (`raid_alert__…`), never in an incident's channel nor in
//! an archived one. Each notification is posted once per key and recipient,
//! also when Slack's answer to the post was lost (the retry finds the
//! message by the key in its metadata). Rate limits, 5xx and transport
//! failures ask for a retry; a revoked token or a missing scope refuses.
//!
//! A document an integration links to an incident
//! ([`firefighter_core::IncidentEvent::LinkAdded`], a Jira ticket) is
//! bookmarked in the incident's channel once per incident and URL and
//! listed in the pinned announcement. The links are read back from core's
//! stored events, so they survive a restart, and an incident without a
//! channel yet (P4/P5) gets them bookmarked when its channel is set up.
//!
//! ## Environment
//!
//! See [`SlackConfig`]: `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET` (both
//! required to switch Slack on), `SLACK_API_URL`, `SLACK_INCIDENT_COMMAND`,
//! `SLACK_INCIDENT_COMMAND_ALIASES`, the guide URLs, `SLACK_APP_EMOJI`...
//!
//! ## Routes
//!
//! - [`routes`]: `POST /api/v2/firefighter/slack/incident/` — public (Slack
//!   calls it; every request is checked against the signing secret).
//! - [`admin_routes`]: `/admin/slack/...` — **staff only**: mount it behind the
//!   server's staff authentication.

mod access;
mod admin;
mod channel;
mod client;
mod command;
mod config;
mod error;
mod events;
mod handler;
mod ids;
mod interactivity;
mod invite_providers;
mod manifest;
mod messages;
pub mod models;
mod notifier;
pub mod oncall;
mod routes;
pub mod signature;
mod slack;
pub mod store;
pub mod submissions;
mod sync;
mod users;
mod views;

// The public surface: what the facade, the examples and the tests use.
pub use admin::{BackOffice, admin_routes};
#[cfg(any(test, feature = "test-util"))]
pub use client::MockSlackApi;
pub use client::{HttpSlackClient, ResponseObserver, SlackApi};
pub use config::SlackConfig;
pub use error::{Error, Result};
/// The `callback_id` of the on-call modal.
pub use ids::callback::ONCALL as ONCALL_CALLBACK_ID;
pub use manifest::manifest;
pub use routes::{SLACK_PATH, routes};
pub use slack::Slack;
pub use users::PLATFORM;
