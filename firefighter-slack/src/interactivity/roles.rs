//! The roles modal: who holds which role.

use std::collections::BTreeMap;

use firefighter_core::{IncidentId, UserId};
use serde_json::Value;

use super::*;
use crate::models::inbound::ViewState;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn submit_roles(
        &self,
        state: &ViewState,
        id: IncidentId,
        by: UserId,
    ) -> Result<Value> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let details = app.incident_details(id).await?;
        let mut roles = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for r in &catalog.role_types {
            let block = format!("role:{}", r.slug);
            let current = details
                .roles
                .iter()
                .find(|x| x.role_type_id == r.id)
                .map(|x| x.user_id);
            let chosen = match state.single(&block) {
                Some(slack_id) => match self.user_for(&slack_id).await {
                    Ok(u) => Some(u.id),
                    Err(e) => {
                        errors.insert(block, e.to_string());
                        continue;
                    }
                },
                None => None,
            };
            if chosen != current {
                roles.insert(r.slug.clone(), chosen);
            }
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        if roles.is_empty() {
            return Ok(clear());
        }
        match app.update_roles(id, Some(by), roles).await {
            Ok(_) => Ok(clear()),
            Err(e) => {
                let map: Vec<(String, String)> = catalog
                    .role_types
                    .iter()
                    .map(|r| (format!("roles.{}", r.slug), format!("role:{}", r.slug)))
                    .collect();
                let map_ref: Vec<(&str, &str)> =
                    map.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                let fallback = map.first().map(|(_, b)| b.clone()).unwrap_or_default();
                Ok(response_errors(field_errors(&e, &map_ref, &fallback)))
            }
        }
    }
}
