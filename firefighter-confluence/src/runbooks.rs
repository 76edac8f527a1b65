//! Runbooks: the pages of the two-level tree under
//! `CONFLUENCE_RUNBOOKS_FOLDER_ID` (folders, then pages titled
//! `<type>.<service> [RUNBOOK]`), synced into the table
//! `confluence_runbooks` by `confluence.sync_runbooks`, listed on `/runbook/`
//! and in the API (see [`crate::routes`]), and sorted alphabetically in each
//! folder by `confluence.sort_runbooks`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firefighter_core::plugin::SchemaRegistration;
use firefighter_core::store::DatabasePool;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{register_schema, register_task};
use serde::Serialize;
use uuid::Uuid;

use crate::client::MovePosition;
use crate::{ConfluenceClient, ConfluenceConfig, Error, Result};

/// Name of the sync task.
pub const TASK_SYNC_RUNBOOKS: &str = "confluence.sync_runbooks";
/// Name of the sorting task.
pub const TASK_SORT_RUNBOOKS: &str = "confluence.sort_runbooks";
/// Name of the content refresh task.
pub const TASK_SYNC_PAGES_CONTENT: &str = "confluence.sync_pages_content";
/// FireFighter's service types; any other is `other`.
pub const SERVICE_TYPES: &[&str] = &[
    "ms", "front", "infra", "app", "other", "task", "stream", "site", "msf", "data", "gw", "nbk",
    "external",
];
/// The most runbooks one sync deletes (FireFighter's limit): more missing
/// at once looks like an API or configuration error.
pub const MAX_DELETED: usize = 4;
/// The suffix of a runbook's title.
pub const RUNBOOK_MARK: &str = "[RUNBOOK]";

/// A runbook, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runbook {
    /// Stable id (a UUID derived from the page id).
    pub id: Uuid,
    /// The Confluence page.
    pub page_id: String,
    /// The page's title without `[RUNBOOK]`.
    pub name: String,
    /// Same as `name` (FireFighter keeps both).
    pub title: String,
    /// The service (after the first `.`).
    pub service_name: String,
    /// The service type (before the first `.`), one of [`SERVICE_TYPES`].
    pub service_type: String,
    /// Where people read it.
    pub page_url: String,
    /// Where people edit it.
    pub page_edit_url: String,
    /// Its storage-format body.
    #[serde(skip)]
    pub body_storage: String,
    /// The page's version when synced.
    pub version: i64,
    /// When firefighter first saw it.
    pub created_at: DateTime<Utc>,
    /// When firefighter last changed it.
    pub updated_at: DateTime<Utc>,
}

/// What a title says: `(name, service_type, service_name)`. The name is the
/// title without ` [RUNBOOK]`; bracketed parts (`[WIP]`) are left out of
/// the type and the service; a type outside [`SERVICE_TYPES`] is `other`.
pub fn parse_title(title: &str) -> (String, String, String) {
    let name = title
        .trim()
        .trim_end_matches(RUNBOOK_MARK)
        .trim()
        .to_owned();
    let mut cleaned = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            c if depth == 0 => cleaned.push(c),
            _ => {}
        }
    }
    let (kind, service) = match cleaned.split_once('.') {
        Some((kind, service)) => (kind.trim().to_owned(), service.trim().to_owned()),
        None => (cleaned.trim().to_owned(), cleaned.trim().to_owned()),
    };
    let kind = if SERVICE_TYPES.contains(&kind.as_str()) {
        kind
    } else {
        "other".to_owned()
    };
    (name, kind, service)
}

/// The runbook id of a page.
pub fn runbook_id(page_id: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("confluence-runbook:{page_id}").as_bytes(),
    )
}

/// Runs the crate's migrations (its own migrations table).
pub async fn migrate(pool: DatabasePool) -> Result<()> {
    Ok(firefighter_core::migrate_integration!(&pool, "_ff_confluence_migrations").await?)
}

register_schema!(SchemaRegistration {
    name: "confluence",
    migrate: |pool| Box::pin(async move {
        migrate(pool)
            .await
            .map_err(|e| firefighter_core::Error::Config(format!("Confluence tables: {e}")))
    }),
});

/// The table `confluence_runbooks`.
#[derive(Debug, Clone)]
pub struct RunbookStore {
    /// Reads.
    pool: DatabasePool,
    /// Writes (on SQLite, the store's one writer connection).
    writer: DatabasePool,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
);

