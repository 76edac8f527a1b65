//! The runbooks' web page and API, for every logged-in person (FireFighter's
//! `/runbook/` and `runbooks/`), served when Confluence is on.
//!
//! | Route | What |
//! |---|---|
//! | `GET /runbook/` | the runbooks table, filtered by `service_type` (repeatable) and `search` (in the title, the service and the body, case-insensitive) |
//! | `GET /api/v2/firefighter/runbooks/` | the same list as JSON (same filters, and `id`) |
//! | `GET /api/v2/firefighter/runbooks/{id}/` | one runbook; 404 in the API's error format |
//!
//! A runbook is shown with FireFighter's fields (`id`, `name`, `page_id`,
//! `page_url`, `page_edit_url`, `created_at`, `updated_at`, `version`,
//! `title`, `service_name`, `service_type`), bodies left out.
//!
//! **Every route must sit behind the server's login.** The server's auth
//! layer passes the caller as a [`Caller`] request extension; a request
//! without it is answered 401.

use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use firefighter_core::Store;
use firefighter_core::plugin::Caller;
use serde_json::json;

use crate::runbooks::{Runbook, RunbookStore, SERVICE_TYPES};

/// Where the page is.
pub const RUNBOOK_PATH: &str = "/runbook/";

#[derive(Clone)]
struct RouteState {
    store: Arc<dyn Store>,
}

/// The runbook routes over core's store; mount them behind the server's login.
pub fn routes(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/runbook/", get(page))
        .route("/runbook", get(page))
        .route("/api/v2/firefighter/runbooks/", get(list))
        .route("/api/v2/firefighter/runbooks", get(list))
        .route("/api/v2/firefighter/runbooks/{id}/", get(detail))
        .route("/api/v2/firefighter/runbooks/{id}", get(detail))
        .with_state(RouteState { store })
}

/// The filters of the page and the list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunbookFilter {
    /// Service types to keep (none: all).
    pub service_types: Vec<String>,
    /// Words to find in the title, the service or the body.
    pub search: String,
    /// Runbook ids to keep (none: all).
    pub ids: Vec<String>,
}

impl RunbookFilter {
    /// Reads `service_type` (repeated or comma-separated), `search` and `id`.
    pub fn from_query(query: Option<&str>) -> RunbookFilter {
        let mut filter = RunbookFilter::default();
        for (key, value) in form_pairs(query.unwrap_or_default()) {
            match key.as_str() {
                "service_type" => filter.service_types.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                ),
                "search" => filter.search = value.trim().to_owned(),
                "id" => filter.ids.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        filter
    }

    /// Whether `runbook` passes: its type among those asked, every word of
    /// the search in its title, service or body.
    pub fn keeps(&self, runbook: &Runbook) -> bool {
        if !self.service_types.is_empty() && !self.service_types.contains(&runbook.service_type) {
            return false;
        }
        if !self.ids.is_empty() && !self.ids.contains(&runbook.id.to_string()) {
            return false;
        }
        let haystack = format!(
            "{}\n{}\n{}",
            runbook.title, runbook.service_name, runbook.body_storage
        )
        .to_lowercase();
        self.search
            .to_lowercase()
            .split_whitespace()
            .all(|word| haystack.contains(word))
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_behind_login() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"type": "client_error", "errors": [{"code": "not_authenticated", "detail": "Authentication credentials were not provided.", "attr": null}]})),
    )
        .into_response()
}

fn failure(e: &crate::Error) -> Response {
    tracing::error!(error = %e, "runbooks could not be read");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"type": "server_error", "errors": [{"code": "error", "detail": format!("The runbooks could not be read: {e}"), "attr": null}]})),
    )
        .into_response()
}

async fn filtered(state: &RouteState, filter: &RunbookFilter) -> crate::Result<Vec<Runbook>> {
    let store = RunbookStore::of(state.store.as_ref())?;
    Ok(store
        .all()
        .await?
        .into_iter()
        .filter(|r| filter.keeps(r))
        .collect())
}

async fn list(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    if caller.is_none() {
        return not_behind_login();
    }
    let filter = RunbookFilter::from_query(query.as_deref());
    match filtered(&state, &filter).await {
        Ok(runbooks) => Json(runbooks).into_response(),
        Err(e) => failure(&e),
    }
}

async fn detail(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Response {
    if caller.is_none() {
        return not_behind_login();
    }
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"type": "client_error", "errors": [{"code": "not_found", "detail": format!("Runbook {id} does not exist"), "attr": null}]})),
        )
            .into_response()
    };
    let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
        return not_found();
    };
    let store = match RunbookStore::of(state.store.as_ref()) {
        Ok(store) => store,
        Err(e) => return failure(&e),
    };
    match store.get(uuid).await {
        Ok(Some(runbook)) => Json(runbook).into_response(),
        Ok(None) => not_found(),
        Err(e) => failure(&e),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn page(
    State(state): State<RouteState>,
    caller: Option<Extension<Caller>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return (
            StatusCode::UNAUTHORIZED,
            "Log in first (these routes must be mounted behind the server's login, which provides the caller).",
        )
            .into_response();
    };
    let filter = RunbookFilter::from_query(query.as_deref());
    let runbooks = match filtered(&state, &filter).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "runbooks page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("The runbooks could not be read: {e}"),
            )
                .into_response();
        }
    };
    let layout = &caller.layout;
    let mut html = layout.head("Runbooks");
    html.push_str("<h1>Runbooks</h1>");
    html.push_str(&format!(
        "<form method=\"get\" action=\"{}\" class=\"filters\">",
        escape(&layout.link(RUNBOOK_PATH))
    ));
    html.push_str(&format!(
        "<label>Search <input type=\"search\" name=\"search\" value=\"{}\"></label> ",
        escape(&filter.search)
    ));
    html.push_str("<fieldset><legend>Service type</legend>");
    for kind in SERVICE_TYPES {
        let checked = if filter.service_types.iter().any(|t| t == kind) {
            " checked"
        } else {
            ""
        };
        html.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"service_type\" value=\"{kind}\"{checked}> {kind}</label> "
        ));
    }
    html.push_str("</fieldset><button type=\"submit\">Filter</button></form>");
    if runbooks.is_empty() {
        html.push_str("<p class=\"empty\">No runbook matches.</p>");
    } else {
        html.push_str(&format!(
            "<p>{} runbook{}</p><table class=\"table\"><thead><tr><th>Type</th><th>Service</th><th>Runbook</th><th>Updated</th></tr></thead><tbody>",
            runbooks.len(),
            if runbooks.len() == 1 { "" } else { "s" }
        ));
        for r in &runbooks {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td></tr>",
                escape(&r.service_type),
                escape(&r.service_name),
                escape(&r.page_url),
                escape(&r.title),
                r.updated_at.format("%Y-%m-%d %H:%M UTC"),
            ));
        }
        html.push_str("</tbody></table>");
    }
    html.push_str(&layout.foot);
    Html(html).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_filters() {
        let f = RunbookFilter::from_query(Some(
            "service_type=ms&service_type=front,data&search=redis+flush%21&other=1",
        ));
        assert_eq!(f.service_types, ["ms", "front", "data"]);
        assert_eq!(f.search, "redis flush!");
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%C3%A9"), "é");
    }
}
