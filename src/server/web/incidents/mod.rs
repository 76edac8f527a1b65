//! Incident pages: the list, the detail page with its forms, and the
//! declaration form.

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use firefighter_core::store::Catalog;
use firefighter_core::{EnvironmentId, Incident, PriorityId, Status};

use super::format;
use crate::server::AppState;

mod declare;
mod detail;
pub(super) mod list;
mod postmortem;
mod update;

/// The routes under `/incident`.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/incident/", get(list::show))
        .route(
            "/incident/create/",
            get(declare::form).post(declare::submit),
        )
        .route("/incident/{id}/", get(detail::show))
        .route("/incident/{id}/status", post(update::status))
        .route("/incident/{id}/roles", post(update::roles))
        .route("/incident/{id}/key_events", post(update::key_events))
        .route("/incident/{id}/costs", post(update::cost))
        .route(
            "/incident/{id}/postmortem/",
            get(postmortem::show).post(postmortem::save),
        )
        .route("/incident/{id}/postmortem/create", post(postmortem::create))
        .route("/incident/{id}/postmortem/ready", post(postmortem::ready))
        .route(
            "/incident/{id}/postmortem/actions",
            post(postmortem::add_action),
        )
        .route(
            "/incident/{id}/postmortem/actions/{action}",
            post(postmortem::change_action),
        )
        .route("/incident/{id}/postmortem.md", get(postmortem::markdown))
}

/// Names of reference data, looked up in the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names<'a>(pub(crate) &'a Catalog);

impl Names<'_> {
    /// `🔥 P1`, or the id when the priority is gone.
    pub(crate) fn priority(&self, id: PriorityId) -> String {
        self.0
            .priorities
            .iter()
            .find(|p| p.id == id)
            .map(|p| format!("{} {}", p.emoji, p.name).trim().to_owned())
            .unwrap_or_else(|| id.to_string())
    }

    /// The priority's value (1 for P1), for ordering and colours.
    pub(crate) fn priority_value(&self, id: PriorityId) -> i32 {
        self.0
            .priorities
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.value)
            .unwrap_or(i32::MAX)
    }

    /// The category's name and its group's name.
    pub(crate) fn category(&self, id: firefighter_core::CategoryId) -> (String, String) {
        let Some(c) = self.0.categories.iter().find(|c| c.id == id) else {
            return (id.to_string(), String::new());
        };
        let group = self
            .0
            .groups
            .iter()
            .find(|g| g.id == c.group_id)
            .map(|g| g.name.clone())
            .unwrap_or_default();
        (c.name.clone(), group)
    }

    /// `PRD, STG`.
    pub(crate) fn environments(&self, ids: &[EnvironmentId]) -> String {
        ids.iter()
            .map(|id| {
                self.0
                    .environments
                    .iter()
                    .find(|e| e.id == *id)
                    .map(|e| e.value.clone())
                    .unwrap_or_else(|| id.to_string())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One incident in a table.
#[derive(Debug, Clone)]
pub(crate) struct IncidentRow {
    pub(crate) id: i64,
    pub(crate) title: String,
    pub(crate) status: Status,
    pub(crate) priority: String,
    pub(crate) priority_value: i32,
    pub(crate) category: String,
    pub(crate) group: String,
    pub(crate) environments: String,
    pub(crate) created_at: String,
    pub(crate) age: String,
    /// When the latest timeline entry happened (dashboard only).
    pub(crate) last_event: Option<String>,
    pub(crate) private: bool,
}

impl IncidentRow {
    pub(crate) fn new(
        incident: &Incident,
        names: Names<'_>,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> IncidentRow {
        let (category, group) = names.category(incident.category_id);
        IncidentRow {
            id: incident.id.0,
            title: incident.title.clone(),
            status: incident.status,
            priority: names.priority(incident.priority_id),
            priority_value: names.priority_value(incident.priority_id),
            category,
            group,
            environments: names.environments(&incident.environment_ids),
            created_at: format::instant(incident.created_at, tz),
            age: format::age(incident.created_at, now),
            last_event: None,
            private: incident.private,
        }
    }

    /// CSS class of the status badge.
    pub(crate) fn status_class(&self) -> &'static str {
        self.status.slug()
    }

    /// CSS class of the priority badge (`p1` ... `p5`, `p-other`).
    pub(crate) fn priority_class(&self) -> String {
        priority_class(self.priority_value)
    }
}

/// CSS class of a priority badge.
pub(crate) fn priority_class(value: i32) -> String {
    if (1..=5).contains(&value) {
        format!("p{value}")
    } else {
        "p-other".to_owned()
    }
}
