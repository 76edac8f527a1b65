//! Web pages and JSON of the on-call, for every logged-in person.
//!
//! | Route | What |
//! |---|---|
//! | `GET /oncall/` | who is on call now, per escalation policy and level (HTML) |
//! | `GET /oncall/trigger/` | the "page the on-call" form (`?incident=<id>` pre-fills the incident) |
//! | `POST /oncall/trigger/` | pages the service, then redirects to `/oncall/?page=<key>` |
//! | `GET /api/v2/firefighter/oncall/` | the roster (core's [`Roster`], JSON) |
//! | `GET /api/v2/firefighter/oncall/services/` | services that can be paged ([`crate::ServiceChoice`], JSON) |
//!
//! The back-office, for staff ([`admin_routes`]):
//!
//! | Route | What |
//! |---|---|
//! | `GET /admin/pagerduty/services/` | synced services and their ignore flag |
//! | `POST /admin/pagerduty/services/{id}/ignore` | `ignore=true` or `false`, then back to the list |
//!
//! **Every route must sit behind the server's login.** The server's auth
//! layer passes the caller as a [`Caller`] request extension; a request
//! without it is answered 401. CSRF checks are the server's middleware job:
//! the form posts the `csrf_token` it was given, which is otherwise ignored.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Path;
use axum::extract::{Extension, OriginalUri, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use firefighter_core::plugin::{Caller, PageLayout};
use firefighter_core::{Firefighter, IncidentId, User};
use serde::Deserialize;

use crate::paging::{PageOutcome, PageRequest, ServiceChoice};
use firefighter_core::oncall::Roster;

use crate::{Error, PagerDuty};

#[derive(Clone)]
struct RouteState {
    app: Firefighter,
    pagerduty: PagerDuty,
}

/// The on-call routes; mount them behind the server's login (see the module docs).
pub fn routes(app: Firefighter, pagerduty: PagerDuty) -> Router {
    Router::new()
        .route("/oncall/", get(overview))
        .route("/oncall", get(overview))
        .route("/oncall/trigger/", get(trigger_form).post(trigger))
        .route("/oncall/trigger", get(trigger_form).post(trigger))
        .route("/api/v2/firefighter/oncall/", get(roster_json))
        .route("/api/v2/firefighter/oncall", get(roster_json))
        .route("/api/v2/firefighter/oncall/services/", get(services_json))
        .route("/api/v2/firefighter/oncall/services", get(services_json))
        .with_state(RouteState { app, pagerduty })
}

/// The back-office pages under `/admin/pagerduty/` (**staff only**: mount
/// behind the server's staff check, after its [`Caller`]).
pub fn admin_routes(app: Firefighter, pagerduty: PagerDuty) -> Router {
    Router::new()
        .route("/admin/pagerduty/services/", get(admin_services))
        .route("/admin/pagerduty/services", get(admin_services))
        .route(
            "/admin/pagerduty/services/{id}/ignore",
            post(admin_set_ignored),
        )
        .with_state(RouteState { app, pagerduty })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_services.html")]
struct AdminServicesPage {
    layout: PageLayout,
    page_title: &'static str,
    services: Vec<ServiceChoice>,
    csrf_token: String,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AdminServicesQuery {
    ignored: Option<String>,
    paged: Option<String>,
}

async fn admin_services(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<AdminServicesQuery>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return not_behind_login();
    };
    let services = match crate::services(&state.app, true).await {
        Ok(s) => s,
        Err(e) => return failure(&e),
    };
    let name_of = |id: &str| {
        services
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_owned(), |s| s.name.clone())
    };
    let notice = match (query.ignored, query.paged) {
        (Some(id), _) => Some(format!("{} is now ignored.", name_of(&id))),
        (None, Some(id)) => Some(format!("{} can be paged again.", name_of(&id))),
        (None, None) => None,
    };
    AdminServicesPage {
        layout: caller.layout.clone(),
        page_title: "PagerDuty services",
        csrf_token: caller.csrf_token().to_owned(),
        services,
        notice,
    }
    .into_response()
}

/// The form (`csrf_token` is checked by the server and ignored here).
#[derive(Debug, Deserialize)]
struct IgnoreForm {
    ignore: String,
    #[serde(default)]
    #[allow(dead_code)]
    csrf_token: String,
}

async fn admin_set_ignored(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
    Form(form): Form<IgnoreForm>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return not_behind_login();
    };
    let ignore = match form.ignore.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("ignore must be true or false, not \"{other}\"; nothing was changed."),
            )
                .into_response();
        }
    };
    match crate::set_service_ignored(&state.app, &id, ignore).await {
        Ok(()) => {
            tracing::info!(service = %id, ignore, "PagerDuty service flag changed from the back-office");
            let key = if ignore { "ignored" } else { "paged" };
            let query = serde_urlencoded::to_string([(key, id.as_str())]).unwrap_or_default();
            Redirect::to(
                &caller
                    .layout
                    .link(&format!("/admin/pagerduty/services/?{query}")),
            )
            .into_response()
        }
        Err(Error::UnknownService(id)) => (
            StatusCode::NOT_FOUND,
            format!("No PagerDuty service {id} is synced; nothing was changed."),
        )
            .into_response(),
        Err(e) => failure(&e),
    }
}

