//! `incidents/`: list, retrieve and declare (the original's endpoints), and
//! the write endpoints of ours (status, updates, roles, key events, close,
//! costs), each going through the core commands and their lifecycle rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use firefighter_core::{
    CategoryId, ClosureReason, CostTypeId, Declaration, Email, EnvironmentId, IncidentDetails,
    IncidentId, NewUser, PriorityId, Status, Update, User, UserId,
};
use serde_json::Value;

use super::cache::{self, Versions};
use super::input::{Body, Fields};
use super::render::{self, ListOptions};
use super::repr::Context;
use super::{context, filters, fresh_context};
use crate::server::AppState;
use crate::server::auth::{
    CurrentUser, SCOPE_INCIDENTS_READ, SCOPE_INCIDENTS_WRITE, can_see, viewer, visibility,
};
use crate::{Error, Problem, Result};

/// The original's default CSV columns.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "id",
    "status",
    "environment.value",
    "priority.name",
    "title",
    "description",
    "incident_category.name",
    "incident_category.group.name",
    "created_at",
    "slack_channel_name",
    "status_page_url",
    "jira_ticket_key",
    "jira_ticket_url",
    "metrics.*.duration_seconds",
    "costs.*.amount",
    "roles.*.email",
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list).post(create))
        .route("/incidents/", get(list).post(create))
        .route("/incidents/{id}", get(retrieve))
        .route("/incidents/{id}/", get(retrieve))
        .route("/incidents/{id}/status", post(change_status))
        .route("/incidents/{id}/updates", post(post_update))
        .route("/incidents/{id}/roles", put(set_roles))
        .route("/incidents/{id}/key_events", put(set_key_events))
        .route("/incidents/{id}/close", post(close))
        .route("/incidents/{id}/costs", post(add_cost))
}

/// An incident id from the path; anything else is not found.
fn incident_id(raw: &str) -> Result<IncidentId> {
    raw.trim_start_matches('#')
        .parse::<i64>()
        .map(IncidentId)
        .map_err(|_| Error::NotFound)
}

/// The incident if the caller may see it (else not found, without saying it exists).
async fn visible(state: &AppState, user: &CurrentUser, id: IncidentId) -> Result<IncidentDetails> {
    let details = state
        .app
        .store()
        .incident_details(id)
        .await?
        .ok_or(Error::NotFound)?;
    if can_see(user, &details) {
        Ok(details)
    } else {
        Err(Error::NotFound)
    }
}

/// The incident as it is now, with tags.
async fn one(state: &AppState, id: IncidentId, status: StatusCode) -> Result<Response> {
    let details = state.app.incident_details(id).await?;
    let ctx = context(state, Context::users_of(std::slice::from_ref(&details))).await?;
    Ok((status, Json(ctx.incident(&details, true))).into_response())
}

/// Representations of incidents, made one at a time as they are written.
struct Reprs<'a> {
    ctx: &'a Context,
    details: &'a [IncidentDetails],
    with_tags: bool,
}

impl serde::Serialize for Reprs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.details
                .iter()
                .map(|d| self.ctx.incident(d, self.with_tags)),
        )
    }
}

/// Today in `TIME_ZONE` (relative `created_at` ranges depend on it).
fn today(state: &AppState) -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&state.app.time_zone())
        .date_naive()
}

