//! # firefighter-jira
//!
//! Jira for firefighter (FireFighter's `jira_app` and `raid`), first part:
//! an **incident ticket** in Jira for each declared incident, created
//! exactly once, reported by the creator's Jira account (found by e-mail,
//! once per person), who watches it, linked back to the incident page; its
//! key and link recorded in the incident (`jira_ticket_key`,
//! `jira_ticket_url`, shown by the API). See [`tickets`] and [`users`].
//! Second part: Jira as a **post-mortem backend** (`jira`), see [`postmortem`].
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | event handler | `jira.tickets` (when Jira is on) | on `Created`, for the priorities of `JIRA_TICKET_PRIORITIES` (default every incident): searches the project for the label `ff-incident-<id>` (`GET /rest/api/3/search/jql`) and adopts the issue found (an attempt whose answer was lost), else creates it (`POST /rest/api/3/issue`: project, `issuetype`, summary, description in Atlassian Document Format with FireFighter's lines for P1–P3, reporter, the label, and the custom fields of [`config`]; retried on 429 only, searched again after a 5xx or a time-out); adds the reporter as watcher (`POST /issue/{key}/watchers`) and a remote link `FireFighter incident #<id>` to the incident page (`POST /issue/{key}/remotelink`, `globalId` `firefighter-incident-<id>`); then `set_custom_fields` (once). Jira refusing the fields: a permanent error naming each field and the setting behind it (the back-office's failed deliveries), also told to the responders (a `Notice` and a timeline entry); 429 (honouring `Retry-After`), 5xx, time-outs: retried |
//! | event handler | `jira.postmortems` (when `ENABLE_JIRA_POSTMORTEM` and Jira are on) | on `PostMortemRequested { backend: "jira" }`: searches `JIRA_POSTMORTEM_PROJECT_KEY` for the label `ff-postmortem-<id>` and adopts the issue found, else creates it (summary `[IGNORE - TEST <ENV>] #<conversation> (<Px>) <title>`, the incident summary, timeline, impact, mitigation actions and root causes in Atlassian Document Format, the category, `duedate` 40 business days after the declaration, the ticket's replicated fields); links it to the incident's ticket (`POST /rest/api/3/issueLink`, types `Relates`, `Blocks`, `Relates to`; all refused: a warning), assigns it to the commander (`PUT /issue/{key}/assignee`; refused: a warning), then `record_postmortem`. Refusals: a permanent error naming each field's setting, told to the responders; 429, 5xx, time-outs: retried. On `KeyEventsUpdated` and status changes: the recorded post-mortem's timeline field is rendered again (`PUT /rest/api/3/issue/{key}`, that field alone) |
//! | post-mortem backend | `jira` (same switch) | ready when the recorded issue's status is `JIRA_POSTMORTEM_READY_STATUS` (`GET /rest/api/3/issue/{key}?fields=status`); not recorded: missing; Jira failing: unknown, with the error (closing waits) |
//! | table | `jira_users` | the Jira account of each firefighter user, looked up by e-mail (`GET /rest/api/3/user/search`) the first time only |
//!
//! Reporter: the creator's Jira account, else
//! `RAID_DEFAULT_JIRA_QRAFT_USER_ID` (also when the look-up is refused, or
//! Jira refuses the creator as reporter: the create is then sent once more
//! with the default reporter). The reporter is added as watcher.
//!
//! Configuration: see [`config`], and [`postmortem`] for the post-mortem
//! backend's variables.
//!
//! Not yet: Jira's webhooks (`raid/jira_update`, `raid/jira_comment`), the
//! two-way status and priority sync, the P4/P5 RAID
//! alerts and DMs, the ticket intake (`raid/jira_bot`), per-team projects.
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mock |

mod client;
pub mod config;
mod error;
pub mod ledger;
pub mod models;
pub mod postmortem;
pub mod sync;
pub mod tickets;
pub mod users;
pub mod webhooks;
pub mod workflow;

pub use client::{JiraClient, RetryPolicy};
pub use config::{JiraConfig, JiraFields, TicketPriorities};
pub use error::{Error, Result};
