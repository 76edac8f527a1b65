//! The update modals: the menu, status, roles, details.

use std::collections::HashMap;

use firefighter_core::store::Catalog;
use firefighter_core::{Incident, Status};
use serde_json::{Value, json};

use super::callback;
use super::metadata;
use super::options::{
    category_groups, category_option, environment_initial, environment_options, priority_option,
};
use crate::models::blocks::{
    self, escape, input, modal, option, section, static_select, text_input,
};

/// The update menu: status, roles or details.
pub(crate) fn update_menu(incident: &Incident) -> Value {
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
pub(crate) fn update_status(catalog: &Catalog, incident: &Incident, offered: &[Status]) -> Value {
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
pub(crate) fn update_roles(
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
pub(crate) fn edit(catalog: &Catalog, incident: &Incident) -> Value {
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
