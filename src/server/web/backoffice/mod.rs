//! The back-office, for staff: reference data (priorities, environments,
//! groups, categories, role, key event, metric and cost types), users, API
//! tokens, periodic tasks, outbox deliveries and the inbox, plus the sections
//! integrations add ([`super::extensions::backoffice_sections`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::extensions::{NavLink, backoffice_sections};
use super::page::{PageResult, StaffChrome};
use crate::server::AppState;
use crate::server::web::page::Chrome;

mod deliveries;
mod editor;
mod inbox;
mod reference;
mod tasks;
mod tokens;
mod users;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(to_index))
        .route("/admin/", get(index))
        .route("/admin/users/", get(users::list).post(users::create))
        .route("/admin/users/{id}/", get(users::edit).post(users::save))
        .route("/admin/users/{id}/password", post(users::set_password))
        .route("/admin/tokens/", get(tokens::list).post(tokens::create))
        .route("/admin/tokens/{id}/revoke", post(tokens::revoke))
        .route("/admin/tasks/", get(tasks::list))
        .route("/admin/tasks/{name}/schedule", post(tasks::schedule))
        .route("/admin/tasks/{name}/run", post(tasks::run_now))
        .route("/admin/deliveries/", get(deliveries::list))
        .route("/admin/deliveries/{id}/requeue", post(deliveries::requeue))
        .route("/admin/inbox/", get(inbox::list))
        .route("/admin/inbox/{id}/requeue", post(inbox::requeue))
        .route("/admin/{kind}/", get(reference::list))
        .route(
            "/admin/{kind}/new",
            get(reference::new).post(reference::create),
        )
        .route(
            "/admin/{kind}/{key}/",
            get(reference::edit).post(reference::save),
        )
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/index.html")]
struct IndexPage {
    chrome: Chrome,
    reference: Vec<NavLink>,
    operations: Vec<NavLink>,
    integrations: Vec<NavLink>,
}

/// `GET /admin`: the index lives at `/admin/`.
async fn to_index(StaffChrome(chrome): StaffChrome) -> axum::response::Response {
    chrome.redirect("/admin/")
}

/// `GET /admin/`.
async fn index(State(state): State<AppState>, StaffChrome(chrome): StaffChrome) -> PageResult {
    let reference = reference::Kind::ALL
        .iter()
        .map(|k| NavLink {
            title: k.title().to_owned(),
            href: format!("/admin/{}/", k.slug()),
        })
        .collect();
    let operations = [
        ("Users", "/admin/users/"),
        ("API tokens", "/admin/tokens/"),
        ("Periodic tasks", "/admin/tasks/"),
        ("Outbox deliveries", "/admin/deliveries/"),
        ("Inbox", "/admin/inbox/"),
    ]
    .into_iter()
    .map(|(title, href)| NavLink {
        title: title.to_owned(),
        href: href.to_owned(),
    })
    .collect();
    Ok(IndexPage {
        chrome,
        reference,
        operations,
        integrations: backoffice_sections(&state),
    }
    .into_response())
}