/// List incidents, filtered as the original's `IncidentFilterSet`.
#[utoipa::path(get, path = "/api/v2/firefighter/incidents/", tag = "incidents",
    params(
        ("status" = Option<Vec<i32>>, Query, description = "Statuses (10 Open ... 60 Closed)"),
        ("_status__gte" = Option<i32>, Query), ("_status__lte" = Option<i32>, Query),
        ("_status__gt" = Option<i32>, Query), ("_status__lt" = Option<i32>, Query),
        ("environment" = Option<Vec<uuid::Uuid>>, Query), ("environment__value" = Option<String>, Query),
        ("priority" = Option<Vec<uuid::Uuid>>, Query), ("group" = Option<Vec<uuid::Uuid>>, Query),
        ("incident_category" = Option<Vec<uuid::Uuid>>, Query), ("created_by" = Option<Vec<uuid::Uuid>>, Query),
        ("id" = Option<i64>, Query), ("id__in" = Option<String>, Query, description = "Comma-separated ids"),
        ("search" = Option<String>, Query),
        ("created_at" = Option<String>, Query, description = "Free-text range: last_week, current_quarter, 2026/Q1, W12, 2026, 'A - B'..."),
        ("order_by" = Option<String>, Query, description = "priority, title, id, created_at, created_by; '-' for descending"),
        ("show_tags" = Option<bool>, Query), ("format" = Option<String>, Query, description = "json, csv or tsv"),
        ("fields" = Option<String>, Query, description = "CSV/TSV columns; wildcards such as metrics.*.duration_seconds; __all__"),
        ("labels" = Option<String>, Query, description = "__hidden__, __original__ or field:Label,..."),
        ("page" = Option<u64>, Query, description = "Opt-in pagination"), ("page_size" = Option<u64>, Query),
        ("limit" = Option<u64>, Query), ("offset" = Option<u64>, Query),
    ),
    responses(
        (status = 200, description = "Incidents (a bare array unless paginated)", body = [super::repr::IncidentRepr]),
        (status = 400, description = "Invalid filter", body = crate::server::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::server::error::ErrorBody),
    ),
    security(("tokenAuth" = [])))]
pub(super) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    versions: Versions,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_READ)?;
    let mut problems = Vec::new();
    let options = ListOptions::take(&query, &mut problems);
    let format = render::negotiate(options.format.as_deref(), &headers)?;
    let today = today(&state);
    let visible_to = visibility(&user);
    // Read before anything the response shows: see `cache`.
    let versions = versions.get(&state).await?;
    let build = || async {
        let _turn = match options.page {
            Some(_) => None,
            None => Some(
                state
                    .cache
                    .whole_lists
                    .0
                    .acquire()
                    .await
                    .map_err(|_| Error::Internal("the server is stopping".into()))?,
            ),
        };
        let reference = cache::reference(&state, versions.reference).await?;
        let mut problems = problems.clone();
        let creators: Vec<UserId> = filters::values(&query, "created_by")
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        let known: Vec<UserId> = if creators.is_empty() {
            Vec::new()
        } else {
            state
                .app
                .store()
                .users(&creators)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect()
        };
        let tz = state.app.time_zone();
        let parsed = filters::parse(&query, &reference.catalog, today, tz, &known, &mut problems);
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let (details, total) = match parsed.filter {
            None => (Vec::new(), options.page.map(|_| 0)),
            Some(mut filter) => {
                filter.visible_to = visible_to;
                let store = state.app.store();
                let total = match options.page {
                    Some(page) => {
                        filter.offset = page.offset;
                        filter.limit = Some(page.limit);
                        Some(store.count_incidents(&filter).await?)
                    }
                    None => None,
                };
                (store.list_incident_details(&filter).await?, total)
            }
        };
        let many = details.len() > 1000;
        let ctx = fresh_context(&state, &reference, Context::users_of(&details), &[]).await?;
        let with_tags = parsed.show_tags;
        let render = move |options: &ListOptions, uri: &axum::http::Uri| {
            let reprs = Reprs {
                ctx: &ctx,
                details: &details,
                with_tags,
            };
            render::render_list(&reprs, total, options, format, DEFAULT_COLUMNS, uri)
        };
        if many {
            // Long work: off the threads that serve requests.
            let (options, uri) = (options.clone(), uri.clone());
            tokio::task::spawn_blocking(move || render(&options, &uri))
                .await
                .map_err(|e| Error::Internal(format!("rendering failed: {e}")))?
        } else {
            render(&options, &uri)
        }
    };
    if !problems.is_empty() {
        // Refused: nothing to keep.
        return build().await.map(|r| Arc::new(r).respond(&headers));
    }
    let key = cache::response_key(uri.path(), &query, format, visible_to, today);
    let rendered = state
        .cache
        .responses
        .get_or_build(key, versions.data, build)
        .await?;
    Ok(rendered.respond_to(&headers).await)
}

