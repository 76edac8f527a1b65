//! The dashboard: every active incident, most pressing first.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::IntoResponse;
use firefighter_core::{IncidentFilter, IncidentOrder, Status};

use super::incidents::{IncidentRow, Names};
use super::page::{Chrome, PageResult};
use crate::server::{AppState, visibility};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    rows: Vec<IncidentRow>,
    show_last_event: bool,
}

/// `GET /`: incidents below Closed by status then priority, with the time of their latest event.
pub(super) async fn show(State(state): State<AppState>, chrome: Chrome) -> PageResult {
    let app = &state.app;
    let catalog = app.catalog().await?;
    let filter = IncidentFilter {
        status_below: Some(Status::Closed),
        order: IncidentOrder::StatusThenPriority,
        visible_to: visibility(&chrome.user),
        ..IncidentFilter::default()
    };
    let incidents = app.list_incidents(&filter).await?;
    let tz = app.time_zone();
    let now = chrono::Utc::now();
    let mut rows = Vec::with_capacity(incidents.len());
    for incident in &incidents {
        let mut row = IncidentRow::new(incident, Names(&catalog), tz, now);
        let latest = app
            .store()
            .timeline(incident.id)
            .await?
            .iter()
            .map(|e| e.event_ts)
            .max();
        row.last_event = latest.map(|t| super::format::instant(t, tz));
        rows.push(row);
    }
    Ok(DashboardPage {
        chrome: chrome.in_section("incidents"),
        rows,
        show_last_event: true,
    }
    .into_response())
}
