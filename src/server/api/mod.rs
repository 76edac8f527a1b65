//! The REST API under `/api/v2/firefighter/`, compatible with FireFighter's
//! paths, field names, status codes and formats, plus write endpoints of ours.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use firefighter_core::{User, UserId};

use crate::server::AppState;
use crate::{Error, Result};

pub(crate) mod cache;
pub(crate) mod dates;
pub(crate) mod fast_path;
pub(crate) mod filters;
mod idempotency;
mod incidents;
mod input;
mod monitoring;
mod openapi;
mod reference;
mod render;
mod repr;

pub use incidents::DEFAULT_COLUMNS as INCIDENT_CSV_COLUMNS;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

/// Caches of the API (see [`cache`]).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Rendered `incidents/` responses.
    pub(crate) responses: cache::Responses,
    /// API tokens resolved to their owner.
    pub(crate) tokens: cache::Tokens,
    /// Whole answers the fast path serves again.
    pub(crate) answers: fast_path::Answers,
    /// Reference data as of a reference version.
    reference: std::sync::Mutex<Option<Arc<cache::Reference>>>,
    /// Unpaged lists being built from the database (see [`WholeLists`]).
    pub(crate) whole_lists: WholeLists,
}

/// Builds of unpaged lists at once. An unpaged list of 100,000 incidents is
/// about 170 MB of JSON: a few at a time keep memory bounded and the CPU
/// shared; more requests wait their turn (paged and cached answers do not).
#[derive(Debug)]
pub(crate) struct WholeLists(pub(crate) tokio::sync::Semaphore);

impl Default for WholeLists {
    fn default() -> Self {
        WholeLists(tokio::sync::Semaphore::new(2))
    }
}

/// The API routes (relative to `/api/v2/firefighter`).
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(incidents::router())
        .merge(reference::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .merge(monitoring::router())
        .route("/schema", get(schema))
        .route("/schema/", get(schema))
        .fallback(not_found)
}

async fn not_found() -> Error {
    Error::NotFound
}

/// What representations need: current reference data (see [`cache`]) and the named users.
pub(crate) async fn context(state: &AppState, users: Vec<UserId>) -> Result<repr::Context> {
    context_knowing(state, cache::Versions(None), users, &[]).await
}

/// [`context`] with the versions this request already read, reading only
/// the users not among `known`.
pub(crate) async fn context_knowing(
    state: &AppState,
    versions: cache::Versions,
    users: Vec<UserId>,
    known: &[User],
) -> Result<repr::Context> {
    let versions = versions.get(state).await?;
    let reference = cache::reference(state, versions.reference).await?;
    fresh_context(state, &reference, users, known).await
}

/// What representations need, with the given reference data; only the
/// users not among `known` are read.
pub(crate) async fn fresh_context(
    state: &AppState,
    reference: &cache::Reference,
    mut users: Vec<UserId>,
    known: &[User],
) -> Result<repr::Context> {
    let mut found: Vec<User> = known
        .iter()
        .filter(|u| users.contains(&u.id))
        .cloned()
        .collect();
    users.retain(|id| !known.iter().any(|u| u.id == *id));
    if !users.is_empty() {
        found.extend(state.app.store().users(&users).await?);
    }
    Ok(repr::Context::new(
        reference.catalog.clone(),
        reference.times.clone(),
        found,
        state.app.settings().base_url(),
    ))
}

async fn schema(State(state): State<AppState>) -> Response {
    if !state.config.expose_api_docs {
        return Error::NotFound.into_response();
    }
    match openapi::document().and_then(|doc| serde_json::to_string(&doc)) {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/vnd.oai.openapi+json")],
            json,
        )
            .into_response(),
        Err(e) => {
            Error::Internal(format!("cannot write the OpenAPI document: {e}")).into_response()
        }
    }
}
