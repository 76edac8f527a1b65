//! The tests themselves, each taking a fresh, empty, migrated store, one
//! file per area of the store; the fixtures they share are here.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use firefighter_core::event::UpdateKind;
use firefighter_core::store::{
    Catalog, Declared, DeliveryStatus, IncidentChange, NewIncidentRecord, truncate_micros,
};
use firefighter_core::task::Schedule;
use firefighter_core::{
    CategoryId, ClosureReason, CostId, CostType, CostTypeId, Email, Environment, EnvironmentId,
    Error, FieldChange, Group, GroupId, ImpactLevel, ImpactLevelOption, ImpactType, Incident,
    IncidentCategory, IncidentCost, IncidentEvent, IncidentFilter, IncidentId, IncidentOrder,
    KeyEvent, MetricType, MilestoneType, NewUser, Priority, PriorityId, ResponseType, RoleType,
    RoleTypeId, Status, Store, TimelineEntry, UpdateId, User, UserId, Viewer,
};

pub(super) type S = Arc<dyn Store>;

// ------------------------------------------------------------------ fixtures

/// A fixed instant with microseconds, so round trips are checked to the microsecond.
pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap() + chrono::Duration::microseconds(123_456)
}

pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

pub(super) fn subscribers() -> Arc<[String]> {
    Arc::from(vec!["slack".to_owned(), "pagerduty".to_owned()])
}

/// Reference data every test uses.
pub(super) struct Fx {
    p1: Priority,
    p3: Priority,
    pub(super) prd: Environment,
    pub(super) stg: Environment,
    pub(super) group: Group,
    pub(super) other_group: Group,
    pub(super) category: IncidentCategory,
    pub(super) other_category: IncidentCategory,
    pub(super) commander: RoleType,
    pub(super) comms: RoleType,
    pub(super) cost_type: CostType,
    pub(super) jane: User,
    pub(super) john: User,
}

pub(super) fn priority(name: &str, value: i32) -> Priority {
    Priority {
        id: PriorityId::new(),
        name: name.into(),
        value,
        emoji: "🔥".into(),
        description: format!("{name} incidents"),
        order: value,
        default: value == 3,
        needs_postmortem: value < 3,
        enabled_create: true,
        enabled_update: true,
        reminder_time: Duration::from_secs(3600),
        postmortem_reminder_time: std::time::Duration::from_secs(5 * 24 * 3600),
        postmortem_reminder_repeat_time: std::time::Duration::ZERO,
        sla: Duration::from_secs(7200 * u64::try_from(value).unwrap()),
        recommended_response_type: (value == 3).then_some(ResponseType::Critical),
    }
}

pub(super) fn environment(value: &str, order: i32) -> Environment {
    Environment {
        id: EnvironmentId::new(),
        value: value.into(),
        name: format!("{value} environment"),
        description: String::new(),
        order,
        default: order == 0,
    }
}

pub(super) fn role_type(slug: &str, order: i32) -> RoleType {
    RoleType {
        id: RoleTypeId::new(),
        slug: slug.into(),
        name: slug.replace('_', " "),
        emoji: "🧑‍🚒".into(),
        required: slug == "commander",
        order,
        summary: format!("the {slug}"),
        description: String::new(),
        aka: String::new(),
    }
}

pub(super) fn milestone(event_type: &str) -> MilestoneType {
    MilestoneType {
        event_type: event_type.into(),
        name: event_type.to_uppercase(),
        summary: String::new(),
        user_editable: event_type != "declared",
        required: event_type == "detected",
        asked_for: true,
        description: String::new(),
    }
}

pub(super) async fn user(store: &S, email: &str) -> User {
    store
        .create_user(&NewUser::person(Email::parse(email).unwrap()))
        .await
        .unwrap()
}

pub(super) async fn fixture(store: &S) -> Fx {
    let p1 = priority("P1", 1);
    let p3 = priority("P3", 3);
    let prd = environment("PRD", 0);
    let stg = environment("STG", 1);
    let group = Group {
        id: GroupId::new(),
        name: "Payments".into(),
        description: String::new(),
        order: 1,
    };
    let other_group = Group {
        id: GroupId::new(),
        name: "Search".into(),
        description: String::new(),
        order: 2,
    };
    let category = IncidentCategory {
        id: CategoryId::new(),
        name: "Checkout".into(),
        description: String::new(),
        order: 1,
        group_id: group.id,
        private: false,
        deploy_warning: true,
        enabled_create: true,
    };
    let other_category = IncidentCategory {
        id: CategoryId::new(),
        name: "Indexing".into(),
        description: String::new(),
        order: 1,
        group_id: other_group.id,
        private: false,
        deploy_warning: false,
        enabled_create: true,
    };
    let commander = role_type("commander", 1);
    let comms = role_type("communication_lead", 2);
    let cost_type = CostType {
        id: CostTypeId::new(),
        name: "Refunds".into(),
        description: String::new(),
        category: "money".into(),
        default: true,
        editable: true,
    };
    for p in [&p1, &p3] {
        store.upsert_priority(p).await.unwrap();
    }
    for e in [&prd, &stg] {
        store.upsert_environment(e).await.unwrap();
    }
    for g in [&group, &other_group] {
        store.upsert_group(g).await.unwrap();
    }
    for c in [&category, &other_category] {
        store.upsert_category(c).await.unwrap();
    }
    for r in [&commander, &comms] {
        store.upsert_role_type(r).await.unwrap();
    }
    for m in [
        "started",
        "detected",
        "declared",
        "recovered",
        "mitigated",
        "resolved",
    ] {
        store.upsert_milestone_type(&milestone(m)).await.unwrap();
    }
    store.upsert_cost_type(&cost_type).await.unwrap();
    let jane = user(store, "jane@example.com").await;
    let john = user(store, "john@example.com").await;
    Fx {
        p1,
        p3,
        prd,
        stg,
        group,
        other_group,
        category,
        other_category,
        commander,
        comms,
        cost_type,
        jane,
        john,
    }
}

