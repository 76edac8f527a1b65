//! [`PostMortemStore`] on both backends.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::postmortem::{FollowUpAction, PostMortem, PostMortemNotes, SectionsEdit};
use crate::store::{PostMortemStore, PostMortemWrite};
use crate::{IncidentEvent, IncidentId, Result, TimelineEntry, UserId};

use super::CHUNK;
use super::base::*;

type DocumentRow = (
    i64,
    String,
    String,
    String,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
);
type NotesRow = (String, String, String, String, DateTime<Utc>, Option<Uuid>);
type ActionRow = (Uuid, i64, String, String, NaiveDate, bool, DateTime<Utc>);

const DOCUMENT_COLUMNS: &str =
    "incident_id, backend, external_id, url, ready, created_at, updated_at";

fn document(r: DocumentRow) -> PostMortem {
    PostMortem {
        incident_id: IncidentId(r.0),
        backend: r.1,
        external_id: r.2,
        url: r.3,
        ready: r.4,
        created_at: r.5,
        updated_at: r.6,
    }
}

fn action(r: ActionRow) -> FollowUpAction {
    FollowUpAction {
        id: r.0,
        incident_id: IncidentId(r.1),
        description: r.2,
        owner: r.3,
        due_on: r.4,
        done: r.5,
        created_at: r.6,
    }
}

