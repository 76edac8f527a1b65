//! The forms of the incident page: update status (with priority, category,
//! closure reason), roles, key events and costs. Each goes through the same
//! core command as every other path, so the lifecycle's refusals come back
//! here with every reason.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, State};
use firefighter_core::lifecycle::ClosureReason;
use firefighter_core::{CategoryId, CostTypeId, IncidentId, PriorityId, Status, Update, UserId};

use super::detail::{Refused, parse_id, refused, visible_details};
use crate::server::AppState;
use crate::server::web::format;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, WebError};

type Fields = Form<Vec<(String, String)>>;

/// Where to go after a successful change.
fn done(chrome: &Chrome, id: IncidentId, notice: &str) -> PageResult {
    Ok(chrome.redirect(&format!("/incident/{}/?notice={notice}", id.0)))
}

/// Turns a core error into the form's messages, or the error page.
fn messages(error: firefighter_core::Error) -> Result<Messages, WebError> {
    Messages::from_core(error).map_err(WebError::from)
}

/// `POST /incident/<id>/status`.
pub(super) async fn status(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    let details = visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let incident = &details.incident;
    let mut problems = Messages::default();
    let mut update = Update {
        by: Some(chrome.user.user.id),
        message: Some(form.raw("message").to_owned()).filter(|m| !m.trim().is_empty()),
        ..Update::default()
    };
    match Status::parse(form.text("status")) {
        Some(s) if s != incident.status => update.status = Some(s),
        Some(_) => {}
        None if form.text("status").is_empty() => {}
        None => problems.push(
            "status",
            format!("there is no status \"{}\"", form.text("status")),
        ),
    }
    match form.text("priority") {
        "" => {}
        text => match text.parse::<PriorityId>() {
            Ok(p) if p != incident.priority_id => update.priority_id = Some(p),
            Ok(_) => {}
            Err(_) => problems.push("priority", "choose a priority from the list"),
        },
    }
    match form.text("category") {
        "" => {}
        text => match text.parse::<CategoryId>() {
            Ok(c) if c != incident.category_id => update.category_id = Some(c),
            Ok(_) => {}
            Err(_) => problems.push("category", "choose a category from the list"),
        },
    }
    let closing = update.status == Some(Status::Closed);
    match form.text("closure_reason") {
        "" => {}
        text => match ClosureReason::parse(text) {
            // A reason only means something when closing; otherwise it is left out.
            Some(r) if closing => update.closure_reason = Some(r),
            Some(_) => {}
            None => problems.push(
                "closure_reason",
                format!("there is no closure reason \"{text}\""),
            ),
        },
    }
    if closing && !form.text("closure_reference").is_empty() {
        update.closure_reference = Some(form.text("closure_reference").to_owned());
    }
    let outcome = if problems.is_empty() {
        match state.app.update(id, update).await {
            Ok(_) => return done(&chrome, id, "status"),
            Err(e) => messages(e)?,
        }
    } else {
        problems
    };
    refused(
        &state,
        chrome,
        id,
        Refused {
            status: outcome,
            form,
            ..Refused::default()
        },
    )
    .await
}

/// `POST /incident/<id>/roles`: fields `role.<slug>` = a user id, or empty to clear.
pub(super) async fn roles(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    let details = visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let catalog = state.app.catalog().await?;
    let mut problems = Messages::default();
    let mut wanted: BTreeMap<String, Option<UserId>> = BTreeMap::new();
    for (slug, value) in form.with_prefix("role.") {
        let holder = catalog
            .role_types
            .iter()
            .find(|r| r.slug == slug)
            .and_then(|rt| details.roles.iter().find(|r| r.role_type_id == rt.id))
            .map(|r| r.user_id);
        let chosen = if value.is_empty() {
            None
        } else {
            match value.parse::<UserId>() {
                Ok(u) => Some(u),
                Err(_) => {
                    problems.push(&format!("roles.{slug}"), "choose a person from the list");
                    continue;
                }
            }
        };
        // Unchanged roles are left out: only what the person changed is recorded.
        if chosen != holder {
            wanted.insert(slug, chosen);
        }
    }
    if problems.is_empty() && wanted.is_empty() {
        problems.push(
            "roles",
            "nothing to update: every role already has this holder",
        );
    }
    let outcome = if problems.is_empty() {
        match state
            .app
            .update_roles(id, Some(chrome.user.user.id), wanted)
            .await
        {
            Ok(_) => return done(&chrome, id, "roles"),
            Err(e) => messages(e)?,
        }
    } else {
        problems
    };
    refused(
        &state,
        chrome,
        id,
        Refused {
            roles: outcome,
            form,
            ..Refused::default()
        },
    )
    .await
}

