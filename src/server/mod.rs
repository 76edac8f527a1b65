//! The HTTP server: the REST API (compatible with FireFighter's), login and
//! sessions, the web UI, health checks, and the workers, in one axum
//! [`Router`] that can run on its own ([`Server`]) or be mounted into
//! another axum application ([`router`]).
//!
//! ```no_run
//! # async fn demo() -> firefighter::Result<()> {
//! use firefighter::core::{Firefighter, Settings};
//! use firefighter::server::{AppState, ServerConfig};
//!
//! let app = Firefighter::builder(Settings::from_env()?).build().await?;
//! let state = AppState::new(app, ServerConfig::from_env()?);
//! // Mounted next to a service's own routes:
//! let service: axum::Router = axum::Router::new()
//!     .route("/hello", axum::routing::get(|| async { "hello" }))
//!     .nest("/incidents", firefighter::server::router(state));
//! # let _ = service; Ok(()) }
//! ```

use std::sync::Arc;

use axum::Router;
use firefighter_core::Firefighter;

pub mod api;
pub mod auth;
mod config;
pub(crate) mod error;
pub mod integrations;
mod run;
mod web;

pub use auth::{AuthMethod, CsrfToken, CurrentUser, StaffUser, visibility};
pub use config::{ServerConfig, VARIABLES};
pub use run::{Listener, Server, ensure_admin};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The application.
    pub app: Firefighter,
    /// The server's settings.
    pub config: Arc<ServerConfig>,
    pub(crate) cache: Arc<api::Cache>,
    pub(crate) integrations: Arc<integrations::Integrations>,
    pub(crate) logins: Arc<auth::throttle::LoginThrottle>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("app", &self.app)
            .field("config", &self.config)
            .field("integrations", &self.integrations)
            .finish()
    }
}

impl AppState {
    /// State for `app` with these server settings.
    pub fn new(app: Firefighter, config: ServerConfig) -> AppState {
        let integrations = Arc::new(integrations::Integrations::from_env(&app));
        let logins = Arc::new(auth::throttle::LoginThrottle::new(&config));
        AppState {
            app,
            config: Arc::new(config),
            cache: Arc::default(),
            integrations,
            logins,
        }
    }

    /// Replaces the Slack integration read from the environment (tests,
    /// custom assemblies that configure it in code).
    #[cfg(feature = "slack")]
    pub fn with_slack(mut self, slack: Option<firefighter_slack::Slack>) -> AppState {
        let mut integrations = (*self.integrations).clone();
        integrations.slack = slack;
        self.integrations = Arc::new(integrations);
        self
    }

    /// Replaces the PagerDuty integration read from the environment (tests,
    /// custom assemblies that configure it in code).
    #[cfg(feature = "pagerduty")]
    pub fn with_pagerduty(
        mut self,
        pagerduty: Option<firefighter_pagerduty::PagerDuty>,
    ) -> AppState {
        let mut integrations = (*self.integrations).clone();
        integrations.pagerduty = pagerduty;
        self.integrations = Arc::new(integrations);
        self
    }

    /// Whether cookies must be `Secure` and browsers told to stay on https
    /// (`BASE_URL` is https).
    pub fn secure_cookies(&self) -> bool {
        self.app.settings().base_url.starts_with("https://")
    }
}

/// Every route of firefighter with its middleware: the REST API under
/// `/api/v2/firefighter/`, `/login` and `/logout`, the web UI at `/` and its
/// assets under `/static`. Mount it at the root or nest it under a prefix.
pub fn router(state: AppState) -> Router {
    run::assemble(state)
}
