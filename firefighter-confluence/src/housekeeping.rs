//! Post-mortem housekeeping under `CONFLUENCE_POSTMORTEM_FOLDER_ID`:
//!
//! - `confluence.sync_postmortems` links the folder's post-mortem pages (any
//!   depth) to their incidents in core (`record_postmortem`, once per
//!   incident): archive folders, templates and titles not starting with `#`
//!   are ignored, the incident id is read from the title (FireFighter's
//!   `#<YYYYMMDD>[-inc]-<id>[-<slug>] ...`).
//! - `confluence.archive_and_sort_postmortems` moves the folder's
//!   top-level post-mortems whose incident is Closed for more than 7 days
//!   into their quarter's folder (`Q<n> <yyyy> Postmortems`, the quarter of
//!   the title's date by ISO week: weeks 1–13 are Q1, 14–26 Q2, 27–39 Q3,
//!   40–53 Q4, of the ISO year; the current quarter's folder is created when
//!   missing) and sorts each quarter folder newest first. While
//!   `CONFLUENCE_HOUSEKEEPING_DRY_RUN` is yes (the default) it changes
//!   nothing and reports what it would do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use firefighter_core::plugin::AppHandle;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{Firefighter, IncidentId, Status, register_task};

use crate::client::MovePosition;
use crate::postmortem::BACKEND;
use crate::runbooks::{MoveOutcome, PlannedMove, order_moves};
use crate::{ConfluenceClient, ConfluenceConfig, Error, PageSummary, Result};

/// Name of the sync task.
pub const TASK_SYNC_POSTMORTEMS: &str = "confluence.sync_postmortems";
/// Name of the archiving task.
pub const TASK_ARCHIVE_POSTMORTEMS: &str = "confluence.archive_and_sort_postmortems";
/// How long an incident stays Closed before its post-mortem is archived.
pub const ARCHIVE_AFTER_DAYS: i64 = 7;

/// What a post-mortem title says: the date and the incident id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostMortemTitle {
    /// The incident's date (`YYYYMMDD`).
    pub date: NaiveDate,
    /// The incident.
    pub incident: i64,
}

/// Reads FireFighter's post-mortem title, `#<YYYYMMDD>[-inc]-<id>` followed
/// by `-<slug>` and a space (or the end), or by a space. FireFighter takes
/// 2 to 4 digits of id; any number of digits is taken here (ids grow).
pub fn parse_postmortem_title(title: &str) -> Option<PostMortemTitle> {
    let rest = title.strip_prefix('#')?;
    let digits = rest.get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    let rest = &rest[8..];
    let rest = rest.strip_prefix("-inc").unwrap_or(rest);
    let rest = rest.strip_prefix('-')?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let incident: i64 = rest[..end].parse().ok()?;
    let after = &rest[end..];
    let ok = match after.chars().next() {
        Some(' ') => true,
        Some('-') => {
            let slug_end = after[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(after.len(), |i| i + 1);
            slug_end > 1 && (slug_end == after.len() || after[slug_end..].starts_with(' '))
        }
        _ => false,
    };
    ok.then_some(PostMortemTitle { date, incident })
}

/// The quarter of a date as FireFighter counts it: by ISO week, in the ISO year.
pub fn quarter_of(date: NaiveDate) -> (i32, u32) {
    let week = date.iso_week();
    let quarter = match week.week() {
        0..=13 => 1,
        14..=26 => 2,
        27..=39 => 3,
        _ => 4,
    };
    (week.year(), quarter)
}

/// The quarter of an archive folder's title (`[Archive] Q<n> <yyyy>...`).
pub fn parse_archive_title(title: &str) -> Option<(i32, u32)> {
    let rest = title.strip_prefix("[Archive] ").unwrap_or(title);
    let rest = rest.strip_prefix('Q')?;
    let quarter = rest
        .get(..1)?
        .parse::<u32>()
        .ok()
        .filter(|q| (1..=4).contains(q))?;
    let rest = rest[1..].strip_prefix(' ')?;
    let year = rest.get(..4)?;
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((year.parse().ok()?, quarter))
}

/// The title of a quarter's folder.
pub fn quarter_title((year, quarter): (i32, u32)) -> String {
    format!("Q{quarter} {year} Postmortems")
}

/// What a post-mortem sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostMortemSync {
    /// Post-mortem pages found.
    pub found: u64,
    /// Pages linked to their incident now.
    pub linked: u64,
    /// Incidents that already had a Confluence post-mortem.
    pub already: u64,
    /// Titles naming an incident firefighter does not have.
    pub missing_incident: Vec<String>,
    /// Titles starting with `#` that do not read as a post-mortem's.
    pub unreadable: Vec<String>,
}

