//! The tests themselves, each taking a fresh, empty, migrated store.

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

type S = Arc<dyn Store>;

// ------------------------------------------------------------------ fixtures

/// A fixed instant with microseconds, so round trips are checked to the microsecond.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap() + chrono::Duration::microseconds(123_456)
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

fn subscribers() -> Arc<[String]> {
    Arc::from(vec!["slack".to_owned(), "pagerduty".to_owned()])
}

/// Reference data every test uses.
struct Fx {
    p1: Priority,
    p3: Priority,
    prd: Environment,
    stg: Environment,
    group: Group,
    other_group: Group,
    category: IncidentCategory,
    other_category: IncidentCategory,
    commander: RoleType,
    comms: RoleType,
    cost_type: CostType,
    jane: User,
    john: User,
}

fn priority(name: &str, value: i32) -> Priority {
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

fn environment(value: &str, order: i32) -> Environment {
    Environment {
        id: EnvironmentId::new(),
        value: value.into(),
        name: format!("{value} environment"),
        description: String::new(),
        order,
        default: order == 0,
    }
}

fn role_type(slug: &str, order: i32) -> RoleType {
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

fn milestone(event_type: &str) -> MilestoneType {
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

async fn user(store: &S, email: &str) -> User {
    store
        .create_user(&NewUser::person(Email::parse(email).unwrap()))
        .await
        .unwrap()
}

async fn fixture(store: &S) -> Fx {
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

fn entry(created_at: DateTime<Utc>, by: Option<UserId>, message: &str) -> TimelineEntry {
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

fn created(d: Declared) -> Incident {
    match d {
        Declared::Created(i) => i,
        Declared::Existing(i) => panic!("expected a new incident, got existing {}", i.id),
    }
}

fn updated_event(update_id: UpdateId) -> IncidentEvent {
    IncidentEvent::Updated {
        update_id,
        update_kind: UpdateKind::Fields,
        changed: vec!["status".into()],
        old_priority: None,
        event_type: None,
    }
}

/// Moves an incident to `status` (with a timeline entry and an event).
async fn set_status(
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

async fn all_deliveries(store: &S) -> usize {
    store.list_deliveries(None, 10_000).await.unwrap().len()
}

fn ids(incidents: &[Incident]) -> Vec<i64> {
    incidents.iter().map(|i| i.id.0).collect()
}

fn of(incidents: &[&Incident]) -> Vec<i64> {
    incidents.iter().map(|i| i.id.0).collect()
}

// ------------------------------------------------------------------ declare

pub(crate) async fn declare_round_trip(store: S) {
    let fx = fixture(&store).await;
    let mut incident = fx.incident("Checkout fails for every card payment", t0());
    // Environments keep the caller's order; the primary one is the first.
    incident.environment_ids = vec![fx.stg.id, fx.prd.id];
    incident.environment_id = fx.stg.id;
    incident.tags = vec!["payments".into(), "checkout".into()];
    incident.custom_fields.insert(
        "zendesk_ticket".into(),
        serde_json::json!({"id": 42, "url": "https://z/42"}),
    );
    incident.dedup_key = Some("alert:checkout".into());
    incident.mitigated_at = Some(at(5));
    incident.status = Status::Investigating;
    let mut record = fx.record(incident.clone());
    record.roles.push((fx.comms.id, fx.john.id));
    record.members.push(fx.john.id);
    record.key_events.push(KeyEvent {
        event_type: "started".into(),
        at: at(-600),
        recorded_by: Some(fx.john.id),
    });
    let mut second = entry(at(1), Some(fx.john.id), "Looking at the gateway");
    second.event_type = Some("detected".into());
    second.status = Some(Status::Investigating);
    second.changes = vec![FieldChange::new(
        "status",
        Some("open".into()),
        Some("investigating".into()),
    )];
    record.timeline.push(second.clone());
    record.events.push(IncidentEvent::ConversationRequested {
        extras: serde_json::json!({"channel": "inc"}),
    });

    let declared = created(store.declare(record.clone()).await.unwrap());
    assert!(declared.id.0 > 0);
    assert_eq!(declared.version, 1);
    let mut expected = incident.clone();
    expected.id = declared.id;
    expected.version = 1;
    assert_eq!(declared, expected);
    assert_eq!(
        store.incident(declared.id).await.unwrap(),
        Some(expected.clone())
    );

    let details = store.incident_details(declared.id).await.unwrap().unwrap();
    assert_eq!(details.incident, expected);
    let roles: Vec<_> = details
        .roles
        .iter()
        .map(|r| (r.slug.as_str(), r.role_type_id, r.user_id))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("commander", fx.commander.id, fx.jane.id),
            ("communication_lead", fx.comms.id, fx.john.id)
        ]
    );
    assert_eq!(details.members, vec![fx.jane.id, fx.john.id]);
    assert_eq!(details.key_events.len(), 2);
    assert_eq!(details.key_events[0].event_type, "started");
    assert_eq!(details.key_events[0].at, at(-600));
    assert_eq!(details.key_events[0].recorded_by, Some(fx.john.id));
    assert_eq!(details.key_events[1].event_type, "declared");
    assert!(details.costs.is_empty());

    // Newest first, with the incident id filled in.
    let timeline = store.timeline(declared.id).await.unwrap();
    let mut expected_timeline: Vec<TimelineEntry> = record
        .timeline
        .iter()
        .cloned()
        .map(|mut e| {
            e.incident_id = declared.id;
            e
        })
        .collect();
    expected_timeline.reverse();
    assert_eq!(timeline, expected_timeline);

    let events = store.incident_events(declared.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        record.events
    );
    assert!(
        events
            .iter()
            .all(|e| e.incident_id == declared.id && e.created_at == t0())
    );
    assert!(events[0].id < events[1].id);

    let deliveries = store
        .list_deliveries(Some(DeliveryStatus::Pending), 100)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 4, "one delivery per event and subscriber");
    for event in &events {
        let mut handlers: Vec<_> = deliveries
            .iter()
            .filter(|d| d.event_id == event.id)
            .map(|d| d.handler.clone())
            .collect();
        handlers.sort();
        assert_eq!(handlers, vec!["pagerduty", "slack"]);
    }
    for d in &deliveries {
        assert_eq!(d.incident_id, declared.id);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.next_attempt_at, t0());
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert!(d.delivered_at.is_none() && d.last_error.is_none());
    }
    assert_eq!(
        deliveries[0].event_kind, "conversation_requested",
        "newest first"
    );

    // Sequential ids.
    let next = fx
        .declare(&store, "Search results are empty for everyone", at(10))
        .await;
    assert_eq!(next.id.0, declared.id.0 + 1);
}

pub(crate) async fn declare_with_unknown_references_is_not_found(store: S) {
    let fx = fixture(&store).await;
    let mut incident = fx.incident("Checkout fails for every card payment", t0());
    incident.priority_id = PriorityId::new();
    let err = store.declare(fx.record(incident)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "priority",
                ..
            }
        ),
        "{err}"
    );

    let mut record = fx.record(fx.incident("Checkout fails for every card payment", t0()));
    let ghost = UserId::new();
    record.members.push(ghost);
    let err = store.declare(record).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what: "user", id } if *id == ghost.to_string()),
        "{err}"
    );

    let mut record = fx.record(fx.incident("Checkout fails for every card payment", t0()));
    record.key_events.push(KeyEvent {
        event_type: "no_such_milestone".into(),
        at: t0(),
        recorded_by: None,
    });
    let err = store.declare(record).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "key event type",
                ..
            }
        ),
        "{err}"
    );

    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        0
    );
    assert_eq!(all_deliveries(&store).await, 0);
}

