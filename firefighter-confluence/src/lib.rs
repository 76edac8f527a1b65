//! # firefighter-confluence
//!
//! Confluence for firefighter. This first part exports the on-call roster
//! (from core's on-call vendor, [`firefighter_core::Firefighter::oncall`],
//! whichever integration provides it) to the page
//! `CONFLUENCE_ON_CALL_PAGE_ID`, updating it only when the roster changed.
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | task | `confluence.export_oncall` (every 10 min, when an on-call vendor is on) | renders the roster to storage-format XHTML and updates the page (version + 1) when it changed; skipped, and says so, when `CONFLUENCE_ON_CALL_PAGE_ID` is unset |
//!
//! Configuration: see [`config`].
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mocks |

mod client;
pub mod config;
mod error;
pub mod models;
mod oncall;
pub mod postmortem;
pub mod render;

pub use client::{ConfluenceClient, CreatedPage, RetryPolicy};
pub use config::{ConfluenceConfig, PostMortemConfig};
pub use error::{Error, Result};
pub use models::{Page, PageSummary};
pub use oncall::{
    ExportOncallTask, ExportOutcome, TASK_EXPORT_ONCALL, export_oncall, export_roster,
    render_oncall_page,
};
