//! Declaring incidents: the `dedup_key` rule and the writes of new incidents
//! (alone or batched).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::store::{Declared, NewIncidentRecord};
use crate::{
    ClosureReason, Incident, IncidentEvent, IncidentId, Result, TimelineEntry, UserId, Viewer,
};

use super::CHUNK;
use super::{base::*, convert::*, rows::*};

/// Times a declaration is written again after losing the race for its
/// `dedup_key`: each attempt sees the winner, so the second one settles it
/// (the third when it then races for the declarer's own scope).
pub(super) const DEDUP_RACE_ATTEMPTS: usize = 4;

/// Where a declaration's `dedup_key` leads (see [`IncidentStore::declare`]).
pub(super) enum DedupClaim {
    /// The open incident the declaration gets instead of a new one.
    Matched(Box<Incident>),
    /// A new incident, holding the key for this declarer alone (`Some`) or
    /// for everybody.
    Free(Option<UserId>),
}

/// Declaring incidents, for both backends.
macro_rules! declaration_sql {
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
            /// The open incident holding `key` that `viewer` may see or that
            /// holds it for them alone: theirs first, then the one holding it
            /// for everybody, then the oldest.
            pub(super) async fn open_by_dedup_key(conn: &mut $Conn, key: &str, viewer: Viewer) -> Result<Option<Incident>> {
                let row: Option<IncidentRow> = match viewer.filter() {
                    None => sqlx::query_as(concat!(
                        incident_select!(),
                        " WHERE i.dedup_key = $1 AND i.status <= 40 \
                         ORDER BY CASE WHEN i.dedup_scope IS NULL THEN 0 ELSE 1 END, i.id LIMIT 1"
                    ))
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?,
                    Some(user) => sqlx::query_as(concat!(
                        incident_select!(),
                        " WHERE i.dedup_key = $1 AND i.status <= 40 AND (i.dedup_scope = $2 OR NOT i.private \
                         OR EXISTS (SELECT 1 FROM incident_members m WHERE m.incident_id = i.id AND m.user_id = $2)) \
                         ORDER BY CASE WHEN i.dedup_scope = $2 THEN 0 WHEN i.dedup_scope IS NULL THEN 1 ELSE 2 END, \
                         i.id LIMIT 1"
                    ))
                    .bind(key)
                    .bind(user)
                    .fetch_optional(&mut *conn)
                    .await?,
                };
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Self::incident_rows(conn, vec![row]).await?.pop()),
                }
            }

            /// Whether an open incident holds `key` for everybody.
            pub(super) async fn dedup_key_held_for_everybody(conn: &mut $Conn, key: &str) -> Result<bool> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM incidents WHERE dedup_key = $1 AND dedup_scope IS NULL AND status <= 40",
                )
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
                Ok(n > 0)
            }

            /// The rule of `dedup_key`s: the declaration gets the open incident
            /// with its key that its declarer may see (or that holds the key
            /// for them alone); else it is new, and holds the key for its
            /// declarer alone when holding it for everybody would show them an
            /// incident they may not see: the one holding it already, or the
            /// new one itself (declared private for someone else). So whether
            /// a key is held by an incident out of the declarer's sight never
            /// shows.
            pub(super) async fn claim_dedup_key(conn: &mut $Conn, record: &NewIncidentRecord) -> Result<DedupClaim> {
                // A repeat of a declaration already made (its answer was lost): that incident, whatever its status.
                if let Some(request) = record.request_key.as_deref() {
                    let row: Option<IncidentRow> = sqlx::query_as(concat!(
                        incident_select!(),
                        " WHERE i.id = (SELECT r.incident_id FROM incident_requests r WHERE r.request_key = $1)"
                    ))
                    .bind(request)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(row) = row
                        && let Some(existing) = Self::incident_rows(conn, vec![row]).await?.pop()
                    {
                        return Ok(DedupClaim::Matched(Box::new(existing)));
                    }
                }
                let Some(key) = record.incident.dedup_key.as_deref() else {
                    return Ok(DedupClaim::Free(None));
                };
                let viewer = record.dedup_viewer;
                if let Some(existing) = Self::open_by_dedup_key(conn, key, viewer).await? {
                    return Ok(DedupClaim::Matched(Box::new(existing)));
                }
                let Viewer::Member(declarer) = viewer else {
                    return Ok(DedupClaim::Free(None));
                };
                let scoped = !viewer.can_see_incident(&record.incident, &record.members)
                    || Self::dedup_key_held_for_everybody(conn, key).await?;
                Ok(DedupClaim::Free(scoped.then_some(declarer)))
            }

            /// The transaction of `declare`: the open incident the
            /// `dedup_key` leads to, or the new one (committed).
            pub(super) async fn declare_in_tx(&self, record: &NewIncidentRecord) -> Result<Declared> {
                let mut tx = self.begin_write().await?;
                let written = async {
                    let scope = match Self::claim_dedup_key(&mut tx, record).await? {
                        DedupClaim::Matched(existing) => return Ok(Declared::Existing(*existing)),
                        DedupClaim::Free(scope) => scope,
                    };
                    let incident = Self::insert_incidents(&mut tx, &[(record, scope)])
                        .await?
                        .pop()
                        .ok_or_else(|| corrupt("a declared incident was not written"))?;
                    Self::bump(&mut tx, VersionsChanged::Data).await?;
                    Ok(Declared::Created(incident))
                }
                .await;
                Self::settle(tx, written).await
            }

            /// Declares several incidents in one transaction. A record whose
            /// `dedup_key` leads to an open incident, or to one declared
            /// earlier in the batch, gets that incident, as if they had come
            /// one after another. Any failure rolls back all of them.
            #[allow(dead_code, reason = "only the SQLite writer batches declarations")]
            pub(super) async fn declare_batch_in_tx(&self, records: &[Arc<NewIncidentRecord>]) -> Result<Vec<Declared>> {
                let mut tx = self.begin_write().await?;
                let written = async {
                    let mut declared: Vec<Option<Declared>> = vec![None; records.len()];
                    // New incidents not written yet (with their dedup scope),
                    // and their keys.
                    let mut waiting: Vec<(usize, Option<UserId>)> = Vec::new();
                    let mut waiting_keys: HashSet<&str> = HashSet::new();
                    let mut waiting_requests: HashSet<&str> = HashSet::new();
                    let mut wrote = false;
                    for (n, record) in records.iter().enumerate() {
                        // A repeat of a declaration waiting in the batch gets it, once written.
                        if let Some(request) = record.request_key.as_deref()
                            && waiting_requests.contains(request)
                        {
                            wrote |= Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                            waiting_keys.clear();
                            waiting_requests.clear();
                        }
                        if let Some(key) = record.incident.dedup_key.as_deref() {
                            // Whether this one gets an earlier one of the batch
                            // depends on who may see it: written first, the
                            // earlier one is read by the same rule as any other.
                            if waiting_keys.contains(key) {
                                wrote |= Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                                waiting_keys.clear();
                                waiting_requests.clear();
                            }
                        }
                        match Self::claim_dedup_key(&mut tx, record).await? {
                            DedupClaim::Matched(existing) => declared[n] = Some(Declared::Existing(*existing)),
                            DedupClaim::Free(scope) => {
                                waiting_keys.extend(record.incident.dedup_key.as_deref());
                                waiting_requests.extend(record.request_key.as_deref());
                                waiting.push((n, scope));
                            }
                        }
                    }
                    wrote |= Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                    if wrote {
                        Self::bump(&mut tx, VersionsChanged::Data).await?;
                    }
                    declared
                        .into_iter()
                        .map(|d| d.ok_or_else(|| corrupt("a declaration of the batch was not written")))
                        .collect::<Result<Vec<_>>>()
                }
                .await;
                Self::settle(tx, written).await
            }

            /// Writes the `waiting` new incidents of a batch, recording them in
            /// `declared`; whether there were any.
            #[allow(dead_code, reason = "only the SQLite writer batches declarations")]
            pub(super) async fn insert_waiting(
                conn: &mut $Conn,
                records: &[Arc<NewIncidentRecord>],
                waiting: &mut Vec<(usize, Option<UserId>)>,
                declared: &mut [Option<Declared>],
            ) -> Result<bool> {
                if waiting.is_empty() {
                    return Ok(false);
                }
                let new: Vec<(&NewIncidentRecord, Option<UserId>)> =
                    waiting.iter().map(|(n, scope)| (records[*n].as_ref(), *scope)).collect();
                let incidents = Self::insert_incidents(conn, &new).await?;
                for ((n, _), incident) in waiting.drain(..).zip(incidents) {
                    declared[n] = Some(Declared::Created(incident));
                }
                Ok(true)
            }

            /// Everything `declare` writes for new incidents (each with the
            /// scope of its `dedup_key`): one statement per incident row, then
            /// one statement per kind of child row for all of them together
            /// (each statement is a round trip).
            pub(super) async fn insert_incidents(
                conn: &mut $Conn,
                new: &[(&NewIncidentRecord, Option<UserId>)],
            ) -> Result<Vec<Incident>> {
                let records: Vec<&NewIncidentRecord> = new.iter().map(|(record, _)| *record).collect();
                let mut ids = Vec::with_capacity(records.len());
                for (record, dedup_scope) in new {
                    let i = &record.incident;
                    let raw: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (title, description, status, priority_id, category_id, environment_id, \
                         created_by, created_at, updated_at, mitigated_at, closed_at, closure_reason, closure_reference, \
                         custom_fields, dedup_key, ignore, private, version, dedup_scope) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, $18) RETURNING id",
                    )
                    .bind(i.title.as_str())
                    .bind(i.description.as_str())
                    .bind(i.status.value())
                    .bind(i.priority_id)
                    .bind(i.category_id)
                    .bind(environments_of(i)[0])
                    .bind(i.created_by)
                    .bind(i.created_at)
                    .bind(i.updated_at)
                    .bind(i.mitigated_at)
                    .bind(i.closed_at)
                    .bind(i.closure_reason.map(ClosureReason::slug))
                    .bind(i.closure_reference.as_str())
                    .bind(Json(&i.custom_fields))
                    .bind(i.dedup_key.as_deref())
                    .bind(i.ignore)
                    .bind(i.private)
                    .bind(*dedup_scope)
                    .fetch_one(&mut *conn)
                    .await?;
                    ids.push(IncidentId(raw));
                    if let Some(request) = record.request_key.as_deref() {
                        sqlx::query("INSERT INTO incident_requests (request_key, incident_id, created_at) VALUES ($1, $2, $3)")
                            .bind(request)
                            .bind(raw)
                            .bind(i.created_at)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                let written: Vec<(IncidentId, &NewIncidentRecord)> =
                    ids.iter().copied().zip(records.iter().copied()).collect();
                let envs: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| environment_rows(*id, &environments_of(&r.incident)))
                    .collect();
                Self::insert_environment_rows(conn, &envs).await?;
                let tags: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| tag_rows(*id, &r.incident.tags))
                    .collect();
                Self::insert_tag_rows(conn, &tags).await?;
                let roles: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| last_roles(*id, &r.roles))
                    .collect();
                Self::upsert_role_rows(conn, &roles).await?;

                // New incidents have no members yet: positions start at 0.
                let members: Vec<(IncidentId, UserId, i32)> = written
                    .iter()
                    .flat_map(|(id, r)| {
                        unique(&r.members)
                            .into_iter()
                            .enumerate()
                            .map(move |(p, u)| (*id, u, position(p)))
                    })
                    .collect();
                for chunk in members.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_members (incident_id, user_id, position) ",
                    );
                    insert.push_values(chunk, |mut row, (id, user, p)| {
                        row.push_bind(*id).push_bind(*user).push_bind(*p);
                    });
                    insert.build().execute(&mut *conn).await?;
                }

                let key_events: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| last_key_events(*id, &r.key_events))
                    .collect();
                Self::upsert_key_event_rows(conn, &key_events).await?;
                let timeline: Vec<(IncidentId, &TimelineEntry)> = written
                    .iter()
                    .flat_map(|(id, r)| r.timeline.iter().map(move |e| (*id, e)))
                    .collect();
                Self::insert_timeline_rows(conn, &timeline).await?;

                Self::insert_declared_events(conn, &written).await?;

                let mut incidents = Vec::with_capacity(written.len());
                for (id, r) in &written {
                    let i = &r.incident;
                    // What was written is what reading it back would give, when
                    // its times already have the stored precision.
                    let exact = [Some(i.created_at), Some(i.updated_at), i.mitigated_at, i.closed_at]
                        .into_iter()
                        .flatten()
                        .all(|t| crate::clock::truncate_micros(t) == t);
                    let incident = if exact {
                        let envs = environments_of(i);
                        Incident {
                            id: *id,
                            environment_id: envs[0],
                            tags: unique(&i.tags),
                            environment_ids: envs,
                            version: 1,
                            ..i.clone()
                        }
                    } else {
                        Self::incident_in(conn, *id).await?.ok_or_else(|| {
                            corrupt(format!("incident {id} vanished while being declared"))
                        })?
                    };
                    incidents.push(incident);
                }
                Ok(incidents)
            }

            /// The outbox rows of new incidents: their events in one statement,
            /// then one pending delivery per event and subscriber, due when the
            /// incident was declared, in one statement per set of subscribers.
            pub(super) async fn insert_declared_events(
                conn: &mut $Conn,
                written: &[(IncidentId, &NewIncidentRecord)],
            ) -> Result<()> {
                let events: Vec<(IncidentId, &IncidentEvent, DateTime<Utc>)> = written
                    .iter()
                    .flat_map(|(id, r)| r.events.iter().map(move |e| (*id, e, r.incident.created_at)))
                    .collect();
                for chunk in events.chunks(CHUNK / 4) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO outbox_events (incident_id, kind, payload, created_at) ",
                    );
                    insert.push_values(chunk, |mut row, (id, event, at)| {
                        row.push_bind(*id)
                            .push_bind(event.kind())
                            .push_bind(Json(*event))
                            .push_bind(*at);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                // The incidents are new: every event they have was written just now.
                let mut by_subscribers: Vec<(Vec<String>, Vec<IncidentId>)> = Vec::new();
                for (id, r) in written {
                    if r.events.is_empty() || r.subscribers.is_empty() {
                        continue;
                    }
                    let handlers = unique(&r.subscribers);
                    match by_subscribers.iter_mut().find(|(h, _)| *h == handlers) {
                        Some((_, ids)) => ids.push(*id),
                        None => by_subscribers.push((handlers, vec![*id])),
                    }
                }
                for (handlers, ids) in by_subscribers {
                    for ids in ids.chunks(CHUNK / 2) {
                        let mut insert = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO outbox_deliveries (event_id, handler, status, attempts, next_attempt_at) \
                             SELECT e.id, h.column1, 'pending', 0, e.created_at FROM outbox_events e CROSS JOIN (",
                        );
                        insert.push_values(&handlers, |mut row, handler| {
                            row.push_bind(handler.as_str());
                        });
                        insert.push(") h WHERE e.incident_id IN (");
                        let mut list = insert.separated(", ");
                        for id in ids {
                            list.push_bind(*id);
                        }
                        list.push_unseparated(") ON CONFLICT (event_id, handler) DO NOTHING");
                        insert.build().execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }
        }
    };
}

for_each_backend!(declaration_sql);
