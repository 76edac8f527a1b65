//! Declaring incidents: the `dedup_key` rule and the writes of new incidents
//! (alone or batched).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::store::{Declared, NewIncidentRecord};
use crate::{
    ClosureReason, EnvironmentId, Incident, IncidentEvent, IncidentId, KeyEvent, Result,
    RoleTypeId, TimelineEntry, UserId, Viewer,
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
                // A new incident: the reads deciding its scope must see the
                // same declarations of the key (matches above never wait).
                if Self::lock_dedup_key(conn, key).await?
                    && let Some(existing) = Self::open_by_dedup_key(conn, key, viewer).await?
                {
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
                    let incident = Self::write_new_incidents(&mut tx, &[(record, scope)])
                        .await?
                        .pop()
                        .ok_or_else(|| corrupt("a declared incident was not written"))?;
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
                    for (n, record) in records.iter().enumerate() {
                        // A repeat of a declaration waiting in the batch gets it, once written.
                        if let Some(request) = record.request_key.as_deref()
                            && waiting_requests.contains(request)
                        {
                            Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                            waiting_keys.clear();
                            waiting_requests.clear();
                        }
                        if let Some(key) = record.incident.dedup_key.as_deref() {
                            // Whether this one gets an earlier one of the batch
                            // depends on who may see it: written first, the
                            // earlier one is read by the same rule as any other.
                            if waiting_keys.contains(key) {
                                Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
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
                    Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                    declared
                        .into_iter()
                        .map(|d| d.ok_or_else(|| corrupt("a declaration of the batch was not written")))
                        .collect::<Result<Vec<_>>>()
                }
                .await;
                Self::settle(tx, written).await
            }

            /// Writes the `waiting` new incidents of a batch (with the version
            /// bump), recording them in `declared`.
            #[allow(dead_code, reason = "only the SQLite writer batches declarations")]
            pub(super) async fn insert_waiting(
                conn: &mut $Conn,
                records: &[Arc<NewIncidentRecord>],
                waiting: &mut Vec<(usize, Option<UserId>)>,
                declared: &mut [Option<Declared>],
            ) -> Result<()> {
                if waiting.is_empty() {
                    return Ok(());
                }
                let new: Vec<(&NewIncidentRecord, Option<UserId>)> =
                    waiting.iter().map(|(n, scope)| (records[*n].as_ref(), *scope)).collect();
                let incidents = Self::write_new_incidents(conn, &new).await?;
                for ((n, _), incident) in waiting.drain(..).zip(incidents) {
                    declared[n] = Some(Declared::Created(incident));
                }
                Ok(())
            }

            /// One statement: a new incident's row, returning its id.
            pub(super) fn push_incident_row(insert: &mut sqlx::QueryBuilder<$Db>, i: &Incident, dedup_scope: Option<UserId>) {
                insert.push(
                    "INSERT INTO incidents (title, description, status, priority_id, category_id, environment_id, \
                     created_by, created_at, updated_at, mitigated_at, closed_at, closure_reason, closure_reference, \
                     custom_fields, dedup_key, ignore, private, version, dedup_scope) ",
                );
                insert.push_values([i], |mut row, i| {
                    row.push_bind(i.title.as_str())
                        .push_bind(i.description.as_str())
                        .push_bind(i.status.value())
                        .push_bind(i.priority_id)
                        .push_bind(i.category_id)
                        .push_bind(environments_of(i)[0])
                        .push_bind(i.created_by)
                        .push_bind(i.created_at)
                        .push_bind(i.updated_at)
                        .push_bind(i.mitigated_at)
                        .push_bind(i.closed_at)
                        .push_bind(i.closure_reason.map(ClosureReason::slug))
                        .push_bind(i.closure_reference.as_str())
                        .push_bind(Json(&i.custom_fields))
                        .push_bind(i.dedup_key.as_deref())
                        .push_bind(i.ignore)
                        .push_bind(i.private)
                        .push("1")
                        .push_bind(dedup_scope);
                });
                insert.push(" RETURNING id");
            }

            /// One statement: the request key a new incident answers.
            pub(super) fn push_request_row(insert: &mut sqlx::QueryBuilder<$Db>, request: &str, id: IncidentId, ids: IdSql, at: DateTime<Utc>) {
                insert.push("INSERT INTO incident_requests (request_key, incident_id, created_at) ");
                insert.push_values([()], |mut row, ()| {
                    row.push_bind(request);
                    Self::push_incident_id(&mut row, id, ids);
                    row.push_bind(at);
                });
            }

            /// One statement: members of new incidents (at most `CHUNK / 3`).
            pub(super) fn push_member_rows(insert: &mut sqlx::QueryBuilder<$Db>, rows: &[(IncidentId, UserId, i32)], ids: IdSql) {
                insert.push("INSERT INTO incident_members (incident_id, user_id, position) ");
                insert.push_values(rows, |mut row, (id, user, p)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(*user).push_bind(*p);
                });
            }

            /// One statement: outbox events (at most `CHUNK / 4`).
            pub(super) fn push_event_rows(
                insert: &mut sqlx::QueryBuilder<$Db>,
                rows: &[(IncidentId, &IncidentEvent, DateTime<Utc>)],
                ids: IdSql,
            ) {
                insert.push("INSERT INTO outbox_events (incident_id, kind, payload, created_at) ");
                insert.push_values(rows, |mut row, (id, event, at)| {
                    Self::push_incident_id(&mut row, *id, ids);
                    row.push_bind(event.kind()).push_bind(Json(*event)).push_bind(*at);
                });
            }

            /// One statement: a pending delivery to each of `handlers` of
            /// every event of new incidents (at most `CHUNK / 2`), due when
            /// the incident was declared.
            pub(super) fn push_delivery_rows(
                insert: &mut sqlx::QueryBuilder<$Db>,
                handlers: &[String],
                incidents: &[IncidentId],
                ids: IdSql,
            ) {
                insert.push(
                    "INSERT INTO outbox_deliveries (event_id, handler, status, attempts, next_attempt_at) \
                     SELECT e.id, h.column1, 'pending', 0, e.created_at FROM outbox_events e CROSS JOIN (",
                );
                insert.push_values(handlers, |mut row, handler| {
                    row.push_bind(handler.as_str());
                });
                insert.push(") h WHERE e.incident_id IN (");
                let mut list = insert.separated(", ");
                for id in incidents {
                    Self::push_incident_id(&mut list, *id, ids);
                }
                list.push_unseparated(") ON CONFLICT (event_id, handler) DO NOTHING");
            }

            /// Every row of new incidents but their own, a statement per kind
            /// of row (and per chunk) for all of them, in the order they
            /// must be written.
            pub(super) fn push_incident_rows(
                out: &mut Statements<$Db>,
                records: &[(&NewIncidentRecord, IncidentId)],
                ids: IdSql,
            ) {
                for (record, id) in records {
                    if let Some(request) = record.request_key.as_deref() {
                        Self::push_request_row(out.next(), request, *id, ids, record.incident.created_at);
                    }
                }
                let environments: Vec<(IncidentId, EnvironmentId, i32)> = records
                    .iter()
                    .flat_map(|(r, id)| environment_rows(*id, &environments_of(&r.incident)))
                    .collect();
                for chunk in environments.chunks(CHUNK / 3) {
                    Self::push_environment_rows(out.next(), chunk, ids);
                }
                let tags: Vec<(IncidentId, String, i32)> =
                    records.iter().flat_map(|(r, id)| tag_rows(*id, &r.incident.tags)).collect();
                for chunk in tags.chunks(CHUNK / 3) {
                    Self::push_tag_rows(out.next(), chunk, ids);
                }
                let roles: Vec<(IncidentId, RoleTypeId, UserId)> =
                    records.iter().flat_map(|(r, id)| last_roles(*id, &r.roles)).collect();
                for chunk in roles.chunks(CHUNK / 3) {
                    Self::push_role_rows(out.next(), chunk, ids);
                }
                // New incidents have no members yet: positions start at 0.
                let members: Vec<(IncidentId, UserId, i32)> = records
                    .iter()
                    .flat_map(|(r, id)| {
                        unique(&r.members)
                            .into_iter()
                            .enumerate()
                            .map(move |(p, u)| (*id, u, position(p)))
                    })
                    .collect();
                for chunk in members.chunks(CHUNK / 3) {
                    Self::push_member_rows(out.next(), chunk, ids);
                }
                let key_events: Vec<(IncidentId, &KeyEvent)> =
                    records.iter().flat_map(|(r, id)| last_key_events(*id, &r.key_events)).collect();
                for chunk in key_events.chunks(CHUNK / 4) {
                    Self::push_key_event_rows(out.next(), chunk, ids);
                }
                let timeline: Vec<(IncidentId, &TimelineEntry)> =
                    records.iter().flat_map(|(r, id)| r.timeline.iter().map(move |e| (*id, e))).collect();
                for chunk in timeline.chunks(CHUNK / 10) {
                    Self::push_timeline_rows(out.next(), chunk, ids);
                }
                let events: Vec<(IncidentId, &IncidentEvent, DateTime<Utc>)> = records
                    .iter()
                    .flat_map(|(r, id)| r.events.iter().map(move |e| (*id, e, r.incident.created_at)))
                    .collect();
                for chunk in events.chunks(CHUNK / 4) {
                    Self::push_event_rows(out.next(), chunk, ids);
                }
                // The incidents are new: every event they have was written
                // just now. Incidents with the same subscribers share a statement.
                let mut by_subscribers: Vec<(Vec<String>, Vec<IncidentId>)> = Vec::new();
                for (r, id) in records.iter().filter(|(r, _)| !r.events.is_empty()) {
                    let handlers = unique(&r.subscribers);
                    match by_subscribers.iter_mut().find(|(h, _)| *h == handlers) {
                        Some((_, incidents)) => incidents.push(*id),
                        None => by_subscribers.push((handlers, vec![*id])),
                    }
                }
                for (handlers, incidents) in &by_subscribers {
                    for handlers in handlers.chunks(CHUNK / 4) {
                        for incidents in incidents.chunks(CHUNK / 4) {
                            Self::push_delivery_rows(out.next(), handlers, incidents, ids);
                        }
                    }
                }
            }

            /// The new incidents as written: as reading them back would give.
            pub(super) async fn declared_incidents(
                conn: &mut $Conn,
                written: &[(IncidentId, &NewIncidentRecord)],
            ) -> Result<Vec<Incident>> {
                let mut incidents = Vec::with_capacity(written.len());
                for (id, r) in written {
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
        }
    };
}

for_each_backend!(declaration_sql);

impl crate::store::PgStore {
    /// New incidents and the version bump, a statement at a time: each
    /// incident's rows are written with the id its row returned.
    pub(super) async fn write_new_incidents(
        conn: &mut sqlx::PgConnection,
        new: &[(&NewIncidentRecord, Option<UserId>)],
    ) -> Result<Vec<Incident>> {
        let mut written = Vec::with_capacity(new.len());
        for (record, dedup_scope) in new {
            let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new("");
            Self::push_incident_row(&mut insert, &record.incident, *dedup_scope);
            let id = IncidentId(insert.build_query_scalar().fetch_one(&mut *conn).await?);
            let mut rows = Statements::each();
            Self::push_incident_rows(&mut rows, &[(*record, id)], IdSql::Bound);
            for mut statement in rows.into_builders() {
                statement.build().execute(&mut *conn).await?;
            }
            written.push((id, *record));
        }
        Self::bump(conn, VersionsChanged::Data).await?;
        Self::declared_incidents(conn, &written).await
    }
}

impl crate::store::PgStore {
    /// Makes declarations of `key` wait for each other until their commit.
    /// Under READ COMMITTED each statement reads a fresh snapshot: without
    /// this, a declaration could miss an incident committed just before its
    /// first read, see it in its second, and hold the key a second time for
    /// its declarer alone (the unique index cannot tell the two apart: one
    /// is held for everybody, the other for one person).
    /// True: the lock was taken (what was read before it may be stale).
    /// Each transaction takes one such lock at most (batches of declarations
    /// are SQLite's alone), so they cannot deadlock.
    pub(super) async fn lock_dedup_key(conn: &mut sqlx::PgConnection, key: &str) -> Result<bool> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('dedup_key:' || $1, 0))")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }
}

