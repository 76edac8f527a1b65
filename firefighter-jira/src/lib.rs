//! # firefighter-jira
//!
//! Jira for firefighter (FireFighter's `jira_app` and `raid`): an
//! **incident ticket** in Jira for each declared incident, created exactly
//! once, reported by the creator's Jira account (found by e-mail, once per
//! person), who watches it, linked back to the incident page; its key and
//! link recorded in the incident (`jira_ticket_key`, `jira_ticket_url`,
//! shown by the API). The **ticket intake**, for bots: a ticket without an
//! incident, with its attachments. The **RAID alert** of tickets that have
//! no incident conversation. See [`tickets`], [`intake`], [`attachments`],
//! [`alerts`] and [`users`]. Jira as a **post-mortem backend** (`jira`):
//! see [`postmortem`]. The **two-way sync** of status and priority, with
//! Jira's webhooks: see [`sync`], [`webhooks`] and [`workflow`].
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | event handler | `jira.tickets` (when Jira is on) | on `Created`, for the priorities of `JIRA_TICKET_PRIORITIES` (default every incident): searches the project for the label `ff-incident-<id>` (`GET /rest/api/3/search/jql`) and adopts the issue found (an attempt whose answer was lost), else creates it (`POST /rest/api/3/issue`: project, `issuetype`, summary, description in Atlassian Document Format with FireFighter's lines for P1–P3, reporter, the label, and the custom fields of [`config`]; retried on 429 only, searched again after a 5xx or a time-out); adds the reporter as watcher (`POST /issue/{key}/watchers`) and a remote link `FireFighter incident #<id>` to the incident page (`POST /issue/{key}/remotelink`, `globalId` `firefighter-incident-<id>`); then `set_custom_fields` (once); then, for P4/P5 incidents, the RAID alert (a retryable failure of the chat vendor retries the delivery; the alert's key makes it safe). Jira refusing the fields: a permanent error naming each field and the setting behind it (the back-office's failed deliveries), also told to the responders (a `Notice` and a timeline entry); 429 (honouring `Retry-After`), 5xx, time-outs: retried |
//! | route (behind the login; session or API token) | `POST /api/v2/firefighter/raid/jira_bot` ([`intake`]) | FireFighter's Landbot intake: the body checked field by field (400 in the API's error format, nothing created), the reporter's Jira account (else the default one), a ticket without incident in `project` (default `SBI`) with the custom fields, the attachments fetched behind the address guard and uploaded as `image<i><ext>` (a failed one is listed in the header `Firefighter-Attachment-Errors`, the ticket stays), then the RAID alert; `201` with the key as a JSON string. `Idempotency-Key`: the same answer again, the ticket searched by its label `ff-intake-<hash>` before it is made |
//! | notification | RAID alert ([`alerts`]) | through core's `Notifier` (Slack's): the reporter privately and every conversation tagged `raid_alert__<sbi\|incidents>_<high\|normal>` and `raid_alert__<reporter's domain>` (FireFighter computed the partner tags and dropped them, §14.1), once per ticket key; refused for P1–P3 incidents; skipped (logged) with no notifier |
//! | event handler | `jira.postmortems` (when `ENABLE_JIRA_POSTMORTEM` and Jira are on) | on `PostMortemRequested { backend: "jira" }`: searches `JIRA_POSTMORTEM_PROJECT_KEY` for the label `ff-postmortem-<id>` and adopts the issue found, else creates it (summary `[IGNORE - TEST <ENV>] #<conversation> (<Px>) <title>`, the incident summary, timeline, impact, mitigation actions and root causes in Atlassian Document Format, the category, `duedate` 40 business days after the declaration, the ticket's replicated fields); links it to the incident's ticket (`POST /rest/api/3/issueLink`, types `Relates`, `Blocks`, `Relates to`; all refused: a warning), assigns it to the commander (`PUT /issue/{key}/assignee`; refused: a warning), then `record_postmortem`. Refusals: a permanent error naming each field's setting, told to the responders; 429, 5xx, time-outs: retried. On `KeyEventsUpdated` and status changes: the recorded post-mortem's timeline field is rendered again (`PUT /rest/api/3/issue/{key}`, that field alone) |
//! | post-mortem backend | `jira` (same switch) | ready when the recorded issue's status is `JIRA_POSTMORTEM_READY_STATUS` (`GET /rest/api/3/issue/{key}?fields=status`); not recorded: missing; Jira failing: unknown, with the error (closing waits) |
//! | event handler | `jira.tickets`, on `Updated` and `ChannelReady` | the incident's status (by the shortest path of transitions, [`workflow`]) and priority pushed to its ticket, except changes that came from Jira and a downgrade's closing; each pushed value remembered in `jira_sync_markers` first; a move Jira cannot make is a warning on the timeline. The conversation linked from the ticket (`firefighter-conversation-<id>`) |
//! | route (signed, outside the login) | `POST /api/v2/firefighter/raid/jira_update`, `POST /api/v2/firefighter/raid/jira_comment` ([`webhooks`]) | `X-Hub-Signature` checked in constant time (401 otherwise, nothing recorded); recorded in core's inbox under `X-Atlassian-Webhook-Identifier` before the answer, applied once: status and priority through core's lifecycle with FireFighter's guards, watchers told of changes and comments through core's `Notifier` (apps, our accounts and `RAID_WATCHER_EMAIL_EXCLUSIONS` left out); our own changes change nothing |
//! | task | `jira.replay_webhooks` (every minute, when Jira is on) | applies webhooks left unfinished (a crash, a failure), forgets those done a week ago |
//! | tables | `jira_tickets`, `jira_sync_markers` ([`ledger`]) | which ticket is whose incident; the pushed values awaiting their echo |
//! | table | `jira_users` | the Jira account of each firefighter user, looked up by e-mail (`GET /rest/api/3/user/search`) the first time only |
//!
//! Reporter: the creator's Jira account, else
//! `RAID_DEFAULT_JIRA_QRAFT_USER_ID` (also when the look-up is refused, or
//! Jira refuses the creator as reporter: the create is then sent once more
//! with the default reporter). The reporter is added as watcher.
//!
//! Configuration: see [`config`]; the intake's own variables
//! ([`INTAKE_VARIABLES`]: `RAID_TOOLBOX_URL`, `RAID_COMPANY_EMAIL_DOMAINS`,
//! `RAID_INTAKE_PROJECT_KEY`, `RAID_INTAKE_ATTACHMENT_MAX_BYTES`,
//! `RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS`) in [`intake::IntakeSettings`].
//! [`routes`] builds the intake's route from the environment (none when
//! Jira is off); the facade mounts it behind the server's login.
//!
//! Post-mortem variables: see [`postmortem`].
//!
//! Not built: per-team projects (FireFighter's Feature Teams) and
//! per-domain default reporters (`RAID_JIRA_USER_IDS`).
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mock |
//! | `postgres-tests` | runs the sync's two-instance test on PostgreSQL (`FIREFIGHTER_TEST_POSTGRES_URL`) |

pub mod alerts;
pub mod attachments;
mod client;
pub mod config;
mod error;
pub mod intake;
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
pub use error::{Error, Problem, Result};
pub use intake::{INTAKE_VARIABLES, routes};
