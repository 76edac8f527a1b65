//! [`IncidentView`]: everything about an incident the messages show, loaded once.

use std::sync::Arc;

use firefighter_core::store::Catalog;
use firefighter_core::{
    Environment, Incident, IncidentCategory, IncidentDetails, IncidentId, Priority, Status,
};

use crate::{Error, Result, Slack};

/// Everything about an incident the messages show.
#[derive(Debug, Clone)]
pub(crate) struct IncidentView {
    /// The incident with roles, members and key events.
    pub details: IncidentDetails,
    /// Its priority.
    pub priority: Priority,
    /// Its category.
    pub category: IncidentCategory,
    /// The category's group.
    pub group: String,
    /// Its environments.
    pub environments: Vec<Environment>,
    /// Its page.
    pub url: String,
    /// Its channel, if any.
    pub channel_id: Option<String>,
    /// The reference data.
    pub catalog: Arc<Catalog>,
}

impl IncidentView {
    /// The incident.
    pub(crate) fn incident(&self) -> &Incident {
        &self.details.incident
    }

    /// In production.
    pub(crate) fn in_production(&self) -> bool {
        self.environments.iter().any(Environment::is_production)
    }

    /// P1 to P3 (a critical response).
    pub(crate) fn is_critical(&self) -> bool {
        self.priority.value < 4
    }

    /// Public announcements apply: critical, production, not private (§3.3).
    pub(crate) fn announced(&self) -> bool {
        self.is_critical() && self.in_production() && !self.incident().private
    }

    /// Deployment freeze applies: P1, production, public, category flagged, not mitigated yet.
    pub(crate) fn freezes_deployments(&self) -> bool {
        self.priority.value == 1
            && self.in_production()
            && !self.incident().private
            && self.category.deploy_warning
            && self.incident().status < Status::Mitigated
    }

    /// `#<channel>` or `#<id>`.
    pub(crate) fn channel_ref(&self) -> String {
        match &self.channel_id {
            Some(c) => format!("<#{c}>"),
            None => format!("incident {}", self.incident().id),
        }
    }

    /// `🌪️ P1`.
    pub(crate) fn priority_label(&self) -> String {
        format!("{} {}", self.priority.emoji, self.priority.name)
    }

    pub(super) fn env_names(&self) -> String {
        self.environments
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn title_line(&self) -> String {
        format!(
            "{} {}: {}",
            self.priority_label(),
            self.incident().id,
            self.incident().title
        )
    }
}

impl Slack {
    /// Loads what messages need about an incident.
    pub(crate) async fn incident_view(&self, id: IncidentId) -> Result<IncidentView> {
        let app = self.app()?;
        let details = app.incident_details(id).await?;
        let catalog = app.catalog().await?;
        let priority = catalog
            .priorities
            .iter()
            .find(|p| p.id == details.incident.priority_id)
            .cloned()
            .ok_or_else(|| Error::BadRequest("the incident's priority is unknown".into()))?;
        let category = catalog
            .categories
            .iter()
            .find(|c| c.id == details.incident.category_id)
            .cloned()
            .ok_or_else(|| Error::BadRequest("the incident's category is unknown".into()))?;
        let group = catalog
            .groups
            .iter()
            .find(|g| g.id == category.group_id)
            .map(|g| g.name.clone())
            .unwrap_or_default();
        let environments = catalog
            .environments
            .iter()
            .filter(|e| details.incident.environment_ids.contains(&e.id))
            .cloned()
            .collect();
        let channel_id = self
            .store()
            .incident_channel(id)
            .await?
            .map(|c| c.channel_id);
        Ok(IncidentView {
            url: self.settings().incident_url(id),
            details,
            priority,
            category,
            group,
            environments,
            channel_id,
            catalog,
        })
    }
}
