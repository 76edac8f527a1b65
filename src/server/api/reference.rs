//! Reference data: `severities/` (priorities), `environments/`, `groups/`,
//! `incident-categories/` (and the legacy `components/`), `incident_cost_types/`
//! and `incident_costs/`, each with its `{id}/` route.

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use firefighter_core::{CostId, IncidentFilter};
use serde::Serialize;
use serde_json::Value;

use super::context;
use super::render::{self, ListOptions};
use super::repr::{CostTypeRepr, EnvironmentRepr, GroupRepr, PriorityRepr};
use crate::server::AppState;
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_READ, can_see, visibility};
use crate::{Error, Result};

pub(super) fn router() -> Router<AppState> {
    let mut r = Router::new();
    for (path, list, one) in [
        ("severities", Kind::Priorities, Kind::Priorities),
        ("environments", Kind::Environments, Kind::Environments),
        ("groups", Kind::Groups, Kind::Groups),
        ("incident-categories", Kind::Categories, Kind::Categories),
        ("components", Kind::Categories, Kind::Categories),
        ("incident_cost_types", Kind::CostTypes, Kind::CostTypes),
        ("incident_costs", Kind::Costs, Kind::Costs),
    ] {
        let l =
            move |state, user, uri, headers, query| list_of(list, state, user, uri, headers, query);
        let o = move |state, user, id, headers, query| one_of(one, state, user, id, headers, query);
        r = r
            .route(&format!("/{path}/"), get(l))
            .route(&format!("/{path}"), get(l))
            .route(&format!("/{path}/{{id}}/"), get(o))
            .route(&format!("/{path}/{{id}}"), get(o));
    }
    r
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Priorities,
    Environments,
    Groups,
    Categories,
    CostTypes,
    Costs,
}

fn values<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<(uuid::Uuid, Value)>> {
    items
        .into_iter()
        .map(|item| {
            let v = serde_json::to_value(item).map_err(|e| Error::Internal(e.to_string()))?;
            let id = v
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .unwrap_or_default();
            Ok((id, v))
        })
        .collect()
}

/// Every item of a kind the caller may see, with its id.
async fn items(
    kind: Kind,
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<(uuid::Uuid, Value)>> {
    let ctx = context(state, Vec::new()).await?;
    let (catalog, times) = (ctx.catalog(), ctx.times());
    match kind {
        Kind::Priorities => values(
            catalog
                .priorities
                .iter()
                .map(|p| PriorityRepr::new(p, times.priorities.get(&p.id))),
        ),
        Kind::Environments => values(catalog.environments.iter().map(EnvironmentRepr::from)),
        Kind::Groups => values(
            catalog
                .groups
                .iter()
                .map(|g| GroupRepr::new(g, times.groups.get(&g.id))),
        ),
        Kind::Categories => values(catalog.categories.iter().map(|c| ctx.category(c))),
        Kind::CostTypes => values(
            catalog
                .cost_types
                .iter()
                .map(|c| CostTypeRepr::new(c, times.cost_types.get(&c.id))),
        ),
        Kind::Costs => {
            let store = state.app.store();
            let incidents = store
                .list_incidents(&IncidentFilter {
                    visible_to: visibility(user),
                    order: firefighter_core::IncidentOrder::OldestFirst,
                    ..IncidentFilter::default()
                })
                .await?;
            let details = store.incident_details_many(incidents).await?;
            values(
                details
                    .iter()
                    .flat_map(|d| d.costs.iter().map(|c| ctx.cost(c))),
            )
        }
    }
}

async fn list_of(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_READ)?;
    let mut problems = Vec::new();
    let options = ListOptions::take(&query, &mut problems);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let format = render::negotiate(options.format.as_deref(), &headers)?;
    let all: Vec<Value> = items(kind, &state, &user)
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let (values, total) = match options.page {
        Some(p) => {
            let total = all.len() as u64;
            let start = usize::try_from(p.offset).unwrap_or(usize::MAX);
            let page = all
                .into_iter()
                .skip(start)
                .take(usize::try_from(p.limit).unwrap_or(usize::MAX))
                .collect();
            (page, Some(total))
        }
        None => (all, None),
    };
    render::list_response(values, total, &options, format, &[], &uri)
}

async fn one_of(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_READ)?;
    let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| Error::NotFound)?;
    let mut problems = Vec::new();
    let options = ListOptions::take(&query, &mut problems);
    let format = render::negotiate(options.format.as_deref(), &headers)?;
    let value = if let Kind::Costs = kind {
        let store = state.app.store();
        let cost = store
            .incident_cost(CostId(id))
            .await?
            .ok_or(Error::NotFound)?;
        let details = store
            .incident_details(cost.incident_id)
            .await?
            .ok_or(Error::NotFound)?;
        if !can_see(&user, &details) {
            return Err(Error::NotFound);
        }
        let ctx = context(&state, Vec::new()).await?;
        serde_json::to_value(ctx.cost(&cost)).map_err(|e| Error::Internal(e.to_string()))?
    } else {
        items(kind, &state, &user)
            .await?
            .into_iter()
            .find(|(item, _)| *item == id)
            .map(|(_, v)| v)
            .ok_or(Error::NotFound)?
    };
    render::one_response(value, &options, format, &[])
}

/// Priorities (the original's route name is `severities`).
#[utoipa::path(get, path = "/api/v2/firefighter/severities/", tag = "reference",
    responses((status = 200, body = [PriorityRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn severities_doc() {}

/// Environments.
#[utoipa::path(get, path = "/api/v2/firefighter/environments/", tag = "reference",
    responses((status = 200, body = [EnvironmentRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn environments_doc() {}

/// Groups of incident categories.
#[utoipa::path(get, path = "/api/v2/firefighter/groups/", tag = "reference",
    responses((status = 200, body = [GroupRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn groups_doc() {}

/// Incident categories (also at `components/`).
#[utoipa::path(get, path = "/api/v2/firefighter/incident-categories/", tag = "reference",
    responses((status = 200, body = [super::repr::CategoryRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn categories_doc() {}

/// Cost types.
#[utoipa::path(get, path = "/api/v2/firefighter/incident_cost_types/", tag = "reference",
    responses((status = 200, body = [CostTypeRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn cost_types_doc() {}

/// Recorded costs of the incidents the caller may see.
#[utoipa::path(get, path = "/api/v2/firefighter/incident_costs/", tag = "reference",
    responses((status = 200, body = [super::repr::CostRepr])), security(("tokenAuth" = [])))]
#[allow(dead_code)]
pub(super) fn costs_doc() {}
