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
    const INDEX: &str = "incidents_open_dedup_key";
    db_error(e).is_some_and(|db| {
        db.kind() == ErrorKind::UniqueViolation
            // SQLite names the index in the message only.
            && (db.constraint() == Some(INDEX) || db.message().contains(INDEX))
    })
}

/// A row an incident write refers to; checked only to explain a foreign-key failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ref {
    Priority(PriorityId),
    Category(CategoryId),
    Environment(EnvironmentId),
    User(UserId),
    RoleType(RoleTypeId),
    MilestoneType(String),
    CostType(CostTypeId),
}

impl Ref {
    pub(super) fn push(refs: &mut Vec<Ref>, r: Ref) {
        if !refs.contains(&r) {
            refs.push(r);
        }
    }

    pub(super) fn of_timeline(refs: &mut Vec<Ref>, entries: &[TimelineEntry]) {
        for e in entries {
            if let Some(u) = e.created_by {
                Ref::push(refs, Ref::User(u));
            }
        }
    }

    pub(super) fn of_incident(refs: &mut Vec<Ref>, i: &Incident) {
        Ref::push(refs, Ref::Priority(i.priority_id));
        Ref::push(refs, Ref::Category(i.category_id));
        for e in environments_of(i) {
            Ref::push(refs, Ref::Environment(e));
        }
        Ref::push(refs, Ref::User(i.created_by));
    }

    pub(super) fn of_roles_and_key_events(
        refs: &mut Vec<Ref>,
        roles: &[(RoleTypeId, UserId)],
        key_events: &[KeyEvent],
    ) {
        for (role, user) in roles {
            Ref::push(refs, Ref::RoleType(*role));
            Ref::push(refs, Ref::User(*user));
        }
        for k in key_events {
            Ref::push(refs, Ref::MilestoneType(k.event_type.clone()));
            if let Some(u) = k.recorded_by {
                Ref::push(refs, Ref::User(u));
            }
        }
    }

    pub(super) fn of_record(r: &NewIncidentRecord) -> Vec<Ref> {
        let mut refs = Vec::new();
        Ref::of_incident(&mut refs, &r.incident);
        Ref::of_roles_and_key_events(&mut refs, &r.roles, &r.key_events);
        for m in &r.members {
            Ref::push(&mut refs, Ref::User(*m));
        }
        Ref::of_timeline(&mut refs, &r.timeline);
        refs
    }

    pub(super) fn of_change(c: &IncidentChange) -> Vec<Ref> {
        let mut refs = Vec::new();
        Ref::of_incident(&mut refs, &c.incident);
        Ref::of_roles_and_key_events(&mut refs, &c.roles_set, &c.key_events_set);
        for m in &c.members_added {
            Ref::push(&mut refs, Ref::User(*m));
        }
        for cost in &c.costs_added {
            Ref::push(&mut refs, Ref::CostType(cost.cost_type_id));
        }
        Ref::of_timeline(&mut refs, &c.timeline);
        refs
    }

    /// The query counting the referenced row, and what to call it.
    pub(super) fn check(&self) -> (&'static str, &'static str, Arg) {
        match self {
            Ref::Priority(id) => (
                "priority",
                "SELECT COUNT(*) FROM priorities WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::Category(id) => (
                "category",
                "SELECT COUNT(*) FROM incident_categories WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::Environment(id) => (
                "environment",
                "SELECT COUNT(*) FROM environments WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::User(id) => (
                "user",
                "SELECT COUNT(*) FROM users WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::RoleType(id) => (
                "role type",
                "SELECT COUNT(*) FROM role_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::MilestoneType(slug) => (
                "key event type",
                "SELECT COUNT(*) FROM milestone_types WHERE event_type = $1",
                Arg::Text(slug.clone()),
            ),
            Ref::CostType(id) => (
                "cost type",
                "SELECT COUNT(*) FROM cost_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
        }
    }

    pub(super) fn id(&self) -> String {
        match self {
            Ref::Priority(id) => id.to_string(),
            Ref::Category(id) => id.to_string(),
            Ref::Environment(id) => id.to_string(),
            Ref::User(id) => id.to_string(),
            Ref::RoleType(id) => id.to_string(),
            Ref::MilestoneType(slug) => format!("\"{slug}\""),
            Ref::CostType(id) => id.to_string(),
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
