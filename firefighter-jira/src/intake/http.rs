//! The route: who calls, the `Idempotency-Key`, the answers in the API's
//! error format.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use firefighter_core::Firefighter;
use firefighter_core::access::{IdempotencyBegin, StoredResponse};
use firefighter_core::plugin::Caller;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ATTACHMENT_ERRORS_HEADER, CLAIM, INTAKE_PATH, Intake, IntakeRequest, IntakeSettings, KEY_TTL,
    Submitted, intake_label,
};
use crate::error::Problem;
use crate::users::JiraUserStore;
use crate::{Error, JiraClient, JiraConfig, Result};

/// An answer in the API's error format.
fn error_answer(status: StatusCode, kind: &str, problems: Vec<Problem>) -> Response {
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|p| json!({"code": p.code, "detail": p.detail, "attr": p.attr}))
        .collect();
    (status, Json(json!({"type": kind, "errors": errors}))).into_response()
}

fn one(code: &'static str, detail: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        attr: None,
        code,
        detail: detail.into(),
    }]
}

/// The request's field Jira's field id stands for.
fn request_field(config: &JiraConfig, field: &str) -> Option<&'static str> {
    let f = &config.fields;
    let custom = [
        (f.priority.as_str(), "priority"),
        (f.environments.as_str(), "environments"),
        (f.platform.as_str(), "platform"),
        (f.business_impact.as_str(), "business_impact"),
        (f.zendesk_ticket.as_str(), "zendesk"),
        (f.zoho_desk_ticket.as_str(), "zoho"),
        (f.seller_contract_id.as_str(), "seller_contract_id"),
        (
            f.incident_category.as_deref().unwrap_or("-"),
            "incident_category",
        ),
        ("project", "project"),
        ("issuetype", "issue_type"),
        ("summary", "summary"),
        ("description", "description"),
        ("labels", "labels"),
    ];
    custom.iter().find(|(id, _)| *id == field).map(|(_, a)| *a)
}

/// The answer to a failed intake.
fn failure(config: &JiraConfig, e: Error) -> Response {
    match e {
        Error::Request(problems) => {
            error_answer(StatusCode::BAD_REQUEST, "validation_error", problems)
        }
        Error::Rejected {
            status: 400,
            messages,
            fields,
        } => {
            let mut problems: Vec<Problem> = messages
                .into_iter()
                .map(|m| Problem {
                    attr: None,
                    code: "jira_refused",
                    detail: format!("Jira refused the ticket: {m}"),
                })
                .collect();
            problems.extend(fields.into_iter().map(|(field, message)| {
                match request_field(config, &field) {
                    Some(attr) => Problem::field(
                        attr,
                        "jira_refused",
                        format!("Jira refused {attr} ({field}): {message}"),
                    ),
                    None => Problem {
                        attr: None,
                        code: "jira_refused",
                        detail: format!("Jira refused {field}: {message}"),
                    },
                }
            }));
            error_answer(StatusCode::BAD_REQUEST, "validation_error", problems)
        }
        e @ Error::Rejected { .. } => {
            tracing::error!(error = %e, "the intake's ticket was refused by Jira");
            error_answer(
                StatusCode::BAD_GATEWAY,
                "server_error",
                one(
                    "jira_refused",
                    format!("{e}: check the Jira account's rights"),
                ),
            )
        }
        Error::Invalid(detail) => error_answer(
            StatusCode::BAD_REQUEST,
            "validation_error",
            one("invalid", detail),
        ),
        e if e.is_retryable() => {
            tracing::warn!(error = %e, "the intake's ticket could not be made now");
            let wait = e.retry_after().map_or(30, |d| d.as_secs().max(1));
            let mut answer = error_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                one(
                    "jira_unavailable",
                    format!("{e}; try again later (with the same Idempotency-Key)"),
                ),
            );
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            answer
        }
        e => {
            tracing::error!(error = %e, "the intake failed");
            error_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                one("error", format!("the ticket could not be made: {e}")),
            )
        }
    }
}

/// The answer as it is sent and as it is remembered for a replay.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    body: Value,
    attachment_errors: Vec<Value>,
}

impl Answer {
    fn created(submitted: &Submitted) -> Answer {
        Answer {
            status: StatusCode::CREATED,
            body: json!(submitted.key),
            attachment_errors: submitted.attachment_errors(),
        }
    }

    fn response(&self) -> Response {
        let mut response = (self.status, Json(self.body.clone())).into_response();
        if !self.attachment_errors.is_empty() {
            // A header value is visible ASCII: anything else is escaped.
            let text = serde_json::to_string(&self.attachment_errors)
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c.to_string()
                    } else {
                        format!("\\u{:04x}", u32::from(c))
                    }
                })
                .collect::<String>();
            if let Ok(value) = HeaderValue::from_str(&text) {
                response
                    .headers_mut()
                    .insert(ATTACHMENT_ERRORS_HEADER, value);
            }
        }
        response
    }

    fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status.as_u16(),
            content_type: "application/json".into(),
            body: json!({"body": self.body, "attachment_errors": self.attachment_errors})
                .to_string(),
        }
    }

    fn replayed(stored: &StoredResponse) -> Option<Answer> {
        let envelope: Value = match serde_json::from_str(&stored.body) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "a stored intake answer could not be read");
                return None;
            }
        };
        Some(Answer {
            status: StatusCode::from_u16(stored.status).ok()?,
            body: envelope.get("body")?.clone(),
            attachment_errors: envelope
                .get("attachment_errors")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// Gives a claimed key back when the request ends without an answer (its
/// future dropped by the server's time-out): a retry may then run at once.
struct Claim {
    store: Option<Arc<dyn firefighter_core::Store>>,
    scope: String,
    key: String,
}

impl Claim {
    fn done(mut self) {
        self.store = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let (scope, key) = (
                std::mem::take(&mut self.scope),
                std::mem::take(&mut self.key),
            );
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = store.abandon_idempotent(&scope, &key).await {
                        tracing::warn!(error = %e, "could not release an intake's Idempotency-Key");
                    }
                });
            }
        }
    }
}