/// `POST /incident/<id>/key_events`: fields `key_event.<slug>` = a local
/// date and time (`2026-03-19T10:04`) in `TIME_ZONE`, or empty to clear.
pub(super) async fn key_events(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    let details = visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let tz = state.app.time_zone();
    let mut problems = Messages::default();
    let mut wanted = BTreeMap::new();
    for (slug, value) in form.with_prefix("key_event.") {
        let current = details
            .key_events
            .iter()
            .find(|k| k.event_type == slug)
            .map(|k| k.at);
        // The form shows minutes: a value equal to the stored one at that precision is unchanged.
        if current
            .map(|t| format::datetime_local(t, tz))
            .unwrap_or_default()
            == value
        {
            continue;
        }
        if value.is_empty() {
            wanted.insert(slug, None);
            continue;
        }
        match format::parse_datetime_local(&value, tz) {
            Some(t) => {
                wanted.insert(slug, Some(t));
            }
            None => problems.push(
                &format!("key_events.{slug}"),
                format!("\"{value}\" is not a date and time"),
            ),
        }
    }
    if problems.is_empty() && wanted.is_empty() {
        problems.push(
            "key_events",
            "nothing to update: the key events already have these values",
        );
    }
    let outcome = if problems.is_empty() {
        match state
            .app
            .set_key_events(id, Some(chrome.user.user.id), wanted)
            .await
        {
            Ok(_) => return done(&chrome, id, "key_events"),
            Err(e) => messages(e)?,
        }
    } else {
        problems
    };
    refused(
        &state,
        chrome,
        id,
        Refused {
            key_events: outcome,
            form,
            ..Refused::default()
        },
    )
    .await
}

/// `POST /incident/<id>/costs`: `cost_type`, `amount` (decimal euros, empty
/// when not known yet), `details`.
pub(super) async fn cost(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let mut problems = Messages::default();
    let cost_type = form.text("cost_type").parse::<CostTypeId>().ok();
    if cost_type.is_none() {
        problems.push("cost_type", "choose the kind of cost");
    }
    let amount = match form.text("amount") {
        "" => None,
        text => {
            match firefighter_core::cost::parse_amount(&decimal(text)) {
                Some(cents) => Some(cents),
                None => {
                    problems.push("amount", format!("\"{text}\" is not an amount (use digits and at most two decimals: 1250.50)"));
                    None
                }
            }
        }
    };
    let outcome = match cost_type {
        Some(kind) if problems.is_empty() => {
            match state
                .app
                .add_cost(
                    id,
                    Some(chrome.user.user.id),
                    kind,
                    amount,
                    form.raw("details"),
                )
                .await
            {
                Ok(_) => return done(&chrome, id, "cost"),
                Err(e) => messages(e)?,
            }
        }
        _ => problems,
    };
    refused(
        &state,
        chrome,
        id,
        Refused {
            cost: outcome,
            form,
            ..Refused::default()
        },
    )
    .await
}

/// `1 250,50` → `1250.50`: spaces dropped, a lone comma read as the decimal separator.
fn decimal(text: &str) -> String {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !t.contains('.') && t.matches(',').count() == 1 {
        t.replace(',', ".")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn amounts_accept_common_spellings() {
        assert_eq!(decimal("1 250,50"), "1250.50");
        assert_eq!(decimal("1250.5"), "1250.5");
        assert_eq!(
            decimal("1,250.50"),
            "1,250.50",
            "ambiguous: refused by the parser"
        );
    }
}