/// One incident (tags always included).
#[utoipa::path(get, path = "/api/v2/firefighter/incidents/{id}/", tag = "incidents",
    params(("id" = i64, Path), ("format" = Option<String>, Query), ("fields" = Option<String>, Query)),
    responses((status = 200, body = super::repr::IncidentRepr), (status = 404, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn retrieve(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    versions: Versions,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_READ)?;
    let id = incident_id(&id)?;
    let mut problems = Vec::new();
    let options = ListOptions::take(&query, &mut problems);
    let format = render::negotiate(options.format.as_deref(), &headers)?;
    // Read before anything the response shows: see `cache`.
    let versions = versions.get(&state).await?;
    let key = cache::response_key(uri.path(), &query, format, visibility(&user), today(&state));
    let rendered = state
        .cache
        .responses
        .get_or_build(key, versions.data, || async {
            let reference = cache::reference(&state, versions.reference).await?;
            let details = visible(&state, &user, id).await?;
            let ctx = fresh_context(
                &state,
                &reference,
                Context::users_of(std::slice::from_ref(&details)),
                &[],
            )
            .await?;
            render::render_one(
                &ctx.incident(&details, true),
                &options,
                format,
                DEFAULT_COLUMNS,
            )
        })
        .await?;
    Ok(rendered.respond(&headers))
}

/// The account of `created_by_email`, created if unknown (as the original does).
async fn account(state: &AppState, email: &Email) -> Result<User> {
    let (user, created) = state
        .app
        .store()
        .user_by_email_or_create(&NewUser::person(email.clone()))
        .await?;
    if created {
        tracing::info!(user = %user.email, "account created for created_by_email");
    }
    Ok(user)
}

/// Core field names as the API calls them.
fn api_attrs(error: Error, names: &[(&str, &str)]) -> Error {
    match error {
        Error::Core(firefighter_core::Error::Invalid(fields)) => Error::Invalid(
            fields
                .into_iter()
                .map(|f| {
                    let attr = names
                        .iter()
                        .find(|(core, _)| {
                            f.field == *core || f.field.starts_with(&format!("{core}."))
                        })
                        .map(|(_, api)| (*api).to_owned())
                        .unwrap_or(f.field);
                    Problem {
                        code: crate::server::error::code_for(&f.message).to_owned(),
                        detail: f.message,
                        attr: (!attr.is_empty()).then_some(attr),
                    }
                })
                .collect(),
        ),
        other => other,
    }
}

/// Declare an incident: 201, or 200 with the open incident holding the same `dedup_key` that the caller may see (nothing new happens).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents", tag = "incidents",
    request_body(content = DeclareBody, description = "The incident", content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the stored response of a request with the same key and body")),
    responses(
        (status = 201, description = "Declared", body = super::repr::IncidentRepr),
        (status = 200, description = "An open incident with this dedup_key that the caller may see exists: returned, nothing written", body = super::repr::IncidentRepr),
        (status = 400, body = crate::server::error::ErrorBody),
    ),
    security(("tokenAuth" = [])))]
