//! The outbox: claims, leases, order, handlers.

use super::*;

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

/// A pass's deliveries are marked done in one write: only those whose
/// lease the owner still holds, and only once.
pub(crate) async fn deliveries_are_completed_together_only_under_their_lease(store: S) {
    let fx = fixture(&store).await;
    for (n, title) in [
        "Checkout fails for card payments",
        "Search answers slowly in Europe",
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = fx.record(fx.incident(title, at(n as i64)));
        record.subscribers = Arc::from(vec!["slack".to_owned()]);
        store.declare(record).await.unwrap();
    }
    let early = store.claim_deliveries("a", at(0), at(30), 1).await.unwrap();
    let late = store
        .claim_deliveries("a", at(20), at(50), 1)
        .await
        .unwrap();
    assert_eq!((early.len(), late.len()), (1, 1));
    // A's first lease ran out and B took that delivery.
    let taken = store
        .claim_deliveries("b", at(31), at(61), 10)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![early[0].id]
    );

    let both = [early[0].id, late[0].id];
    assert_eq!(
        store.complete_deliveries(&both, "a", at(32)).await.unwrap(),
        vec![late[0].id],
        "only the delivery A still holds"
    );
    assert!(
        store
            .complete_deliveries(&both, "a", at(33))
            .await
            .unwrap()
            .is_empty(),
        "done once"
    );
    assert_eq!(
        store.complete_deliveries(&both, "b", at(34)).await.unwrap(),
        vec![early[0].id]
    );
    let delivered = store
        .list_deliveries(Some(DeliveryStatus::Delivered), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
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
