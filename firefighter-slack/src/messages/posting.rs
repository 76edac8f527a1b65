//! How messages are posted: appended, updated in place or replacing older
//! ones, each one recorded so later posts find it.

use firefighter_core::{IncidentId, UpdateId};

use super::tag;
use crate::models::api::{NewMessage, Posted};
use crate::{Result, Slack};

/// How a message relates to earlier ones of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Post a new message.
    Append,
    /// Edit the latest message of this kind in place (post one if none).
    Update,
    /// Post a new message and delete the older ones of these kinds.
    Replace(&'static [&'static str]),
}

impl Slack {
    /// Posts a message with a strategy and records it. Returns where it landed.
    pub(crate) async fn post(
        &self,
        incident: Option<IncidentId>,
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
        update: Option<UpdateId>,
    ) -> Result<Posted> {
        self.post_keyed(incident, kind, message, strategy, update, None)
            .await
    }

    /// [`Slack::post`] for the effect `effect` (its idempotency key): the
    /// message carries the key in its metadata, and the attempt is recorded
    /// before the call, so an attempt after an unknown outcome (a timeout
    /// after Slack applied the post, a crash before its answer was stored)
    /// first looks in the channel's recent history for a message with the
    /// key, and posts only when there is none. `chat.postMessage` has no
    /// idempotency key of its own.
    pub(crate) async fn post_keyed(
        &self,
        incident: Option<IncidentId>,
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
        update: Option<UpdateId>,
        effect: Option<&str>,
    ) -> Result<Posted> {
        self.post_keyed_telling(incident, kind, message, strategy, update, effect)
            .await
            .map(|(posted, _)| posted)
    }

    /// [`Slack::post_keyed`], also telling whether the message is one an
    /// earlier attempt posted (found in the history, not posted now).
    pub(crate) async fn post_keyed_telling(
        &self,
        incident: Option<IncidentId>,
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
        update: Option<UpdateId>,
        effect: Option<&str>,
    ) -> Result<(Posted, bool)> {
        let channel = message.channel.clone();
        let message = match effect {
            Some(key) => message.effect(key),
            None => message,
        }
        .kind(kind);
        if let (Strategy::Update, Some(incident)) = (strategy, incident) {
            let existing = self
                .store()
                .messages(incident, kind)
                .await?
                .into_iter()
                .rev()
                .find(|m| m.channel_id == channel);
            if let Some(m) = existing {
                match self
                    .api()
                    .update_message(&m.channel_id, &m.ts, &message)
                    .await
                {
                    Ok(()) => {
                        let posted = Posted {
                            channel: m.channel_id,
                            ts: m.ts,
                        };
                        return Ok((posted, false));
                    }
                    Err(e)
                        if e.is_code("message_not_found") || e.is_code("cant_update_message") =>
                    {
                        self.store().forget_message(&m.channel_id, &m.ts).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let earlier = match effect {
            Some(key) => self.posted_by_an_earlier_attempt(&channel, key).await?,
            None => None,
        };
        let found_earlier = earlier.is_some();
        let posted = match earlier {
            Some(posted) => posted,
            None => self.api().post_message(&message).await?,
        };
        self.store()
            .record_message(&posted.channel, &posted.ts, kind, incident, update)
            .await?;
        if let (Strategy::Replace(kinds), Some(incident)) = (strategy, incident) {
            for k in kinds.iter().copied().chain(std::iter::once(kind)) {
                for old in self.store().messages(incident, k).await? {
                    if old.ts == posted.ts && old.channel_id == posted.channel {
                        continue;
                    }
                    match self.api().delete_message(&old.channel_id, &old.ts).await {
                        Ok(()) => {}
                        Err(e)
                            if e.is_code("message_not_found") || e.is_code("channel_not_found") => {
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not delete a replaced message");
                            continue;
                        }
                    }
                    self.store()
                        .forget_message(&old.channel_id, &old.ts)
                        .await?;
                }
            }
        }
        Ok((posted, found_earlier))
    }

    /// The message an earlier attempt at `effect` posted in `channel`, if
    /// any; records this attempt first when it is the first one.
    pub(crate) async fn posted_by_an_earlier_attempt(
        &self,
        channel: &str,
        effect: &str,
    ) -> Result<Option<Posted>> {
        let Some(oldest) = self.earlier_attempt(effect).await? else {
            return Ok(None);
        };
        let found = self
            .api()
            .messages_since(channel, &oldest)
            .await?
            .into_iter()
            .find(|m| {
                m.metadata
                    .as_ref()
                    .and_then(|md| md["event_payload"]["effect"].as_str())
                    == Some(effect)
            });
        if let Some(m) = &found {
            tracing::info!(effect, channel, ts = %m.ts, "a message whose answer was lost was posted: not posting it again");
        }
        Ok(found.map(|m| Posted {
            channel: channel.to_owned(),
            ts: m.ts,
        }))
    }

    /// The channel with a tag, if configured.
    pub(crate) async fn tagged_channel(&self, tag: &str) -> Result<Option<String>> {
        Ok(self
            .store()
            .conversation_by_tag(tag)
            .await?
            .filter(|c| c.status != crate::store::ConversationStatus::Archived)
            .map(|c| c.channel_id))
    }

    /// The help footer: where to get help with the bot.
    pub(crate) async fn support_line(&self) -> String {
        match self.tagged_channel(tag::DEV_FIREFIGHTER).await {
            Ok(Some(c)) => format!("Questions about the bot? Ask in <#{c}>."),
            _ => "Questions about the bot? Ask your incident management team.".to_owned(),
        }
    }
}