pub(crate) async fn timestamps_round_trip_exactly(store: S) {
    let fx = fixture(&store).await;
    let instants = [
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap()
            + chrono::Duration::milliseconds(500),
        Utc.with_ymd_and_hms(2100, 6, 15, 12, 0, 0).unwrap() + chrono::Duration::microseconds(1),
        truncate_micros(
            Utc.with_ymd_and_hms(2030, 5, 5, 5, 5, 5).unwrap()
                + chrono::Duration::nanoseconds(123_456_789),
        ),
        truncate_micros(
            Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
        ),
    ];
    for (n, t) in instants.into_iter().enumerate() {
        let mut incident = fx.incident(&format!("Timestamp round trip number {n}"), t);
        incident.updated_at = t + chrono::Duration::microseconds(7);
        incident.closed_at = Some(t);
        let declared = created(store.declare(fx.record(incident.clone())).await.unwrap());
        let read = store.incident(declared.id).await.unwrap().unwrap();
        assert_eq!(read.created_at, t);
        assert_eq!(read.updated_at, incident.updated_at);
        assert_eq!(read.closed_at, Some(t));
        assert_eq!(store.timeline(declared.id).await.unwrap()[0].created_at, t);
        let details = store.incident_details(declared.id).await.unwrap().unwrap();
        assert_eq!(details.key_events[0].at, t);
    }
    // Ordering by time matches ordering of instants (SQLite compares text).
    let listed = store
        .list_incidents(&IncidentFilter {
            order: IncidentOrder::OldestFirst,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    let times: Vec<_> = listed.iter().map(|i| i.created_at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let from = store
        .count_incidents(&IncidentFilter {
            created_from: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(from, 4);
}

pub(crate) async fn dedup_key_returns_existing_and_is_freed_after_mitigation(store: S) {
    let fx = fixture(&store).await;
    let mut incident = fx.incident("Checkout fails for every card payment", t0());
    incident.dedup_key = Some("datadog:monitor:42".into());
    let first = created(store.declare(fx.record(incident.clone())).await.unwrap());

    let mut again = incident.clone();
    again.title = "Checkout fails again (same alert)".into();
    again.created_at = at(60);
    match store.declare(fx.record(again.clone())).await.unwrap() {
        Declared::Existing(existing) => assert_eq!(existing, first),
        Declared::Created(i) => panic!("duplicate created {}", i.id),
    }
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.incident_events(first.id).await.unwrap().len(), 1);
    assert_eq!(store.timeline(first.id).await.unwrap().len(), 1);
    assert_eq!(all_deliveries(&store).await, 2);

    // Still reserved while Mitigated (40).
    let mitigated = set_status(&store, &first, Status::Mitigated, at(100)).await;
    assert!(matches!(
        store.declare(fx.record(again.clone())).await.unwrap(),
        Declared::Existing(_)
    ));

    // Post-mortem (50) frees the key.
    let pm = set_status(&store, &mitigated, Status::PostMortem, at(200)).await;
    let second = created(store.declare(fx.record(again.clone())).await.unwrap());
    assert_ne!(second.id, first.id);
    assert_eq!(second.dedup_key.as_deref(), Some("datadog:monitor:42"));

    // Reopening the first one would hold the key twice: refused.
    let mut reopen = IncidentChange::from(&pm, subscribers());
    reopen.incident.status = Status::Investigating;
    let err = store.apply(reopen).await.unwrap_err();
    // Recognised as the dedup index on both databases (SQLite names it in
    // the message only).
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("already uses dedup_key")),
        "{err}"
    );
    assert_eq!(
        store.incident(first.id).await.unwrap().unwrap().status,
        Status::PostMortem
    );
}

/// Many declarations at once (the SQLite writer writes them in batches):
/// each gets what it would get alone, with all its rows, and a bad one
/// fails alone without taking the others with it.
pub(crate) async fn concurrent_declares_are_each_written_whole(store: S) {
    let fx = Arc::new(fixture(&store).await);
    let mut tasks = Vec::new();
    for n in 0..48_i64 {
        let store = store.clone();
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut incident = fx.incident(&format!("Payments degraded in region {n:02}"), at(n));
            incident.tags = vec![format!("region-{n}"), "payments".into()];
            incident.environment_ids = vec![fx.prd.id, fx.stg.id];
            // Pairs share a key: one of each pair is created.
            if n % 4 == 0 {
                incident.dedup_key = Some(format!("alert-{}", n / 8));
            }
            let mut record = fx.record(incident);
            if n == 13 {
                record.members.push(UserId::new());
            }
            (n, store.declare(record).await)
        }));
    }
    let mut created_ids = Vec::new();
    let mut by_key: std::collections::HashMap<String, Vec<(bool, IncidentId)>> =
        std::collections::HashMap::new();
    for t in tasks {
        let (n, result) = t.await.unwrap();
        if n == 13 {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::NotFound { what: "user", .. }), "{err}");
            continue;
        }
        let (is_new, incident) = match result.unwrap() {
            Declared::Created(i) => (true, i),
            Declared::Existing(i) => (false, i),
        };
        if is_new {
            created_ids.push(incident.id);
            assert_eq!(
                incident.tags,
                vec![format!("region-{n}"), "payments".to_owned()]
            );
            assert_eq!(incident.environment_ids, vec![fx.prd.id, fx.stg.id]);
        }
        match &incident.dedup_key {
            Some(key) if n % 4 == 0 => by_key
                .entry(key.clone())
                .or_default()
                .push((is_new, incident.id)),
            _ => assert!(is_new, "declaration {n} has no key and must be new"),
        }
    }
    // 47 good declarations, 6 keys each used twice: 41 incidents.
    assert_eq!(created_ids.len(), 41);
    assert_eq!(by_key.len(), 6);
    for (key, uses) in &by_key {
        assert_eq!(uses.len(), 2, "{key}");
        assert_eq!(uses.iter().filter(|(new, _)| *new).count(), 1, "{key}");
        assert_eq!(uses[0].1, uses[1].1, "{key}");
    }
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        41
    );
    for id in &created_ids {
        let d = store.incident_details(*id).await.unwrap().unwrap();
        assert_eq!(d.roles.len(), 1);
        assert_eq!(d.members, vec![fx.jane.id]);
        assert_eq!(d.key_events.len(), 1);
        assert_eq!(d.incident.environment_ids, vec![fx.prd.id, fx.stg.id]);
        assert_eq!(d.incident.tags.len(), 2);
        assert_eq!(store.timeline(*id).await.unwrap().len(), 1);
        assert_eq!(store.incident_events(*id).await.unwrap().len(), 1);
    }
    // One delivery per event and subscriber, none for the failed one.
    assert_eq!(all_deliveries(&store).await, 41 * 2);
}

pub(crate) async fn concurrent_declares_with_one_dedup_key_create_one_incident(store: S) {
    let fx = Arc::new(fixture(&store).await);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut incident = fx.incident(&format!("Same alert fired, attempt {n}"), at(n));
            incident.dedup_key = Some("prometheus:HighErrorRate".into());
            store.declare(fx.record(incident)).await.unwrap()
        }));
    }
    let mut created_ids = Vec::new();
    let mut existing_ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Declared::Created(i) => created_ids.push(i.id),
            Declared::Existing(i) => existing_ids.push(i.id),
        }
    }
    assert_eq!(created_ids.len(), 1, "exactly one declare wins");
    assert!(existing_ids.iter().all(|id| *id == created_ids[0]));
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        1
    );
    assert_eq!(all_deliveries(&store).await, 2);
}

/// A declaration with `key` made by `by`, who sees what `viewer` sees.
fn keyed(
    fx: &Fx,
    key: &str,
    by: &User,
    viewer: Viewer,
    private: bool,
    n: i64,
) -> NewIncidentRecord {
    let mut incident = fx.incident(&format!("Alert {key} fired, declaration {n}"), at(n));
    incident.created_by = by.id;
    incident.dedup_key = Some(key.into());
    incident.private = private;
    let mut record = fx.record(incident);
    record.dedup_viewer = viewer;
    record
}

/// A dedup_key held by an incident the declarer may not see is free for
/// them: they get an incident of their own, which their repeats (and those
/// who may see it) match; who may see the first one gets the first one.
pub(crate) async fn dedup_keys_held_out_of_sight_are_scoped_to_the_declarer(store: S) {
    let fx = fixture(&store).await;
    let outsider = user(&store, "outsider@example.com").await;
    let (jane, john) = (Viewer::Member(fx.jane.id), Viewer::Member(fx.john.id));
    let key = "siem:rule:7";
    let held = created(
        store
            .declare(keyed(&fx, key, &fx.jane, jane, true, 0))
            .await
            .unwrap(),
    );

    let johns = created(
        store
            .declare(keyed(&fx, key, &fx.john, john, false, 1))
            .await
            .unwrap(),
    );
    assert_ne!(johns.id, held.id);
    assert_eq!(johns.dedup_key.as_deref(), Some(key), "the key as given");
    let matched = |record: NewIncidentRecord| {
        let store = store.clone();
        async move {
            match store.declare(record).await.unwrap() {
                Declared::Existing(i) => i.id,
                Declared::Created(i) => panic!("expected a match, created {}", i.id),
            }
        }
    };
    assert_eq!(
        matched(keyed(&fx, key, &fx.john, john, false, 2)).await,
        johns.id
    );
    // John's incident is public: the outsider sees it and matches it.
    let outsiders = Viewer::Member(outsider.id);
    assert_eq!(
        matched(keyed(&fx, key, &outsider, outsiders, false, 3)).await,
        johns.id
    );
    // Who may see Jane's incident matches it.
    assert_eq!(
        matched(keyed(&fx, key, &fx.jane, Viewer::Everything, false, 4)).await,
        held.id
    );
    assert_eq!(
        matched(keyed(&fx, key, &fx.jane, jane, false, 5)).await,
        held.id
    );
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        2
    );
    assert_eq!(all_deliveries(&store).await, 2 * 2);

    // Once Jane's incident leaves the window, John's is the open one.
    let mitigated = set_status(&store, &held, Status::Mitigated, at(10)).await;
    set_status(&store, &mitigated, Status::PostMortem, at(20)).await;
    assert_eq!(
        matched(keyed(&fx, key, &fx.jane, Viewer::Everything, false, 6)).await,
        johns.id
    );
    assert_eq!(
        matched(keyed(&fx, key, &fx.john, john, false, 7)).await,
        johns.id
    );

    // A private incident its declarer may not see (declared for someone
    // else) holds the key for that declarer too: a repeat is no duplicate.
    let on_behalf = |n| {
        let mut record = keyed(&fx, "backup:hr", &fx.jane, john, true, n);
        record.members = vec![fx.jane.id];
        record
    };
    let for_jane = created(store.declare(on_behalf(8)).await.unwrap());
    assert_eq!(matched(on_behalf(9)).await, for_jane.id);
    assert_eq!(
        matched(keyed(&fx, "backup:hr", &fx.jane, jane, true, 10)).await,
        for_jane.id
    );
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        3
    );
}

/// Per declarer: how many incidents they created, and the ids they got.
type DeclaredBy = std::collections::HashMap<UserId, (usize, HashSet<IncidentId>)>;

/// The one incident `who` created and every declaration of theirs got.
fn one_own(got: &DeclaredBy, who: UserId) -> IncidentId {
    let (created, ids) = &got[&who];
    assert_eq!(*created, 1, "one incident for {who}");
    assert_eq!(
        ids.len(),
        1,
        "every declaration of {who} got the same incident"
    );
    *ids.iter().next().unwrap()
}

