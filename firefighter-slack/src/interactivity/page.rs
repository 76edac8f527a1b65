//! The on-call modal: pages the chosen service for the incident.

use std::collections::HashMap;

use firefighter_core::{Incident, IncidentId, UserId};
use serde_json::Value;

use super::*;
use crate::models::inbound::ViewSubmission;
use crate::{Result, Slack};

impl Slack {
    /// Pages the on-call service chosen in the form.
    pub(super) async fn submit_page_oncall(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
        _incident: &Incident,
    ) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let app = self.app()?;
        let Some(oncall) = app.oncall() else {
            return Ok(response_notice(
                "On-call",
                "No on-call integration is enabled; nothing was paged.",
            ));
        };
        let state_json = serde_json::to_value(
            state
                .values
                .iter()
                .map(|(b, v)| {
                    (
                        b.clone(),
                        v.values()
                            .next()
                            .and_then(|e| e.single())
                            .unwrap_or_default(),
                    )
                })
                .collect::<HashMap<_, _>>(),
        )
        .unwrap_or_default();
        let errors = crate::oncall::field_errors(&state_json);
        if !errors.is_empty() {
            return Ok(response_errors(errors.into_iter().collect()));
        }
        match crate::oncall::submit(oncall.as_ref(), id, by, &state_json).await {
            Ok(text) => Ok(response_notice("On-call paged", &text)),
            Err(e) => Ok(response_notice("On-call not paged", &format!(":x: {e}"))),
        }
    }
}