/// The caller's `Idempotency-Key`, checked.
fn idempotency_key(headers: &HeaderMap) -> std::result::Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(key)
            if !key.is_empty()
                && key.len() <= 255
                && key.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::field(
            "Idempotency-Key",
            "invalid",
            "an Idempotency-Key has 1 to 255 visible ASCII characters",
        )),
    }
}

async fn jira_bot(
    State(intake): State<Arc<Intake>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return error_answer(
            StatusCode::UNAUTHORIZED,
            "client_error",
            one(
                "not_authenticated",
                "Log in or send an API token (Authorization: Bearer <token>).",
            ),
        );
    };
    if !caller.may_write {
        return error_answer(
            StatusCode::FORBIDDEN,
            "client_error",
            one(
                "permission_denied",
                "This API token may only read: creating a ticket needs the incidents:write scope.",
            ),
        );
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(problem) => {
            return error_answer(StatusCode::BAD_REQUEST, "validation_error", vec![problem]);
        }
    };
    let request = match IntakeRequest::from_json(&body, &intake.settings) {
        Ok(request) => request,
        Err(e) => return failure(&intake.config, e),
    };
    let refused = intake.check_attachments(&request).await;
    if !refused.is_empty() {
        return error_answer(StatusCode::BAD_REQUEST, "validation_error", refused);
    }
    let Some(key) = key else {
        return match intake.submit(&request, None).await {
            Ok(submitted) => Answer::created(&submitted).response(),
            Err(e) => failure(&intake.config, e),
        };
    };

    let store = intake.app.store().clone();
    let scope = format!("jira-intake:user:{}", caller.user.id);
    let hash = hex::encode(Sha256::digest(&body));
    let now = firefighter_core::store::now();
    let begun = store
        .begin_idempotent(
            &scope,
            &key,
            &hash,
            firefighter_core::instance::id(),
            now,
            now + CLAIM,
            now - KEY_TTL,
        )
        .await;
    match begun {
        Err(e) => return failure(&intake.config, Error::Core(e)),
        Ok(IdempotencyBegin::Replay(stored)) => {
            return match Answer::replayed(&stored) {
                Some(answer) => {
                    let mut response = answer.response();
                    response
                        .headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    response
                }
                None => error_answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    one(
                        "error",
                        "the answer remembered for this Idempotency-Key is unreadable",
                    ),
                ),
            };
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return error_answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_error",
                one(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request body",
                ),
            );
        }
        Ok(IdempotencyBegin::InProgress) => {
            return error_answer(
                StatusCode::CONFLICT,
                "client_error",
                one(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed; retry later",
                ),
            );
        }
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::Resumed) => {
            tracing::info!("an intake left unanswered is taken over by its retry");
        }
    }
    let claim = Claim {
        store: Some(store.clone()),
        scope: scope.clone(),
        key: key.clone(),
    };
    let label = intake_label(&scope, &key);
    match intake.submit(&request, Some(&label)).await {
        Ok(submitted) => {
            let answer = Answer::created(&submitted);
            if let Err(e) = store
                .finish_idempotent(&scope, &key, &answer.stored())
                .await
            {
                tracing::warn!(error = %e, "could not remember the intake's answer");
            }
            claim.done();
            answer.response()
        }
        // Not remembered: the retry runs again (and adopts the ticket if
        // one was made).
        Err(e) => {
            if let Err(e) = store.abandon_idempotent(&scope, &key).await {
                tracing::warn!(error = %e, "could not release an intake's Idempotency-Key");
            }
            claim.done();
            failure(&intake.config, e)
        }
    }
}

/// The crate's routes (the intake) when Jira is on, configured from the
/// environment; none when it is off, or misconfigured (logged). Mount them
/// behind the server's login.
pub fn routes(app: Firefighter) -> Router {
    let built = (|| -> Result<Option<Intake>> {
        let Some(config) = JiraConfig::from_env()? else {
            return Ok(None);
        };
        let settings = IntakeSettings::from_env()?;
        let client = JiraClient::new(&config)?;
        let users = JiraUserStore::of(app.store().as_ref())?;
        Ok(Some(Intake::new(app, client, users, config, settings)))
    })();
    match built {
        Ok(Some(intake)) => intake_routes(intake),
        Ok(None) => Router::new(),
        Err(e) => {
            tracing::error!(error = %e, "the Jira intake is misconfigured and not served");
            Router::new()
        }
    }
}

/// The intake's route over `intake`; mount it behind the server's login
/// (which hands over the [`Caller`]).
pub fn intake_routes(intake: Intake) -> Router {
    Router::new()
        .route(INTAKE_PATH, post(jira_bot))
        .route(&format!("{INTAKE_PATH}/"), post(jira_bot))
        .with_state(Arc::new(intake))
}