pub(super) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    versions: Versions,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let mut f = Fields::new(&body);
    let title = f.string("title");
    if title.is_none() && !f.has("title") {
        f.required("title");
    }
    let description = f.string("description").unwrap_or_default();
    let environment_id = f.uuid("environment_id");
    let environment_ids = f.uuids("environment_ids");
    // Core's `environment_ids` errors are labelled by the field that was sent.
    let environment_label = if f.has("environment_ids") && !f.has("environment_id") {
        "environment_ids"
    } else {
        "environment_id"
    };
    let category_id = f.uuid("incident_category_id");
    if category_id.is_none() && !f.has("incident_category_id") {
        f.required("incident_category_id");
    }
    let priority_id = f.uuid("priority_id");
    let email = f
        .string("created_by_email")
        .and_then(|e| match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(_) => {
                f.problems.push(Problem::field(
                    "created_by_email",
                    "invalid",
                    "Enter a valid email address.",
                ));
                None
            }
        });
    let dedup_key = f.string("dedup_key");
    let ignore = f.boolean("ignore").unwrap_or(false);
    let private = f.boolean("private");
    let tags = f.strings("tags").unwrap_or_default();
    if let Some(t) = &title
        && t.trim().is_empty()
    {
        f.problems.push(Problem::field(
            "title",
            "blank",
            "This field may not be blank.",
        ));
    }
    f.finish()?;
    let names = [
        ("category_id", "incident_category_id"),
        ("environment_ids", environment_label),
        ("created_by", "created_by_email"),
    ];
    let mut envs: Vec<EnvironmentId> = environment_id.into_iter().map(EnvironmentId).collect();
    envs.extend(
        environment_ids
            .unwrap_or_default()
            .into_iter()
            .map(EnvironmentId),
    );
    let mut declaration = Declaration {
        title: title.unwrap_or_default(),
        description,
        priority_id: priority_id.map(PriorityId),
        category_id: category_id.map(CategoryId),
        environment_ids: envs,
        created_by: Some(user.user.id),
        private,
        dedup_key,
        // An incident the caller may not see must not show through its key.
        dedup_viewer: Some(viewer(&user)),
        ignore,
        tags,
        ..Declaration::default()
    };
    let creator = match &email {
        Some(e) => {
            // The whole declaration is checked before an account is made for
            // its declarer: a refused one leaves no account behind.
            state
                .app
                .check_declaration(&declaration)
                .await
                .map_err(|e| api_attrs(e.into(), &names))?;
            account(&state, e).await?
        }
        None => user.user.clone(),
    };
    declaration.created_by = Some(creator.id);
    let outcome = state
        .app
        .declare(declaration)
        .await
        .map_err(|e| api_attrs(e.into(), &names))?;
    let id = outcome.incident.id;
    if let Some(details) = outcome.details {
        // Answered from what was written: nothing to read back.
        let users = Context::users_of(std::slice::from_ref(&details));
        let ctx =
            super::context_knowing(&state, versions, users, std::slice::from_ref(&creator)).await?;
        Ok((StatusCode::CREATED, Json(ctx.incident(&details, true))).into_response())
    } else if outcome.created {
        one(&state, id, StatusCode::CREATED).await
    } else {
        // Core matched an incident the caller may see, or one holding the key
        // for them alone: declared by them, private, for someone else.
        visible(&state, &user, id).await.map_err(|_| {
            Error::Core(firefighter_core::Error::Conflict(
                "this dedup_key is held by an open private incident you declared for someone else; \
                 you are not one of its members, so it cannot be shown to you"
                    .into(),
            ))
        })?;
        one(&state, id, StatusCode::OK).await
    }
}

/// The body of `POST incidents` (for the schema).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct DeclareBody {
    /// 10 to 128 characters.
    title: String,
    /// Up to 1,200 characters.
    description: Option<String>,
    /// The environment (the default one when absent).
    environment_id: Option<uuid::Uuid>,
    /// Ours: several environments.
    environment_ids: Option<Vec<uuid::Uuid>>,
    incident_category_id: uuid::Uuid,
    /// The priority (the default one when absent).
    priority_id: Option<uuid::Uuid>,
    /// Who declares it; an account is created if unknown. Default: the caller.
    created_by_email: Option<String>,
    /// While an incident with this key is open (up to Mitigated), posting it again returns that incident (200),
    /// as given. Only an incident the caller may see counts: for them, a key held by another's private incident
    /// is free (201, a new incident their later posts of the key return), so the key reveals nothing.
    dedup_key: Option<String>,
    ignore: Option<bool>,
    /// Ours: private incidents are visible to their members and staff only.
    private: Option<bool>,
    /// Ours.
    tags: Option<Vec<String>>,
}

fn status_of(f: &mut Fields<'_>, name: &str) -> Option<Status> {
    let v = f.string(name)?;
    match Status::parse(&v) {
        Some(s) => Some(s),
        None => {
            f.problems.push(Problem::field(
                name,
                "invalid_choice",
                format!("\"{v}\" is not a status (open, investigating, mitigating, mitigated, post_mortem, closed or 10 to 60)"),
            ));
            None
        }
    }
}

/// Statuses may be sent as numbers too.
fn status_field(body: &Body, f: &mut Fields<'_>) -> Option<Status> {
    match body.0.get("status") {
        Some(Value::Number(n)) => match n
            .as_i64()
            .and_then(|v| i16::try_from(v).ok())
            .and_then(Status::from_value)
        {
            Some(s) => Some(s),
            None => {
                f.problems.push(Problem::field(
                    "status",
                    "invalid_choice",
                    format!("{n} is not a status value (10 to 60)"),
                ));
                None
            }
        },
        _ => status_of(f, "status"),
    }
}

fn closure_reason(f: &mut Fields<'_>) -> Option<ClosureReason> {
    let v = f.string("closure_reason")?;
    if v.trim().is_empty() {
        return None;
    }
    match ClosureReason::parse(&v) {
        Some(r) => Some(r),
        None => {
            let known: Vec<&str> = ClosureReason::ALL.iter().map(|r| r.slug()).collect();
            f.problems.push(Problem::field(
                "closure_reason",
                "invalid_choice",
                format!("\"{v}\" is not a closure reason ({})", known.join(", ")),
            ));
            None
        }
    }
}