/// Concurrent declarations with one key: one incident per scope, whatever
/// the interleaving, on both declaration paths (alone and batched).
pub(crate) async fn concurrent_declares_with_one_dedup_key_create_one_incident_per_scope(store: S) {
    let fx = Arc::new(fixture(&store).await);
    let outsider = user(&store, "outsider@example.com").await;
    let key = "siem:rule:7";
    let held = created(
        store
            .declare(keyed(
                &fx,
                key,
                &fx.jane,
                Viewer::Member(fx.jane.id),
                true,
                0,
            ))
            .await
            .unwrap(),
    );
    let race = |declarers: Vec<(User, Viewer, bool)>, key: &'static str| {
        let (store, fx) = (store.clone(), fx.clone());
        async move {
            let mut tasks = Vec::new();
            for n in 0..6_i64 {
                for (by, viewer, private) in &declarers {
                    let (store, fx, by, viewer, private) =
                        (store.clone(), fx.clone(), by.clone(), *viewer, *private);
                    tasks.push(tokio::spawn(async move {
                        let declared = store
                            .declare(keyed(&fx, key, &by, viewer, private, n))
                            .await
                            .unwrap();
                        (by.id, declared)
                    }));
                }
            }
            let mut got = DeclaredBy::new();
            for t in tasks {
                let (by, declared) = t.await.unwrap();
                let entry = got.entry(by).or_default();
                match declared {
                    Declared::Created(i) => {
                        entry.0 += 1;
                        entry.1.insert(i.id);
                    }
                    Declared::Existing(i) => {
                        entry.1.insert(i.id);
                    }
                }
            }
            got
        }
    };

    // John and the outsider may see neither Jane's incident nor each
    // other's (private): each gets one of their own; staff gets Jane's.
    let got = race(
        vec![
            (fx.john.clone(), Viewer::Member(fx.john.id), true),
            (outsider.clone(), Viewer::Member(outsider.id), true),
            (fx.jane.clone(), Viewer::Everything, false),
        ],
        key,
    )
    .await;
    let (johns, outsiders) = (one_own(&got, fx.john.id), one_own(&got, outsider.id));
    assert!(johns != held.id && outsiders != held.id && johns != outsiders);
    assert_eq!(
        got[&fx.jane.id],
        (0, HashSet::from([held.id])),
        "staff gets Jane's"
    );
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        3
    );

    // A free key raced by two who may not see each other's: whoever comes
    // second gets one of their own, never the other's nor a second one.
    let got = race(
        vec![
            (fx.jane.clone(), Viewer::Member(fx.jane.id), true),
            (fx.john.clone(), Viewer::Member(fx.john.id), true),
        ],
        "siem:rule:8",
    )
    .await;
    assert_ne!(one_own(&got, fx.jane.id), one_own(&got, fx.john.id));
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        5
    );
    assert_eq!(all_deliveries(&store).await, 5 * 2);
}

// ------------------------------------------------------------------ apply

pub(crate) async fn apply_with_stale_version_conflicts_and_changes_nothing(store: S) {
    let fx = fixture(&store).await;
    let incident = fx
        .declare(&store, "Checkout fails for every card payment", t0())
        .await;

    let mut first = IncidentChange::from(&incident, subscribers());
    first.incident.title = "Checkout fails for card payments only".into();
    first.incident.updated_at = at(10);
    let after_first = store.apply(first).await.unwrap();
    assert_eq!(after_first.version, 2);
    assert_eq!(after_first.updated_at, at(10));

    let timeline_before = store.timeline(incident.id).await.unwrap();
    let events_before = store.incident_events(incident.id).await.unwrap();

    // Computed from version 1, which is gone.
    let mut stale = IncidentChange::from(&incident, subscribers());
    stale.incident.title = "A stale change that must not land".into();
    stale.incident.status = Status::Mitigating;
    let e = entry(at(20), None, "stale");
    stale.events.push(updated_event(e.id));
    stale.timeline.push(e);
    let err = store.apply(stale).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("changed meanwhile")),
        "{err}"
    );

    assert_eq!(
        store.incident(incident.id).await.unwrap().unwrap(),
        after_first
    );
    assert_eq!(store.timeline(incident.id).await.unwrap(), timeline_before);
    assert_eq!(
        store.incident_events(incident.id).await.unwrap(),
        events_before
    );
}

pub(crate) async fn apply_unknown_incident_is_not_found(store: S) {
    let fx = fixture(&store).await;
    let mut ghost = fx.incident("An incident that was never declared", t0());
    ghost.id = IncidentId(4242);
    ghost.version = 1;
    let err = store
        .apply(IncidentChange::from(&ghost, subscribers()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "incident",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .append(
            IncidentId(4242),
            vec![entry(t0(), None, "hello")],
            vec![],
            subscribers(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "incident",
                ..
            }
        ),
        "{err}"
    );
}

pub(crate) async fn apply_rolls_back_entirely_when_a_later_write_fails(store: S) {
    let fx = fixture(&store).await;
    let incident = fx
        .declare(&store, "Checkout fails for every card payment", t0())
        .await;
    let details_before = store.incident_details(incident.id).await.unwrap().unwrap();
    let timeline_before = store.timeline(incident.id).await.unwrap();
    let events_before = store.incident_events(incident.id).await.unwrap();
    let deliveries_before = all_deliveries(&store).await;

    let ghost = UserId::new();
    let mut change = IncidentChange::from(&incident, subscribers());
    change.incident.title = "This title must not be saved".into();
    change.incident.status = Status::Mitigating;
    change.incident.updated_at = at(30);
    change.tags_changed = true;
    change.incident.tags = vec!["rolled-back".into()];
    change.members_added.push(fx.john.id);
    let e = entry(at(30), Some(fx.john.id), "handing over");
    change.events.push(updated_event(e.id));
    change.timeline.push(e);
    // The incident row, tags and members are written before the roles; this fails.
    change.roles_set.push((fx.commander.id, ghost));
    let err = store.apply(change).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what: "user", id } if *id == ghost.to_string()),
        "{err}"
    );

    assert_eq!(
        store.incident_details(incident.id).await.unwrap().unwrap(),
        details_before
    );
    assert_eq!(store.timeline(incident.id).await.unwrap(), timeline_before);
    assert_eq!(
        store.incident_events(incident.id).await.unwrap(),
        events_before
    );
    assert_eq!(all_deliveries(&store).await, deliveries_before);

    // The same change without the bad role goes through, from the same version.
    let mut change = IncidentChange::from(&incident, subscribers());
    change.incident.title = "This title is saved this time".into();
    assert_eq!(store.apply(change).await.unwrap().version, 2);
}

pub(crate) async fn apply_writes_every_part(store: S) {
    let fx = fixture(&store).await;
    let mut record = fx.record(fx.incident("Checkout fails for every card payment", t0()));
    record.incident.tags = vec!["a".into(), "b".into()];
    record.roles.push((fx.comms.id, fx.john.id));
    record.key_events.push(KeyEvent {
        event_type: "started".into(),
        at: at(-60),
        recorded_by: None,
    });
    let incident = created(store.declare(record).await.unwrap());

    let mut change = IncidentChange::from(&incident, subscribers());
    {
        let i = &mut change.incident;
        i.title = "Checkout fails for card payments in Spain".into();
        i.description = "Only Visa cards".into();
        i.status = Status::Closed;
        i.priority_id = fx.p3.id;
        i.category_id = fx.other_category.id;
        i.environment_ids = vec![fx.stg.id, fx.prd.id];
        i.environment_id = fx.stg.id;
        i.updated_at = at(3600);
        i.mitigated_at = Some(at(1800));
        i.closed_at = Some(at(3600));
        i.closure_reason = Some(ClosureReason::FalsePositive);
        i.closure_reference = "#12".into();
        i.custom_fields
            .insert("jira".into(), serde_json::json!("INC-1"));
        i.dedup_key = Some("new-key".into());
        i.ignore = true;
        i.private = true;
        i.tags = vec!["c".into(), "a".into()];
    }
    change.environments_changed = true;
    change.tags_changed = true;
    change.roles_set.push((fx.commander.id, fx.john.id));
    change.roles_cleared.push(fx.comms.id);
    change
        .members_added
        .extend([fx.john.id, fx.jane.id, fx.john.id]);
    change.key_events_set.push(KeyEvent {
        event_type: "started".into(),
        at: at(-120),
        recorded_by: Some(fx.jane.id),
    });
    change.key_events_set.push(KeyEvent {
        event_type: "resolved".into(),
        at: at(3600),
        recorded_by: None,
    });
    change.key_events_cleared.push("declared".into());
    let cost = IncidentCost {
        id: CostId::new(),
        incident_id: incident.id,
        cost_type_id: fx.cost_type.id,
        amount_cents: Some(12_345),
        details: "refunds".into(),
        created_at: at(3600),
    };
    change.costs_added.push(cost.clone());
    let mut e = entry(at(3600), Some(fx.jane.id), "closed as a false alarm");
    e.status = Some(Status::Closed);
    e.event_type = Some("closure_reason".into());
    change.events.push(updated_event(e.id));
    change.events.push(IncidentEvent::Closed);
    change.timeline.push(e.clone());

    let after = store.apply(change.clone()).await.unwrap();
    let mut expected = change.incident.clone();
    expected.version = 2;
    assert_eq!(after, expected);
    assert_eq!(store.incident(incident.id).await.unwrap(), Some(expected));

    let details = store.incident_details(incident.id).await.unwrap().unwrap();
    assert_eq!(
        details
            .roles
            .iter()
            .map(|r| (r.slug.as_str(), r.user_id))
            .collect::<Vec<_>>(),
        vec![("commander", fx.john.id)]
    );
    assert_eq!(details.members, vec![fx.jane.id, fx.john.id]);
    assert_eq!(
        details
            .key_events
            .iter()
            .map(|k| (k.event_type.as_str(), k.at, k.recorded_by))
            .collect::<Vec<_>>(),
        vec![
            ("started", at(-120), Some(fx.jane.id)),
            ("resolved", at(3600), None)
        ]
    );
    assert_eq!(details.costs, vec![cost]);

    let timeline = store.timeline(incident.id).await.unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0].id, e.id);
    let events = store.incident_events(incident.id).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].event, IncidentEvent::Closed);
    assert_eq!(
        events[2].created_at,
        at(3600),
        "events are due when the change happened"
    );
    assert_eq!(all_deliveries(&store).await, 6);

    // Filters see the new values.
    let count = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.count_incidents(&f).await.unwrap() }
    };
    assert_eq!(
        count(IncidentFilter {
            environment_ids: vec![fx.stg.id],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            group_ids: vec![fx.other_group.id],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(IncidentFilter {
            group_ids: vec![fx.group.id],
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(IncidentFilter {
            ignore: Some(true),
            ..Default::default()
        })
        .await,
        1
    );
}

pub(crate) async fn append_records_without_touching_the_incident(store: S) {
    let fx = fixture(&store).await;
    let incident = fx
        .declare(&store, "Checkout fails for every card payment", t0())
        .await;
    let mut e = entry(at(50), None, "PagerDuty incident triggered");
    e.event_type = Some("trigger_oncall".into());
    store
        .append(
            incident.id,
            vec![e.clone()],
            vec![IncidentEvent::ChannelReady {
                channel: firefighter_core::event::ChannelInfo {
                    platform: "slack".into(),
                    id: "C1".into(),
                    name: "inc-1".into(),
                    url: "https://slack/C1".into(),
                },
            }],
            Arc::from(vec!["jira".to_owned()]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.incident(incident.id).await.unwrap().unwrap(),
        incident
    );
    let timeline = store.timeline(incident.id).await.unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0].event_type.as_deref(), Some("trigger_oncall"));
    let events = store.incident_events(incident.id).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].created_at, at(50));
    let deliveries = store.list_deliveries(None, 10).await.unwrap();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(
        (
            deliveries[0].handler.as_str(),
            deliveries[0].event_kind.as_str()
        ),
        ("jira", "channel_ready")
    );

    // A timeline entry by an unknown user is refused, and nothing is kept.
    let err = store
        .append(
            incident.id,
            vec![entry(at(60), Some(UserId::new()), "?")],
            vec![IncidentEvent::Closed],
            subscribers(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "user", .. }), "{err}");
    assert_eq!(store.incident_events(incident.id).await.unwrap().len(), 2);
}

