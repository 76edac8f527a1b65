//! The inbox: inbound requests (Slack forms and events, webhooks) that an
//! integration acknowledged but could not apply after repeated attempts,
//! with the error, and a button to queue them again once the cause is fixed.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;

use crate::server::AppState;
use crate::server::web::format;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, notice};

/// How many parked requests are listed.
const SHOWN: u32 = 200;
/// Characters of a request's payload shown.
const PAYLOAD_SHOWN: usize = 300;

#[derive(Debug, Clone)]
struct ParkedRow {
    id: String,
    source: String,
    kind: String,
    actor: String,
    received: String,
    parked: String,
    attempts: i32,
    error: Option<String>,
    payload: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/inbox.html")]
struct InboxPage {
    chrome: Chrome,
    parked: Vec<ParkedRow>,
    notice: Option<&'static str>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct InboxQuery {
    notice: Option<String>,
}

/// `GET /admin/inbox/`: parked requests of every integration, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Query(q): Query<InboxQuery>,
) -> PageResult {
    let tz = state.app.time_zone();
    let parked = state
        .app
        .store()
        .parked_inbox_items(None, SHOWN)
        .await?
        .into_iter()
        .map(|item| ParkedRow {
            id: item.id.to_string(),
            source: item.source,
            kind: item.kind,
            actor: item.actor,
            received: format::instant(item.created_at, tz),
            parked: item
                .parked_at
                .map(|at| format::instant(at, tz))
                .unwrap_or_default(),
            attempts: item.attempts,
            error: item.last_error,
            payload: shortened(&item.payload),
        })
        .collect();
    Ok(InboxPage {
        chrome,
        parked,
        notice: notice(q.notice.as_deref()),
    }
    .into_response())
}

/// `POST /admin/inbox/<id>/requeue`.
pub(super) async fn requeue(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<uuid::Uuid>,
) -> PageResult {
    let requeued = state
        .app
        .store()
        .requeue_inbox_item(id, firefighter_core::store::now())
        .await?;
    if requeued {
        tracing::info!(item = %id, by = %chrome.user.user.email, "inbox item re-queued from the back-office");
    }
    Ok(chrome.redirect(if requeued {
        "/admin/inbox/?notice=inbox_requeued"
    } else {
        "/admin/inbox/?notice=inbox_not_requeued"
    }))
}

/// The start of a payload, cut on a character boundary.
fn shortened(payload: &str) -> String {
    match payload.char_indices().nth(PAYLOAD_SHOWN) {
        Some((end, _)) => format!("{}…", &payload[..end]),
        None => payload.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_payloads_are_cut_on_a_character_boundary() {
        assert_eq!(shortened("{}"), "{}");
        let long = "é".repeat(PAYLOAD_SHOWN + 5);
        let short = shortened(&long);
        assert_eq!(short.chars().count(), PAYLOAD_SHOWN + 1);
        assert!(short.ends_with('…'));
    }
}
