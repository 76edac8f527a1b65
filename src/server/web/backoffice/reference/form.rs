//! The form of one record, new or existing.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::store::Catalog;
use firefighter_core::{
    CategoryId, CostType, CostTypeId, Environment, EnvironmentId, Group, GroupId, IncidentCategory,
    MetricType, MilestoneType, Priority, PriorityId, ResponseType, RoleType, RoleTypeId,
};

use super::Kind;
use super::list::NoticeQuery;
use crate::server::AppState;
use crate::server::web::backoffice::editor::{EditPage, Field};
use crate::server::web::incidents::list::Choice;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice};

impl Kind {
    /// The fields of a record (`key`: `None` for a new one); `None` when no record has this key.
    pub(super) fn fields(self, c: &Catalog, key: Option<&str>) -> Option<Vec<Field>> {
        let is_new = key.is_none();
        Some(match self {
            Kind::Priorities => {
                let p = match key {
                    Some(k) => c.priorities.iter().find(|p| p.id.to_string() == k)?.clone(),
                    None => Priority {
                        id: PriorityId::new(),
                        name: String::new(),
                        value: 3,
                        emoji: String::new(),
                        description: String::new(),
                        order: c.priorities.len() as i32 + 1,
                        default: false,
                        needs_postmortem: false,
                        enabled_create: true,
                        enabled_update: true,
                        reminder_time: Duration::from_secs(3600),
                        postmortem_reminder_time: Duration::from_secs(5 * 24 * 3600),
                        postmortem_reminder_repeat_time: Duration::ZERO,
                        sla: Duration::from_secs(4 * 3600),
                        recommended_response_type: None,
                    },
                };
                let response = |v: &str, l: &str, s: bool| Choice {
                    value: v.into(),
                    label: l.into(),
                    selected: s,
                };
                vec![
                    Field::text("name", "Name", p.name)
                        .required()
                        .help("P1 … P5, GAMEDAY"),
                    Field::number("value", "Value", p.value)
                        .required()
                        .help("1 is the most urgent; rules compare values (below 4: P1 to P3)."),
                    Field::text("emoji", "Emoji", p.emoji),
                    Field::text("description", "Description", p.description),
                    Field::number("order", "Order", p.order),
                    Field::checkbox(
                        "default",
                        "Default (chosen when nothing else is)",
                        p.default,
                    ),
                    Field::checkbox(
                        "needs_postmortem",
                        "Needs a post-mortem (production incidents)",
                        p.needs_postmortem,
                    ),
                    Field::checkbox(
                        "enabled_create",
                        "Can be chosen when declaring",
                        p.enabled_create,
                    ),
                    Field::checkbox(
                        "enabled_update",
                        "Can be chosen when updating",
                        p.enabled_update,
                    ),
                    Field::number(
                        "reminder_minutes",
                        "Reminder after (minutes)",
                        p.reminder_time.as_secs() / 60,
                    )
                    .required(),
                    Field::number(
                        "postmortem_reminder_hours",
                        "Post-mortem reminder after mitigation (hours)",
                        p.postmortem_reminder_time.as_secs() / 3600,
                    )
                    .required(),
                    Field::number(
                        "postmortem_reminder_repeat_hours",
                        "Post-mortem reminder again after (hours without progress)",
                        p.postmortem_reminder_repeat_time.as_secs() / 3600,
                    )
                    .required()
                    .help("0 reminds once."),
                    Field::number(
                        "sla_minutes",
                        "Time to mitigate target (minutes)",
                        p.sla.as_secs() / 60,
                    )
                    .required(),
                    Field::select(
                        "response_type",
                        "Response",
                        vec![
                            response(
                                "",
                                "From the value (critical for P1 to P3)",
                                p.recommended_response_type.is_none(),
                            ),
                            response(
                                "critical",
                                "Critical: conversation, responders, announcements",
                                p.recommended_response_type == Some(ResponseType::Critical),
                            ),
                            response(
                                "normal",
                                "Normal: tracked only",
                                p.recommended_response_type == Some(ResponseType::Normal),
                            ),
                        ],
                    ),
                ]
            }
            Kind::Environments => {
                let e = match key {
                    Some(k) => c
                        .environments
                        .iter()
                        .find(|e| e.id.to_string() == k)?
                        .clone(),
                    None => Environment {
                        id: EnvironmentId::new(),
                        value: String::new(),
                        name: String::new(),
                        description: String::new(),
                        order: c.environments.len() as i32 + 1,
                        default: false,
                    },
                };
                vec![
                    Field::text("value", "Code", e.value).required().help(
                        "Short and unique: PRD, STG… Post-mortems are only required for PRD.",
                    ),
                    Field::text("name", "Name", e.name).required(),
                    Field::text("description", "Description", e.description),
                    Field::number("order", "Order", e.order)
                        .help("The lowest order of an incident's environments is its primary one."),
                    Field::checkbox("default", "Default", e.default),
                ]
            }
            Kind::Groups => {
                let g = match key {
                    Some(k) => c.groups.iter().find(|g| g.id.to_string() == k)?.clone(),
                    None => Group {
                        id: GroupId::new(),
                        name: String::new(),
                        description: String::new(),
                        order: c.groups.len() as i32 + 1,
                    },
                };
                vec![
                    Field::text("name", "Name", g.name).required(),
                    Field::text("description", "Description", g.description),
                    Field::number("order", "Order", g.order),
                ]
            }
            Kind::Categories => {
                let x = match key {
                    Some(k) => c.categories.iter().find(|x| x.id.to_string() == k)?.clone(),
                    None => IncidentCategory {
                        id: CategoryId::new(),
                        name: String::new(),
                        description: String::new(),
                        order: 1,
                        group_id: c.groups.first().map(|g| g.id).unwrap_or_default(),
                        private: false,
                        deploy_warning: false,
                        enabled_create: true,
                    },
                };
                let groups = c
                    .groups
                    .iter()
                    .map(|g| Choice {
                        value: g.id.to_string(),
                        label: g.name.clone(),
                        selected: g.id == x.group_id,
                    })
                    .collect();
                vec![
                    Field::text("name", "Name", x.name).required(),
                    Field::select("group", "Group", groups).required(),
                    Field::text("description", "Description", x.description),
                    Field::number("order", "Order in its group", x.order),
                    Field::checkbox(
                        "private",
                        "Incidents are private unless said otherwise",
                        x.private,
                    ),
                    Field::checkbox(
                        "deploy_warning",
                        "P1 production incidents warrant a deployment freeze warning",
                        x.deploy_warning,
                    ),
                    Field::checkbox(
                        "enabled_create",
                        "Offered when declaring (clear it to retire the category)",
                        x.enabled_create,
                    ),
                ]
            }
            Kind::RoleTypes => {
                let r = match key {
                    Some(k) => c.role_types.iter().find(|r| r.id.to_string() == k)?.clone(),
                    None => RoleType {
                        id: RoleTypeId::new(),
                        slug: String::new(),
                        name: String::new(),
                        emoji: String::new(),
                        required: false,
                        order: c.role_types.len() as i32 + 1,
                        summary: String::new(),
                        description: String::new(),
                        aka: String::new(),
                    },
                };
                vec![
                    Field::text("slug", "Slug", r.slug)
                        .required()
                        .help("Lowercase letters, digits and underscores."),
                    Field::text("name", "Name", r.name).required(),
                    Field::text("emoji", "Emoji", r.emoji),
                    Field::checkbox(
                        "required",
                        "Required: given to the declarer, never left empty",
                        r.required,
                    ),
                    Field::number("order", "Order", r.order),
                    Field::text("summary", "Summary", r.summary),
                    Field::long_text("description", "Description", r.description),
                    Field::text("aka", "Also known as", r.aka),
                ]
            }
            Kind::MilestoneTypes => {
                let m = match key {
                    Some(k) => c
                        .milestone_types
                        .iter()
                        .find(|m| m.event_type == k)?
                        .clone(),
                    None => MilestoneType {
                        event_type: String::new(),
                        name: String::new(),
                        summary: String::new(),
                        user_editable: true,
                        required: false,
                        asked_for: true,
                        description: String::new(),
                    },
                };
                vec![
                    Field::text("event_type", "Event type", m.event_type)
                        .required()
                        .read_only(!is_new)
                        .help("Lowercase letters, digits and underscores; it identifies the key event and cannot change."),
                    Field::text("name", "Name", m.name).required(),
                    Field::text("summary", "Summary", m.summary),
                    Field::checkbox("user_editable", "People may set it", m.user_editable),
                    Field::checkbox("required", "Required before closing a P1 to P3", m.required),
                    Field::checkbox("asked_for", "Asked for in the key events form", m.asked_for),
                    Field::long_text("description", "Description", m.description),
                ]
            }
            Kind::MetricTypes => {
                let m = match key {
                    Some(k) => c.metric_types.iter().find(|m| m.slug == k)?.clone(),
                    None => MetricType {
                        slug: String::new(),
                        code: String::new(),
                        name: String::new(),
                        description: String::new(),
                        end_event: String::new(),
                        start_event: String::new(),
                    },
                };
                let events = |chosen: &str| {
                    c.milestone_types
                        .iter()
                        .map(|e| Choice {
                            value: e.event_type.clone(),
                            label: e.name.clone(),
                            selected: e.event_type == chosen,
                        })
                        .collect::<Vec<_>>()
                };
                vec![
                    Field::text("slug", "Slug", m.slug.clone())
                        .required()
                        .read_only(!is_new)
                        .help("Lowercase letters, digits and underscores; it identifies the metric and cannot change."),
                    Field::text("code", "Code", m.code).required().help("TTD, TTM…"),
                    Field::text("name", "Name", m.name).required(),
                    Field::long_text("description", "Description", m.description),
                    Field::select("start_event", "From key event", events(&m.start_event)).required(),
                    Field::select("end_event", "To key event", events(&m.end_event)).required(),
                ]
            }
            Kind::CostTypes => {
                let t = match key {
                    Some(k) => c.cost_types.iter().find(|t| t.id.to_string() == k)?.clone(),
                    None => CostType {
                        id: CostTypeId::new(),
                        name: String::new(),
                        description: String::new(),
                        category: String::new(),
                        default: false,
                        editable: true,
                    },
                };
                vec![
                    Field::text("name", "Name", t.name).required(),
                    Field::text("description", "Description", t.description),
                    Field::text("category", "Category", t.category),
                    Field::checkbox("default", "Proposed by default", t.default),
                    Field::checkbox("editable", "Can be edited by people", t.editable),
                ]
            }
        })
    }
}

