//! The downgrade modal: turn a critical incident into a regular one.

use firefighter_core::{Incident, IncidentId, UserId};
use serde_json::Value;

use super::*;
use crate::models::inbound::ViewSubmission;
use crate::{Result, Slack};

impl Slack {
    /// Turns the incident into a regular one.
    pub(super) async fn submit_downgrade(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
        _incident: &Incident,
    ) -> Result<Value> {
        let view = &payload.view;
        let _state = &view.state;
        let app = self.app()?;
        app.downgrade(
            id,
            Some(by),
            Some("Turned into a regular incident: it does not need the critical process.".into()),
        )
        .await?;
        Ok(clear())
    }
}
