//! The filters of `incidents/`, as the original's `IncidentFilterSet`:
//! `status`, `_status__{gte,lte,lt,gt}`, `environment`, `environment__value[__in]`,
//! `priority`, `group`, `incident_category`, `created_by`, `id` and its
//! lookups, `ignore`, `search`, `created_at` (free-text ranges) and its
//! lookups, `order_by`. Unknown parameters are ignored (as django-filter does).

use chrono::{DateTime, Duration, Utc};
use firefighter_core::store::Catalog;
use firefighter_core::{
    CategoryId, EnvironmentId, GroupId, IncidentFilter, IncidentId, IncidentOrder, PriorityId,
    Status, UserId,
};

use super::dates;
use crate::Problem;

/// The filter, or `None` when it can match nothing (an empty status range...).
pub(crate) struct Parsed {
    pub(crate) filter: Option<IncidentFilter>,
    pub(crate) show_tags: bool,
}

fn invalid(attr: &str, detail: String) -> Problem {
    Problem::field(attr, "invalid", detail)
}

fn choice(attr: &str, value: &str) -> Problem {
    Problem::field(
        attr,
        "invalid_choice",
        format!("Select a valid choice. {value} is not one of the available choices."),
    )
}

/// Values of a parameter given several times or comma-separated.
pub(crate) fn values<'a>(query: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    query
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

fn last<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn boolean(attr: &str, v: &str, problems: &mut Vec<Problem>) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => {
            problems.push(invalid(
                attr,
                format!("\"{v}\" is not a boolean (true or false)"),
            ));
            None
        }
    }
}

fn uuids(
    query: &[(String, String)],
    name: &str,
    known: &[uuid::Uuid],
    problems: &mut Vec<Problem>,
) -> Vec<uuid::Uuid> {
    let mut out = Vec::new();
    for v in values(query, name) {
        match uuid::Uuid::parse_str(v) {
            Ok(id) if known.contains(&id) => out.push(id),
            Ok(_) => problems.push(choice(name, v)),
            Err(_) => problems.push(invalid(name, format!("\"{v}\" is not a valid UUID"))),
        }
    }
    out
}

fn instant(attr: &str, v: &str, problems: &mut Vec<Problem>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    // A date alone, or a date and time without offset, is read as UTC.
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match naive {
        Some(n) => Some(n.and_utc()),
        None => {
            problems.push(invalid(
                attr,
                format!("\"{v}\" is not a date-time (use ISO 8601, e.g. 2026-03-01T10:00:00Z)"),
            ));
            None
        }
    }
}

fn int(attr: &str, v: &str, problems: &mut Vec<Problem>) -> Option<i64> {
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            problems.push(invalid(attr, format!("\"{v}\" is not a whole number")));
            None
        }
    }
}

/// The keys of `order_by`, in order (comma-separated, as the original takes them).
fn order(v: &str, problems: &mut Vec<Problem>) -> Vec<IncidentOrder> {
    let mut keys = Vec::new();
    for key in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        keys.push(match key {
            "-created_at" | "-id" => IncidentOrder::NewestFirst,
            "created_at" | "id" => IncidentOrder::OldestFirst,
            "priority" => IncidentOrder::Priority,
            "-priority" => IncidentOrder::PriorityDescending,
            "title" => IncidentOrder::Title,
            "-title" => IncidentOrder::TitleDescending,
            "created_by" => IncidentOrder::CreatedBy,
            "-created_by" => IncidentOrder::CreatedByDescending,
            other => {
                problems.push(choice("order_by", other));
                continue;
            }
        });
    }
    keys
}

