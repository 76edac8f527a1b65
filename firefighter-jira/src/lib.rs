//! # firefighter-jira
//!
//! Jira for firefighter (FireFighter's `jira_app` and `raid`), first part:
//! an **incident ticket** in Jira for each declared incident, created
//! exactly once, reported by the creator's Jira account (found by e-mail,
//! once per person), who watches it, linked back to the incident page; its
//! key and link recorded in the incident (`jira_ticket_key`,
//! `jira_ticket_url`, shown by the API). See [`tickets`] and [`users`].
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | event handler | `jira.tickets` (when Jira is on) | on `Created`, for the priorities of `JIRA_TICKET_PRIORITIES` (default every incident): searches the project for the label `ff-incident-<id>` (`GET /rest/api/3/search/jql`) and adopts the issue found (an attempt whose answer was lost), else creates it (`POST /rest/api/3/issue`: project, `issuetype`, summary, description in Atlassian Document Format with FireFighter's lines for P1–P3, reporter, the label, and the custom fields of [`config`]; retried on 429 only, searched again after a 5xx or a time-out); adds the reporter as watcher (`POST /issue/{key}/watchers`) and a remote link "FireFighter incident #<id>" to the incident page (`POST /issue/{key}/remotelink`, `globalId` `firefighter-incident-<id>`); then `set_custom_fields` (once). Jira refusing the fields: a permanent error naming each field and the setting behind it (the back-office's failed deliveries), also told to the responders (a `Notice` and a timeline entry); 429 (honouring `Retry-After`), 5xx, time-outs: retried |
//! | table | `jira_users` | the Jira account of each firefighter user, looked up by e-mail (`GET /rest/api/3/user/search`) the first time only |
//!
//! Reporter: the creator's Jira account, else
//! `RAID_DEFAULT_JIRA_QRAFT_USER_ID` (also when the look-up is refused, or
//! Jira refuses the creator as reporter: the create is then sent once more
//! with the default reporter). The reporter is added as watcher.
//!
//! Configuration: see [`config`].
//!
//! Not yet: Jira's webhooks (`raid/jira_update`, `raid/jira_comment`), the
//! two-way status and priority sync, Jira post-mortems, the P4/P5 RAID
//! alerts and DMs, the ticket intake (`raid/jira_bot`), per-team projects.
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mock |

pub mod alerts;
pub mod attachments;
mod client;
pub mod config;
mod error;
pub mod intake;
pub mod models;
pub mod tickets;
pub mod users;

pub use client::{JiraClient, RetryPolicy};
pub use config::{JiraConfig, JiraFields, TicketPriorities};
pub use error::{Error, Problem, Result};
pub use intake::{INTAKE_VARIABLES, routes};