// ------------------------------------------------------------------ lists

pub(crate) async fn list_filters_orders_and_pages(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut b_in = fx.incident("Search is slow on mobile", at(100));
    b_in.priority_id = fx.p3.id;
    b_in.category_id = fx.other_category.id;
    b_in.created_by = fx.john.id;
    b_in.environment_ids = vec![fx.stg.id];
    b_in.environment_id = fx.stg.id;
    let b = created(store.declare(fx.record(b_in)).await.unwrap());
    let c = fx.declare(&store, "Basket totals are wrong", at(200)).await;
    let c = set_status(&store, &c, Status::Mitigated, at(250)).await;
    let mut d_in = fx.incident("Invoices are not generated", at(300));
    d_in.priority_id = fx.p3.id;
    d_in.ignore = true;
    let d = created(store.declare(fx.record(d_in)).await.unwrap());
    let d = set_status(&store, &d, Status::Closed, at(350)).await;

    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move { ids(&store.list_incidents(&f).await.unwrap()) }
    };
    let count = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.count_incidents(&f).await.unwrap() }
    };

    assert_eq!(list(IncidentFilter::default()).await, of(&[&d, &c, &b, &a]));
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await,
        of(&[&a, &b, &c, &d])
    );
    assert_eq!(
        list(IncidentFilter {
            statuses: vec![Status::Open],
            ..Default::default()
        })
        .await,
        of(&[&b, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            status_at_least: Some(Status::Mitigated),
            ..Default::default()
        })
        .await,
        of(&[&d, &c])
    );
    assert_eq!(
        list(IncidentFilter {
            status_below: Some(Status::Closed),
            ..Default::default()
        })
        .await,
        of(&[&c, &b, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            priority_ids: vec![fx.p3.id],
            ..Default::default()
        })
        .await,
        of(&[&d, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            category_ids: vec![fx.other_category.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            group_ids: vec![fx.group.id],
            ..Default::default()
        })
        .await,
        of(&[&d, &c, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            environment_ids: vec![fx.stg.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            created_by: vec![fx.john.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            created_from: Some(at(100)),
            created_before: Some(at(300)),
            ..Default::default()
        })
        .await,
        of(&[&c, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            ignore: Some(true),
            ..Default::default()
        })
        .await,
        of(&[&d])
    );
    assert_eq!(
        list(IncidentFilter {
            ids: vec![a.id, c.id],
            ..Default::default()
        })
        .await,
        of(&[&c, &a])
    );
    // Several filters narrow together.
    assert_eq!(
        list(IncidentFilter {
            priority_ids: vec![fx.p3.id],
            status_below: Some(Status::Closed),
            ..Default::default()
        })
        .await,
        of(&[&b])
    );

    // Orders.
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::Priority,
            ..Default::default()
        })
        .await,
        of(&[&c, &a, &d, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::StatusThenPriority,
            ..Default::default()
        })
        .await,
        of(&[&a, &b, &c, &d])
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::Title,
            ..Default::default()
        })
        .await,
        of(&[&c, &a, &d, &b])
    );

    // Pages; counts ignore offset and limit.
    let page = IncidentFilter {
        offset: 1,
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(list(page.clone()).await, of(&[&c, &b]));
    assert_eq!(count(page).await, 4);
    assert_eq!(
        list(IncidentFilter {
            offset: 3,
            ..Default::default()
        })
        .await,
        of(&[&a])
    );
    assert_eq!(
        list(IncidentFilter {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::Open],
            ..Default::default()
        })
        .await,
        2
    );
}

