//! `GET /statistics/`: incidents by priority, the age of open ones, how
//! long mitigation took, by group and by status, over the incidents the
//! viewer may see and the filters of the incident list.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use firefighter_core::store::Catalog;
use firefighter_core::{Incident, Status};

use super::filters;
use super::incidents::list::FilterForm;
use super::incidents::priority_class;
use super::page::{Chrome, PageResult};
use crate::server::{AppState, visibility};

/// Age buckets of open incidents, in whole days (inclusive bounds; `None`: no upper bound).
const AGE_BUCKETS: [(i64, Option<i64>, &str); 7] = [
    (0, Some(2), "0–2 days"),
    (3, Some(4), "3–4 days"),
    (5, Some(6), "5–6 days"),
    (7, Some(14), "7–14 days"),
    (15, Some(29), "15–29 days"),
    (30, Some(89), "30–89 days"),
    (90, None, "90+ days"),
];

/// Time-to-mitigate buckets: upper bounds (exclusive); the last one is open.
const MITIGATION_BUCKETS: [(Option<i64>, &str); 6] = [
    (Some(15 * 60), "< 15 min"),
    (Some(30 * 60), "< 30 min"),
    (Some(3600), "< 1 h"),
    (Some(3 * 3600), "< 3 h"),
    (Some(86_400), "< 1 day"),
    (None, "≥ 1 day"),
];

#[derive(Debug, Clone)]
struct PriorityRow {
    label: String,
    class: String,
    total: usize,
    open: usize,
    closed: usize,
    closed_percent: String,
}

#[derive(Debug, Clone)]
struct Cell {
    count: usize,
    href: String,
}

#[derive(Debug, Clone)]
struct AgeRow {
    label: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Clone)]
struct MitigationRow {
    label: String,
    cells: Vec<(usize, String)>,
    total: usize,
}

#[derive(Debug, Clone)]
struct Bar {
    label: String,
    count: usize,
    width: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    chrome: Chrome,
    filters: FilterForm,
    filter_action: String,
    total: usize,
    by_priority: Vec<PriorityRow>,
    age_headers: Vec<&'static str>,
    ages: Vec<AgeRow>,
    mitigation_headers: Vec<&'static str>,
    mitigation: Vec<MitigationRow>,
    by_group: Vec<Bar>,
    by_status: Vec<Bar>,
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.0} %", part as f64 * 100.0 / whole as f64)
    }
}

fn bars(counts: Vec<(String, usize)>) -> Vec<Bar> {
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    counts
        .into_iter()
        .map(|(label, count)| Bar {
            width: u32::try_from(count * 100 / max).unwrap_or(100),
            label,
            count,
        })
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A link to the open incidents of `priority` declared between `days_min` and `days_max` whole days ago.
fn age_link(
    chrome: &Chrome,
    priority: &str,
    days_min: i64,
    days_max: Option<i64>,
    now: DateTime<Utc>,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("priority", priority);
    for s in Status::ALL.into_iter().filter(|s| s.is_active()) {
        q.append_pair("status", &s.value().to_string());
    }
    // The youngest bucket reaches now: no upper bound, so incidents declared since still match.
    if days_min > 0 {
        q.append_pair("created_at__lte", &rfc3339(now - Duration::days(days_min)));
    }
    if let Some(max) = days_max {
        q.append_pair("created_at__gt", &rfc3339(now - Duration::days(max + 1)));
    }
    format!("{}/incident/?{}", chrome.prefix, q.finish())
}

fn compute(
    chrome: &Chrome,
    catalog: &Catalog,
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> StatisticsPage {
    let of = |p: &firefighter_core::Priority| {
        let id = p.id;
        incidents.iter().filter(move |i| i.priority_id == id)
    };
    let by_priority = catalog
        .priorities
        .iter()
        .map(|p| {
            let total = of(p).count();
            let closed = of(p).filter(|i| i.status == Status::Closed).count();
            PriorityRow {
                label: format!("{} {}", p.emoji, p.name).trim().to_owned(),
                class: priority_class(p.value),
                total,
                open: total - closed,
                closed,
                closed_percent: percent(closed, total),
            }
        })
        .collect();
    let ages = catalog
        .priorities
        .iter()
        .map(|p| AgeRow {
            label: format!("{} {}", p.emoji, p.name).trim().to_owned(),
            cells: AGE_BUCKETS
                .iter()
                .map(|(lo, hi, _)| Cell {
                    count: of(p)
                        .filter(|i| i.status.is_active())
                        .filter(|i| {
                            let days = (now - i.created_at).num_days();
                            days >= *lo && hi.is_none_or(|h| days <= h)
                        })
                        .count(),
                    href: age_link(chrome, &p.id.to_string(), *lo, *hi, now),
                })
                .collect(),
        })
        .collect();
    let mitigation = catalog
        .priorities
        .iter()
        .map(|p| {
            let seconds: Vec<i64> = of(p)
                .filter(|i| i.status >= Status::Mitigated)
                .filter_map(|i| Some((i.mitigated_at? - i.created_at).num_seconds()))
                .filter(|s| *s >= 1)
                .collect();
            let total = seconds.len();
            let mut lower = 0;
            let cells = MITIGATION_BUCKETS
                .iter()
                .map(|(upper, _)| {
                    let n = seconds
                        .iter()
                        .filter(|s| **s >= lower && upper.is_none_or(|u| **s < u))
                        .count();
                    lower = upper.unwrap_or(i64::MAX);
                    (n, percent(n, total))
                })
                .collect();
            MitigationRow {
                label: format!("{} {}", p.emoji, p.name).trim().to_owned(),
                cells,
                total,
            }
        })
        .collect();
    let by_group = bars(
        catalog
            .groups
            .iter()
            .map(|g| {
                let n = incidents
                    .iter()
                    .filter(|i| {
                        catalog
                            .categories
                            .iter()
                            .any(|c| c.id == i.category_id && c.group_id == g.id)
                    })
                    .count();
                (g.name.clone(), n)
            })
            .collect(),
    );
    let by_status = bars(
        Status::ALL
            .iter()
            .map(|s| {
                (
                    s.label().to_owned(),
                    incidents.iter().filter(|i| i.status == *s).count(),
                )
            })
            .collect(),
    );
    StatisticsPage {
        chrome: chrome.clone().in_section("statistics"),
        filters: FilterForm::new(catalog, &filters::Selection::default(), Vec::new()),
        filter_action: format!("{}/statistics/", chrome.prefix),
        total: incidents.len(),
        by_priority,
        age_headers: AGE_BUCKETS.iter().map(|(_, _, l)| *l).collect(),
        ages,
        mitigation_headers: MITIGATION_BUCKETS.iter().map(|(_, l)| *l).collect(),
        mitigation,
        by_group,
        by_status,
    }
}

/// `GET /statistics/`.
pub(super) async fn show(
    State(state): State<AppState>,
    chrome: Chrome,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let app = &state.app;
    let catalog = app.catalog().await?;
    let tz = app.time_zone();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let now = Utc::now();
    let parsed = filters::parse(&query, &catalog, now.with_timezone(&tz).date_naive(), tz);
    let valid = parsed.messages.is_empty();
    let incidents = match parsed.filter.filter(|_| valid) {
        Some(mut filter) => {
            filter.visible_to = visibility(&chrome.user);
            app.list_incidents(&filter).await?
        }
        None => Vec::new(),
    };
    let mut page = compute(&chrome, &catalog, &incidents, now);
    page.filters = FilterForm::new(&catalog, &parsed.selection, parsed.messages.all());
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, page).into_response())
}
