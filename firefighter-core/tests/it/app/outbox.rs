use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use firefighter_core::outbox::{Dispatcher, DispatcherConfig};
use firefighter_core::store::DeliveryStatus;
use firefighter_core::{EventHandler, Status, Update};
use tokio::sync::Notify;

use super::support::*;

fn config(owner: &str) -> DispatcherConfig {
    DispatcherConfig {
        owner: owner.to_owned(),
        lease: Duration::from_secs(30),
        base_backoff: Duration::ZERO,
        ..DispatcherConfig::default()
    }
}

async fn drain(dispatcher: &Dispatcher) {
    for _ in 0..20 {
        if dispatcher.run_once().await.unwrap().claimed == 0 {
            return;
        }
    }
    panic!("the outbox did not drain");
}

#[tokio::test]
async fn every_event_reaches_every_handler_once() {
    let slack = RecordingHandler::new("slack");
    let jira = RecordingHandler::new("jira");
    let app = builder(sqlite_store().await)
        .event_handler(slack.clone())
        .event_handler(jira.clone())
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    app.update(
        id,
        Update {
            status: Some(Status::Investigating),
            by: Some(jane.id),
            ..Update::default()
        },
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher::for_app(&app);
    drain(&dispatcher).await;
    let events: Vec<i64> = app
        .store()
        .incident_events(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(slack.delivered_events().await, events);
    assert_eq!(jira.delivered_events().await, events);
    // Idempotency keys are stable and distinct per handler.
    let key = &slack.seen.lock().await[0].1;
    assert_eq!(key, &format!("{}:slack", events[0]));
    // Nothing is delivered twice.
    drain(&dispatcher).await;
    assert_eq!(slack.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn failures_are_retried_and_recorded() {
    let flaky = RecordingHandler::failing("flaky", 2, false);
    let app = builder(sqlite_store().await)
        .event_handler(flaky.clone())
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let mut d = declaration(&app, &jane, "P4", "PRD").await;
    d.request_conversation = Some(false);
    app.declare(d).await.unwrap();
    let dispatcher = Dispatcher::new(
        app.store().clone(),
        app.event_handlers(),
        config("a"),
        Arc::new(Notify::new()),
    );
    let first = dispatcher.run_once().await.unwrap();
    assert_eq!((first.claimed, first.retried), (1, 1));
    let pending = app
        .store()
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].last_error.as_deref(), Some("slack answered 503"));
    drain(&dispatcher).await;
    let seen = flaky.seen.lock().await.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].2, 3, "delivered at the third attempt");
    let delivered = app
        .store()
        .list_deliveries(Some(DeliveryStatus::Delivered), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
}

#[tokio::test]
async fn permanent_failures_are_parked_and_can_be_requeued() {
    let broken = RecordingHandler::failing("broken", 1, true);
    let app = builder(sqlite_store().await)
        .event_handler(broken.clone())
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let mut d = declaration(&app, &jane, "P4", "PRD").await;
    d.request_conversation = Some(false);
    app.declare(d).await.unwrap();
    let dispatcher = Dispatcher::for_app(&app);
    let report = dispatcher.run_once().await.unwrap();
    assert_eq!(report.parked, 1);
    let failed = app
        .store()
        .list_deliveries(Some(DeliveryStatus::Failed), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("the channel was deleted")
    );
    assert_eq!(
        dispatcher.run_once().await.unwrap().claimed,
        0,
        "parked deliveries wait for a person"
    );
    assert!(
        app.store()
            .requeue_delivery(failed[0].id, Utc::now())
            .await
            .unwrap()
    );
    drain(&dispatcher).await;
    assert_eq!(broken.seen.lock().await.len(), 1);
}

#[tokio::test]
async fn a_dead_dispatchers_deliveries_are_taken_over_after_its_lease() {
    let handler = RecordingHandler::new("slack");
    let app = builder(sqlite_store().await)
        .event_handler(handler.clone())
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    app.declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap();
    // Dispatcher "a" claims what it may with a short lease, then dies before
    // delivering: the first of the incident's two deliveries (the second
    // waits its turn).
    let now = firefighter_core::store::now();
    let claimed = app
        .store()
        .claim_deliveries("a", now, now + chrono::Duration::milliseconds(200), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let survivor = Dispatcher::new(
        app.store().clone(),
        app.event_handlers(),
        config("b"),
        Arc::new(Notify::new()),
    );
    assert_eq!(
        survivor.run_once().await.unwrap().claimed,
        0,
        "leased deliveries are not stolen"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    drain(&survivor).await;
    assert_eq!(handler.seen.lock().await.len(), 2);
    // The dead dispatcher coming back cannot mark them again.
    assert!(
        !app.store()
            .complete_delivery(claimed[0].id, "a", Utc::now())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ff.db").display());
    {
        let store = firefighter_core::store::connect(&url).await.unwrap();
        let handler = RecordingHandler::new("slack");
        let app = builder(store).event_handler(handler).build().await.unwrap();
        let jane = person(&app, "jane").await;
        app.declare(declaration(&app, &jane, "P1", "PRD").await)
            .await
            .unwrap();
        // The process stops here without dispatching anything.
    }
    let store = firefighter_core::store::connect(&url).await.unwrap();
    let handler = RecordingHandler::new("slack");
    let app = builder(store)
        .event_handler(handler.clone())
        .build()
        .await
        .unwrap();
    drain(&Dispatcher::for_app(&app)).await;
    assert_eq!(handler.seen.lock().await.len(), 2);
}

#[tokio::test]
async fn the_dispatcher_wakes_up_on_commit_and_stops_on_shutdown() {
    let handler = RecordingHandler::new("slack");
    let app = builder(sqlite_store().await)
        .event_handler(handler.clone())
        .build()
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut config = config("live");
    config.poll = Duration::from_secs(3600);
    let dispatcher = Dispatcher::new(
        app.store().clone(),
        app.event_handlers(),
        config,
        app.outbox_signal(),
    );
    let running = tokio::spawn(dispatcher.run(shutdown.clone()));
    let jane = person(&app, "jane").await;
    app.declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap();
    let mut delivered = 0;
    for _ in 0..100 {
        delivered = handler.seen.lock().await.len();
        if delivered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        delivered, 2,
        "delivered without waiting for the poll interval"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn backoff_grows_is_capped_and_honours_hints() {
    let handlers: Vec<Arc<dyn EventHandler>> = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(sqlite_store());
    let d = Dispatcher::new(
        store,
        &handlers,
        DispatcherConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ..DispatcherConfig::default()
        },
        Arc::new(Notify::new()),
    );
    let b1 = d.backoff(1, None);
    let b5 = d.backoff(5, None);
    assert!(
        b1 >= Duration::from_millis(800) && b1 <= Duration::from_millis(1200),
        "{b1:?}"
    );
    assert!(
        b5 >= Duration::from_millis(12_800) && b5 <= Duration::from_millis(19_200),
        "{b5:?}"
    );
    assert!(d.backoff(30, None) <= Duration::from_secs(60));
    assert_eq!(
        d.backoff(1, Some(Duration::from_secs(42))),
        Duration::from_secs(42)
    );
}

/// A handler that waits until it is let go.
struct HeldHandler(Arc<Notify>);

#[async_trait::async_trait]
impl EventHandler for HeldHandler {
    fn name(&self) -> &str {
        "held"
    }
    async fn handle(
        &self,
        _: &firefighter_core::event::Delivery,
    ) -> Result<(), firefighter_core::event::HandlerError> {
        self.0.notified().await;
        Ok(())
    }
}

/// The deliveries of a pass are marked done as their handlers finish: a
/// slow handler does not leave the others pending (and claimable again
/// when their lease ends).
#[tokio::test]
async fn a_slow_handler_does_not_hold_back_the_others_completion() {
    let fast = RecordingHandler::new("fast");
    let release = Arc::new(Notify::new());
    let app = builder(sqlite_store().await)
        .event_handler(fast.clone())
        .event_handler(Arc::new(HeldHandler(release.clone())))
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    app.declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap();
    let dispatcher = Dispatcher::new(
        app.store().clone(),
        app.event_handlers(),
        config("a"),
        Arc::new(Notify::new()),
    );
    let pass = tokio::spawn(async move { dispatcher.run_once().await });
    let store = app.store().clone();
    let delivered = || async {
        store
            .list_deliveries(Some(DeliveryStatus::Delivered), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.handler)
            .collect::<Vec<_>>()
    };
    let mut waited = 0;
    while delivered().await.is_empty() {
        waited += 1;
        assert!(
            waited < 200,
            "the fast handler's delivery was never marked done"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        delivered().await,
        ["fast"],
        "marked while the slow one runs"
    );
    assert!(!pass.is_finished());
    release.notify_one();
    let report = pass.await.unwrap().unwrap();
    assert_eq!((report.claimed, report.delivered), (2, 2));
    let mut all = delivered().await;
    all.sort();
    assert_eq!(all, ["fast", "held"]);
}
