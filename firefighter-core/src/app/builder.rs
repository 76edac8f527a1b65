//! Building the application: the store, then every registered plugin.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::event::EventHandlerRegistration;
use crate::invite::InviteRegistry;
use crate::notify::{Notifier, NotifierRegistration};
use crate::oncall::{OnCall, OnCallRegistration};
use crate::plugin::PluginContext;
use crate::postmortem::PostMortemRegistration;
use crate::store::now;
use crate::task::{PeriodicTask, TaskRegistration};
use crate::{Error, EventHandler, InviteProvider, PostMortemProvider, Result, Settings, Store};

use super::{Firefighter, Inner};

/// Builds a [`Firefighter`].
pub struct FirefighterBuilder {
    settings: Settings,
    store: Option<Arc<dyn Store>>,
    handlers: Vec<Arc<dyn EventHandler>>,
    invite_providers: Vec<Arc<dyn InviteProvider>>,
    postmortem: Vec<Arc<dyn PostMortemProvider>>,
    oncall: Vec<Arc<dyn OnCall>>,
    notifiers: Vec<Arc<dyn Notifier>>,
    tasks: Vec<Arc<dyn PeriodicTask>>,
    use_inventory: bool,
    seed: bool,
}

impl std::fmt::Debug for FirefighterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirefighterBuilder").finish_non_exhaustive()
    }
}

impl FirefighterBuilder {
    /// Uses this store instead of connecting to `DATABASE_URL`.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds an event handler at run time.
    pub fn event_handler(mut self, handler: Arc<dyn EventHandler>) -> Self {
        self.handlers.push(handler);
        self
    }

    /// Adds an invite provider at run time.
    pub fn invite_provider(mut self, provider: Arc<dyn InviteProvider>) -> Self {
        self.invite_providers.push(provider);
        self
    }

    /// Adds a post-mortem backend at run time.
    pub fn postmortem_provider(mut self, provider: Arc<dyn PostMortemProvider>) -> Self {
        self.postmortem.push(provider);
        self
    }

    /// Uses this on-call vendor. At most one vendor may be on, registered
    /// statically or here: the build refuses two.
    pub fn oncall(mut self, vendor: Arc<dyn OnCall>) -> Self {
        self.oncall.push(vendor);
        self
    }

