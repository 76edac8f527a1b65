//! Outbox deliveries: what integrations failed to do, with the error, and
//! a button to try again once the cause is fixed.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::store::DeliveryStatus;

use crate::server::AppState;
use crate::server::web::format;
use crate::server::web::incidents::list::Choice;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice};

/// How many deliveries are listed.
const SHOWN: u32 = 200;

#[derive(Debug, Clone)]
struct DeliveryRow {
    id: i64,
    incident: i64,
    event: String,
    handler: String,
    attempts: u32,
    when: String,
    error: Option<String>,
    failed: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/deliveries.html")]
struct DeliveriesPage {
    chrome: Chrome,
    tabs: Vec<Choice>,
    deliveries: Vec<DeliveryRow>,
    notice: Option<&'static str>,
    showing: &'static str,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct DeliveriesQuery {
    status: Option<String>,
    notice: Option<String>,
}

/// `GET /admin/deliveries/?status=failed|pending|delivered` (failed by default).
pub(super) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Query(q): Query<DeliveriesQuery>,
) -> PageResult {
    let status = match q.status.as_deref() {
        None | Some("" | "failed") => DeliveryStatus::Failed,
        Some("pending") => DeliveryStatus::Pending,
        Some("delivered") => DeliveryStatus::Delivered,
        Some(_) => return Err(WebError::not_found()),
    };
    let tz = state.app.time_zone();
    let deliveries = state
        .app
        .store()
        .list_deliveries(Some(status), SHOWN)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            id: d.id,
            incident: d.incident_id.0,
            event: d.event_kind,
            handler: d.handler,
            attempts: d.attempts,
            when: format::instant(d.delivered_at.unwrap_or(d.next_attempt_at), tz),
            error: d.last_error,
            failed: d.status == DeliveryStatus::Failed,
        })
        .collect();
    let tabs = [
        DeliveryStatus::Failed,
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
    ]
    .into_iter()
    .map(|s| Choice {
        value: s.as_str().to_owned(),
        label: s.as_str().to_owned(),
        selected: s == status,
    })
    .collect();
    Ok(DeliveriesPage {
        chrome,
        tabs,
        deliveries,
        notice: notice(q.notice.as_deref()),
        showing: status.as_str(),
    }
    .into_response())
}

/// `POST /admin/deliveries/<id>/requeue`.
pub(super) async fn requeue(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<i64>,
) -> PageResult {
    let requeued = state
        .app
        .store()
        .requeue_delivery(id, firefighter_core::store::now())
        .await?;
    if requeued {
        tracing::info!(delivery = id, by = %chrome.user.user.email, "delivery re-queued from the back-office");
        // Wake the local dispatcher so the retry happens now.
        state.app.outbox_signal().notify_one();
    }
    Ok(chrome.redirect(if requeued {
        "/admin/deliveries/?notice=requeued"
    } else {
        "/admin/deliveries/?notice=not_requeued"
    }))
}
