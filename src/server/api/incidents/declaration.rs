//! Declaring an incident (once per `dedup_key`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use firefighter_core::{CategoryId, Declaration, Email, EnvironmentId, NewUser, PriorityId, User};

use crate::server::AppState;
use crate::server::api::cache::Versions;
use crate::server::api::input::{Body, Fields};
use crate::server::api::repr::Context;
use crate::server::auth::{CurrentUser, SCOPE_INCIDENTS_WRITE, viewer};
use crate::{Error, Problem, Result};

use crate::server::api::idempotency::RequestKey;

use super::{api_attrs, one, visible};

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

/// Declare an incident: 201, or 200 with the open incident holding the same `dedup_key` that the caller may see (nothing new happens).
#[utoipa::path(post, path = "/api/v2/firefighter/incidents", tag = "incidents",
    request_body(content = DeclareBody, description = "The incident", content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the stored response of a request with the same key and body")),
    responses(
        (status = 201, description = "Declared", body = crate::server::api::repr::IncidentRepr),
        (status = 200, description = "An open incident with this dedup_key that the caller may see exists: returned, nothing written", body = crate::server::api::repr::IncidentRepr),
        (status = 400, body = crate::server::error::ErrorBody),
    ),
    security(("tokenAuth" = [])))]
pub(in crate::server::api) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    versions: Versions,
    request_key: Option<axum::Extension<RequestKey>>,
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
        // With an Idempotency-Key: a retry whose first answer was lost gets the incident it declared.
        request_key: request_key.map(|k| k.0.0),
        ..Declaration::default()
    };
    let creator = match &email {
        Some(e) => match state.app.user_by_email(e.as_str()).await? {
            Some(known) => known,
            None => {
                // The whole declaration is checked before an account is made
                // for its declarer: a refused one leaves no account behind.
                state
                    .app
                    .check_declaration(&declaration)
                    .await
                    .map_err(|e| api_attrs(e.into(), &names))?;
                account(&state, e).await?
            }
        },
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
        let ctx = crate::server::api::context_knowing(
            &state,
            versions,
            users,
            std::slice::from_ref(&creator),
        )
        .await?;
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
pub(in crate::server::api) struct DeclareBody {
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