/// Implements [`PostMortemStore`] (and the insert `apply` uses) for a backend.
macro_rules! postmortem_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        impl $Store {
            /// Inserts documents that do not exist yet (a second creation
            /// of the same incident and backend changes nothing).
            pub(super) async fn insert_postmortems(conn: &mut $Conn, docs: &[PostMortem]) -> Result<()> {
                for d in docs {
                    sqlx::query(
                        "INSERT INTO postmortems (incident_id, backend, external_id, url, ready, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (incident_id, backend) DO NOTHING",
                    )
                    .bind(d.incident_id)
                    .bind(&d.backend)
                    .bind(&d.external_id)
                    .bind(&d.url)
                    .bind(d.ready)
                    .bind(d.created_at)
                    .bind(d.updated_at)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            /// Saves the given sections; the others keep their saved text
            /// (merged in the statement: a concurrent edit of another
            /// section is not overwritten).
            pub(super) async fn write_sections(
                conn: &mut $Conn,
                incident: IncidentId,
                sections: &SectionsEdit,
                by: Option<UserId>,
                at: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO postmortem_notes (incident_id, impact, root_causes, went_well, went_badly, updated_at, updated_by) \
                     VALUES ($1, COALESCE($2, ''), COALESCE($3, ''), COALESCE($4, ''), COALESCE($5, ''), $6, $7) \
                     ON CONFLICT (incident_id) DO UPDATE SET \
                     impact = COALESCE($2, postmortem_notes.impact), root_causes = COALESCE($3, postmortem_notes.root_causes), \
                     went_well = COALESCE($4, postmortem_notes.went_well), went_badly = COALESCE($5, postmortem_notes.went_badly), \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(incident)
                .bind(sections.impact.as_deref())
                .bind(sections.root_causes.as_deref())
                .bind(sections.went_well.as_deref())
                .bind(sections.went_badly.as_deref())
                .bind(at)
                .bind(by.map(|u| u.0))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Inserts a follow-up action.
            pub(super) async fn insert_action(conn: &mut $Conn, a: &FollowUpAction) -> Result<()> {
                sqlx::query(
                    "INSERT INTO postmortem_actions (id, incident_id, description, owner, due_on, done, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(a.id)
                .bind(a.incident_id)
                .bind(&a.description)
                .bind(&a.owner)
                .bind(a.due_on)
                .bind(a.done)
                .bind(a.created_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Marks a follow-up action done or not; false when it is not the incident's.
            pub(super) async fn write_action_done(conn: &mut $Conn, incident: IncidentId, id: Uuid, done: bool) -> Result<bool> {
                let r = sqlx::query("UPDATE postmortem_actions SET done = $1 WHERE id = $2 AND incident_id = $3")
                    .bind(done)
                    .bind(id)
                    .bind(incident)
                    .execute(&mut *conn)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            /// Removes a follow-up action; false when it is not the incident's.
            pub(super) async fn remove_action(conn: &mut $Conn, incident: IncidentId, id: Uuid) -> Result<bool> {
                let r = sqlx::query("DELETE FROM postmortem_actions WHERE id = $1 AND incident_id = $2")
                    .bind(id)
                    .bind(incident)
                    .execute(&mut *conn)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            /// Sets a document's ready mark; false when it had it already (or does not exist).
            pub(super) async fn write_ready(
                conn: &mut $Conn,
                incident: IncidentId,
                backend: &str,
                ready: bool,
                at: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE postmortems SET ready = $1, updated_at = $2 \
                     WHERE incident_id = $3 AND backend = $4 AND ready <> $1",
                )
                .bind(ready)
                .bind(at)
                .bind(incident)
                .bind(backend)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() > 0)
            }
        }

        #[async_trait]
        impl PostMortemStore for $Store {
            async fn postmortems(&self, incident: IncidentId) -> Result<Vec<PostMortem>> {
                let rows: Vec<DocumentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM postmortems WHERE incident_id = $1 ORDER BY created_at, backend"
                )))
                .bind(incident)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(document).collect())
            }

            async fn postmortems_of(&self, incidents: &[IncidentId]) -> Result<Vec<PostMortem>> {
                let mut out = Vec::new();
                for chunk in incidents.chunks(CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$Db>::new(format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM postmortems WHERE incident_id IN ("
                    ));
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push(") ORDER BY incident_id, created_at, backend");
                    let rows: Vec<DocumentRow> = qb.build_query_as().fetch_all(&self.pool).await?;
                    out.extend(rows.into_iter().map(document));
                }
                Ok(out)
            }

            async fn set_postmortem_ready(
                &self,
                incident: IncidentId,
                backend: &str,
                ready: bool,
                timeline: Vec<TimelineEntry>,
                events: Vec<IncidentEvent>,
                subscribers: Arc<[String]>,
            ) -> Result<bool> {
                let at = timeline.iter().map(|t| t.created_at).max().unwrap_or_else(crate::clock::now);
                let backend = backend.to_owned();
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        if !Self::write_ready(&mut tx, incident, &backend, ready, at).await? {
                            return Ok(false);
                        }
                        Self::write_timeline(&mut tx, incident, &timeline).await?;
                        Self::write_events(&mut tx, incident, &events, &subscribers, at).await?;
                        Self::bump(&mut tx, VersionsChanged::Data).await?;
                        Ok(true)
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }

            async fn postmortem_notes(&self, incident: IncidentId) -> Result<Option<PostMortemNotes>> {
                let row: Option<NotesRow> = sqlx::query_as(
                    "SELECT impact, root_causes, went_well, went_badly, updated_at, updated_by \
                     FROM postmortem_notes WHERE incident_id = $1",
                )
                .bind(incident)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| PostMortemNotes {
                    impact: r.0,
                    root_causes: r.1,
                    went_well: r.2,
                    went_badly: r.3,
                    updated_at: Some(r.4),
                    updated_by: r.5.map(UserId),
                }))
            }

            async fn save_postmortem_notes(
                &self,
                incident: IncidentId,
                notes: &PostMortemNotes,
                by: Option<UserId>,
            ) -> Result<()> {
                let sections = SectionsEdit::from(notes);
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        if !Self::incident_exists(&mut tx, incident).await? {
                            return Err(crate::Error::not_found("incident", incident));
                        }
                        Self::write_sections(&mut tx, incident, &sections, by, crate::clock::now()).await?;
                        Self::bump(&mut tx, VersionsChanged::Data).await
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }

            async fn follow_up_actions(&self, incident: IncidentId) -> Result<Vec<FollowUpAction>> {
                let rows: Vec<ActionRow> = sqlx::query_as(
                    "SELECT id, incident_id, description, owner, due_on, done, created_at \
                     FROM postmortem_actions WHERE incident_id = $1 ORDER BY created_at, id",
                )
                .bind(incident)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(action).collect())
            }

            async fn add_follow_up_action(&self, a: &FollowUpAction) -> Result<()> {
                let a = a.clone();
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        if !Self::incident_exists(&mut tx, a.incident_id).await? {
                            return Err(crate::Error::not_found("incident", a.incident_id));
                        }
                        Self::insert_action(&mut tx, &a).await?;
                        Self::bump(&mut tx, VersionsChanged::Data).await
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }

            async fn set_follow_up_action_done(&self, incident: IncidentId, id: Uuid, done: bool) -> Result<bool> {
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        let changed = Self::write_action_done(&mut tx, incident, id, done).await?;
                        Self::bump(&mut tx, VersionsChanged::Data).await?;
                        Ok(changed)
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }

            async fn delete_follow_up_action(&self, incident: IncidentId, id: Uuid) -> Result<bool> {
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        let removed = Self::remove_action(&mut tx, incident, id).await?;
                        Self::bump(&mut tx, VersionsChanged::Data).await?;
                        Ok(removed)
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }

            async fn edit_postmortem(&self, edit: PostMortemWrite) -> Result<bool> {
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let written = async {
                        let incident = edit.incident;
                        if !Self::incident_exists(&mut tx, incident).await? {
                            return Err(crate::Error::not_found("incident", incident));
                        }
                        let at = crate::clock::now();
                        if let Some(key) = &edit.request_key {
                            // A concurrent repeat waits for this row (PostgreSQL)
                            // or for the writer (SQLite), then finds it.
                            let recorded = sqlx::query(
                                "INSERT INTO incident_requests (request_key, incident_id, created_at) VALUES ($1, $2, $3) \
                                 ON CONFLICT (request_key) DO NOTHING",
                            )
                            .bind(key.as_str())
                            .bind(incident)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                            if recorded.rows_affected() == 0 {
                                let owner: Option<i64> =
                                    sqlx::query_scalar("SELECT incident_id FROM incident_requests WHERE request_key = $1")
                                        .bind(key.as_str())
                                        .fetch_optional(&mut *tx)
                                        .await?;
                                return match owner {
                                    Some(owner) if owner != incident.0 => Err(crate::Error::invalid(
                                        "request_key",
                                        format!("this request key was used for incident {owner}"),
                                    )),
                                    _ => Ok(false),
                                };
                            }
                        }
                        let missing = |action: Uuid| {
                            crate::Error::invalid(
                                "actions",
                                format!("follow-up action {action} does not exist on this post-mortem"),
                            )
                        };
                        for (action, done) in &edit.done {
                            if !Self::write_action_done(&mut tx, incident, *action, *done).await? {
                                return Err(missing(*action));
                            }
                        }
                        for action in &edit.removed {
                            if !Self::remove_action(&mut tx, incident, *action).await? {
                                return Err(missing(*action));
                            }
                        }
                        if let Some(sections) = &edit.sections {
                            Self::write_sections(&mut tx, incident, sections, edit.by, at).await?;
                        }
                        if let Some(a) = &edit.add_action {
                            Self::insert_action(&mut tx, a).await?;
                        }
                        if let Some((ready, entry)) = &edit.ready
                            && Self::write_ready(&mut tx, incident, crate::postmortem::BUILT_IN, *ready, entry.created_at).await?
                        {
                            Self::write_timeline(&mut tx, incident, std::slice::from_ref(entry)).await?;
                        }
                        Self::bump(&mut tx, VersionsChanged::Data).await?;
                        Ok(true)
                    }
                    .await;
                    Self::settle(tx, written).await
                })
                .await?
            }
        }
    };
}

for_each_backend!(postmortem_sql);
