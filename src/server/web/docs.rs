//! Documentation pages: role types and metrics, written from the reference
//! data so they always say what this installation does.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use firefighter_core::{MetricType, MilestoneType, RoleType, RoleTypeId};

use super::page::{Chrome, PageResult, WebError};
use crate::server::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/docs/role_types/", get(role_types))
        .route("/docs/role_types/{key}/", get(role_type))
        .route("/docs/metrics/", get(metrics))
}

#[derive(Template, WebTemplate)]
#[template(path = "docs/role_types.html")]
struct RoleTypesPage {
    chrome: Chrome,
    role_types: Vec<RoleType>,
}

#[derive(Template, WebTemplate)]
#[template(path = "docs/role_type.html")]
struct RoleTypePage {
    chrome: Chrome,
    role_type: RoleType,
}

/// A metric with the names of its two key events.
#[derive(Debug, Clone)]
struct MetricDoc {
    metric: MetricType,
    start: String,
    end: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "docs/metrics.html")]
struct MetricsPage {
    chrome: Chrome,
    metrics: Vec<MetricDoc>,
    key_events: Vec<MilestoneType>,
}

async fn role_types(State(state): State<AppState>, chrome: Chrome) -> PageResult {
    let catalog = state.app.catalog().await?;
    Ok(RoleTypesPage {
        chrome: chrome.in_section("docs"),
        role_types: catalog.role_types.clone(),
    }
    .into_response())
}

/// A role type by slug or by id.
async fn role_type(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(key): Path<String>,
) -> PageResult {
    let catalog = state.app.catalog().await?;
    let id = key.parse::<RoleTypeId>().ok();
    let role_type = catalog
        .role_types
        .iter()
        .find(|r| r.slug == key || Some(r.id) == id)
        .cloned()
        .ok_or_else(WebError::not_found)?;
    Ok(RoleTypePage {
        chrome: chrome.in_section("docs"),
        role_type,
    }
    .into_response())
}

async fn metrics(State(state): State<AppState>, chrome: Chrome) -> PageResult {
    let catalog = state.app.catalog().await?;
    let name = |slug: &str| {
        catalog
            .milestone_types
            .iter()
            .find(|m| m.event_type == slug)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| slug.to_owned())
    };
    let metrics = catalog
        .metric_types
        .iter()
        .map(|m| MetricDoc {
            start: name(&m.start_event),
            end: name(&m.end_event),
            metric: m.clone(),
        })
        .collect();
    Ok(MetricsPage {
        chrome: chrome.in_section("docs"),
        metrics,
        key_events: catalog.milestone_types.clone(),
    }
    .into_response())
}