pub(crate) async fn search_escapes_wildcards_and_matches_ids(store: S) {
    let fx = fixture(&store).await;
    let checkout = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut cpu_in = fx.incident("100% CPU on db_primary node", at(10));
    cpu_in.description = "The database is saturated".into();
    let cpu = created(store.declare(fx.record(cpu_in)).await.unwrap());
    let mut other_in = fx.incident("Database replica lag is high", at(20));
    other_in.description = "dbXprimary is fine".into();
    let other = created(store.declare(fx.record(other_in)).await.unwrap());

    let search = |text: &str| {
        let store = store.clone();
        let f = IncidentFilter {
            search: Some(text.into()),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        };
        async move { ids(&store.list_incidents(&f).await.unwrap()) }
    };
    assert_eq!(search("checkout").await, of(&[&checkout]));
    assert_eq!(
        search("CHECKOUT Card").await,
        of(&[&checkout]),
        "every word, any case"
    );
    assert_eq!(search("checkout mobile").await, Vec::<i64>::new());
    assert_eq!(
        search("database").await,
        of(&[&cpu, &other]),
        "title or description"
    );
    assert_eq!(
        search("db_primary").await,
        of(&[&cpu]),
        "_ is not a wildcard"
    );
    assert_eq!(search("100%").await, of(&[&cpu]));
    assert_eq!(search("%").await, of(&[&cpu]), "% is not a wildcard");
    assert_eq!(search(r"\").await, Vec::<i64>::new());
    assert_eq!(search(&format!("#{}", other.id.0)).await, of(&[&other]));
    assert_eq!(search("   ").await, of(&[&checkout, &cpu, &other]));
    assert_eq!(
        store
            .count_incidents(&IncidentFilter {
                search: Some("database".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        2
    );
}

pub(crate) async fn private_incidents_are_listed_to_members_only(store: S) {
    let fx = fixture(&store).await;
    let public = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut secret_in = fx.incident("Suspected data leak in exports", at(10));
    secret_in.private = true;
    let secret = created(store.declare(fx.record(secret_in)).await.unwrap());
    let outsider = user(&store, "outsider@example.com").await;

    let visible = |user: Option<UserId>| {
        let store = store.clone();
        let f = IncidentFilter {
            visible_to: user,
            ..Default::default()
        };
        async move {
            (
                ids(&store.list_incidents(&f).await.unwrap()),
                store.count_incidents(&f).await.unwrap(),
            )
        }
    };
    assert_eq!(visible(None).await, (of(&[&secret, &public]), 2));
    assert_eq!(
        visible(Some(fx.jane.id)).await,
        (of(&[&secret, &public]), 2)
    );
    assert_eq!(visible(Some(outsider.id)).await, (of(&[&public]), 1));

    // Joining makes it visible.
    let mut change = IncidentChange::from(&secret, subscribers());
    change.members_added.push(outsider.id);
    store.apply(change).await.unwrap();
    assert_eq!(visible(Some(outsider.id)).await.1, 2);
}

// ------------------------------------------------------------------ outbox

pub(crate) async fn outbox_claim_complete_fail_requeue(store: S) {
    let fx = fixture(&store).await;
    // Two incidents: deliveries of one incident and handler wait their turn
    // (see `deliveries_of_one_incident_run_in_commit_order`), those of two
    // incidents do not.
    let first = created(
        store
            .declare(fx.record(fx.incident("Checkout fails for card payments", t0())))
            .await
            .unwrap(),
    );
    let second = created(
        store
            .declare(fx.record(fx.incident("Search answers in ten seconds", t0())))
            .await
            .unwrap(),
    );
    let mut events = store.incident_events(first.id).await.unwrap();
    events.extend(store.incident_events(second.id).await.unwrap());

    // Not due yet.
    assert!(
        store
            .claim_deliveries("a", at(-1), at(30), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let claimed = store.claim_deliveries("a", at(1), at(31), 3).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|d| d.attempt == 1));
    assert_eq!(claimed[0].event, events[0], "oldest event first");
    assert_eq!(claimed[1].event, events[0]);
    assert_eq!(claimed[2].event, events[1]);
    let rest = store
        .claim_deliveries("b", at(2), at(32), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "leased deliveries are not claimed twice");
    assert_eq!(rest[0].event, events[1]);
    assert_eq!(
        rest[0].idempotency_key(),
        format!("{}:{}", events[1].id, rest[0].handler)
    );

    // Completing needs the lease.
    assert!(
        !store
            .complete_delivery(claimed[0].id, "b", at(3))
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_delivery(claimed[0].id, "a", at(3))
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_delivery(claimed[0].id, "a", at(4))
            .await
            .unwrap(),
        "only once"
    );

    assert!(
        store
            .complete_delivery(rest[0].id, "b", at(4))
            .await
            .unwrap()
    );

    // A permanent failure parks it; it can be re-queued by hand.
    assert!(
        store
            .fail_delivery(claimed[2].id, "a", "HTTP 400: bad channel", None)
            .await
            .unwrap()
    );
    let failed = store
        .list_deliveries(Some(DeliveryStatus::Failed), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, claimed[2].id);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("HTTP 400: bad channel")
    );

    // A retry is due at its time, with the next attempt number.
    assert!(
        !store
            .fail_delivery(claimed[1].id, "b", "nope", Some(at(100)))
            .await
            .unwrap()
    );
    assert!(
        store
            .fail_delivery(claimed[1].id, "a", "HTTP 503", Some(at(100)))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_deliveries("a", at(99), at(130), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store
        .claim_deliveries("a", at(100), at(130), 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempt), (claimed[1].id, 2));
    let info = store
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(
        (info[0].attempts, info[0].last_error.as_deref()),
        (2, Some("HTTP 503"))
    );
    assert!(
        store
            .complete_delivery(retried[0].id, "a", at(101))
            .await
            .unwrap()
    );

    // Parked deliveries are not claimed until re-queued.
    assert!(
        store
            .claim_deliveries("a", at(1000), at(1030), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .requeue_delivery(claimed[0].id, at(1000))
            .await
            .unwrap(),
        "only failed ones"
    );
    assert!(
        store
            .requeue_delivery(claimed[2].id, at(1000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .requeue_delivery(claimed[2].id, at(1000))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_deliveries("c", at(999), at(1030), 10)
            .await
            .unwrap()
            .is_empty(),
        "due when re-queued"
    );
    let requeued = store
        .claim_deliveries("c", at(1000), at(1030), 10)
        .await
        .unwrap();
    assert_eq!(
        requeued
            .iter()
            .map(|d| (d.id, d.attempt))
            .collect::<Vec<_>>(),
        vec![(claimed[2].id, 1)]
    );

    let delivered = store
        .list_deliveries(Some(DeliveryStatus::Delivered), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 3);
    let first = delivered.iter().find(|d| d.id == claimed[0].id).unwrap();
    assert_eq!((first.delivered_at, first.attempts), (Some(at(3)), 1));
    assert_eq!(
        store.list_deliveries(None, 2).await.unwrap().len(),
        2,
        "limit"
    );
}

pub(crate) async fn expired_lease_is_claimable_by_another_owner(store: S) {
    let fx = fixture(&store).await;
    let mut record = fx.record(fx.incident("Checkout fails for card payments", t0()));
    record.subscribers = Arc::from(vec!["slack".to_owned()]);
    store.declare(record).await.unwrap();

    let a = store
        .claim_deliveries("a", at(0), at(30), 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert!(
        store
            .claim_deliveries("b", at(10), at(40), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_deliveries("b", at(30), at(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "lease still held at its end"
    );
    let b = store
        .claim_deliveries("b", at(31), at(61), 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].id, b[0].attempt), (a[0].id, 2));
    assert!(
        !store.complete_delivery(a[0].id, "a", at(32)).await.unwrap(),
        "A lost its lease"
    );
    assert!(
        !store
            .fail_delivery(a[0].id, "a", "late", None)
            .await
            .unwrap()
    );
    assert!(store.complete_delivery(b[0].id, "b", at(33)).await.unwrap());
}

pub(crate) async fn concurrent_claimers_never_share_a_delivery(store: S) {
    let fx = fixture(&store).await;
    let handlers: Arc<[String]> =
        Arc::from((0..3).map(|n| format!("handler{n}")).collect::<Vec<_>>());
    for n in 0..20 {
        let mut record =
            fx.record(fx.incident(&format!("Incident number {n} for the outbox"), at(n)));
        record.subscribers = handlers.clone();
        store.declare(record).await.unwrap();
    }
    let total = 60;
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker{worker}");
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_deliveries(&owner, at(1000), at(2000), 4)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    assert!(
                        store
                            .complete_delivery(d.id, &owner, at(1001))
                            .await
                            .unwrap()
                    );
                    got.push(d.id);
                }
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    let mut claimed = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            claimed += 1;
            assert!(seen.insert(id), "delivery {id} was claimed twice");
        }
    }
    assert_eq!(claimed, total);
    assert_eq!(
        store
            .list_deliveries(Some(DeliveryStatus::Delivered), 1000)
            .await
            .unwrap()
            .len(),
        total
    );
}

// ------------------------------------------------------------------ tasks

pub(crate) async fn task_schedules_leases_and_runs(store: S) {
    let every = Schedule::Every { seconds: 60 };
    let cron = Schedule::cron("0 10 * * 1-5").unwrap();
    store
        .ensure_task("slack.sync_users", Some(&every), Some(at(60)))
        .await
        .unwrap();
    // An existing row is kept as it is.
    store
        .ensure_task("slack.sync_users", Some(&cron), None)
        .await
        .unwrap();
    store.ensure_task("export", None, None).await.unwrap();
    let schedules = store.task_schedules().await.unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(
        (
            schedules[0].name.as_str(),
            schedules[0].enabled,
            schedules[0].schedule.clone(),
            schedules[0].next_run_at
        ),
        ("export", false, None, None)
    );
    assert_eq!(
        (
            schedules[1].name.as_str(),
            schedules[1].enabled,
            schedules[1].schedule.clone(),
            schedules[1].next_run_at
        ),
        ("slack.sync_users", true, Some(every.clone()), Some(at(60)))
    );

    store
        .set_task_schedule("export", true, Some(&cron), Some(at(500)))
        .await
        .unwrap();
    let export = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (export.enabled, export.schedule, export.next_run_at),
        (true, Some(cron), Some(at(500)))
    );
    assert!(matches!(
        store
            .set_task_schedule("nope", true, None, None)
            .await
            .unwrap_err(),
        Error::NotFound { what: "task", .. }
    ));
    store.request_task_run("export", at(5)).await.unwrap();
    assert_eq!(
        store.task_schedules().await.unwrap()[0].next_run_at,
        Some(at(5))
    );
    assert!(matches!(
        store.request_task_run("nope", at(5)).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    // Leases: one holder at a time, taken over once expired.
    assert!(
        store
            .acquire_task_lease("export", "a", at(10), at(70))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_task_lease("export", "b", at(20), at(80))
            .await
            .unwrap()
    );
    let held = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (held.lease_owner.as_deref(), held.lease_until),
        (Some("a"), Some(at(70)))
    );
    assert!(
        store
            .acquire_task_lease("export", "b", at(71), at(131))
            .await
            .unwrap()
    );
    // A's late release does nothing.
    store
        .release_task_lease("export", "a", Some(at(999)))
        .await
        .unwrap();
    let held = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (held.lease_owner.as_deref(), held.next_run_at),
        (Some("b"), Some(at(5)))
    );
    store
        .release_task_lease("export", "b", Some(at(600)))
        .await
        .unwrap();
    let released = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (
            released.lease_owner,
            released.lease_until,
            released.next_run_at
        ),
        (None, None, Some(at(600)))
    );
    assert!(
        store
            .acquire_task_lease("export", "c", at(72), at(100))
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .acquire_task_lease("nope", "a", at(0), at(1))
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));

    // Run history, newest first.
    let r1 = store
        .start_task_run("export", "schedule", at(100))
        .await
        .unwrap();
    store
        .finish_task_run(r1, at(110), Some("S3 is down"), None)
        .await
        .unwrap();
    let r2 = store
        .start_task_run("export", "manual", at(200))
        .await
        .unwrap();
    let r3 = store
        .start_task_run("slack.sync_users", "schedule", at(300))
        .await
        .unwrap();
    store
        .finish_task_run(r3, at(301), None, Some("12 users synced"))
        .await
        .unwrap();
    let runs = store.task_runs(Some("export"), 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2, r1]);
    assert_eq!(runs[0].outcome(), "running");
    assert_eq!(runs[1].outcome(), "failed");
    assert_eq!(runs[1].error.as_deref(), Some("S3 is down"));
    assert_eq!(
        (runs[1].started_at, runs[1].finished_at),
        (at(100), Some(at(110)))
    );
    let latest = store.task_runs(None, 1).await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (
            latest[0].id,
            latest[0].outcome(),
            latest[0].summary.as_deref()
        ),
        (r3, "succeeded", Some("12 users synced"))
    );
    assert!(matches!(
        store
            .finish_task_run(999_999, at(1), None, None)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));
}

// ------------------------------------------------------------------ users

pub(crate) async fn users_by_email_or_created_once_under_concurrency(store: S) {
    let new = NewUser::person(Email::parse("Many.Doors@example.com").unwrap());
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let new = new.clone();
        tokio::spawn(async move { store.user_by_email_or_create(&new).await.unwrap() })
    });
    let results = futures::future::join_all(attempts).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    assert!(results.iter().all(|(u, _)| u.id == results[0].0.id));
    let (again, created) = store.user_by_email_or_create(&new).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, results[0].0.id);
    assert_eq!(again.email, "many.doors@example.com");
}

