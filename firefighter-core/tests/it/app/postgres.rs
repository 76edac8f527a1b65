//! The multi-instance guarantees, on a real PostgreSQL database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::event::{Delivery, HandlerError};
use firefighter_core::outbox::{Dispatcher, DispatcherConfig};
use firefighter_core::store::PgStore;
use firefighter_core::{EventHandler, Status, Store, Update};
use tokio::sync::{Mutex, Notify};

use super::support::*;

pub(crate) async fn pg_store() -> Arc<dyn Store> {
    let admin_url = std::env::var("FIREFIGHTER_TEST_POSTGRES_URL")
        .expect("FIREFIGHTER_TEST_POSTGRES_URL must point at a PostgreSQL server for the postgres-tests feature");
    let name = format!("ff_app_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    Arc::new(PgStore::connect(&format!("{base}/{name}")).await.unwrap())
}

/// Counts deliveries per (event, handler) across every dispatcher.
#[derive(Default)]
struct Ledger(Mutex<HashMap<(i64, String), u32>>);

struct Counting {
    name: String,
    ledger: Arc<Ledger>,
}

#[async_trait]
impl EventHandler for Counting {
    fn name(&self) -> &str {
        &self.name
    }
    async fn handle(&self, d: &Delivery) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        *self
            .ledger
            .0
            .lock()
            .await
            .entry((d.event.id, self.name.clone()))
            .or_default() += 1;
        Ok(())
    }
}

/// A handler that never answers: the dispatcher running it "dies" mid-delivery.
struct Hangs(String);

#[async_trait]
impl EventHandler for Hangs {
    fn name(&self) -> &str {
        &self.0
    }
    async fn handle(&self, _: &Delivery) -> Result<(), HandlerError> {
        std::future::pending().await
    }
}

fn handlers(ledger: &Arc<Ledger>) -> Vec<Arc<dyn EventHandler>> {
    ["slack", "jira", "pagerduty"]
        .into_iter()
        .map(|n| {
            Arc::new(Counting {
                name: n.to_owned(),
                ledger: ledger.clone(),
            }) as Arc<dyn EventHandler>
        })
        .collect()
}

async fn declare_many(
    store: Arc<dyn Store>,
    subscribers: &[Arc<dyn EventHandler>],
    n: usize,
) -> Vec<i64> {
    let mut b = builder(store.clone());
    for h in subscribers {
        b = b.event_handler(h.clone());
    }
    let app = b.build().await.unwrap();
    let jane = person(&app, "jane").await;
    for _ in 0..n {
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
    }
    let mut ids = Vec::new();
    for incident in app.list_incidents(&Default::default()).await.unwrap() {
        ids.extend(
            app.store()
                .incident_events(incident.id)
                .await
                .unwrap()
                .iter()
                .map(|e| e.id),
        );
    }
    ids
}

fn config(owner: &str, lease: Duration) -> DispatcherConfig {
    DispatcherConfig {
        owner: owner.to_owned(),
        lease,
        batch: 8,
        ..DispatcherConfig::default()
    }
}

#[tokio::test]
async fn two_dispatchers_share_the_work_and_deliver_each_event_once() {
    let store = pg_store().await;
    let ledger = Arc::new(Ledger::default());
    let hs = handlers(&ledger);
    let events = declare_many(store.clone(), &hs, 20).await;
    assert_eq!(events.len(), 60);
    let a = Dispatcher::new(
        store.clone(),
        &hs,
        config("a", Duration::from_secs(30)),
        Arc::new(Notify::new()),
    );
    let b = Dispatcher::new(
        store.clone(),
        &hs,
        config("b", Duration::from_secs(30)),
        Arc::new(Notify::new()),
    );
    let run = |d: Dispatcher| {
        tokio::spawn(async move {
            let mut claimed = 0;
            loop {
                let r = d.run_once().await.unwrap();
                if r.claimed == 0 {
                    return claimed;
                }
                claimed += r.claimed;
            }
        })
    };
    let (ca, cb) = (run(a), run(b));
    let (ca, cb) = (ca.await.unwrap(), cb.await.unwrap());
    assert_eq!(ca + cb, 180);
    assert!(
        ca > 0 && cb > 0,
        "both dispatchers took work ({ca} and {cb})"
    );
    let ledger = ledger.0.lock().await;
    assert_eq!(ledger.len(), 180, "every event reached every handler");
    assert!(
        ledger.values().all(|&n| n == 1),
        "no delivery happened twice"
    );
}

#[tokio::test]
async fn nothing_is_lost_when_a_dispatcher_dies_mid_delivery() {
    let store = pg_store().await;
    let ledger = Arc::new(Ledger::default());
    let hs = handlers(&ledger);
    declare_many(store.clone(), &hs, 5).await;
    // Dispatcher "dying" claims a batch with a short lease and hangs in its handlers.
    let hanging: Vec<Arc<dyn EventHandler>> = ["slack", "jira", "pagerduty"]
        .into_iter()
        .map(|n| Arc::new(Hangs(n.to_owned())) as Arc<dyn EventHandler>)
        .collect();
    let dying = Dispatcher::new(
        store.clone(),
        &hanging,
        config("dying", Duration::from_millis(500)),
        Arc::new(Notify::new()),
    );
    let stuck = tokio::spawn(async move { dying.run_once().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stuck.abort(); // the process is gone
    let survivor = Dispatcher::new(
        store.clone(),
        &hs,
        config("survivor", Duration::from_secs(30)),
        Arc::new(Notify::new()),
    );
    let mut delivered = 0;
    for _ in 0..100 {
        delivered += survivor.run_once().await.unwrap().delivered;
        if delivered == 45 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        delivered, 45,
        "every delivery (5 incidents x 3 events x 3 handlers), including the dead dispatcher's batch"
    );
    let ledger = ledger.0.lock().await;
    assert_eq!(ledger.len(), 45);
    assert!(ledger.values().all(|&n| n == 1));
}

#[tokio::test]
async fn concurrent_declarations_with_one_dedup_key_create_one_incident() {
    let store = pg_store().await;
    let app = builder(store).build().await.unwrap();
    let jane = person(&app, "jane").await;
    let mut d = declaration(&app, &jane, "P2", "PRD").await;
    d.dedup_key = Some("alert-42".into());
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            let d = d.clone();
            tokio::spawn(async move { app.declare(d).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let outcome = t.await.unwrap().unwrap();
        created += usize::from(outcome.created);
        ids.insert(outcome.incident.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn the_lifecycle_walk_works_on_postgres() {
    let store = pg_store().await;
    let app = builder(store).build().await.unwrap();
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P4", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    for s in [
        Status::Investigating,
        Status::Mitigating,
        Status::Mitigated,
        Status::Closed,
    ] {
        app.update(
            id,
            Update {
                status: Some(s),
                by: Some(jane.id),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    }
    let closed = app.incident(id).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert!(closed.closed_at.unwrap() >= closed.mitigated_at.unwrap());
}
