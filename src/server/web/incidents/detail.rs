//! `GET /incident/<id>/`: everything about an incident, and the forms that
//! change it (status, roles, key events, costs). A refused form comes back
//! on this page with its messages next to it.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use chrono_tz::Tz;
use firefighter_core::lifecycle::ClosureReason;
use firefighter_core::store::Catalog;
use firefighter_core::timeline::field;
use firefighter_core::{IncidentDetails, IncidentId, Status, TimelineEntry, User, UserId, metric};

use super::list::{Choice, ChoiceGroup};
use super::{Names, priority_class};
use crate::server::AppState;
use crate::server::auth::can_see;
use crate::server::web::extensions::{ExternalLink, external_links};
use crate::server::web::format;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, WebError, notice, unprocessable};

/// Which form of the page was refused, with what was typed in it.
#[derive(Debug, Clone, Default)]
pub(super) struct Refused {
    pub(super) status: Messages,
    pub(super) roles: Messages,
    pub(super) key_events: Messages,
    pub(super) cost: Messages,
    pub(super) postmortem: Messages,
    /// The submitted form, to fill it again.
    pub(super) form: FormData,
}

#[derive(Debug, Clone)]
struct RoleView {
    slug: String,
    label: String,
    holder: Option<String>,
    required: bool,
    options: Vec<Choice>,
}

#[derive(Debug, Clone)]
struct ChangeView {
    field: String,
    old: String,
    new: String,
}

#[derive(Debug, Clone)]
struct EntryView {
    when: String,
    who: String,
    status: Option<Status>,
    kind: Option<String>,
    message: Option<String>,
    changes: Vec<ChangeView>,
}

impl EntryView {
    fn status_class(&self) -> &'static str {
        self.status.map(Status::slug).unwrap_or("")
    }
}

#[derive(Debug, Clone)]
struct KeyEventView {
    slug: String,
    name: String,
    summary: String,
    at: Option<String>,
    input: String,
    editable: bool,
    required: bool,
}

#[derive(Debug, Clone)]
struct MetricView {
    name: String,
    code: String,
    duration: String,
    description: String,
}

#[derive(Debug, Clone)]
struct CostView {
    kind: String,
    amount: String,
    details: String,
    recorded: String,
}

#[derive(Debug, Clone)]
struct ImpactView {
    audience: String,
    level: String,
}

/// The incident's facts, ready to print.
#[derive(Debug, Clone)]
struct Facts {
    id: i64,
    title: String,
    description: String,
    status: Status,
    priority: String,
    priority_class: String,
    category: String,
    group: String,
    environments: String,
    created_by: String,
    created_at: String,
    updated_at: String,
    mitigated_at: Option<String>,
    closed_at: Option<String>,
    closure_reason: Option<String>,
    closure_reference: String,
    canonical_name: String,
    private: bool,
    ignore: bool,
    tags: Vec<String>,
}

/// The update-status form.
#[derive(Debug, Clone)]
struct StatusForm {
    statuses: Vec<Choice>,
    /// Closing now would be an early closure: a reason is asked for.
    asks_closure_reason: bool,
    closure_reasons: Vec<Choice>,
    closure_reference: String,
    message: String,
    priorities: Vec<Choice>,
    categories: Vec<ChoiceGroup>,
    messages: Vec<String>,
}

/// A post-mortem document, on the incident page.
#[derive(Debug, Clone)]
struct DocumentView {
    backend: String,
    url: String,
    /// The built-in one: written on its own page.
    builtin: bool,
    ready: bool,
}

