//! The options of the select menus several modals share.

use firefighter_core::store::Catalog;
use firefighter_core::{CategoryId, EnvironmentId, Priority};
use serde_json::Value;

use crate::models::blocks::{self, option};

/// Grouped options of the categories; when `declaring`, only those that
/// may be chosen for a new incident (retired ones stay on their incidents).
pub(crate) fn category_groups(catalog: &Catalog, declaring: bool) -> Vec<Value> {
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

pub(super) fn category_option(catalog: &Catalog, id: CategoryId) -> Option<Value> {
    catalog
        .categories
        .iter()
        .find(|c| c.id == id)
        .map(|c| option(&c.name, &c.id.to_string()))
}

pub(super) fn environment_options(catalog: &Catalog) -> Vec<Value> {
    catalog
        .environments
        .iter()
        .map(|e| option(&format!("{} - {}", e.value, e.name), &e.id.to_string()))
        .collect()
}

pub(super) fn environment_initial(catalog: &Catalog, ids: &[EnvironmentId]) -> Vec<Value> {
    catalog
        .environments
        .iter()
        .filter(|e| ids.contains(&e.id))
        .map(|e| option(&format!("{} - {}", e.value, e.name), &e.id.to_string()))
        .collect()
}

pub(super) fn priority_option(p: &Priority) -> Value {
    option(
        &format!("{} {} - {}", p.emoji, p.name, p.description),
        &p.id.to_string(),
    )
}
