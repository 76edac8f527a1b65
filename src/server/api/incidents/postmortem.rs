//! The incident's post-mortem: its documents, and the built-in one's
//! written sections, follow-up actions and ready mark.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firefighter_core::IncidentId;
use firefighter_core::postmortem::{NewFollowUpAction, PostMortem, PostMortemEdit, SectionsEdit};
use serde::Serialize;

use crate::Result;
use crate::server::AppState;
use crate::server::api::idempotency::RequestKey;
use crate::server::api::input::{Body, Fields};
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_READ, SCOPE_INCIDENTS_WRITE};

use super::{incident_id, visible};

/// A post-mortem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(in crate::server::api) struct DocumentRepr {
    backend: String,
    url: String,
    ready: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&PostMortem> for DocumentRepr {
    fn from(d: &PostMortem) -> Self {
        DocumentRepr {
            backend: d.backend.clone(),
            url: d.url.clone(),
            ready: d.ready,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A follow-up action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(in crate::server::api) struct ActionRepr {
    id: uuid::Uuid,
    description: String,
    owner: String,
    due_on: chrono::NaiveDate,
    done: bool,
}

/// The incident's post-mortem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(in crate::server::api) struct PostMortemRepr {
    /// Every document (one per backend).
    documents: Vec<DocumentRepr>,
    /// The backends that created one with this request.
    created: Vec<String>,
    /// The external backends asked to create one (it appears in
    /// `documents` once they have).
    requested: Vec<String>,
    /// The backends that did not, and why.
    skipped: Vec<SkippedRepr>,
    /// The built-in post-mortem's written sections (null without one).
    notes: Option<NotesRepr>,
    /// Its follow-up actions.
    actions: Vec<ActionRepr>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(in crate::server::api) struct SkippedRepr {
    backend: String,
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(in crate::server::api) struct NotesRepr {
    impact: String,
    root_causes: String,
    went_well: String,
    went_badly: String,
}

async fn repr(
    state: &AppState,
    id: IncidentId,
    creation: Option<firefighter_core::PostMortemCreation>,
) -> Result<PostMortemRepr> {
    let (created, requested, skipped) = creation
        .map(|c| (c.created, c.requested, c.skipped))
        .unwrap_or_default();
    let documents = state.app.postmortems(id).await?;
    let builtin = documents
        .iter()
        .any(|d| d.backend == firefighter_core::postmortem::BUILT_IN);
    let (notes, actions) = if builtin {
        let report = state.app.postmortem_report(id).await?;
        (Some(report.notes), report.actions)
    } else {
        (None, Vec::new())
    };
    Ok(PostMortemRepr {
        documents: documents.iter().map(DocumentRepr::from).collect(),
        created,
        requested,
        skipped: skipped
            .into_iter()
            .map(|(backend, reason)| SkippedRepr { backend, reason })
            .collect(),
        notes: notes.map(|n| NotesRepr {
            impact: n.impact,
            root_causes: n.root_causes,
            went_well: n.went_well,
            went_badly: n.went_badly,
        }),
        actions: actions
            .into_iter()
            .map(|a| ActionRepr {
                id: a.id,
                description: a.description,
                owner: a.owner,
                due_on: a.due_on,
                done: a.done,
            })
            .collect(),
    })
}

/// The incident's post-mortem documents, and the built-in one's content.
#[utoipa::path(get, path = "/api/v2/firefighter/incidents/{id}/postmortem", tag = "incidents",
    params(("id" = i64, Path)),
    responses((status = 200, body = PostMortemRepr), (status = 404, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn show_postmortem(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_READ)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    Ok(Json(repr(&state, id, None).await?).into_response())
}

/// Create the post-mortem on every enabled backend that has none yet (from
/// Mitigated on). Asking again answers the existing documents.
#[utoipa::path(post, path = "/api/v2/firefighter/incidents/{id}/postmortem", tag = "incidents",
    params(("id" = i64, Path)),
    responses((status = 201, body = PostMortemRepr), (status = 200, body = PostMortemRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn create_postmortem(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let creation = state.app.create_postmortem(id, Some(user.user.id)).await?;
    let status = if creation.created.is_empty() && creation.requested.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = repr(&state, id, Some(creation)).await?;
    Ok((status, Json(body)).into_response())
}

/// Edit the built-in post-mortem: any of its written sections, its ready
/// mark (closing waits for it), a follow-up action to add
/// (`{"add_action": {"description", "owner", "due_on"}}`), actions done
/// (`{"done_actions": [id]}`, `{"undone_actions": [id]}`) or removed
/// (`{"removed_actions": [id]}`).
#[utoipa::path(patch, path = "/api/v2/firefighter/incidents/{id}/postmortem", tag = "incidents",
    params(("id" = i64, Path)),
    responses((status = 200, body = PostMortemRepr), (status = 400, body = crate::server::error::ErrorBody)),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn edit_postmortem(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request_key: Option<axum::Extension<RequestKey>>,
    body: Body,
) -> Result<Response> {
    user.require(SCOPE_INCIDENTS_WRITE)?;
    let id = incident_id(&id)?;
    visible(&state, &user, id).await?;
    let mut f = Fields::new(&body);
    let sections = ["impact", "root_causes", "went_well", "went_badly"].map(|k| f.string(k));
    let ready = f.boolean("ready");
    let done = f.uuids("done_actions").unwrap_or_default();
    let undone = f.uuids("undone_actions").unwrap_or_default();
    let removed = f.uuids("removed_actions").unwrap_or_default();
    let add = match body.0.get("add_action") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(a)) => {
            let text = |k: &str| {
                a.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let due = text("due_on");
            let due_on = if due.is_empty() {
                None
            } else {
                match chrono::NaiveDate::parse_from_str(&due, "%Y-%m-%d") {
                    Ok(d) => Some(d),
                    Err(_) => {
                        f.problems.push(crate::Problem::field(
                            "add_action.due_on",
                            "invalid",
                            format!("\"{due}\" is not a date (YYYY-MM-DD)"),
                        ));
                        None
                    }
                }
            };
            Some(NewFollowUpAction {
                description: text("description"),
                owner: text("owner"),
                due_on,
            })
        }
        Some(_) => {
            f.problems.push(crate::Problem::field(
                "add_action",
                "incorrect_type",
                "add_action must be an object with description, owner and due_on",
            ));
            None
        }
    };
    f.finish()?;
    let [impact, root_causes, went_well, went_badly] = sections;
    let edit = PostMortemEdit {
        // The sections not given keep their saved text.
        sections: SectionsEdit {
            impact,
            root_causes,
            went_well,
            went_badly,
        },
        add_action: add,
        done_actions: done,
        undone_actions: undone,
        removed_actions: removed,
        ready,
    };
    // One transaction: a bad part changes nothing; under the caller's
    // Idempotency-Key a retry after a lost answer applies nothing twice.
    state
        .app
        .edit_postmortem(
            id,
            edit,
            Some(user.user.id),
            request_key.as_ref().map(|k| k.0.0.as_str()),
        )
        .await?;
    Ok(Json(repr(&state, id, None).await?).into_response())
}
