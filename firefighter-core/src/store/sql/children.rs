//! Child rows of incidents (environments, tags, roles, members, key events,
//! costs), read for many incidents in one query per chunk.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::{
    CostTypeId, EnvironmentId, Incident, IncidentCost, IncidentDetails, IncidentId, KeyEvent,
    Result, RoleAssignment, RoleTypeId, UserId,
};

use super::CHUNK;
use super::{convert::*, query::*, rows::*};

/// Which child rows of incidents to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChildRows {
    /// Environments and tags (part of [`Incident`]).
    OfIncident,
    /// Roles, members, key events and costs (the rest of [`IncidentDetails`]).
    OfDetails,
    /// Both.
    All,
}

/// One `SELECT` per child table, each with the same columns, for a `UNION
/// ALL` that reads every child row of a chunk of incidents in one query:
/// kind, incident id, two UUIDs, a text, a time, a number. `{ids}` stands for
/// the id list; every `NULL` is typed so PostgreSQL can match the columns.
pub(super) const CHILD_BRANCHES: [(char, &str); 6] = [
    (
        'e',
        "SELECT 'e' AS kind, x.incident_id AS incident_id, x.environment_id AS u1, CAST(NULL AS UUID) AS u2, \
         CAST(NULL AS TEXT) AS t1, CAST(NULL AS TIMESTAMPTZ) AS ts, CAST(x.position AS BIGINT) AS n1 \
         FROM incident_environments x WHERE x.incident_id IN ({ids})",
    ),
    (
        't',
        "SELECT 't', x.incident_id, CAST(NULL AS UUID), CAST(NULL AS UUID), x.tag, CAST(NULL AS TIMESTAMPTZ), \
         CAST(x.position AS BIGINT) FROM incident_tags x WHERE x.incident_id IN ({ids})",
    ),
    (
        'r',
        "SELECT 'r', x.incident_id, x.role_type_id, x.user_id, t.slug, CAST(NULL AS TIMESTAMPTZ), \
         CAST(t.sort_order AS BIGINT) FROM incident_roles x JOIN role_types t ON t.id = x.role_type_id \
         WHERE x.incident_id IN ({ids})",
    ),
    (
        'm',
        "SELECT 'm', x.incident_id, x.user_id, CAST(NULL AS UUID), CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMPTZ), \
         CAST(x.position AS BIGINT) FROM incident_members x WHERE x.incident_id IN ({ids})",
    ),
    (
        'k',
        "SELECT 'k', x.incident_id, CAST(NULL AS UUID), x.recorded_by, x.event_type, x.at, CAST(NULL AS BIGINT) \
         FROM incident_key_events x WHERE x.incident_id IN ({ids})",
    ),
    (
        'c',
        "SELECT 'c', x.incident_id, x.id, x.cost_type_id, x.details, x.created_at, x.amount_cents \
         FROM incident_costs x WHERE x.incident_id IN ({ids})",
    ),
];

impl ChildRows {
    pub(super) fn wants(self, kind: char) -> bool {
        match self {
            ChildRows::All => true,
            ChildRows::OfIncident => matches!(kind, 'e' | 't'),
            ChildRows::OfDetails => !matches!(kind, 'e' | 't'),
        }
    }

    /// The query for `n` ids (placeholders `$1..$n`, repeated in each branch).
    pub(super) fn sql(self, n: usize) -> String {
        let ids = (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        CHILD_BRANCHES
            .iter()
            .filter(|(kind, _)| self.wants(*kind))
            .map(|(_, sql)| sql.replace("{ids}", &ids))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }
}

/// A row of the child query (see [`CHILD_BRANCHES`]).
pub(super) type ChildRow = (
    String,
    i64,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i64>,
);

/// Child rows of incidents, by incident id, each list in its stored order.
#[derive(Debug, Default)]
pub(super) struct Children {
    pub(super) environments: HashMap<i64, Vec<(i64, EnvironmentId)>>,
    pub(super) tags: HashMap<i64, Vec<(i64, String)>>,
    pub(super) roles: HashMap<i64, Vec<(i64, RoleAssignment)>>,
    pub(super) members: HashMap<i64, Vec<(i64, UserId)>>,
    pub(super) key_events: HashMap<i64, Vec<KeyEvent>>,
    pub(super) costs: HashMap<i64, Vec<IncidentCost>>,
}

impl Children {
    pub(super) fn add(&mut self, row: ChildRow) -> Result<()> {
        let (kind, id, u1, u2, t1, ts, n1) = row;
        let missing =
            |what: &str| corrupt(format!("incident #{id}: a {what} row without its values"));
        match kind.as_str() {
            "e" => self.environments.entry(id).or_default().push((
                n1.unwrap_or_default(),
                EnvironmentId(u1.ok_or_else(|| missing("environment"))?),
            )),
            "t" => self
                .tags
                .entry(id)
                .or_default()
                .push((n1.unwrap_or_default(), t1.ok_or_else(|| missing("tag"))?)),
            "r" => self.roles.entry(id).or_default().push((
                n1.unwrap_or_default(),
                RoleAssignment {
                    role_type_id: RoleTypeId(u1.ok_or_else(|| missing("role"))?),
                    user_id: UserId(u2.ok_or_else(|| missing("role"))?),
                    slug: t1.ok_or_else(|| missing("role"))?,
                },
            )),
            "m" => self.members.entry(id).or_default().push((
                n1.unwrap_or_default(),
                UserId(u1.ok_or_else(|| missing("member"))?),
            )),
            "k" => self.key_events.entry(id).or_default().push(KeyEvent {
                event_type: t1.ok_or_else(|| missing("key event"))?,
                at: ts.ok_or_else(|| missing("key event"))?,
                recorded_by: u2.map(UserId),
            }),
            "c" => self.costs.entry(id).or_default().push(IncidentCost {
                id: crate::CostId(u1.ok_or_else(|| missing("cost"))?),
                incident_id: IncidentId(id),
                cost_type_id: CostTypeId(u2.ok_or_else(|| missing("cost"))?),
                amount_cents: n1,
                details: t1.unwrap_or_default(),
                created_at: ts.ok_or_else(|| missing("cost"))?,
            }),
            other => return Err(corrupt(format!("unknown child row kind \"{other}\""))),
        }
        Ok(())
    }

