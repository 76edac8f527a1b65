//! Reading incidents: the filtered list (JSON, CSV, TSV) and one incident.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use firefighter_core::{IncidentDetails, UserId};

use crate::server::AppState;
use crate::server::api::cache::{self, Versions, today};
use crate::server::api::fast_path;
use crate::server::api::render::{self, ListOptions};
use crate::server::api::repr::Context;
use crate::server::api::{filters, fresh_context};
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_READ, visibility};
use crate::{Error, Result};

use super::{incident_id, visible};

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
        (status = 200, description = "Incidents (a bare array unless paginated)", body = [crate::server::api::repr::IncidentRepr]),
        (status = 400, description = "Invalid filter", body = crate::server::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::server::error::ErrorBody),
    ),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn list(
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
    let mut response = rendered.clone().respond_to(&headers).await;
    fast_path::offer(&mut response, rendered, versions, today);
    Ok(response)
}

/// One incident (tags always included).
#[utoipa::path(get, path = "/api/v2/firefighter/incidents/{id}/", tag = "incidents",
    params(("id" = i64, Path), ("format" = Option<String>, Query), ("fields" = Option<String>, Query)),
    responses((status = 200, body = crate::server::api::repr::IncidentRepr), (status = 404, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn retrieve(
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
    let today = today(&state);
    let key = cache::response_key(uri.path(), &query, format, visibility(&user), today);
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
    let mut response = rendered.respond(&headers);
    fast_path::offer(&mut response, rendered, versions, today);
    Ok(response)
}
