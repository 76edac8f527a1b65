//! Reference data: list, create and edit priorities, environments, groups,
//! categories, role types, key event (milestone) types, metric types and
//! cost types, through core's `upsert_*`.
//!
//! `list` shows the records of a kind, `form` builds the form of one
//! record and `saving` reads a submitted form and stores it.

use crate::server::web::page::WebError;

mod form;
mod list;
mod saving;

pub(super) use form::{edit, new};
pub(super) use list::list;
pub(super) use saving::{create, save};

/// The kinds of reference data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Priorities,
    Environments,
    Groups,
    Categories,
    RoleTypes,
    MilestoneTypes,
    MetricTypes,
    CostTypes,
}

impl Kind {
    pub(super) const ALL: [Kind; 8] = [
        Kind::Priorities,
        Kind::Environments,
        Kind::Groups,
        Kind::Categories,
        Kind::RoleTypes,
        Kind::MilestoneTypes,
        Kind::MetricTypes,
        Kind::CostTypes,
    ];

    /// The path segment.
    pub(super) fn slug(self) -> &'static str {
        match self {
            Kind::Priorities => "priorities",
            Kind::Environments => "environments",
            Kind::Groups => "groups",
            Kind::Categories => "categories",
            Kind::RoleTypes => "role_types",
            Kind::MilestoneTypes => "milestone_types",
            Kind::MetricTypes => "metric_types",
            Kind::CostTypes => "cost_types",
        }
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Kind::Priorities => "Priorities",
            Kind::Environments => "Environments",
            Kind::Groups => "Groups",
            Kind::Categories => "Incident categories",
            Kind::RoleTypes => "Role types",
            Kind::MilestoneTypes => "Key event types",
            Kind::MetricTypes => "Metric types",
            Kind::CostTypes => "Cost types",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Kind::Priorities => "priority",
            Kind::Environments => "environment",
            Kind::Groups => "group",
            Kind::Categories => "incident category",
            Kind::RoleTypes => "role type",
            Kind::MilestoneTypes => "key event type",
            Kind::MetricTypes => "metric type",
            Kind::CostTypes => "cost type",
        }
    }

    fn from_slug(slug: &str) -> Result<Kind, WebError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.slug() == slug)
            .ok_or_else(WebError::not_found)
    }
}
