//! The built-in post-mortem's page, `/incident/<id>/postmortem/`: the
//! document generated from the incident, its written sections, follow-up
//! actions and ready mark, and its Markdown export. Creation starts from
//! the incident page (or the API, or Slack).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use firefighter_core::IncidentId;
use firefighter_core::postmortem::{NewFollowUpAction, PostMortemNotes};

use super::detail::{NoticeQuery, parse_id, visible_details};
use crate::server::AppState;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, WebError, notice, unprocessable};

type Fields = Form<Vec<(String, String)>>;

#[derive(Debug, Clone)]
struct ActionView {
    id: String,
    description: String,
    owner: String,
    due_on: String,
    done: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/postmortem.html")]
struct PostMortemPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    id: i64,
    title: String,
    ready: bool,
    notes: PostMortemNotes,
    actions: Vec<ActionView>,
    action_form: FormData,
    messages: Vec<String>,
    document: String,
}

async fn render(
    state: &AppState,
    chrome: Chrome,
    id: IncidentId,
    notice: Option<&'static str>,
    typed: Option<(PostMortemNotes, FormData)>,
    messages: Messages,
) -> PageResult {
    let details = visible_details(state, &chrome, id).await?;
    let report = state.app.postmortem_report(id).await?;
    let document = state.app.postmortem_markdown_of(&report).await?;
    let (notes, action_form) = typed.unwrap_or((report.notes, FormData::default()));
    let page = PostMortemPage {
        chrome,
        notice,
        id: id.0,
        title: details.incident.title,
        ready: report.document.ready,
        notes,
        actions: report
            .actions
            .into_iter()
            .map(|a| ActionView {
                id: a.id.to_string(),
                description: a.description,
                owner: a.owner,
                due_on: a.due_on.to_string(),
                done: a.done,
            })
            .collect(),
        action_form,
        messages: messages.all(),
        document,
    };
    Ok(page.into_response())
}

/// What a core error says on the page; anything but bad input is the error page.
async fn refused(
    state: &AppState,
    chrome: Chrome,
    id: IncidentId,
    typed: Option<(PostMortemNotes, FormData)>,
    error: firefighter_core::Error,
) -> PageResult {
    let messages = Messages::from_core(error).map_err(WebError::from)?;
    Ok(unprocessable(
        render(state, chrome, id, None, typed, messages).await?,
    ))
}

fn done(chrome: &Chrome, id: IncidentId, notice: &str) -> PageResult {
    Ok(chrome.redirect(&format!("/incident/{}/postmortem/?notice={notice}", id.0)))
}

/// `GET /incident/<id>/postmortem/`.
pub(super) async fn show(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    let id = parse_id(&id)?;
    // `render` checks first that the viewer may see the incident (404 otherwise).
    match render(
        &state,
        chrome.clone(),
        id,
        notice(q.notice()),
        None,
        Messages::default(),
    )
    .await
    {
        // No post-mortem yet: the incident page says how to create one.
        Err(WebError(crate::Error::Core(firefighter_core::Error::Invalid(_)))) => {
            Ok(chrome.redirect(&format!("/incident/{}/?notice=no_postmortem", id.0)))
        }
        other => other,
    }
}

/// `GET /incident/<id>/postmortem.md`: the document as Markdown.
pub(super) async fn markdown(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let text = state.app.postmortem_markdown(id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"postmortem-{}.md\"", id.0),
            ),
        ],
        text,
    )
        .into_response())
}

/// `POST /incident/<id>/postmortem/create` (from the incident page).
pub(super) async fn create(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    match state
        .app
        .create_postmortem(id, Some(chrome.user.user.id))
        .await
    {
        Ok(_) => done(&chrome, id, "postmortem_created"),
        Err(e @ firefighter_core::Error::Invalid(_)) => {
            let messages = Messages::from_core(e).map_err(WebError::from)?;
            super::detail::refused_postmortem(&state, chrome, id, messages).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /incident/<id>/postmortem/`: the written sections.
pub(super) async fn save(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let notes = PostMortemNotes {
        impact: form.raw("impact").to_owned(),
        root_causes: form.raw("root_causes").to_owned(),
        went_well: form.raw("went_well").to_owned(),
        went_badly: form.raw("went_badly").to_owned(),
        ..PostMortemNotes::default()
    };
    match state
        .app
        .save_postmortem_notes(id, notes.clone(), Some(chrome.user.user.id))
        .await
    {
        Ok(()) => done(&chrome, id, "saved"),
        Err(e) => refused(&state, chrome, id, Some((notes, FormData::default())), e).await,
    }
}

/// `POST /incident/<id>/postmortem/ready`: marks it ready (or a draft again).
pub(super) async fn ready(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let ready = FormData(fields).text("ready") == "true";
    match state
        .app
        .mark_postmortem_ready(id, ready, Some(chrome.user.user.id))
        .await
    {
        Ok(_) => done(
            &chrome,
            id,
            if ready {
                "postmortem_ready"
            } else {
                "postmortem_draft"
            },
        ),
        Err(e) => refused(&state, chrome, id, None, e).await,
    }
}

/// `POST /incident/<id>/postmortem/actions`: adds a follow-up action.
pub(super) async fn add_action(
    State(state): State<AppState>,
    chrome: Chrome,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let form = FormData(fields);
    let mut messages = Messages::default();
    let due = form.text("due_on");
    let due_on = if due.is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                messages.push("due_on", format!("\"{due}\" is not a date (YYYY-MM-DD)"));
                None
            }
        }
    };
    let current = state.app.postmortem_report(id).await?.notes;
    if !messages.is_empty() {
        let page = render(&state, chrome, id, None, Some((current, form)), messages).await?;
        return Ok(unprocessable(page));
    }
    let action = NewFollowUpAction {
        description: form.raw("description").to_owned(),
        owner: form.raw("owner").to_owned(),
        due_on,
    };
    match state.app.add_follow_up_action(id, action).await {
        Ok(_) => done(&chrome, id, "saved"),
        Err(e) => refused(&state, chrome, id, Some((current, form)), e).await,
    }
}

/// `POST /incident/<id>/postmortem/actions/<action>`: done, not done, or removed.
pub(super) async fn change_action(
    State(state): State<AppState>,
    chrome: Chrome,
    Path((id, action)): Path<(String, String)>,
    Form(fields): Fields,
) -> PageResult {
    let id = parse_id(&id)?;
    visible_details(&state, &chrome, id).await?;
    let action: uuid::Uuid = action.parse().map_err(|_| WebError::not_found())?;
    let form = FormData(fields);
    let result = match form.text("change") {
        "remove" => state.app.delete_follow_up_action(id, action).await,
        "done" => state.app.set_follow_up_action_done(id, action, true).await,
        _ => state.app.set_follow_up_action_done(id, action, false).await,
    };
    match result {
        Ok(()) => done(&chrome, id, "saved"),
        Err(firefighter_core::Error::NotFound { .. }) => Err(WebError::not_found()),
        Err(e) => refused(&state, chrome, id, None, e).await,
    }
}
