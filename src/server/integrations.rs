//! The integrations compiled into this binary, as the server sees them:
//! whether each is on (and why not), the routes each serves, and what each
//! adds to the web UI. Every integration appears here behind its cargo
//! feature; nothing else in the server names a vendor.

use axum::Router;
#[cfg(any(feature = "pagerduty", feature = "slack"))]
use axum::extract::{Request, State};
#[cfg(any(feature = "pagerduty", feature = "slack"))]
use axum::middleware::Next;
#[cfg(any(feature = "pagerduty", feature = "slack"))]
use axum::response::Response;

use super::AppState;

/// The integrations that are on in this process.
#[derive(Clone, Default)]
pub(crate) struct Integrations {
    #[cfg(feature = "slack")]
    pub(crate) slack: Option<firefighter_slack::Slack>,
    #[cfg(feature = "pagerduty")]
    pub(crate) pagerduty: Option<firefighter_pagerduty::PagerDuty>,
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
        }
    }
}

/// One integration's state, for the start-up report and `--help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationStatus {
    /// `slack`, `pagerduty`, `confluence`, `jira`.
    pub name: &'static str,
    /// Whether it is on.
    pub on: bool,
    /// Why not, when off.
    pub why: String,
}

fn off(name: &'static str, why: impl Into<String>) -> IntegrationStatus {
    IntegrationStatus {
        name,
        on: false,
        why: why.into(),
    }
}

#[allow(dead_code, reason = "used by the integrations compiled in")]
fn on(name: &'static str) -> IntegrationStatus {
    IntegrationStatus {
        name,
        on: true,
        why: String::new(),
    }
}

#[allow(dead_code, reason = "used by the integrations compiled in")]
fn env_truthy(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

#[cfg(not(all(feature = "slack", feature = "pagerduty", feature = "confluence")))]
fn not_compiled(name: &'static str) -> IntegrationStatus {
    off(
        name,
        format!("feature not compiled (build with --features {name})"),
    )
}

/// Whether each integration is on in this environment, and why not when off.
pub fn status() -> Vec<IntegrationStatus> {
    vec![
        slack_status(),
        pagerduty_status(),
        confluence_status(),
        // The original has one; this project does not yet.
        off(
            "jira",
            "not available: firefighter has no Jira integration yet",
        ),
    ]
}

#[cfg(feature = "slack")]
fn slack_status() -> IntegrationStatus {
    match firefighter_slack::SlackConfig::from_env() {
        Ok(Some(_)) => on("slack"),
        Ok(None) => off(
            "slack",
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not both set",
        ),
        Err(e) => off("slack", e.to_string()),
    }
}

#[cfg(not(feature = "slack"))]
fn slack_status() -> IntegrationStatus {
    not_compiled("slack")
}

#[cfg(feature = "pagerduty")]
fn pagerduty_status() -> IntegrationStatus {
    if !env_truthy("ENABLE_PAGERDUTY") {
        return off("pagerduty", "ENABLE_PAGERDUTY is not set to true");
    }
    match firefighter_pagerduty::PagerDutyConfig::from_env() {
        Ok(Some(_)) => on("pagerduty"),
        Ok(None) => off(
            "pagerduty",
            "PAGERDUTY_API_KEY or PAGERDUTY_ACCOUNT_EMAIL is missing",
        ),
        Err(e) => off("pagerduty", e.to_string()),
    }
}

#[cfg(not(feature = "pagerduty"))]
fn pagerduty_status() -> IntegrationStatus {
    not_compiled("pagerduty")
}

#[cfg(feature = "confluence")]
fn confluence_status() -> IntegrationStatus {
    if !env_truthy("ENABLE_CONFLUENCE") {
        return off("confluence", "ENABLE_CONFLUENCE is not set to true");
    }
    match firefighter_confluence::ConfluenceConfig::from_env() {
        Ok(Some(_)) => on("confluence"),
        Ok(None) => off(
            "confluence",
            "CONFLUENCE_URL, CONFLUENCE_USERNAME or CONFLUENCE_API_KEY is missing",
        ),
        Err(e) => off("confluence", e.to_string()),
    }
}

#[cfg(not(feature = "confluence"))]
fn confluence_status() -> IntegrationStatus {
    not_compiled("confluence")
}

/// Routes served by integrations. They sit behind the server's
/// authentication layer like every other route; pages that need a person
/// get one through their own guard.
pub(crate) fn router(state: &AppState) -> Router {
    #[allow(
        unused_mut,
        reason = "each integration adds its routes behind its feature"
    )]
    let mut router = Router::new();
    #[cfg(feature = "pagerduty")]
    if let Some(pd) = state.integrations.pagerduty.clone() {
        router = router.merge(
            firefighter_pagerduty::routes(state.app.clone(), pd.clone()).layer(
                axum::middleware::from_fn_with_state(state.clone(), pagerduty_caller),
            ),
        );
        router = router.merge(
            firefighter_pagerduty::admin_routes(state.app.clone(), pd).layer(
                axum::middleware::from_fn_with_state(state.clone(), pagerduty_admin_caller),
            ),
        );
    }
    #[cfg(feature = "slack")]
    if let Some(slack) = state.integrations.slack.clone() {
        router = router.merge(
            firefighter_slack::admin_routes(state.app.clone(), slack).layer(
                axum::middleware::from_fn_with_state(state.clone(), slack_admin_caller),
            ),
        );
    }
    let _ = state;
    router
}

