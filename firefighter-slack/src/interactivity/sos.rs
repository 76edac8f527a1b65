//! The ask-for-help modal: a call for help in the chosen SOS channel.

use std::collections::BTreeMap;

use firefighter_core::IncidentId;
use serde_json::Value;

use super::*;
use crate::messages::{self, Strategy, kind};
use crate::models::api::NewMessage;
use crate::models::inbound::ViewState;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn submit_sos(
        &self,
        state: &ViewState,
        id: IncidentId,
        by: &firefighter_core::User,
    ) -> Result<Value> {
        let Some(choice) = state
            .single("sos")
            .and_then(|s| s.parse::<uuid::Uuid>().ok())
        else {
            return Ok(response_errors(BTreeMap::from([(
                "sos".into(),
                "Choose who to ask.".into(),
            )])));
        };
        let Some(target) = self
            .store()
            .sos_list()
            .await?
            .into_iter()
            .find(|s| s.id == choice)
        else {
            return Ok(response_errors(BTreeMap::from([(
                "sos".into(),
                "This SOS target was removed.".into(),
            )])));
        };
        let v = self.incident_view(id).await?;
        let mention = match &target.usergroup_id {
            Some(g) => format!("<!subteam^{g}>"),
            None => "<!here>".to_owned(),
        };
        let by_mention = format!("<@{}>", by.identity(crate::PLATFORM).unwrap_or_default());
        let (text, blocks) = messages::sos(&v, &mention, &by_mention);
        self.post(
            Some(id),
            kind::SOS,
            NewMessage::new(&target.channel_id, text, blocks),
            Strategy::Append,
            None,
        )
        .await?;
        self.app()?
            .post_message(
                id,
                Some(by.id),
                &format!(
                    "Asked for help ({}) in <#{}>",
                    target.name, target.channel_id
                ),
                Some(firefighter_core::timeline::event_type::SEND_SOS),
            )
            .await?;
        Ok(response_notice(
            "SOS sent",
            &format!(":sos: Help was asked in <#{}>.", target.channel_id),
        ))
    }
}
