//! `incidents/`: list, retrieve and declare (the original's endpoints), and
//! the write endpoints of ours (status, updates, roles, key events, close,
//! costs), each going through the core commands and their lifecycle rules.
//!
//! `list` reads incidents, `declaration` declares one, `status` changes
//! its status, fields and messages (and closes it), `roles`, `key_events`
//! and `costs` set what they are named after.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use firefighter_core::{IncidentDetails, IncidentId};
use serde_json::Value;

use crate::server::AppState;
use crate::server::api::context;
use crate::server::api::input::Body;
use crate::server::api::repr::Context;
use crate::server::auth::{CurrentUser, can_see};
use crate::{Error, Problem, Result};

mod costs;
mod declaration;
mod key_events;
mod list;
mod postmortem;
mod roles;
mod status;

pub(super) use costs::{__path_add_cost, add_cost};
pub(super) use declaration::{__path_create, create};
pub(super) use key_events::{__path_set_key_events, set_key_events};
pub use list::DEFAULT_COLUMNS;
pub(super) use list::{__path_list, __path_retrieve, list, retrieve};
pub(super) use postmortem::{
    __path_create_postmortem, __path_edit_postmortem, __path_show_postmortem, create_postmortem,
    edit_postmortem, show_postmortem,
};
pub(super) use roles::{__path_set_roles, set_roles};
pub(super) use status::{
    __path_change_status, __path_close, __path_post_update, change_status, close, post_update,
};

pub(in crate::server::api) fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list).post(create))
        .route("/incidents/", get(list).post(create))
        .route("/incidents/{id}", get(retrieve))
        .route("/incidents/{id}/", get(retrieve))
        .route("/incidents/{id}/status", post(change_status))
        .route("/incidents/{id}/updates", post(post_update))
        .route("/incidents/{id}/roles", put(set_roles))
        .route("/incidents/{id}/key_events", put(set_key_events))
        .route("/incidents/{id}/close", post(close))
        .route("/incidents/{id}/costs", post(add_cost))
        .route(
            "/incidents/{id}/postmortem",
            get(show_postmortem)
                .post(create_postmortem)
                .patch(edit_postmortem),
        )
}

/// An incident id from the path; anything else is not found.
fn incident_id(raw: &str) -> Result<IncidentId> {
    raw.trim_start_matches('#')
        .parse::<i64>()
        .map(IncidentId)
        .map_err(|_| Error::NotFound)
}

/// The incident if the caller may see it (else not found, without saying it exists).
async fn visible(state: &AppState, user: &CurrentUser, id: IncidentId) -> Result<IncidentDetails> {
    let details = state
        .app
        .store()
        .incident_details(id)
        .await?
        .ok_or(Error::NotFound)?;
    if can_see(user, &details) {
        Ok(details)
    } else {
        Err(Error::NotFound)
    }
}

/// The incident as it is now, with tags.
async fn one(state: &AppState, id: IncidentId, status: StatusCode) -> Result<Response> {
    let details = state.app.incident_details(id).await?;
    let ctx = context(state, Context::users_of(std::slice::from_ref(&details))).await?;
    Ok((status, Json(ctx.incident(&details, true))).into_response())
}

/// Core field names as the API calls them.
fn api_attrs(error: Error, names: &[(&str, &str)]) -> Error {
    match error {
        Error::Core(firefighter_core::Error::Invalid(fields)) => Error::Invalid(
            fields
                .into_iter()
                .map(|f| {
                    let attr = names
                        .iter()
                        .find(|(core, _)| {
                            f.field == *core || f.field.starts_with(&format!("{core}."))
                        })
                        .map(|(_, api)| (*api).to_owned())
                        .unwrap_or(f.field);
                    Problem {
                        code: crate::server::error::code_for(&f.message).to_owned(),
                        detail: f.message,
                        attr: (!attr.is_empty()).then_some(attr),
                    }
                })
                .collect(),
        ),
        other => other,
    }
}

/// The object of a body, or of its `key` member when present.
fn map_of(body: &Body, key: &str) -> Result<serde_json::Map<String, Value>> {
    match body.0.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(Error::invalid(
            key,
            "incorrect_type",
            format!("{key} must be an object"),
        )),
        None => Ok(body.0.clone()),
    }
}
