//! [`IncidentStore`] on both backends.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use crate::store::{Declared, IncidentChange, IncidentStore, NewIncidentRecord};
use crate::{
    Error, Incident, IncidentCost, IncidentDetails, IncidentEvent, IncidentFilter, IncidentId,
    Result, TimelineEntry, UserId,
};

use super::declaration::*;
use super::{base::*, children::*, convert::*, error::*, query::*, rows::*};

/// Implements [`IncidentStore`] for a backend.
macro_rules! incident_sql {
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
            /// The rows of the incidents a filter matches, in its order and page.
            pub(super) async fn incident_list_rows(conn: &mut $Conn, filter: &IncidentFilter) -> Result<Vec<IncidentRow>> {
                let mut params = Params::default();
                let clause = filter_clause(filter, $like, &mut params);
                let limit = params.push(Arg::I64(filter.limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))));
                let offset = params.push(Arg::I64(i64::try_from(filter.offset).unwrap_or(i64::MAX)));
                let sql = format!(
                    "{} JOIN priorities p ON p.id = i.priority_id{clause} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                    incident_select!(),
                    order_clause(filter),
                );
                // The text is built from constant fragments only; every value is bound.
                Ok(sqlx::query_as_with(AssertSqlSafe(sql), Self::args(params.args)?)
                    .fetch_all(&mut *conn)
                    .await?)
            }

            pub(super) async fn incident_exists(conn: &mut $Conn, id: IncidentId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(n > 0)
            }
        }

        #[async_trait]
        impl IncidentStore for $Store {
            async fn declare(&self, record: NewIncidentRecord) -> Result<Declared> {
                let record = Arc::new(record);
                for _ in 0..DEDUP_RACE_ATTEMPTS {
                    match self.write_declaration(record.clone()).await? {
                        Ok(declared) => return Ok(declared),
                        // A concurrent declaration with the same key (dedup or
                        // request key) committed first: the next attempt reads
                        // it by the same rule.
                        Err(e) if is_dedup_violation(&e) || is_request_key_violation(&e) => continue,
                        Err(e) => return Err(self.explain(e, ReferencedRow::of_record(&record)).await),
                    }
                }
                Err(Error::Conflict(format!(
                    "other incidents were declared with dedup_key \"{}\" at the same time; try again",
                    record.incident.dedup_key.as_deref().unwrap_or_default()
                )))
            }

            async fn apply(&self, change: IncidentChange) -> Result<Incident> {
                let id = change.incident.id;
                let change = Arc::new(change);
                let (this, written) = (self.clone(), change.clone());
                let applied = self.on_writer(async move { this.apply_in_tx(&written).await }).await??;
                match applied {
                    Ok(Some(incident)) => Ok(incident),
                    Ok(None) => Err(Error::not_found("incident", id)),
                    Err(e) if is_dedup_violation(&e) => Err(Error::Conflict(format!(
                        "another open incident already uses dedup_key \"{}\"",
                        change.incident.dedup_key.as_deref().unwrap_or_default()
                    ))),
                    Err(e) => Err(self.explain(e, ReferencedRow::of_change(&change)).await),
                }
            }

            async fn append(
                &self,
                incident: IncidentId,
                timeline: Vec<TimelineEntry>,
                events: Vec<IncidentEvent>,
                subscribers: Arc<[String]>,
            ) -> Result<()> {
                // Events are due when the entries they come with were recorded.
                let at = timeline.iter().map(|t| t.created_at).max().unwrap_or_else(crate::clock::now);
                let mut refs = Vec::new();
                ReferencedRow::of_timeline(&mut refs, &timeline);
                let this = self.clone();
                let written = self
                    .on_writer(async move {
                        let mut tx = this.begin_write().await?;
                        let written = async {
                            if !Self::incident_exists(&mut tx, incident).await? {
                                return Err(Error::not_found("incident", incident));
                            }
                            Self::write_timeline(&mut tx, incident, &timeline).await?;
                            Self::write_events(&mut tx, incident, &events, &subscribers, at).await?;
                            Self::bump(&mut tx, VersionsChanged::Data).await
                        }
                        .await;
                        Self::settle(tx, written).await
                    })
                    .await?;
                match written {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.explain(e, refs).await),
                }
            }

            async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
                let mut conn = self.pool.acquire().await?;
                Self::incident_in(&mut conn, id).await
            }

            async fn incident_details(&self, id: IncidentId) -> Result<Option<IncidentDetails>> {
                let mut conn = self.pool.acquire().await?;
                let row: Option<IncidentRow> = sqlx::query_as(concat!(incident_select!(), " WHERE i.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let (mut incidents, mut children) = Self::incidents_from(&mut conn, vec![row], ChildRows::All).await?;
                Ok(incidents.pop().map(|i| children.details(i)))
            }

            async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
                let mut conn = self.pool.acquire().await?;
                let rows = Self::incident_list_rows(&mut conn, filter).await?;
                Self::incident_rows(&mut conn, rows).await
            }

            async fn list_incident_details(&self, filter: &IncidentFilter) -> Result<Vec<IncidentDetails>> {
                let mut conn = self.pool.acquire().await?;
                let rows = Self::incident_list_rows(&mut conn, filter).await?;
                let (incidents, mut children) = Self::incidents_from(&mut conn, rows, ChildRows::All).await?;
                Ok(incidents.into_iter().map(|i| children.details(i)).collect())
            }

            async fn incident_details_many(&self, incidents: Vec<Incident>) -> Result<Vec<IncidentDetails>> {
                if incidents.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = incidents.iter().map(|i| i.id.0).collect();
                let mut conn = self.pool.acquire().await?;
                let mut children = Self::children(&mut conn, &ids, ChildRows::OfDetails).await?;
                Ok(incidents.into_iter().map(|i| children.details(i)).collect())
            }

            async fn incident_cost(&self, id: crate::CostId) -> Result<Option<IncidentCost>> {
                let row: Option<CostRow> = sqlx::query_as(
                    "SELECT id, incident_id, cost_type_id, amount_cents, details, created_at FROM incident_costs WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(cost_from_row))
            }

            async fn count_incidents(&self, filter: &IncidentFilter) -> Result<u64> {
                let mut params = Params::default();
                let clause = filter_clause(filter, $like, &mut params);
                let sql = format!("SELECT COUNT(*) FROM incidents i{clause}");
                let n: i64 = sqlx::query_scalar_with(AssertSqlSafe(sql), Self::args(params.args)?)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn request_applied(&self, key: &str) -> Result<Option<IncidentId>> {
                let id: Option<i64> = sqlx::query_scalar("SELECT incident_id FROM incident_requests WHERE request_key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(id.map(IncidentId))
            }

            async fn set_incident_member(&self, incident: IncidentId, user: UserId, member: bool) -> Result<bool> {
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let done = async {
                        if !Self::incident_exists(&mut tx, incident).await? {
                            return Err(Error::not_found("incident", incident));
                        }
                        if !Self::user_exists(&mut tx, user).await? {
                            return Err(Error::not_found("user", user));
                        }
                        let changed = if member {
                            sqlx::query(
                                "INSERT INTO incident_members (incident_id, user_id, position) VALUES ($1, $2, \
                                 (SELECT COALESCE(MAX(position), -1) + 1 FROM incident_members WHERE incident_id = $1)) \
                                 ON CONFLICT (incident_id, user_id) DO NOTHING",
                            )
                        } else {
                            sqlx::query("DELETE FROM incident_members WHERE incident_id = $1 AND user_id = $2")
                        }
                        .bind(incident)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            > 0;
                        if changed {
                            Self::bump(&mut tx, VersionsChanged::Data).await?;
                        }
                        Ok(changed)
                    }
                    .await;
                    match done {
                        Ok(changed) => {
                            tx.commit().await?;
                            Ok(changed)
                        }
                        Err(e) => {
                            tx.rollback().await.ok();
                            Err(e)
                        }
                    }
                })
                .await?
            }

            async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
                let rows: Vec<TimelineRow> = sqlx::query_as(
                    "SELECT id, incident_id, created_by, created_at, event_ts, event_type, message, status, changes \
                     FROM incident_updates WHERE incident_id = $1 ORDER BY event_ts DESC, created_at DESC, id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(timeline_from_row).collect()
            }
        }
    };
}

for_each_backend!(incident_sql);
