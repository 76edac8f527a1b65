//! Changing an incident: apply and append, versions, rollbacks.

use super::*;

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