/// Routes that authenticate requests themselves (Slack signs its requests):
/// mounted outside the login and CSRF layer.
pub(crate) fn public_router(state: &AppState) -> Router {
    #[allow(
        unused_mut,
        reason = "each integration adds its routes behind its feature"
    )]
    let mut router = Router::new();
    #[cfg(feature = "slack")]
    if let Some(slack) = state.integrations.slack.clone() {
        router = router.merge(firefighter_slack::routes(state.app.clone(), slack));
    }
    let _ = state;
    router
}

/// Slack's back-office pages are for staff; their forms carry the session's
/// CSRF token, checked by the server like every other form.
#[cfg(feature = "slack")]
async fn slack_admin_caller(
    State(_state): State<AppState>,
    _staff: super::StaffUser,
    csrf: super::CsrfToken,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(firefighter_slack::AdminCaller { csrf_token: csrf.0 });
    next.run(request).await
}

/// PagerDuty's back-office is for staff, like Slack's.
#[cfg(feature = "pagerduty")]
async fn pagerduty_admin_caller(
    State(_state): State<AppState>,
    _staff: super::StaffUser,
    csrf: super::CsrfToken,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(firefighter_pagerduty::AdminCaller { csrf_token: csrf.0 });
    next.run(request).await
}

/// The on-call pages need a logged-in person: the server's identity,
/// handed over in the form the PagerDuty crate expects.
#[cfg(feature = "pagerduty")]
async fn pagerduty_caller(
    State(_state): State<AppState>,
    current: super::CurrentUser,
    csrf: super::CsrfToken,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(firefighter_pagerduty::routes::WebCaller {
            user: current.user,
            csrf_token: Some(csrf.0).filter(|t| !t.is_empty()),
        });
    next.run(request).await
}

/// Navigation entries of the integrations that are on.
pub(crate) fn nav_links(state: &AppState) -> Vec<(&'static str, &'static str)> {
    #[allow(
        unused_mut,
        reason = "each integration adds its links behind its feature"
    )]
    let mut links = Vec::new();
    #[cfg(feature = "pagerduty")]
    if state.integrations.pagerduty.is_some() {
        links.push(("On-call", "/oncall/"));
    }
    let _ = state;
    links
}

/// Back-office sections of the integrations that are on.
pub(crate) fn backoffice_sections(state: &AppState) -> Vec<(&'static str, &'static str)> {
    #[allow(
        unused_mut,
        reason = "each integration adds its sections behind its feature"
    )]
    let mut sections = Vec::new();
    #[cfg(feature = "slack")]
    if state.integrations.slack.is_some() {
        sections.push(("Slack: conversations, user groups, SOS", "/admin/slack/"));
    }
    #[cfg(feature = "pagerduty")]
    if state.integrations.pagerduty.is_some() {
        sections.push((
            "PagerDuty: services (which can be paged)",
            "/admin/pagerduty/services/",
        ));
        sections.push(("PagerDuty: page the on-call", "/oncall/trigger/"));
    }
    let _ = state;
    sections
}
