//! The inbox: items recorded, leased to one claimer, ended, parked, requeued, purged;
//! and [`Inbox`] applying them once through a handler.

use std::sync::Mutex;

use async_trait::async_trait;
use firefighter_core::inbox::{
    Inbox, InboxEnd, InboxFailure, InboxHandler, InboxItem, MAX_ATTEMPTS, NewInboxItem,
    ReplayReport,
};
use uuid::Uuid;

use super::*;

/// An item as a crashed process left it: recorded, its lease long gone.
fn left_behind(kind: &str, n: u8) -> NewInboxItem {
    NewInboxItem {
        id: Uuid::from_bytes([n; 16]),
        kind: kind.into(),
        payload: format!("{{\"n\":{n}}}"),
        actor: "UJANE".into(),
        claim_token: Uuid::new_v4(),
        claimed_until: at(-3600),
        claim_owner: None,
    }
}

pub(crate) async fn inbox_items_claimed_once_ended_parked_requeued_and_purged(store: S) {
    let items = [left_behind("declare", 1), left_behind("event", 2)];
    store
        .insert_inbox_items("slack", &items, at(0))
        .await
        .unwrap();
    // Recorded again (a journal replayed after a crash): left as it is.
    store
        .insert_inbox_items("slack", &items[..1], at(5))
        .await
        .unwrap();
    store
        .insert_inbox_items("jira", &[left_behind("webhook", 3)], at(0))
        .await
        .unwrap();

    // Not due before it was recorded; each source claims its own.
    assert!(
        store
            .claim_inbox_items("slack", "instance-test", at(-1), at(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_inbox_items("slack", "instance-test", at(1), at(301), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|i| (i.id, i.source.as_str(), i.attempts))
            .collect::<Vec<_>>(),
        vec![(items[0].id, "slack", 2), (items[1].id, "slack", 2)]
    );
    assert_eq!(claimed[0].created_at, at(0));
    assert_eq!(claimed[0].payload, "{\"n\":1}");
    // Leased: nobody else takes them until the lease ends.
    assert!(
        store
            .claim_inbox_items("slack", "instance-test", at(2), at(302), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let token = claimed[0].claim_token.unwrap();
    // A stale token (a lease lost) ends nothing.
    assert!(
        !store
            .end_inbox_item(claimed[0].id, Uuid::new_v4(), &InboxEnd::Done(None), at(3))
            .await
            .unwrap()
    );
    assert!(
        store
            .end_inbox_item(
                claimed[0].id,
                token,
                &InboxEnd::Done(Some("refused".into())),
                at(3)
            )
            .await
            .unwrap()
    );
    let done = store.inbox_item(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(
        (done.done_at, done.last_error.as_deref(), done.claim_token),
        (Some(at(3)), Some("refused"), None)
    );

    // A retry is due at its time, not before.
    let second = &claimed[1];
    store
        .end_inbox_item(
            second.id,
            second.claim_token.unwrap(),
            &InboxEnd::Retry(at(100), "busy".into()),
            at(3),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_inbox_items("slack", "instance-test", at(99), at(400), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_inbox_items("slack", "instance-test", at(100), at(400), 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.len(),
            again[0].attempts,
            again[0].last_error.as_deref()
        ),
        (1, 3, Some("busy"))
    );
    store
        .end_inbox_item(
            second.id,
            again[0].claim_token.unwrap(),
            &InboxEnd::Park("gave up".into()),
            at(101),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_inbox_items("slack", "instance-test", at(10_000), at(10_300), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let parked = store.parked_inbox_items(Some("slack"), 10).await.unwrap();
    assert_eq!(
        parked.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    assert!(
        store
            .parked_inbox_items(Some("jira"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.parked_inbox_items(None, 10).await.unwrap().len(), 1);

    // Requeued: fresh attempts, due at once; requeueing twice says so.
    assert!(store.requeue_inbox_item(second.id, at(200)).await.unwrap());
    assert!(!store.requeue_inbox_item(second.id, at(200)).await.unwrap());
    let requeued = store
        .claim_inbox_items("slack", "instance-test", at(200), at(500), 10)
        .await
        .unwrap();
    assert_eq!((requeued.len(), requeued[0].attempts), (1, 1));

    // Purged: only this source's items done before the time.
    assert_eq!(store.purge_inbox_items("slack", at(3)).await.unwrap(), 0);
    assert_eq!(store.purge_inbox_items("slack", at(4)).await.unwrap(), 1);
    assert!(store.inbox_item(items[0].id).await.unwrap().is_none());
    assert!(store.inbox_item(second.id).await.unwrap().is_some());
    assert_eq!(
        store
            .claim_inbox_items("jira", "instance-test", at(1), at(301), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(crate) async fn concurrent_inbox_claimers_never_share_an_item(store: S) {
    let items: Vec<NewInboxItem> = (1..=40).map(|n| left_behind("event", n)).collect();
    store
        .insert_inbox_items("slack", &items, at(0))
        .await
        .unwrap();
    let claimers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_inbox_items("slack", "instance-test", at(1), at(301), 3)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|i| i.id));
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (40, 40));
}

/// Applies items as told, remembering what it saw.
#[derive(Default)]
struct Handler {
    applied: Mutex<Vec<String>>,
    parked: Mutex<Vec<Uuid>>,
    fail: Option<InboxFailure>,
}

#[async_trait]
impl InboxHandler for Handler {
    async fn apply(&self, item: &InboxItem) -> std::result::Result<(), InboxFailure> {
        self.applied.lock().unwrap().push(item.payload.clone());
        match &self.fail {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    async fn parked(&self, item: &InboxItem) {
        self.parked.lock().unwrap().push(item.id);
    }
}

pub(crate) async fn inbox_applies_once_and_parks_after_repeated_failures(store: S) {
    let inbox = Inbox::new(store.clone(), "slack");
    let handler = Handler::default();

    // Recorded then applied right away: done, and the replay finds nothing.
    let recorded = inbox
        .record(
            "declare",
            &serde_json::json!({"title": "Checkout down"}),
            "UJANE",
        )
        .await
        .unwrap();
    let id = recorded.id();
    assert_eq!(
        inbox.apply_recorded(recorded, &handler).await,
        Some(InboxEnd::Done(None))
    );
    let row = inbox.item(id).await.unwrap().unwrap();
    assert!(row.done_at.is_some());
    assert_eq!(
        (row.source.as_str(), row.kind.as_str(), row.actor.as_str()),
        ("slack", "declare", "UJANE")
    );
    assert_eq!(
        inbox.replay(Utc::now(), &handler).await.unwrap(),
        ReplayReport::default()
    );
    assert_eq!(handler.applied.lock().unwrap().len(), 1);

    // Recorded but never applied (the process died): the replay applies it once.
    let lost = inbox
        .record("update", &serde_json::json!({"n": 2}), "UJOHN")
        .await
        .unwrap();
    drop(lost);
    let later = Utc::now()
        + chrono::Duration::from_std(firefighter_core::inbox::LEASE).unwrap()
        + chrono::Duration::seconds(1);
    assert_eq!(
        inbox.replay(Utc::now(), &handler).await.unwrap().done,
        0,
        "still leased to its recorder"
    );
    assert_eq!(inbox.replay(later, &handler).await.unwrap().done, 1);
    assert_eq!(inbox.replay(later, &handler).await.unwrap().done, 0);
    assert_eq!(
        handler.applied.lock().unwrap().as_slice(),
        ["{\"title\":\"Checkout down\"}", "{\"n\":2}"]
    );

    // Failing every time: retried with a back-off, then parked and its sender told.
    let failing = Handler {
        fail: Some(InboxFailure::Transient("database unavailable".into())),
        ..Handler::default()
    };
    store
        .insert_inbox_items(
            "slack",
            &[left_behind("event", 9)],
            Utc::now() - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let mut now = Utc::now();
    let mut parked = 0;
    for _ in 0..MAX_ATTEMPTS + 2 {
        let report = inbox.replay(now, &failing).await.unwrap();
        parked += report.parked;
        now += chrono::Duration::hours(2);
    }
    assert_eq!(parked, 1);
    // Attempts: the recording counted as the first, so MAX_ATTEMPTS - 1 here.
    assert_eq!(
        failing.applied.lock().unwrap().len(),
        usize::try_from(MAX_ATTEMPTS - 1).unwrap()
    );
    assert_eq!(
        failing.parked.lock().unwrap().as_slice(),
        [Uuid::from_bytes([9; 16])]
    );
    assert_eq!(
        inbox.parked(10).await.unwrap()[0].last_error.as_deref(),
        Some("database unavailable")
    );

    // A refusal ends the item at once (the handler told the person).
    let refusing = Handler {
        fail: Some(InboxFailure::Refused("incident 4 does not exist".into())),
        ..Handler::default()
    };
    assert!(inbox.requeue(Uuid::from_bytes([9; 16])).await.unwrap());
    assert_eq!(
        inbox.replay(Utc::now(), &refusing).await.unwrap(),
        ReplayReport {
            done: 1,
            retried: 0,
            parked: 0
        }
    );
    let refused = inbox
        .item(Uuid::from_bytes([9; 16]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        refused.last_error.as_deref(),
        Some("incident 4 does not exist")
    );
    assert!(refused.done_at.is_some() && refused.parked_at.is_none());
}

/// A sender's redelivery (a webhook whose answer was lost) recorded under
/// the same key: applied once, whether the first copy is done or still running.
pub(crate) async fn a_keyed_request_received_twice_is_applied_once(store: S) {
    let inbox = Inbox::new(store.clone(), "jira");
    let handler = Handler::default();
    let payload = serde_json::json!({"issue": {"key": "INC-1"}});
    let first = inbox
        .record_keyed("delivery-1", "update", &payload, "acc")
        .await
        .unwrap();
    // The copy arrives while the first is recorded but not applied yet.
    let second = inbox
        .record_keyed("delivery-1", "update", &payload, "acc")
        .await
        .unwrap();
    assert_eq!(first.id(), second.id());
    assert_eq!(
        inbox.apply_recorded(first, &handler).await,
        Some(InboxEnd::Done(None))
    );
    assert_eq!(inbox.apply_recorded(second, &handler).await, None);
    // And again once the first is done.
    let third = inbox
        .record_keyed("delivery-1", "update", &payload, "acc")
        .await
        .unwrap();
    assert_eq!(inbox.apply_recorded(third, &handler).await, None);
    assert_eq!(handler.applied.lock().unwrap().len(), 1);
    // Another key is another item.
    let other = inbox
        .record_keyed("delivery-2", "update", &payload, "acc")
        .await
        .unwrap();
    assert_eq!(
        inbox.apply_recorded(other, &handler).await,
        Some(InboxEnd::Done(None))
    );
    assert_eq!(handler.applied.lock().unwrap().len(), 2);
}
