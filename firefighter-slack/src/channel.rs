//! Incident channels: the naming rule and the topic.

use firefighter_core::store::Catalog;
use firefighter_core::{Environment, Incident};

/// Slack's longest channel name.
pub(crate) const MAX_NAME: usize = 80;
/// Slack's longest topic.
pub(crate) const MAX_TOPIC: usize = 250;

fn env_rank(value: &str) -> usize {
    ["PRD", "STG", "INT", "SUPPORT"]
        .iter()
        .position(|v| v.eq_ignore_ascii_case(value))
        .unwrap_or(4)
}

/// Lower-cases and turns every run of other characters than letters and digits into `-`.
pub(crate) fn slugify(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
            dash = false;
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The channel name of an incident: `<YYYYMMDD>-<id>-<environments>-<category>`,
/// environments ordered PRD, STG, INT, support, then the others; when too
/// long, environments are cut to three letters, then the name to 80 characters.
pub(crate) fn channel_name(incident: &Incident, catalog: &Catalog, tz: chrono_tz::Tz) -> String {
    let mut envs: Vec<&Environment> = catalog
        .environments
        .iter()
        .filter(|e| incident.environment_ids.contains(&e.id))
        .collect();
    envs.sort_by_key(|e| (env_rank(&e.value), e.order, e.value.clone()));
    let category = catalog
        .categories
        .iter()
        .find(|c| c.id == incident.category_id)
        .map(|c| c.name.as_str())
        .unwrap_or("incident");
    let build = |envs: Vec<String>| {
        slugify(&format!(
            "{} {} {}",
            incident.canonical_name(tz),
            envs.join("-"),
            category
        ))
    };
    let full = build(envs.iter().map(|e| e.value.clone()).collect());
    if full.chars().count() <= MAX_NAME {
        return full;
    }
    let short = build(
        envs.iter()
            .map(|e| e.value.chars().take(3).collect())
            .collect(),
    );
    short
        .chars()
        .take(MAX_NAME)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The channel topic: priority, status, group, category and a link to the incident page.
pub(crate) fn topic(
    incident: &Incident,
    catalog: &Catalog,
    app_name: &str,
    app_emoji: &str,
    url: &str,
) -> String {
    let priority = catalog
        .priorities
        .iter()
        .find(|p| p.id == incident.priority_id);
    let category = catalog
        .categories
        .iter()
        .find(|c| c.id == incident.category_id);
    let group = category.and_then(|c| catalog.groups.iter().find(|g| g.id == c.group_id));
    let text = format!(
        "Incident - {} {} - {} - {} - {} - {} <{}|{} page>",
        priority.map(|p| p.emoji.as_str()).unwrap_or(""),
        priority.map(|p| p.name.as_str()).unwrap_or("?"),
        incident.status.label(),
        group.map(|g| g.name.as_str()).unwrap_or(""),
        category.map(|c| c.name.as_str()).unwrap_or(""),
        app_emoji,
        url,
        app_name,
    );
    crate::models::blocks::truncate(&text, MAX_TOPIC)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use firefighter_core::{IncidentId, Status};

    use super::*;

    fn incident(catalog: &Catalog, envs: &[&str], category: &str) -> Incident {
        let env_ids: Vec<_> = envs
            .iter()
            .map(|v| {
                catalog
                    .environments
                    .iter()
                    .find(|e| e.value == *v)
                    .unwrap()
                    .id
            })
            .collect();
        Incident {
            id: IncidentId(42),
            title: "Checkout is down".into(),
            description: String::new(),
            status: Status::Open,
            priority_id: catalog.priorities[0].id,
            category_id: catalog
                .categories
                .iter()
                .find(|c| c.name == category)
                .unwrap()
                .id,
            environment_id: env_ids[0],
            environment_ids: env_ids,
            created_by: firefighter_core::UserId::new(),
            created_at: chrono::Utc.with_ymd_and_hms(2026, 3, 4, 23, 30, 0).unwrap(),
            updated_at: chrono::Utc::now(),
            mitigated_at: None,
            closed_at: None,
            closure_reason: None,
            closure_reference: String::new(),
            custom_fields: Default::default(),
            dedup_key: None,
            ignore: false,
            private: false,
            tags: Vec::new(),
            version: 1,
        }
    }

    fn catalog() -> Catalog {
        let (groups, categories) = firefighter_core::seed::groups_and_categories();
        Catalog {
            priorities: firefighter_core::seed::priorities(),
            environments: firefighter_core::seed::environments(),
            groups,
            categories,
            ..Catalog::default()
        }
    }

    #[test]
    fn names_follow_the_rule() {
        let c = catalog();
        let i = incident(&c, &["STG", "PRD"], "Mobile apps");
        assert_eq!(
            channel_name(&i, &c, chrono_tz::UTC),
            "20260304-42-prd-stg-mobile-apps"
        );
        // The local date decides.
        assert_eq!(
            channel_name(&i, &c, chrono_tz::Europe::Paris),
            "20260305-42-prd-stg-mobile-apps"
        );
        assert_eq!(slugify("  CI/CD  (eu) "), "ci-cd-eu");
    }

    #[test]
    fn long_names_are_shortened() {
        let mut c = catalog();
        let cat = c
            .categories
            .iter_mut()
            .find(|x| x.name == "Website")
            .unwrap();
        cat.name =
            "A category whose name is really far too long to fit in a Slack channel name".into();
        let i = incident(
            &c,
            &["PRD", "STG", "INT"],
            "A category whose name is really far too long to fit in a Slack channel name",
        );
        let name = channel_name(&i, &c, chrono_tz::UTC);
        assert!(name.chars().count() <= MAX_NAME, "{name}");
        assert!(
            name.starts_with("20260304-42-prd-stg-int-a-category"),
            "{name}"
        );
    }

    #[test]
    fn topic_is_bounded() {
        let c = catalog();
        let i = incident(&c, &["PRD"], "Checkout");
        let t = topic(
            &i,
            &c,
            "FireFighter",
            ":fire_extinguisher:",
            "http://ff/incident/42/",
        );
        assert!(
            t.contains("P1")
                && t.contains("Open")
                && t.contains("Payments")
                && t.contains("Checkout"),
            "{t}"
        );
        assert!(t.chars().count() <= MAX_TOPIC);
    }
}
