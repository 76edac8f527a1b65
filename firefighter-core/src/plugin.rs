//! What integrations get when they build their handlers, providers and tasks,
//! and how they bring their own tables.

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;

use crate::store::DatabasePool;
use crate::{Firefighter, Settings, Store};

/// The `build` function of a static registration: builds the plugin, or
/// answers `Ok(None)` when its integration is switched off.
pub type PluginBuilder<T> = fn(&PluginContext) -> crate::Result<Option<Arc<T>>>;

/// Handed to the `build` functions of static registrations.
#[derive(Debug, Clone)]
pub struct PluginContext {
    /// Core settings (integrations read their own section from the environment).
    pub settings: Arc<Settings>,
    /// The store.
    pub store: Arc<dyn Store>,
    pub(crate) app: AppHandle,
}

impl PluginContext {
    /// A context for building plugins by hand (tests, custom assemblies).
    pub fn new(settings: Arc<Settings>, store: Arc<dyn Store>) -> PluginContext {
        PluginContext {
            settings,
            store,
            app: AppHandle::default(),
        }
    }

    /// The application, once it is built (plugins are built before it exists,
    /// so call this when handling an event or running a task, not in `build`).
    pub fn app(&self) -> Option<Firefighter> {
        self.app.get()
    }

    /// A handle that resolves to the application once it is built.
    pub fn app_handle(&self) -> AppHandle {
        self.app.clone()
    }
}

/// Resolves to the application once it is built. Holds it weakly, so a
/// plugin keeping the handle does not keep the application alive.
#[derive(Clone, Default)]
pub struct AppHandle(Arc<OnceLock<Weak<crate::app::Inner>>>);

impl std::fmt::Debug for AppHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppHandle")
            .field("ready", &self.get().is_some())
            .finish()
    }
}

impl AppHandle {
    /// The application, if built and still alive.
    pub fn get(&self) -> Option<Firefighter> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .map(Firefighter::from_inner)
    }

    pub(crate) fn set(&self, app: &Firefighter) {
        let _ = self.0.set(app.weak());
    }
}

/// An integration's own tables: its migrations run when the application is
/// built, after core's, on the same database.
#[derive(Debug)]
pub struct SchemaRegistration {
    /// The integration's name (also used to name its migrations table).
    pub name: &'static str,
    /// Runs the integration's migrations.
    pub migrate: fn(DatabasePool) -> BoxFuture<'static, crate::Result<()>>,
}

inventory::collect!(SchemaRegistration);

/// Registers an integration's migrations from any crate.
#[macro_export]
macro_rules! register_schema {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}

/// Whether an integration is on in an environment and, when off, why: each
/// integration reports its own (the server lists them, deciding nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationStatus {
    /// `slack`, `pagerduty`, `confluence`, `jira`.
    pub name: &'static str,
    /// Whether it is on.
    pub on: bool,
    /// Why not, when off (empty when on).
    pub why: String,
}

impl IntegrationStatus {
    /// `name` is on.
    pub fn on(name: &'static str) -> IntegrationStatus {
        IntegrationStatus {
            name,
            on: true,
            why: String::new(),
        }
    }

    /// `name` is off, for this reason.
    pub fn off(name: &'static str, why: impl Into<String>) -> IntegrationStatus {
        IntegrationStatus {
            name,
            on: false,
            why: why.into(),
        }
    }
}
