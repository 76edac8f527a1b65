//! # firefighter-pagerduty
//!
//! PagerDuty for firefighter: who is on call, for everyone (no PagerDuty
//! account needed); paging a service's on-call, by anyone, exactly once per
//! incident and service; the first-level on-call invited to public incidents;
//! core's on-call vendor ([`firefighter_core::OnCall`]), so Slack and
//! Confluence use it without knowing PagerDuty.
//!
//! What it registers with core (when `ENABLE_PAGERDUTY` is on, see [`config`]):
//!
//! | Kind | Name | What |
//! |---|---|---|
//! | task | `pagerduty.fetch_oncalls` (every 5 min) | on-calls, escalation policies, levels, schedules |
//! | task | `pagerduty.fetch_services` (hourly) | services (the `ignore` flag is kept) |
//! | task | `pagerduty.fetch_users` (hourly) | users, phone numbers, teams; linked to firefighter users by e-mail |
//! | task | `pagerduty.trigger_oncall` (every minute) | sends pages PagerDuty could not take yet; records sent pages on timelines |
//! | on-call vendor | `pagerduty` | core's [`firefighter_core::OnCall`]: the roster, the services to page, exactly-once pages |
//! | invite provider | `pagerduty.oncall` | first-level on-call of each escalation policy, public incidents only |
//! | schema | `pagerduty` | tables `pd_*`, migrations table `_ff_pagerduty_migrations` |
//!
//! Data functions for the web pages (plain structs, no vendor types; the
//! roster is core's [`firefighter_core::oncall::Roster`]): [`roster()`],
//! [`services()`], [`services_not_yet_paged`],
//! [`pages()`], [`trigger_oncall`].
//!
//! Web routes ([`routes()`]): `/oncall/`, `/oncall/trigger/` and the JSON
//! under `/api/v2/firefighter/oncall/`. They must sit behind the server's
//! login, which passes the caller as a [`firefighter_core::plugin::Caller`] request extension.
//! The back-office ([`admin_routes()`], `/admin/pagerduty/services/`: the
//! ignore flag of each service) is for staff; the server's staff check
//! passes the same `Caller`.
//!
//! | Feature | What it adds |
//! |---|---|
//! | `contract-tests` | runs the contract tests against the Prism mocks |
//! | `postgres-tests` | runs the store tests on PostgreSQL (`FIREFIGHTER_TEST_POSTGRES_URL`) |

use std::sync::Arc;

pub mod client;
pub mod config;
mod error;
pub mod models;
mod paging;
pub mod provider;
mod roster;
pub mod routes;
mod store;
mod sync;

pub use client::{EventsClient, RestClient, RetryPolicy};
pub use config::PagerDutyConfig;
pub use error::{Error, Result, Retry};
pub use paging::{
    DeliveryReport, MAX_DETAILS_CHARS, MAX_SUMMARY_CHARS, PAGE_EVENT_TYPE, PageInfo, PageOutcome,
    PageRequest, PageStatus, ServiceChoice, pages, recent_pages, services, services_not_yet_paged,
    set_service_ignored, trigger_oncall,
};
pub use roster::roster;
pub use routes::{admin_routes, routes};
pub use sync::{IDENTITY_PLATFORM, SyncReport};

use store::PagerDutyStore;

/// The integration: its configuration, its clients and its tables. Cheap to clone.
#[derive(Clone)]
pub struct PagerDuty {
    config: Arc<PagerDutyConfig>,
    rest: RestClient,
    events: EventsClient,
    store: PagerDutyStore,
    core: Arc<dyn firefighter_core::Store>,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("api_url", &self.config.api_url)
            .field("events_url", &self.config.events_url)
            .finish_non_exhaustive()
    }
}

impl PagerDuty {
    /// The integration with this configuration, on `core`'s database.
    pub fn new(
        config: PagerDutyConfig,
        core: Arc<dyn firefighter_core::Store>,
    ) -> Result<PagerDuty> {
        Ok(PagerDuty {
            rest: RestClient::new(&config)?,
            events: EventsClient::new(&config)?,
            store: store_on(core.as_ref())?,
            config: Arc::new(config),
            core,
        })
    }

    /// The integration configured from the environment; `Ok(None)` when switched off.
    pub fn from_env(core: Arc<dyn firefighter_core::Store>) -> Result<Option<PagerDuty>> {
        match PagerDutyConfig::from_env()? {
            Some(config) => Ok(Some(PagerDuty::new(config, core)?)),
            None => Ok(None),
        }
    }

    /// Replaces the retry policy of both clients.
    pub fn with_retry(mut self, retry: RetryPolicy) -> PagerDuty {
        self.rest = self.rest.with_retry(retry.clone());
        self.events = self.events.with_retry(retry);
        self
    }

    /// Asks PagerDuty for smaller pages (tests of pagination).
    pub fn with_page_limit(mut self, limit: u32) -> PagerDuty {
        self.rest = self.rest.with_page_limit(limit);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PagerDutyConfig {
        &self.config
    }

    /// The REST API client.
    pub fn rest(&self) -> &RestClient {
        &self.rest
    }

    /// The Events API client.
    pub fn events(&self) -> &EventsClient {
        &self.events
    }
}

/// Creates or updates the integration's tables (run automatically when the
/// application is built with registered plugins; idempotent).
pub async fn migrate(pool: firefighter_core::store::DatabasePool) -> Result<()> {
    store::migrate(pool).await
}

/// The integration's tables on the database of a core store.
fn store_on(core: &dyn firefighter_core::Store) -> Result<PagerDutyStore> {
    core.database().map(PagerDutyStore::new).ok_or_else(|| {
        Error::Config(
            "the PagerDuty integration needs core's SQL store (SQLite or PostgreSQL)".into(),
        )
    })
}

/// The integration's tables on the application's database.
fn store_of(app: &firefighter_core::Firefighter) -> Result<PagerDutyStore> {
    store_on(app.store().as_ref())
}
