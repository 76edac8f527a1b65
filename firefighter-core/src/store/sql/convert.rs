//! Conversions between rows and the model, and the child rows a write stores.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use sqlx::types::Json;

use crate::priority::ResponseType;
use crate::store::DeliveryStatus;
use crate::task::{Schedule, TaskRun, TaskSchedule};
use crate::timeline::FieldChange;
use crate::{
    ClosureReason, EnvironmentId, Error, Incident, IncidentCost, IncidentEvent, IncidentId,
    KeyEvent, Result, RoleTypeId, Status, StoredEvent, TimelineEntry, User, UserId,
};

use super::rows::*;

pub(super) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(what.to_string())
}

pub(super) fn status_from(value: i16) -> Result<Status> {
    Status::from_value(value).ok_or_else(|| corrupt(format!("unknown incident status {value}")))
}

pub(super) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(super) fn duration(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

pub(super) fn response_type_str(t: ResponseType) -> &'static str {
    match t {
        ResponseType::Critical => "critical",
        ResponseType::Normal => "normal",
    }
}

pub(super) fn response_type_from(s: &str) -> Result<ResponseType> {
    match s {
        "critical" => Ok(ResponseType::Critical),
        "normal" => Ok(ResponseType::Normal),
        other => Err(corrupt(format!("unknown response type \"{other}\""))),
    }
}

pub(super) fn delivery_status_from(s: &str) -> Result<DeliveryStatus> {
    match s {
        "pending" => Ok(DeliveryStatus::Pending),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        other => Err(corrupt(format!("unknown delivery status \"{other}\""))),
    }
}

pub(super) fn attempts(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

pub(super) fn incident_from_row(
    r: IncidentRow,
    environment_ids: Vec<EnvironmentId>,
    tags: Vec<String>,
) -> Result<Incident> {
    let closure_reason = match r.closure_reason.as_deref() {
        None => None,
        Some(s) => Some(
            ClosureReason::parse(s)
                .ok_or_else(|| corrupt(format!("unknown closure reason \"{s}\"")))?,
        ),
    };
    let custom_fields = match r.custom_fields.0 {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(corrupt(format!(
                "custom fields of incident #{} are not an object: {other}",
                r.id
            )));
        }
    };
    Ok(Incident {
        id: IncidentId(r.id),
        title: r.title,
        description: r.description,
        status: status_from(r.status)?,
        priority_id: r.priority_id,
        category_id: r.category_id,
        environment_id: r.environment_id,
        environment_ids: if environment_ids.is_empty() {
            vec![r.environment_id]
        } else {
            environment_ids
        },
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        mitigated_at: r.mitigated_at,
        closed_at: r.closed_at,
        closure_reason,
        closure_reference: r.closure_reference,
        custom_fields,
        dedup_key: r.dedup_key,
        ignore: r.ignore,
        private: r.private,
        tags,
        version: r.version,
    })
}

pub(super) fn user_from_row(r: UserRow, identities: BTreeMap<String, String>) -> User {
    User {
        id: r.id,
        email: r.email,
        name: r.name,
        is_active: r.is_active,
        is_staff: r.is_staff,
        is_admin: r.is_admin,
        bot: r.bot,
        avatar: r.avatar,
        identities,
        created_at: r.created_at,
    }
}

pub(super) fn timeline_from_row(r: TimelineRow) -> Result<TimelineEntry> {
    let changes: Vec<FieldChange> = serde_json::from_value(r.changes.0)
        .map_err(|e| corrupt(format!("timeline entry {}: unreadable changes: {e}", r.id)))?;
    Ok(TimelineEntry {
        id: r.id,
        incident_id: IncidentId(r.incident_id),
        created_by: r.created_by,
        created_at: r.created_at,
        event_ts: r.event_ts,
        event_type: r.event_type,
        message: r.message,
        status: r.status.map(status_from).transpose()?,
        changes,
    })
}

