//! Opening incident-scoped modals: for the channel's incident, or after choosing one.

use std::collections::HashMap;

use firefighter_core::{IncidentFilter, IncidentId, IncidentOrder, Status};
use serde_json::{Value, json};

use super::*;
use crate::views::{self};
use crate::{Error, Result, Slack};

impl Slack {
    /// The modal of `target` for an incident, for the Slack member
    /// `slack_user` ([`Error::NotMember`] when they may not see it).
    pub(crate) async fn target_view(
        &self,
        target: Target,
        id: IncidentId,
        slack_user: &str,
    ) -> Result<Value> {
        self.viewer_of_incident(slack_user, id).await?;
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let incident = app.incident(id).await?;
        if incident.status == Status::Closed
            && !matches!(target, Target::Status | Target::Postmortem)
        {
            return Ok(views::notice(
                "Incident closed",
                &format!(
                    "Incident {} is closed: it cannot change any more.",
                    incident.id
                ),
            ));
        }
        Ok(match target {
            Target::Update => views::update_menu(&incident),
            Target::UpdateStatus => {
                views::update_status(&catalog, &incident, &app.offered_statuses(id).await?)
            }
            Target::UpdateRoles => {
                let details = app.incident_details(id).await?;
                let mut holders = HashMap::new();
                for r in &details.roles {
                    if let Some(s) = self.slack_id_of(r.user_id).await? {
                        holders.insert(r.slug.clone(), s);
                    }
                }
                views::update_roles(&catalog, &incident, &holders)
            }
            Target::Edit => views::edit(&catalog, &incident),
            Target::Close => {
                if self.closing_needs_reason(id).await? {
                    views::closure_reason(&incident, &json!({}))
                } else {
                    views::close(
                        &catalog,
                        &incident,
                        self.closing_refusal(id).await?.as_deref(),
                    )
                }
            }
            Target::Status => {
                let v = self.incident_view(id).await?;
                let mut roles = Vec::new();
                for r in &v.details.roles {
                    let name = catalog
                        .role_types
                        .iter()
                        .find(|t| t.id == r.role_type_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    roles.push((name, self.mention(r.user_id).await));
                }
                roles.push(("Reporter".into(), self.mention(incident.created_by).await));
                let last = app
                    .timeline(id)
                    .await?
                    .into_iter()
                    .find(|e| e.message.is_some())
                    .map(|e| {
                        (
                            e.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                            e.message.unwrap_or_default(),
                        )
                    });
                views::status(&v, &roles, last)
            }
            Target::OnCall => match app.oncall() {
                Some(oncall) => crate::oncall::view(&incident, oncall.as_ref()).await?,
                None => views::notice(
                    "On-call",
                    "No on-call integration is enabled: there is nobody to page from here.",
                ),
            },
            Target::Postmortem => self.postmortem_view(id).await?,
            Target::Sos => views::sos(&incident, &self.store().sos_list().await?),
            Target::Downgrade => views::downgrade(&incident),
        })
    }

    pub(super) async fn target_view_or_notice(
        &self,
        target: Target,
        id: IncidentId,
        slack_user: &str,
    ) -> Value {
        match self.target_view(target, id, slack_user).await {
            Ok(v) => v,
            Err(e @ Error::NotMember(_)) => views::notice("Not a member", &format!(":lock: {e}")),
            Err(Error::Core(firefighter_core::Error::NotFound { .. })) => views::notice(
                "Unknown incident",
                &format!("Incident {id} does not exist (any more); nothing was changed."),
            ),
            Err(e) => views::notice("Something went wrong", &format!(":x: {e}")),
        }
    }

    /// Active critical incidents `viewer` may see, newest first (the select-incident modal).
    pub(crate) async fn active_critical_incidents(
        &self,
        viewer: firefighter_core::Viewer,
    ) -> Result<Vec<firefighter_core::Incident>> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let filter = IncidentFilter {
            status_below: Some(Status::Closed),
            priority_ids: catalog
                .priorities
                .iter()
                .filter(|p| p.value < 4)
                .map(|p| p.id)
                .collect(),
            order: IncidentOrder::NewestFirst,
            limit: Some(100),
            visible_to: viewer.filter(),
            ..IncidentFilter::default()
        };
        app.list_incidents(&filter).await.map_err(Error::from)
    }

    /// The modal of `target` for `slack_user`: for the channel's incident,
    /// or the picker of the incidents they may see.
    pub(crate) async fn scoped_view(
        &self,
        target: Target,
        channel_id: &str,
        slack_user: &str,
    ) -> Result<Value> {
        if let Some(id) = self.store().incident_of_channel(channel_id).await?
            && self.app()?.incident(id).await.is_ok()
        {
            return self.target_view(target, id, slack_user).await;
        }
        let viewer = self.viewer(slack_user).await?;
        Ok(views::select_incident(
            &self.active_critical_incidents(viewer).await?,
            target.slug(),
        ))
    }
}
