//! Setting and clearing the key events of an incident.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;

use crate::server::AppState;
use crate::server::api::idempotency::RequestKey;
use crate::server::api::input::Body;
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_WRITE};
use crate::{Error, Problem, Result};

use super::{incident_id, map_of, one, visible};

/// Set (RFC 3339) or clear (null) key events: `{"detected": "2026-03-01T10:00:00Z", "started": null}`.
#[utoipa::path(put, path = "/api/v2/firefighter/incidents/{id}/key_events", tag = "incidents",
    params(("id" = i64, Path)), request_body(content = Object, description = "key event → RFC 3339 time or null"),
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn set_key_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let map = map_of(&body, "key_events")?;
    let mut problems = Vec::new();
    let mut events = BTreeMap::new();
    for (slug, v) in map {
        match v {
            Value::Null => {
                events.insert(slug, None);
            }
            Value::String(s) => match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => {
                    events.insert(slug, Some(t.with_timezone(&Utc)));
                }
                Err(_) => problems.push(Problem::field(
                    format!("key_events.{slug}"),
                    "invalid",
                    format!("\"{s}\" is not an RFC 3339 date-time"),
                )),
            },
            other => problems.push(Problem::field(
                format!("key_events.{slug}"),
                "incorrect_type",
                format!("a key event is an RFC 3339 date-time or null, not {other}"),
            )),
        }
    }
    if events.is_empty() && problems.is_empty() {
        problems.push(Problem::field(
            "key_events",
            "required",
            "give at least one key event",
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
                .set_key_events_once(id, &key.0.0, Some(user.user.id), events)
                .await?
        }
        None => {
            state
                .app
                .set_key_events(id, Some(user.user.id), events)
                .await?
        }
    };
    one(&state, id, StatusCode::OK).await
}
