//! Periodic tasks: their schedules (enabled, interval or cron), running
//! one now, and the latest runs with their errors.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::response::IntoResponse;
use firefighter_core::task::{Schedule, TaskRunner};

use crate::server::AppState;
use crate::server::web::format;
use crate::server::web::forms::FormData;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice, unprocessable};

/// How many runs are listed.
const RUNS_SHOWN: u32 = 50;

#[derive(Debug, Clone)]
struct TaskRow {
    name: String,
    description: String,
    enabled: bool,
    schedule: String,
    schedule_input: String,
    next_run: String,
    running: Option<String>,
    /// Known to this instance (a task of an integration switched off here cannot run from here).
    runnable: bool,
    messages: Vec<String>,
}

#[derive(Debug, Clone)]
struct RunRow {
    id: i64,
    task: String,
    trigger: String,
    started: String,
    duration: String,
    outcome: &'static str,
    error: Option<String>,
    summary: Option<String>,
    highlighted: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/tasks.html")]
struct TasksPage {
    chrome: Chrome,
    tasks: Vec<TaskRow>,
    runs: Vec<RunRow>,
    notice: Option<&'static str>,
    /// The run just started by hand.
    ran: Option<RunRow>,
    messages: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct TasksQuery {
    notice: Option<String>,
    run: Option<i64>,
}

/// The text of a schedule in the form: `15m`, `2h`, a cron expression.
fn schedule_input(schedule: Option<&Schedule>) -> String {
    match schedule {
        None => String::new(),
        Some(Schedule::Cron { expression }) => expression.clone(),
        Some(every) => every.to_string().trim_start_matches("every ").to_owned(),
    }
}

async fn page(
    state: &AppState,
    chrome: Chrome,
    ran: Option<i64>,
    refused: Option<(&str, &FormData, Vec<String>)>,
    messages: Vec<String>,
    notice: Option<&'static str>,
) -> Result<TasksPage, WebError> {
    let app = &state.app;
    let tz = app.time_zone();
    let store = app.store();
    let tasks = store
        .task_schedules()
        .await?
        .into_iter()
        .map(|s| {
            let task = app.tasks().iter().find(|t| t.name() == s.name);
            let now = chrono::Utc::now();
            let mut row = TaskRow {
                description: task.map(|t| t.description().to_owned()).unwrap_or_else(|| {
                    "Not available on this instance (its integration is off).".into()
                }),
                enabled: s.enabled,
                schedule: s
                    .schedule
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "by hand only".into()),
                schedule_input: schedule_input(s.schedule.as_ref()),
                next_run: match s.next_run_at {
                    Some(t) if s.enabled || t <= now => format::instant(t, tz),
                    _ => "—".into(),
                },
                running: s
                    .lease_until
                    .filter(|until| *until > now)
                    .map(|_| s.lease_owner.clone().unwrap_or_default()),
                runnable: task.is_some(),
                messages: Vec::new(),
                name: s.name,
            };
            if let Some((name, form, problems)) = &refused
                && *name == row.name
            {
                row.enabled = form.checked("enabled");
                row.schedule_input = form.text("schedule").to_owned();
                row.messages = problems.clone();
            }
            row
        })
        .collect();
    let runs: Vec<RunRow> = store
        .task_runs(None, RUNS_SHOWN)
        .await?
        .into_iter()
        .map(|r| RunRow {
            id: r.id,
            outcome: r.outcome(),
            duration: r
                .finished_at
                .map(|end| firefighter_core::metric::format_hms(end - r.started_at))
                .unwrap_or_else(|| "—".into()),
            started: format::instant(r.started_at, tz),
            highlighted: Some(r.id) == ran,
            task: r.task,
            trigger: r.trigger,
            error: r.error,
            summary: r.summary,
        })
        .collect();
    Ok(TasksPage {
        chrome,
        ran: runs.iter().find(|r| r.highlighted).cloned(),
        tasks,
        runs,
        notice,
        messages,
    })
}

/// `GET /admin/tasks/`.
pub(super) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Query(q): Query<TasksQuery>,
) -> PageResult {
    Ok(page(
        &state,
        chrome,
        q.run,
        None,
        Vec::new(),
        notice(q.notice.as_deref()),
    )
    .await?
    .into_response())
}

/// `POST /admin/tasks/<name>/schedule`: `enabled` (checkbox) and `schedule`
/// (`90`, `15m`, `2h`, `1d` or a cron expression; empty: by hand only).
pub(super) async fn schedule(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let app = &state.app;
    if !app
        .store()
        .task_schedules()
        .await?
        .iter()
        .any(|s| s.name == name)
    {
        return Err(WebError::not_found());
    }
    let form = FormData(fields);
    let enabled = form.checked("enabled");
    let schedule = match form.text("schedule") {
        "" => Ok(None),
        text => Schedule::parse(text).map(Some),
    };
    match schedule {
        Ok(schedule) => {
            let next = if enabled {
                schedule
                    .as_ref()
                    .and_then(|s| s.next_after(firefighter_core::store::now(), app.time_zone()))
            } else {
                None
            };
            app.store()
                .set_task_schedule(&name, enabled, schedule.as_ref(), next)
                .await?;
            tracing::info!(task = %name, enabled, schedule = ?schedule, by = %chrome.user.user.email, "task schedule changed from the back-office");
            Ok(chrome.redirect("/admin/tasks/?notice=schedule"))
        }
        Err(e) => {
            let problems = crate::server::web::forms::Messages::from_core(e)
                .map_err(WebError::from)?
                .all();
            let page = page(
                &state,
                chrome,
                None,
                Some((&name, &form, problems)),
                Vec::new(),
                None,
            )
            .await?;
            Ok(unprocessable(page))
        }
    }
}

/// `POST /admin/tasks/<name>/run`: runs the task now and shows the run.
pub(super) async fn run_now(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(name): Path<String>,
) -> PageResult {
    tracing::info!(task = %name, by = %chrome.user.user.email, "task run asked from the back-office");
    match TaskRunner::for_app(&state.app).run_now(&name).await {
        Ok(run) => Ok(chrome.redirect(&format!("/admin/tasks/?run={}", run.id))),
        Err(firefighter_core::Error::NotFound { .. }) => Err(WebError::not_found()),
        Err(firefighter_core::Error::Conflict(message)) => {
            let page = page(&state, chrome, None, None, vec![message], None).await?;
            Ok((axum::http::StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
