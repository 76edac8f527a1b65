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

    /// Points the handle at `app` (the builder does it for registered
    /// plugins; a plugin made by hand before the build, to be added with
    /// `event_handler`, is pointed after). A handle is set once.
    pub fn set(&self, app: &Firefighter) {
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

/// Who calls an integration's page or API, as the server's login
/// established it: the one request extension the server inserts in front of
/// every integration route behind its login (staff-only routes are also
/// refused to others by the server before they run).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The logged-in person (or the owner of the API token used).
    pub user: crate::User,
    /// The session's CSRF token, to embed in forms (`None` for
    /// token-authenticated calls, which need none).
    pub csrf_token: Option<String>,
    /// The server's frame for pages, and where it is mounted.
    pub layout: PageLayout,
    /// Whether the caller may declare and change incidents: a person always,
    /// an API token only with its write scope (a read-only token may not
    /// create anything through an integration's route either).
    pub may_write: bool,
}

/// The server's page frame, so an integration's pages look like the others
/// and their links work wherever the server is mounted.
#[derive(Debug, Clone, Default)]
pub struct PageLayout {
    /// Where the server's router is mounted (`""` at the root, `/incidents`
    /// when nested): every link of a page starts with it.
    pub prefix: String,
    /// The page up to its content, with [`PageLayout::TITLE`] where the title goes.
    pub head: String,
    /// The page after its content.
    pub foot: String,
}

impl PageLayout {
    /// Stands for the page's title in [`PageLayout::head`].
    pub const TITLE: &'static str = "{{integration-page-title}}";

    /// The page up to its content, titled `title` (HTML-escaped here).
    pub fn head(&self, title: &str) -> String {
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        self.head.replace(PageLayout::TITLE, &escaped)
    }

    /// `path` (starting with `/`) under the mount prefix.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

impl Caller {
    /// The CSRF token to embed in a form (empty for token-authenticated calls).
    pub fn csrf_token(&self) -> &str {
        self.csrf_token.as_deref().unwrap_or_default()
    }
}
