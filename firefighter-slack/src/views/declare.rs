//! The creation wizard (`/incident open`).

use std::collections::HashMap;

use firefighter_core::store::Catalog;
use firefighter_core::{CategoryId, EnvironmentId, ImpactLevel, Priority};
use serde_json::Value;

use super::callback;
use super::options::{category_groups, category_option, environment_initial, environment_options};
use crate::models::blocks::{
    self, context, divider, escape, header, input, modal, section, static_select, text_input,
};

/// What the creation wizard holds between refreshes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WizardState {
    /// Impact type value → level.
    pub impacts: HashMap<String, ImpactLevel>,
    /// The chosen category.
    pub category: Option<CategoryId>,
    /// The chosen environments.
    pub environments: Vec<EnvironmentId>,
}

impl WizardState {
    /// The priority the impacts suggest (the worst level wins).
    pub(crate) fn suggested_priority<'a>(&self, catalog: &'a Catalog) -> Option<&'a Priority> {
        let value = firefighter_core::impact::suggest_priority(self.impacts.values().copied())?;
        catalog
            .priorities
            .iter()
            .filter(|p| p.enabled_create)
            .find(|p| p.value == value)
    }
}

fn human_duration(d: std::time::Duration) -> String {
    let mins = d.as_secs() / 60;
    match mins {
        0 => "less than a minute".into(),
        m if m % 1440 == 0 => format!("{} day{}", m / 1440, if m / 1440 > 1 { "s" } else { "" }),
        m if m % 60 == 0 => format!("{} hour{}", m / 60, if m / 60 > 1 { "s" } else { "" }),
        m => format!("{m} minutes"),
    }
}

/// The creation wizard: impacts, the priority they suggest (SLA and process),
/// details, and a review with the number of responders a dry run would invite.
pub(crate) fn open_wizard(
    catalog: &Catalog,
    state: &WizardState,
    responders: Option<usize>,
    severity_guide: Option<&str>,
    off_hours: bool,
) -> Value {
    let mut b = vec![section(
        ":wave: Tell who is impacted and how badly: the priority follows. Critical incidents (P1 to P3) get a channel and responders.",
    )];
    for t in &catalog.impact_types {
        let options: Vec<Value> = t
            .levels
            .iter()
            .map(|l| blocks::option_described(&l.name, l.level.code(), &l.description))
            .collect();
        let current = state
            .impacts
            .get(&t.value)
            .copied()
            .unwrap_or(ImpactLevel::None);
        let initial = t
            .levels
            .iter()
            .find(|l| l.level == current)
            .map(|l| blocks::option_described(&l.name, l.level.code(), &l.description));
        b.push(blocks::dispatching(input(
            &format!("impact:{}", t.value),
            &format!("{} {}", t.emoji, t.name),
            static_select("impact", "Choose a level", options, initial),
            false,
            Some(&t.help_text)
                .filter(|h| !h.is_empty())
                .map(String::as_str),
        )));
    }
    let priority = state.suggested_priority(catalog);
    let summary = match priority {
        Some(p) => {
            let process = if p.response_type() == firefighter_core::ResponseType::Critical {
                "a dedicated Slack channel, responders invited, announcements"
            } else {
                "tracked without a channel"
            };
            let mut s = format!(
                "*Priority:* {} {} - {}\n*SLA:* {}\n*Process:* {process}",
                p.emoji,
                p.name,
                escape(&p.description),
                human_duration(p.sla)
            );
            if p.value < 4 {
                s.push_str("\n:warning: Critical incidents are for emergencies only.");
            }
            if let Some(g) = severity_guide {
                s.push_str(&format!("\n<{g}|How to choose the priority>"));
            }
            s
        }
        None => ":point_up: Select at least one impact to get a priority.".to_owned(),
    };
    b.push(blocks::section_id("summary", &summary));
    b.push(divider());
    b.push(header("Details"));
    b.push(blocks::dispatching(input(
        "category",
        "Incident category",
        blocks::grouped_select(
            "category",
            "What is affected?",
            category_groups(catalog, true),
            state.category.and_then(|c| category_option(catalog, c)),
        ),
        false,
        None,
    )));
    let envs = if state.environments.is_empty() {
        catalog
            .environments
            .iter()
            .filter(|e| e.default)
            .map(|e| e.id)
            .collect::<Vec<_>>()
    } else {
        state.environments.clone()
    };
    b.push(blocks::dispatching(input(
        "environments",
        "Environments",
        blocks::multi_select(
            "environments",
            "Where?",
            environment_options(catalog),
            environment_initial(catalog, &envs),
        ),
        false,
        None,
    )));
    b.push(input(
        "title",
        "Title",
        text_input("title", false, None, Some(10), Some(128)),
        false,
        Some("What is going on, in a few words (10 to 128 characters)."),
    ));
    b.push(input(
        "description",
        "Summary",
        text_input("description", true, None, None, Some(1200)),
        true,
        Some("What you know so far."),
    ));
    b.push(divider());
    let review = match (priority, responders) {
        (Some(p), _) if p.response_type() != firefighter_core::ResponseType::Critical => {
            "The incident will be tracked without a channel.".to_owned()
        }
        (Some(_), Some(n)) => format!(
            ":busts_in_silhouette: A dedicated channel will be created and about *{n}* responder{} invited.",
            if n == 1 { "" } else { "s" }
        ),
        (Some(_), None) => {
            "A dedicated channel will be created; choose the category to see who will be invited."
                .to_owned()
        }
        (None, _) => "Choose the impacts first.".to_owned(),
    };
    b.push(blocks::section_id("review", &review));
    if off_hours && priority.is_some_and(|p| p.value < 4) {
        b.push(context(":crescent_moon: Outside office hours: page the on-call with `/incident oncall` once the channel exists."));
    }
    modal(
        callback::OPEN,
        "Declare an incident",
        Some("Create"),
        b,
        "{}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let (groups, categories) = firefighter_core::seed::groups_and_categories();
        Catalog {
            priorities: firefighter_core::seed::priorities(),
            environments: firefighter_core::seed::environments(),
            groups,
            categories,
            impact_types: firefighter_core::seed::impact_types(),
            role_types: firefighter_core::seed::role_types(),
            ..Catalog::default()
        }
    }

    #[test]
    fn the_wizard_suggests_the_worst_impact() {
        let c = catalog();
        let mut state = WizardState::default();
        assert!(state.suggested_priority(&c).is_none());
        let v = open_wizard(&c, &state, None, None, false);
        assert!(v.to_string().contains("Select at least one impact"));
        state
            .impacts
            .insert(c.impact_types[0].value.clone(), ImpactLevel::Medium);
        state
            .impacts
            .insert(c.impact_types[1].value.clone(), ImpactLevel::High);
        assert_eq!(state.suggested_priority(&c).unwrap().name, "P2");
        let v = open_wizard(&c, &state, Some(7), Some("https://guide"), true);
        let s = v.to_string();
        assert!(
            s.contains("P2") && s.contains("about *7* responders") && s.contains("https://guide"),
            "{s}"
        );
        assert_eq!(v["callback_id"], "incident_open");
        assert!(v["blocks"].as_array().unwrap().len() < 100);
    }

    #[test]
    fn normal_incidents_get_no_channel() {
        let c = catalog();
        let mut state = WizardState::default();
        state
            .impacts
            .insert(c.impact_types[0].value.clone(), ImpactLevel::Low);
        let s = open_wizard(&c, &state, Some(3), None, false).to_string();
        assert!(s.contains("without a channel"), "{s}");
    }
}