/// The post-mortem card.
#[derive(Debug, Clone)]
struct PostMortemCard {
    documents: Vec<DocumentView>,
    /// A backend has none yet and the incident is mitigated: offer to create.
    can_create: bool,
    /// No backend is enabled at all.
    no_backend: bool,
    /// External backends asked to create one that have not yet.
    pending: Vec<String>,
    required: bool,
    messages: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/detail.html")]
struct DetailPage {
    postmortem: PostMortemCard,
    chrome: Chrome,
    notice: Option<&'static str>,
    facts: Facts,
    roles: Vec<RoleView>,
    members: Vec<String>,
    impacts: Vec<ImpactView>,
    links: Vec<ExternalLink>,
    timeline: Vec<EntryView>,
    key_events: Vec<KeyEventView>,
    metrics: Vec<MetricView>,
    costs: Vec<CostView>,
    cost_total: String,
    cost_types: Vec<Choice>,
    status_form: StatusForm,
    role_messages: Vec<String>,
    key_event_messages: Vec<String>,
    cost_messages: Vec<String>,
    cost_amount: String,
    cost_details: String,
    closed: bool,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

impl NoticeQuery {
    pub(super) fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let id = parse_id(&id)?;
    let details = visible_details(&state, &chrome, id).await?;
    render(
        &state,
        chrome,
        details,
        Refused::default(),
        notice(q.notice.as_deref()),
    )
    .await
}

/// The id in the path; anything else is a 404.
pub(super) fn parse_id(text: &str) -> Result<IncidentId, WebError> {
    text.trim_start_matches('#')
        .parse::<i64>()
        .map(IncidentId)
        .map_err(|_| WebError::not_found())
}

/// The incident, if it exists and the viewer may see it (404 otherwise, so
/// that private incidents are not revealed).
pub(super) async fn visible_details(
    state: &AppState,
    chrome: &Chrome,
    id: IncidentId,
) -> Result<IncidentDetails, WebError> {
    let details = state
        .app
        .store()
        .incident_details(id)
        .await?
        .ok_or_else(WebError::not_found)?;
    if !can_see(&chrome.user, &details) {
        return Err(WebError::not_found());
    }
    Ok(details)
}

/// The incident page after a refused post-mortem creation.
pub(super) async fn refused_postmortem(
    state: &AppState,
    chrome: Chrome,
    id: IncidentId,
    messages: Messages,
) -> PageResult {
    refused(
        state,
        chrome,
        id,
        Refused {
            postmortem: messages,
            ..Refused::default()
        },
    )
    .await
}

/// The page after a refused form: 422 with the messages.
pub(super) async fn refused(
    state: &AppState,
    chrome: Chrome,
    id: IncidentId,
    refused: Refused,
) -> PageResult {
    let details = visible_details(state, &chrome, id).await?;
    let page = render(state, chrome, details, refused, None).await?;
    Ok(unprocessable(page))
}

fn user_label(user: &User) -> String {
    if user.name.is_empty() {
        user.email.clone()
    } else {
        format!("{} <{}>", user.name, user.email)
    }
}

fn field_label(name: &str, catalog: &Catalog) -> String {
    if let Some(slug) = name.strip_prefix(field::ROLE_PREFIX) {
        return catalog
            .role_types
            .iter()
            .find(|r| r.slug == slug)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| slug.to_owned());
    }
    if let Some(slug) = name.strip_prefix(field::KEY_EVENT_PREFIX) {
        return catalog
            .milestone_types
            .iter()
            .find(|m| m.event_type == slug)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| slug.to_owned());
    }
    if let Some(kind) = name.strip_prefix("cost:") {
        return format!("Cost ({kind})");
    }
    let mut label = name.replace('_', " ");
    if let Some(first) = label.get(..1) {
        label = first.to_uppercase() + &label[1..];
    }
    label
}

fn change_value(field_name: &str, value: Option<&str>, tz: Tz) -> String {
    if field_name == field::STATUS
        && let Some(s) = value.and_then(Status::parse)
    {
        return s.label().to_owned();
    }
    if field_name == field::CLOSURE_REASON
        && let Some(r) = value.and_then(ClosureReason::parse)
    {
        return r.label().to_owned();
    }
    format::change_value(value, tz)
}

fn kind_label(kind: &str, catalog: &Catalog) -> String {
    catalog
        .milestone_types
        .iter()
        .find(|m| m.event_type == kind)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| kind.replace('_', " "))
}

fn entry_view(
    entry: &TimelineEntry,
    users: &HashMap<UserId, User>,
    catalog: &Catalog,
    tz: Tz,
) -> EntryView {
    EntryView {
        when: format::instant(entry.event_ts, tz),
        who: entry
            .created_by
            .map(|id| {
                users
                    .get(&id)
                    .map(user_label)
                    .unwrap_or_else(|| id.to_string())
            })
            .unwrap_or_else(|| "System".to_owned()),
        status: entry.status,
        kind: entry.event_type.as_deref().map(|k| kind_label(k, catalog)),
        message: entry.message.clone(),
        changes: entry
            .changes
            .iter()
            .map(|c| ChangeView {
                field: field_label(&c.field, catalog),
                old: change_value(&c.field, c.old.as_deref(), tz),
                new: change_value(&c.field, c.new.as_deref(), tz),
            })
            .collect(),
    }
}

fn impacts(details: &IncidentDetails, catalog: &Catalog) -> Vec<ImpactView> {
    let Some(serde_json::Value::Object(levels)) = details.incident.custom_fields.get("impacts")
    else {
        return Vec::new();
    };
    catalog
        .impact_types
        .iter()
        .filter_map(|t| {
            let code = levels.get(&t.value)?.as_str()?;
            let level = t
                .levels
                .iter()
                .find(|l| l.level.code() == code)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| code.to_owned());
            Some(ImpactView {
                audience: format!("{} {}", t.emoji, t.name).trim().to_owned(),
                level,
            })
        })
        .collect()
}

