//! Assigning and clearing roles.

use std::collections::BTreeMap;

use crate::error::Validation;
use crate::event::UpdateKind;
use crate::store::{IncidentChange, now};
use crate::timeline::{FieldChange, event_type, field};
use crate::{
    Error, Incident, IncidentEvent, IncidentId, Result, Status, TimelineEntry, UpdateId, UserId,
};

use super::Firefighter;

impl Firefighter {
    /// Assigns or clears roles: `slug → Some(user)` assigns, `slug → None` clears.
    /// Required roles (the commander) can be reassigned but not cleared.
    pub async fn update_roles(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        roles: BTreeMap<String, Option<UserId>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_update_roles(id, by, &roles, None))
            .await
    }

    /// [`Firefighter::update_roles`] once per `request_key`: a repeat (its
    /// first answer was lost, even to a crash after the commit) changes
    /// nothing and returns the incident.
    pub async fn update_roles_once(
        &self,
        id: IncidentId,
        request_key: &str,
        by: Option<UserId>,
        roles: BTreeMap<String, Option<UserId>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_update_roles(id, by, &roles, Some(request_key)))
            .await
    }

    async fn try_update_roles(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        roles: &BTreeMap<String, Option<UserId>>,
        request_key: Option<&str>,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        // Read after the incident, as `update_once` does.
        if let Some(key) = request_key
            && self.already_applied(id, key).await?
        {
            return Ok(details.incident);
        }
        let mut v = Validation::default();
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        if details.incident.status == Status::Closed {
            v.push("roles", "roles of a closed incident cannot change");
        }
        let mut change = IncidentChange::from(&details.incident, self.subscribers());
        change.request_key = request_key.map(str::to_owned);
        let mut changes = Vec::new();
        for (slug, user) in roles {
            let Some(role_type) = catalog.role_types.iter().find(|r| &r.slug == slug) else {
                v.push(
                    format!("roles.{slug}"),
                    format!("role {slug} does not exist"),
                );
                continue;
            };
            let current = details
                .roles
                .iter()
                .find(|r| r.role_type_id == role_type.id)
                .map(|r| r.user_id);
            match user {
                Some(user_id) => {
                    let Some(user) = self
                        .validate_user(&mut v, &format!("roles.{slug}"), *user_id)
                        .await?
                    else {
                        continue;
                    };
                    if !user.is_active || user.bot {
                        v.push(
                            format!("roles.{slug}"),
                            format!("{} cannot hold a role (deactivated or a bot)", user.email),
                        );
                        continue;
                    }
                    if current != Some(*user_id) {
                        let old = match current {
                            Some(c) => self.inner.store.user(c).await?.map(|u| u.email),
                            None => None,
                        };
                        changes.push(FieldChange::new(
                            format!("{}{slug}", field::ROLE_PREFIX),
                            old,
                            Some(user.email.clone()),
                        ));
                        change.roles_set.push((role_type.id, *user_id));
                        change.members_added.push(*user_id);
                    }
                }
                None if role_type.required => {
                    v.push(
                        format!("roles.{slug}"),
                        format!(
                            "the {} role is required and cannot be left empty",
                            role_type.name
                        ),
                    );
                }
                None => {
                    if let Some(c) = current {
                        let old = self.inner.store.user(c).await?.map(|u| u.email);
                        changes.push(FieldChange::new(
                            format!("{}{slug}", field::ROLE_PREFIX),
                            old,
                            None,
                        ));
                        change.roles_cleared.push(role_type.id);
                    }
                }
            }
        }
        v.finish()?;
        if changes.is_empty() {
            return Err(Error::invalid(
                "roles",
                "nothing to update: every role already has this holder",
            ));
        }
        let at = now();
        let entry_id = UpdateId::new();
        let changed = changes.iter().map(|c| c.field.clone()).collect();
        change.incident.updated_at = at;
        change.timeline.push(TimelineEntry {
            id: entry_id,
            incident_id: id,
            created_by: by,
            created_at: at,
            event_ts: at,
            event_type: Some(event_type::ROLES.to_owned()),
            message: None,
            status: None,
            changes,
        });
        change.events.push(IncidentEvent::Updated {
            update_id: entry_id,
            update_kind: UpdateKind::Roles,
            changed,
            old_priority: None,
            event_type: Some(event_type::ROLES.to_owned()),
        });
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }
}
