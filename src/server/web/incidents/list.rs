//! `GET /incident/`: the incident list with its filters, pagination and
//! export links; htmx reloads only the results when a filter changes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use firefighter_core::store::Catalog;
use firefighter_core::{IncidentOrder, Status};

use super::{IncidentRow, Names};
use crate::server::web::filters::{self, Selection};
use crate::server::web::page::{Chrome, PageResult, is_htmx_fragment};
use crate::server::{AppState, visibility};

/// Incidents per page, as the original.
pub(crate) const PAGE_SIZE: u64 = 125;
/// Highest page number the list serves (a page past the last one is empty).
const MAX_PAGE: u64 = 1_000_000;

/// An option of a filter's select.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// Categories of one group, for an `<optgroup>`.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceGroup {
    pub(crate) label: String,
    pub(crate) choices: Vec<Choice>,
}

/// The filter form, filled with what was asked.
#[derive(Debug, Clone)]
pub(crate) struct FilterForm {
    pub(crate) search: String,
    pub(crate) postmortems: Vec<Choice>,
    pub(crate) created_at: String,
    pub(crate) statuses: Vec<Choice>,
    pub(crate) priorities: Vec<Choice>,
    pub(crate) environments: Vec<Choice>,
    pub(crate) groups: Vec<Choice>,
    pub(crate) categories: Vec<ChoiceGroup>,
    pub(crate) messages: Vec<String>,
}

impl FilterForm {
    pub(crate) fn new(catalog: &Catalog, s: &Selection, messages: Vec<String>) -> FilterForm {
        FilterForm {
            search: s.search.clone(),
            postmortems: [
                ("", "Any"),
                ("missing", "Needed, not created"),
                ("not_ready", "Not ready"),
            ]
            .into_iter()
            .map(|(value, label)| Choice {
                value: value.to_owned(),
                label: label.to_owned(),
                selected: s.postmortem == value,
            })
            .collect(),
            created_at: s.created_at.clone(),
            statuses: Status::ALL
                .iter()
                .map(|st| Choice {
                    value: st.value().to_string(),
                    label: st.label().to_owned(),
                    selected: s.statuses.contains(&st.value()),
                })
                .collect(),
            priorities: catalog
                .priorities
                .iter()
                .map(|p| Choice {
                    value: p.id.to_string(),
                    label: format!("{} {}", p.emoji, p.name).trim().to_owned(),
                    selected: s.priorities.contains(&p.id),
                })
                .collect(),
            environments: catalog
                .environments
                .iter()
                .map(|e| Choice {
                    value: e.id.to_string(),
                    label: e.value.clone(),
                    selected: s.environments.contains(&e.id),
                })
                .collect(),
            groups: catalog
                .groups
                .iter()
                .map(|g| Choice {
                    value: g.id.to_string(),
                    label: g.name.clone(),
                    selected: s.groups.contains(&g.id),
                })
                .collect(),
            categories: catalog
                .groups
                .iter()
                .map(|g| ChoiceGroup {
                    label: g.name.clone(),
                    choices: catalog
                        .categories
                        .iter()
                        .filter(|c| c.group_id == g.id)
                        .map(|c| Choice {
                            value: c.id.to_string(),
                            label: c.name.clone(),
                            selected: s.categories.contains(&c.id),
                        })
                        .collect(),
                })
                .filter(|g| !g.choices.is_empty())
                .collect(),
            messages,
        }
    }
}

/// A link to another page of results.
#[derive(Debug, Clone)]
struct PageLink {
    label: String,
    href: String,
    current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/list.html")]
struct ListPage {
    chrome: Chrome,
    filters: FilterForm,
    filter_action: String,
    rows: Vec<IncidentRow>,
    show_last_event: bool,
    summary: Summary,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/results.html")]
struct ResultsFragment {
    chrome: Chrome,
    rows: Vec<IncidentRow>,
    show_last_event: bool,
    summary: Summary,
}

/// What surrounds the table: counts, pagination, export links, problems with the filters.
#[derive(Debug, Clone)]
struct Summary {
    total: u64,
    first: u64,
    last: u64,
    pages: Vec<PageLink>,
    exports: Vec<PageLink>,
    messages: Vec<String>,
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) async fn show(
    State(state): State<AppState>,
    chrome: Chrome,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let app = &state.app;
    let catalog = app.catalog().await?;
    let tz = app.time_zone();
    let query = query_pairs(raw.as_deref());
    let parsed = filters::parse(
        &query,
        &catalog,
        chrono::Utc::now().with_timezone(&tz).date_naive(),
        tz,
    );
    let page: u64 = query
        .iter()
        .rev()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.trim().parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
        // Far past the last page is the empty page past it, never an overflow.
        .min(MAX_PAGE);
    let messages = parsed.messages.all();
    let valid = parsed.messages.is_empty();
    let (incidents, total) = match parsed.filter.filter(|_| valid) {
        Some(mut filter) => {
            filter.visible_to = visibility(&chrome.user);
            filter.order = IncidentOrder::NewestFirst;
            let total = app.store().count_incidents(&filter).await?;
            filter.offset = (page - 1) * PAGE_SIZE;
            filter.limit = Some(PAGE_SIZE);
            (app.list_incidents(&filter).await?, total)
        }
        None => (Vec::new(), 0),
    };
    let now = chrono::Utc::now();
    let rows: Vec<IncidentRow> = incidents
        .iter()
        .map(|i| IncidentRow::new(i, Names(&catalog), tz, now))
        .collect();
    let page_count = total.div_ceil(PAGE_SIZE).max(1);
    let base = &parsed.selection.query;
    let pages = (1..=page_count)
        .filter(|p| *p == 1 || *p == page_count || p.abs_diff(page) <= 3)
        .map(|p| PageLink {
            label: p.to_string(),
            href: format!(
                "{}/incident/?{}{}page={p}",
                chrome.prefix,
                base,
                if base.is_empty() { "" } else { "&" }
            ),
            current: p == page,
        })
        .collect();
    let first = if rows.is_empty() {
        0
    } else {
        (page - 1) * PAGE_SIZE + 1
    };
    let api = format!(
        "{}/api/v2/firefighter/incidents/?{}{}",
        chrome.prefix,
        base,
        if base.is_empty() { "" } else { "&" }
    );
    let exports = ["csv", "tsv", "json"]
        .into_iter()
        .map(|format| PageLink {
            label: format.to_uppercase(),
            href: format!("{api}format={format}"),
            current: false,
        })
        .collect();
    let summary = Summary {
        last: first + rows.len() as u64 - u64::from(!rows.is_empty()),
        first,
        total,
        pages,
        exports,
        messages,
    };
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let chrome = chrome.in_section("incidents");
    if is_htmx_fragment(&headers) {
        return Ok((
            status,
            ResultsFragment {
                chrome,
                rows,
                show_last_event: false,
                summary,
            },
        )
            .into_response());
    }
    let filters = FilterForm::new(&catalog, &parsed.selection, Vec::new());
    let filter_action = format!("{}/incident/", chrome.prefix);
    Ok((
        status,
        ListPage {
            chrome,
            filters,
            filter_action,
            rows,
            show_last_event: false,
            summary,
        },
    )
        .into_response())
}
