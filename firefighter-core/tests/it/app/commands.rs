use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use firefighter_core::lifecycle::RefusalReason;
use firefighter_core::{
    ClosureReason, Error, IncidentEvent, IncidentFilter, Status, Update, key_event, role,
    timeline::field,
};

use super::support::*;

fn status(s: Status, by: &firefighter_core::User) -> Update {
    Update {
        status: Some(s),
        by: Some(by.id),
        ..Update::default()
    }
}

#[tokio::test]
async fn declaring_assigns_the_commander_and_records_everything() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let outcome = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap();
    assert!(outcome.created);
    let details = app.incident_details(outcome.incident.id).await.unwrap();
    // The outcome describes what was written exactly as reading it back does.
    assert_eq!(outcome.details.as_ref(), Some(&details));
    assert_eq!(details.incident.status, Status::Open);
    assert_eq!(details.incident.created_by, jane.id);
    assert_eq!(details.members, vec![jane.id]);
    assert_eq!(details.roles.len(), 1);
    assert_eq!(details.roles[0].slug, role::COMMANDER);
    assert_eq!(details.roles[0].user_id, jane.id);
    assert!(
        details
            .key_events
            .iter()
            .any(|k| k.event_type == key_event::DECLARED)
    );
    let timeline = app.timeline(outcome.incident.id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.changes.iter().any(|c| c.field == "role:commander"))
    );
    let events = app
        .store()
        .incident_events(outcome.incident.id)
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, vec!["created", "conversation_requested"]);
}