const UPDATE_NAMES: &[(&str, &str)] = &[
    ("category_id", "incident_category_id"),
    ("environment_ids", "environment_ids"),
];

/// Change the status (with a message; a closure reason and reference when closing early).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/status", tag = "incidents",
    params(("id" = i64, Path)), request_body = StatusBody,
    responses((status = 200, body = super::repr::IncidentRepr), (status = 409, description = "Refused by the lifecycle, with every reason", body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let status = status_field(&body, &mut f);
    if status.is_none() && !f.has("status") {
        f.required("status");
    }
    let message = f.string("message");
    let reason = closure_reason(&mut f);
    let reference = f.string("closure_reference");
    let event_ts = f.instant("event_ts");
    f.finish()?;
    state
        .app
        .update(
            id,
            Update {
                by: Some(user.user.id),
                status,
                message,
                closure_reason: reason,
                closure_reference: reference,
                event_ts,
                ..Update::default()
            },
        )
        .await?;
    one(&state, id, StatusCode::OK).await
}

/// The body of `incidents/{id}/status`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct StatusBody {
    /// `investigating`, `Mitigated`, `50`...
    status: String,
    message: Option<String>,
    /// When closing before mitigation: duplicate, false_positive, superseded, external, cancelled.
    closure_reason: Option<String>,
    closure_reference: Option<String>,
    /// When it happened (default: now).
    event_ts: Option<chrono::DateTime<Utc>>,
}

/// Post a message and/or change fields (title, description, priority, category, environments, private, status).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/updates", tag = "incidents",
    params(("id" = i64, Path)), request_body = UpdateBody,
    responses((status = 200, body = super::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody), (status = 409, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn post_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let status = if f.has("status") {
        status_field(&body, &mut f)
    } else {
        None
    };
    let update = Update {
        by: Some(user.user.id),
        message: f.string("message"),
        status,
        priority_id: f.uuid("priority_id").map(PriorityId),
        category_id: f.uuid("incident_category_id").map(CategoryId),
        title: f.string("title"),
        description: f.string("description"),
        environment_ids: match (f.uuids("environment_ids"), f.uuid("environment_id")) {
            (Some(ids), _) => Some(ids.into_iter().map(EnvironmentId).collect()),
            (None, Some(id)) => Some(vec![EnvironmentId(id)]),
            (None, None) => None,
        },
        private: f.boolean("private"),
        closure_reason: closure_reason(&mut f),
        closure_reference: f.string("closure_reference"),
        event_type: None,
        event_ts: f.instant("event_ts"),
    };
    f.finish()?;
    state
        .app
        .update(id, update)
        .await
        .map_err(|e| api_attrs(e.into(), UPDATE_NAMES))?;
    one(&state, id, StatusCode::OK).await
}

/// The body of `incidents/{id}/updates`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct UpdateBody {
    message: Option<String>,
    title: Option<String>,
    description: Option<String>,
    priority_id: Option<uuid::Uuid>,
    incident_category_id: Option<uuid::Uuid>,
    environment_ids: Option<Vec<uuid::Uuid>>,
    private: Option<bool>,
    status: Option<String>,
    closure_reason: Option<String>,
    closure_reference: Option<String>,
}

/// The object of a body, or of its `key` member when present.
fn map_of(body: &Body, key: &str) -> Result<serde_json::Map<String, Value>> {
    match body.0.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(Error::invalid(
            key,
            "incorrect_type",
            format!("{key} must be an object"),
        )),
        None => Ok(body.0.clone()),
    }
}

