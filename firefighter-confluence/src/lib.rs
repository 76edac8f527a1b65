//! # firefighter-confluence
//!
//! Confluence for firefighter:
//!
//! - **post-mortem pages**: Confluence is a post-mortem backend (`confluence`,
//!   core's [`firefighter_core::PostMortemProvider`]). When core asks for an
//!   incident's post-mortem (an incident that needs one reaching Mitigated
//!   or Post-mortem, or someone asking), the handler creates its page once,
//!   from the template page, in the space and under the folder configured,
//!   titled as FireFighter titles it, and records it in core; closing the
//!   incident waits until the page carries the ready label. See
//!   [`postmortem`] and [`render`].
//! - **the on-call roster** (from core's on-call vendor,
//!   [`firefighter_core::Firefighter::oncall`], whichever integration
//!   provides it) exported to the page `CONFLUENCE_ON_CALL_PAGE_ID`,
//!   updated only when the roster changed.
//! - **runbooks**: the pages of the two-level tree under
//!   `CONFLUENCE_RUNBOOKS_FOLDER_ID` synced into the crate's table
//!   `confluence_runbooks` (its own migrations, SQLite and PostgreSQL), shown
//!   on `/runbook/` and in the API (`runbooks/`), sorted in Confluence. See
//!   [`runbooks`] and [`routes`].
//! - **post-mortem housekeeping**: existing post-mortem pages linked to
//!   their incidents, archived into quarter folders and sorted. See
//!   [`housekeeping`].
//!
//! | Kind | Name | What | | Name | What |
//! |---|---|---|
//! | post-mortem backend | `confluence` (when `CONFLUENCE_POSTMORTEM_SPACE` and `CONFLUENCE_POSTMORTEM_FOLDER_ID` are set) | ready when the recorded page carries `CONFLUENCE_POSTMORTEM_READY_LABEL` (`GET /pages/{id}/labels`); not labelled: not ready; no page recorded: missing; Confluence not answering: unknown, with the error |
//! | event handler | `confluence.postmortems` (same condition) | on `PostMortemRequested { backend: "confluence" }`: finds the space id from its key, looks the title up in the space (every page of results) and adopts a page found there that links to the incident (made by an attempt whose answer was lost), else checks the folder is in the space, reads the template's storage body, creates the page (`POST /wiki/api/v2/pages`, never retried by the client), moves it before the newest earlier post-mortem of the folder (v1 `PUT /content/{id}/move/before/{target}`; only when the folder is a page; a failure is logged), then `record_postmortem` (once). A missing template, space or folder, a folder of another space, a title held by a page not made for the incident, a refused permission: permanent errors saying what to fix (the back-office's failed deliveries); 429, 5xx, time-outs: retried |
//! | task | `confluence.export_oncall` (every 10 min, when an on-call vendor is on) | renders the roster to storage-format XHTML and updates the page (version + 1) when it changed; skipped, and says so, when `CONFLUENCE_ON_CALL_PAGE_ID` is unset |
//! | task | `confluence.sync_runbooks` (hourly, when Confluence is on) | lists the children of `CONFLUENCE_RUNBOOKS_FOLDER_ID` (folders) and theirs (runbooks; v2 `GET /pages/{id}/children`, every page of results through `_links.next`), reads their bodies (`GET /pages?id=..&id=..&body-format=storage`, 250 a request), upserts them (title `<type>.<service> [RUNBOOK]`; bracketed parts left out of the type and the service; a type outside `ms front infra app other task stream site msf data gw nbk external` is `other`), deletes those that disappeared when at most 4 did; more missing: the run fails saying how many and which, deleting nothing; skipped, and says so, without the folder |
//! | task | `confluence.sort_runbooks` (by hand) | sorts the runbooks of each folder (template folders skipped) alphabetically, a leading `[...] ` prefix ignored (v1 `PUT /content/{id}/move/after/{target}`); while `CONFLUENCE_HOUSEKEEPING_DRY_RUN` is yes (the default) moves nothing and lists the moves it would make in its report |
//! | task | `confluence.sync_pages_content` (daily, when Confluence is on) | refreshes the body and version of every runbook (the pages firefighter keeps; post-mortems are core's records, without bodies), 250 a request; a page the bulk read leaves out is read alone, and its runbook deleted only on a 404 |
//! | task | `confluence.sync_postmortems` (hourly, when the post-mortem backend is on) | lists every page below `CONFLUENCE_POSTMORTEM_FOLDER_ID` (v1 `GET /content/{id}/descendant/page`, through `_links.next`), ignores archive folders (`[Archive] Q<n> <yyyy>`), templates and titles not starting with `#`, reads the incident id from `#<YYYYMMDD>[-inc]-<id>[-<slug>] ...` and records the page as the incident's Confluence post-mortem (`record_postmortem`: once; an incident with one already keeps it); pages of unknown incidents and unreadable titles are listed in the report |
//! | task | `confluence.archive_and_sort_postmortems` (by hand) | creates the current quarter's folder (`Q<n> <yyyy> Postmortems`, quarters by ISO week: 1–13, 14–26, 27–39, 40–53 of the ISO year) before the first quarter folder when missing, moves each top-level post-mortem recorded for an incident Closed for more than 7 days into its quarter's folder (v1 `move/append`), and sorts each quarter folder newest first (by the title's date); dry run by default, as `confluence.sort_runbooks` |
//!
//! The runbook routes (mounted by the server behind its login, only when
//! Confluence is on): `GET /runbook/` (the table, `?service_type=` repeated
//! and `?search=`), `GET /api/v2/firefighter/runbooks/` and
//! `GET /api/v2/firefighter/runbooks/{id}/`; see [`routes`].
//!
//! Post-mortem title: `[IGNORE - TEST <ENV>] ` unless `ENV` is `prod` or
//! `support` (FireFighter's rule), then `#<Slack channel name> (<Px>)
//! <title>`, the channel's name taken from the incident's
//! `custom_fields["slack_channel_name"]`, or the incident's canonical name
//! (`YYYYMMDD-<id>` in `TIME_ZONE`) when it has none; shortened to 250
//! characters on a word boundary, ending with `...`.
//!
//! Configuration: see [`config`].
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mocks |

mod client;
pub mod config;
mod error;
pub mod housekeeping;
pub mod models;
mod oncall;
pub mod postmortem;
pub mod render;
pub mod routes;
pub mod runbooks;

pub use client::{ConfluenceClient, CreatedPage, MovePosition, RetryPolicy};
pub use config::{ConfluenceConfig, PostMortemConfig};
pub use error::{Error, Result};
pub use models::{Page, PageSummary};
pub use oncall::{
    ExportOncallTask, ExportOutcome, TASK_EXPORT_ONCALL, export_oncall, export_roster,
    render_oncall_page,
};