#[tokio::test]
async fn low_priorities_do_not_request_a_conversation_unless_asked() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let p4 = app
        .declare(declaration(&app, &jane, "P4", "PRD").await)
        .await
        .unwrap();
    let kinds: Vec<String> = app
        .store()
        .incident_events(p4.incident.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind().to_owned())
        .collect();
    assert_eq!(kinds, vec!["created"]);
    let mut d = declaration(&app, &jane, "P4", "PRD").await;
    d.request_conversation = Some(true);
    let asked = app.declare(d).await.unwrap();
    assert_eq!(
        app.store()
            .incident_events(asked.incident.id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn private_is_inherited_from_the_category() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let catalog = app.catalog().await.unwrap();
    let mut d = declaration(&app, &jane, "P2", "PRD").await;
    d.category_id = Some(
        catalog
            .categories
            .iter()
            .find(|c| c.name == "Data leak")
            .unwrap()
            .id,
    );
    assert!(app.declare(d).await.unwrap().incident.private);
}

#[tokio::test]
async fn bad_declarations_list_every_problem_and_write_nothing() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let mut d = declaration(&app, &jane, "P1", "PRD").await;
    d.title = "short".into();
    d.description = "x".repeat(1201);
    d.priority_id = Some(firefighter_core::PriorityId::new());
    d.dedup_key = Some(String::new());
    let err = app.declare(d).await.unwrap_err();
    let Error::Invalid(errors) = err else {
        panic!("expected invalid input, got {err}")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["title", "description", "dedup_key", "priority_id"],
        "{errors:?}"
    );
    assert!(errors[0].message.contains("at least 10"));
    assert_eq!(
        app.store()
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_repeated_dedup_key_returns_the_open_incident_without_side_effects() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let mut d = declaration(&app, &jane, "P2", "PRD").await;
    d.dedup_key = Some("alert-1234".into());
    let first = app.declare(d.clone()).await.unwrap();
    let again = app.declare(d.clone()).await.unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(again.details, None);
    assert_eq!(again.incident.id, first.incident.id);
    assert_eq!(
        app.store()
            .incident_events(first.incident.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.store()
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        1
    );
    // Once in post-mortem, the key is free again.
    let id = first.incident.id;
    for s in [
        Status::Investigating,
        Status::Mitigating,
        Status::Mitigated,
        Status::PostMortem,
    ] {
        app.update(id, status(s, &jane)).await.unwrap();
    }
    let recurrence = app.declare(d).await.unwrap();
    assert!(recurrence.created);
    assert_ne!(recurrence.incident.id, id);
}

#[tokio::test]
async fn a_p1_in_production_walks_the_whole_lifecycle() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;

    app.update(id, status(Status::Investigating, &jane))
        .await
        .unwrap();
    app.update(id, status(Status::Mitigating, &jane))
        .await
        .unwrap();
    let mitigated = app
        .update(id, status(Status::Mitigated, &jane))
        .await
        .unwrap();
    assert!(mitigated.mitigated_at.is_some());
    let details = app.incident_details(id).await.unwrap();
    for k in [key_event::RECOVERED, key_event::MITIGATED] {
        assert!(
            details.key_events.iter().any(|e| e.event_type == k),
            "{k} recorded at mitigation"
        );
    }

    // Closing straight from Mitigated is refused, with the reason, and changes nothing.
    let err = app
        .update(id, status(Status::Closed, &jane))
        .await
        .unwrap_err();
    let Error::Refused(refusal) = err else {
        panic!("expected a refusal")
    };
    assert!(refusal.reasons.contains(&RefusalReason::MustPassPostMortem));
    assert_eq!(app.incident(id).await.unwrap().status, Status::Mitigated);

    app.update(id, status(Status::PostMortem, &jane))
        .await
        .unwrap();
    let err = app
        .update(id, status(Status::Closed, &jane))
        .await
        .unwrap_err();
    let Error::Refused(refusal) = err else {
        panic!("expected a refusal")
    };
    // The built-in post-mortem, created at mitigation, is a draft too.
    assert_eq!(refusal.reasons.len(), 2, "{refusal}");
    assert!(
        refusal
            .reasons
            .contains(&RefusalReason::PostMortemNotReady {
                current: "draft".into()
            })
    );
    let Some(RefusalReason::MissingKeyEvents { missing }) = refusal
        .reasons
        .iter()
        .find(|r| matches!(r, RefusalReason::MissingKeyEvents { .. }))
    else {
        unreachable!()
    };
    let mut missing = missing.clone();
    missing.sort();
    assert_eq!(missing, vec!["detected".to_owned(), "started".to_owned()]);

    let now = Utc::now();
    let mut key_events = BTreeMap::new();
    key_events.insert("started".to_owned(), Some(now - Duration::minutes(30)));
    key_events.insert("detected".to_owned(), Some(now - Duration::minutes(20)));
    app.set_key_events(id, Some(jane.id), key_events)
        .await
        .unwrap();
    app.mark_postmortem_ready(id, true, Some(jane.id))
        .await
        .unwrap();

    let closed = app.update(id, status(Status::Closed, &jane)).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert!(closed.closed_at.is_some());
    assert_eq!(closed.closure_reason, Some(ClosureReason::Resolved));
    let kinds: Vec<String> = app
        .store()
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "closed").count(), 1);
    assert!(kinds.contains(&"key_events_updated".to_owned()));

    // Closed is final; a message on a closed incident does not close it again.
    assert!(matches!(
        app.update(id, status(Status::Investigating, &jane)).await,
        Err(Error::Refused(_))
    ));
    app.post_message(id, Some(jane.id), "Post-mortem published on the wiki", None)
        .await
        .unwrap();
    let closed_events = app
        .store()
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == IncidentEvent::Closed)
        .count();
    assert_eq!(closed_events, 1);
}

#[tokio::test]
async fn early_closure_needs_a_reason_and_a_message() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P2", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let err = app
        .close(id, Some(jane.id), None, None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("closure reason"), "{err}");
    let closed = app
        .close(
            id,
            Some(jane.id),
            Some(ClosureReason::Duplicate),
            Some("Same as #41".into()),
            Some("#41".into()),
        )
        .await
        .unwrap();
    assert_eq!(closed.closure_reason, Some(ClosureReason::Duplicate));
    assert_eq!(closed.closure_reference, "#41");
    let timeline = app.timeline(id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.event_type.as_deref() == Some("closure_reason"))
            .count(),
        1
    );
}