fn not_behind_login() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "Log in first (these routes must be mounted behind the server's login, which provides the caller).",
    )
        .into_response()
}

fn failure(e: &Error) -> Response {
    tracing::error!(error = %e, "on-call page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("The on-call data could not be read: {e}"),
    )
        .into_response()
}

/// A time in `TIME_ZONE`, for people.
fn local(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz).format("%a %d %b %H:%M").to_string()
}

// ------------------------------------------------------------------ overview

struct PersonView {
    name: String,
    pagerduty_url: String,
    phone: String,
    slack_url: String,
    schedule: String,
    schedule_url: String,
    until: String,
}

struct LevelView {
    level: i32,
    people: Vec<PersonView>,
}

struct PolicyView {
    name: String,
    pagerduty_url: String,
    levels: Vec<LevelView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "oncall.html")]
struct OverviewPage {
    layout: PageLayout,
    page_title: &'static str,
    synced: String,
    policies: Vec<PolicyView>,
    notice: String,
    notice_is_error: bool,
}

#[derive(Debug, Deserialize)]
struct OverviewQuery {
    page: Option<String>,
}

async fn overview(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return not_behind_login();
    };
    let roster = match crate::roster(&state.app).await {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    let tz = state.app.time_zone();
    let chat_links = match chat_links(&state.app, &roster).await {
        Ok(links) => links,
        Err(e) => return failure(&e),
    };
    let (notice, notice_is_error) = match query.page.as_deref() {
        Some(key) => page_notice(&state, key).await,
        None => (String::new(), false),
    };
    OverviewPage {
        layout: caller.layout,
        page_title: "On call",
        synced: synced_text(&roster, tz),
        policies: policy_views(&roster, &chat_links, tz),
        notice,
        notice_is_error,
    }
    .into_response()
}

fn synced_text(roster: &Roster, tz: chrono_tz::Tz) -> String {
    match roster.synced_at {
        None => "never synced from PagerDuty yet".to_owned(),
        Some(at) => {
            let minutes = (roster.at - at).num_minutes().max(0);
            format!(
                "last synced from PagerDuty {} ({minutes} min ago)",
                local(at, tz)
            )
        }
    }
}

/// The "Message" link of each person whose account has a Slack identity
/// (FireFighter's page had it), from core's accounts: the roster carries no
/// chat ids.
async fn chat_links(
    app: &Firefighter,
    roster: &Roster,
) -> crate::Result<std::collections::HashMap<firefighter_core::UserId, String>> {
    Ok(app
        .store()
        .users(&roster.user_ids())
        .await?
        .into_iter()
        .filter_map(|u| {
            let id = u.identity("slack").filter(|id| !id.is_empty())?;
            Some((u.id, format!("https://slack.com/app_redirect?channel={id}")))
        })
        .collect())
}

