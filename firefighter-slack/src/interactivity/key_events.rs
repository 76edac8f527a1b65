//! Key event pickers: recorded before the acknowledgement, applied after it.

use super::*;
use crate::ids::action;
use crate::models::inbound::BlockActions;
use crate::{Error, Result, Slack};

impl Slack {
    /// Records a key event picked, before the acknowledgement (`None`: not a
    /// key event picker naming an incident; handled after the acknowledgement).
    pub(crate) async fn record_key_event(
        &self,
        payload: &BlockActions,
    ) -> Option<Result<crate::submissions::Recorded>> {
        let action = payload.actions.first()?;
        let slug = action.action_id.strip_prefix(action::KEY_EVENT_PREFIX)?;
        let incident = key_event_incident(&action.block_id)?;
        let work = crate::submissions::KeyEventWork {
            incident,
            slug: slug.to_owned(),
            at: action
                .selected_date_time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
            response_url: payload.response_url.clone(),
            channel: payload.channel.as_ref().map(|c| c.id.clone()),
        };
        Some(
            self.record_submission(crate::submissions::kind::KEY_EVENT, &work, &payload.user.id)
                .await,
        )
    }

    /// Key event pickers naming an incident are recorded before the
    /// acknowledgement ([`Slack::record_key_event`]); what reaches this is not one.
    pub(super) async fn key_event_action(&self, payload: &BlockActions) -> Result<()> {
        let block = payload.actions.first().map(|a| a.block_id.as_str());
        match block.and_then(key_event_incident) {
            None => Err(Error::BadRequest(
                "this key event picker does not name an incident".into(),
            )),
            Some(_) => match self.record_key_event(payload).await {
                Some(Ok(row)) => {
                    self.apply_submission_later(row);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => Ok(()),
            },
        }
    }
}
