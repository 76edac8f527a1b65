//! The application: commands that change incidents (declare, update, roles,
//! key events, close, downgrade, costs), queries, and the builder that wires
//! the store, event handlers, invite providers, post-mortem backends, the
//! on-call vendor and tasks.
//!
//! Every command validates its whole input first (nothing is written on bad
//! input), asks [`crate::lifecycle::check_transition`] about any status change,
//! and writes the change, its timeline entry and its events in one transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::error::Validation;
use crate::event::ChannelInfo;
use crate::event::{EventHandlerRegistration, UpdateKind};
use crate::invite::{InviteContext, InviteRegistry, InviteResolution};
use crate::lifecycle::{self, LifecycleFacts, PostMortemState, StatusChange};
use crate::oncall::{OffHoursHint, OnCall, OnCallRegistration};
use crate::plugin::PluginContext;
use crate::store::{Catalog, Declared, IncidentChange, NewIncidentRecord, now};
use crate::task::{PeriodicTask, TaskRegistration};
use crate::timeline::{FieldChange, event_type, field};
use crate::{
    CategoryId, ClosureReason, ClosureReference, CostId, CostTypeId, DedupKey, Description,
    EnvironmentId, Error, EventHandler, Incident, IncidentCost, IncidentDetails, IncidentEvent,
    IncidentFilter, IncidentId, InviteProvider, KeyEvent, Message, PostMortemProvider, Priority,
    PriorityId, Result, RoleAssignment, Settings, Status, Store, Tag, TimelineEntry, Title,
    UpdateId, UserId, key_event,
};

/// How long the reference data is cached before it is read again (other
/// instances may have changed it in the back-office).
const CATALOG_TTL: Duration = Duration::from_secs(30);

/// Attempts of a command whose write lost a race with another change.
const CONFLICT_ATTEMPTS: u32 = 50;

/// What is needed to declare an incident.
#[derive(Debug, Clone, Default)]
pub struct Declaration {
    /// Title, 10 to 128 characters.
    pub title: String,
    /// Description, up to 1,200 characters.
    pub description: String,
    /// Priority; the default priority when `None`.
    pub priority_id: Option<PriorityId>,
    /// Category.
    pub category_id: Option<CategoryId>,
    /// Environments; the default environment when empty.
    pub environment_ids: Vec<EnvironmentId>,
    /// Who declares it.
    pub created_by: Option<UserId>,
    /// Private; inherited from the category when `None`.
    pub private: Option<bool>,
    /// Idempotency key of automated sources.
    pub dedup_key: Option<String>,
    /// Who is declaring, as far as `dedup_key` goes: an open incident with
    /// the key is returned only if this viewer may see it (else the key is
    /// as good as free for them). `None`: firefighter itself, which sees
    /// everything.
    pub dedup_viewer: Option<crate::Viewer>,
    /// Ignored incidents skip the closing guard and reminders.
    pub ignore: bool,
    /// Extra fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether to ask integrations for a conversation; by default only for
    /// priorities whose response type is critical (P1 to P3).
    pub request_conversation: Option<bool>,
    /// Data passed to integrations with the conversation request.
    pub extras: serde_json::Value,
    /// Key events already known (`started`, `detected`).
    pub key_events: Vec<(String, DateTime<Utc>)>,
}

/// What [`Firefighter::declare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclareOutcome {
    /// The incident.
    pub incident: Incident,
    /// False when an open incident with the same `dedup_key` was returned instead.
    pub created: bool,
    /// Everything the declaration wrote (roles, members, key events), as
    /// reading it back would give; `None` when an open incident was returned.
    pub details: Option<IncidentDetails>,
}

/// A change of an incident. Unset fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// Who makes it (`None`: the system or an integration).
    pub by: Option<UserId>,
    /// A message for the timeline.
    pub message: Option<String>,
    /// New status.
    pub status: Option<Status>,
    /// New priority.
    pub priority_id: Option<PriorityId>,
    /// New category.
    pub category_id: Option<CategoryId>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New environments.
    pub environment_ids: Option<Vec<EnvironmentId>>,
    /// New private flag.
    pub private: Option<bool>,
    /// Closure reason (when closing).
    pub closure_reason: Option<ClosureReason>,
    /// Closure reference (when closing).
    pub closure_reference: Option<String>,
    /// Technical event type of the entry (`trigger_oncall`...).
    pub event_type: Option<String>,
    /// When it happened (default: now).
    pub event_ts: Option<DateTime<Utc>>,
}

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
    tasks: Vec<Arc<dyn PeriodicTask>>,
    catalog: RwLock<Option<(Instant, Arc<Catalog>)>>,
    outbox_signal: Arc<Notify>,
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

/// Builds a [`Firefighter`].
pub struct FirefighterBuilder {
    settings: Settings,
    store: Option<Arc<dyn Store>>,
    handlers: Vec<Arc<dyn EventHandler>>,
    invite_providers: Vec<Arc<dyn InviteProvider>>,
    postmortem: Vec<Arc<dyn PostMortemProvider>>,
    oncall: Vec<Arc<dyn OnCall>>,
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
        if let Some(vendor) = &oncall {
            ctx = ctx.with_oncall(vendor.clone());
        }

        let mut handlers = Vec::new();
        let mut invites = InviteRegistry::new()
            .with_timeout(Duration::from_secs(settings.invite_provider_timeout_secs));
        let mut tasks = Vec::new();
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
        tracing::info!(
            backend = store.backend(),
            handlers = ?subscribers,
            invite_providers = ?invites.names(),
            oncall = oncall.as_ref().map(|o| o.name()),
            tasks = ?tasks.iter().map(|t| t.name()).collect::<Vec<_>>(),
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
                postmortem: self.postmortem,
                oncall,
                tasks,
                catalog: RwLock::new(None),
                outbox_signal: Arc::new(Notify::new()),
            }),
        };
        ctx.app_handle().set(&app);
        Ok(app)
    }
}

