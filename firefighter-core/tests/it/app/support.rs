use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use firefighter_core::event::{Delivery, HandlerError};
use firefighter_core::store::{Catalog, SqliteStore};
use firefighter_core::{
    Declaration, Email, EventHandler, Firefighter, FirefighterBuilder, NewUser, Settings, Store,
    User,
};
use tokio::sync::Mutex;

pub(crate) async fn sqlite_store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite"),
    )
}

pub(crate) fn builder(store: Arc<dyn Store>) -> FirefighterBuilder {
    Firefighter::builder(Settings::default())
        .store(store)
        .with_registered_plugins(false)
}

pub(crate) async fn app() -> Firefighter {
    builder(sqlite_store().await).build().await.expect("app")
}

pub(crate) async fn person(app: &Firefighter, name: &str) -> User {
    app.store()
        .create_user(&NewUser::person(
            Email::parse(&format!("{name}@example.com")).unwrap(),
        ))
        .await
        .unwrap()
}

pub(crate) fn priority(catalog: &Catalog, name: &str) -> firefighter_core::PriorityId {
    catalog
        .priorities
        .iter()
        .find(|p| p.name == name)
        .unwrap()
        .id
}

pub(crate) fn env(catalog: &Catalog, value: &str) -> firefighter_core::EnvironmentId {
    catalog
        .environments
        .iter()
        .find(|e| e.value == value)
        .unwrap()
        .id
}

pub(crate) async fn declaration(
    app: &Firefighter,
    by: &User,
    priority_name: &str,
    env_value: &str,
) -> Declaration {
    let catalog = app.catalog().await.unwrap();
    Declaration {
        title: "Checkout fails for card payments".into(),
        description: "Customers get an error page after entering their card.".into(),
        priority_id: Some(priority(&catalog, priority_name)),
        category_id: Some(
            catalog
                .categories
                .iter()
                .find(|c| c.name == "Checkout")
                .unwrap()
                .id,
        ),
        environment_ids: vec![env(&catalog, env_value)],
        created_by: Some(by.id),
        ..Declaration::default()
    }
}

/// Records what it receives; fails the first `fail_first` attempts of each event.
#[derive(Debug)]
pub(crate) struct RecordingHandler {
    pub(crate) name: String,
    pub(crate) seen: Mutex<Vec<(i64, String, u32)>>,
    pub(crate) fail_first: u32,
    pub(crate) calls: AtomicUsize,
    pub(crate) permanent: bool,
}

impl RecordingHandler {
    pub(crate) fn new(name: &str) -> Arc<RecordingHandler> {
        Arc::new(RecordingHandler {
            name: name.to_owned(),
            seen: Mutex::new(Vec::new()),
            fail_first: 0,
            calls: AtomicUsize::new(0),
            permanent: false,
        })
    }

    pub(crate) fn failing(name: &str, fail_first: u32, permanent: bool) -> Arc<RecordingHandler> {
        Arc::new(RecordingHandler {
            name: name.to_owned(),
            seen: Mutex::new(Vec::new()),
            fail_first,
            calls: AtomicUsize::new(0),
            permanent,
        })
    }

    pub(crate) async fn delivered_events(&self) -> Vec<i64> {
        self.seen
            .lock()
            .await
            .iter()
            .map(|(id, _, _)| *id)
            .collect()
    }
}

#[async_trait]
impl EventHandler for RecordingHandler {
    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) as u32 + 1;
        if call <= self.fail_first {
            return Err(if self.permanent {
                HandlerError::Permanent("the channel was deleted".into())
            } else {
                HandlerError::Retry {
                    message: "slack answered 503".into(),
                    retry_after: Some(std::time::Duration::ZERO),
                }
            });
        }
        self.seen.lock().await.push((
            delivery.event.id,
            delivery.idempotency_key(),
            delivery.attempt,
        ));
        Ok(())
    }
}