pub(crate) async fn users_identities_and_passwords(store: S) {
    let jane = store
        .create_user(&NewUser {
            email: Email::parse("Jane.Doe@Example.com").unwrap(),
            name: Some("Jane Doe".into()),
            is_staff: true,
            is_admin: false,
            bot: false,
        })
        .await
        .unwrap();
    assert_eq!(jane.email, "jane.doe@example.com");
    assert_eq!(jane.name, "Jane Doe");
    assert!(jane.is_active && jane.is_staff && !jane.is_admin);
    assert_eq!(store.user(jane.id).await.unwrap(), Some(jane.clone()));

    let err = store
        .create_user(&NewUser::person(
            Email::parse("JANE.DOE@example.com").unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("jane.doe@example.com")),
        "{err}"
    );

    let bot = store
        .create_user(&NewUser {
            email: Email::parse("alertmanager@example.com").unwrap(),
            name: None,
            is_staff: false,
            is_admin: false,
            bot: true,
        })
        .await
        .unwrap();
    assert_eq!(
        bot.name, "alertmanager",
        "the name defaults to the e-mail's local part"
    );

    assert_eq!(
        store
            .user_by_email(" JANE.doe@EXAMPLE.com ")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(jane.id)
    );
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );

    store.set_identity(jane.id, "slack", "U1").await.unwrap();
    store
        .set_identity(jane.id, "pagerduty", "P1")
        .await
        .unwrap();
    store.set_identity(jane.id, "slack", "U2").await.unwrap();
    let found = store
        .user_by_identity("slack", "U2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.identities,
        BTreeMap::from([
            ("pagerduty".to_owned(), "P1".to_owned()),
            ("slack".to_owned(), "U2".to_owned())
        ])
    );
    assert_eq!(store.user_by_identity("slack", "U1").await.unwrap(), None);
    // Relinking moves the external id to the new holder.
    store.set_identity(bot.id, "slack", "U2").await.unwrap();
    assert_eq!(
        store
            .user_by_identity("slack", "U2")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(bot.id)
    );
    assert_eq!(
        store
            .user(jane.id)
            .await
            .unwrap()
            .unwrap()
            .identity("slack"),
        None
    );
    assert!(matches!(
        store
            .set_identity(UserId::new(), "slack", "U3")
            .await
            .unwrap_err(),
        Error::NotFound { what: "user", .. }
    ));

    let mut changed = store.user(jane.id).await.unwrap().unwrap();
    changed.name = "Jane D.".into();
    changed.is_active = false;
    changed.is_admin = true;
    changed.avatar = Some("https://example.com/jane.png".into());
    store.update_user(&changed).await.unwrap();
    assert_eq!(store.user(jane.id).await.unwrap(), Some(changed.clone()));
    let mut ghost = changed.clone();
    ghost.id = UserId::new();
    assert!(matches!(
        store.update_user(&ghost).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    assert_eq!(store.password_hash(jane.id).await.unwrap(), None);
    store
        .set_password_hash(jane.id, Some("$argon2id$x"))
        .await
        .unwrap();
    assert_eq!(
        store.password_hash(jane.id).await.unwrap().as_deref(),
        Some("$argon2id$x")
    );
    store.set_password_hash(jane.id, None).await.unwrap();
    assert_eq!(store.password_hash(jane.id).await.unwrap(), None);
    assert!(matches!(
        store
            .set_password_hash(UserId::new(), None)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));

    let all = store.list_users().await.unwrap();
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        vec!["alertmanager@example.com", "jane.doe@example.com"]
    );
    assert_eq!(all[0].identity("slack"), Some("U2"));
}

pub(crate) async fn users_lookup_of_many_ids(store: S) {
    let mut wanted = Vec::new();
    for n in 0..1200 {
        let u = user(&store, &format!("user{n:04}@example.com")).await;
        if n % 100 == 0 {
            store
                .set_identity(u.id, "slack", &format!("U{n}"))
                .await
                .unwrap();
        }
        wanted.push(u.id);
    }
    // Missing ids are left out; repeated ones are returned once.
    let mut asked = wanted.clone();
    asked.extend((0..50).map(|_| UserId::new()));
    asked.push(wanted[0]);
    let found = store.users(&asked).await.unwrap();
    assert_eq!(found.len(), 1200);
    let found_ids: HashSet<UserId> = found.iter().map(|u| u.id).collect();
    assert_eq!(found_ids, wanted.iter().copied().collect());
    assert_eq!(
        found
            .iter()
            .filter(|u| u.identity("slack").is_some())
            .count(),
        12
    );
    assert!(store.users(&[]).await.unwrap().is_empty());
}

// ------------------------------------------------------------------ reference data

pub(crate) async fn catalog_round_trip_and_upserts(store: S) {
    assert!(!store.seeded().await.unwrap());
    assert_eq!(store.catalog().await.unwrap(), Catalog::default());

    let fx = fixture(&store).await;
    let ttd = MetricType {
        slug: "time_to_detect".into(),
        code: "TTD".into(),
        name: "Time to detect".into(),
        description: String::new(),
        end_event: "detected".into(),
        start_event: "started".into(),
    };
    store.upsert_metric_type(&ttd).await.unwrap();
    let bad_metric = MetricType {
        slug: "time_to_nothing".into(),
        end_event: "nothing".into(),
        ..ttd.clone()
    };
    assert!(store.upsert_metric_type(&bad_metric).await.is_err());
    let customers = ImpactType {
        value: "customers_impact".into(),
        name: "Customers".into(),
        emoji: "🛒".into(),
        help_text: "Who is hit".into(),
        order: 2,
        levels: vec![
            ImpactLevelOption {
                level: ImpactLevel::High,
                name: "Many".into(),
                description: "Most customers".into(),
            },
            ImpactLevelOption {
                level: ImpactLevel::Low,
                name: "Few".into(),
                description: String::new(),
            },
        ],
    };
    let business = ImpactType {
        value: "business_impact".into(),
        name: "Business".into(),
        emoji: "💶".into(),
        help_text: String::new(),
        order: 1,
        levels: vec![ImpactLevelOption {
            level: ImpactLevel::None,
            name: "None".into(),
            description: String::new(),
        }],
    };
    store.upsert_impact_type(&customers).await.unwrap();
    store.upsert_impact_type(&business).await.unwrap();

    let catalog = store.catalog().await.unwrap();
    assert_eq!(catalog.priorities, vec![fx.p1.clone(), fx.p3.clone()]);
    assert_eq!(catalog.environments, vec![fx.prd.clone(), fx.stg.clone()]);
    assert_eq!(
        catalog.groups,
        vec![fx.group.clone(), fx.other_group.clone()]
    );
    assert_eq!(
        catalog.categories,
        vec![fx.category.clone(), fx.other_category.clone()]
    );
    assert_eq!(
        catalog.role_types,
        vec![fx.commander.clone(), fx.comms.clone()]
    );
    assert_eq!(
        catalog
            .milestone_types
            .iter()
            .map(|m| m.event_type.as_str())
            .collect::<Vec<_>>(),
        vec![
            "started",
            "detected",
            "declared",
            "recovered",
            "mitigated",
            "resolved"
        ],
        "in the order first stored"
    );
    assert_eq!(catalog.milestone_types[2], milestone("declared"));
    assert_eq!(catalog.metric_types, vec![ttd.clone()]);
    assert_eq!(catalog.cost_types, vec![fx.cost_type.clone()]);
    assert_eq!(
        catalog.impact_types,
        vec![business.clone(), customers.clone()]
    );

    // Upserts update in place (and keep the first-stored order).
    let mut p1 = fx.p1.clone();
    p1.description = "Critical".into();
    p1.sla = Duration::from_secs(900);
    p1.recommended_response_type = Some(ResponseType::Normal);
    p1.order = 10;
    store.upsert_priority(&p1).await.unwrap();
    let mut started = milestone("started");
    started.required = true;
    store.upsert_milestone_type(&started).await.unwrap();
    let mut customers2 = customers.clone();
    customers2.levels = vec![ImpactLevelOption {
        level: ImpactLevel::Highest,
        name: "All".into(),
        description: String::new(),
    }];
    store.upsert_impact_type(&customers2).await.unwrap();
    let mut category = fx.category.clone();
    category.group_id = fx.other_group.id;
    category.private = true;
    store.upsert_category(&category).await.unwrap();

    let catalog = store.catalog().await.unwrap();
    assert_eq!(catalog.priorities, vec![fx.p3.clone(), p1]);
    assert_eq!(catalog.milestone_types[0], started);
    assert_eq!(catalog.impact_types[1], customers2);
    assert_eq!(
        catalog.categories,
        vec![category.clone(), fx.other_category.clone()]
    );

    // Unique names stay unique.
    let mut clash = environment("PRD", 5);
    clash.name = "Another production".into();
    let err = store.upsert_environment(&clash).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let mut orphan = fx.other_category.clone();
    orphan.id = CategoryId::new();
    orphan.group_id = GroupId::new();
    assert!(matches!(
        store.upsert_category(&orphan).await.unwrap_err(),
        Error::NotFound { what: "group", .. }
    ));

    store.mark_seeded().await.unwrap();
    store.mark_seeded().await.unwrap();
    assert!(store.seeded().await.unwrap());
}

// ------------------------------------------------------------------ access

pub(crate) async fn api_tokens_round_trip_touch_and_revoke(store: S) {
    use firefighter_core::{ApiToken, ApiTokenId};
    let fx = fixture(&store).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.jane.id,
        name: "ci".into(),
        prefix: "abcd1234".into(),
        scopes: vec!["incidents:read".into(), "incidents:write".into()],
        created_at: t0(),
        last_used_at: None,
        expires_at: Some(at(86_400)),
        revoked_at: None,
    };
    store.create_api_token(&token, "hash-1").await.unwrap();
    assert_eq!(
        store.api_token_by_hash("hash-1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.api_token_by_hash("hash-2").await.unwrap(), None);
    // The hash is unique.
    let twin = ApiToken {
        id: ApiTokenId::new(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_api_token(&twin, "hash-1").await,
        Err(Error::Conflict(_))
    ));
    // Tokens of unknown users are refused.
    let orphan = ApiToken {
        id: ApiTokenId::new(),
        user_id: UserId::new(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_api_token(&orphan, "hash-3").await,
        Err(Error::NotFound { .. })
    ));

    store.touch_api_token(token.id, at(10)).await.unwrap();
    let other = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.john.id,
        created_at: at(5),
        ..token.clone()
    };
    store.create_api_token(&other, "hash-4").await.unwrap();
    let all = store.api_tokens(None).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![other.id, token.id],
        "newest first"
    );
    let janes = store.api_tokens(Some(fx.jane.id)).await.unwrap();
    assert_eq!(janes.len(), 1);
    assert_eq!(janes[0].last_used_at, Some(at(10)));

    assert!(store.revoke_api_token(token.id, at(20)).await.unwrap());
    assert!(
        !store.revoke_api_token(token.id, at(30)).await.unwrap(),
        "already revoked"
    );
    let revoked = store.api_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(20)));
    assert!(!revoked.is_usable(at(21)));
    assert!(matches!(
        store.revoke_api_token(ApiTokenId::new(), at(0)).await,
        Err(Error::NotFound { .. })
    ));
}

