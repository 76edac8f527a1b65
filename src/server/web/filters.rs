//! The filters of the incident list and the statistics page. They use the
//! REST API's parameter names and formats (`status`, `priority`,
//! `environment`, `group`, `incident_category`, `search`, `created_at` and
//! its `__gte`/`__gt`/`__lte`/`__lt` lookups) and its parser, so the export
//! buttons pass the page's query to the API unchanged.

use chrono::NaiveDate;
use chrono_tz::Tz;
use firefighter_core::store::Catalog;
use firefighter_core::{CategoryId, EnvironmentId, GroupId, IncidentFilter, PriorityId, Status};

use super::forms::Messages;
use crate::server::api::filters as api_filters;

/// Parameters that are not filters (kept out of export links).
const NOT_FILTERS: [&str; 2] = ["page", "format"];

/// What was asked, to fill the filter form again.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) search: String,
    /// `missing`, `not_ready` or empty.
    pub(crate) postmortem: String,
    pub(crate) created_at: String,
    pub(crate) statuses: Vec<i16>,
    pub(crate) priorities: Vec<PriorityId>,
    pub(crate) environments: Vec<EnvironmentId>,
    pub(crate) groups: Vec<GroupId>,
    pub(crate) categories: Vec<CategoryId>,
    /// The filters as a query string (without `page`), for links and exports.
    pub(crate) query: String,
}

/// A parsed query: the core filter (`None` when it can match nothing), the
/// selection, and what could not be understood.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub(crate) filter: Option<IncidentFilter>,
    pub(crate) selection: Selection,
    pub(crate) messages: Messages,
}

fn last<'a>(query: &'a [(String, String)], name: &str) -> &'a str {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn ids<T: std::str::FromStr>(query: &[(String, String)], name: &str) -> Vec<T> {
    api_filters::values(query, name)
        .into_iter()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Reads the filters of a query with the API's parser (so a page and its
/// export select the same incidents). `today` and `tz` anchor relative
/// ranges (`last_week`). `created_by` is not offered by the pages: given by
/// hand, it is refused.
pub(crate) fn parse(
    query: &[(String, String)],
    catalog: &Catalog,
    today: NaiveDate,
    tz: Tz,
) -> Parsed {
    let filters: Vec<(String, String)> = query
        .iter()
        .filter(|(k, v)| !NOT_FILTERS.contains(&k.as_str()) && !v.trim().is_empty())
        .cloned()
        .collect();
    let mut problems = Vec::new();
    let parsed = api_filters::parse(&filters, catalog, today, tz, &[], &mut problems);
    let mut messages = Messages::default();
    for p in problems {
        // The API's messages do not always name their parameter; the page's do.
        let field = p.attr.as_deref().unwrap_or("");
        let label = field.replace("__", " ").replace('_', " ");
        let message = if field.is_empty() || p.detail.contains(field) {
            p.detail
        } else {
            format!("{label}: {}", p.detail)
        };
        messages.push(field, message);
    }
    let selection = Selection {
        search: last(&filters, "search").to_owned(),
        postmortem: last(&filters, "postmortem").to_owned(),
        created_at: last(&filters, "created_at").to_owned(),
        statuses: api_filters::values(&filters, "status")
            .into_iter()
            .filter_map(|v| v.parse::<i16>().ok())
            .filter(|v| Status::from_value(*v).is_some())
            .collect(),
        priorities: ids(&filters, "priority"),
        environments: ids(&filters, "environment"),
        groups: ids(&filters, "group"),
        categories: ids(&filters, "incident_category"),
        query: form_urlencoded::Serializer::new(String::new())
            .extend_pairs(filters.iter())
            .finish(),
    };
    Parsed {
        filter: parsed.filter,
        selection,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use firefighter_core::{Environment, Priority};

    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            priorities: vec![Priority {
                id: PriorityId::new(),
                name: "P1".into(),
                value: 1,
                emoji: String::new(),
                description: String::new(),
                order: 1,
                default: false,
                needs_postmortem: true,
                enabled_create: true,
                enabled_update: true,
                reminder_time: std::time::Duration::from_secs(60),
                postmortem_reminder_time: std::time::Duration::from_secs(5 * 24 * 3600),
                postmortem_reminder_repeat_time: std::time::Duration::ZERO,
                sla: std::time::Duration::from_secs(60),
                recommended_response_type: None,
            }],
            environments: vec![Environment {
                id: EnvironmentId::new(),
                value: "PRD".into(),
                name: "Production".into(),
                description: String::new(),
                order: 1,
                default: true,
            }],
            ..Catalog::default()
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 19).unwrap()
    }

    #[test]
    fn reads_every_filter_and_keeps_the_query_for_exports() {
        let c = catalog();
        let p = c.priorities[0].id.to_string();
        let e = c.environments[0].id.to_string();
        let parsed = parse(
            &q(&[
                ("search", "checkout"),
                ("status", "10"),
                ("status", "20"),
                ("priority", &p),
                ("environment", &e),
                ("created_at", "2026/Q1"),
                ("page", "3"),
            ]),
            &c,
            today(),
            chrono_tz::UTC,
        );
        assert!(parsed.messages.is_empty(), "{:?}", parsed.messages);
        let f = parsed.filter.unwrap();
        assert_eq!(f.search.as_deref(), Some("checkout"));
        assert_eq!(f.statuses, [Status::Open, Status::Investigating]);
        assert_eq!(f.priority_ids, [c.priorities[0].id]);
        assert_eq!(f.environment_ids, [c.environments[0].id]);
        assert_eq!(
            f.created_from,
            Some(Utc.with_ymd_and_hms(2025, 12, 29, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.created_before,
            Some(Utc.with_ymd_and_hms(2026, 3, 30, 0, 0, 0).unwrap())
        );
        assert!(!parsed.selection.query.contains("page"));
        assert!(parsed.selection.query.contains("created_at=2026%2FQ1"));
    }

    #[test]
    fn named_ranges_and_lookups_narrow_each_other() {
        let parsed = parse(
            &q(&[
                ("created_at", "last_week"),
                ("created_at__gte", "2026-03-12T00:00:00Z"),
            ]),
            &catalog(),
            today(),
            chrono_tz::UTC,
        );
        let f = parsed.filter.unwrap();
        assert_eq!(
            f.created_from,
            Some(Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap())
        );
        assert_eq!(
            f.created_before,
            Some(Utc.with_ymd_and_hms(2026, 3, 16, 0, 0, 0).unwrap())
        );
        let disjoint = parse(
            &q(&[
                ("created_at", "last_week"),
                ("created_at__gte", "2026-03-18T00:00:00Z"),
            ]),
            &catalog(),
            today(),
            chrono_tz::UTC,
        );
        assert!(disjoint.filter.is_none(), "an empty range matches nothing");
    }

    #[test]
    fn nonsense_is_reported_by_field() {
        let parsed = parse(
            &q(&[
                ("created_at", "next tuesday"),
                ("status", "sleeping"),
                ("priority", "not-a-uuid"),
                ("environment", &uuid::Uuid::new_v4().to_string()),
                ("created_at__lt", "soon"),
            ]),
            &catalog(),
            today(),
            chrono_tz::UTC,
        );
        for field in [
            "created_at",
            "status",
            "priority",
            "environment",
            "created_at__lt",
        ] {
            assert_eq!(parsed.messages.about(field).len(), 1, "{field}");
        }
    }
}