macro_rules! columns {
    () => {
        "id, page_id, name, title, service_name, service_type, page_url, \
         page_edit_url, body_storage, version, created_at, updated_at"
    };
}

fn from_row(r: Row) -> Runbook {
    Runbook {
        id: Uuid::parse_str(&r.0).unwrap_or_else(|_| runbook_id(&r.1)),
        page_id: r.1,
        name: r.2,
        title: r.3,
        service_name: r.4,
        service_type: r.5,
        page_url: r.6,
        page_edit_url: r.7,
        body_storage: r.8,
        version: r.9,
        created_at: r.10,
        updated_at: r.11,
    }
}

impl RunbookStore {
    /// The table on this database.
    pub fn new(pool: DatabasePool) -> RunbookStore {
        RunbookStore {
            writer: pool.clone(),
            pool,
        }
    }

    /// The table on a core store's database (its writes queued with core's).
    pub fn of(store: &dyn firefighter_core::Store) -> Result<RunbookStore> {
        match (store.database(), store.write_database()) {
            (Some(pool), Some(writer)) => Ok(RunbookStore { pool, writer }),
            _ => Err(Error::Config(
                "runbooks need core's SQL store (SQLite or PostgreSQL)".into(),
            )),
        }
    }

    /// Every runbook, by service type then name.
    pub async fn all(&self) -> Result<Vec<Runbook>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM confluence_runbooks ORDER BY service_type, name, page_id"
        );
        let rows: Vec<Row> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).fetch_all(p).await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// One runbook.
    pub async fn get(&self, id: Uuid) -> Result<Option<Runbook>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM confluence_runbooks WHERE id = $1"
        );
        let row: Option<Row> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(id.to_string()).fetch_optional(p).await?
        });
        Ok(row.map(from_row))
    }

    /// Inserts or updates runbooks (by page id) in one transaction; the
    /// number actually created and changed.
    pub async fn upsert(&self, runbooks: &[Runbook]) -> Result<(u64, u64)> {
        let existing: std::collections::HashMap<String, Runbook> = self
            .all()
            .await?
            .into_iter()
            .map(|r| (r.page_id.clone(), r))
            .collect();
        let changed: Vec<&Runbook> = runbooks
            .iter()
            .filter(|r| match existing.get(&r.page_id) {
                None => true,
                Some(old) => {
                    (
                        &old.name,
                        &old.service_name,
                        &old.service_type,
                        &old.page_url,
                        &old.page_edit_url,
                        &old.body_storage,
                        old.version,
                    ) != (
                        &r.name,
                        &r.service_name,
                        &r.service_type,
                        &r.page_url,
                        &r.page_edit_url,
                        &r.body_storage,
                        r.version,
                    )
                }
            })
            .collect();
        let created = changed
            .iter()
            .filter(|r| !existing.contains_key(&r.page_id))
            .count() as u64;
        let updated = changed.len() as u64 - created;
        if changed.is_empty() {
            return Ok((0, 0));
        }
        let sql = concat!(
            "INSERT INTO confluence_runbooks (",
            columns!(),
            ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (page_id) DO UPDATE SET name = excluded.name, title = excluded.title, \
             service_name = excluded.service_name, service_type = excluded.service_type, \
             page_url = excluded.page_url, page_edit_url = excluded.page_edit_url, \
             body_storage = excluded.body_storage, version = excluded.version, \
             updated_at = excluded.updated_at"
        );
        firefighter_core::on_pool!(&self.writer, |p, Db, BEGIN| {
            let mut conn = p.acquire().await?;
            sqlx::query(BEGIN).execute(&mut *conn).await?;
            let result: std::result::Result<(), sqlx::Error> = async {
                for r in &changed {
                    sqlx::query::<Db>(sql)
                        .bind(r.id.to_string())
                        .bind(r.page_id.clone())
                        .bind(r.name.clone())
                        .bind(r.title.clone())
                        .bind(r.service_name.clone())
                        .bind(r.service_type.clone())
                        .bind(r.page_url.clone())
                        .bind(r.page_edit_url.clone())
                        .bind(r.body_storage.clone())
                        .bind(r.version)
                        .bind(r.created_at)
                        .bind(r.updated_at)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {
                    sqlx::query("COMMIT").execute(&mut *conn).await?;
                }
                Err(e) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    return Err(e.into());
                }
            }
        });
        Ok((created, updated))
    }

    /// Replaces the body and version of runbooks (by page id); how many changed.
    pub async fn update_content(&self, pages: &[(String, String, i64)]) -> Result<u64> {
        let mut changed = 0;
        for (page_id, body, version) in pages {
            changed += firefighter_core::on_pool!(&self.writer, p => {
                sqlx::query(
                    "UPDATE confluence_runbooks SET body_storage = $1, version = $2, updated_at = $3 \
                     WHERE page_id = $4 AND (body_storage <> $1 OR version <> $2)",
                )
                .bind(body.clone())
                .bind(*version)
                .bind(firefighter_core::clock::now())
                .bind(page_id.clone())
                .execute(p)
                .await?
                .rows_affected()
            });
        }
        Ok(changed)
    }

    /// Deletes these runbooks (by page id); how many were.
    pub async fn delete(&self, page_ids: &[String]) -> Result<u64> {
        let mut deleted = 0;
        for id in page_ids {
            deleted += firefighter_core::on_pool!(&self.writer, p => {
                sqlx::query("DELETE FROM confluence_runbooks WHERE page_id = $1")
                    .bind(id.clone())
                    .execute(p)
                    .await?
                    .rows_affected()
            });
        }
        Ok(deleted)
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Runbook pages found.
    pub found: u64,
    /// Runbooks new in the table.
    pub created: u64,
    /// Runbooks changed.
    pub updated: u64,
    /// Runbooks deleted (their page disappeared).
    pub deleted: u64,
}