pub(crate) async fn sessions_expire_extend_and_end(store: S) {
    use firefighter_core::Session;
    let fx = fixture(&store).await;
    let session = Session {
        id_hash: "s1".into(),
        user_id: fx.jane.id,
        csrf_token: "csrf".into(),
        created_at: t0(),
        expires_at: at(3600),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.session("s1", at(10)).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.session("s1", at(3600)).await.unwrap(),
        None,
        "expired"
    );
    store.extend_session("s1", at(7200)).await.unwrap();
    assert!(store.session("s1", at(3600)).await.unwrap().is_some());
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session("s1", at(10)).await.unwrap(), None);

    for (i, user) in [fx.jane.id, fx.jane.id, fx.john.id].into_iter().enumerate() {
        store
            .create_session(&Session {
                id_hash: format!("s{}", i + 2),
                user_id: user,
                ..session.clone()
            })
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user_sessions(fx.jane.id).await.unwrap(), 2);
    assert!(store.session("s4", at(10)).await.unwrap().is_some());
    assert!(matches!(
        store
            .create_session(&Session {
                user_id: UserId::new(),
                id_hash: "x".into(),
                ..session.clone()
            })
            .await,
        Err(Error::NotFound { .. })
    ));
    // Purging removes expired sessions only.
    store
        .create_session(&Session {
            id_hash: "old".into(),
            expires_at: at(5),
            ..session.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.purge_access(at(100), at(0)).await.unwrap(), 1);
    assert!(store.session("s4", at(10)).await.unwrap().is_some());
}

pub(crate) async fn idempotency_keys_claim_replay_and_expire(store: S) {
    use firefighter_core::access::{IdempotencyBegin, StoredResponse};
    let begin = |key: &'static str, hash: &'static str, now| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("token:a", key, hash, now, now - chrono::Duration::hours(24))
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("k", "h1", at(0)).await, IdempotencyBegin::Started);
    assert_eq!(begin("k", "h1", at(1)).await, IdempotencyBegin::InProgress);
    assert_eq!(begin("k", "h2", at(1)).await, IdempotencyBegin::Mismatch);
    let response = StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: "{\"id\":1}".into(),
    };
    store
        .finish_idempotent("token:a", "k", &response)
        .await
        .unwrap();
    assert_eq!(
        begin("k", "h1", at(2)).await,
        IdempotencyBegin::Replay(response.clone())
    );
    // Keys belong to one caller.
    assert_eq!(
        store
            .begin_idempotent("token:b", "k", "h1", at(2), at(0))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // A finished key is never abandoned; an unfinished one is released.
    store.abandon_idempotent("token:a", "k").await.unwrap();
    assert_eq!(
        begin("k", "h1", at(3)).await,
        IdempotencyBegin::Replay(response)
    );
    store.abandon_idempotent("token:b", "k").await.unwrap();
    assert_eq!(
        store
            .begin_idempotent("token:b", "k", "h9", at(3), at(0))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // After a day the key is forgotten.
    assert_eq!(
        begin("k", "h2", at(2 * 86_400)).await,
        IdempotencyBegin::Started
    );
    assert_eq!(store.purge_access(at(0), at(10 * 86_400)).await.unwrap(), 2);
}

/// Two requests with one key at the same time: exactly one runs.
pub(crate) async fn concurrent_idempotency_claims_start_once(store: S) {
    use firefighter_core::access::IdempotencyBegin;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .begin_idempotent("user:x", "same", "h", at(0), at(-86_400))
                .await
                .unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        if t.await.unwrap() == IdempotencyBegin::Started {
            started += 1;
        }
    }
    assert_eq!(started, 1);
}

