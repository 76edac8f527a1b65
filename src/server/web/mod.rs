//! The web UI: server-rendered pages (askama templates compiled into the
//! binary, htmx for partial reloads), the back-office for staff, and the
//! assets they need, served from the binary.
//!
//! Every page needs a logged-in user ([`page::Chrome`] redirects anonymous
//! visitors to `/login`); back-office pages need staff ([`page::StaffChrome`]).
//! Every form that changes something is a POST carrying the session's CSRF
//! token, answered with a redirect on success (POST/redirect/GET) and with
//! the form and its messages (422) on invalid input.

use axum::Router;
use axum::routing::get;

use crate::server::AppState;

mod assets;
mod backoffice;
mod dashboard;
mod docs;
pub(crate) mod extensions;
mod filters;
mod format;
mod forms;
mod incidents;
pub(crate) mod page;
mod statistics;

/// The pages, mounted at `/`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::show))
        .merge(incidents::router())
        .route("/statistics/", get(statistics::show))
        .merge(docs::router())
        .merge(backoffice::router())
}

/// The stylesheet and scripts, mounted at `/static` (outside authentication).
pub(crate) fn assets() -> Router<AppState> {
    assets::router()
}
