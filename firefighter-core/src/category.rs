//! Incident categories (what is broken) and the groups they belong to.

use serde::{Deserialize, Serialize};

use crate::{CategoryId, GroupId};

/// A group of incident categories (a domain such as "Payments").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Identifier.
    pub id: GroupId,
    /// Name, unique.
    pub name: String,
    /// Description.
    pub description: String,
    /// Sort order.
    pub order: i32,
}

/// An incident category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCategory {
    /// Identifier.
    pub id: CategoryId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Sort order inside its group.
    pub order: i32,
    /// The group.
    pub group_id: GroupId,
    /// Incidents in this category are private unless said otherwise.
    pub private: bool,
    /// P1 production incidents here warrant a deployment-freeze warning.
    pub deploy_warning: bool,
    /// Offered when declaring; a retired category is not, and keeps its
    /// incidents.
    pub enabled_create: bool,
}