pub(super) fn event_from_row(r: EventRow) -> Result<StoredEvent> {
    let event: IncidentEvent = serde_json::from_value(r.payload.0)
        .map_err(|e| corrupt(format!("outbox event {}: unreadable payload: {e}", r.id)))?;
    Ok(StoredEvent {
        id: r.id,
        incident_id: IncidentId(r.incident_id),
        created_at: r.created_at,
        event,
    })
}

pub(super) fn task_schedule_from_row(r: TaskScheduleRow) -> Result<TaskSchedule> {
    let schedule = match r.schedule {
        None | Some(Json(serde_json::Value::Null)) => None,
        Some(Json(v)) => Some(
            serde_json::from_value::<Schedule>(v)
                .map_err(|e| corrupt(format!("task {}: unreadable schedule: {e}", r.name)))?,
        ),
    };
    Ok(TaskSchedule {
        name: r.name,
        enabled: r.enabled,
        schedule,
        next_run_at: r.next_run_at,
        lease_owner: r.lease_owner,
        lease_until: r.lease_until,
    })
}

pub(super) fn cost_from_row(c: CostRow) -> IncidentCost {
    IncidentCost {
        id: c.id,
        incident_id: IncidentId(c.incident_id),
        cost_type_id: c.cost_type_id,
        amount_cents: c.amount_cents,
        details: c.details,
        created_at: c.created_at,
    }
}

pub(super) fn task_run_from_row(r: TaskRunRow) -> TaskRun {
    TaskRun {
        id: r.id,
        task: r.task,
        trigger: r.trigger,
        started_at: r.started_at,
        finished_at: r.finished_at,
        error: r.error,
        summary: r.summary,
    }
}

/// Drops repeated items, keeping the first occurrence (and the order).
pub(super) fn unique<T: Clone + Eq + std::hash::Hash>(items: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter(|x| seen.insert((*x).clone()))
        .cloned()
        .collect()
}

/// The environments to store: the given list, or the primary one alone.
pub(super) fn environments_of(incident: &Incident) -> Vec<EnvironmentId> {
    if incident.environment_ids.is_empty() {
        vec![incident.environment_id]
    } else {
        unique(&incident.environment_ids)
    }
}

/// A stored position (the order something was given in).
pub(super) fn position(p: usize) -> i32 {
    i32::try_from(p).unwrap_or(i32::MAX)
}

/// Rows of `incident_environments` for one incident.
pub(super) fn environment_rows(
    id: IncidentId,
    envs: &[EnvironmentId],
) -> Vec<(IncidentId, EnvironmentId, i32)> {
    envs.iter()
        .enumerate()
        .map(|(p, e)| (id, *e, position(p)))
        .collect()
}

/// Rows of `incident_tags` for one incident (each tag once).
pub(super) fn tag_rows(id: IncidentId, tags: &[String]) -> Vec<(IncidentId, String, i32)> {
    unique(tags)
        .into_iter()
        .enumerate()
        .map(|(p, t)| (id, t, position(p)))
        .collect()
}

/// One row per role, the last holder named winning: one statement cannot
/// update a row twice.
pub(super) fn last_roles(
    id: IncidentId,
    roles: &[(RoleTypeId, UserId)],
) -> Vec<(IncidentId, RoleTypeId, UserId)> {
    let mut last: Vec<(IncidentId, RoleTypeId, UserId)> = Vec::with_capacity(roles.len());
    for (role, user) in roles {
        match last.iter_mut().find(|(_, held, _)| held == role) {
            Some(held) => held.2 = *user,
            None => last.push((id, *role, *user)),
        }
    }
    last
}

/// One row per key event type, the last one winning (see [`last_roles`]).
pub(super) fn last_key_events(id: IncidentId, events: &[KeyEvent]) -> Vec<(IncidentId, &KeyEvent)> {
    let mut last: Vec<(IncidentId, &KeyEvent)> = Vec::with_capacity(events.len());
    for k in events {
        match last.iter_mut().find(|(_, e)| e.event_type == k.event_type) {
            Some(kept) => kept.1 = k,
            None => last.push((id, k)),
        }
    }
    last
}
