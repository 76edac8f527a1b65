//! What every page shares: the frame around it ([`Chrome`]: who is logged
//! in, the navigation, the CSRF token) and how errors become pages.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::extensions::{NavLink, nav_links};
use crate::server::auth::{AuthRejection, CsrfToken, CurrentUser, StaffUser, mount_prefix};
use crate::server::{AppState, error::html_response};

/// The frame of a page: application name, mount prefix, the logged-in user,
/// navigation and the CSRF token forms must send back.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) app_name: String,
    /// Where the router is mounted (`""` at the root); every link starts with it.
    pub(crate) prefix: String,
    pub(crate) user: CurrentUser,
    pub(crate) csrf: String,
    /// Links contributed by integrations (on-call...).
    pub(crate) nav: Vec<NavLink>,
    /// The navigation entry to highlight.
    pub(crate) section: &'static str,
}

impl Chrome {
    async fn build(
        parts: &mut Parts,
        state: &AppState,
        user: CurrentUser,
    ) -> Result<Chrome, AuthRejection> {
        let CsrfToken(csrf) =
            <CsrfToken as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        Ok(Chrome {
            app_name: state.app.settings().app_display_name.clone(),
            prefix: mount_prefix(parts),
            nav: nav_links(state),
            user,
            csrf,
            section: "",
        })
    }

    /// The same frame with `section` highlighted in the navigation.
    pub(crate) fn in_section(mut self, section: &'static str) -> Chrome {
        self.section = section;
        self
    }

    /// Name shown in the user menu.
    pub(crate) fn user_label(&self) -> &str {
        if self.user.user.name.is_empty() {
            &self.user.user.email
        } else {
            &self.user.user.name
        }
    }

    /// Whether the back-office link is shown.
    pub(crate) fn is_staff(&self) -> bool {
        self.user.is_staff()
    }

    /// A redirect to `path` under the mount prefix.
    pub(crate) fn redirect(&self, path: &str) -> Response {
        Redirect::to(&format!("{}{path}", self.prefix)).into_response()
    }
}

impl FromRequestParts<AppState> for Chrome {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user =
            <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        Chrome::build(parts, state, user).await
    }
}

/// The frame of a back-office page: staff only (403 for anyone else).
#[derive(Debug, Clone)]
pub(crate) struct StaffChrome(pub(crate) Chrome);

impl FromRequestParts<AppState> for StaffChrome {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let StaffUser(user) =
            <StaffUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        Ok(StaffChrome(
            Chrome::build(parts, state, user).await?.in_section("admin"),
        ))
    }
}

/// An error answered with an HTML page.
#[derive(Debug)]
pub(crate) struct WebError(pub(crate) crate::Error);

impl WebError {
    /// 404, also for private incidents the viewer may not see (their existence is not revealed).
    pub(crate) fn not_found() -> WebError {
        WebError(crate::Error::NotFound)
    }
}

impl From<firefighter_core::Error> for WebError {
    fn from(e: firefighter_core::Error) -> Self {
        WebError(e.into())
    }
}

impl From<crate::Error> for WebError {
    fn from(e: crate::Error) -> Self {
        WebError(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        html_response(self.0)
    }
}

/// The result of a page handler.
pub(crate) type PageResult = Result<Response, WebError>;

/// A page re-rendered with the messages of a refused form.
pub(crate) fn unprocessable(page: impl IntoResponse) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

/// Whether htmx asked for a fragment (not a boosted full navigation).
pub(crate) fn is_htmx_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("HX-Request") && !headers.contains_key("HX-Boosted")
}

/// Confirmations shown after a redirect, chosen by a code in the query so
/// that no text from the URL is ever reflected into the page.
pub(crate) fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "declared" => "Incident declared.",
        "status" => "Status updated.",
        "roles" => "Roles updated.",
        "key_events" => "Key events saved.",
        "cost" => "Cost recorded.",
        "saved" => "Saved.",
        "created" => "Created.",
        "postmortem_created" => "Post-mortem created.",
        "postmortem_ready" => {
            "Post-mortem marked ready: the incident can be closed once the rest allows it."
        }
        "postmortem_draft" => "Post-mortem back to draft.",
        "no_postmortem" => {
            "This incident has no post-mortem yet: create it below (from Mitigated on)."
        }
        "password" => "Password set; the user's sessions were closed.",
        "revoked" => "Token revoked.",
        "already_revoked" => "This token was already revoked.",
        "requeued" => "Delivery re-queued.",
        "not_requeued" => "This delivery was not failed any more; nothing was re-queued.",
        "schedule" => "Schedule saved.",
        "inbox_requeued" => {
            "Request queued again: its integration applies it within a minute (while it is switched on)."
        }
        "inbox_not_requeued" => "This request was not parked any more; nothing was re-queued.",
        _ => return None,
    })
}

/// The frame of an integration's page: the server's layout, split where the
/// integration's content goes.
#[derive(askama::Template)]
#[template(path = "integration.html")]
struct IntegrationFrame {
    chrome: Chrome,
    title: &'static str,
}

/// Where the integration's content goes in [`IntegrationFrame`].
const CONTENT: &str = "<!--integration-page-content-->";

impl Chrome {
    /// The server's layout for integrations' pages.
    pub(crate) fn integration_layout(self) -> firefighter_core::plugin::PageLayout {
        use askama::Template;
        let prefix = self.prefix.clone();
        let page = IntegrationFrame {
            chrome: self,
            title: firefighter_core::plugin::PageLayout::TITLE,
        }
        .render()
        .unwrap_or_default();
        let (head, foot) = page.split_once(CONTENT).unwrap_or((&page, ""));
        firefighter_core::plugin::PageLayout {
            prefix,
            head: head.to_owned(),
            foot: foot.to_owned(),
        }
    }
}
