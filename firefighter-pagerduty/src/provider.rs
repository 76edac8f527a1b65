//! Core trait implementations and their static registrations: the schema,
//! the tasks, the on-call vendor `pagerduty` (core's [`OnCall`]) and the
//! `pagerduty.oncall` invite provider.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::invite::{
    InviteCandidate, InviteContext, InviteProvider, InviteProviderRegistration, ProviderError,
};
use firefighter_core::oncall::{
    self, OnCall, OnCallError, OnCallRegistration, PageReceipt, PageRequest, PageableService,
};
use firefighter_core::plugin::{AppHandle, PluginContext, SchemaRegistration};
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{
    IncidentId, register_invite_provider, register_oncall, register_schema, register_task,
};

use crate::store::PagerDutyStore;
use crate::{Error, PagerDuty};

/// Name of the on-call vendor.
pub const ONCALL_VENDOR: &str = "pagerduty";
/// Name of the invite provider.
pub const INVITE_PROVIDER: &str = "pagerduty.oncall";
/// Task: sync on-calls.
pub const TASK_FETCH_ONCALLS: &str = "pagerduty.fetch_oncalls";
/// Task: sync services.
pub const TASK_FETCH_SERVICES: &str = "pagerduty.fetch_services";
/// Task: sync users and teams.
pub const TASK_FETCH_USERS: &str = "pagerduty.fetch_users";
/// Task: send pending pages.
pub const TASK_TRIGGER_ONCALL: &str = "pagerduty.trigger_oncall";

register_schema!(SchemaRegistration {
    name: "pagerduty",
    migrate: |pool| Box::pin(async move {
        crate::store::migrate(pool)
            .await
            .map_err(|e| firefighter_core::Error::Config(format!("PagerDuty tables: {e}")))
    }),
});

/// The integration for a plugin context, or `None` when switched off.
fn build(ctx: &PluginContext) -> firefighter_core::Result<Option<PagerDuty>> {
    match PagerDuty::from_env(ctx.store.clone()) {
        Ok(pd) => Ok(pd),
        Err(Error::Config(why)) if ctx.store.database().is_none() => {
            tracing::info!("PagerDuty is switched off: {why}");
            Ok(None)
        }
        Err(e) => Err(firefighter_core::Error::Config(e.to_string())),
    }
}

// ------------------------------------------------------------------ tasks

/// Which sync a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Oncalls,
    Services,
    Users,
    Pages,
}

/// A periodic task of the integration.
#[derive(Debug)]
pub struct PagerDutyTask {
    job: Job,
    pagerduty: PagerDuty,
    app: AppHandle,
}

impl PagerDutyTask {
    /// The on-call sync (every 5 minutes by default).
    pub fn fetch_oncalls(pagerduty: PagerDuty, app: AppHandle) -> PagerDutyTask {
        PagerDutyTask {
            job: Job::Oncalls,
            pagerduty,
            app,
        }
    }

    /// The service sync (hourly by default).
    pub fn fetch_services(pagerduty: PagerDuty, app: AppHandle) -> PagerDutyTask {
        PagerDutyTask {
            job: Job::Services,
            pagerduty,
            app,
        }
    }

    /// The user and team sync (hourly by default).
    pub fn fetch_users(pagerduty: PagerDuty, app: AppHandle) -> PagerDutyTask {
        PagerDutyTask {
            job: Job::Users,
            pagerduty,
            app,
        }
    }

    /// Sends pending pages (every minute by default).
    pub fn trigger_oncall(pagerduty: PagerDuty, app: AppHandle) -> PagerDutyTask {
        PagerDutyTask {
            job: Job::Pages,
            pagerduty,
            app,
        }
    }
}

#[async_trait]
impl PeriodicTask for PagerDutyTask {
    fn name(&self) -> &str {
        match self.job {
            Job::Oncalls => TASK_FETCH_ONCALLS,
            Job::Services => TASK_FETCH_SERVICES,
            Job::Users => TASK_FETCH_USERS,
            Job::Pages => TASK_TRIGGER_ONCALL,
        }
    }

