//! Modals and the home tab (Block Kit views), built from core's data. Pure
//! functions: the interactivity code loads the data and sends the views.

use std::collections::HashMap;

use firefighter_core::lifecycle::ClosureReason;
use firefighter_core::store::Catalog;
use firefighter_core::{CategoryId, EnvironmentId, ImpactLevel, Incident, Priority, Status};
use serde_json::{Value, json};

use crate::models::blocks::{
    self, context, divider, escape, header, input, modal, option, section, static_select,
    text_input,
};
use crate::store::Sos;

pub use crate::ids::callback;

/// What the creation wizard holds between refreshes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WizardState {
    /// Impact type value → level.
    pub impacts: HashMap<String, ImpactLevel>,
    /// The chosen category.
    pub category: Option<CategoryId>,
    /// The chosen environments.
    pub environments: Vec<EnvironmentId>,
}

impl WizardState {
    /// The priority the impacts suggest (the worst level wins).
    pub fn suggested_priority<'a>(&self, catalog: &'a Catalog) -> Option<&'a Priority> {
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

/// Grouped options of the categories; when `declaring`, only those that
/// may be chosen for a new incident (retired ones stay on their incidents).
pub fn category_groups(catalog: &Catalog, declaring: bool) -> Vec<Value> {
    catalog
        .groups
        .iter()
        .filter_map(|g| {
            let options: Vec<Value> = catalog
                .categories
                .iter()
                .filter(|c| c.group_id == g.id && (c.enabled_create || !declaring))
                .map(|c| option(&c.name, &c.id.to_string()))
                .collect();
            (!options.is_empty()).then(|| blocks::option_group(&g.name, options))
        })
        .collect()
}

fn category_option(catalog: &Catalog, id: CategoryId) -> Option<Value> {
    catalog
        .categories
        .iter()
        .find(|c| c.id == id)
        .map(|c| option(&c.name, &c.id.to_string()))
}

fn environment_options(catalog: &Catalog) -> Vec<Value> {
    catalog
        .environments
        .iter()
        .map(|e| option(&format!("{} - {}", e.value, e.name), &e.id.to_string()))
        .collect()
}

fn environment_initial(catalog: &Catalog, ids: &[EnvironmentId]) -> Vec<Value> {
    catalog
        .environments
        .iter()
        .filter(|e| ids.contains(&e.id))
        .map(|e| option(&format!("{} - {}", e.value, e.name), &e.id.to_string()))
        .collect()
}

fn priority_option(p: &Priority) -> Value {
    option(
        &format!("{} {} - {}", p.emoji, p.name, p.description),
        &p.id.to_string(),
    )
}

/// The creation wizard: impacts, the priority they suggest (SLA and process),
/// details, and a review with the number of responders a dry run would invite.
pub fn open_wizard(
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

fn metadata(incident: &Incident) -> String {
    json!({"incident": incident.id.0}).to_string()
}

/// The update menu: status, roles or details.
pub fn update_menu(incident: &Incident) -> Value {
    let id = incident.id.0.to_string();
    let b = vec![
        section(&format!(
            "*Incident {}:* {}",
            incident.id,
            escape(&incident.title)
        )),
        blocks::actions(
            "update_menu",
            vec![
                blocks::primary_button(
                    "Update status",
                    crate::ids::action::PUSH_UPDATE_STATUS,
                    &id,
                ),
                blocks::button("Update roles", crate::ids::action::PUSH_UPDATE_ROLES, &id),
                blocks::button("Edit details", crate::ids::action::PUSH_EDIT, &id),
            ],
        ),
    ];
    modal(
        callback::UPDATE,
        "Update incident",
        None,
        b,
        &metadata(incident),
    )
}

/// Update status, priority and category, offering only allowed statuses.
pub fn update_status(catalog: &Catalog, incident: &Incident, offered: &[Status]) -> Value {
    let status_opts: Vec<Value> = offered
        .iter()
        .map(|s| option(s.label(), s.slug()))
        .collect();
    let current_status = option(incident.status.label(), incident.status.slug());
    let priorities: Vec<Value> = catalog
        .priorities
        .iter()
        .filter(|p| p.enabled_update || p.id == incident.priority_id)
        .map(priority_option)
        .collect();
    let current_priority = catalog
        .priorities
        .iter()
        .find(|p| p.id == incident.priority_id)
        .map(priority_option);
    let b = vec![
        section(&format!(
            "*Incident {}:* {}",
            incident.id,
            escape(&incident.title)
        )),
        input(
            "message",
            "Update message",
            text_input("message", true, None, None, Some(1200)),
            true,
            Some(
                "What changed? Reopening a mitigated incident needs a reason (10 characters or more).",
            ),
        ),
        input(
            "status",
            "Status",
            static_select("status", "Status", status_opts, Some(current_status)),
            false,
            None,
        ),
        input(
            "priority",
            "Priority",
            static_select("priority", "Priority", priorities, current_priority),
            false,
            None,
        ),
        input(
            "category",
            "Incident category",
            blocks::grouped_select(
                "category",
                "Category",
                category_groups(catalog, false),
                category_option(catalog, incident.category_id),
            ),
            false,
            None,
        ),
    ];
    // The values shown, so the submission knows what the person changed
    // without reading the incident again.
    let meta = json!({
        "incident": incident.id.0,
        "status": incident.status.slug(),
        "priority": incident.priority_id.to_string(),
        "category": incident.category_id.to_string(),
    });
    modal(
        callback::UPDATE_STATUS,
        "Update status",
        Some("Update"),
        b,
        &meta.to_string(),
    )
}

/// One user picker per role type.
pub fn update_roles(
    catalog: &Catalog,
    incident: &Incident,
    holders: &HashMap<String, String>,
) -> Value {
    let mut b = vec![section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ))];
    for r in &catalog.role_types {
        b.push(input(
            &format!("role:{}", r.slug),
            &format!("{} {}", r.emoji, r.name),
            blocks::users_select("user", "Nobody", holders.get(&r.slug).map(String::as_str)),
            !r.required,
            Some(&r.summary)
                .filter(|s| !s.is_empty())
                .map(String::as_str),
        ));
    }
    modal(
        callback::UPDATE_ROLES,
        "Update roles",
        Some("Save"),
        b,
        &metadata(incident),
    )
}

