//! Recording the costs of an incident.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firefighter_core::CostTypeId;

use crate::Result;
use crate::server::AppState;
use crate::server::api::context;
use crate::server::api::input::{Body, Fields};
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_WRITE};

use crate::server::api::idempotency::RequestKey;

use super::{incident_id, visible};

/// Record a cost (amount in EUR as `"12.30"`, or null when not known yet).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/costs", tag = "incidents",
    params(("id" = i64, Path)), request_body = CostBody,
    responses((status = 201, body = crate::server::api::repr::CostRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn add_cost(
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
    let cost_type = f.uuid("cost_type_id");
    if cost_type.is_none() && !f.has("cost_type_id") {
        f.required("cost_type_id");
    }
    let amount = f.amount_cents("amount");
    let details = f.string("details").unwrap_or_default();
    f.finish()?;
    let cost_type = CostTypeId(cost_type.unwrap_or_default());
    // Under the caller's Idempotency-Key: a retry after a lost answer adds nothing.
    let cost = match request_key {
        Some(key) => {
            state
                .app
                .add_cost_once(
                    id,
                    &key.0.0,
                    Some(user.user.id),
                    cost_type,
                    amount,
                    &details,
                )
                .await?
        }
        None => {
            state
                .app
                .add_cost(id, Some(user.user.id), cost_type, amount, &details)
                .await?
        }
    };
    let ctx = context(&state, Vec::new()).await?;
    Ok((StatusCode::CREATED, Json(ctx.cost(&cost))).into_response())
}

/// The body of `incidents/{id}/costs`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(in crate::server::api) struct CostBody {
    cost_type_id: uuid::Uuid,
    /// EUR, at most two decimals.
    amount: Option<String>,
    details: Option<String>,
}
