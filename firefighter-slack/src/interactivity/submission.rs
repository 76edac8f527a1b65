//! Modal submissions (`view_submission`): which form, for which incident, and the answer in the HTTP response.

use std::collections::BTreeMap;

use firefighter_core::{IncidentId, Update};
use serde_json::{Value, json};

use super::*;
use crate::ids::callback;
use crate::models::inbound::ViewSubmission;
use crate::{Error, Result, Slack};

impl Slack {
    /// Handles a modal submission; the answer goes in the HTTP response.
    pub(crate) async fn handle_submission(&self, payload: ViewSubmission) -> Value {
        match self.submission(&payload).await {
            Ok(v) => v,
            Err(Error::Core(firefighter_core::Error::NotFound { what, id })) => response_notice(
                "Not found",
                &format!(":x: {what} {id} does not exist (any more); nothing was changed."),
            ),
            Err(Error::BadRequest(m)) => response_notice("Cannot do that", &format!(":x: {m}")),
            Err(e @ Error::NotMember(_)) => response_notice("Not a member", &format!(":lock: {e}")),
            Err(e) => {
                tracing::warn!(error = %e, callback = %payload.view.callback_id, "submission failed");
                response_notice(
                    "Something went wrong",
                    &format!(":x: {e}. Nothing was changed; try again."),
                )
            }
        }
    }

    pub(super) async fn submission(&self, payload: &ViewSubmission) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let callback_id = view.callback_id.as_str();
        if callback_id == callback::OPEN {
            return self.submit_open(payload).await;
        }
        if callback_id == callback::SELECT {
            let meta: Value = serde_json::from_str(&view.private_metadata).unwrap_or_default();
            let target = meta
                .get("target")
                .and_then(Value::as_str)
                .and_then(Target::parse);
            let id = state
                .single("incident")
                .and_then(|v| v.parse::<i64>().ok())
                .map(IncidentId);
            return match (target, id) {
                (Some(t), Some(id)) => Ok(
                    json!({"response_action": "update", "view": self.target_view(t, id, &payload.user.id).await?}),
                ),
                (None, _) => Ok(response_notice(
                    "Unknown form",
                    "This picker does not say what to open; nothing was changed.",
                )),
                (_, None) => Ok(response_errors(BTreeMap::from([(
                    "incident".into(),
                    "Choose an incident.".into(),
                )]))),
            };
        }
        let known = [
            callback::UPDATE_STATUS,
            callback::UPDATE_ROLES,
            callback::EDIT,
            callback::CLOSE,
            callback::CLOSURE_REASON,
            callback::SOS,
            callback::DOWNGRADE,
            callback::ONCALL,
        ];
        if !known.contains(&callback_id) {
            return Ok(response_notice(
                "Unknown form",
                "This form is not one of FireFighter's (maybe from an older version); nothing was changed.",
            ));
        }
        let Some(id) = incident_of(view) else {
            return Ok(response_notice(
                "Unknown incident",
                "This form does not name an incident; nothing was changed.",
            ));
        };
        // Before anything is read or written: the one privacy rule.
        self.viewer_of_incident(&payload.user.id, id).await?;
        let by = self.user_id_for(&payload.user.id).await?;
        if callback_id == callback::UPDATE_STATUS {
            return self.submit_update_status(payload, id, by).await;
        }
        let app = self.app()?;
        let incident = app.incident(id).await?;
        match callback_id {
            callback::UPDATE_ROLES => self.submit_roles(state, id, by).await,
            callback::EDIT => self.submit_edit(payload, id, by, &incident).await,
            callback::CLOSE => self.submit_close(payload, id, by, &incident).await,
            callback::CLOSURE_REASON => {
                self.submit_closure_reason(payload, id, by, &incident).await
            }
            callback::SOS => {
                let by = self.user_for(&payload.user.id).await?;
                self.submit_sos(state, id, &by).await
            }
            callback::DOWNGRADE => self.submit_downgrade(payload, id, by, &incident).await,
            _ => self.submit_page_oncall(payload, id, by, &incident).await,
        }
    }

    /// Records a checked update, then acknowledges; it is written after the
    /// acknowledgement (and replayed if this instance stops first). When it
    /// cannot be recorded, the form says so on `field` and nothing is done.
    pub(super) async fn apply_later(
        &self,
        id: IncidentId,
        slack_user: &str,
        update: Update,
        field: &str,
    ) -> Result<Value> {
        let work = crate::submissions::UpdateWork {
            incident: id,
            update: update.clone(),
        };
        match self
            .record_submission(crate::submissions::kind::UPDATE, &work, slack_user)
            .await
        {
            Ok(row) => {
                self.apply_submission_later(row);
                Ok(clear())
            }
            Err(e) => Ok(response_errors(BTreeMap::from([(
                field.to_owned(),
                format!(":x: {e}. Nothing was changed; try again."),
            )]))),
        }
    }
}
