//! Roles people hold in an incident (commander, communication lead...).

use serde::{Deserialize, Serialize};

use crate::{RoleTypeId, UserId};

/// The slug of the role every incident has and that goes to its creator.
pub const COMMANDER: &str = "commander";
/// The slug of the communication lead role.
pub const COMMUNICATION_LEAD: &str = "communication_lead";

/// A kind of role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleType {
    /// Identifier.
    pub id: RoleTypeId,
    /// Unique machine name (`^[a-z0-9_]+$`).
    pub slug: String,
    /// Name.
    pub name: String,
    /// Shown before the name.
    pub emoji: String,
    /// Every incident has one; assigned to the creator at declaration and never removed.
    pub required: bool,
    /// Sort order.
    pub order: i32,
    /// One-line summary.
    pub summary: String,
    /// Full description (markdown).
    pub description: String,
    /// Other names people use for it.
    pub aka: String,
}

/// Checks a role slug: lowercase letters, digits and underscores.
pub fn is_valid_role_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Who holds a role in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// The role type.
    pub role_type_id: RoleTypeId,
    /// Its slug.
    pub slug: String,
    /// The holder.
    pub user_id: UserId,
}