impl crate::store::SqliteStore {
    /// Nothing to do: SQLite's writer runs one declaration at a time.
    pub(super) async fn lock_dedup_key(_: &mut sqlx::SqliteConnection, _: &str) -> Result<bool> {
        Ok(false)
    }

    /// New incidents, each followed by its rows, and the version bump: one
    /// script, one round trip to SQLite's thread (instead of one per
    /// statement). Rows name their incident as the one inserted last.
    pub(super) async fn write_new_incidents(
        conn: &mut sqlx::SqliteConnection,
        new: &[(&NewIncidentRecord, Option<UserId>)],
    ) -> Result<Vec<Incident>> {
        Self::write_new_incidents_script(conn, new, false).await
    }

    /// [`Self::write_new_incidents`]; with `whole`, the script also begins
    /// and commits its transaction (the caller rolls back on failure).
    pub(super) async fn write_new_incidents_script(
        conn: &mut sqlx::SqliteConnection,
        new: &[(&NewIncidentRecord, Option<UserId>)],
        whole: bool,
    ) -> Result<Vec<Incident>> {
        let mut script = Statements::script();
        if whole {
            script.next().push("BEGIN IMMEDIATE");
        }
        // One statement per incident (each inserts one row: AUTOINCREMENT
        // gives them consecutive ids under the writer's lock), then their
        // rows, a statement per kind for all of them: each names its
        // incident by how many were inserted after it (see `IdSql::Newest`).
        for (record, dedup_scope) in new {
            Self::push_incident_row(script.next(), &record.incident, *dedup_scope);
        }
        let rows: Vec<(&NewIncidentRecord, IncidentId)> = new
            .iter()
            .enumerate()
            .map(|(n, (record, _))| (*record, IncidentId((new.len() - 1 - n) as i64)))
            .collect();
        Self::push_incident_rows(&mut script, &rows, IdSql::Newest);
        Self::push_bump(script.next(), VersionsChanged::Data);
        if whole {
            script.next().push("COMMIT");
        }
        let mut ids = Vec::with_capacity(new.len());
        for mut statement in script.into_builders() {
            ids.extend(
                statement
                    .build_query_scalar::<i64>()
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
        if ids.windows(2).any(|w| w[1] != w[0] + 1) {
            // Cannot happen (one-row inserts under the writer's lock); after
            // a COMMIT in the script an error would only make the caller
            // write them again.
            tracing::error!(
                ?ids,
                "declared incidents got ids that do not follow each other"
            );
        }
        if ids.len() != new.len() {
            return Err(corrupt(format!(
                "{} incidents declared, {} ids returned",
                new.len(),
                ids.len()
            )));
        }
        let written: Vec<(IncidentId, &NewIncidentRecord)> = ids
            .into_iter()
            .map(IncidentId)
            .zip(new.iter().map(|(record, _)| *record))
            .collect();
        Self::declared_incidents(conn, &written).await
    }

    /// Declarations that read nothing first (no `dedup_key`, no request
    /// key): their whole transaction, from `BEGIN` to `COMMIT`, is one
    /// script, one round trip. On failure it is rolled back, and the
    /// connection closed if even that fails.
    pub(super) async fn declare_at_once(
        &self,
        records: &[Arc<NewIncidentRecord>],
    ) -> Result<Vec<Declared>> {
        let new: Vec<(&NewIncidentRecord, Option<UserId>)> =
            records.iter().map(|r| (r.as_ref(), None)).collect();
        let mut conn = self.writer.acquire().await?;
        match Self::write_new_incidents_script(&mut conn, &new, true).await {
            Ok(incidents) => Ok(incidents.into_iter().map(Declared::Created).collect()),
            Err(e) => {
                if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                    // None open (it failed to begin, or SQLite undid it): the connection is fine.
                    if !rollback.to_string().contains("no transaction is active") {
                        tracing::warn!(error = %rollback, "could not roll back a declaration; closing its connection");
                        conn.close_on_drop();
                    }
                }
                Err(e)
            }
        }
    }

    /// Whether [`Self::declare_at_once`] may write `record`.
    pub(super) fn reads_nothing_first(record: &NewIncidentRecord) -> bool {
        record.incident.dedup_key.is_none() && record.request_key.is_none()
    }
}
