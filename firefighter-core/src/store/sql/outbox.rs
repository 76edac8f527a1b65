//! [`OutboxStore`] on both backends.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::event::Delivery;
use crate::store::{DeliveryInfo, DeliveryStatus, OutboxStore};
use crate::{IncidentId, Result, StoredEvent};

use super::CHUNK;
use super::{convert::*, query::*, rows::*};

/// Implements [`OutboxStore`] for a backend.
macro_rules! outbox_sql {
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
            /// Leases up to `limit` due deliveries (of `handler` only, when
            /// given) in one statement, so two claimers never share one. Per
            /// incident and handler, only the oldest pending delivery is
            /// claimable: one incident's side effects run one at a time, in
            /// the order their events were committed (a parked delivery no
            /// longer blocks the ones after it).
            ///
            /// The earlier deliveries are looked up through the incident's own
            /// events (`CROSS JOIN` fixes that order on SQLite): a few index
            /// probes per candidate, where starting from the handler's pending
            /// deliveries scanned the whole backlog per candidate (seconds per
            /// claim with thousands pending, holding SQLite's writer). On
            /// SQLite, `+` keeps the due-time index out of the candidates'
            /// scan, so they are read in order from the handler's index and
            /// the scan stops at `limit` instead of sorting the backlog.
            async fn lease_due(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                silent: DateTime<Utc>,
                limit: u32,
                handler: Option<&String>,
            ) -> Result<Vec<ClaimedRow>> {
                let due = if $backend == "sqlite" { "+d.next_attempt_at" } else { "d.next_attempt_at" };
                let sql = format!(
                    concat!(
                        "UPDATE outbox_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                         WHERE id IN (SELECT d.id FROM outbox_deliveries d WHERE d.status = 'pending' AND {due} <= $3 \
                         AND (d.lease_until IS NULL OR d.lease_until < $3 OR d.lease_owner IN \
                         (SELECT i.id FROM instances i WHERE i.heartbeat_at < $5)){only} \
                         AND NOT EXISTS (SELECT 1 FROM outbox_events de \
                         CROSS JOIN outbox_events ee CROSS JOIN outbox_deliveries earlier \
                         WHERE de.id = d.event_id AND ee.incident_id = de.incident_id AND ee.id < de.id \
                         AND earlier.event_id = ee.id AND earlier.handler = d.handler AND earlier.status = 'pending') \
                         ORDER BY d.event_id, d.id LIMIT $4",
                        $lock,
                        ") RETURNING id, event_id, handler, attempts"
                    ),
                    due = due,
                    only = if handler.is_some() { " AND d.handler = $6" } else { "" },
                );
                let mut claim = sqlx::query_as::<_, ClaimedRow>(AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .bind(silent);
                if let Some(name) = handler {
                    claim = claim.bind(name.clone());
                }
                Ok(claim.fetch_all(&self.writer).await?)
            }
        }

        #[async_trait]
        impl OutboxStore for $Store {
            async fn claim_deliveries_for(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
                handlers: Option<Arc<[String]>>,
            ) -> Result<Vec<Delivery>> {
                if limit == 0 || handlers.as_ref().is_some_and(|h| h.is_empty()) {
                    return Ok(Vec::new());
                }
                let names: &[String] = handlers.as_deref().unwrap_or_default();
                // `AND handler IN ($5, ...)`, numbered after the claim's own four.
                let only = |first: usize| {
                    if names.is_empty() {
                        return String::new();
                    }
                    let list: Vec<String> = (first..first + names.len()).map(|i| format!("${i}")).collect();
                    format!(" AND d.handler IN ({})", list.join(", "))
                };
                // Nothing due (the usual answer): no write, so the writer is left to commands.
                // Free: never leased, lease expired, or its owner presumed dead (its heartbeat stopped).
                let free = |now: usize, silent: usize| {
                    format!(
                        "(d.lease_until IS NULL OR d.lease_until < ${now} OR d.lease_owner IN \
                         (SELECT i.id FROM instances i WHERE i.heartbeat_at < ${silent}))"
                    )
                };
                let silent = crate::instance::presumed_dead_before(now);
                let sql = format!(
                    "SELECT d.id FROM outbox_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                     AND {}{} LIMIT 1",
                    free(1, 2),
                    only(3)
                );
                let mut due = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(now).bind(silent);
                for name in names {
                    due = due.bind(name);
                }
                if due.fetch_optional(&self.pool).await?.is_none() {
                    return Ok(Vec::new());
                }
                // One statement per handler (each reads that handler's
                // pending deliveries in order, through its index, as far as
                // it takes); each handler gets a share of `limit`, and what
                // is left goes to the handlers that had more due.
                let mut claimed: Vec<ClaimedRow> = Vec::new();
                if names.is_empty() {
                    claimed = self.lease_due(owner, now, lease_until, silent, limit, None).await?;
                } else {
                    let share = limit.div_ceil(u32::try_from(names.len()).unwrap_or(u32::MAX)).max(1);
                    let mut more = Vec::new();
                    for name in names {
                        let room = limit.saturating_sub(u32::try_from(claimed.len()).unwrap_or(u32::MAX));
                        if room == 0 {
                            break;
                        }
                        let rows = self.lease_due(owner, now, lease_until, silent, share.min(room), Some(name)).await?;
                        if rows.len() >= share.min(room) as usize {
                            more.push(name);
                        }
                        claimed.extend(rows);
                    }
                    for name in more {
                        let room = limit.saturating_sub(u32::try_from(claimed.len()).unwrap_or(u32::MAX));
                        if room == 0 {
                            break;
                        }
                        claimed.extend(self.lease_due(owner, now, lease_until, silent, room, Some(name)).await?);
                    }
                }
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                claimed.sort_by_key(|c| (c.event_id, c.id));
                let event_ids = unique(&claimed.iter().map(|c| c.event_id).collect::<Vec<_>>());
                let mut events: HashMap<i64, std::result::Result<StoredEvent, String>> = HashMap::new();
                let mut conn = self.pool.acquire().await?;
                for chunk in event_ids.chunks(CHUNK) {
                    let sql = format!(
                        "SELECT id, incident_id, created_at, payload FROM outbox_events WHERE id IN ({})",
                        Self::placeholders(chunk.len())
                    );
                    let rows: Vec<EventRow> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(chunk.iter().map(|&i| Arg::I64(i)))?)
                            .fetch_all(&mut *conn)
                            .await?;
                    for row in rows {
                        let id = row.id;
                        events.insert(id, event_from_row(row).map_err(|e| e.to_string()));
                    }
                }
                let mut out = Vec::with_capacity(claimed.len());
                for c in claimed {
                    match events.get(&c.event_id) {
                        Some(Ok(event)) => out.push(Delivery {
                            id: c.id,
                            event: event.clone(),
                            handler: c.handler,
                            attempt: attempts(c.attempts),
                        }),
                        other => {
                            // An unreadable event would block the queue forever: park it.
                            let why = match other {
                                Some(Err(e)) => e.clone(),
                                _ => format!("outbox event {} is missing", c.event_id),
                            };
                            tracing::error!(delivery = c.id, error = %why, "parking an undeliverable outbox delivery");
                            sqlx::query(
                                "UPDATE outbox_deliveries SET status = 'failed', last_error = $1, lease_owner = NULL, \
                                 lease_until = NULL WHERE id = $2",
                            )
                            .bind(why)
                            .bind(c.id)
                            .execute(&self.writer)
                            .await?;
                        }
                    }
                }
                Ok(out)
            }

            async fn complete_deliveries(&self, ids: &[i64], owner: &str, now: DateTime<Utc>) -> Result<Vec<i64>> {
                let mut done = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let mut update = sqlx::QueryBuilder::<$Db>::new(
                        "UPDATE outbox_deliveries SET status = 'delivered', delivered_at = ",
                    );
                    update.push_bind(now);
                    update.push(", lease_owner = NULL, lease_until = NULL WHERE lease_owner = ");
                    update.push_bind(owner);
                    update.push(" AND status = 'pending' AND id IN (");
                    let mut list = update.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    update.push(") RETURNING id");
                    done.extend(update.build_query_scalar::<i64>().fetch_all(&self.writer).await?);
                }
                Ok(done)
            }

            async fn fail_delivery(
                &self,
                id: i64,
                owner: &str,
                error: &str,
                retry_at: Option<DateTime<Utc>>,
            ) -> Result<bool> {
                let done = match retry_at {
                    Some(at) => {
                        sqlx::query(
                            "UPDATE outbox_deliveries SET next_attempt_at = $1, last_error = $2, lease_owner = NULL, \
                             lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'pending'",
                        )
                        .bind(at)
                        .bind(error)
                        .bind(id)
                        .bind(owner)
                        .execute(&self.writer)
                        .await?
                    }
                    None => {
                        sqlx::query(
                            "UPDATE outbox_deliveries SET status = 'failed', last_error = $1, lease_owner = NULL, \
                             lease_until = NULL WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
                        )
                        .bind(error)
                        .bind(id)
                        .bind(owner)
                        .execute(&self.writer)
                        .await?
                    }
                };
                Ok(done.rows_affected() > 0)
            }

            async fn requeue_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
                // Attempts restart so a retry limit applies afresh.
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET status = 'pending', next_attempt_at = $1, attempts = 0, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $2 AND status = 'failed'",
                )
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_deliveries(&self, status: Option<DeliveryStatus>, limit: u32) -> Result<Vec<DeliveryInfo>> {
                let rows: Vec<DeliveryRow> = match status {
                    Some(status) => {
                        sqlx::query_as(
                            "SELECT d.id, d.event_id, e.incident_id, e.kind, d.handler, d.status, d.attempts, \
                             d.next_attempt_at, d.last_error, d.delivered_at FROM outbox_deliveries d \
                             JOIN outbox_events e ON e.id = d.event_id WHERE d.status = $1 ORDER BY d.id DESC LIMIT $2",
                        )
                        .bind(status.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(
                            "SELECT d.id, d.event_id, e.incident_id, e.kind, d.handler, d.status, d.attempts, \
                             d.next_attempt_at, d.last_error, d.delivered_at FROM outbox_deliveries d \
                             JOIN outbox_events e ON e.id = d.event_id ORDER BY d.id DESC LIMIT $1",
                        )
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                rows.into_iter()
                    .map(|r| {
                        Ok(DeliveryInfo {
                            id: r.id,
                            event_id: r.event_id,
                            incident_id: IncidentId(r.incident_id),
                            event_kind: r.kind,
                            handler: r.handler,
                            status: delivery_status_from(&r.status)?,
                            attempts: attempts(r.attempts),
                            next_attempt_at: r.next_attempt_at,
                            last_error: r.last_error,
                            delivered_at: r.delivered_at,
                        })
                    })
                    .collect()
            }

            async fn incident_events(&self, id: IncidentId) -> Result<Vec<StoredEvent>> {
                let rows: Vec<EventRow> = sqlx::query_as(
                    "SELECT id, incident_id, created_at, payload FROM outbox_events WHERE incident_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(event_from_row).collect()
            }
        }
    };
}

for_each_backend!(outbox_sql);