impl PostMortemSync {
    fn report(&self) -> TaskReport {
        let mut report = TaskReport::counted([
            ("found", self.found),
            ("linked", self.linked),
            ("already linked", self.already),
            ("without incident", self.missing_incident.len() as u64),
            ("unreadable", self.unreadable.len() as u64),
        ]);
        let mut notes = Vec::new();
        if !self.missing_incident.is_empty() {
            notes.push(format!(
                "no such incident: {}",
                self.missing_incident.join(" | ")
            ));
        }
        if !self.unreadable.is_empty() {
            notes.push(format!(
                "titles not understood: {}",
                self.unreadable.join(" | ")
            ));
        }
        if !notes.is_empty() {
            report = report.with_note(notes.join("; "));
        }
        report
    }
}

/// Links the post-mortem pages under `folder_id` to their incidents.
pub async fn sync_postmortems(
    app: &Firefighter,
    client: &ConfluenceClient,
    folder_id: &str,
) -> Result<PostMortemSync> {
    let pages = client.descendant_pages(folder_id).await?;
    let mut outcome = PostMortemSync::default();
    for page in pages {
        let title = page.title.trim();
        if title.is_empty()
            || parse_archive_title(title).is_some()
            || title.to_uppercase().contains("[TEMPLATE]")
            || !title.starts_with('#')
        {
            continue;
        }
        let Some(parsed) = parse_postmortem_title(title) else {
            outcome.unreadable.push(title.to_owned());
            continue;
        };
        outcome.found += 1;
        let id = IncidentId(parsed.incident);
        match app.incident(id).await {
            Ok(_) => {}
            Err(firefighter_core::Error::NotFound { .. }) => {
                outcome.missing_incident.push(title.to_owned());
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let url = client.page_url(&page.id, page.links.webui.as_deref());
        if app.record_postmortem(id, BACKEND, &page.id, &url).await? {
            outcome.linked += 1;
        } else {
            outcome.already += 1;
        }
    }
    Ok(outcome)
}

/// Whether the incident of a post-mortem page is Closed for more than
/// [`ARCHIVE_AFTER_DAYS`] and the page is the one recorded for it.
async fn archivable(app: &Firefighter, page: &PageSummary, incident: i64) -> Result<bool> {
    let id = IncidentId(incident);
    let incident = match app.incident(id).await {
        Ok(incident) => incident,
        Err(firefighter_core::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let linked = app
        .postmortems(id)
        .await?
        .iter()
        .any(|d| d.backend == BACKEND && d.external_id == page.id);
    let old_enough = incident.status == Status::Closed
        && incident.closed_at.is_some_and(|at| {
            at < firefighter_core::clock::now() - chrono::Duration::days(ARCHIVE_AFTER_DAYS)
        });
    Ok(linked && old_enough)
}

/// Archives and sorts the post-mortems of `folder_id` (see the module docs);
/// `space_id` is where a missing quarter folder is created.
pub async fn archive_and_sort_postmortems(
    app: &Firefighter,
    client: &ConfluenceClient,
    space_key: &str,
    folder_id: &str,
    dry_run: bool,
) -> Result<MoveOutcome> {
    let top = client
        .children(folder_id)
        .await?
        .ok_or_else(|| Error::FolderNotFound(folder_id.to_owned()))?;
    let mut outcome = MoveOutcome {
        dry_run,
        ..MoveOutcome::default()
    };
    let mut bins: BTreeMap<(i32, u32), String> = BTreeMap::new();
    let mut first_bin: Option<String> = None;
    let mut to_sort = Vec::new();
    for page in top {
        if let Some(parsed) = parse_postmortem_title(&page.title) {
            to_sort.push((page, parsed));
        } else if let Some(quarter) = parse_archive_title(&page.title) {
            first_bin.get_or_insert_with(|| page.id.clone());
            if bins.insert(quarter, page.id.clone()).is_some() {
                tracing::warn!(title = %page.title, "two folders for the same quarter; the last one is used");
            }
        }
    }
    // The current quarter's folder.
    let today = firefighter_core::clock::now()
        .with_timezone(&app.time_zone())
        .date_naive();
    let current = quarter_of(today);
    if let std::collections::btree_map::Entry::Vacant(slot) = bins.entry(current) {
        let title = quarter_title(current);
        outcome.created.push(format!("\"{title}\" in {folder_id}"));
        if dry_run {
            slot.insert(format!("(new \"{title}\")"));
        } else {
            let space_id = client.space_id(space_key).await?;
            let page = client.create_page(&space_id, folder_id, &title, "").await?;
            if let Some(first) = &first_bin {
                client
                    .move_page(&page.id, MovePosition::Before, first)
                    .await?;
                outcome.moves.push(PlannedMove {
                    page_id: page.id.clone(),
                    title: title.clone(),
                    position: MovePosition::Before,
                    target_id: first.clone(),
                });
            }
            slot.insert(page.id);
        }
    }
    // Post-mortems of incidents closed long enough, into their quarter.
    for (page, parsed) in to_sort {
        let quarter = quarter_of(parsed.date);
        let Some(bin) = bins.get(&quarter) else {
            tracing::warn!(title = %page.title, "no folder for the post-mortem's quarter; left where it is");
            continue;
        };
        if !archivable(app, &page, parsed.incident).await? {
            continue;
        }
        if !dry_run {
            client
                .move_page(&page.id, MovePosition::Append, bin)
                .await?;
        }
        outcome.moves.push(PlannedMove {
            page_id: page.id,
            title: page.title,
            position: MovePosition::Append,
            target_id: bin.clone(),
        });
    }
    // Each quarter folder, newest first.
    for bin in bins.values().filter(|id| !id.starts_with('(')) {
        let Some(children) = client.children(bin).await? else {
            continue;
        };
        let current: Vec<(String, String, NaiveDate)> = children
            .into_iter()
            .filter_map(|c| parse_postmortem_title(&c.title).map(|t| (c.id, c.title, t.date)))
            .collect();
        let mut sorted = current.clone();
        sorted.sort_by_key(|p| std::cmp::Reverse(p.2));
        let strip = |v: &[(String, String, NaiveDate)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(id, title, _)| (id.clone(), title.clone()))
                .collect()
        };
        for m in order_moves(&strip(&current), &strip(&sorted)) {
            if !dry_run {
                client
                    .move_page(&m.page_id, m.position, &m.target_id)
                    .await?;
            }
            outcome.moves.push(m);
        }
    }
    Ok(outcome)
}

/// A task of this module.
#[derive(Debug)]
pub struct PostMortemTask {
    name: &'static str,
    client: ConfluenceClient,
    config: ConfluenceConfig,
    app: AppHandle,
}

impl PostMortemTask {
    /// The task `name` ([`TASK_SYNC_POSTMORTEMS`] or [`TASK_ARCHIVE_POSTMORTEMS`]).
    pub fn new(
        name: &'static str,
        config: ConfluenceConfig,
        app: AppHandle,
    ) -> Result<PostMortemTask> {
        Ok(PostMortemTask {
            name,
            client: ConfluenceClient::new(&config)?,
            config,
            app,
        })
    }

    /// The same task with another client.
    pub fn with_client(mut self, client: ConfluenceClient) -> PostMortemTask {
        self.client = client;
        self
    }
}

#[async_trait]
impl PeriodicTask for PostMortemTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        if self.name == TASK_SYNC_POSTMORTEMS {
            "Links the post-mortem pages under CONFLUENCE_POSTMORTEM_FOLDER_ID (titled #<YYYYMMDD>-<id>...) to their incidents"
        } else {
            "Moves post-mortems of incidents closed for more than 7 days into their quarter's folder (Q<n> <yyyy> Postmortems) and sorts each folder newest first; only says what it would do while CONFLUENCE_HOUSEKEEPING_DRY_RUN is yes"
        }
    }

    fn default_schedule(&self) -> Option<Schedule> {
        if self.name == TASK_SYNC_POSTMORTEMS {
            Some(Schedule::every(Duration::from_secs(3600)))
        } else {
            None
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        let pm = match &self.config.postmortems {
            Ok(pm) => pm,
            Err(why) => return Ok(TaskReport::note(format!("skipped: {why}"))),
        };
        let Some(app) = self.app.get() else {
            return Err(TaskError::failed("the application is not running"));
        };
        if self.name == TASK_SYNC_POSTMORTEMS {
            sync_postmortems(&app, &self.client, &pm.folder_id)
                .await
                .map(|o| o.report())
                .map_err(TaskError::failed)
        } else {
            archive_and_sort_postmortems(
                &app,
                &self.client,
                &pm.space_key,
                &pm.folder_id,
                self.config.housekeeping_dry_run,
            )
            .await
            .map(|o| o.report())
            .map_err(TaskError::failed)
        }
    }
}

fn build_task(
    name: &'static str,
    ctx: &firefighter_core::plugin::PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    let config =
        ConfluenceConfig::from_env().map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    let Some(config) = config else {
        return Ok(None);
    };
    let task = PostMortemTask::new(name, config, ctx.app_handle())
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    Ok(Some(Arc::new(task) as Arc<dyn PeriodicTask>))
}

register_task!(TaskRegistration {
    name: TASK_SYNC_POSTMORTEMS,
    build: |ctx| build_task(TASK_SYNC_POSTMORTEMS, ctx),
});

register_task!(TaskRegistration {
    name: TASK_ARCHIVE_POSTMORTEMS,
    build: |ctx| build_task(TASK_ARCHIVE_POSTMORTEMS, ctx),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fire_fighters_titles() {
        let t = |s: &str| parse_postmortem_title(s).map(|p| (p.date.to_string(), p.incident));
        assert_eq!(
            t("#20260105-42-prd-checkout (P1) Checkout fails"),
            Some(("2026-01-05".into(), 42))
        );
        assert_eq!(
            t("#20260105-inc-042 (P2) x"),
            Some(("2026-01-05".into(), 42))
        );
        assert_eq!(
            t("#20260105-1234"),
            None,
            "needs a space or a slug after the id"
        );
        assert_eq!(t("#20260105-1234-slug"), Some(("2026-01-05".into(), 1234)));
        assert_eq!(t("#2026010-12 x"), None);
        assert_eq!(t("#20261305-12 x"), None, "no 13th month");
        assert_eq!(t("[IGNORE - TEST dev] #20260105-12 x"), None);
        assert_eq!(t("#20260105-12-bad_slug x"), None);
    }

    #[test]
    fn quarters_are_iso_week_quarters() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // 2026-03-29 is in ISO week 13 (Q1), 2026-03-30 in week 14 (Q2).
        assert_eq!(quarter_of(d("2026-03-29")), (2026, 1));
        assert_eq!(quarter_of(d("2026-03-30")), (2026, 2));
        // 2027-01-01 is in ISO week 53 of 2026: Q4 2026.
        assert_eq!(quarter_of(d("2027-01-01")), (2026, 4));
        // 2024-12-30 is in ISO week 1 of 2025: Q1 2025.
        assert_eq!(quarter_of(d("2024-12-30")), (2025, 1));
        assert_eq!(
            parse_archive_title("[Archive] Q3 2025 Postmortems"),
            Some((2025, 3))
        );
        assert_eq!(parse_archive_title("Q4 2026 Postmortems"), Some((2026, 4)));
        assert_eq!(parse_archive_title("Q5 2026"), None);
        assert_eq!(quarter_title((2026, 4)), "Q4 2026 Postmortems");
    }
}