fn policy_views(
    roster: &Roster,
    chat_links: &std::collections::HashMap<firefighter_core::UserId, String>,
    tz: chrono_tz::Tz,
) -> Vec<PolicyView> {
    roster
        .policies
        .iter()
        .map(|p| PolicyView {
            name: p.name.clone(),
            pagerduty_url: p.url.clone(),
            levels: p
                .levels
                .iter()
                .map(|l| LevelView {
                    level: l.level,
                    people: l
                        .people
                        .iter()
                        .map(|person| PersonView {
                            name: person.name.clone(),
                            pagerduty_url: person.url.clone(),
                            phone: person.phone.clone().unwrap_or_default(),
                            slack_url: person
                                .user_id
                                .and_then(|u| chat_links.get(&u).cloned())
                                .unwrap_or_default(),
                            schedule: person
                                .schedule
                                .as_ref()
                                .map(|s| s.name.clone())
                                .unwrap_or_default(),
                            schedule_url: person
                                .schedule
                                .as_ref()
                                .map(|s| s.url.clone())
                                .unwrap_or_default(),
                            until: person.until.map(|t| local(t, tz)).unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

async fn page_notice(state: &RouteState, key: &str) -> (String, bool) {
    let Ok(store) = crate::store_of(&state.app) else {
        return (String::new(), false);
    };
    match store.page_by_key(key).await {
        Ok(Some(row)) => {
            let name = store
                .service(&row.service_id)
                .await
                .ok()
                .flatten()
                .map(|s| s.name)
                .unwrap_or_else(|| row.service_id.clone());
            match row.status.as_str() {
                "sent" => (
                    format!(
                        "The {name} on-call was paged on PagerDuty{}.",
                        row.web_url.map(|u| format!(": {u}")).unwrap_or_default()
                    ),
                    false,
                ),
                "failed" => (
                    format!(
                        "PagerDuty refused the page to {name}: {}",
                        row.last_error.unwrap_or_default()
                    ),
                    true,
                ),
                _ => (
                    format!(
                        "The page to {name} is saved and will be sent as soon as PagerDuty answers{}.",
                        row.last_error
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    ),
                    true,
                ),
            }
        }
        _ => (String::new(), false),
    }
}

// ------------------------------------------------------------------ trigger form

#[derive(Template, WebTemplate)]
#[template(path = "trigger.html")]
struct TriggerPage {
    layout: PageLayout,
    page_title: &'static str,
    services: Vec<ServiceChoice>,
    csrf_token: String,
    request_id: String,
    title: String,
    service: String,
    details: String,
    incident: String,
    errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct TriggerQuery {
    incident: Option<String>,
    service: Option<String>,
}

/// The form fields (`csrf_token` is checked by the server and ignored here).
#[derive(Debug, Deserialize)]
struct TriggerForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    incident: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    #[allow(dead_code)]
    csrf_token: String,
}

async fn trigger_form(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<TriggerQuery>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return not_behind_login();
    };
    let form = TriggerForm {
        title: String::new(),
        service: query.service.unwrap_or_default(),
        details: String::new(),
        incident: query.incident.unwrap_or_default(),
        request_id: uuid::Uuid::new_v4().to_string(),
        csrf_token: String::new(),
    };
    render_form(&state, &caller, form, Vec::new(), StatusCode::OK).await
}

async fn render_form(
    state: &RouteState,
    caller: &Caller,
    form: TriggerForm,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let services = match crate::services(&state.app, false).await {
        Ok(s) => s,
        Err(e) => return failure(&e),
    };
    let page = TriggerPage {
        layout: caller.layout.clone(),
        page_title: "Page the on-call",
        services,
        csrf_token: caller.csrf_token.clone().unwrap_or_default(),
        request_id: if form.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            form.request_id
        },
        title: form.title,
        service: form.service,
        details: form.details,
        incident: form.incident,
        errors,
    };
    (status, page).into_response()
}

/// FireFighter's form limits.
const TITLE_CHARS: std::ops::RangeInclusive<usize> = 10..=128;
const DETAILS_CHARS: std::ops::RangeInclusive<usize> = 10..=1200;

async fn trigger(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    OriginalUri(uri): OriginalUri,
    Form(form): Form<TriggerForm>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return not_behind_login();
    };
    let mut errors = Vec::new();
    let title_len = form.title.trim().chars().count();
    if !TITLE_CHARS.contains(&title_len) {
        errors.push(format!(
            "\"What's going on?\" must be 10 to 128 characters long (it has {title_len})."
        ));
    }
    let details_len = form.details.trim().chars().count();
    if !DETAILS_CHARS.contains(&details_len) {
        errors.push(format!(
            "Details must be 10 to 1,200 characters long (they have {details_len})."
        ));
    }
    if form.service.trim().is_empty() {
        errors.push("Choose the service to page.".to_owned());
    }
    let incident = match parse_incident(&form.incident) {
        Ok(i) => i,
        Err(message) => {
            errors.push(message);
            None
        }
    };
    if let Some(id) = incident
        && !may_see(&state.app, &caller.user, id).await
    {
        errors.push(format!("Incident {id} does not exist."));
    }
    if !errors.is_empty() {
        return render_form(
            &state,
            &caller,
            form,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let request = PageRequest {
        service_id: form.service.trim().to_owned(),
        incident_id: incident,
        summary: form.title.trim().to_owned(),
        details: form.details.trim().to_owned(),
        requested_by: Some(caller.user.id),
        request_id: Some(form.request_id.clone()).filter(|r| !r.is_empty()),
    };
    match state.pagerduty.trigger_oncall(&state.app, request).await {
        Ok(outcome) => {
            let key = outcome.page().key.clone();
            if let PageOutcome::Queued { reason, .. } = &outcome {
                tracing::warn!(page = %key, reason = %reason, "page queued for retry");
            }
            let path = uri.path();
            let base = path
                .strip_suffix("trigger/")
                .or_else(|| path.strip_suffix("trigger"))
                .unwrap_or("/oncall/");
            Redirect::to(&format!("{base}?page={key}")).into_response()
        }
        Err(e) => {
            let status = match &e {
                Error::Invalid(_) | Error::UnknownService(_) | Error::IgnoredService(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                Error::Core(firefighter_core::Error::NotFound { .. }) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                Error::Api { .. } | Error::Decode(_) | Error::Config(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let message = format!("The page was not sent: {e}");
            render_form(&state, &caller, form, vec![message], status).await
        }
    }
}

/// `12`, `#12` or empty.
fn parse_incident(text: &str) -> Result<Option<IncidentId>, String> {
    let t = text.trim().trim_start_matches('#');
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(|id| Some(IncidentId(id)))
        .ok_or_else(|| format!("\"{}\" is not an incident number.", text.trim()))
}

/// Private incidents are linked only by their members and staff (the page
/// would otherwise carry their details to PagerDuty).
async fn may_see(app: &Firefighter, user: &User, id: IncidentId) -> bool {
    match app.incident_details(id).await {
        Ok(d) => {
            !d.incident.private || user.is_staff || user.is_admin || d.members.contains(&user.id)
        }
        Err(_) => false,
    }
}

// ------------------------------------------------------------------ JSON

async fn roster_json(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
) -> Response {
    if caller.is_none() {
        return not_behind_login();
    }
    match crate::roster(&state.app).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(&e),
    }
}

async fn services_json(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
) -> Response {
    if caller.is_none() {
        return not_behind_login();
    }
    match crate::services(&state.app, false).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_numbers() {
        assert_eq!(parse_incident(""), Ok(None));
        assert_eq!(parse_incident(" #12 "), Ok(Some(IncidentId(12))));
        assert!(parse_incident("abc").is_err());
        assert!(parse_incident("-3").is_err());
    }
}