    fn description(&self) -> &str {
        match self.job {
            Job::Oncalls => {
                "Syncs who is on call now from PagerDuty (escalation policies, levels, schedules); replaces the roster in one transaction"
            }
            Job::Services => {
                "Syncs PagerDuty services (names, status, escalation policy); keeps the ignore flag"
            }
            Job::Users => {
                "Syncs PagerDuty users (phone numbers, teams) and links them to firefighter users by e-mail"
            }
            Job::Pages => {
                "Sends on-call pages PagerDuty could not take yet (retries), and records sent pages on their incident's timeline"
            }
        }
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(match self.job {
            Job::Oncalls => Duration::from_secs(300),
            Job::Services | Job::Users => Duration::from_secs(3600),
            // Often: a page a crashed instance was sending goes out within
            // seconds of its heartbeat stopping (a cheap indexed read when idle).
            Job::Pages => Duration::from_secs(15),
        }))
    }

    fn timeout(&self) -> Duration {
        match self.job {
            Job::Users => Duration::from_secs(900),
            _ => Duration::from_secs(300),
        }
    }

    async fn run(&self) -> Result<TaskReport, TaskError> {
        let report = match self.job {
            Job::Oncalls => self
                .pagerduty
                .sync_oncalls()
                .await
                .map(|r| TaskReport::note(r.summary)),
            Job::Services => self
                .pagerduty
                .sync_services()
                .await
                .map(|r| TaskReport::note(r.summary)),
            Job::Users => self
                .pagerduty
                .sync_users()
                .await
                .map(|r| TaskReport::note(r.summary)),
            Job::Pages => {
                let Some(app) = self.app.get() else {
                    return Err(TaskError::failed("the application is not running"));
                };
                self.pagerduty
                    .deliver_pending(&app)
                    .await
                    .map(|r| TaskReport::note(r.to_string()))
            }
        };
        report.map_err(TaskError::failed)
    }
}

macro_rules! task_registration {
    ($name:expr, $ctor:ident) => {
        register_task!(TaskRegistration {
            name: $name,
            build: |ctx| {
                Ok(build(ctx)?.map(|pd| {
                    Arc::new(PagerDutyTask::$ctor(pd, ctx.app_handle())) as Arc<dyn PeriodicTask>
                }))
            },
        });
    };
}

task_registration!(TASK_FETCH_ONCALLS, fetch_oncalls);
task_registration!(TASK_FETCH_SERVICES, fetch_services);
task_registration!(TASK_FETCH_USERS, fetch_users);
task_registration!(TASK_TRIGGER_ONCALL, trigger_oncall);

// ------------------------------------------------------------------ on-call

/// PagerDuty as core's on-call vendor: the roster and the services from the
/// synced tables, pages through [`PagerDuty::trigger_oncall`] (exactly once
/// per incident and service).
#[derive(Debug, Clone)]
pub struct PagerDutyOnCall {
    pagerduty: PagerDuty,
    app: AppHandle,
}

impl PagerDutyOnCall {
    /// The vendor for the application behind `app` (paging needs it running).
    pub fn new(pagerduty: PagerDuty, app: AppHandle) -> PagerDutyOnCall {
        PagerDutyOnCall { pagerduty, app }
    }
}

fn oncall_error(e: Error) -> OnCallError {
    match e {
        Error::Invalid(_)
        | Error::UnknownService(_)
        | Error::IgnoredService(_)
        | Error::Core(firefighter_core::Error::NotFound { .. })
        | Error::Core(firefighter_core::Error::Invalid(_)) => OnCallError::Invalid(e.to_string()),
        e => OnCallError::Failed(e.to_string()),
    }
}

impl From<crate::ServiceChoice> for PageableService {
    fn from(s: crate::ServiceChoice) -> Self {
        PageableService {
            id: s.id,
            name: s.name,
            summary: s.summary,
            escalation_policy: s.escalation_policy,
            url: s.pagerduty_url,
        }
    }
}