/// Edit title, description and environments.
pub fn edit(catalog: &Catalog, incident: &Incident) -> Value {
    let b = vec![
        input(
            "title",
            "Title",
            text_input("title", false, Some(&incident.title), Some(10), Some(128)),
            false,
            None,
        ),
        input(
            "description",
            "Summary",
            text_input(
                "description",
                true,
                Some(&incident.description),
                None,
                Some(1200),
            ),
            true,
            None,
        ),
        input(
            "environments",
            "Environments",
            blocks::multi_select(
                "environments",
                "Where?",
                environment_options(catalog),
                environment_initial(catalog, &incident.environment_ids),
            ),
            false,
            None,
        ),
    ];
    modal(
        callback::EDIT,
        "Edit incident",
        Some("Save"),
        b,
        &metadata(incident),
    )
}

/// Close: the form when the incident can be closed, otherwise why not.
pub fn close(catalog: &Catalog, incident: &Incident, refusal: Option<&[String]>) -> Value {
    let head = section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ));
    match refusal {
        Some(reasons) => {
            let list: Vec<String> = reasons.iter().map(|r| format!("• {}", escape(r))).collect();
            let b = vec![
                head,
                section(&format!(
                    ":no_entry: *This incident cannot be closed yet:*\n{}",
                    list.join("\n")
                )),
                blocks::actions(
                    "close_blocked",
                    vec![blocks::button(
                        "Update status",
                        crate::ids::action::PUSH_UPDATE_STATUS,
                        &incident.id.0.to_string(),
                    )],
                ),
            ];
            modal(
                callback::CLOSE,
                "Close incident",
                None,
                b,
                &metadata(incident),
            )
        }
        None => {
            let b = vec![
                head,
                input(
                    "message",
                    "Closing message",
                    text_input("message", true, None, None, Some(1200)),
                    true,
                    None,
                ),
                input(
                    "category",
                    "Incident category",
                    blocks::grouped_select(
                        "category",
                        "Category",
                        category_groups(catalog, false),
                        category_option(catalog, incident.category_id),
                    ),
                    false,
                    None,
                ),
                context(":file_cabinet: The incident channel will be archived."),
            ];
            modal(
                callback::CLOSE,
                "Close incident",
                Some("Close"),
                b,
                &metadata(incident),
            )
        }
    }
}

/// Close early: a reason other than "resolved", an optional reference and a message.
/// `carry` holds the priority and category changed in the status modal.
pub fn closure_reason(incident: &Incident, carry: &Value) -> Value {
    let reasons: Vec<Value> = ClosureReason::EARLY
        .iter()
        .map(|r| option(r.label(), r.slug()))
        .collect();
    let mut meta = json!({"incident": incident.id.0});
    if let Some(p) = carry.get("priority") {
        meta["priority"] = p.clone();
    }
    if let Some(c) = carry.get("category") {
        meta["category"] = c.clone();
    }
    let b = vec![
        section(&format!(
            "*Incident {}* is {}: closing it now needs a reason.",
            incident.id,
            incident.status.label()
        )),
        input(
            "reason",
            "Closure reason",
            static_select("reason", "Why close it?", reasons, None),
            false,
            None,
        ),
        input(
            "reference",
            "Reference",
            text_input("reference", false, None, None, Some(100)),
            true,
            Some("The duplicate incident or a link (optional)."),
        ),
        input(
            "message",
            "Message",
            text_input("message", true, None, Some(1), Some(1200)),
            false,
            None,
        ),
    ];
    modal(
        callback::CLOSURE_REASON,
        "Close incident",
        Some("Close"),
        b,
        &meta.to_string(),
    )
}

