//! Declaring: round trips, references, dedup keys, concurrency.

use super::*;

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
    // Each failure was rolled back whole: the next declaration is written.
    fx.declare(&store, "Search results are empty for everyone", at(10))
        .await;
    assert_eq!(
        store
            .count_incidents(&IncidentFilter::default())
            .await
            .unwrap(),
        1
    );
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
            // Each incident's rows differ, so rows given to the wrong one show.
            incident.environment_ids = if n % 2 == 0 {
                vec![fx.prd.id, fx.stg.id]
            } else {
                vec![fx.stg.id]
            };
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
            created_ids.push((n, incident.id));
            assert_eq!(
                incident.tags,
                vec![format!("region-{n}"), "payments".to_owned()]
            );
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
    for (n, id) in &created_ids {
        let d = store.incident_details(*id).await.unwrap().unwrap();
        assert_eq!(
            d.incident.title,
            format!("Payments degraded in region {n:02}")
        );
        assert_eq!(d.roles.len(), 1);
        assert_eq!(d.members, vec![fx.jane.id]);
        assert_eq!(d.key_events.len(), 1);
        let environments = if n % 2 == 0 {
            vec![fx.prd.id, fx.stg.id]
        } else {
            vec![fx.stg.id]
        };
        assert_eq!(d.incident.environment_ids, environments, "incident {n}");
        assert_eq!(
            d.incident.tags,
            vec![format!("region-{n}"), "payments".to_owned()],
            "incident {n}"
        );
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
