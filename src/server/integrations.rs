//! The integrations compiled into this binary, as the server sees them: one
//! adapter per integration (behind its cargo feature) reports whether it is
//! on (and why not, in the integration's own words), the routes it serves and
//! what it adds to the web UI. Nothing else in the server names a vendor.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use firefighter_core::plugin::Caller;

use super::AppState;

/// The integrations that are on in this process.
#[derive(Clone, Default)]
pub(crate) struct Integrations {
    #[cfg(feature = "slack")]
    pub(crate) slack: Option<firefighter_slack::Slack>,
    #[cfg(feature = "pagerduty")]
    pub(crate) pagerduty: Option<firefighter_pagerduty::PagerDuty>,
    /// Confluence's settings when it is on (its runbook page and API).
    #[cfg(feature = "confluence")]
    pub(crate) confluence: Option<firefighter_confluence::ConfluenceConfig>,
    /// Jira's webhooks when Jira is on.
    #[cfg(feature = "jira")]
    pub(crate) jira: Option<firefighter_jira::webhooks::Webhooks>,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations")
            .field(
                "on",
                &status()
                    .into_iter()
                    .filter(|s| s.on)
                    .map(|s| s.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Integrations {
    /// Reads each compiled-in integration's configuration. A misconfigured
    /// integration is switched off with its reason logged (and shown by
    /// [`status`]); the server still starts.
    pub(crate) fn from_env(app: &firefighter_core::Firefighter) -> Integrations {
        let _ = app;
        // PagerDuty reaches Slack and Confluence through core's on-call
        // capability (its static registration), not through this struct.
        Integrations {
            #[cfg(feature = "slack")]
            slack: match firefighter_slack::Slack::from_env(
                app.settings().clone(),
                app.store().clone(),
            ) {
                Ok(slack) => slack,
                Err(e) => {
                    tracing::error!(error = %e, "Slack is misconfigured and switched off");
                    None
                }
            },
            #[cfg(feature = "pagerduty")]
            pagerduty: match firefighter_pagerduty::PagerDuty::from_env(app.store().clone()) {
                Ok(pd) => pd,
                Err(e) => {
                    tracing::error!(error = %e, "PagerDuty is misconfigured and switched off");
                    None
                }
            },
            #[cfg(feature = "confluence")]
            confluence: match firefighter_confluence::ConfluenceConfig::from_env() {
                Ok(config) => config,
                Err(e) => {
                    tracing::error!(error = %e, "Confluence is misconfigured and switched off");
                    None
                }
            },
            #[cfg(feature = "jira")]
            jira: match firefighter_jira::JiraConfig::from_env().and_then(|config| {
                config
                    .map(|c| {
                        firefighter_jira::webhooks::Webhooks::new(
                            app.handle(),
                            app.store().clone(),
                            c,
                        )
                    })
                    .transpose()
            }) {
                Ok(webhooks) => webhooks,
                Err(e) => {
                    tracing::error!(error = %e, "Jira is misconfigured and switched off");
                    None
                }
            },
        }
    }
}

pub use firefighter_core::plugin::IntegrationStatus;

/// One integration as the server sees it. Each compiled-in integration has
/// an adapter here (behind its feature) that reports its own status, routes
/// and navigation entries; the server lists [`ALL`] and decides nothing.
trait Integration: Sync {
    /// Whether it is on in the environment `env`, and why not.
    fn status(&self, env: &figment::Figment) -> IntegrationStatus;
    /// Routes behind the server's login; each request carries a [`Caller`].
    fn routes(&self, _state: &AppState) -> Router {
        Router::new()
    }
    /// Routes for staff only (back-office), refused to others by the server.
    fn admin_routes(&self, _state: &AppState) -> Router {
        Router::new()
    }
    /// Routes that authenticate requests themselves (mounted outside the login).
    fn public_routes(&self, _state: &AppState) -> Router {
        Router::new()
    }
    /// Entries of the navigation bar, as (title, path under the mount prefix).
    fn nav_links(&self, _state: &AppState) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Sections of the back-office index, as (title, path under the mount prefix).
    fn backoffice_sections(&self, _state: &AppState) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

/// Every integration this project knows, compiled in or not, in the order
/// of the start-up report.
static ALL: &[&dyn Integration] = &[
    #[cfg(feature = "slack")]
    &SlackAdapter,
    #[cfg(not(feature = "slack"))]
    &NotCompiled("slack"),
    #[cfg(feature = "pagerduty")]
    &PagerDutyAdapter,
    #[cfg(not(feature = "pagerduty"))]
    &NotCompiled("pagerduty"),
    #[cfg(feature = "confluence")]
    &ConfluenceAdapter,
    #[cfg(not(feature = "confluence"))]
    &NotCompiled("confluence"),
    #[cfg(feature = "jira")]
    &JiraAdapter,
    #[cfg(not(feature = "jira"))]
    &NotCompiled("jira"),
];

/// Whether each integration is on in this environment, and why not when off.
pub fn status() -> Vec<IntegrationStatus> {
    status_in(&figment::Figment::new().merge(figment::providers::Env::raw()))
}

/// Whether each integration is on in the environment `env` (variables in
/// lower case, as figment's `Env` provider hands them over).
pub fn status_in(env: &figment::Figment) -> Vec<IntegrationStatus> {
    ALL.iter().map(|i| i.status(env)).collect()
}

/// An integration of this project left out of this build.
#[allow(dead_code, reason = "used when a feature is off")]
struct NotCompiled(&'static str);

impl Integration for NotCompiled {
    fn status(&self, _: &figment::Figment) -> IntegrationStatus {
        IntegrationStatus::off(
            self.0,
            format!("feature not compiled (build with --features {})", self.0),
        )
    }
}

#[cfg(feature = "slack")]
struct SlackAdapter;

#[cfg(feature = "slack")]
impl Integration for SlackAdapter {
    fn status(&self, env: &figment::Figment) -> IntegrationStatus {
        firefighter_slack::SlackConfig::status(env.clone())
    }

    fn admin_routes(&self, state: &AppState) -> Router {
        match state.integrations.slack.clone() {
            Some(slack) => firefighter_slack::admin_routes(state.app.clone(), slack),
            None => Router::new(),
        }
    }

    fn public_routes(&self, state: &AppState) -> Router {
        match state.integrations.slack.clone() {
            Some(slack) => firefighter_slack::routes(state.app.clone(), slack),
            None => Router::new(),
        }
    }

    fn backoffice_sections(&self, state: &AppState) -> Vec<(&'static str, &'static str)> {
        match state.integrations.slack {
            Some(_) => vec![("Slack: conversations, user groups, SOS", "/admin/slack/")],
            None => Vec::new(),
        }
    }
}

#[cfg(feature = "pagerduty")]
struct PagerDutyAdapter;

#[cfg(feature = "pagerduty")]
impl Integration for PagerDutyAdapter {
    fn status(&self, env: &figment::Figment) -> IntegrationStatus {
        firefighter_pagerduty::PagerDutyConfig::status(env.clone())
    }

    fn routes(&self, state: &AppState) -> Router {
        match state.integrations.pagerduty.clone() {
            Some(pd) => firefighter_pagerduty::routes(state.app.clone(), pd),
            None => Router::new(),
        }
    }

    fn admin_routes(&self, state: &AppState) -> Router {
        match state.integrations.pagerduty.clone() {
            Some(pd) => firefighter_pagerduty::admin_routes(state.app.clone(), pd),
            None => Router::new(),
        }
    }

    fn nav_links(&self, state: &AppState) -> Vec<(&'static str, &'static str)> {
        match state.integrations.pagerduty {
            Some(_) => vec![("On-call", "/oncall/")],
            None => Vec::new(),
        }
    }

    fn backoffice_sections(&self, state: &AppState) -> Vec<(&'static str, &'static str)> {
        match state.integrations.pagerduty {
            Some(_) => vec![
                (
                    "PagerDuty: services (which can be paged)",
                    "/admin/pagerduty/services/",
                ),
                ("PagerDuty: page the on-call", "/oncall/trigger/"),
            ],
            None => Vec::new(),
        }
    }
}

/// Confluence serves the runbooks' page and API when it is on.
#[cfg(feature = "confluence")]
struct ConfluenceAdapter;

#[cfg(feature = "confluence")]
impl Integration for ConfluenceAdapter {
    fn status(&self, env: &figment::Figment) -> IntegrationStatus {
        firefighter_confluence::ConfluenceConfig::status(env.clone())
    }

    fn routes(&self, state: &AppState) -> Router {
        match state.integrations.confluence {
            Some(_) => firefighter_confluence::routes::routes(state.app.store().clone()),
            None => Router::new(),
        }
    }

    fn nav_links(&self, state: &AppState) -> Vec<(&'static str, &'static str)> {
        match state.integrations.confluence {
            Some(_) => vec![("Runbooks", firefighter_confluence::routes::RUNBOOK_PATH)],
            None => Vec::new(),
        }
    }
}

/// Jira creates incident tickets from the outbox, serves the ticket intake
/// (`POST /api/v2/firefighter/raid/jira_bot`, behind the login) and
/// receives Jira's webhooks (signed: mounted outside the login) when it is on.
#[cfg(feature = "jira")]
struct JiraAdapter;

#[cfg(feature = "jira")]
impl Integration for JiraAdapter {
    fn status(&self, env: &figment::Figment) -> IntegrationStatus {
        firefighter_jira::JiraConfig::status(env.clone())
    }

    fn routes(&self, state: &AppState) -> Router {
        firefighter_jira::routes(state.app.clone())
    }

    fn public_routes(&self, state: &AppState) -> Router {
        match state.integrations.jira.clone() {
            Some(webhooks) => firefighter_jira::webhooks::routes(webhooks),
            None => Router::new(),
        }
    }
}

/// Routes served by integrations. They sit behind the server's
/// authentication layer like every other route; each request gets the one
/// [`Caller`] (the back-office routes only for staff).
pub(crate) fn router(state: &AppState) -> Router {
    let staff = ALL
        .iter()
        .fold(Router::new(), |router, i| {
            router.merge(i.admin_routes(state))
        })
        .layer(from_fn_with_state(state.clone(), staff_only));
    ALL.iter()
        .fold(Router::new(), |router, i| router.merge(i.routes(state)))
        .merge(staff)
        .layer(from_fn_with_state(state.clone(), insert_caller))
}

/// Routes that authenticate requests themselves (Slack signs its requests):
/// mounted outside the login and CSRF layer.
pub(crate) fn public_router(state: &AppState) -> Router {
    ALL.iter().fold(Router::new(), |router, i| {
        router.merge(i.public_routes(state))
    })
}

/// The server's identity handed to integrations, in the one form they all
/// take. Nobody logged in: the login's usual answer (a redirect for pages).
async fn insert_caller(
    State(_state): State<AppState>,
    chrome: super::web::page::Chrome,
    mut request: Request,
    next: Next,
) -> Response {
    let user = chrome.user.user.clone();
    let csrf_token = Some(chrome.csrf.clone()).filter(|t| !t.is_empty());
    let may_write = chrome
        .user
        .has_scope(crate::server::auth::SCOPE_INCIDENTS_WRITE);
    request.extensions_mut().insert(Caller {
        user,
        csrf_token,
        layout: chrome.integration_layout(),
        may_write,
    });
    next.run(request).await
}

/// Back-office routes are for staff; their forms carry the session's CSRF
/// token, checked by the server like every other form.
async fn staff_only(
    State(_state): State<AppState>,
    _staff: super::StaffUser,
    request: Request,
    next: Next,
) -> Response {
    next.run(request).await
}

/// Navigation entries of the integrations that are on.
pub(crate) fn nav_links(state: &AppState) -> Vec<(&'static str, &'static str)> {
    ALL.iter().flat_map(|i| i.nav_links(state)).collect()
}

/// Back-office sections of the integrations that are on.
pub(crate) fn backoffice_sections(state: &AppState) -> Vec<(&'static str, &'static str)> {
    ALL.iter()
        .flat_map(|i| i.backoffice_sections(state))
        .collect()
}

#[cfg(all(test, feature = "confluence"))]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    /// The runbooks' page and API exist only when Confluence is on; the
    /// navigation entry with them.
    #[tokio::test]
    async fn confluence_serves_the_runbooks_only_when_on() {
        let store = firefighter_core::store::SqliteStore::connect("sqlite::memory:")
            .await
            .unwrap();
        let app = firefighter_core::Firefighter::builder(firefighter_core::Settings::default())
            .store(Arc::new(store))
            .with_registered_plugins(false)
            .build()
            .await
            .unwrap();
        let base = AppState::new(app, super::super::config::ServerConfig::default());
        let with = |config: Option<firefighter_confluence::ConfluenceConfig>| {
            let mut state = base.clone();
            let mut integrations = (*state.integrations).clone();
            integrations.confluence = config;
            state.integrations = Arc::new(integrations);
            state
        };
        let status = |state: AppState, uri: &'static str| async move {
            ConfluenceAdapter
                .routes(&state)
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        };
        let off = with(None);
        for uri in ["/runbook/", "/api/v2/firefighter/runbooks/"] {
            assert_eq!(
                status(off.clone(), uri).await,
                StatusCode::NOT_FOUND,
                "{uri}"
            );
        }
        assert!(!nav_links(&off).contains(&("Runbooks", "/runbook/")));

        let on = with(Some(firefighter_confluence::ConfluenceConfig::new(
            "https://acme.atlassian.net",
            "bot@example.com",
            "token",
        )));
        // Served, and refused without the server's caller (not logged in).
        for uri in ["/runbook/", "/api/v2/firefighter/runbooks/"] {
            assert_eq!(
                status(on.clone(), uri).await,
                StatusCode::UNAUTHORIZED,
                "{uri}"
            );
        }
        assert!(nav_links(&on).contains(&("Runbooks", "/runbook/")));
    }
}

#[cfg(all(test, feature = "jira"))]
mod jira_tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    /// Jira's webhooks are served (outside the login: they are signed)
    /// only when Jira is on, and refuse an unsigned request.
    #[tokio::test]
    async fn jira_webhooks_are_mounted_only_when_on_and_check_signatures() {
        let store: Arc<dyn firefighter_core::Store> = Arc::new(
            firefighter_core::store::SqliteStore::connect("sqlite::memory:")
                .await
                .unwrap(),
        );
        firefighter_jira::users::migrate(store.database().unwrap())
            .await
            .unwrap();
        let app = firefighter_core::Firefighter::builder(firefighter_core::Settings::default())
            .store(store.clone())
            .with_registered_plugins(false)
            .build()
            .await
            .unwrap();
        let base = AppState::new(app.clone(), super::super::config::ServerConfig::default());
        let with = |on: bool| {
            let mut state = base.clone();
            let mut integrations = (*state.integrations).clone();
            integrations.jira = on.then(|| {
                let mut config = firefighter_jira::JiraConfig::new(
                    "https://acme.atlassian.net",
                    "bot@example.com",
                    "token",
                    "INC",
                    "557058:svc",
                );
                config.webhook_secret = Some("s".to_owned().into());
                firefighter_jira::webhooks::Webhooks::new(app.handle(), store.clone(), config)
                    .unwrap()
            });
            state.integrations = Arc::new(integrations);
            state
        };
        let post = |state: AppState, uri: &'static str| async move {
            public_router(&state)
                .oneshot(
                    Request::post(uri)
                        .header("content-type", "application/json")
                        .body(Body::from("{}"))
                        .unwrap(),
                )
                .await
                .unwrap()
                .status()
        };
        for uri in [
            firefighter_jira::webhooks::UPDATE_PATH,
            firefighter_jira::webhooks::COMMENT_PATH,
        ] {
            assert_eq!(post(with(false), uri).await, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(
                post(with(true), uri).await,
                StatusCode::UNAUTHORIZED,
                "{uri}"
            );
        }
    }
}