/// Assign (user id or e-mail) or clear (null) roles: `{"commander": "jane@example.com", "communication_lead": null}`.
#[utoipa::path(put, path = "/api/v2/firefighter/incidents/{id}/roles", tag = "incidents",
    params(("id" = i64, Path)), request_body(content = Object, description = "role slug → user id, e-mail or null"),
    responses((status = 200, body = super::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let map = map_of(&body, "roles")?;
    let mut problems = Vec::new();
    let mut roles: BTreeMap<String, Option<UserId>> = BTreeMap::new();
    for (slug, v) in map {
        let attr = format!("roles.{slug}");
        match v {
            Value::Null => {
                roles.insert(slug, None);
            }
            Value::String(s) => {
                let found = match s.parse::<UserId>() {
                    Ok(uid) => state.app.store().user(uid).await?,
                    Err(_) => state.app.store().user_by_email(&s).await?,
                };
                match found {
                    Some(u) => {
                        roles.insert(slug, Some(u.id));
                    }
                    None => problems.push(Problem::field(
                        attr,
                        "does_not_exist",
                        format!("no user \"{s}\""),
                    )),
                }
            }
            other => problems.push(Problem::field(
                attr,
                "incorrect_type",
                format!("a role holder is a user id, an e-mail or null, not {other}"),
            )),
        }
    }
    if roles.is_empty() && problems.is_empty() {
        problems.push(Problem::field(
            "roles",
            "required",
            "give at least one role",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    state
        .app
        .update_roles(id, Some(user.user.id), roles)
        .await?;
    one(&state, id, StatusCode::OK).await
}

/// Set (RFC 3339) or clear (null) key events: `{"detected": "2026-03-01T10:00:00Z", "started": null}`.
#[utoipa::path(put, path = "/api/v2/firefighter/incidents/{id}/key_events", tag = "incidents",
    params(("id" = i64, Path)), request_body(content = Object, description = "key event → RFC 3339 time or null"),
    responses((status = 200, body = super::repr::IncidentRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn set_key_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let map = map_of(&body, "key_events")?;
    let mut problems = Vec::new();
    let mut events = BTreeMap::new();
    for (slug, v) in map {
        match v {
            Value::Null => {
                events.insert(slug, None);
            }
            Value::String(s) => match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => {
                    events.insert(slug, Some(t.with_timezone(&Utc)));
                }
                Err(_) => problems.push(Problem::field(
                    format!("key_events.{slug}"),
                    "invalid",
                    format!("\"{s}\" is not an RFC 3339 date-time"),
                )),
            },
            other => problems.push(Problem::field(
                format!("key_events.{slug}"),
                "incorrect_type",
                format!("a key event is an RFC 3339 date-time or null, not {other}"),
            )),
        }
    }
    if events.is_empty() && problems.is_empty() {
        problems.push(Problem::field(
            "key_events",
            "required",
            "give at least one key event",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    state
        .app
        .set_key_events(id, Some(user.user.id), events)
        .await?;
    one(&state, id, StatusCode::OK).await
}

/// Close, with a reason and a message when closing before mitigation.
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/close", tag = "incidents",
    params(("id" = i64, Path)), request_body = CloseBody,
    responses((status = 200, body = super::repr::IncidentRepr), (status = 409, description = "Refused by the lifecycle, with every reason", body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let reason = closure_reason(&mut f);
    let message = f.string("message");
    let reference = f.string("closure_reference");
    f.finish()?;
    state
        .app
        .close(id, Some(user.user.id), reason, message, reference)
        .await?;
    one(&state, id, StatusCode::OK).await
}

/// The body of `incidents/{id}/close`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct CloseBody {
    closure_reason: Option<String>,
    message: Option<String>,
    closure_reference: Option<String>,
}

/// Record a cost (amount in EUR as `"12.30"`, or null when not known yet).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/costs", tag = "incidents",
    params(("id" = i64, Path)), request_body = CostBody,
    responses((status = 201, body = super::repr::CostRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(super) async fn add_cost(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let cost_type = f.uuid("cost_type_id");
    if cost_type.is_none() && !f.has("cost_type_id") {
        f.required("cost_type_id");
    }
    let amount = f.amount_cents("amount");
    let details = f.string("details").unwrap_or_default();
    f.finish()?;
    let cost = state
        .app
        .add_cost(
            id,
            Some(user.user.id),
            CostTypeId(cost_type.unwrap_or_default()),
            amount,
            &details,
        )
        .await?;
    let ctx = context(&state, Vec::new()).await?;
    Ok((StatusCode::CREATED, Json(ctx.cost(&cost))).into_response())
}

/// The body of `incidents/{id}/costs`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct CostBody {
    cost_type_id: uuid::Uuid,
    /// EUR, at most two decimals.
    amount: Option<String>,
    details: Option<String>,
}