pub(crate) async fn details_of_many_incidents_and_costs(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "First incident of the batch", at(0))
        .await;
    let b = fx
        .declare(&store, "Second incident of the batch", at(1))
        .await;
    let cost = IncidentCost {
        id: CostId::new(),
        incident_id: b.id,
        cost_type_id: fx.cost_type.id,
        amount_cents: Some(1234),
        details: "refunds".into(),
        created_at: at(2),
    };
    let mut change = IncidentChange::from(&b, subscribers());
    change.costs_added.push(cost.clone());
    change.members_added.push(fx.john.id);
    store.apply(change).await.unwrap();
    let b = store.incident(b.id).await.unwrap().unwrap();
    let many = store
        .incident_details_many(vec![b.clone(), a.clone()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(
        many[0],
        store.incident_details(b.id).await.unwrap().unwrap(),
        "same as one by one"
    );
    assert_eq!(
        many[1],
        store.incident_details(a.id).await.unwrap().unwrap()
    );
    assert_eq!(many[0].costs, vec![cost.clone()]);
    assert!(
        store
            .incident_details_many(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.incident_cost(cost.id).await.unwrap(), Some(cost));
    assert_eq!(store.incident_cost(CostId::new()).await.unwrap(), None);
}

pub(crate) async fn id_ranges_and_new_orders(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "Alpha incident for ordering", at(0))
        .await;
    let b = fx
        .declare(&store, "Bravo incident for ordering", at(1))
        .await;
    let c = fx
        .declare(&store, "Charlie incident for ordering", at(2))
        .await;
    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.list_incidents(&f).await.unwrap() }
    };
    assert_eq!(
        ids(list(IncidentFilter {
            id_min: Some(b.id),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await),
        vec![b.id, c.id]
    );
    assert_eq!(
        ids(list(IncidentFilter {
            id_max: Some(b.id),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await),
        vec![a.id, b.id]
    );
    assert_eq!(
        ids(list(IncidentFilter {
            order: IncidentOrder::TitleDescending,
            ..Default::default()
        })
        .await),
        vec![c.id, b.id, a.id]
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::PriorityDescending,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::CreatedBy,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::CreatedByDescending,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
}

pub(crate) async fn reference_rows_record_when_they_change(store: S) {
    let fx = fixture(&store).await;
    let times = store.catalog_times().await.unwrap();
    let p = times.priorities[&fx.p1.id];
    assert!(p.created_at.is_some() && p.created_at == p.updated_at);
    assert!(times.groups[&fx.group.id].created_at.is_some());
    assert!(times.categories[&fx.category.id].created_at.is_some());
    assert!(times.cost_types[&fx.cost_type.id].created_at.is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .upsert_priority(&Priority {
            description: "changed".into(),
            ..fx.p1.clone()
        })
        .await
        .unwrap();
    let after = store.catalog_times().await.unwrap().priorities[&fx.p1.id];
    assert_eq!(after.created_at, p.created_at);
    assert!(after.updated_at > p.updated_at);
}

// ------------------------------------------------------------------ data versions

/// Every kind of write moves the versions it covers, and only those; reads,
/// and writes no representation shows, move none.
pub(crate) async fn data_versions_grow_with_every_write(store: S) {
    use firefighter_core::store::DataVersions;
    use firefighter_core::{ApiToken, ApiTokenId};

    /// Runs a write, then checks which versions moved.
    async fn moved<F: std::future::Future<Output = ()>>(
        store: &S,
        what: &str,
        (data, reference, access): (bool, bool, bool),
        write: F,
    ) {
        let before: DataVersions = store.data_versions().await.unwrap();
        write.await;
        let after = store.data_versions().await.unwrap();
        assert_eq!(
            (
                after.data > before.data,
                after.reference > before.reference,
                after.access > before.access
            ),
            (data, reference, access),
            "{what}: {before:?} -> {after:?}"
        );
        assert!(
            after.data >= before.data
                && after.reference >= before.reference
                && after.access >= before.access,
            "{what}: versions only grow"
        );
        assert_eq!(store.data_version().await.unwrap(), after.data);
    }
    const DATA: (bool, bool, bool) = (true, false, false);
    const REFERENCE: (bool, bool, bool) = (true, true, false);
    const USER: (bool, bool, bool) = (true, false, true);
    const ACCESS: (bool, bool, bool) = (false, false, true);
    const NOTHING: (bool, bool, bool) = (false, false, false);

    let fx = fixture(&store).await;
    let s = &store;

    // Reference data.
    let mut p = fx.p1.clone();
    p.description = "Everything is down".into();
    moved(s, "upsert_priority", REFERENCE, async {
        s.upsert_priority(&p).await.unwrap()
    })
    .await;
    let mut e = fx.prd.clone();
    e.name = "Production!".into();
    moved(s, "upsert_environment", REFERENCE, async {
        s.upsert_environment(&e).await.unwrap()
    })
    .await;
    let mut g = fx.group.clone();
    g.name = "Payments & billing".into();
    moved(s, "upsert_group", REFERENCE, async {
        s.upsert_group(&g).await.unwrap()
    })
    .await;
    let mut c = fx.category.clone();
    c.name = "Checkout page".into();
    moved(s, "upsert_category", REFERENCE, async {
        s.upsert_category(&c).await.unwrap()
    })
    .await;
    let mut r = fx.comms.clone();
    r.name = "Comms".into();
    moved(s, "upsert_role_type", REFERENCE, async {
        s.upsert_role_type(&r).await.unwrap()
    })
    .await;
    moved(s, "upsert_milestone_type", REFERENCE, async {
        s.upsert_milestone_type(&milestone("acknowledged"))
            .await
            .unwrap()
    })
    .await;
    let ttd = MetricType {
        slug: "time_to_detect".into(),
        code: "TTD".into(),
        name: "Time to detect".into(),
        description: String::new(),
        end_event: "detected".into(),
        start_event: "started".into(),
    };
    moved(s, "upsert_metric_type", REFERENCE, async {
        s.upsert_metric_type(&ttd).await.unwrap()
    })
    .await;
    let mut ct = fx.cost_type.clone();
    ct.description = "Money sent back".into();
    moved(s, "upsert_cost_type", REFERENCE, async {
        s.upsert_cost_type(&ct).await.unwrap()
    })
    .await;
    let impact = ImpactType {
        value: "customers_impact".into(),
        name: "Customers".into(),
        emoji: "🛒".into(),
        help_text: String::new(),
        order: 1,
        levels: vec![ImpactLevelOption {
            level: ImpactLevel::High,
            name: "Many".into(),
            description: String::new(),
        }],
    };
    moved(s, "upsert_impact_type", REFERENCE, async {
        s.upsert_impact_type(&impact).await.unwrap()
    })
    .await;
    // A refused write moves nothing.
    let orphan = IncidentCategory {
        id: CategoryId::new(),
        group_id: GroupId::new(),
        ..fx.category.clone()
    };
    moved(s, "refused upsert_category", NOTHING, async {
        assert!(s.upsert_category(&orphan).await.is_err())
    })
    .await;

    // Users.
    let mut ann = None;
    moved(s, "create_user", DATA, async {
        ann = Some(user(s, "ann@example.com").await);
    })
    .await;
    let mut ann = ann.unwrap();
    moved(s, "refused create_user", NOTHING, async {
        assert!(
            s.create_user(&NewUser::person(Email::parse("ann@example.com").unwrap()))
                .await
                .is_err()
        )
    })
    .await;
    ann.name = "Ann Other".into();
    moved(s, "update_user (name)", USER, async {
        s.update_user(&ann).await.unwrap()
    })
    .await;
    ann.is_active = false;
    moved(s, "update_user (deactivated)", USER, async {
        s.update_user(&ann).await.unwrap()
    })
    .await;
    moved(s, "set_identity", USER, async {
        s.set_identity(ann.id, "slack", "U42").await.unwrap()
    })
    .await;
    moved(s, "set_password_hash", NOTHING, async {
        s.set_password_hash(ann.id, Some("hash")).await.unwrap()
    })
    .await;

    // Incidents.
    let mut incident = None;
    moved(s, "declare", DATA, async {
        incident = Some(
            fx.declare(s, "Checkout fails for every card payment", t0())
                .await,
        );
    })
    .await;
    let incident = incident.unwrap();
    let mut dedup = fx.incident("Alert: checkout latency", at(1));
    dedup.dedup_key = Some("alert-1".into());
    moved(s, "declare with a new dedup_key", DATA, async {
        created(s.declare(fx.record(dedup.clone())).await.unwrap());
    })
    .await;
    moved(s, "declare matching an open dedup_key", NOTHING, async {
        assert!(matches!(
            s.declare(fx.record(dedup.clone())).await.unwrap(),
            Declared::Existing(_)
        ))
    })
    .await;
    let mut updated = None;
    moved(s, "apply", DATA, async {
        updated = Some(set_status(s, &incident, Status::Investigating, at(10)).await);
    })
    .await;
    let updated = updated.unwrap();
    let mut change = IncidentChange::from(&updated, subscribers());
    change.roles_set = vec![(fx.comms.id, fx.john.id)];
    change.members_added = vec![fx.john.id];
    moved(s, "apply (roles)", DATA, async {
        s.apply(change).await.unwrap();
    })
    .await;
    moved(s, "apply with a stale version", NOTHING, async {
        let stale = IncidentChange::from(&updated, subscribers());
        assert!(s.apply(stale).await.is_err())
    })
    .await;
    moved(s, "append", DATA, async {
        s.append(
            incident.id,
            vec![entry(at(20), None, "paged")],
            Vec::new(),
            subscribers(),
        )
        .await
        .unwrap()
    })
    .await;

    // Access.
    let token = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.jane.id,
        name: "ci".into(),
        prefix: "abcd1234".into(),
        scopes: vec!["incidents:read".into()],
        created_at: t0(),
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
    };
    moved(s, "create_api_token", NOTHING, async {
        s.create_api_token(&token, "hash-v").await.unwrap()
    })
    .await;
    moved(s, "touch_api_token", NOTHING, async {
        s.touch_api_token(token.id, at(5)).await.unwrap()
    })
    .await;
    moved(s, "revoke_api_token", ACCESS, async {
        assert!(s.revoke_api_token(token.id, at(6)).await.unwrap())
    })
    .await;
    moved(s, "revoke_api_token again", NOTHING, async {
        assert!(!s.revoke_api_token(token.id, at(7)).await.unwrap())
    })
    .await;

    // Reads move nothing.
    moved(s, "reads", NOTHING, async {
        s.catalog().await.unwrap();
        s.list_incidents(&IncidentFilter::default()).await.unwrap();
        s.incident_details(incident.id).await.unwrap();
        s.users(&[fx.jane.id, fx.john.id]).await.unwrap();
    })
    .await;
}

/// Users come back with every identity, whichever way they are looked up.
pub(crate) async fn users_come_with_their_identities(store: S) {
    let fx = fixture(&store).await;
    store.set_identity(fx.jane.id, "slack", "U1").await.unwrap();
    store
        .set_identity(fx.jane.id, "pagerduty", "P1")
        .await
        .unwrap();
    let expected: BTreeMap<String, String> = [("pagerduty", "P1"), ("slack", "U1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let by_id = store.user(fx.jane.id).await.unwrap().unwrap();
    assert_eq!(by_id.identities, expected);
    let by_email = store
        .user_by_email("JANE@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email, by_id);
    let by_identity = store
        .user_by_identity("pagerduty", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_identity, by_id);
    let mut many = store
        .users(&[fx.john.id, fx.jane.id, fx.jane.id, UserId::new()])
        .await
        .unwrap();
    many.sort_by(|a, b| a.email.cmp(&b.email));
    assert_eq!(many.len(), 2);
    assert_eq!(many[0], by_id);
    assert!(many[1].identities.is_empty());
    assert_eq!(store.user(UserId::new()).await.unwrap(), None);
    assert_eq!(store.users(&[]).await.unwrap(), Vec::new());
}

pub(crate) async fn deliveries_of_one_incident_run_in_commit_order(store: S) {
    let fx = fixture(&store).await;
    let mut record = fx.record(fx.incident("Checkout fails for card payments", t0()));
    record.events.push(IncidentEvent::KeyEventsUpdated);
    record.events.push(IncidentEvent::Closed);
    let incident = created(store.declare(record).await.unwrap());
    let events = store.incident_events(incident.id).await.unwrap();
    assert_eq!(events.len(), 3);
    let only_slack = Some(Arc::from(vec!["slack".to_owned()]));
    let claim = |owner: &'static str, t: i64| {
        let store = store.clone();
        let only = only_slack.clone();
        async move {
            store
                .claim_deliveries_for(owner, at(t), at(t + 30), 10, only)
                .await
                .unwrap()
        }
    };
    // Only the oldest pending delivery of the incident for the handler.
    let first = claim("a", 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].event, events[0]);
    // While it is leased, another claimer gets nothing of this incident.
    assert!(claim("b", 2).await.is_empty(), "the next waits its turn");
    // A retry waits too: nothing after it overtakes it.
    assert!(
        store
            .fail_delivery(first[0].id, "a", "HTTP 503", Some(at(50)))
            .await
            .unwrap()
    );
    assert!(claim("b", 3).await.is_empty(), "a retry keeps its place");
    let retried = claim("b", 50).await;
    assert_eq!(retried[0].event, events[0]);
    assert!(
        store
            .complete_delivery(retried[0].id, "b", at(51))
            .await
            .unwrap()
    );
    let second = claim("a", 52).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].event, events[1]);
    // A parked delivery no longer holds back the ones after it.
    assert!(
        store
            .fail_delivery(second[0].id, "a", "HTTP 400: bad channel", None)
            .await
            .unwrap()
    );
    let third = claim("a", 53).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].event, events[2]);
    // Another handler's deliveries of the same incident were never held back.
    let pagerduty = store
        .claim_deliveries_for(
            "c",
            at(54),
            at(84),
            10,
            Some(Arc::from(vec!["pagerduty".to_owned()])),
        )
        .await
        .unwrap();
    assert_eq!(pagerduty.len(), 1, "one at a time for pagerduty too");
    assert_eq!(pagerduty[0].event, events[0]);
}

pub(crate) async fn claims_leave_the_deliveries_of_handlers_not_named(store: S) {
    let fx = fixture(&store).await;
    // Two incidents, so that each handler has two deliveries claimable at once.
    for title in [
        "Checkout fails for card payments",
        "Search answers in ten seconds",
    ] {
        store
            .declare(fx.record(fx.incident(title, t0())))
            .await
            .unwrap();
    }
    let only = |names: &[&str]| {
        Some(
            names
                .iter()
                .map(|n| n.to_string())
                .collect::<Arc<[String]>>(),
        )
    };

    // An instance without Slack takes only what it can deliver...
    let mine = store
        .claim_deliveries_for("a", at(1), at(31), 10, only(&["pagerduty"]))
        .await
        .unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.iter().all(|d| d.handler == "pagerduty"), "{mine:?}");
    assert!(mine.iter().all(|d| d.attempt == 1));
    // ... an instance whose handlers have nothing due takes nothing, nor does one without handlers...
    for handlers in [&["jira"][..], &[][..]] {
        assert!(
            store
                .claim_deliveries_for("b", at(2), at(32), 10, only(handlers))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // ... and Slack's deliveries are still there, never attempted.
    let rest = store
        .claim_deliveries("c", at(3), at(33), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest.iter().all(|d| d.handler == "slack" && d.attempt == 1));
}
