//! The key events form: posted once the incident is mitigated, kept
//! current as key events are recorded.

use firefighter_core::{IncidentId, Status};

use crate::messages::{self, IncidentView, Strategy, kind};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn post_key_events(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
    ) -> Result<()> {
        if v.incident().closure_reason.is_some() {
            return Ok(());
        }
        let missing = firefighter_core::key_event::missing_required(
            &v.catalog.milestone_types,
            &v.details.key_events,
        );
        let (text, blocks) = messages::key_events_form(v, &missing);
        self.post_once(
            key,
            "key_events",
            (v.incident().id, None),
            kind::KEY_EVENTS,
            NewMessage::new(channel, text, blocks),
            Strategy::Update,
        )
        .await
        .map(drop)
    }

    pub(super) async fn on_key_events(&self, id: IncidentId) -> Result<()> {
        if self
            .store()
            .messages(id, kind::KEY_EVENTS)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let v = self.incident_view(id).await?;
        let Some(channel) = v.channel_id.clone() else {
            return Ok(());
        };
        if v.incident().closure_reason.is_some() || v.incident().status == Status::Closed {
            return Ok(());
        }
        let missing = firefighter_core::key_event::missing_required(
            &v.catalog.milestone_types,
            &v.details.key_events,
        );
        let (text, blocks) = messages::key_events_form(&v, &missing);
        self.post(
            Some(id),
            kind::KEY_EVENTS,
            NewMessage::new(&channel, text, blocks),
            Strategy::Update,
            None,
        )
        .await
        .map(drop)
    }
}
