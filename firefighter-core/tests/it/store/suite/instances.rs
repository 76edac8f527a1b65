//! Instances: a lease whose owner stopped beating is taken over at once;
//! a live owner's, or one that never beat, only when it expires.

use firefighter_core::inbox::NewInboxItem;
use uuid::Uuid;

use super::*;

pub(crate) async fn leases_of_a_silent_instance_are_taken_over_at_once(store: S) {
    let fx = fixture(&store).await;
    let mut record = fx.record(fx.incident("Checkout fails for card payments", t0()));
    record.subscribers = Arc::from(vec!["slack".to_owned()]);
    store.declare(record).await.unwrap();
    store
        .ensure_task("slack.sync_users", None, None)
        .await
        .unwrap();
    let item = NewInboxItem {
        id: Uuid::new_v4(),
        kind: "declare".into(),
        payload: "{}".into(),
        actor: "UJANE".into(),
        claim_token: Uuid::new_v4(),
        claimed_until: at(300),
        claim_owner: Some("instance-dead".into()),
    };
    store
        .insert_inbox_items("slack", std::slice::from_ref(&item), at(0))
        .await
        .unwrap();

    // "instance-dead" beats, takes a delivery and a task for 5 minutes.
    store
        .instance_alive("instance-dead", at(0), at(0))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_deliveries("instance-dead", at(1), at(300), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .acquire_task_lease("slack.sync_users", "instance-dead", at(1), at(300))
            .await
            .unwrap()
    );

    // While it beats, nobody else gets them.
    store
        .instance_alive("instance-dead", at(0), at(15))
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries("instance-new", at(30), at(330), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .acquire_task_lease("slack.sync_users", "instance-new", at(30), at(330))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_inbox_items("slack", "instance-new", at(30), at(330), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .silent_instances(at(30) - chrono::Duration::seconds(20))
            .await
            .unwrap()
            .is_empty()
    );

    // Killed after its last beat at 15 s: 20 s of silence later, its work is free, long before the leases end.
    let now = at(36);
    let silent = firefighter_core::instance::presumed_dead_before(now);
    assert_eq!(
        store.silent_instances(silent).await.unwrap(),
        vec!["instance-dead".to_owned()]
    );
    let taken = store
        .claim_deliveries("instance-new", now, at(336), 10)
        .await
        .unwrap();
    assert_eq!((taken.len(), taken[0].attempt), (1, 2));
    assert!(
        store
            .acquire_task_lease("slack.sync_users", "instance-new", now, at(336))
            .await
            .unwrap()
    );
    let items = store
        .claim_inbox_items("slack", "instance-new", now, at(336), 10)
        .await
        .unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| (i.id, i.claim_owner.as_deref()))
            .collect::<Vec<_>>(),
        vec![(item.id, Some("instance-new"))]
    );
    // The dead one, back from a pause, finds its lease gone.
    assert!(
        !store
            .complete_delivery(taken[0].id, "instance-dead", at(40))
            .await
            .unwrap()
    );

    // An owner that never beat (no heartbeat running) keeps its leases until they expire.
    store.ensure_task("export", None, None).await.unwrap();
    assert!(
        store
            .acquire_task_lease("export", "embedded-without-heartbeat", at(0), at(300))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_task_lease("export", "instance-new", at(200), at(500))
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_task_lease("export", "instance-new", at(301), at(600))
            .await
            .unwrap()
    );

    // A clean stop frees at once whatever it still held.
    store
        .instance_alive("instance-new", at(0), at(400))
        .await
        .unwrap();
    assert!(
        !store
            .acquire_task_lease("slack.sync_users", "instance-other", at(110), at(700))
            .await
            .unwrap()
    );
    store.instance_stopped("instance-new").await.unwrap();
    assert!(
        store
            .acquire_task_lease("slack.sync_users", "instance-other", at(110), at(700))
            .await
            .unwrap()
    );
}