fn text_change(field: &str, old: &str, new: &str) -> Option<FieldChange> {
    (old != new).then(|| FieldChange::new(field, Some(old.to_owned()), Some(new.to_owned())))
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

    /// A builder with these settings.
    pub fn builder(settings: Settings) -> FirefighterBuilder {
        FirefighterBuilder {
            settings,
            store: None,
            handlers: Vec::new(),
            invite_providers: Vec::new(),
            postmortem: Vec::new(),
            oncall: Vec::new(),
            tasks: Vec::new(),
            use_inventory: true,
            seed: true,
        }
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

    // ---------------------------------------------------------------- queries

    /// An incident, or [`Error::NotFound`].
    pub async fn incident(&self, id: IncidentId) -> Result<Incident> {
        self.inner
            .store
            .incident(id)
            .await?
            .ok_or_else(|| Error::not_found("incident", id))
    }

    /// An incident with its roles, members, key events and costs.
    pub async fn incident_details(&self, id: IncidentId) -> Result<IncidentDetails> {
        self.inner
            .store
            .incident_details(id)
            .await?
            .ok_or_else(|| Error::not_found("incident", id))
    }

    /// Incidents matching a filter.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        self.inner.store.list_incidents(filter).await
    }

    /// The timeline of an incident, newest first.
    pub async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
        self.incident(id).await?;
        self.inner.store.timeline(id).await
    }

    /// Whether a post-mortem is required: the priority needs one and the incident touches production.
    pub fn postmortem_required(&self, catalog: &Catalog, incident: &Incident) -> bool {
        let needs = catalog
            .priorities
            .iter()
            .find(|p| p.id == incident.priority_id)
            .is_some_and(|p| p.needs_postmortem);
        needs
            && incident.environment_ids.iter().any(|e| {
                catalog
                    .environments
                    .iter()
                    .any(|env| env.id == *e && env.is_production())
            })
    }

    /// The state of the incident's post-mortem across every enabled backend.
    pub async fn postmortem_state(&self, incident: &Incident) -> PostMortemState {
        let states =
            futures::future::join_all(self.inner.postmortem.iter().map(|p| p.state(incident)))
                .await;
        crate::postmortem::combine(states)
    }

    /// The statuses that may be chosen next for an incident (each may still
    /// need a message or a closure reason), for forms.
    pub async fn offered_statuses(&self, id: IncidentId) -> Result<Vec<Status>> {
        let details = self.incident_details(id).await?;
        let catalog = self.catalog().await?;
        let missing = key_event::missing_required(&catalog.milestone_types, &details.key_events);
        let pm = if self.postmortem_required(&catalog, &details.incident) {
            self.postmortem_state(&details.incident).await
        } else {
            PostMortemState::NoBackend
        };
        let priority = find_priority(&catalog, details.incident.priority_id)?;
        Ok(lifecycle::offered_statuses(&LifecycleFacts {
            status: details.incident.status,
            priority_value: priority.value,
            postmortem_required: self.postmortem_required(&catalog, &details.incident),
            ignore: details.incident.ignore,
            was_mitigated: details.incident.mitigated_at.is_some(),
            postmortem: &pm,
            missing_key_events: &missing,
        }))
    }

    // --------------------------------------------------------------- commands

    /// Declares an incident. With a `dedup_key` that an open incident already
    /// holds, returns that incident and writes nothing (no new side effect),
    /// provided `dedup_viewer` may see it (see [`Store::declare`]).
    pub async fn declare(&self, declaration: Declaration) -> Result<DeclareOutcome> {
        let outcome = self.declare_or_check(declaration, false).await?;
        // Only a dry run answers `None`.
        Ok(outcome.expect("a declaration that is not a dry run has an outcome"))
    }

    /// Validates a declaration as [`Firefighter::declare`] would, writing
    /// nothing: what a form or an API call checks before it creates anything
    /// else (an account for the declarer, say).
    pub async fn check_declaration(&self, declaration: &Declaration) -> Result<()> {
        self.declare_or_check(declaration.clone(), true)
            .await
            .map(|_| ())
    }

    async fn declare_or_check(
        &self,
        declaration: Declaration,
        dry_run: bool,
    ) -> Result<Option<DeclareOutcome>> {
        let catalog = self.catalog().await?;
        let declared_at = now();
        let mut v = Validation::default();
        let title = v.check(Title::parse(&declaration.title));
        let description = v.check(Description::parse(&declaration.description));
        let dedup_key = match &declaration.dedup_key {
            Some(k) => v.check(DedupKey::parse(k)).map(Some),
            None => Some(None),
        };
        let tags: Vec<String> = declaration
            .tags
            .iter()
            .filter_map(|t| v.check(Tag::parse(t)).map(String::from))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let priority = match declaration.priority_id {
            Some(id) => match catalog.priorities.iter().find(|p| p.id == id) {
                Some(p) if !p.enabled_create => {
                    v.push(
                        "priority_id",
                        format!("priority {} cannot be chosen when declaring", p.name),
                    );
                    None
                }
                Some(p) => Some(p.clone()),
                None => {
                    v.push("priority_id", format!("priority {id} does not exist"));
                    None
                }
            },
            None => match catalog.priorities.iter().find(|p| p.default) {
                Some(p) => Some(p.clone()),
                None => {
                    v.push(
                        "priority_id",
                        "a priority is required (no default priority is configured)",
                    );
                    None
                }
            },
        };
        let category = match declaration.category_id {
            Some(id) => match catalog.categories.iter().find(|c| c.id == id) {
                Some(c) if !c.enabled_create => {
                    v.push(
                        "category_id",
                        format!("incident category {} is retired: choose another", c.name),
                    );
                    None
                }
                Some(c) => Some(c.clone()),
                None => {
                    v.push(
                        "category_id",
                        format!("incident category {id} does not exist"),
                    );
                    None
                }
            },
            None => {
                v.push("category_id", "an incident category is required");
                None
            }
        };
        let environment_ids = v.check(resolve_environments(&catalog, &declaration.environment_ids));
        let mut known_key_events = Vec::new();
        for (slug, at) in &declaration.key_events {
            match catalog
                .milestone_types
                .iter()
                .find(|m| &m.event_type == slug)
            {
                Some(m) if m.user_editable => {
                    let at = crate::store::truncate_micros(*at);
                    match key_event::range_problem(slug, at, declared_at, declared_at) {
                        Some(problem) => v.push(format!("key_events.{slug}"), problem),
                        None => known_key_events.push((slug.clone(), at)),
                    }
                }
                Some(_) => v.push(
                    "key_events",
                    format!("key event {slug} is set by the system"),
                ),
                None => v.push("key_events", format!("key event {slug} does not exist")),
            }
        }
        let mut resulting: BTreeMap<String, DateTime<Utc>> =
            known_key_events.iter().cloned().collect();
        resulting.insert(key_event::DECLARED.to_owned(), declared_at);
        for (slug, problem) in key_event::order_problems(&resulting, |s| s != key_event::DECLARED) {
            v.push(format!("key_events.{slug}"), problem);
        }
        let creator = match declaration.created_by {
            Some(id) => match self.inner.store.user(id).await? {
                Some(u) if u.is_active => Some(u),
                Some(_) => {
                    v.push("created_by", "this user is deactivated");
                    None
                }
                None => {
                    v.push("created_by", format!("user {id} does not exist"));
                    None
                }
            },
            None => {
                v.push("created_by", "the declaring user is required");
                None
            }
        };
        v.finish()?;
        let (
            Some(title),
            Some(description),
            Some(dedup_key),
            Some(priority),
            Some(category),
            Some(environment_ids),
            Some(creator),
        ) = (
            title,
            description,
            dedup_key,
            priority,
            category,
            environment_ids,
            creator,
        )
        else {
            return Err(Error::invalid("", "invalid declaration"));
        };
        if dry_run {
            return Ok(None);
        }

        let at = declared_at;
        let private = declaration.private.unwrap_or(category.private);
        let incident = Incident {
            id: IncidentId(0),
            title: title.into(),
            description: description.into(),
            status: Status::Open,
            priority_id: priority.id,
            category_id: category.id,
            environment_id: environment_ids[0],
            environment_ids: environment_ids.clone(),
            created_by: creator.id,
            created_at: at,
            updated_at: at,
            mitigated_at: None,
            closed_at: None,
            closure_reason: None,
            closure_reference: String::new(),
            custom_fields: declaration.custom_fields,
            dedup_key: dedup_key.map(String::from),
            ignore: declaration.ignore,
            private,
            tags,
            version: 1,
        };
        let roles: Vec<_> = catalog
            .role_types
            .iter()
            .filter(|r| r.required)
            .map(|r| (r.id, creator.id))
            .collect();
        let mut changes = vec![
            FieldChange::new(field::TITLE, None, Some(incident.title.clone())),
            FieldChange::new(field::STATUS, None, Some(Status::Open.slug().to_owned())),
            FieldChange::new(field::PRIORITY, None, Some(priority.name.clone())),
            FieldChange::new(field::CATEGORY, None, Some(category.name.clone())),
            FieldChange::new(
                field::ENVIRONMENTS,
                None,
                Some(env_names(&catalog, &environment_ids)),
            ),
        ];
        if !incident.description.is_empty() {
            changes.push(FieldChange::new(
                field::DESCRIPTION,
                None,
                Some(incident.description.clone()),
            ));
        }
        for r in catalog.role_types.iter().filter(|r| r.required) {
            changes.push(FieldChange::new(
                format!("{}{}", field::ROLE_PREFIX, r.slug),
                None,
                Some(creator.email.clone()),
            ));
        }
        let entry = |event_type: Option<&str>, event_ts, changes, status| TimelineEntry {
            id: UpdateId::new(),
            incident_id: IncidentId(0),
            created_by: Some(creator.id),
            created_at: at,
            event_ts,
            event_type: event_type.map(str::to_owned),
            message: None,
            status,
            changes,
        };
        let mut timeline = vec![entry(None, at, changes, Some(Status::Open))];
        let mut key_events = vec![KeyEvent {
            event_type: key_event::DECLARED.to_owned(),
            at,
            recorded_by: None,
        }];
        timeline.push(entry(Some(key_event::DECLARED), at, Vec::new(), None));
        for (slug, ts) in known_key_events {
            timeline.push(entry(
                Some(&slug),
                ts,
                vec![FieldChange::new(
                    format!("{}{slug}", field::KEY_EVENT_PREFIX),
                    None,
                    Some(ts.to_rfc3339()),
                )],
                None,
            ));
            key_events.push(KeyEvent {
                event_type: slug,
                at: ts,
                recorded_by: Some(creator.id),
            });
        }
        let mut events = vec![IncidentEvent::Created];
        let wants_conversation = declaration
            .request_conversation
            .unwrap_or(priority.response_type() == crate::ResponseType::Critical);
        if wants_conversation {
            events.push(IncidentEvent::ConversationRequested {
                extras: declaration.extras,
            });
        }
        // What the new incident's details will be, ordered as the store reads them.
        let mut assigned: Vec<(i32, RoleAssignment)> = roles
            .iter()
            .filter_map(|(role_type_id, user_id)| {
                let t = catalog.role_types.iter().find(|t| t.id == *role_type_id)?;
                Some((
                    t.order,
                    RoleAssignment {
                        role_type_id: *role_type_id,
                        slug: t.slug.clone(),
                        user_id: *user_id,
                    },
                ))
            })
            .collect();
        assigned.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.slug.cmp(&b.1.slug)));
        let mut written_key_events = key_events.clone();
        written_key_events.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.event_type.cmp(&b.event_type))
        });
        let record = NewIncidentRecord {
            incident,
            roles,
            members: vec![creator.id],
            key_events,
            timeline,
            events,
            subscribers: self.subscribers(),
            dedup_viewer: declaration
                .dedup_viewer
                .unwrap_or(crate::Viewer::Everything),
        };
        let outcome = match self.inner.store.declare(record).await? {
            Declared::Created(incident) => {
                tracing::info!(
                    ff.metric = "incident.created",
                    incident = incident.id.0,
                    priority = %priority.name,
                    category = %category.name,
                    "incident declared"
                );
                self.committed();
                let details = IncidentDetails {
                    incident: incident.clone(),
                    roles: assigned.into_iter().map(|(_, r)| r).collect(),
                    members: vec![creator.id],
                    key_events: written_key_events,
                    costs: Vec::new(),
                };
                DeclareOutcome {
                    incident,
                    created: true,
                    details: Some(details),
                }
            }
            Declared::Existing(incident) => {
                tracing::info!(
                    incident = incident.id.0,
                    "declaration matched an open incident with the same dedup_key"
                );
                DeclareOutcome {
                    incident,
                    created: false,
                    details: None,
                }
            }
        };
        Ok(Some(outcome))
    }

    /// Updates an incident: a message and/or new field values and status.
    pub async fn update(&self, id: IncidentId, update: Update) -> Result<Incident> {
        self.with_retries(|| self.try_update(id, &update, None, false))
            .await
    }

    /// [`Firefighter::update`] named by the caller's idempotency key (1 to
    /// 200 characters), recorded in the change's transaction: once a key was
    /// applied, the same call changes nothing and returns the incident as it
    /// is (a replayed request).
    pub async fn update_once(&self, id: IncidentId, key: &str, update: Update) -> Result<Incident> {
        self.with_retries(|| self.try_update(id, &update, Some(key), false))
            .await
    }

    /// Posts a message (or a technical event such as an on-call page) on the timeline.
    pub async fn post_message(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        message: &str,
        event_type: Option<&str>,
    ) -> Result<Incident> {
        self.update(
            id,
            Update {
                by,
                message: Some(message.to_owned()),
                event_type: event_type.map(str::to_owned),
                ..Update::default()
            },
        )
        .await
    }

    /// Closes an incident. Before mitigation a closure reason other than
    /// `resolved` and a message are required.
    pub async fn close(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        reason: Option<ClosureReason>,
        message: Option<String>,
        reference: Option<String>,
    ) -> Result<Incident> {
        self.update(
            id,
            Update {
                by,
                status: Some(Status::Closed),
                closure_reason: reason,
                closure_reference: reference,
                message,
                ..Update::default()
            },
        )
        .await
    }

    /// Downgrades an incident that does not need the incident process: it is
    /// marked ignored and closed, whatever its state.
    pub async fn downgrade(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        message: Option<String>,
    ) -> Result<Incident> {
        let update = Update {
            by,
            status: Some(Status::Closed),
            message,
            event_type: Some(event_type::DOWNGRADED.to_owned()),
            ..Update::default()
        };
        self.with_retries(|| self.try_update(id, &update, None, true))
            .await
    }

    /// Adds or removes a member of an incident (someone joined or left its
    /// conversation). No timeline entry and no event, as in FireFighter;
    /// returns false when nothing changed.
    pub async fn set_member(&self, id: IncidentId, user: UserId, member: bool) -> Result<bool> {
        self.inner.store.set_incident_member(id, user, member).await
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

    async fn try_update(
        &self,
        id: IncidentId,
        update: &Update,
        request_key: Option<&str>,
        downgrade: bool,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        // Read after the incident: a repeat committed meanwhile then shows
        // here, or makes the version read above stale.
        if let Some(key) = request_key {
            if key.is_empty() || key.chars().count() > 200 {
                return Err(Error::invalid(
                    "request_key",
                    "a request key has 1 to 200 characters",
                ));
            }
            if let Some(done) = self.inner.store.request_applied(key).await? {
                if done != id {
                    return Err(Error::invalid(
                        "request_key",
                        format!("this request key was used for incident {done}"),
                    ));
                }
                tracing::debug!(incident = id.0, key, "update already applied");
                return Ok(details.incident);
            }
        }
        let before = &details.incident;
        let mut after = before.clone();
        let mut v = Validation::default();
        let mut changes = Vec::new();

        if let Some(by) = update.by {
            self.validate_user(&mut v, "by", by).await?;
        }
        let message = match &update.message {
            Some(m) if !m.trim().is_empty() => v.check(Message::parse(m)).map(String::from),
            _ => None,
        };
        if let Some(t) = &update.title
            && let Some(t) = v.check(Title::parse(t))
        {
            changes.extend(text_change(field::TITLE, &before.title, t.as_str()));
            after.title = t.into();
        }
        if let Some(d) = &update.description
            && let Some(d) = v.check(Description::parse(d))
        {
            changes.extend(text_change(
                field::DESCRIPTION,
                &before.description,
                d.as_str(),
            ));
            after.description = d.into();
        }
        let old_priority = find_priority(&catalog, before.priority_id)?.clone();
        let mut priority = old_priority.clone();
        if let Some(pid) = update.priority_id {
            match catalog.priorities.iter().find(|p| p.id == pid) {
                None => v.push("priority_id", format!("priority {pid} does not exist")),
                Some(p) if p.id != before.priority_id && !p.enabled_update => v.push(
                    "priority_id",
                    format!("priority {} cannot be chosen when updating", p.name),
                ),
                Some(p) => {
                    changes.extend(text_change(field::PRIORITY, &old_priority.name, &p.name));
                    after.priority_id = p.id;
                    priority = p.clone();
                }
            }
        }
        if let Some(cid) = update.category_id {
            match catalog.categories.iter().find(|c| c.id == cid) {
                None => v.push(
                    "category_id",
                    format!("incident category {cid} does not exist"),
                ),
                Some(c) => {
                    let old = catalog
                        .categories
                        .iter()
                        .find(|x| x.id == before.category_id)
                        .map(|x| x.name.as_str())
                        .unwrap_or("");
                    changes.extend(text_change(field::CATEGORY, old, &c.name));
                    after.category_id = c.id;
                }
            }
        }
        let mut environments_changed = false;
        if let Some(envs) = &update.environment_ids
            && let Some(envs) = v.check(resolve_environments(&catalog, envs))
            && envs != before.environment_ids
        {
            changes.push(FieldChange::new(
                field::ENVIRONMENTS,
                Some(env_names(&catalog, &before.environment_ids)),
                Some(env_names(&catalog, &envs)),
            ));
            after.environment_id = envs[0];
            after.environment_ids = envs;
            environments_changed = true;
        }
        if let Some(private) = update.private
            && private != before.private
        {
            changes.push(FieldChange::new(
                field::PRIVATE,
                Some(before.private.to_string()),
                Some(private.to_string()),
            ));
            after.private = private;
        }
        let reference = match &update.closure_reference {
            Some(r) => v
                .check(ClosureReference::parse(r))
                .map(|r| Some(String::from(r))),
            None => Some(None),
        };
        if update.closure_reason.is_some() && update.status != Some(Status::Closed) {
            v.push(
                "closure_reason",
                "a closure reason can only be given when closing",
            );
        }
        if let Some(et) = &update.event_type {
            if et.is_empty() || et.len() > 64 {
                v.push("event_type", "an event type has 1 to 64 characters");
            } else if catalog.milestone_types.iter().any(|m| &m.event_type == et) {
                v.push(
                    "event_type",
                    format!("{et} is a key event: set it with the key events command"),
                );
            }
        }
        v.finish()?;

        if downgrade && !after.ignore {
            changes.push(FieldChange::new(
                field::IGNORE,
                Some("false".into()),
                Some("true".into()),
            ));
            after.ignore = true;
        }

        let at = now();
        let event_ts = update
            .event_ts
            .map(crate::store::truncate_micros)
            .unwrap_or(at);
        let mut change = IncidentChange::from(before, self.subscribers());
        change.environments_changed = environments_changed;
        change.request_key = request_key.map(str::to_owned);
        let mut events = Vec::new();

        // Status: the lifecycle decides.
        if let Some(to) = update.status
            && to != before.status
        {
            let mut missing =
                key_event::missing_required(&catalog.milestone_types, &details.key_events);
            if to == Status::Closed {
                // Mitigation records `recovered` by itself; only what people must enter counts.
                missing.retain(|m| m != key_event::RECOVERED || before.status < Status::Mitigated);
            }
            let pm_required = self.postmortem_required(&catalog, &after);
            let pm = if to == Status::Closed && pm_required && before.status == Status::PostMortem {
                self.postmortem_state(&after).await
            } else {
                PostMortemState::NoBackend
            };
            let facts = LifecycleFacts {
                status: before.status,
                priority_value: priority.value,
                postmortem_required: pm_required,
                ignore: after.ignore,
                was_mitigated: before.mitigated_at.is_some(),
                postmortem: &pm,
                missing_key_events: &missing,
            };
            lifecycle::check_transition(
                &facts,
                &StatusChange {
                    to,
                    message: message.as_deref(),
                    closure_reason: update.closure_reason,
                },
            )?;
            changes.push(FieldChange::new(
                field::STATUS,
                Some(before.status.slug().to_owned()),
                Some(to.slug().to_owned()),
            ));
            after.status = to;
            let has = |slug: &str| details.key_events.iter().any(|k| k.event_type == slug);
            if to == Status::Mitigated {
                if after.mitigated_at.is_none() {
                    after.mitigated_at = Some(event_ts);
                }
                if !has(key_event::MITIGATED) {
                    change
                        .key_events_set
                        .push(system_key_event(key_event::MITIGATED, event_ts));
                }
                // A re-mitigation after a reopening moves the end of the impact.
                if !has(key_event::RECOVERED) || before.mitigated_at.is_some() {
                    change
                        .key_events_set
                        .push(system_key_event(key_event::RECOVERED, event_ts));
                }
            }
            if to == Status::Closed {
                after.closed_at = Some(event_ts);
                let reason = update
                    .closure_reason
                    .or((before.status >= Status::Mitigated).then_some(ClosureReason::Resolved));
                if reason != before.closure_reason {
                    changes.push(FieldChange::new(
                        field::CLOSURE_REASON,
                        before.closure_reason.map(|r| r.slug().to_owned()),
                        reason.map(|r| r.slug().to_owned()),
                    ));
                }
                after.closure_reason = reason;
                if !has(key_event::RESOLVED) {
                    change
                        .key_events_set
                        .push(system_key_event(key_event::RESOLVED, event_ts));
                }
            }
            if let Some(Some(r)) = &reference {
                changes.push(FieldChange::new(
                    field::CLOSURE_REFERENCE,
                    Some(before.closure_reference.clone()),
                    Some(r.clone()),
                ));
                after.closure_reference = r.clone();
            }
            tracing::info!(
                ff.metric = "incident.status_changed",
                incident = id.0,
                from = before.status.slug(),
                to = to.slug(),
                "incident status changed"
            );
        }
        if after.priority_id != before.priority_id {
            let metric = if priority.value < old_priority.value {
                "incident.priority.escalated"
            } else {
                "incident.priority.deescalated"
            };
            tracing::info!(ff.metric = metric, incident = id.0, from = %old_priority.name, to = %priority.name, "priority changed");
        }

        if changes.is_empty() && message.is_none() {
            return Err(Error::invalid(
                "message",
                "nothing to update: give a message or change at least one field",
            ));
        }

        after.updated_at = at;
        let entry_id = UpdateId::new();
        let event_type = if update.status == Some(Status::Closed)
            && update.closure_reason.is_some()
            && before.status < Status::Mitigated
        {
            Some(event_type::CLOSURE_REASON.to_owned())
        } else {
            update.event_type.clone()
        };
        let changed: Vec<String> = changes.iter().map(|c| c.field.clone()).collect();
        change.timeline.push(TimelineEntry {
            id: entry_id,
            incident_id: id,
            created_by: update.by,
            created_at: at,
            event_ts,
            event_type: event_type.clone(),
            message,
            status: (after.status != before.status).then_some(after.status),
            changes,
        });
        for ke in &change.key_events_set {
            change.timeline.push(TimelineEntry {
                id: UpdateId::new(),
                incident_id: id,
                created_by: None,
                created_at: at,
                event_ts: ke.at,
                event_type: Some(ke.event_type.clone()),
                message: None,
                status: None,
                changes: vec![FieldChange::new(
                    format!("{}{}", field::KEY_EVENT_PREFIX, ke.event_type),
                    details
                        .key_events
                        .iter()
                        .find(|k| k.event_type == ke.event_type)
                        .map(|k| k.at.to_rfc3339()),
                    Some(ke.at.to_rfc3339()),
                )],
            });
        }
        events.push(IncidentEvent::Updated {
            update_id: entry_id,
            update_kind: if changed.is_empty() {
                UpdateKind::Message
            } else {
                UpdateKind::Fields
            },
            changed,
            old_priority: (after.priority_id != before.priority_id).then_some(before.priority_id),
            event_type,
        });
        if !change.key_events_set.is_empty() {
            events.push(IncidentEvent::KeyEventsUpdated);
        }
        if after.status == Status::Closed && before.status != Status::Closed {
            events.push(IncidentEvent::Closed);
            tracing::info!(
                ff.metric = "incident.closed",
                incident = id.0,
                "incident closed"
            );
        }
        change.incident = after;
        change.events = events;
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }

    /// Assigns or clears roles: `slug → Some(user)` assigns, `slug → None` clears.
    /// Required roles (the commander) can be reassigned but not cleared.
    pub async fn update_roles(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        roles: BTreeMap<String, Option<UserId>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_update_roles(id, by, &roles))
            .await
    }

    async fn try_update_roles(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        roles: &BTreeMap<String, Option<UserId>>,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        let mut v = Validation::default();
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        if details.incident.status == Status::Closed {
            v.push("roles", "roles of a closed incident cannot change");
        }
        let mut change = IncidentChange::from(&details.incident, self.subscribers());
        let mut changes = Vec::new();
        for (slug, user) in roles {
            let Some(role_type) = catalog.role_types.iter().find(|r| &r.slug == slug) else {
                v.push(
                    format!("roles.{slug}"),
                    format!("role {slug} does not exist"),
                );
                continue;
            };
            let current = details
                .roles
                .iter()
                .find(|r| r.role_type_id == role_type.id)
                .map(|r| r.user_id);
            match user {
                Some(user_id) => {
                    let Some(user) = self
                        .validate_user(&mut v, &format!("roles.{slug}"), *user_id)
                        .await?
                    else {
                        continue;
                    };
                    if !user.is_active || user.bot {
                        v.push(
                            format!("roles.{slug}"),
                            format!("{} cannot hold a role (deactivated or a bot)", user.email),
                        );
                        continue;
                    }
                    if current != Some(*user_id) {
                        let old = match current {
                            Some(c) => self.inner.store.user(c).await?.map(|u| u.email),
                            None => None,
                        };
                        changes.push(FieldChange::new(
                            format!("{}{slug}", field::ROLE_PREFIX),
                            old,
                            Some(user.email.clone()),
                        ));
                        change.roles_set.push((role_type.id, *user_id));
                        change.members_added.push(*user_id);
                    }
                }
                None if role_type.required => {
                    v.push(
                        format!("roles.{slug}"),
                        format!(
                            "the {} role is required and cannot be left empty",
                            role_type.name
                        ),
                    );
                }
                None => {
                    if let Some(c) = current {
                        let old = self.inner.store.user(c).await?.map(|u| u.email);
                        changes.push(FieldChange::new(
                            format!("{}{slug}", field::ROLE_PREFIX),
                            old,
                            None,
                        ));
                        change.roles_cleared.push(role_type.id);
                    }
                }
            }
        }
        v.finish()?;
        if changes.is_empty() {
            return Err(Error::invalid(
                "roles",
                "nothing to update: every role already has this holder",
            ));
        }
        let at = now();
        let entry_id = UpdateId::new();
        let changed = changes.iter().map(|c| c.field.clone()).collect();
        change.incident.updated_at = at;
        change.timeline.push(TimelineEntry {
            id: entry_id,
            incident_id: id,
            created_by: by,
            created_at: at,
            event_ts: at,
            event_type: Some(event_type::ROLES.to_owned()),
            message: None,
            status: None,
            changes,
        });
        change.events.push(IncidentEvent::Updated {
            update_id: entry_id,
            update_kind: UpdateKind::Roles,
            changed,
            old_priority: None,
            event_type: Some(event_type::ROLES.to_owned()),
        });
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }

    /// Sets (`Some(time)`) or clears (`None`) key events that people may edit.
    pub async fn set_key_events(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        key_events: BTreeMap<String, Option<DateTime<Utc>>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_set_key_events(id, by, &key_events))
            .await
    }

    async fn try_set_key_events(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        key_events: &BTreeMap<String, Option<DateTime<Utc>>>,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        let mut v = Validation::default();
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        let at = now();
        let mut change = IncidentChange::from(&details.incident, self.subscribers());
        let mut entries = Vec::new();
        for (slug, when) in key_events {
            match catalog
                .milestone_types
                .iter()
                .find(|m| &m.event_type == slug)
            {
                None => {
                    v.push(
                        format!("key_events.{slug}"),
                        format!("key event {slug} does not exist"),
                    );
                    continue;
                }
                Some(m) if !m.user_editable => {
                    v.push(
                        format!("key_events.{slug}"),
                        format!("key event {slug} is set by the system"),
                    );
                    continue;
                }
                Some(_) => {}
            }
            let when = when.map(crate::store::truncate_micros);
            if let Some(problem) = when
                .and_then(|t| key_event::range_problem(slug, t, details.incident.created_at, at))
            {
                v.push(format!("key_events.{slug}"), problem);
                continue;
            }
            let current = details
                .key_events
                .iter()
                .find(|k| &k.event_type == slug)
                .map(|k| k.at);
            if current == when {
                continue;
            }
            match when {
                Some(t) => change.key_events_set.push(KeyEvent {
                    event_type: slug.clone(),
                    at: t,
                    recorded_by: by,
                }),
                None => change.key_events_cleared.push(slug.clone()),
            }
            entries.push(TimelineEntry {
                id: UpdateId::new(),
                incident_id: id,
                created_by: by,
                created_at: at,
                event_ts: when.unwrap_or(at),
                event_type: Some(slug.clone()),
                message: None,
                status: None,
                changes: vec![FieldChange::new(
                    format!("{}{slug}", field::KEY_EVENT_PREFIX),
                    current.map(|t| t.to_rfc3339()),
                    when.map(|t| t.to_rfc3339()),
                )],
            });
        }
        // The key events as they would be, in the order metrics need.
        let mut resulting: BTreeMap<String, DateTime<Utc>> = details
            .key_events
            .iter()
            .map(|k| (k.event_type.clone(), k.at))
            .collect();
        for k in &change.key_events_set {
            resulting.insert(k.event_type.clone(), k.at);
        }
        for slug in &change.key_events_cleared {
            resulting.remove(slug);
        }
        let changed = |slug: &str| key_events.contains_key(slug);
        for (slug, problem) in key_event::order_problems(&resulting, changed) {
            v.push(format!("key_events.{slug}"), problem);
        }
        v.finish()?;
        if entries.is_empty() {
            return Err(Error::invalid(
                "key_events",
                "nothing to update: the key events already have these values",
            ));
        }
        change.incident.updated_at = at;
        change.timeline = entries;
        change.events.push(IncidentEvent::KeyEventsUpdated);
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }

    /// Records a cost on an incident (amount in cents; `None` when not known yet).
    pub async fn add_cost(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        cost_type_id: CostTypeId,
        amount_cents: Option<i64>,
        details_text: &str,
    ) -> Result<IncidentCost> {
        let catalog = self.catalog().await?;
        let mut v = Validation::default();
        let cost_type = catalog.cost_types.iter().find(|c| c.id == cost_type_id);
        if cost_type.is_none() {
            v.push(
                "cost_type_id",
                format!("cost type {cost_type_id} does not exist"),
            );
        }
        if amount_cents.is_some_and(|a| a < 0) {
            v.push("amount", "an amount cannot be negative");
        }
        if details_text.chars().count() > 2000 {
            v.push("details", "details must be at most 2,000 characters long");
        }
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        v.finish()?;
        let cost_type = cost_type.expect("validated");
        let incident = self.incident(id).await?;
        let at = now();
        let cost = IncidentCost {
            id: CostId::new(),
            incident_id: id,
            cost_type_id,
            amount_cents,
            details: details_text.trim().to_owned(),
            created_at: at,
        };
        let mut change = IncidentChange::from(&incident, self.subscribers());
        change.incident.updated_at = at;
        change.costs_added.push(cost.clone());
        let entry_id = UpdateId::new();
        change.timeline.push(TimelineEntry {
            id: entry_id,
            incident_id: id,
            created_by: by,
            created_at: at,
            event_ts: at,
            event_type: Some(event_type::COST.to_owned()),
            message: None,
            status: None,
            changes: vec![FieldChange::new(
                format!("cost:{}", cost_type.name),
                None,
                Some(
                    amount_cents
                        .map(crate::cost::format_cents)
                        .unwrap_or_else(|| "unknown".into()),
                ),
            )],
        });
        change.events.push(IncidentEvent::Updated {
            update_id: entry_id,
            update_kind: UpdateKind::Fields,
            changed: vec![format!("cost:{}", cost_type.name)],
            old_priority: None,
            event_type: Some(event_type::COST.to_owned()),
        });
        self.with_retries(|| async { self.inner.store.apply(change.clone()).await })
            .await?;
        self.committed();
        Ok(cost)
    }

    /// Records events for an incident without changing it (integrations
    /// publishing `ChannelReady`, `PostMortemCreated`...), with an optional
    /// timeline message.
    pub async fn publish(
        &self,
        id: IncidentId,
        events: Vec<IncidentEvent>,
        timeline_message: Option<(&str, Option<&str>)>,
    ) -> Result<()> {
        let timeline = timeline_message
            .map(|(message, event_type)| {
                let at = now();
                vec![TimelineEntry {
                    id: UpdateId::new(),
                    incident_id: id,
                    created_by: None,
                    created_at: at,
                    event_ts: at,
                    event_type: event_type.map(str::to_owned),
                    message: Some(message.to_owned()),
                    status: None,
                    changes: Vec::new(),
                }]
            })
            .unwrap_or_default();
        self.inner
            .store
            .append(id, timeline, events, self.subscribers())
            .await?;
        self.committed();
        Ok(())
    }

    /// Records that an integration finished setting up the incident's
    /// conversation ([`IncidentEvent::ChannelReady`], with an optional
    /// timeline note). When it opened outside office hours and an on-call
    /// vendor is on, the off-hours hint ([`IncidentEvent::OffHoursHint`],
    /// timeline entry [`event_type::ONCALL_HINT`]) is written in the same
    /// transaction, once per incident; it is returned.
    pub async fn channel_ready(
        &self,
        id: IncidentId,
        channel: ChannelInfo,
        note: Option<(&str, Option<&str>)>,
        opened_at: DateTime<Utc>,
    ) -> Result<Option<OffHoursHint>> {
        let at = now();
        let entry = |message: String, event_type: Option<&str>| TimelineEntry {
            id: UpdateId::new(),
            incident_id: id,
            created_by: None,
            created_at: at,
            event_ts: opened_at,
            event_type: event_type.map(str::to_owned),
            message: Some(message),
            status: None,
            changes: Vec::new(),
        };
        let mut timeline: Vec<TimelineEntry> = note
            .map(|(message, event_type)| entry(message.to_owned(), event_type))
            .into_iter()
            .collect();
        let hint = match &self.inner.oncall {
            Some(_) => OffHoursHint::for_channel(channel.clone(), opened_at, self.inner.tz),
            None => None,
        };
        let hint = match hint {
            Some(hint) if !self.was_hinted(id).await? => Some(hint),
            _ => None,
        };
        let mut events = vec![IncidentEvent::ChannelReady { channel }];
        if let Some(hint) = &hint {
            timeline.push(entry(hint.timeline_text(), Some(event_type::ONCALL_HINT)));
            events.push(IncidentEvent::OffHoursHint { hint: hint.clone() });
        }
        self.inner
            .store
            .append(id, timeline, events, self.subscribers())
            .await?;
        self.committed();
        Ok(hint)
    }

    /// Whether the incident already got its off-hours hint.
    async fn was_hinted(&self, id: IncidentId) -> Result<bool> {
        Ok(self
            .inner
            .store
            .incident_events(id)
            .await?
            .iter()
            .any(|e| matches!(e.event, IncidentEvent::OffHoursHint { .. })))
    }

    // ------------------------------------------------------------ invitations

    /// Who would be invited to an incident with these properties, without creating anything.
    pub async fn dry_run_invites(
        &self,
        priority_id: PriorityId,
        category_id: CategoryId,
        environment_ids: &[EnvironmentId],
        private: Option<bool>,
        created_by: Option<UserId>,
        platform: Option<&str>,
    ) -> Result<InviteResolution> {
        let catalog = self.catalog().await?;
        let priority = find_priority(&catalog, priority_id)?.clone();
        let category = catalog
            .categories
            .iter()
            .find(|c| c.id == category_id)
            .ok_or_else(|| Error::not_found("incident category", category_id))?
            .clone();
        let envs = resolve_environments(&catalog, environment_ids)?;
        let ctx = InviteContext {
            incident_id: None,
            private: private.unwrap_or(category.private),
            priority,
            category,
            environments: catalog
                .environments
                .iter()
                .filter(|e| envs.contains(&e.id))
                .cloned()
                .collect(),
            created_by,
            role_holders: Vec::new(),
        };
        self.inner
            .invites
            .resolve(&ctx, platform, &self.inner.store)
            .await
    }

    /// Who should be invited to an existing incident now.
    pub async fn resolve_invites(
        &self,
        id: IncidentId,
        platform: Option<&str>,
    ) -> Result<InviteResolution> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        let ctx = self.invite_context(&catalog, &details)?;
        self.inner
            .invites
            .resolve(&ctx, platform, &self.inner.store)
            .await
    }

    /// The context invite providers are asked about for an incident.
    pub fn invite_context(
        &self,
        catalog: &Catalog,
        details: &IncidentDetails,
    ) -> Result<InviteContext> {
        let incident = &details.incident;
        Ok(InviteContext {
            incident_id: Some(incident.id),
            priority: find_priority(catalog, incident.priority_id)?.clone(),
            category: catalog
                .categories
                .iter()
                .find(|c| c.id == incident.category_id)
                .ok_or_else(|| {
                    Error::Corrupt(format!("incident {} has an unknown category", incident.id))
                })?
                .clone(),
            environments: catalog
                .environments
                .iter()
                .filter(|e| incident.environment_ids.contains(&e.id))
                .cloned()
                .collect(),
            private: incident.private,
            created_by: Some(incident.created_by),
            role_holders: details.roles.iter().map(|r| r.user_id).collect(),
        })
    }
}

fn system_key_event(slug: &str, at: DateTime<Utc>) -> KeyEvent {
    KeyEvent {
        event_type: slug.to_owned(),
        at,
        recorded_by: None,
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
