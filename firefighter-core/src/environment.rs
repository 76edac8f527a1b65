//! Environments an incident can affect (PRD, STG, INT...).

use serde::{Deserialize, Serialize};

use crate::EnvironmentId;

/// The value of the production environment; post-mortems are only required there.
pub const PRODUCTION: &str = "PRD";

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Identifier.
    pub id: EnvironmentId,
    /// Short code, unique (`PRD`).
    pub value: String,
    /// Name, unique.
    pub name: String,
    /// Description.
    pub description: String,
    /// Sort order; the lowest of an incident's environments is its primary one.
    pub order: i32,
    /// Chosen when nothing else is.
    pub default: bool,
}

impl Environment {
    /// Whether this is production.
    pub fn is_production(&self) -> bool {
        self.value.eq_ignore_ascii_case(PRODUCTION)
    }
}
