//! The list page of a kind of reference data.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::store::Catalog;

use super::Kind;
use crate::server::AppState;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, notice};

impl Kind {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Priorities => &[
                "Name",
                "Value",
                "Description",
                "Default",
                "Post-mortem",
                "Declare",
                "Update",
                "SLA",
            ],
            Kind::Environments => &["Value", "Name", "Description", "Order", "Default"],
            Kind::Groups => &["Name", "Description", "Order"],
            Kind::Categories => &["Name", "Group", "Order", "Private", "Deploy warning"],
            Kind::RoleTypes => &["Name", "Slug", "Required", "Order", "Summary"],
            Kind::MilestoneTypes => &[
                "Name",
                "Event type",
                "Set by people",
                "Required",
                "Asked for",
            ],
            Kind::MetricTypes => &["Name", "Code", "Slug", "From", "To"],
            Kind::CostTypes => &["Name", "Category", "Default", "Editable"],
        }
    }

    /// Rows of the list: (key in the URL, cells).
    fn rows(self, c: &Catalog) -> Vec<(String, Vec<String>)> {
        let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
        match self {
            Kind::Priorities => c
                .priorities
                .iter()
                .map(|p| {
                    (
                        p.id.to_string(),
                        vec![
                            format!("{} {}", p.emoji, p.name).trim().to_owned(),
                            p.value.to_string(),
                            p.description.clone(),
                            yes(p.default),
                            yes(p.needs_postmortem),
                            yes(p.enabled_create),
                            yes(p.enabled_update),
                            format!("{} min", p.sla.as_secs() / 60),
                        ],
                    )
                })
                .collect(),
            Kind::Environments => c
                .environments
                .iter()
                .map(|e| {
                    (
                        e.id.to_string(),
                        vec![
                            e.value.clone(),
                            e.name.clone(),
                            e.description.clone(),
                            e.order.to_string(),
                            yes(e.default),
                        ],
                    )
                })
                .collect(),
            Kind::Groups => c
                .groups
                .iter()
                .map(|g| {
                    (
                        g.id.to_string(),
                        vec![g.name.clone(), g.description.clone(), g.order.to_string()],
                    )
                })
                .collect(),
            Kind::Categories => c
                .categories
                .iter()
                .map(|x| {
                    let group = c
                        .groups
                        .iter()
                        .find(|g| g.id == x.group_id)
                        .map(|g| g.name.clone())
                        .unwrap_or_default();
                    (
                        x.id.to_string(),
                        vec![
                            x.name.clone(),
                            group,
                            x.order.to_string(),
                            yes(x.private),
                            yes(x.deploy_warning),
                        ],
                    )
                })
                .collect(),
            Kind::RoleTypes => c
                .role_types
                .iter()
                .map(|r| {
                    (
                        r.id.to_string(),
                        vec![
                            format!("{} {}", r.emoji, r.name).trim().to_owned(),
                            r.slug.clone(),
                            yes(r.required),
                            r.order.to_string(),
                            r.summary.clone(),
                        ],
                    )
                })
                .collect(),
            Kind::MilestoneTypes => c
                .milestone_types
                .iter()
                .map(|m| {
                    (
                        m.event_type.clone(),
                        vec![
                            m.name.clone(),
                            m.event_type.clone(),
                            yes(m.user_editable),
                            yes(m.required),
                            yes(m.asked_for),
                        ],
                    )
                })
                .collect(),
            Kind::MetricTypes => c
                .metric_types
                .iter()
                .map(|m| {
                    (
                        m.slug.clone(),
                        vec![
                            m.name.clone(),
                            m.code.clone(),
                            m.slug.clone(),
                            m.start_event.clone(),
                            m.end_event.clone(),
                        ],
                    )
                })
                .collect(),
            Kind::CostTypes => c
                .cost_types
                .iter()
                .map(|t| {
                    (
                        t.id.to_string(),
                        vec![
                            t.name.clone(),
                            t.category.clone(),
                            yes(t.default),
                            yes(t.editable),
                        ],
                    )
                })
                .collect(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/list.html")]
struct ListPage {
    chrome: Chrome,
    title: &'static str,
    slug: &'static str,
    singular: &'static str,
    columns: &'static [&'static str],
    rows: Vec<(String, Vec<String>)>,
    notice: Option<&'static str>,
}

#[derive(Debug, serde::Deserialize)]
pub(in crate::server::web::backoffice) struct NoticeQuery {
    pub(super) notice: Option<String>,
}

/// `GET /admin/<kind>/`.
pub(in crate::server::web::backoffice) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(kind): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    let catalog = state.app.store().catalog().await?;
    Ok(ListPage {
        chrome,
        title: kind.title(),
        slug: kind.slug(),
        singular: kind.singular(),
        columns: kind.columns(),
        rows: kind.rows(&catalog),
        notice: notice(q.notice.as_deref()),
    }
    .into_response())
}