impl Fx {
    fn incident(&self, title: &str, created_at: DateTime<Utc>) -> Incident {
        Incident {
            id: IncidentId(0),
            title: title.into(),
            description: "Customers cannot pay".into(),
            status: Status::Open,
            priority_id: self.p1.id,
            category_id: self.category.id,
            environment_id: self.prd.id,
            environment_ids: vec![self.prd.id],
            created_by: self.jane.id,
            created_at,
            updated_at: created_at,
            mitigated_at: None,
            closed_at: None,
            closure_reason: None,
            closure_reference: String::new(),
            custom_fields: serde_json::Map::new(),
            dedup_key: None,
            ignore: false,
            private: false,
            tags: Vec::new(),
            version: 0,
        }
    }

    fn record(&self, incident: Incident) -> NewIncidentRecord {
        let created = incident.created_at;
        NewIncidentRecord {
            roles: vec![(self.commander.id, incident.created_by)],
            members: vec![incident.created_by],
            key_events: vec![KeyEvent {
                event_type: "declared".into(),
                at: created,
                recorded_by: None,
            }],
            timeline: vec![entry(
                created,
                Some(incident.created_by),
                "Incident declared",
            )],
            events: vec![IncidentEvent::Created],
            subscribers: subscribers(),
            dedup_viewer: Viewer::Everything,
            incident,
        }
    }

    async fn declare(&self, store: &S, title: &str, created_at: DateTime<Utc>) -> Incident {
        created(
            store
                .declare(self.record(self.incident(title, created_at)))
                .await
                .unwrap(),
        )
    }
}

pub(super) fn entry(created_at: DateTime<Utc>, by: Option<UserId>, message: &str) -> TimelineEntry {
    TimelineEntry {
        id: UpdateId::new(),
        incident_id: IncidentId(0),
        created_by: by,
        created_at,
        event_ts: created_at,
        event_type: None,
        message: Some(message.into()),
        status: None,
        changes: Vec::new(),
    }
}

pub(super) fn created(d: Declared) -> Incident {
    match d {
        Declared::Created(i) => i,
        Declared::Existing(i) => panic!("expected a new incident, got existing {}", i.id),
    }
}

pub(super) fn updated_event(update_id: UpdateId) -> IncidentEvent {
    IncidentEvent::Updated {
        update_id,
        update_kind: UpdateKind::Fields,
        changed: vec!["status".into()],
        old_priority: None,
        event_type: None,
    }
}

/// Moves an incident to `status` (with a timeline entry and an event).
pub(super) async fn set_status(
    store: &S,
    incident: &Incident,
    status: Status,
    when: DateTime<Utc>,
) -> Incident {
    let mut change = IncidentChange::from(incident, subscribers());
    change.incident.status = status;
    change.incident.updated_at = when;
    let mut e = entry(when, None, "status changed");
    e.status = Some(status);
    change.events.push(updated_event(e.id));
    change.timeline.push(e);
    store.apply(change).await.unwrap()
}

pub(super) async fn all_deliveries(store: &S) -> usize {
    store.list_deliveries(None, 10_000).await.unwrap().len()
}

pub(super) fn ids(incidents: &[Incident]) -> Vec<i64> {
    incidents.iter().map(|i| i.id.0).collect()
}

pub(super) fn of(incidents: &[&Incident]) -> Vec<i64> {
    incidents.iter().map(|i| i.id.0).collect()
}

mod access;
mod catalog;
mod changes;
mod declarations;
mod inbox;
mod instances;
mod lists;
mod outbox;
mod tasks;
mod users;
mod versions;

pub(crate) use access::*;
pub(crate) use catalog::*;
pub(crate) use changes::*;
pub(crate) use declarations::*;
pub(crate) use inbox::*;
pub(crate) use instances::*;
pub(crate) use lists::*;
pub(crate) use outbox::*;
pub(crate) use tasks::*;
pub(crate) use users::*;
pub(crate) use versions::*;