impl SyncOutcome {
    fn report(&self) -> TaskReport {
        TaskReport::counted([
            ("found", self.found),
            ("created", self.created),
            ("updated", self.updated),
            ("deleted", self.deleted),
        ])
    }
}

/// The runbook pages of the tree under `folder_id`: its children are
/// folders (those titled as templates skipped), their children the runbooks.
async fn runbook_pages(client: &ConfluenceClient, folder_id: &str) -> Result<Vec<String>> {
    let folders = client
        .children(folder_id)
        .await?
        .ok_or_else(|| Error::PageNotFound(folder_id.to_owned()))?;
    let mut ids = Vec::new();
    for folder in folders {
        if let Some(pages) = client.children(&folder.id).await? {
            ids.extend(pages.into_iter().map(|p| p.id));
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Syncs the runbooks under `folder_id` into the table: every page of the
/// tree's second level, with its body; runbooks whose page disappeared are
/// deleted when at most [`MAX_DELETED`] are, else
/// [`Error::TooManyMissingRunbooks`] (nothing deleted, the upserts kept).
pub async fn sync_runbooks(
    client: &ConfluenceClient,
    store: &RunbookStore,
    folder_id: &str,
) -> Result<SyncOutcome> {
    let ids = runbook_pages(client, folder_id).await?;
    let mut pages = client.pages_with_bodies(&ids).await?;
    // A page listed in the tree but left out of the bulk read is read
    // alone: only a 404 makes it missing.
    let read: HashSet<String> = pages.iter().map(|(p, _)| p.id.clone()).collect();
    for id in ids.iter().filter(|id| !read.contains(*id)) {
        match client.page(id).await {
            Ok(page) => pages.push((page, None)),
            Err(Error::PageNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let now = firefighter_core::clock::now();
    let existing: std::collections::HashMap<String, Runbook> = store
        .all()
        .await?
        .into_iter()
        .map(|r| (r.page_id.clone(), r))
        .collect();
    let runbooks: Vec<Runbook> = pages
        .into_iter()
        .map(|(page, webui)| {
            let (name, service_type, service_name) = parse_title(&page.title);
            let created_at = existing.get(&page.id).map_or(now, |r| r.created_at);
            Runbook {
                id: runbook_id(&page.id),
                // Read alone, a page comes without its link: the one known is kept.
                page_url: match (webui.as_deref(), existing.get(&page.id)) {
                    (None, Some(known)) => known.page_url.clone(),
                    (webui, _) => client.page_url(&page.id, webui),
                },
                page_edit_url: client.page_edit_url(&page.id),
                page_id: page.id,
                title: name.clone(),
                name,
                service_name,
                service_type,
                body_storage: page.body,
                version: page.version,
                created_at,
                updated_at: now,
            }
        })
        .collect();
    let fetched: HashSet<&str> = runbooks.iter().map(|r| r.page_id.as_str()).collect();
    let (created, updated) = store.upsert(&runbooks).await?;
    let mut missing: Vec<&Runbook> = existing
        .values()
        .filter(|r| !fetched.contains(r.page_id.as_str()))
        .collect();
    missing.sort_by(|a, b| a.page_id.cmp(&b.page_id));
    let mut outcome = SyncOutcome {
        found: runbooks.len() as u64,
        created,
        updated,
        deleted: 0,
    };
    if missing.len() > MAX_DELETED {
        return Err(Error::TooManyMissingRunbooks {
            missing: missing.len(),
            max: MAX_DELETED,
            folder_id: folder_id.to_owned(),
            list: missing
                .iter()
                .map(|r| format!("{} {}", r.page_id, r.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if !missing.is_empty() {
        tracing::warn!(
            runbooks = ?missing.iter().map(|r| format!("{} {}", r.page_id, r.name)).collect::<Vec<_>>(),
            "runbooks no longer in Confluence are deleted"
        );
        let ids: Vec<String> = missing.iter().map(|r| r.page_id.clone()).collect();
        outcome.deleted = store.delete(&ids).await?;
    }
    Ok(outcome)
}

/// What a content refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentOutcome {
    /// Pages read.
    pub read: u64,
    /// Runbooks whose body or version changed.
    pub updated: u64,
    /// Runbooks deleted: their page answered 404.
    pub deleted: u64,
}

/// FireFighter's `confluence.sync_pages_content` over the pages firefighter
/// keeps (the runbooks): each body and version refreshed (250 pages a
/// request); a page the bulk read left out is asked for alone, and its
/// runbook deleted only when Confluence answers 404 for it.
pub async fn sync_pages_content(
    client: &ConfluenceClient,
    store: &RunbookStore,
) -> Result<ContentOutcome> {
    let runbooks = store.all().await?;
    let ids: Vec<String> = runbooks.iter().map(|r| r.page_id.clone()).collect();
    let pages = client.pages_with_bodies(&ids).await?;
    let found: HashSet<&str> = pages.iter().map(|(p, _)| p.id.as_str()).collect();
    let mut gone = Vec::new();
    let mut contents: Vec<(String, String, i64)> = pages
        .iter()
        .map(|(p, _)| (p.id.clone(), p.body.clone(), p.version))
        .collect();
    for id in ids.iter().filter(|id| !found.contains(id.as_str())) {
        match client.page(id).await {
            Ok(page) => contents.push((page.id, page.body, page.version)),
            Err(Error::PageNotFound(_)) => gone.push(id.clone()),
            Err(e) => return Err(e),
        }
    }
    let updated = store.update_content(&contents).await?;
    if !gone.is_empty() {
        tracing::warn!(pages = ?gone, "runbook pages answer 404: their runbooks are deleted");
    }
    Ok(ContentOutcome {
        read: contents.len() as u64,
        updated,
        deleted: store.delete(&gone).await?,
    })
}

/// A move a sorting task makes (or would make, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMove {
    /// The page moved.
    pub page_id: String,
    /// Its title.
    pub title: String,
    /// Where, relative to `target_id`.
    pub position: MovePosition,
    /// The target page.
    pub target_id: String,
}

impl std::fmt::Display for PlannedMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.position {
            MovePosition::Append => "into",
            other => other.as_str(),
        };
        write!(
            f,
            "{} \"{}\" {how} {}",
            self.page_id, self.title, self.target_id
        )
    }
}

/// What a sorting or archiving task did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveOutcome {
    /// Only said what it would do.
    pub dry_run: bool,
    /// The moves, in order.
    pub moves: Vec<PlannedMove>,
    /// Pages created (quarter folders), or that would be.
    pub created: Vec<String>,
}

impl MoveOutcome {
    /// The run history's report: counts, and every move listed.
    pub fn report(&self) -> TaskReport {
        let verb = if self.dry_run { "would move" } else { "moved" };
        let mut note = if self.dry_run {
            "dry run (CONFLUENCE_HOUSEKEEPING_DRY_RUN is yes): nothing was changed".to_owned()
        } else {
            "applied".to_owned()
        };
        for created in &self.created {
            note.push_str(&format!(
                "; {} {created}",
                if self.dry_run {
                    "would create"
                } else {
                    "created"
                }
            ));
        }
        for m in &self.moves {
            note.push_str(&format!("; {verb} {m}"));
        }
        TaskReport::counted([(
            if self.dry_run {
                "moves planned"
            } else {
                "moves made"
            },
            self.moves.len() as u64,
        )])
        .with_note(note)
    }
}

/// A runbook's name for sorting, or `None` for a page that is not a
/// runbook (FireFighter's `parse_runbook_title`): `[RUNBOOK]` in the title,
/// not a template, a leading `[...] ` prefix left out.
pub fn sort_name(title: &str) -> Option<String> {
    if !title.contains(RUNBOOK_MARK) || title.to_uppercase().contains("[TEMPLATE]") {
        return None;
    }
    let mut rest = title.trim();
    if rest.starts_with('[')
        && let Some(end) = rest.rfind("] ")
        && !rest[..end + 1].contains(RUNBOOK_MARK)
    {
        rest = &rest[end + 2..];
    }
    Some(rest.trim().to_lowercase())
}

/// The moves that put `pages` (id, title, key) in the order of their keys,
/// as FireFighter sorts: none when already in order, else each page after
/// the one before it in the sorted order.
pub fn sort_moves(pages: &[(String, String, String)]) -> Vec<PlannedMove> {
    let mut sorted: Vec<&(String, String, String)> = pages.iter().collect();
    sorted.sort_by(|a, b| a.2.cmp(&b.2));
    let strip = |v: &mut dyn Iterator<Item = &(String, String, String)>| -> Vec<(String, String)> {
        v.map(|(id, title, _)| (id.clone(), title.clone()))
            .collect()
    };
    order_moves(&strip(&mut pages.iter()), &strip(&mut sorted.into_iter()))
}

/// The moves that turn the order `current` (id, title) into `sorted`:
/// none when they are the same, else each page of `sorted` after the one
/// before it (FireFighter's `sort_pages`).
pub fn order_moves(current: &[(String, String)], sorted: &[(String, String)]) -> Vec<PlannedMove> {
    if current.iter().map(|p| &p.0).eq(sorted.iter().map(|p| &p.0)) {
        return Vec::new();
    }
    sorted
        .windows(2)
        .map(|w| PlannedMove {
            page_id: w[1].0.clone(),
            title: w[1].1.clone(),
            position: MovePosition::After,
            target_id: w[0].0.clone(),
        })
        .collect()
}

/// Sorts the runbooks of each folder under `folder_id` alphabetically
/// (template folders skipped); in a dry run only says which moves it would make.
pub async fn sort_runbooks(
    client: &ConfluenceClient,
    folder_id: &str,
    dry_run: bool,
) -> Result<MoveOutcome> {
    let folders = client
        .children(folder_id)
        .await?
        .ok_or_else(|| Error::PageNotFound(folder_id.to_owned()))?;
    let mut outcome = MoveOutcome {
        dry_run,
        ..MoveOutcome::default()
    };
    for folder in folders
        .into_iter()
        .filter(|f| !f.title.to_uppercase().contains("TEMPLATE"))
    {
        let Some(children) = client.children(&folder.id).await? else {
            continue;
        };
        let pages: Vec<(String, String, String)> = children
            .into_iter()
            .filter_map(|c| sort_name(&c.title).map(|key| (c.id, c.title, key)))
            .collect();
        for m in sort_moves(&pages) {
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

/// A task of this module, with what it needs.
#[derive(Debug)]
pub struct RunbookTask {
    name: &'static str,
    client: ConfluenceClient,
    config: ConfluenceConfig,
    store: Arc<dyn firefighter_core::Store>,
}

impl RunbookTask {
    /// The task `name` ([`TASK_SYNC_RUNBOOKS`], [`TASK_SORT_RUNBOOKS`] or
    /// [`TASK_SYNC_PAGES_CONTENT`]).
    pub fn new(
        name: &'static str,
        config: ConfluenceConfig,
        store: Arc<dyn firefighter_core::Store>,
    ) -> Result<RunbookTask> {
        Ok(RunbookTask {
            name,
            client: ConfluenceClient::new(&config)?,
            config,
            store,
        })
    }

    /// The same task with another client (tests: retries, base URL).
    pub fn with_client(mut self, client: ConfluenceClient) -> RunbookTask {
        self.client = client;
        self
    }
}

#[async_trait]
impl PeriodicTask for RunbookTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        if self.name == TASK_SYNC_PAGES_CONTENT {
            "Refreshes the body and version of every runbook page from Confluence; deletes the runbooks whose page answers 404"
        } else if self.name == TASK_SYNC_RUNBOOKS {
            "Syncs the runbooks (pages titled <type>.<service> [RUNBOOK], two levels under CONFLUENCE_RUNBOOKS_FOLDER_ID) from Confluence; deletes at most 4 that disappeared"
        } else {
            "Sorts the runbooks of each folder under CONFLUENCE_RUNBOOKS_FOLDER_ID alphabetically; only says what it would move while CONFLUENCE_HOUSEKEEPING_DRY_RUN is yes"
        }
    }

    fn default_schedule(&self) -> Option<Schedule> {
        if self.name == TASK_SYNC_PAGES_CONTENT {
            Some(Schedule::every(Duration::from_secs(24 * 3600)))
        } else if self.name == TASK_SYNC_RUNBOOKS {
            Some(Schedule::every(Duration::from_secs(3600)))
        } else {
            None
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        if self.name == TASK_SYNC_PAGES_CONTENT {
            let store = RunbookStore::of(self.store.as_ref()).map_err(TaskError::failed)?;
            return sync_pages_content(&self.client, &store)
                .await
                .map(|o| {
                    TaskReport::counted([
                        ("read", o.read),
                        ("updated", o.updated),
                        ("deleted", o.deleted),
                    ])
                })
                .map_err(TaskError::failed);
        }
        let Some(folder) = &self.config.runbooks_folder_id else {
            return Ok(TaskReport::note(
                "skipped: CONFLUENCE_RUNBOOKS_FOLDER_ID is not set",
            ));
        };
        if self.name == TASK_SYNC_RUNBOOKS {
            let store = RunbookStore::of(self.store.as_ref()).map_err(TaskError::failed)?;
            sync_runbooks(&self.client, &store, folder)
                .await
                .map(|o| o.report())
                .map_err(TaskError::failed)
        } else {
            sort_runbooks(&self.client, folder, self.config.housekeeping_dry_run)
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
    let task = RunbookTask::new(name, config, ctx.store.clone())
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
    Ok(Some(Arc::new(task) as Arc<dyn PeriodicTask>))
}

register_task!(TaskRegistration {
    name: TASK_SYNC_RUNBOOKS,
    build: |ctx| build_task(TASK_SYNC_RUNBOOKS, ctx),
});

register_task!(TaskRegistration {
    name: TASK_SORT_RUNBOOKS,
    build: |ctx| build_task(TASK_SORT_RUNBOOKS, ctx),
});

register_task!(TaskRegistration {
    name: TASK_SYNC_PAGES_CONTENT,
    build: |ctx| build_task(TASK_SYNC_PAGES_CONTENT, ctx),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_give_the_type_and_the_service() {
        assert_eq!(
            parse_title("ms.checkout [RUNBOOK]"),
            ("ms.checkout".into(), "ms".into(), "checkout".into())
        );
        assert_eq!(
            parse_title("[WIP] front.web.shop [RUNBOOK]"),
            (
                "[WIP] front.web.shop".into(),
                "front".into(),
                "web.shop".into()
            )
        );
        assert_eq!(
            parse_title("lambda.resizer [RUNBOOK]"),
            ("lambda.resizer".into(), "other".into(), "resizer".into())
        );
        assert_eq!(
            parse_title("Kafka [RUNBOOK]"),
            ("Kafka".into(), "other".into(), "Kafka".into())
        );
    }

    #[test]
    fn sorting_ignores_prefixes_and_templates() {
        assert_eq!(
            sort_name("[WIP] ms.b [RUNBOOK]"),
            Some("ms.b [runbook]".into())
        );
        assert_eq!(sort_name("ms.a [RUNBOOK]"), Some("ms.a [runbook]".into()));
        assert_eq!(sort_name("[Template] x [RUNBOOK]"), None);
        assert_eq!(sort_name("Overview"), None);
        let page = |id: &str, key: &str| (id.to_owned(), key.to_owned(), key.to_owned());
        assert!(sort_moves(&[page("1", "a"), page("2", "b")]).is_empty());
        let moves = sort_moves(&[page("2", "b"), page("3", "c"), page("1", "a")]);
        let pairs: Vec<(&str, &str)> = moves
            .iter()
            .map(|m| (m.page_id.as_str(), m.target_id.as_str()))
            .collect();
        assert_eq!(pairs, [("2", "1"), ("3", "2")]);
    }
}
