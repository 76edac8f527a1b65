//! Mitigation: the update that mitigated the incident asks for the key
//! events and says what comes next (a post-mortem or not), once per incident.

use serde_json::Value;

use super::Steps;
use super::updates::UpdateContext;
use crate::messages::{self, Strategy, kind};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn after_mitigation(
        &self,
        u: &UpdateContext<'_>,
        channel: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        let v = &u.v;
        steps.push((
            "key_events",
            self.post_key_events(v, &u.once_per_incident, channel).await,
        ));
        let app = self.app()?;
        let (text, blocks, k, other): (String, Value, &str, &'static [&'static str]) =
            if app.postmortem_required(&v.catalog, v.incident()) {
                let documents = self.postmortem_links(u.id()).await?;
                let (t, b) = messages::postmortem_reminder(
                    v,
                    self.config().postmortem_help_url.as_deref(),
                    &documents,
                );
                (t, b, kind::PM_REMINDER, &[kind::NEXT_ACTIONS])
            } else {
                let (t, b) = messages::next_actions(v);
                (t, b, kind::NEXT_ACTIONS, &[kind::PM_REMINDER])
            };
        steps.push((
            "next_steps",
            self.post_once(
                &u.once_per_incident,
                "next_steps",
                (u.id(), None),
                k,
                NewMessage::new(channel, text, blocks),
                Strategy::Replace(other),
            )
            .await
            .map(drop),
        ));
        Ok(())
    }
}