async fn render(
    state: &AppState,
    chrome: Chrome,
    details: IncidentDetails,
    refused: Refused,
    notice: Option<&'static str>,
) -> PageResult {
    let app = &state.app;
    let catalog = app.catalog().await?;
    let tz = app.time_zone();
    let store = app.store();
    let incident = &details.incident;
    let names = Names(&catalog);
    let timeline = store.timeline(incident.id).await?;
    let events = store.incident_events(incident.id).await?;
    let offered = app.offered_statuses(incident.id).await?;

    let mut wanted: Vec<UserId> = details.members.clone();
    wanted.push(incident.created_by);
    wanted.extend(details.roles.iter().map(|r| r.user_id));
    wanted.extend(timeline.iter().filter_map(|e| e.created_by));
    wanted.sort();
    wanted.dedup();
    let users: HashMap<UserId, User> = store
        .users(&wanted)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let label_of = |id: UserId| {
        users
            .get(&id)
            .map(user_label)
            .unwrap_or_else(|| id.to_string())
    };

    let (category, group) = names.category(incident.category_id);
    let facts = Facts {
        id: incident.id.0,
        title: incident.title.clone(),
        description: incident.description.clone(),
        status: incident.status,
        priority: names.priority(incident.priority_id),
        priority_class: priority_class(names.priority_value(incident.priority_id)),
        category,
        group,
        environments: names.environments(&incident.environment_ids),
        created_by: label_of(incident.created_by),
        created_at: format::instant(incident.created_at, tz),
        updated_at: format::instant(incident.updated_at, tz),
        mitigated_at: incident.mitigated_at.map(|t| format::instant(t, tz)),
        closed_at: incident.closed_at.map(|t| format::instant(t, tz)),
        closure_reason: incident.closure_reason.map(|r| r.label().to_owned()),
        closure_reference: incident.closure_reference.clone(),
        canonical_name: incident.canonical_name(tz),
        private: incident.private,
        ignore: incident.ignore,
        tags: incident.tags.clone(),
    };

    let form = &refused.form;
    let submitted = !form.0.is_empty();
    let assignable: Vec<User> = store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.is_active && !u.bot)
        .collect();
    let roles = catalog
        .role_types
        .iter()
        .map(|rt| {
            let holder = details
                .roles
                .iter()
                .find(|r| r.role_type_id == rt.id)
                .map(|r| r.user_id);
            let chosen = if submitted && !refused.roles.is_empty() {
                Some(form.text(&format!("role.{}", rt.slug)).to_owned())
            } else {
                None
            };
            let selected = |u: &User| match &chosen {
                Some(c) => c == &u.id.to_string(),
                None => holder == Some(u.id),
            };
            RoleView {
                slug: rt.slug.clone(),
                label: format!("{} {}", rt.emoji, rt.name).trim().to_owned(),
                holder: holder.map(label_of),
                required: rt.required,
                options: assignable
                    .iter()
                    .map(|u| Choice {
                        value: u.id.to_string(),
                        label: user_label(u),
                        selected: selected(u),
                    })
                    .collect(),
            }
        })
        .collect();
    let members = details.members.iter().map(|m| label_of(*m)).collect();

    let key_events = catalog
        .milestone_types
        .iter()
        .filter_map(|m| {
            let recorded = details
                .key_events
                .iter()
                .find(|k| k.event_type == m.event_type);
            if recorded.is_none() && !(m.asked_for && m.user_editable) {
                return None;
            }
            let input = if submitted && !refused.key_events.is_empty() {
                form.text(&format!("key_event.{}", m.event_type)).to_owned()
            } else {
                recorded
                    .map(|k| format::datetime_local(k.at, tz))
                    .unwrap_or_default()
            };
            Some(KeyEventView {
                slug: m.event_type.clone(),
                name: m.name.clone(),
                summary: m.summary.clone(),
                at: recorded.map(|k| format::instant(k.at, tz)),
                input,
                editable: m.user_editable,
                required: m.required,
            })
        })
        .collect();

    let metrics = metric::compute(&catalog.metric_types, &details.key_events)
        .into_iter()
        .filter_map(|m| {
            let t = catalog.metric_types.iter().find(|t| t.slug == m.slug)?;
            Some(MetricView {
                name: t.name.clone(),
                code: t.code.clone(),
                duration: metric::format_hms(m.duration),
                description: t.description.clone(),
            })
        })
        .collect();

    let money = |cents: i64| {
        format!(
            "{} {}",
            firefighter_core::cost::format_cents(cents),
            firefighter_core::cost::CURRENCY
        )
    };
    let costs = details
        .costs
        .iter()
        .map(|c| CostView {
            kind: catalog
                .cost_types
                .iter()
                .find(|t| t.id == c.cost_type_id)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| c.cost_type_id.to_string()),
            amount: c
                .amount_cents
                .map(money)
                .unwrap_or_else(|| "not known yet".to_owned()),
            details: c.details.clone(),
            recorded: format::instant(c.created_at, tz),
        })
        .collect();
    let cost_total = money(details.costs.iter().filter_map(|c| c.amount_cents).sum());
    let chosen_cost_type = form.text("cost_type");
    let cost_types = catalog
        .cost_types
        .iter()
        .map(|t| Choice {
            value: t.id.to_string(),
            label: t.name.clone(),
            selected: if submitted && !refused.cost.is_empty() {
                chosen_cost_type == t.id.to_string()
            } else {
                t.default
            },
        })
        .collect();

    let status_refused = submitted && !refused.status.is_empty();
    let chosen_status = if status_refused {
        Status::parse(form.text("status"))
    } else {
        None
    };
    let status_form = StatusForm {
        statuses: offered
            .iter()
            .map(|s| Choice {
                value: s.slug().to_owned(),
                label: if *s == incident.status {
                    format!("{} (current)", s.label())
                } else {
                    s.label().to_owned()
                },
                selected: chosen_status.unwrap_or(incident.status) == *s,
            })
            .collect(),
        asks_closure_reason: offered.contains(&Status::Closed)
            && incident.status < Status::Mitigated
            && incident.mitigated_at.is_none()
            && !incident.ignore,
        closure_reasons: ClosureReason::EARLY
            .iter()
            .map(|r| Choice {
                value: r.slug().to_owned(),
                label: r.label().to_owned(),
                selected: status_refused && form.text("closure_reason") == r.slug(),
            })
            .collect(),
        closure_reference: if status_refused {
            form.text("closure_reference").to_owned()
        } else {
            String::new()
        },
        message: if status_refused {
            form.raw("message").to_owned()
        } else {
            String::new()
        },
        priorities: catalog
            .priorities
            .iter()
            .filter(|p| p.enabled_update || p.id == incident.priority_id)
            .map(|p| Choice {
                value: p.id.to_string(),
                label: format!("{} {}", p.emoji, p.name).trim().to_owned(),
                selected: if status_refused {
                    form.text("priority") == p.id.to_string()
                } else {
                    p.id == incident.priority_id
                },
            })
            .collect(),
        categories: catalog
            .groups
            .iter()
            .map(|g| ChoiceGroup {
                label: g.name.clone(),
                choices: catalog
                    .categories
                    .iter()
                    .filter(|c| c.group_id == g.id)
                    .map(|c| Choice {
                        value: c.id.to_string(),
                        label: c.name.clone(),
                        selected: if status_refused {
                            form.text("category") == c.id.to_string()
                        } else {
                            c.id == incident.category_id
                        },
                    })
                    .collect(),
            })
            .filter(|g| !g.choices.is_empty())
            .collect(),
        messages: refused.status.all(),
    };
    let cost_refused = submitted && !refused.cost.is_empty();

    let documents = app.postmortems(incident.id).await?;
    let backends = app.postmortem_backends();
    let postmortem = PostMortemCard {
        can_create: incident.status >= Status::Mitigated
            && backends
                .iter()
                .any(|b| !documents.iter().any(|d| &d.backend == b)),
        no_backend: backends.is_empty(),
        pending: {
            let mut pending: Vec<String> = events
                .iter()
                .filter_map(|e| match &e.event {
                    firefighter_core::IncidentEvent::PostMortemRequested { backend }
                        if !documents.iter().any(|d| &d.backend == backend) =>
                    {
                        Some(backend.clone())
                    }
                    _ => None,
                })
                .collect();
            pending.sort();
            pending.dedup();
            pending
        },
        required: app.postmortem_required(&catalog, incident),
        documents: documents
            .iter()
            .map(|d| DocumentView {
                backend: d.backend.clone(),
                url: d.url.clone(),
                builtin: d.backend == firefighter_core::postmortem::BUILT_IN,
                ready: d.ready,
            })
            .collect(),
        messages: refused.postmortem.all(),
    };
    let page = DetailPage {
        postmortem,
        chrome: chrome.in_section("incidents"),
        notice,
        closed: incident.status == Status::Closed,
        impacts: impacts(&details, &catalog),
        links: external_links(&details, &events),
        timeline: timeline
            .iter()
            .map(|e| entry_view(e, &users, &catalog, tz))
            .collect(),
        facts,
        roles,
        members,
        key_events,
        metrics,
        costs,
        cost_total,
        cost_types,
        status_form,
        role_messages: refused.roles.all(),
        key_event_messages: refused.key_events.all(),
        cost_messages: refused.cost.all(),
        cost_amount: if cost_refused {
            form.text("amount").to_owned()
        } else {
            String::new()
        },
        cost_details: if cost_refused {
            form.raw("details").to_owned()
        } else {
            String::new()
        },
    };
    Ok(page.into_response())
}
