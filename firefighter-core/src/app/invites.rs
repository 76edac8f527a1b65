//! Who is (or would be) invited to an incident.

use crate::invite::{InviteContext, InviteResolution};
use crate::store::Catalog;
use crate::{
    CategoryId, EnvironmentId, Error, IncidentDetails, IncidentId, PriorityId, Result, UserId,
};

use super::{Firefighter, find_priority, resolve_environments};

impl Firefighter {
    // ------------------------------------------------------------ invitations

    /// Who would be invited to an incident with these properties, without creating anything.
    pub async fn dry_run_invites(
        &self,
        priority_id: PriorityId,
        category_id: CategoryId,
        environment_ids: &[EnvironmentId],
        private: Option<bool>,
        created_by: Option<UserId>,
        platform: Option<&str>,
    ) -> Result<InviteResolution> {
        let catalog = self.catalog().await?;
        let priority = find_priority(&catalog, priority_id)?.clone();
        let category = catalog
            .categories
            .iter()
            .find(|c| c.id == category_id)
            .ok_or_else(|| Error::not_found("incident category", category_id))?
            .clone();
        let envs = resolve_environments(&catalog, environment_ids)?;
        let ctx = InviteContext {
            incident_id: None,
            private: private.unwrap_or(category.private),
            priority,
            category,
            environments: catalog
                .environments
                .iter()
                .filter(|e| envs.contains(&e.id))
                .cloned()
                .collect(),
            created_by,
            role_holders: Vec::new(),
        };
        self.inner
            .invites
            .resolve(&ctx, platform, &self.inner.store)
            .await
    }

    /// Who should be invited to an existing incident now.
    pub async fn resolve_invites(
        &self,
        id: IncidentId,
        platform: Option<&str>,
    ) -> Result<InviteResolution> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        let ctx = self.invite_context(&catalog, &details)?;
        self.inner
            .invites
            .resolve(&ctx, platform, &self.inner.store)
            .await
    }

    /// The context invite providers are asked about for an incident.
    pub fn invite_context(
        &self,
        catalog: &Catalog,
        details: &IncidentDetails,
    ) -> Result<InviteContext> {
        let incident = &details.incident;
        Ok(InviteContext {
            incident_id: Some(incident.id),
            priority: find_priority(catalog, incident.priority_id)?.clone(),
            category: catalog
                .categories
                .iter()
                .find(|c| c.id == incident.category_id)
                .ok_or_else(|| {
                    Error::Corrupt(format!("incident {} has an unknown category", incident.id))
                })?
                .clone(),
            environments: catalog
                .environments
                .iter()
                .filter(|e| incident.environment_ids.contains(&e.id))
                .cloned()
                .collect(),
            private: incident.private,
            created_by: Some(incident.created_by),
            role_holders: details.roles.iter().map(|r| r.user_id).collect(),
        })
    }
}