pub(super) fn edit_page(
    chrome: Chrome,
    kind: Kind,
    key: Option<&str>,
    fields: Vec<Field>,
    messages: Vec<String>,
    notice: Option<&'static str>,
) -> EditPage {
    EditPage {
        chrome,
        title: match key {
            Some(_) => format!("Edit {}", kind.singular()),
            None => format!("New {}", kind.singular()),
        },
        back: format!("/admin/{}/", kind.slug()),
        back_label: kind.title().to_owned(),
        action: match key {
            Some(k) => format!("/admin/{}/{}/", kind.slug(), k),
            None => format!("/admin/{}/new", kind.slug()),
        },
        fields,
        messages,
        submit: "Save",
        notice,
        extra: None,
    }
}

/// `GET /admin/<kind>/new`.
pub(in crate::server::web::backoffice) async fn new(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(kind): Path<String>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    let catalog = state.app.store().catalog().await?;
    let fields = kind
        .fields(&catalog, None)
        .ok_or_else(WebError::not_found)?;
    Ok(edit_page(chrome, kind, None, fields, Vec::new(), None).into_response())
}

/// `GET /admin/<kind>/<key>/`.
pub(in crate::server::web::backoffice) async fn edit(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path((kind, key)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    let catalog = state.app.store().catalog().await?;
    let fields = kind
        .fields(&catalog, Some(&key))
        .ok_or_else(WebError::not_found)?;
    Ok(edit_page(
        chrome,
        kind,
        Some(&key),
        fields,
        Vec::new(),
        notice(q.notice.as_deref()),
    )
    .into_response())
}
