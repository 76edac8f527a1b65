//! Assigning and clearing the roles of an incident.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use firefighter_core::UserId;
use serde_json::Value;

use crate::server::AppState;
use crate::server::api::idempotency::RequestKey;
use crate::server::api::input::Body;
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_WRITE};
use crate::{Error, Problem, Result};

use super::{incident_id, map_of, one, visible};

/// Assign (user id or e-mail) or clear (null) roles: `{"commander": "jane@example.com", "communication_lead": null}`.
#[utoipa::path(put, path = "/api/v2/firefighter/incidents/{id}/roles", tag = "incidents",
    params(("id" = i64, Path)), request_body(content = Object, description = "role slug → user id, e-mail or null"),
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let map = map_of(&body, "roles")?;
    let mut problems = Vec::new();
    let mut roles: BTreeMap<String, Option<UserId>> = BTreeMap::new();
    for (slug, v) in map {
        let attr = format!("roles.{slug}");
        match v {
            Value::Null => {
                roles.insert(slug, None);
            }
            Value::String(s) => {
                let found = match s.parse::<UserId>() {
                    Ok(uid) => state.app.store().user(uid).await?,
                    Err(_) => state.app.store().user_by_email(&s).await?,
                };
                match found {
                    Some(u) => {
                        roles.insert(slug, Some(u.id));
                    }
                    None => problems.push(Problem::field(
                        attr,
                        "does_not_exist",
                        format!("no user \"{s}\""),
                    )),
                }
            }
            other => problems.push(Problem::field(
                attr,
                "incorrect_type",
                format!("a role holder is a user id, an e-mail or null, not {other}"),
            )),
        }
    }
    if roles.is_empty() && problems.is_empty() {
        problems.push(Problem::field(
            "roles",
            "required",
            "give at least one role",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    // Under the caller's Idempotency-Key, applied once even if the answer
    // was lost to a crash after the commit.
    match request_key {
        Some(key) => {
            state
                .app
                .update_roles_once(id, &key.0.0, Some(user.user.id), roles)
                .await?
        }
        None => {
            state
                .app
                .update_roles(id, Some(user.user.id), roles)
                .await?
        }
    };
    one(&state, id, StatusCode::OK).await
}