impl From<crate::PageOutcome> for oncall::PageOutcome {
    fn from(outcome: crate::PageOutcome) -> Self {
        let receipt = |page: crate::PageInfo| PageReceipt {
            service_id: page.service_id,
            service_name: page.service_name,
            incident_id: page.incident_id,
            url: page.pagerduty_url,
        };
        match outcome {
            crate::PageOutcome::Sent { page } => oncall::PageOutcome::Sent {
                page: receipt(page),
            },
            crate::PageOutcome::AlreadyPaged { page } => oncall::PageOutcome::AlreadySent {
                page: receipt(page),
            },
            crate::PageOutcome::Queued { page, reason } => oncall::PageOutcome::BeingSent {
                page: receipt(page),
                reason: Some(reason),
            },
            crate::PageOutcome::InProgress { page } => oncall::PageOutcome::BeingSent {
                page: receipt(page),
                reason: None,
            },
        }
    }
}

#[async_trait]
impl OnCall for PagerDutyOnCall {
    fn name(&self) -> &str {
        ONCALL_VENDOR
    }

    fn display_name(&self) -> &str {
        "PagerDuty"
    }

    fn max_summary_chars(&self) -> usize {
        crate::MAX_SUMMARY_CHARS
    }

    async fn roster(&self) -> Result<oncall::Roster, OnCallError> {
        crate::roster::roster_at(&self.pagerduty.store, firefighter_core::store::now())
            .await
            .map_err(oncall_error)
    }

    async fn services_to_page(
        &self,
        incident: IncidentId,
    ) -> Result<Vec<PageableService>, OnCallError> {
        crate::paging::services_left(&self.pagerduty.store, incident)
            .await
            .map(|services| services.into_iter().map(PageableService::from).collect())
            .map_err(oncall_error)
    }

    async fn page(&self, request: PageRequest) -> Result<oncall::PageOutcome, OnCallError> {
        let Some(app) = self.app.get() else {
            return Err(OnCallError::Failed(
                "the application is not running: nothing was paged".into(),
            ));
        };
        self.pagerduty
            .trigger_oncall(&app, request)
            .await
            .map(oncall::PageOutcome::from)
            .map_err(oncall_error)
    }
}

register_oncall!(OnCallRegistration {
    name: ONCALL_VENDOR,
    build: |ctx| {
        Ok(build(ctx)?
            .map(|pd| Arc::new(PagerDutyOnCall::new(pd, ctx.app_handle())) as Arc<dyn OnCall>))
    },
});

// ------------------------------------------------------------------ invitations

/// Invites the current first-level on-call of each escalation policy (of
/// services that are not ignored) to public incidents, from synced data.
#[derive(Debug, Clone)]
pub struct OncallInviteProvider {
    store: PagerDutyStore,
}

impl OncallInviteProvider {
    /// A provider reading the tables of `core`'s database.
    pub fn new(core: Arc<dyn firefighter_core::Store>) -> crate::Result<OncallInviteProvider> {
        Ok(OncallInviteProvider {
            store: crate::store_on(core.as_ref())?,
        })
    }
}

#[async_trait]
impl InviteProvider for OncallInviteProvider {
    fn name(&self) -> &str {
        INVITE_PROVIDER
    }

    async fn invitees(
        &self,
        incident: &InviteContext,
    ) -> Result<Vec<InviteCandidate>, ProviderError> {
        // Core skips us for private incidents; say so here too.
        if incident.private {
            return Ok(Vec::new());
        }
        let roster = crate::roster::roster_at(&self.store, firefighter_core::store::now())
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        Ok(roster
            .first_responders()
            .filter_map(|(policy, person)| {
                Some(InviteCandidate::new(
                    person.user_id?,
                    format!("first-level on-call of {}", policy.name),
                ))
            })
            .collect())
    }
}

register_invite_provider!(InviteProviderRegistration {
    name: INVITE_PROVIDER,
    build: |ctx| {
        if build(ctx)?.is_none() {
            return Ok(None);
        }
        let provider = OncallInviteProvider::new(ctx.store.clone())
            .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
        Ok(Some(Arc::new(provider) as Arc<dyn InviteProvider>))
    },
});
