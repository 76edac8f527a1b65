//! Clicks and changes (`block_actions`), handled after the acknowledgement.

use firefighter_core::IncidentId;

use super::declare::wizard_state;
use super::*;
use crate::ids::action;
use crate::models::inbound::BlockActions;
use crate::views::{self, WizardState};
use crate::{Result, Slack};

impl Slack {
    /// Handles a click or a change (after the acknowledgement).
    pub(crate) async fn handle_block_actions(&self, payload: BlockActions) -> Result<()> {
        let Some(action) = payload.actions.first() else {
            return Ok(());
        };
        let trigger = payload.trigger_id.clone().unwrap_or_default();
        let value_incident = || {
            action
                .chosen()
                .and_then(|v| v.parse::<i64>().ok())
                .map(IncidentId)
        };
        let result = match action.action_id.as_str() {
            action::OPEN_LINK => Ok(()),
            action::OPEN => {
                let creator = self.user_for(&payload.user.id).await.ok().map(|u| u.id);
                let view = self.wizard_view(&WizardState::default(), creator).await?;
                self.api().open_view(&trigger, &view).await.map(drop)
            }
            "impact" | "category" | "environments" => {
                let Some(view) = payload.view.as_ref() else {
                    return Ok(());
                };
                let catalog = self.app()?.catalog().await?;
                let state = wizard_state(&catalog, &view.state);
                let creator = self.user_for(&payload.user.id).await.ok().map(|u| u.id);
                let new = self.wizard_view(&state, creator).await?;
                self.api()
                    .update_view(&view.id, view.hash.clone(), &new)
                    .await
            }
            action::UPDATE
            | action::UPDATE_STATUS
            | action::UPDATE_ROLES
            | action::DOWNGRADE
            | action::ONCALL => {
                let target = match action.action_id.as_str() {
                    action::UPDATE => Target::Update,
                    action::UPDATE_STATUS => Target::UpdateStatus,
                    action::UPDATE_ROLES => Target::UpdateRoles,
                    action::ONCALL => Target::OnCall,
                    _ => Target::Downgrade,
                };
                let view = match value_incident() {
                    Some(id) => {
                        self.target_view_or_notice(target, id, &payload.user.id)
                            .await
                    }
                    None => {
                        views::notice("Unknown incident", "This button does not name an incident.")
                    }
                };
                self.api().open_view(&trigger, &view).await.map(drop)
            }
            action::PUSH_UPDATE_STATUS | action::PUSH_UPDATE_ROLES | action::PUSH_EDIT => {
                let target = match action.action_id.as_str() {
                    action::PUSH_UPDATE_STATUS => Target::UpdateStatus,
                    action::PUSH_UPDATE_ROLES => Target::UpdateRoles,
                    _ => Target::Edit,
                };
                let view = match value_incident() {
                    Some(id) => {
                        self.target_view_or_notice(target, id, &payload.user.id)
                            .await
                    }
                    None => {
                        views::notice("Unknown incident", "This button does not name an incident.")
                    }
                };
                self.api().push_view(&trigger, &view).await.map(drop)
            }
            a if a.starts_with(action::KEY_EVENT_PREFIX) => self.key_event_action(&payload).await,
            other => {
                tracing::debug!(action = other, "unknown block action ignored");
                Ok(())
            }
        };
        if let Err(e) = &result {
            self.tell(&payload, &format!(":x: {e}")).await;
        }
        Ok(())
    }
}
