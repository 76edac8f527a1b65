//! `monitoring/healthcheck` (liveness: the database answers) and
//! `monitoring/readiness` (every dependency answers), as the original's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::server::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/monitoring/healthcheck", get(healthcheck))
        .route("/monitoring/healthcheck/", get(healthcheck))
        .route("/monitoring/readiness", get(readiness))
        .route("/monitoring/readiness/", get(readiness))
}

/// Liveness: `{"status": "ok"}`, or 503 `{"status": "fail"}` when the database does not answer.
#[utoipa::path(get, path = "/api/v2/firefighter/monitoring/healthcheck", tag = "monitoring",
    responses((status = 200, description = "The database answers: `{\"status\": \"ok\"}`", body = serde_json::Value),
        (status = 503, description = "It does not: `{\"status\": \"fail\"}`", body = serde_json::Value)))]
pub(super) async fn healthcheck(State(state): State<AppState>) -> Response {
    match state.app.store().ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "healthcheck: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "fail"})),
            )
                .into_response()
        }
    }
}

/// Readiness: every dependency (the database; the catalog is readable).
#[utoipa::path(get, path = "/api/v2/firefighter/monitoring/readiness", tag = "monitoring",
    responses((status = 200, description = "Ready", body = serde_json::Value),
        (status = 503, description = "Not ready", body = serde_json::Value)))]
pub(super) async fn readiness(State(state): State<AppState>) -> Response {
    let db = state.app.store().ping().await.is_ok();
    let catalog = db && state.app.catalog().await.is_ok();
    let status = |ok: bool| if ok { "ok" } else { "fail" };
    let body = json!({
        "status": status(db && catalog),
        "checks": {"db": status(db), "catalog": status(catalog)},
    });
    let code = if db && catalog {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
