//! Saving a submitted record through core's `upsert_*`, or showing the form
//! again with what is wrong.

use std::time::Duration;

use axum::extract::{Form, Path, State};
use firefighter_core::role::is_valid_role_slug;
use firefighter_core::store::Catalog;
use firefighter_core::{
    CategoryId, CostType, CostTypeId, Environment, EnvironmentId, Group, GroupId, IncidentCategory,
    MetricType, MilestoneType, Priority, PriorityId, ResponseType, RoleType, RoleTypeId,
};

use super::Kind;
use super::form::edit_page;
use crate::server::AppState;
use crate::server::web::backoffice::editor::{Reader, general_messages, refill};
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, unprocessable};

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
pub(in crate::server::web::backoffice) async fn create(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(kind): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    submit(state, chrome, kind, None, FormData(fields)).await
}

/// `POST /admin/<kind>/<key>/`.
pub(in crate::server::web::backoffice) async fn save(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path((kind, key)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let kind = Kind::from_slug(&kind)?;
    submit(state, chrome, kind, Some(key), FormData(fields)).await
}
