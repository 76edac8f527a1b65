//! What integrations get when they build their handlers, providers and tasks,
//! and how they bring their own tables.

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;

use crate::store::DatabasePool;
use crate::{Firefighter, OnCall, Settings, Store};

/// The `build` function of a static registration: builds the plugin, or
/// answers `Ok(None)` when its integration is switched off.
pub type PluginBuilder<T> = fn(&PluginContext) -> crate::Result<Option<Arc<T>>>;

/// Handed to the `build` functions of static registrations.
#[derive(Clone)]
pub struct PluginContext {
    /// Core settings (integrations read their own section from the environment).
    pub settings: Arc<Settings>,
    /// The store.
    pub store: Arc<dyn Store>,
    pub(crate) app: AppHandle,
    oncall: Option<Arc<dyn OnCall>>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("store", &self.store.backend())
            .field("oncall", &self.oncall.as_ref().map(|o| o.name()))
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl PluginContext {
    /// A context for building plugins by hand (tests, custom assemblies).
    pub fn new(settings: Arc<Settings>, store: Arc<dyn Store>) -> PluginContext {
        PluginContext {
            settings,
            store,
            app: AppHandle::default(),
            oncall: None,
        }
    }

    /// The same context with this on-call vendor on.
    pub fn with_oncall(mut self, oncall: Arc<dyn OnCall>) -> PluginContext {
        self.oncall = Some(oncall);
        self
    }

    /// The on-call vendor that is on, if any. Built before every other
    /// plugin, so a plugin that needs one can switch itself off without it.
    pub fn oncall(&self) -> Option<&Arc<dyn OnCall>> {
        self.oncall.as_ref()
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
