//! `GET/POST /incident/create/`: the declaration form. Nothing is written
//! when a field is wrong; the form comes back with the messages.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, State};
use axum::response::IntoResponse;
use firefighter_core::store::Catalog;
use firefighter_core::{CategoryId, Declaration, EnvironmentId, PriorityId};

use super::list::{Choice, ChoiceGroup};
use crate::server::AppState;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::page::{Chrome, PageResult, WebError, unprocessable};

#[derive(Template, WebTemplate)]
#[template(path = "incidents/declare.html")]
struct DeclarePage {
    chrome: Chrome,
    title: String,
    description: String,
    categories: Vec<ChoiceGroup>,
    priorities: Vec<Choice>,
    environments: Vec<Choice>,
    visibility: Vec<Choice>,
    messages: Messages,
    title_max: usize,
    description_max: usize,
}

impl DeclarePage {
    fn about(&self, field: &str) -> &[String] {
        self.messages.about(field)
    }
}

fn page(chrome: Chrome, catalog: &Catalog, form: &FormData, messages: Messages) -> DeclarePage {
    let submitted = !form.0.is_empty();
    let chosen_envs = form.all("environment");
    DeclarePage {
        chrome: chrome.in_section("incidents"),
        title: form.raw("title").to_owned(),
        description: form.raw("description").to_owned(),
        categories: catalog
            .groups
            .iter()
            .map(|g| ChoiceGroup {
                label: g.name.clone(),
                choices: catalog
                    .categories
                    .iter()
                    .filter(|c| c.group_id == g.id && c.enabled_create)
                    .map(|c| Choice {
                        value: c.id.to_string(),
                        label: if c.private {
                            format!("{} (private)", c.name)
                        } else {
                            c.name.clone()
                        },
                        selected: form.text("category") == c.id.to_string(),
                    })
                    .collect(),
            })
            .filter(|g| !g.choices.is_empty())
            .collect(),
        priorities: catalog
            .priorities
            .iter()
            .filter(|p| p.enabled_create)
            .map(|p| Choice {
                value: p.id.to_string(),
                label: p.full_name().trim().to_owned(),
                selected: if submitted {
                    form.text("priority") == p.id.to_string()
                } else {
                    p.default
                },
            })
            .collect(),
        environments: catalog
            .environments
            .iter()
            .map(|e| Choice {
                value: e.id.to_string(),
                label: format!("{} ({})", e.value, e.name),
                selected: if submitted {
                    chosen_envs.contains(&e.id.to_string().as_str())
                } else {
                    e.default
                },
            })
            .collect(),
        visibility: [
            ("", "As its category says"),
            ("public", "Public"),
            ("private", "Private: members and staff only"),
        ]
        .into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            selected: form.text("visibility") == value,
        })
        .collect(),
        messages,
        title_max: firefighter_core::Title::MAX_CHARS,
        description_max: firefighter_core::Description::MAX_CHARS,
    }
}

/// `GET /incident/create/`.
pub(super) async fn form(State(state): State<AppState>, chrome: Chrome) -> PageResult {
    let catalog = state.app.catalog().await?;
    Ok(page(chrome, &catalog, &FormData::default(), Messages::default()).into_response())
}

/// `POST /incident/create/`: declares, then shows the new incident.
pub(super) async fn submit(
    State(state): State<AppState>,
    chrome: Chrome,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let form = FormData(fields);
    let catalog = state.app.catalog().await?;
    let mut problems = Messages::default();
    let category_id = match form.text("category") {
        "" => None,
        text => match text.parse::<CategoryId>() {
            Ok(c) => Some(c),
            Err(_) => {
                problems.push("category_id", "choose a category from the list");
                None
            }
        },
    };
    let priority_id = match form.text("priority") {
        "" => None,
        text => match text.parse::<PriorityId>() {
            Ok(p) => Some(p),
            Err(_) => {
                problems.push("priority_id", "choose a priority from the list");
                None
            }
        },
    };
    let mut environment_ids = Vec::new();
    for text in form.all("environment") {
        match text.parse::<EnvironmentId>() {
            Ok(e) => environment_ids.push(e),
            Err(_) => problems.push("environment_ids", "choose environments from the list"),
        }
    }
    let private = match form.text("visibility") {
        "" => None,
        "public" => Some(false),
        "private" => Some(true),
        other => {
            problems.push("private", format!("\"{other}\" is not a visibility"));
            None
        }
    };
    if problems.is_empty() {
        let declaration = Declaration {
            title: form.raw("title").to_owned(),
            description: form.raw("description").to_owned(),
            priority_id,
            category_id,
            environment_ids,
            created_by: Some(chrome.user.user.id),
            private,
            extras: serde_json::json!({"source": "web"}),
            ..Declaration::default()
        };
        match state.app.declare(declaration).await {
            Ok(outcome) => {
                return Ok(chrome.redirect(&format!(
                    "/incident/{}/?notice=declared",
                    outcome.incident.id.0
                )));
            }
            Err(e) => problems = Messages::from_core(e).map_err(WebError::from)?,
        }
    }
    Ok(unprocessable(page(chrome, &catalog, &form, problems)))
}
