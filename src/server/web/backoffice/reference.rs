//! Reference data: list, create and edit priorities, environments, groups,
//! categories, role types, key event (milestone) types, metric types and
//! cost types, through core's `upsert_*`.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::role::is_valid_role_slug;
use firefighter_core::store::Catalog;
use firefighter_core::{
    CategoryId, CostType, CostTypeId, Environment, EnvironmentId, Group, GroupId, IncidentCategory,
    MetricType, MilestoneType, Priority, PriorityId, ResponseType, RoleType, RoleTypeId,
};

use super::editor::{EditPage, Field, Reader, general_messages, refill};
use crate::server::AppState;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::incidents::list::Choice;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice, unprocessable};

/// The kinds of reference data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Priorities,
    Environments,
    Groups,
    Categories,
    RoleTypes,
    MilestoneTypes,
    MetricTypes,
    CostTypes,
}

impl Kind {
    pub(super) const ALL: [Kind; 8] = [
        Kind::Priorities,
        Kind::Environments,
        Kind::Groups,
        Kind::Categories,
        Kind::RoleTypes,
        Kind::MilestoneTypes,
        Kind::MetricTypes,
        Kind::CostTypes,
    ];

    /// The path segment.
    pub(super) fn slug(self) -> &'static str {
        match self {
            Kind::Priorities => "priorities",
            Kind::Environments => "environments",
            Kind::Groups => "groups",
            Kind::Categories => "categories",
            Kind::RoleTypes => "role_types",
            Kind::MilestoneTypes => "milestone_types",
            Kind::MetricTypes => "metric_types",
            Kind::CostTypes => "cost_types",
        }
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Kind::Priorities => "Priorities",
            Kind::Environments => "Environments",
            Kind::Groups => "Groups",
            Kind::Categories => "Incident categories",
            Kind::RoleTypes => "Role types",
            Kind::MilestoneTypes => "Key event types",
            Kind::MetricTypes => "Metric types",
            Kind::CostTypes => "Cost types",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Kind::Priorities => "priority",
            Kind::Environments => "environment",
            Kind::Groups => "group",
            Kind::Categories => "incident category",
            Kind::RoleTypes => "role type",
            Kind::MilestoneTypes => "key event type",
            Kind::MetricTypes => "metric type",
            Kind::CostTypes => "cost type",
        }
    }

    fn from_slug(slug: &str) -> Result<Kind, WebError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.slug() == slug)
            .ok_or_else(WebError::not_found)
    }

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

    /// The fields of a record (`key`: `None` for a new one); `None` when no record has this key.
    fn fields(self, c: &Catalog, key: Option<&str>) -> Option<Vec<Field>> {
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

fn slug_ok(r: &mut Reader<'_>, name: &str, value: &str) {
    if !value.is_empty() && !is_valid_role_slug(value) {
        r.problem(name, "use lowercase letters, digits and underscores only");
    }
}

fn i32_of(n: i64) -> i32 {
    i32::try_from(n).unwrap_or_default()
}

/// Reads and stores a record; `key` is `None` for a new one. Returns the messages when refused.
async fn store(
    state: &AppState,
    kind: Kind,
    c: &Catalog,
    key: Option<&str>,
    form: &FormData,
) -> Result<Result<(), Messages>, WebError> {
    let store = state.app.store();
    let mut r = Reader::new(form);
    let taken = |r: &mut Reader<'_>, field: &str, clash: bool| {
        if clash {
            r.problem(
                field,
                format!(
                    "another {} already uses this {}",
                    kind.singular(),
                    field.replace('_', " ")
                ),
            );
        }
    };
    match kind {
        Kind::Priorities => {
            let id = key
                .and_then(|k| k.parse::<PriorityId>().ok())
                .unwrap_or_default();
            let p = Priority {
                id,
                name: r.text("name", 1, 32),
                value: i32_of(r.int("value", 0, 1000)),
                emoji: r.text("emoji", 0, 16),
                description: r.text("description", 0, 500),
                order: i32_of(r.int("order", -10_000, 10_000)),
                default: r.checked("default"),
                needs_postmortem: r.checked("needs_postmortem"),
                enabled_create: r.checked("enabled_create"),
                enabled_update: r.checked("enabled_update"),
                reminder_time: Duration::from_secs(
                    60 * r.int("reminder_minutes", 1, 60 * 24 * 365) as u64,
                ),
                postmortem_reminder_time: Duration::from_secs(
                    3600 * r.int("postmortem_reminder_hours", 1, 24 * 365) as u64,
                ),
                postmortem_reminder_repeat_time: Duration::from_secs(
                    3600 * r.int("postmortem_reminder_repeat_hours", 0, 24 * 365) as u64,
                ),
                sla: Duration::from_secs(60 * r.int("sla_minutes", 1, 60 * 24 * 365) as u64),
                recommended_response_type: match form.text("response_type") {
                    "critical" => Some(ResponseType::Critical),
                    "normal" => Some(ResponseType::Normal),
                    _ => None,
                },
            };
            taken(
                &mut r,
                "name",
                c.priorities
                    .iter()
                    .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&p.name)),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            if p.default {
                // One default: the previous one gives way.
                for other in c.priorities.iter().filter(|x| x.default && x.id != id) {
                    store
                        .upsert_priority(&Priority {
                            default: false,
                            ..other.clone()
                        })
                        .await?;
                }
            }
            store.upsert_priority(&p).await?;
        }
        Kind::Environments => {
            let id = key
                .and_then(|k| k.parse::<EnvironmentId>().ok())
                .unwrap_or_default();
            let e = Environment {
                id,
                value: r.text("value", 1, 16),
                name: r.text("name", 1, 64),
                description: r.text("description", 0, 500),
                order: i32_of(r.int("order", -10_000, 10_000)),
                default: r.checked("default"),
            };
            taken(
                &mut r,
                "value",
                c.environments
                    .iter()
                    .any(|x| x.id != id && x.value.eq_ignore_ascii_case(&e.value)),
            );
            taken(
                &mut r,
                "name",
                c.environments
                    .iter()
                    .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&e.name)),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            if e.default {
                for other in c.environments.iter().filter(|x| x.default && x.id != id) {
                    store
                        .upsert_environment(&Environment {
                            default: false,
                            ..other.clone()
                        })
                        .await?;
                }
            }
            store.upsert_environment(&e).await?;
        }
        Kind::Groups => {
            let id = key
                .and_then(|k| k.parse::<GroupId>().ok())
                .unwrap_or_default();
            let g = Group {
                id,
                name: r.text("name", 1, 128),
                description: r.text("description", 0, 500),
                order: i32_of(r.int("order", -10_000, 10_000)),
            };
            taken(
                &mut r,
                "name",
                c.groups
                    .iter()
                    .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&g.name)),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_group(&g).await?;
        }
        Kind::Categories => {
            let id = key
                .and_then(|k| k.parse::<CategoryId>().ok())
                .unwrap_or_default();
            let group_id = r.parsed::<GroupId>("group", "a group");
            if let Some(g) = group_id
                && !c.groups.iter().any(|x| x.id == g)
            {
                r.problem("group", "this group does not exist");
            }
            let x = IncidentCategory {
                id,
                name: r.text("name", 1, 128),
                description: r.text("description", 0, 500),
                order: i32_of(r.int("order", -10_000, 10_000)),
                group_id: group_id.unwrap_or_default(),
                private: r.checked("private"),
                deploy_warning: r.checked("deploy_warning"),
                enabled_create: r.checked("enabled_create"),
            };
            taken(
                &mut r,
                "name",
                c.categories.iter().any(|o| {
                    o.id != id && o.group_id == x.group_id && o.name.eq_ignore_ascii_case(&x.name)
                }),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_category(&x).await?;
        }
        Kind::RoleTypes => {
            let id = key
                .and_then(|k| k.parse::<RoleTypeId>().ok())
                .unwrap_or_default();
            let rt = RoleType {
                id,
                slug: r.text("slug", 1, 64),
                name: r.text("name", 1, 128),
                emoji: r.text("emoji", 0, 16),
                required: r.checked("required"),
                order: i32_of(r.int("order", -10_000, 10_000)),
                summary: r.text("summary", 0, 500),
                description: r.text("description", 0, 10_000),
                aka: r.text("aka", 0, 200),
            };
            slug_ok(&mut r, "slug", &rt.slug);
            taken(
                &mut r,
                "slug",
                c.role_types.iter().any(|x| x.id != id && x.slug == rt.slug),
            );
            taken(
                &mut r,
                "name",
                c.role_types
                    .iter()
                    .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&rt.name)),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_role_type(&rt).await?;
        }
        Kind::MilestoneTypes => {
            let event_type = match key {
                Some(k) => k.to_owned(),
                None => r.text("event_type", 1, 64),
            };
            slug_ok(&mut r, "event_type", &event_type);
            if key.is_none() {
                taken(
                    &mut r,
                    "event_type",
                    c.milestone_types.iter().any(|x| x.event_type == event_type),
                );
            }
            let m = MilestoneType {
                event_type,
                name: r.text("name", 1, 128),
                summary: r.text("summary", 0, 500),
                user_editable: r.checked("user_editable"),
                required: r.checked("required"),
                asked_for: r.checked("asked_for"),
                description: r.text("description", 0, 10_000),
            };
            if m.required && !m.user_editable && key.is_none() {
                r.problem(
                    "required",
                    "a required key event that people cannot set could never be recorded",
                );
            }
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_milestone_type(&m).await?;
        }
        Kind::MetricTypes => {
            let slug = match key {
                Some(k) => k.to_owned(),
                None => r.text("slug", 1, 64),
            };
            slug_ok(&mut r, "slug", &slug);
            if key.is_none() {
                taken(
                    &mut r,
                    "slug",
                    c.metric_types.iter().any(|x| x.slug == slug),
                );
            }
            let m = MetricType {
                slug,
                code: r.text("code", 1, 16),
                name: r.text("name", 1, 128),
                description: r.text("description", 0, 10_000),
                start_event: r.text("start_event", 1, 64),
                end_event: r.text("end_event", 1, 64),
            };
            for (field, value) in [("start_event", &m.start_event), ("end_event", &m.end_event)] {
                if !value.is_empty() && !c.milestone_types.iter().any(|e| &e.event_type == value) {
                    r.problem(field, "this key event type does not exist");
                }
            }
            if !m.start_event.is_empty() && m.start_event == m.end_event {
                r.problem(
                    "end_event",
                    "a metric runs between two different key events",
                );
            }
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_metric_type(&m).await?;
        }
        Kind::CostTypes => {
            let id = key
                .and_then(|k| k.parse::<CostTypeId>().ok())
                .unwrap_or_default();
            let t = CostType {
                id,
                name: r.text("name", 1, 128),
                description: r.text("description", 0, 500),
                category: r.text("category", 0, 128),
                default: r.checked("default"),
                editable: r.checked("editable"),
            };
            taken(
                &mut r,
                "name",
                c.cost_types
                    .iter()
                    .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&t.name)),
            );
            if !r.messages.is_empty() {
                return Ok(Err(r.messages));
            }
            store.upsert_cost_type(&t).await?;
        }
    }
    state.app.invalidate_catalog();
    tracing::info!(
        kind = kind.slug(),
        key = key.unwrap_or("new"),
        "reference data saved from the back-office"
    );
    Ok(Ok(()))
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
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /admin/<kind>/`.
pub(super) async fn list(
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

fn edit_page(
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
pub(super) async fn new(
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
pub(super) async fn edit(
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

async fn submit(
    state: AppState,
    chrome: Chrome,
    kind: Kind,
    key: Option<String>,
    form: FormData,
) -> PageResult {
    let catalog = state.app.store().catalog().await?;
    let mut fields = kind
        .fields(&catalog, key.as_deref())
        .ok_or_else(WebError::not_found)?;
    match store(&state, kind, &catalog, key.as_deref(), &form).await? {
        Ok(()) => Ok(chrome.redirect(&format!(
            "/admin/{}/?notice={}",
            kind.slug(),
            if key.is_some() { "saved" } else { "created" }
        ))),
        Err(messages) => {
            refill(&mut fields, &form, &messages);
            let general = general_messages(&fields, &messages);
            Ok(unprocessable(edit_page(
                chrome,
                kind,
                key.as_deref(),
                fields,
                general,
                None,
            )))
        }
    }
}

/// `POST /admin/<kind>/new`.
pub(super) async fn create(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(kind): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    submit(state, chrome, kind, None, FormData(fields)).await
}

/// `POST /admin/<kind>/<key>/`.
pub(super) async fn save(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path((kind, key)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    submit(state, chrome, kind, Some(key), FormData(fields)).await
}