#[tokio::test]
async fn downgrade_closes_whatever_the_state() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    app.update(id, status(Status::Investigating, &jane))
        .await
        .unwrap();
    let done = app
        .downgrade(
            id,
            Some(jane.id),
            Some("Not an incident, tracked as a ticket".into()),
        )
        .await
        .unwrap();
    assert_eq!(done.status, Status::Closed);
    assert!(done.ignore);
}

#[tokio::test]
async fn updates_record_old_and_new_values() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let catalog = app.catalog().await.unwrap();
    let id = app
        .declare(declaration(&app, &jane, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    app.update(
        id,
        Update {
            by: Some(jane.id),
            priority_id: Some(priority(&catalog, "P1")),
            environment_ids: Some(vec![env(&catalog, "STG"), env(&catalog, "PRD")]),
            message: Some("Every country is affected now".into()),
            ..Update::default()
        },
    )
    .await
    .unwrap();
    let latest = &app.timeline(id).await.unwrap()[0];
    assert_eq!(
        latest.message.as_deref(),
        Some("Every country is affected now")
    );
    let priority_change = latest
        .changes
        .iter()
        .find(|c| c.field == field::PRIORITY)
        .unwrap();
    assert_eq!(priority_change.old.as_deref(), Some("P3"));
    assert_eq!(priority_change.new.as_deref(), Some("P1"));
    let incident = app.incident(id).await.unwrap();
    // The primary environment is the one with the lowest order.
    assert_eq!(incident.environment_id, env(&catalog, "PRD"));
    assert_eq!(incident.environment_ids.len(), 2);
    let events = app.store().incident_events(id).await.unwrap();
    let IncidentEvent::Updated {
        old_priority,
        changed,
        ..
    } = &events.last().unwrap().event
    else {
        panic!()
    };
    assert_eq!(*old_priority, Some(priority(&catalog, "P3")));
    assert!(changed.contains(&field::PRIORITY.to_owned()));
}

#[tokio::test]
async fn empty_and_invalid_updates_change_nothing() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let before = app.incident(id).await.unwrap();
    let err = app.update(id, Update::default()).await.unwrap_err();
    assert!(err.to_string().contains("nothing to update"), "{err}");
    let err = app
        .update(
            id,
            Update {
                title: Some("tiny".into()),
                status: Some(Status::Investigating),
                ..Update::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
    assert_eq!(app.incident(id).await.unwrap(), before);
    let missing = app
        .update(
            firefighter_core::IncidentId(999),
            status(Status::Investigating, &jane),
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn concurrent_updates_are_all_kept() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let before = app.incident(id).await.unwrap().version;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let app = app.clone();
            let by = jane.id;
            tokio::spawn(async move {
                app.post_message(id, Some(by), &format!("update number {i}"), None)
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(app.incident(id).await.unwrap().version, before + 8);
    let messages = app
        .timeline(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.message.is_some())
        .count();
    assert_eq!(messages, 8);
}

#[tokio::test]
async fn roles_can_be_reassigned_but_the_commander_never_removed() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let max = person(&app, "max").await;
    let id = app
        .declare(declaration(&app, &jane, "P2", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let mut roles = BTreeMap::new();
    roles.insert(role::COMMANDER.to_owned(), Some(max.id));
    roles.insert(role::COMMUNICATION_LEAD.to_owned(), Some(jane.id));
    app.update_roles(id, Some(jane.id), roles).await.unwrap();
    let details = app.incident_details(id).await.unwrap();
    let holder = |slug: &str| {
        details
            .roles
            .iter()
            .find(|r| r.slug == slug)
            .map(|r| r.user_id)
    };
    assert_eq!(holder(role::COMMANDER), Some(max.id));
    assert_eq!(holder(role::COMMUNICATION_LEAD), Some(jane.id));
    assert!(details.members.contains(&max.id));

    let mut clear = BTreeMap::new();
    clear.insert(role::COMMANDER.to_owned(), None);
    clear.insert("wizard".to_owned(), Some(max.id));
    let err = app
        .update_roles(id, Some(jane.id), clear)
        .await
        .unwrap_err();
    let Error::Invalid(errors) = err else {
        panic!()
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(holder(role::COMMANDER), Some(max.id));

    let mut clear = BTreeMap::new();
    clear.insert(role::COMMUNICATION_LEAD.to_owned(), None);
    app.update_roles(id, Some(jane.id), clear).await.unwrap();
    let details = app.incident_details(id).await.unwrap();
    assert!(
        details
            .roles
            .iter()
            .all(|r| r.slug != role::COMMUNICATION_LEAD)
    );
}

#[tokio::test]
async fn key_events_feed_the_metrics_and_refuse_system_ones() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P2", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let mut wrong = BTreeMap::new();
    wrong.insert("declared".to_owned(), Some(Utc::now()));
    assert!(matches!(
        app.set_key_events(id, Some(jane.id), wrong).await,
        Err(Error::Invalid(_))
    ));
    let t0 = Utc::now() - Duration::hours(2);
    let mut ke = BTreeMap::new();
    ke.insert("started".to_owned(), Some(t0));
    ke.insert("detected".to_owned(), Some(t0 + Duration::minutes(10)));
    app.set_key_events(id, Some(jane.id), ke).await.unwrap();
    let details = app.incident_details(id).await.unwrap();
    let catalog = app.catalog().await.unwrap();
    let metrics = firefighter_core::metric::compute(&catalog.metric_types, &details.key_events);
    let ttd = metrics.iter().find(|m| m.slug == "time_to_detect").unwrap();
    assert_eq!(ttd.duration.num_minutes(), 10);
}

#[tokio::test]
async fn costs_are_recorded_and_validated() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let catalog = app.catalog().await.unwrap();
    let id = app
        .declare(declaration(&app, &jane, "P2", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let cost_type = catalog.cost_types[0].id;
    app.add_cost(
        id,
        Some(jane.id),
        cost_type,
        Some(125_050),
        "refunds issued",
    )
    .await
    .unwrap();
    assert!(
        app.add_cost(id, Some(jane.id), cost_type, Some(-1), "")
            .await
            .is_err()
    );
    let details = app.incident_details(id).await.unwrap();
    assert_eq!(details.costs.len(), 1);
    assert_eq!(details.costs[0].amount_cents, Some(125_050));
}

#[tokio::test]
async fn reopening_needs_an_explanation_and_moves_the_recovery_time() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    app.update(id, status(Status::Mitigated, &jane))
        .await
        .unwrap();
    let first_recovery = app
        .incident_details(id)
        .await
        .unwrap()
        .key_events
        .into_iter()
        .find(|k| k.event_type == key_event::RECOVERED)
        .unwrap()
        .at;
    assert!(
        app.update(id, status(Status::Investigating, &jane))
            .await
            .is_err()
    );
    app.update(
        id,
        Update {
            message: Some("Errors are back after the rollback".into()),
            ..status(Status::Investigating, &jane)
        },
    )
    .await
    .unwrap();
    // A reopened incident cannot be closed early any more.
    assert!(
        app.close(
            id,
            Some(jane.id),
            Some(ClosureReason::Duplicate),
            Some("dup".into()),
            None
        )
        .await
        .is_err()
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.update(id, status(Status::Mitigated, &jane))
        .await
        .unwrap();
    let second_recovery = app
        .incident_details(id)
        .await
        .unwrap()
        .key_events
        .into_iter()
        .find(|k| k.event_type == key_event::RECOVERED)
        .unwrap()
        .at;
    assert!(second_recovery > first_recovery);
}

#[tokio::test]
async fn private_incidents_are_listed_only_for_their_members() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let max = person(&app, "max").await;
    let mut d = declaration(&app, &jane, "P2", "PRD").await;
    d.private = Some(true);
    app.declare(d).await.unwrap();
    app.declare(declaration(&app, &jane, "P2", "PRD").await)
        .await
        .unwrap();
    let for_max = IncidentFilter {
        visible_to: Some(max.id),
        ..IncidentFilter::default()
    };
    let for_jane = IncidentFilter {
        visible_to: Some(jane.id),
        ..IncidentFilter::default()
    };
    assert_eq!(app.list_incidents(&for_max).await.unwrap().len(), 1);
    assert_eq!(app.list_incidents(&for_jane).await.unwrap().len(), 2);
}
