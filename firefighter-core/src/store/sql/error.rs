//! Database errors mapped to the errors people read.

use sqlx::error::ErrorKind;

use crate::store::{IncidentChange, NewIncidentRecord};
use crate::{
    CategoryId, CostTypeId, EnvironmentId, Error, Incident, KeyEvent, PriorityId, RoleTypeId,
    TimelineEntry, UserId,
};

use super::{convert::*, query::*};

/// The database's own error behind `e`, if any.
pub(super) fn db_error(e: &Error) -> Option<&(dyn sqlx::error::DatabaseError + 'static)> {
    match e {
        Error::Database(sqlx::Error::Database(db)) => Some(db.as_ref()),
        _ => None,
    }
}

pub(super) fn is_kind(e: &Error, kind: ErrorKind) -> bool {
    db_error(e).is_some_and(|db| db.kind() == kind)
}

/// The insert lost against an open incident holding the same `dedup_key`
/// in the same scope.
pub(super) fn is_dedup_violation(e: &Error) -> bool {
    is_unique_violation_of(e, "incidents_open_dedup_key", "incidents_open_dedup_key")
}

/// The insert lost against a repeat of the same declaration (the same
/// request key) committed first.
pub(super) fn is_request_key_violation(e: &Error) -> bool {
    is_unique_violation_of(e, "incident_requests_pkey", "incident_requests.request_key")
}

/// A unique violation of `constraint` (PostgreSQL names it; SQLite only
/// writes `sqlite_text` in its message).
fn is_unique_violation_of(e: &Error, constraint: &str, sqlite_text: &str) -> bool {
    db_error(e).is_some_and(|db| {
        db.kind() == ErrorKind::UniqueViolation
            && (db.constraint() == Some(constraint) || db.message().contains(sqlite_text))
    })
}

/// A row an incident write refers to; checked only to explain a foreign-key failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReferencedRow {
    Priority(PriorityId),
    Category(CategoryId),
    Environment(EnvironmentId),
    User(UserId),
    RoleType(RoleTypeId),
    MilestoneType(String),
    CostType(CostTypeId),
}

impl ReferencedRow {
    pub(super) fn push(refs: &mut Vec<ReferencedRow>, r: ReferencedRow) {
        if !refs.contains(&r) {
            refs.push(r);
        }
    }

    pub(super) fn of_timeline(refs: &mut Vec<ReferencedRow>, entries: &[TimelineEntry]) {
        for e in entries {
            if let Some(u) = e.created_by {
                ReferencedRow::push(refs, ReferencedRow::User(u));
            }
        }
    }

    pub(super) fn of_incident(refs: &mut Vec<ReferencedRow>, i: &Incident) {
        ReferencedRow::push(refs, ReferencedRow::Priority(i.priority_id));
        ReferencedRow::push(refs, ReferencedRow::Category(i.category_id));
        for e in environments_of(i) {
            ReferencedRow::push(refs, ReferencedRow::Environment(e));
        }
        ReferencedRow::push(refs, ReferencedRow::User(i.created_by));
    }

    pub(super) fn of_roles_and_key_events(
        refs: &mut Vec<ReferencedRow>,
        roles: &[(RoleTypeId, UserId)],
        key_events: &[KeyEvent],
    ) {
        for (role, user) in roles {
            ReferencedRow::push(refs, ReferencedRow::RoleType(*role));
            ReferencedRow::push(refs, ReferencedRow::User(*user));
        }
        for k in key_events {
            ReferencedRow::push(refs, ReferencedRow::MilestoneType(k.event_type.clone()));
            if let Some(u) = k.recorded_by {
                ReferencedRow::push(refs, ReferencedRow::User(u));
            }
        }
    }

    pub(super) fn of_record(r: &NewIncidentRecord) -> Vec<ReferencedRow> {
        let mut refs = Vec::new();
        ReferencedRow::of_incident(&mut refs, &r.incident);
        ReferencedRow::of_roles_and_key_events(&mut refs, &r.roles, &r.key_events);
        for m in &r.members {
            ReferencedRow::push(&mut refs, ReferencedRow::User(*m));
        }
        ReferencedRow::of_timeline(&mut refs, &r.timeline);
        refs
    }

    pub(super) fn of_change(c: &IncidentChange) -> Vec<ReferencedRow> {
        let mut refs = Vec::new();
        ReferencedRow::of_incident(&mut refs, &c.incident);
        ReferencedRow::of_roles_and_key_events(&mut refs, &c.roles_set, &c.key_events_set);
        for m in &c.members_added {
            ReferencedRow::push(&mut refs, ReferencedRow::User(*m));
        }
        for cost in &c.costs_added {
            ReferencedRow::push(&mut refs, ReferencedRow::CostType(cost.cost_type_id));
        }
        ReferencedRow::of_timeline(&mut refs, &c.timeline);
        refs
    }

    /// The query counting the referenced row, and what to call it.
    pub(super) fn check(&self) -> (&'static str, &'static str, Arg) {
        match self {
            ReferencedRow::Priority(id) => (
                "priority",
                "SELECT COUNT(*) FROM priorities WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            ReferencedRow::Category(id) => (
                "category",
                "SELECT COUNT(*) FROM incident_categories WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            ReferencedRow::Environment(id) => (
                "environment",
                "SELECT COUNT(*) FROM environments WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            ReferencedRow::User(id) => (
                "user",
                "SELECT COUNT(*) FROM users WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            ReferencedRow::RoleType(id) => (
                "role type",
                "SELECT COUNT(*) FROM role_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            ReferencedRow::MilestoneType(slug) => (
                "key event type",
                "SELECT COUNT(*) FROM milestone_types WHERE event_type = $1",
                Arg::Text(slug.clone()),
            ),
            ReferencedRow::CostType(id) => (
                "cost type",
                "SELECT COUNT(*) FROM cost_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
        }
    }

    pub(super) fn id(&self) -> String {
        match self {
            ReferencedRow::Priority(id) => id.to_string(),
            ReferencedRow::Category(id) => id.to_string(),
            ReferencedRow::Environment(id) => id.to_string(),
            ReferencedRow::User(id) => id.to_string(),
            ReferencedRow::RoleType(id) => id.to_string(),
            ReferencedRow::MilestoneType(slug) => format!("\"{slug}\""),
            ReferencedRow::CostType(id) => id.to_string(),
        }
    }
}

/// A unique violation that is not the dedup race, as a conflict people can read.
pub(super) fn unique_conflict(e: Error) -> Error {
    match db_error(&e) {
        Some(db) if db.kind() == ErrorKind::UniqueViolation => Error::Conflict(format!(
            "a value that must be unique is already used ({})",
            db.message()
        )),
        _ => e,
    }
}
