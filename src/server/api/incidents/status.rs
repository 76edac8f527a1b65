//! Changing an incident: its status, its fields and messages, and closing it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use firefighter_core::{
    CategoryId, ClosureReason, EnvironmentId, IncidentId, PriorityId, Status, Update,
};
use serde_json::Value;

use crate::server::AppState;
use crate::server::api::input::{Body, Fields};
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_WRITE};
use crate::{Problem, Result};

use crate::server::api::idempotency::RequestKey;

use super::{api_attrs, incident_id, one, visible};

fn status_of(f: &mut Fields<'_>, name: &str) -> Option<Status> {
    let v = f.string(name)?;
    match Status::parse(&v) {
        Some(s) => Some(s),
        None => {
            f.problems.push(Problem::field(
                name,
                "invalid_choice",
                format!("\"{v}\" is not a status (open, investigating, mitigating, mitigated, post_mortem, closed or 10 to 60)"),
            ));
            None
        }
    }
}

/// Statuses may be sent as numbers too.
fn status_field(body: &Body, f: &mut Fields<'_>) -> Option<Status> {
    match body.0.get("status") {
        Some(Value::Number(n)) => match n
            .as_i64()
            .and_then(|v| i16::try_from(v).ok())
            .and_then(Status::from_value)
        {
            Some(s) => Some(s),
            None => {
                f.problems.push(Problem::field(
                    "status",
                    "invalid_choice",
                    format!("{n} is not a status value (10 to 60)"),
                ));
                None
            }
        },
        _ => status_of(f, "status"),
    }
}

fn closure_reason(f: &mut Fields<'_>) -> Option<ClosureReason> {
    let v = f.string("closure_reason")?;
    if v.trim().is_empty() {
        return None;
    }
    match ClosureReason::parse(&v) {
        Some(r) => Some(r),
        None => {
            let known: Vec<&str> = ClosureReason::ALL.iter().map(|r| r.slug()).collect();
            f.problems.push(Problem::field(
                "closure_reason",
                "invalid_choice",
                format!("\"{v}\" is not a closure reason ({})", known.join(", ")),
            ));
            None
        }
    }
}

const UPDATE_NAMES: &[(&str, &str)] = &[
    ("category_id", "incident_category_id"),
    ("environment_ids", "environment_ids"),
];

/// Change the status (with a message; a closure reason and reference when closing early).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/status", tag = "incidents",
    params(("id" = i64, Path)), request_body = StatusBody,
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 409, description = "Refused by the lifecycle, with every reason", body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let status = status_field(&body, &mut f);
    if status.is_none() && !f.has("status") {
        f.required("status");
    }
    let message = f.string("message");
    let reason = closure_reason(&mut f);
    let reference = f.string("closure_reference");
    let event_ts = f.instant("event_ts");
    f.finish()?;
    let update = Update {
        by: Some(user.user.id),
        status,
        message,
        closure_reason: reason,
        closure_reference: reference,
        event_ts,
        ..Update::default()
    };
    update_under_key(&state, id, request_key, update).await?;
    one(&state, id, StatusCode::OK).await
}

/// Applies `update`; under the caller's Idempotency-Key when there is one,
/// so a retry after a lost answer (or a crash) finds it applied.
async fn update_under_key(
    state: &AppState,
    id: IncidentId,
    request_key: Option<axum::Extension<RequestKey>>,
    update: Update,
) -> Result<()> {
    match request_key {
        Some(key) => state.app.update_once(id, &key.0.0, update).await?,
        None => state.app.update(id, update).await?,
    };
    Ok(())
}

/// The body of `incidents/{id}/status`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(in crate::server::api) struct StatusBody {
    /// `investigating`, `Mitigated`, `50`...
    status: String,
    message: Option<String>,
    /// When closing before mitigation: duplicate, false_positive, superseded, external, cancelled.
    closure_reason: Option<String>,
    closure_reference: Option<String>,
    /// When it happened (default: now).
    event_ts: Option<chrono::DateTime<Utc>>,
}

/// Post a message and/or change fields (title, description, priority, category, environments, private, status).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/updates", tag = "incidents",
    params(("id" = i64, Path)), request_body = UpdateBody,
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody), (status = 409, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn post_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let status = if f.has("status") {
        status_field(&body, &mut f)
    } else {
        None
    };
    let update = Update {
        by: Some(user.user.id),
        message: f.string("message"),
        status,
        priority_id: f.uuid("priority_id").map(PriorityId),
        category_id: f.uuid("incident_category_id").map(CategoryId),
        title: f.string("title"),
        description: f.string("description"),
        environment_ids: match (f.uuids("environment_ids"), f.uuid("environment_id")) {
            (Some(ids), _) => Some(ids.into_iter().map(EnvironmentId).collect()),
            (None, Some(id)) => Some(vec![EnvironmentId(id)]),
            (None, None) => None,
        },
        private: f.boolean("private"),
        closure_reason: closure_reason(&mut f),
        closure_reference: f.string("closure_reference"),
        event_type: None,
        event_ts: f.instant("event_ts"),
    };
    f.finish()?;
    update_under_key(&state, id, request_key, update)
        .await
        .map_err(|e| api_attrs(e, UPDATE_NAMES))?;
    one(&state, id, StatusCode::OK).await
}

/// The body of `incidents/{id}/updates`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(in crate::server::api) struct UpdateBody {
    message: Option<String>,
    title: Option<String>,
    description: Option<String>,
    priority_id: Option<uuid::Uuid>,
    incident_category_id: Option<uuid::Uuid>,
    environment_ids: Option<Vec<uuid::Uuid>>,
    private: Option<bool>,
    status: Option<String>,
    closure_reason: Option<String>,
    closure_reference: Option<String>,
}

/// Close, with a reason and a message when closing before mitigation.
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/close", tag = "incidents",
    params(("id" = i64, Path)), request_body = CloseBody,
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 409, description = "Refused by the lifecycle, with every reason", body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let reason = closure_reason(&mut f);
    let message = f.string("message");
    let reference = f.string("closure_reference");
    f.finish()?;
    // A close is a status change: under the key like the others.
    let update = Update {
        by: Some(user.user.id),
        status: Some(Status::Closed),
        closure_reason: reason,
        closure_reference: reference,
        message,
        ..Update::default()
    };
    update_under_key(&state, id, request_key, update).await?;
    one(&state, id, StatusCode::OK).await
}

/// The body of `incidents/{id}/close`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(in crate::server::api) struct CloseBody {
    closure_reason: Option<String>,
    message: Option<String>,
    closure_reference: Option<String>,
}