/// A read-only recap.
pub fn status(
    v: &crate::messages::IncidentView,
    roles: &[(String, String)],
    last: Option<(String, String)>,
) -> Value {
    let i = v.incident();
    let duration = chrono::Utc::now() - i.created_at;
    let mut b = vec![
        header(&format!("Incident {}", i.id)),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.description)
        )),
        blocks::fields(&[
            format!("*Status:*\n{}", i.status.label()),
            format!("*Priority:*\n{}", v.priority_label()),
            format!(
                "*Environment:*\n{}",
                v.environments
                    .iter()
                    .map(|e| e.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "*Category:*\n{} - {}",
                escape(&v.group),
                escape(&v.category.name)
            ),
            format!(
                "*Opened:*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
                i.created_at.timestamp(),
                i.created_at
            ),
            format!(
                "*Duration:*\n{}h{:02}",
                duration.num_hours(),
                duration.num_minutes() % 60
            ),
        ]),
    ];
    if !roles.is_empty() {
        let lines: Vec<String> = roles.iter().map(|(r, u)| format!("*{r}:* {u}")).collect();
        b.push(section(&format!(
            ":busts_in_silhouette: *Key participants*\n{}",
            lines.join("\n")
        )));
    }
    if let Some((when, what)) = last {
        b.push(section(&format!(
            ":speech_balloon: *Last update* ({when})\n{}",
            escape(&what)
        )));
    }
    b.push(blocks::actions(
        "status_links",
        vec![blocks::url_button("Incident page", &v.url)],
    ));
    modal(callback::STATUS, "Incident status", None, b, &metadata(i))
}

/// Choose an SOS target.
pub fn sos(incident: &Incident, targets: &[Sos]) -> Value {
    if targets.is_empty() {
        let b = vec![section(
            ":warning: No SOS target is configured. Ask an administrator to add one in the back-office.",
        )];
        return modal(callback::SOS, "Ask for help", None, b, &metadata(incident));
    }
    let options: Vec<Value> = targets
        .iter()
        .map(|t| option(&t.name, &t.id.to_string()))
        .collect();
    let b = vec![
        section(&format!(
            "*Incident {}:* {}",
            incident.id,
            escape(&incident.title)
        )),
        input(
            "sos",
            "Who do you need?",
            static_select("sos", "Choose", options, None),
            false,
            None,
        ),
    ];
    modal(
        callback::SOS,
        "Ask for help",
        Some("Send SOS"),
        b,
        &metadata(incident),
    )
}

/// Turn a critical incident into a regular one.
pub fn downgrade(incident: &Incident) -> Value {
    let b = vec![section(&format!(
        "*Incident {}:* {}\n\nIt will be marked as not needing the critical process: it is closed as ignored and its channel is archived. Use this when the incident turned out not to be critical.",
        incident.id,
        escape(&incident.title)
    ))];
    modal(
        callback::DOWNGRADE,
        "Change workflow",
        Some("Downgrade"),
        b,
        &metadata(incident),
    )
}

/// The post-mortem recap.
pub fn postmortem(
    incident: &Incident,
    required: bool,
    documents: &[(String, String)],
    backends: bool,
) -> Value {
    let mut b = vec![section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ))];
    if !documents.is_empty() {
        for (backend, url) in documents {
            b.push(section(&format!(":memo: Post-mortem ({backend}): <{url}>")));
        }
    } else if !backends {
        b.push(section("No post-mortem backend is enabled: write the post-mortem in your usual tool, then move the incident to *Post-mortem*."));
    } else if required && incident.status < Status::Mitigated {
        b.push(section("A post-mortem is required. Its document is listed here once the post-mortem backend announces it, usually after mitigation."));
    } else if required {
        b.push(section(
            ":warning: A post-mortem is required, and no backend has announced its document yet. The incident cannot be closed until it is ready.",
        ));
    } else {
        b.push(section("A post-mortem is not mandatory for this incident."));
    }
    modal(
        callback::POSTMORTEM,
        "Post-mortem",
        None,
        b,
        &metadata(incident),
    )
}

/// Choose the incident first (the command was not run in an incident channel).
pub fn select_incident(incidents: &[Incident], target: &str) -> Value {
    let meta = json!({"target": target}).to_string();
    if incidents.is_empty() {
        let b = vec![section(
            ":x: This needs an active critical incident, and there is none.",
        )];
        return modal(callback::SELECT, "Choose an incident", None, b, &meta);
    }
    let options: Vec<Value> = incidents
        .iter()
        .take(100)
        .map(|i| option(&format!("{}: {}", i.id.0, i.title), &i.id.0.to_string()))
        .collect();
    let b = vec![input(
        "incident",
        "Incident",
        static_select("incident", "Choose an incident", options, None),
        false,
        None,
    )];
    modal(
        callback::SELECT,
        "Choose an incident",
        Some("Continue"),
        b,
        &meta,
    )
}

/// A message in a modal (an error or a confirmation).
pub fn notice(title: &str, text: &str) -> Value {
    modal(callback::NOTICE, title, None, vec![section(text)], "{}")
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
