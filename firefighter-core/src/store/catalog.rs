//! Reference data: priorities, environments, groups, categories, role, key
//! event, metric, cost and impact types, read together as a [`Catalog`].

use async_trait::async_trait;

use crate::access::CatalogTimes;
use crate::{
    CategoryId, CostType, Environment, EnvironmentId, Group, ImpactType, IncidentCategory,
    MetricType, MilestoneType, Priority, PriorityId, Result, RoleType, RoleTypeId,
};

/// Every reference table, read at once (they are small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Priorities, by order.
    pub priorities: Vec<Priority>,
    /// Environments, by order.
    pub environments: Vec<Environment>,
    /// Groups, by order.
    pub groups: Vec<Group>,
    /// Categories, by group order then order.
    pub categories: Vec<IncidentCategory>,
    /// Role types, by order.
    pub role_types: Vec<RoleType>,
    /// Key event types.
    pub milestone_types: Vec<MilestoneType>,
    /// Metric types.
    pub metric_types: Vec<MetricType>,
    /// Cost types.
    pub cost_types: Vec<CostType>,
    /// Impact types with their levels, by order.
    pub impact_types: Vec<ImpactType>,
}

impl Catalog {
    /// The priority with this id.
    pub fn priority(&self, id: PriorityId) -> Option<&Priority> {
        self.priorities.iter().find(|p| p.id == id)
    }

    /// The default priority, if one is marked so.
    pub fn default_priority(&self) -> Option<&Priority> {
        self.priorities.iter().find(|p| p.default)
    }

    /// The category with this id.
    pub fn category(&self, id: CategoryId) -> Option<&IncidentCategory> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// The environment with this id.
    pub fn environment(&self, id: EnvironmentId) -> Option<&Environment> {
        self.environments.iter().find(|e| e.id == id)
    }

    /// The role type with this id.
    pub fn role_type(&self, id: RoleTypeId) -> Option<&RoleType> {
        self.role_types.iter().find(|r| r.id == id)
    }

    /// The role type with this slug.
    pub fn role_type_by_slug(&self, slug: &str) -> Option<&RoleType> {
        self.role_types.iter().find(|r| r.slug == slug)
    }
}

/// Reference tables: read as a [`Catalog`], written one row at a time (seeding, the back-office).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait CatalogStore: Send + Sync + std::fmt::Debug + 'static {
    /// Reads every reference table.
    async fn catalog(&self) -> Result<Catalog>;
    /// Inserts or updates (by id) a priority.
    async fn upsert_priority(&self, priority: &Priority) -> Result<()>;
    /// Inserts or updates (by id) an environment.
    async fn upsert_environment(&self, environment: &Environment) -> Result<()>;
    /// Inserts or updates (by id) a group.
    async fn upsert_group(&self, group: &Group) -> Result<()>;
    /// Inserts or updates (by id) a category.
    async fn upsert_category(&self, category: &IncidentCategory) -> Result<()>;
    /// Inserts or updates (by id) a role type.
    async fn upsert_role_type(&self, role_type: &RoleType) -> Result<()>;
    /// Inserts or updates (by event type) a key event type.
    async fn upsert_milestone_type(&self, milestone_type: &MilestoneType) -> Result<()>;
    /// Inserts or updates (by slug) a metric type.
    async fn upsert_metric_type(&self, metric_type: &MetricType) -> Result<()>;
    /// Inserts or updates (by id) a cost type.
    async fn upsert_cost_type(&self, cost_type: &CostType) -> Result<()>;
    /// Inserts or updates (by value) an impact type and replaces its levels.
    async fn upsert_impact_type(&self, impact_type: &ImpactType) -> Result<()>;
    /// Whether reference data was ever seeded (a marker row).
    async fn seeded(&self) -> Result<bool>;
    /// Records that reference data was seeded.
    async fn mark_seeded(&self) -> Result<()>;

    /// When priorities, groups, categories and cost types were created and last changed.
    async fn catalog_times(&self) -> Result<CatalogTimes>;
}