    /// Environments of an incident, by position.
    pub(super) fn environments(&mut self, id: i64) -> Vec<EnvironmentId> {
        let mut v = self.environments.remove(&id).unwrap_or_default();
        v.sort_by_key(|(position, _)| *position);
        v.into_iter().map(|(_, e)| e).collect()
    }

    /// Tags of an incident, by position.
    pub(super) fn tags(&mut self, id: i64) -> Vec<String> {
        let mut v = self.tags.remove(&id).unwrap_or_default();
        v.sort_by_key(|(position, _)| *position);
        v.into_iter().map(|(_, t)| t).collect()
    }

    /// The details of `incident`: roles by role type order then slug,
    /// members by position, key events by time then type, costs by time then id.
    pub(super) fn details(&mut self, incident: Incident) -> IncidentDetails {
        let id = incident.id.0;
        let mut roles = self.roles.remove(&id).unwrap_or_default();
        roles.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.slug.cmp(&b.1.slug)));
        let mut members = self.members.remove(&id).unwrap_or_default();
        members.sort_by_key(|(position, _)| *position);
        let mut key_events = self.key_events.remove(&id).unwrap_or_default();
        key_events.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.event_type.cmp(&b.event_type))
        });
        let mut costs = self.costs.remove(&id).unwrap_or_default();
        costs.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.0.cmp(&b.id.0))
        });
        IncidentDetails {
            incident,
            roles: roles.into_iter().map(|(_, r)| r).collect(),
            members: members.into_iter().map(|(_, m)| m).collect(),
            key_events,
            costs,
        }
    }
}

/// Reading incidents with their child rows, for both backends.
macro_rules! children_sql {
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
            /// Child rows of incidents: one query per chunk of ids.
            pub(super) async fn children(
                conn: &mut $Conn,
                ids: &[i64],
                kids: ChildRows,
            ) -> Result<Children> {
                let mut children = Children::default();
                for chunk in ids.chunks(CHUNK) {
                    let rows: Vec<ChildRow> = sqlx::query_as_with(
                        AssertSqlSafe(kids.sql(chunk.len())),
                        Self::args(chunk.iter().map(|&i| Arg::I64(i)))?,
                    )
                    .fetch_all(&mut *conn)
                    .await?;
                    for row in rows {
                        children.add(row)?;
                    }
                }
                Ok(children)
            }

            pub(super) async fn incident_rows(
                conn: &mut $Conn,
                rows: Vec<IncidentRow>,
            ) -> Result<Vec<Incident>> {
                Self::incidents_from(conn, rows, ChildRows::OfIncident)
                    .await
                    .map(|(incidents, _)| incidents)
            }

            /// Incidents from their rows, and the other child rows `kids` asks for.
            pub(super) async fn incidents_from(
                conn: &mut $Conn,
                rows: Vec<IncidentRow>,
                kids: ChildRows,
            ) -> Result<(Vec<Incident>, Children)> {
                if rows.is_empty() {
                    return Ok((Vec::new(), Children::default()));
                }
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let mut children = Self::children(conn, &ids, kids).await?;
                let incidents = rows
                    .into_iter()
                    .map(|r| {
                        let id = r.id;
                        incident_from_row(r, children.environments(id), children.tags(id))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((incidents, children))
            }

            pub(super) async fn incident_in(
                conn: &mut $Conn,
                id: IncidentId,
            ) -> Result<Option<Incident>> {
                let row: Option<IncidentRow> =
                    sqlx::query_as(concat!(incident_select!(), " WHERE i.id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Self::incident_rows(conn, vec![row]).await?.pop()),
                }
            }
        }
    };
}

for_each_backend!(children_sql);
