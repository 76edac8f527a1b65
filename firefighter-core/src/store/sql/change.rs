//! Changing incidents: the versioned update and the child rows it writes.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::store::IncidentChange;
use crate::{
    ClosureReason, EnvironmentId, Error, Incident, IncidentEvent, IncidentId, KeyEvent, Result,
    RoleTypeId, Status, TimelineEntry, UserId,
};

use super::CHUNK;
use super::{base::*, convert::*};

/// Applying incident changes and writing child rows, for both backends.
macro_rules! change_sql {
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
            pub(super) async fn write_environments(conn: &mut $Conn, id: IncidentId, envs: &[EnvironmentId]) -> Result<()> {
                sqlx::query("DELETE FROM incident_environments WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Self::insert_environments(conn, id, envs).await
            }

            pub(super) async fn insert_environments(conn: &mut $Conn, id: IncidentId, envs: &[EnvironmentId]) -> Result<()> {
                Self::insert_environment_rows(conn, &environment_rows(id, envs)).await
            }

            /// Environments of any number of incidents, one statement per chunk
            /// (each statement is a round trip).
            pub(super) async fn insert_environment_rows(conn: &mut $Conn, rows: &[(IncidentId, EnvironmentId, i32)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new("");
                    Self::push_environment_rows(&mut insert, chunk, IdSql::Bound);
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// The incident of a row: bound, or the one inserted last.
            pub(super) fn push_incident_id(row: &mut sqlx::query_builder::Separated<'_, $Db, &'static str>, id: IncidentId, ids: IdSql) {
                match ids {
                    IdSql::Bound => row.push_bind(id),
                    IdSql::Newest if id.0 == 0 => row.push(NEWEST_INCIDENT),
                    IdSql::Newest => row.push(format_args!("({NEWEST_INCIDENT} - {})", id.0)),
                };
            }

            /// One statement: environment rows (at most `CHUNK / 3`).
            pub(super) fn push_environment_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, EnvironmentId, i32)], ids: IdSql) {
                insert.push("INSERT INTO incident_environments (incident_id, environment_id, position) ");
                insert.push_values(rows, |mut row, (id, env, p)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(*env).push_bind(*p);
                });
            }

            pub(super) async fn write_tags(conn: &mut $Conn, id: IncidentId, tags: &[String]) -> Result<()> {
                sqlx::query("DELETE FROM incident_tags WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Self::insert_tags(conn, id, tags).await
            }

            pub(super) async fn insert_tags(conn: &mut $Conn, id: IncidentId, tags: &[String]) -> Result<()> {
                Self::insert_tag_rows(conn, &tag_rows(id, tags)).await
            }

            pub(super) async fn insert_tag_rows(conn: &mut $Conn, rows: &[(IncidentId, String, i32)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new("");
                    Self::push_tag_rows(&mut insert, chunk, IdSql::Bound);
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// One statement: tag rows (at most `CHUNK / 3`).
            pub(super) fn push_tag_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, String, i32)], ids: IdSql) {
                insert.push("INSERT INTO incident_tags (incident_id, tag, position) ");
                insert.push_values(rows, |mut row, (id, tag, p)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(tag.as_str()).push_bind(*p);
                });
            }

            pub(super) async fn write_roles(conn: &mut $Conn, id: IncidentId, roles: &[(RoleTypeId, UserId)]) -> Result<()> {
                Self::upsert_role_rows(conn, &last_roles(id, roles)).await
            }

            /// Role holders (one row per incident and role: see [`last_roles`]).
            pub(super) async fn upsert_role_rows(conn: &mut $Conn, rows: &[(IncidentId, RoleTypeId, UserId)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new("");
                    Self::push_role_rows(&mut insert, chunk, IdSql::Bound);
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// One statement: role rows (at most `CHUNK / 3`).
            pub(super) fn push_role_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, RoleTypeId, UserId)], ids: IdSql) {
                insert.push("INSERT INTO incident_roles (incident_id, role_type_id, user_id) ");
                insert.push_values(rows, |mut row, (id, role, user)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(*role).push_bind(*user);
                });
                insert.push(" ON CONFLICT (incident_id, role_type_id) DO UPDATE SET user_id = excluded.user_id");
            }

            pub(super) async fn write_members(conn: &mut $Conn, id: IncidentId, members: &[UserId]) -> Result<()> {
                for user in unique(members) {
                    // `position` keeps the order people joined in.
                    sqlx::query(
                        "INSERT INTO incident_members (incident_id, user_id, position) VALUES ($1, $2, \
                         (SELECT COALESCE(MAX(position), -1) + 1 FROM incident_members WHERE incident_id = $1)) \
                         ON CONFLICT (incident_id, user_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(user)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            pub(super) async fn write_key_events(conn: &mut $Conn, id: IncidentId, events: &[KeyEvent]) -> Result<()> {
                Self::upsert_key_event_rows(conn, &last_key_events(id, events)).await
            }

            /// Key events (one row per incident and type: see [`last_key_events`]).
            pub(super) async fn upsert_key_event_rows(conn: &mut $Conn, rows: &[(IncidentId, &KeyEvent)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 4) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new("");
                    Self::push_key_event_rows(&mut insert, chunk, IdSql::Bound);
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// One statement: key event rows (at most `CHUNK / 4`).
            pub(super) fn push_key_event_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, &KeyEvent)], ids: IdSql) {
                insert.push("INSERT INTO incident_key_events (incident_id, event_type, at, recorded_by) ");
                insert.push_values(rows, |mut row, (id, k)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(k.event_type.as_str())
                        .push_bind(k.at)
                        .push_bind(k.recorded_by);
                });
                insert.push(
                    " ON CONFLICT (incident_id, event_type) DO UPDATE SET at = excluded.at, \
                     recorded_by = excluded.recorded_by",
                );
            }

            pub(super) async fn write_timeline(conn: &mut $Conn, id: IncidentId, entries: &[TimelineEntry]) -> Result<()> {
                let rows: Vec<(IncidentId, &TimelineEntry)> = entries.iter().map(|e| (id, e)).collect();
                Self::insert_timeline_rows(conn, &rows).await
            }

            /// Timeline entries of any number of incidents (a declaration writes several).
            pub(super) async fn insert_timeline_rows(conn: &mut $Conn, rows: &[(IncidentId, &TimelineEntry)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 10) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new("");
                    Self::push_timeline_rows(&mut insert, chunk, IdSql::Bound);
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// One statement: timeline rows (at most `CHUNK / 10`).
            pub(super) fn push_timeline_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, &TimelineEntry)], ids: IdSql) {
                insert.push(
                    "INSERT INTO incident_updates (id, incident_id, created_by, created_at, event_ts, event_type, \
                     message, status, changes) ",
                );
                insert.push_values(rows, |mut row, (id, e)| {
                    row.push_bind(e.id);
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(e.created_by)
                        .push_bind(e.created_at)
                        .push_bind(e.event_ts)
                        .push_bind(e.event_type.as_deref())
                        .push_bind(e.message.as_deref())
                        .push_bind(e.status.map(Status::value))
                        .push_bind(Json(&e.changes));
                });
            }

            /// One outbox row per event, one pending delivery per subscriber, due at `at`.
            pub(super) async fn write_events(
                conn: &mut $Conn,
                id: IncidentId,
                events: &[IncidentEvent],
                subscribers: &[String],
                at: DateTime<Utc>,
            ) -> Result<()> {
                for event in events {
                    let event_id: i64 = sqlx::query_scalar(
                        "INSERT INTO outbox_events (incident_id, kind, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(id)
                    .bind(event.kind())
                    .bind(Json(event))
                    .bind(at)
                    .fetch_one(&mut *conn)
                    .await?;
                    // One statement for every handler.
                    for chunk in unique(subscribers).chunks(CHUNK / 3) {
                        let mut insert = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO outbox_deliveries (event_id, handler, status, attempts, next_attempt_at) ",
                        );
                        insert.push_values(chunk, |mut row, handler| {
                            row.push_bind(event_id)
                                .push_bind(handler.as_str())
                                .push_bind("pending")
                                .push_bind(0_i32)
                                .push_bind(at);
                        });
                        insert.push(" ON CONFLICT (event_id, handler) DO NOTHING");
                        insert.build().execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }

            /// The transaction of `apply`. `Err`: a stale version or an unknown
            /// incident, to report as is; `Ok(Err)`: a failed write, to explain.
            pub(super) async fn apply_in_tx(&self, change: &IncidentChange) -> Result<Result<Option<Incident>>> {
                let id = change.incident.id;
                let mut tx = self.begin_write().await?;
                Ok(match Self::apply_change(&mut tx, change).await {
                    Ok(Some(incident)) => {
                        let bumped = Self::bump(&mut tx, VersionsChanged::Data).await.map(|()| Some(incident));
                        Self::settle(tx, bumped).await
                    }
                    Ok(None) => {
                        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM incidents WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        tx.rollback().await?;
                        return Err(match current {
                            None => Error::not_found("incident", id),
                            Some(v) => Error::Conflict(format!(
                                "the incident was changed meanwhile (version {} expected, {v} found); reload it and try again",
                                change.expected_version
                            )),
                        });
                    }
                    Err(e) => Self::settle(tx, Err(e)).await,
                })
            }

            /// Everything `apply` writes; `Ok(None)` when the version check failed.
            pub(super) async fn apply_change(conn: &mut $Conn, c: &IncidentChange) -> Result<Option<Incident>> {
                let i = &c.incident;
                let envs = environments_of(i);
                let primary = if c.environments_changed { envs[0] } else { i.environment_id };
                let updated = sqlx::query(
                    "UPDATE incidents SET title = $1, description = $2, status = $3, priority_id = $4, category_id = $5, \
                     environment_id = $6, updated_at = $7, mitigated_at = $8, closed_at = $9, closure_reason = $10, \
                     closure_reference = $11, custom_fields = $12, dedup_key = $13, ignore = $14, private = $15, \
                     version = version + 1 WHERE id = $16 AND version = $17",
                )
                .bind(i.title.as_str())
                .bind(i.description.as_str())
                .bind(i.status.value())
                .bind(i.priority_id)
                .bind(i.category_id)
                .bind(primary)
                .bind(i.updated_at)
                .bind(i.mitigated_at)
                .bind(i.closed_at)
                .bind(i.closure_reason.map(ClosureReason::slug))
                .bind(i.closure_reference.as_str())
                .bind(Json(&i.custom_fields))
                .bind(i.dedup_key.as_deref())
                .bind(i.ignore)
                .bind(i.private)
                .bind(i.id)
                .bind(c.expected_version)
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() == 0 {
                    return Ok(None);
                }
                let id = i.id;
                if let Some(key) = &c.request_key {
                    // A concurrent repeat computed from the same version lost above;
                    // one from a later version fails here on the primary key.
                    sqlx::query("INSERT INTO incident_requests (request_key, incident_id, created_at) VALUES ($1, $2, $3)")
                        .bind(key.as_str())
                        .bind(id)
                        .bind(i.updated_at)
                        .execute(&mut *conn)
                        .await?;
                }
                if c.environments_changed {
                    Self::write_environments(conn, id, &envs).await?;
                }
                if c.tags_changed {
                    Self::write_tags(conn, id, &i.tags).await?;
                }
                Self::write_roles(conn, id, &c.roles_set).await?;
                for role in &c.roles_cleared {
                    sqlx::query("DELETE FROM incident_roles WHERE incident_id = $1 AND role_type_id = $2")
                        .bind(id)
                        .bind(*role)
                        .execute(&mut *conn)
                        .await?;
                }
                Self::write_members(conn, id, &c.members_added).await?;
                Self::write_key_events(conn, id, &c.key_events_set).await?;
                for event_type in &c.key_events_cleared {
                    sqlx::query("DELETE FROM incident_key_events WHERE incident_id = $1 AND event_type = $2")
                        .bind(id)
                        .bind(event_type.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                for cost in &c.costs_added {
                    sqlx::query(
                        "INSERT INTO incident_costs (id, incident_id, cost_type_id, amount_cents, details, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(cost.id)
                    .bind(id)
                    .bind(cost.cost_type_id)
                    .bind(cost.amount_cents)
                    .bind(cost.details.as_str())
                    .bind(cost.created_at)
                    .execute(&mut *conn)
                    .await?;
                }
                Self::insert_postmortems(conn, &c.postmortems_added).await?;
                Self::write_timeline(conn, id, &c.timeline).await?;
                Self::write_events(conn, id, &c.events, &c.subscribers, i.updated_at).await?;
                Self::incident_in(conn, id).await
            }
        }
    };
}

for_each_backend!(change_sql);
