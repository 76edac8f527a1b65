//! The application: commands that change incidents (declare, update, roles,
//! key events, close, downgrade, costs), queries, and the builder that wires
//! the store, event handlers, invite providers, post-mortem backends, the
//! on-call vendor and tasks.
//!
//! Every command validates its whole input first (nothing is written on bad
//! input), asks [`crate::lifecycle::check_transition`] about any status change,
//! and writes the change, its timeline entry and its events in one transaction.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::Validation;
use crate::invite::InviteRegistry;
use crate::oncall::OnCall;
use crate::store::Catalog;
use crate::task::PeriodicTask;
use crate::{
    EnvironmentId, Error, EventHandler, PostMortemProvider, Priority, PriorityId, Result, Settings,
    Store, UserId,
};

/// How long the reference data is cached before it is read again (other
/// instances may have changed it in the back-office).
const CATALOG_TTL: Duration = Duration::from_secs(30);

/// Attempts of a command whose write lost a race with another change.
const CONFLICT_ATTEMPTS: u32 = 50;

mod builder;
mod costs;
mod custom_fields;
mod declare;
mod invites;
mod key_events;
mod postmortems;
mod publish;
mod queries;
mod roles;
mod status;
mod update;
mod users;

pub use builder::FirefighterBuilder;
pub use declare::{Declaration, DeclareOutcome};
pub use postmortems::{PostMortemCreation, PostMortemReport};
pub use update::Update;

/// The application. Cheap to clone.
#[derive(Clone)]
pub struct Firefighter {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    settings: Arc<Settings>,
    tz: chrono_tz::Tz,
    store: Arc<dyn Store>,
    handlers: Vec<Arc<dyn EventHandler>>,
    subscribers: Arc<[String]>,
    invites: InviteRegistry,
    postmortem: Vec<Arc<dyn PostMortemProvider>>,
    oncall: Option<Arc<dyn OnCall>>,
    notifier: Option<Arc<dyn crate::notify::Notifier>>,
    tasks: Vec<Arc<dyn PeriodicTask>>,
    catalog: RwLock<Option<(Instant, Arc<Catalog>)>>,
    outbox_signal: Arc<Notify>,
    users: users::KnownUsers,
}

impl std::fmt::Debug for Firefighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firefighter")
            .field("store", &self.inner.store.backend())
            .field("handlers", &self.inner.subscribers)
            .field("invite_providers", &self.inner.invites.names())
            .field("oncall", &self.inner.oncall.as_ref().map(|o| o.name()))
            .field("tasks", &self.task_names())
            .finish()
    }
}

impl Firefighter {
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Firefighter {
        Firefighter { inner }
    }

    pub(crate) fn weak(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// A handle that resolves to this application while it lives (held
    /// weakly), for plugins assembled by hand after the build.
    pub fn handle(&self) -> crate::plugin::AppHandle {
        let handle = crate::plugin::AppHandle::default();
        handle.set(self);
        handle
    }

    /// The settings.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.inner.settings
    }

    /// The configured time zone.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.inner.tz
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The event handlers.
    pub fn event_handlers(&self) -> &[Arc<dyn EventHandler>] {
        &self.inner.handlers
    }

    /// Names of the event handlers every new event is delivered to.
    pub fn subscribers(&self) -> Arc<[String]> {
        self.inner.subscribers.clone()
    }

    /// The invite registry.
    pub fn invites(&self) -> &InviteRegistry {
        &self.inner.invites
    }

    /// The on-call vendor that is on (`None`: no on-call vendor is switched on).
    pub fn oncall(&self) -> Option<&Arc<dyn OnCall>> {
        self.inner.oncall.as_ref()
    }

    /// The notifier that is on (`None`: no chat integration reaches people).
    pub fn notifier(&self) -> Option<&Arc<dyn crate::notify::Notifier>> {
        self.inner.notifier.as_ref()
    }

    /// The periodic tasks.
    pub fn tasks(&self) -> &[Arc<dyn PeriodicTask>] {
        &self.inner.tasks
    }

    /// Names of the periodic tasks.
    pub fn task_names(&self) -> Vec<String> {
        self.inner
            .tasks
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    }

    /// Woken after every committed change, so the local dispatcher delivers at once.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.inner.outbox_signal.clone()
    }

    /// The reference data (cached for a few seconds).
    pub async fn catalog(&self) -> Result<Arc<Catalog>> {
        if let Some((at, catalog)) = self.inner.catalog.read().expect("catalog lock").as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(catalog.clone());
        }
        let catalog = Arc::new(self.inner.store.catalog().await?);
        *self.inner.catalog.write().expect("catalog lock") =
            Some((Instant::now(), catalog.clone()));
        Ok(catalog)
    }

    /// Forgets the cached reference data (call after editing it).
    pub fn invalidate_catalog(&self) {
        *self.inner.catalog.write().expect("catalog lock") = None;
    }

    fn committed(&self) {
        self.inner.outbox_signal.notify_one();
    }

    async fn with_retries<F, Fut, T>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Err(Error::Conflict(msg))
                    if tries < CONFLICT_ATTEMPTS && msg.contains(crate::store::STALE_VERSION) =>
                {
                    // Re-read and re-decide; a little jitter spreads out writers of one incident.
                    let pause =
                        rand::Rng::random_range(&mut rand::rng(), 0..=(2 * tries.min(10)) as u64);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
    }

    async fn validate_user(
        &self,
        v: &mut Validation,
        field_name: &str,
        id: UserId,
    ) -> Result<Option<crate::User>> {
        Ok(match self.inner.store.user(id).await? {
            Some(u) => Some(u),
            None => {
                v.push(field_name, format!("user {id} does not exist"));
                None
            }
        })
    }
}

fn find_priority(catalog: &Catalog, id: PriorityId) -> Result<&Priority> {
    catalog
        .priorities
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Error::Corrupt(format!("priority {id} is referenced but missing")))
}

/// Validates environment ids, de-duplicates them and puts the primary one
/// (lowest order) first; the default environment when none is given.
fn resolve_environments(catalog: &Catalog, ids: &[EnvironmentId]) -> Result<Vec<EnvironmentId>> {
    if ids.is_empty() {
        return catalog
            .environments
            .iter()
            .find(|e| e.default)
            .map(|e| vec![e.id])
            .ok_or_else(|| {
                Error::invalid(
                    "environment_ids",
                    "an environment is required (no default environment is configured)",
                )
            });
    }
    let mut envs = Vec::new();
    for id in ids {
        match catalog.environments.iter().find(|e| e.id == *id) {
            Some(e) => {
                if !envs.iter().any(|x: &&crate::Environment| x.id == e.id) {
                    envs.push(e);
                }
            }
            None => {
                return Err(Error::invalid(
                    "environment_ids",
                    format!("environment {id} does not exist"),
                ));
            }
        }
    }
    envs.sort_by_key(|e| (e.order, e.value.clone()));
    Ok(envs.into_iter().map(|e| e.id).collect())
}

fn env_names(catalog: &Catalog, ids: &[EnvironmentId]) -> String {
    ids.iter()
        .filter_map(|id| {
            catalog
                .environments
                .iter()
                .find(|e| e.id == *id)
                .map(|e| e.value.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