    /// Uses this notifier (how people are told things outside an incident's
    /// conversation). At most one may be on, registered statically or here.
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// Adds a periodic task at run time.
    pub fn task(mut self, task: Arc<dyn PeriodicTask>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Whether to include what crates registered with `inventory` (default: yes).
    pub fn with_registered_plugins(mut self, yes: bool) -> Self {
        self.use_inventory = yes;
        self
    }

    /// Whether to seed reference data on first start (default: yes).
    pub fn seed(mut self, yes: bool) -> Self {
        self.seed = yes;
        self
    }

    /// Connects, migrates, seeds and builds every registered plugin.
    pub async fn build(self) -> Result<Firefighter> {
        self.settings.validate()?;
        let tz = self.settings.tz()?;
        let store = match self.store {
            Some(store) => store,
            None => crate::store::connect(self.settings.database_url.expose_secret()).await?,
        };
        if self.seed {
            crate::seed::seed(store.as_ref()).await?;
        }
        let settings = Arc::new(self.settings);
        if self.use_inventory
            && let Some(pool) = store.database()
        {
            let mut schemas: Vec<&crate::plugin::SchemaRegistration> =
                inventory::iter::<crate::plugin::SchemaRegistration>
                    .into_iter()
                    .collect();
            schemas.sort_by_key(|s| s.name);
            for schema in schemas {
                (schema.migrate)(pool.clone()).await?;
                tracing::debug!(integration = schema.name, "integration schema migrated");
            }
        }
        let mut ctx = PluginContext::new(settings.clone(), store.clone());
        // The on-call vendor first: other plugins may need it to be on.
        let mut vendors = Vec::new();
        if self.use_inventory {
            let mut regs: Vec<&OnCallRegistration> =
                inventory::iter::<OnCallRegistration>.into_iter().collect();
            regs.sort_by_key(|r| r.name);
            for r in regs {
                match (r.build)(&ctx)? {
                    Some(v) => vendors.push(v),
                    None => tracing::info!(oncall = r.name, "on-call vendor switched off"),
                }
            }
        }
        vendors.extend(self.oncall);
        if vendors.len() > 1 {
            let names: Vec<&str> = vendors.iter().map(|v| v.name()).collect();
            return Err(Error::Config(format!(
                "only one on-call vendor can be on, but these are: {}; switch all but one off",
                names.join(", ")
            )));
        }
        let oncall = vendors.pop();
        let mut notifiers = Vec::new();
        if self.use_inventory {
            let mut regs: Vec<&NotifierRegistration> = inventory::iter::<NotifierRegistration>
                .into_iter()
                .collect();
            regs.sort_by_key(|r| r.name);
            for r in regs {
                match (r.build)(&ctx)? {
                    Some(n) => notifiers.push(n),
                    None => tracing::info!(notifier = r.name, "notifier switched off"),
                }
            }
        }
        notifiers.extend(self.notifiers);
        if notifiers.len() > 1 {
            let names: Vec<&str> = notifiers.iter().map(|n| n.name()).collect();
            return Err(Error::Config(format!(
                "only one notifier can be on, but these are: {}; switch all but one off",
                names.join(", ")
            )));
        }
        let notifier = notifiers.pop();
        if let Some(vendor) = &oncall {
            ctx = ctx.with_oncall(vendor.clone());
        }

        let mut handlers = Vec::new();
        let mut invites = InviteRegistry::new()
            .with_timeout(Duration::from_secs(settings.invite_provider_timeout_secs));
        let mut tasks = Vec::new();
        let mut postmortem_backends = Vec::new();
        if self.use_inventory {
            let mut regs: Vec<&EventHandlerRegistration> =
                inventory::iter::<EventHandlerRegistration>
                    .into_iter()
                    .collect();
            regs.sort_by_key(|r| r.name);
            for r in regs {
                match (r.build)(&ctx)? {
                    Some(h) => handlers.push(h),
                    None => tracing::info!(handler = r.name, "event handler switched off"),
                }
            }
            let registry = InviteRegistry::from_inventory(&ctx)?;
            for name in registry.names() {
                tracing::debug!(provider = %name, "invite provider registered");
            }
            invites =
                registry.with_timeout(Duration::from_secs(settings.invite_provider_timeout_secs));
            let mut regs: Vec<&TaskRegistration> =
                inventory::iter::<TaskRegistration>.into_iter().collect();
            regs.sort_by_key(|r| r.name);
            for r in regs {
                match (r.build)(&ctx)? {
                    Some(t) => tasks.push(t),
                    None => tracing::info!(task = r.name, "task switched off"),
                }
            }
            let mut regs: Vec<&PostMortemRegistration> = inventory::iter::<PostMortemRegistration>
                .into_iter()
                .collect();
            regs.sort_by_key(|r| r.name);
            for r in regs {
                match (r.build)(&ctx)? {
                    Some(p) => postmortem_backends.push(p),
                    None => tracing::info!(backend = r.name, "post-mortem backend switched off"),
                }
            }
        }
        handlers.extend(self.handlers);
        for p in self.invite_providers {
            invites.register(p)?;
        }
        tasks.extend(self.tasks);

        let mut seen = HashSet::new();
        for h in &handlers {
            if !seen.insert(h.name().to_owned()) {
                return Err(Error::Config(format!(
                    "two event handlers are named \"{}\"",
                    h.name()
                )));
            }
        }
        let mut seen = HashSet::new();
        for t in &tasks {
            if !seen.insert(t.name().to_owned()) {
                return Err(Error::Config(format!(
                    "two tasks are named \"{}\"",
                    t.name()
                )));
            }
        }
        let run_at = now();
        for t in &tasks {
            let default = t.default_schedule();
            let next = default.as_ref().and_then(|s| s.next_after(run_at, tz));
            store.ensure_task(t.name(), default.as_ref(), next).await?;
        }
        let subscribers: Arc<[String]> = handlers.iter().map(|h| h.name().to_owned()).collect();
        postmortem_backends.extend(self.postmortem);
        if settings.builtin_postmortem {
            // First: it is the one every team has.
            postmortem_backends.insert(
                0,
                Arc::new(crate::postmortem::BuiltInPostMortems::new(store.clone())),
            );
        }
        let mut seen = HashSet::new();
        for p in &postmortem_backends {
            if !seen.insert(p.name().to_owned()) {
                return Err(Error::Config(format!(
                    "two post-mortem backends are named \"{}\"",
                    p.name()
                )));
            }
        }
        tracing::info!(
            backend = store.backend(),
            handlers = ?subscribers,
            invite_providers = ?invites.names(),
            oncall = oncall.as_ref().map(|o| o.name()),
            notifier = notifier.as_ref().map(|n| n.name()),
            tasks = ?tasks.iter().map(|t| t.name()).collect::<Vec<_>>(),
            postmortem_backends = ?postmortem_backends.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "firefighter core ready"
        );
        let app = Firefighter {
            inner: Arc::new(Inner {
                settings,
                tz,
                store,
                handlers,
                subscribers,
                invites,
                postmortem: postmortem_backends,
                oncall,
                notifier,
                tasks,
                catalog: RwLock::new(None),
                outbox_signal: Arc::new(Notify::new()),
                users: Default::default(),
            }),
        };
        ctx.app_handle().set(&app);
        Ok(app)
    }
}

impl Firefighter {
    /// A builder with these settings.
    pub fn builder(settings: Settings) -> FirefighterBuilder {
        FirefighterBuilder {
            settings,
            store: None,
            handlers: Vec::new(),
            invite_providers: Vec::new(),
            postmortem: Vec::new(),
            oncall: Vec::new(),
            notifiers: Vec::new(),
            tasks: Vec::new(),
            use_inventory: true,
            seed: true,
        }
    }
}
