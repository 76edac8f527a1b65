//! Answering a person: ephemerally where they acted, in the incident channel, or by DM.

use firefighter_core::IncidentId;
use serde_json::json;

use crate::Slack;
use crate::models::api::NewMessage;
use crate::models::inbound::BlockActions;

impl Slack {
    /// Answers the person behind an action ephemerally.
    pub(crate) async fn tell(&self, payload: &BlockActions, text: &str) {
        self.tell_user(
            payload.response_url.as_deref(),
            payload.channel.as_ref().map(|c| c.id.as_str()),
            &payload.user.id,
            text,
        )
        .await;
    }

    /// Answers a person ephemerally: through the `response_url`, else in the channel.
    pub(crate) async fn tell_user(
        &self,
        response_url: Option<&str>,
        channel: Option<&str>,
        slack_user: &str,
        text: &str,
    ) {
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let sent = match (response_url, channel) {
            (Some(url), _) => self.api().respond(url, &body).await,
            (None, Some(c)) => {
                self.api()
                    .post_ephemeral(
                        c,
                        slack_user,
                        &NewMessage::new(c, text, json!([crate::models::blocks::section(text)])),
                    )
                    .await
            }
            (None, None) => Ok(()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not tell the user");
        }
    }

    /// Tells a person something about an incident: in its channel, else by DM.
    pub(crate) async fn notify(&self, id: IncidentId, slack_user: &str, text: &str) {
        let blocks = json!([crate::models::blocks::section(text)]);
        if let Ok(Some(c)) = self.store().incident_channel(id).await
            && self
                .api()
                .post_ephemeral(
                    &c.channel_id,
                    slack_user,
                    &NewMessage::new(&c.channel_id, text, blocks.clone()),
                )
                .await
                .is_ok()
        {
            return;
        }
        let dm = async {
            let channel = self.api().open_dm(slack_user).await?;
            self.api()
                .post_message(&NewMessage::new(&channel, text, blocks))
                .await
        };
        if let Err(e) = dm.await {
            tracing::warn!(error = %e, "could not tell the user");
        }
    }
}