/// Parses the query. `users` tells whether a user id exists (for `created_by`).
pub(crate) fn parse(
    query: &[(String, String)],
    catalog: &Catalog,
    today: chrono::NaiveDate,
    tz: chrono_tz::Tz,
    known_users: &[UserId],
    problems: &mut Vec<Problem>,
) -> Parsed {
    let mut f = IncidentFilter::default();
    let mut empty = false;

    for v in values(query, "status") {
        match v.parse::<i16>().ok().and_then(Status::from_value) {
            Some(s) => f.statuses.push(s),
            None => problems.push(choice("status", v)),
        }
    }
    // Status bounds on the value scale (10..60), whatever integer is given.
    let at_least = |min: i64| {
        Status::ALL
            .into_iter()
            .find(|s| i64::from(s.value()) >= min)
    };
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None; // exclusive
    for (name, lo, hi) in [
        ("_status__gte", Some(0), None),
        ("_status__gt", Some(1), None),
        ("_status__lte", None, Some(1)),
        ("_status__lt", None, Some(0)),
    ] {
        if let Some(v) = last(query, name)
            && let Some(n) = int(name, v, problems)
        {
            if let Some(add) = lo {
                lower = Some(lower.map_or(n + add, |l: i64| l.max(n + add)));
            }
            if let Some(add) = hi {
                upper = Some(upper.map_or(n + add, |u: i64| u.min(n + add)));
            }
        }
    }
    if let Some(l) = lower {
        match at_least(l) {
            Some(s) => f.status_at_least = Some(s),
            None => empty = true,
        }
    }
    if let Some(u) = upper {
        // No status at or above the bound: every status is below it.
        if let Some(s) = at_least(u) {
            f.status_below = Some(s);
        }
    }

    let env_ids: Vec<uuid::Uuid> = catalog.environments.iter().map(|e| e.id.0).collect();
    f.environment_ids = uuids(query, "environment", &env_ids, problems)
        .into_iter()
        .map(EnvironmentId)
        .collect();
    let mut by_value: Vec<&str> = values(query, "environment__value__in");
    by_value.extend(last(query, "environment__value"));
    if !by_value.is_empty() {
        let matched: Vec<EnvironmentId> = catalog
            .environments
            .iter()
            .filter(|e| by_value.iter().any(|v| v.eq_ignore_ascii_case(&e.value)))
            .map(|e| e.id)
            .collect();
        if matched.is_empty() {
            empty = true;
        }
        f.environment_ids.extend(matched);
    }
    let ids: Vec<uuid::Uuid> = catalog.priorities.iter().map(|p| p.id.0).collect();
    f.priority_ids = uuids(query, "priority", &ids, problems)
        .into_iter()
        .map(PriorityId)
        .collect();
    let ids: Vec<uuid::Uuid> = catalog.groups.iter().map(|g| g.id.0).collect();
    f.group_ids = uuids(query, "group", &ids, problems)
        .into_iter()
        .map(GroupId)
        .collect();
    let ids: Vec<uuid::Uuid> = catalog.categories.iter().map(|c| c.id.0).collect();
    f.category_ids = uuids(query, "incident_category", &ids, problems)
        .into_iter()
        .map(CategoryId)
        .collect();
    let ids: Vec<uuid::Uuid> = known_users.iter().map(|u| u.0).collect();
    f.created_by = uuids(query, "created_by", &ids, problems)
        .into_iter()
        .map(UserId)
        .collect();

    for name in ["id", "id__iexact", "id__exact"] {
        if let Some(v) = last(query, name)
            && let Some(n) = int(name, v, problems)
        {
            f.ids.push(IncidentId(n));
        }
    }
    for v in values(query, "id__in") {
        if let Some(n) = int("id__in", v, problems) {
            f.ids.push(IncidentId(n));
        }
    }
    let mut id_min: Option<i64> = None;
    let mut id_max: Option<i64> = None;
    for (name, is_min, add) in [
        ("id__gte", true, 0),
        ("id__gt", true, 1),
        ("id__lte", false, 0),
        ("id__lt", false, -1),
    ] {
        if let Some(v) = last(query, name)
            && let Some(n) = int(name, v, problems)
        {
            let bound = n.saturating_add(add);
            if is_min {
                id_min = Some(id_min.map_or(bound, |m| m.max(bound)));
            } else {
                id_max = Some(id_max.map_or(bound, |m| m.min(bound)));
            }
        }
    }
    f.id_min = id_min.map(IncidentId);
    f.id_max = id_max.map(IncidentId);

    if let Some(v) = last(query, "ignore") {
        f.ignore = boolean("ignore", v, problems);
    }
    if let Some(v) = last(query, "postmortem") {
        match firefighter_core::PostMortemFilter::parse(v) {
            Some(pm) => f.postmortem = Some(pm),
            None => problems.push(invalid(
                "postmortem",
                format!("\"{v}\" is not a post-mortem state (missing or not_ready)"),
            )),
        }
    }
    if let Some(v) = last(query, "search") {
        if v.chars().count() > 200 {
            problems.push(invalid(
                "search",
                "a search has at most 200 characters".into(),
            ));
        } else if v.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            problems.push(invalid(
                "search",
                "a search cannot contain control characters".into(),
            ));
        } else {
            f.search = Some(v.to_owned());
        }
    }

    let mut from: Option<DateTime<Utc>> = None;
    let mut before: Option<DateTime<Utc>> = None;
    let mut narrow = |start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>| {
        if let Some(s) = start {
            from = Some(from.map_or(s, |f| f.max(s)));
        }
        if let Some(e) = end {
            before = Some(before.map_or(e, |b| b.min(e)));
        }
    };
    if let Some(v) = last(query, "created_at") {
        match dates::parse_range(v, today, tz) {
            Ok((start, end)) => narrow(Some(start), Some(end)),
            Err(e) => problems.push(invalid("created_at", e)),
        }
    }
    let micro = Duration::microseconds(1);
    for (name, start, end) in [
        ("created_at__gte", Some(Duration::zero()), None),
        ("created_at__gt", Some(micro), None),
        ("created_at__lte", None, Some(micro)),
        ("created_at__lt", None, Some(Duration::zero())),
        ("created_at__exact", Some(Duration::zero()), Some(micro)),
    ] {
        if let Some(v) = last(query, name)
            && let Some(t) = instant(name, v, problems)
        {
            narrow(start.map(|d| t + d), end.map(|d| t + d));
        }
    }
    f.created_from = from;
    f.created_before = before;
    if from.zip(before).is_some_and(|(a, b)| b <= a) {
        empty = true;
    }

    if let Some(v) = last(query, "order_by") {
        let mut keys = order(v, problems).into_iter();
        if let Some(first) = keys.next() {
            f.order = first;
            f.then_by = keys.collect();
        }
    }
    let show_tags = match last(query, "show_tags") {
        Some(v) => boolean("show_tags", v, problems).unwrap_or(false),
        None => false,
    };
    Parsed {
        filter: (!empty).then_some(f),
        show_tags,
    }
}
