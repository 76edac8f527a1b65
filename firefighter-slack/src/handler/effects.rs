//! Effect-once bookkeeping: every Slack side effect of a delivery is
//! recorded under the delivery's idempotency key and a step name, so a
//! retried delivery skips what it already did.

use std::future::Future;

use firefighter_core::{IncidentId, UpdateId};

use crate::messages::Strategy;
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    /// Runs a side effect once per `key` and `step`, returning its recorded result.
    pub(crate) async fn once<F, Fut>(&self, key: &str, step: &str, f: F) -> Result<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        let k = format!("{key}:{step}");
        if let Some(done) = self.store().effect(&k).await? {
            return Ok(done);
        }
        let result = f().await?;
        self.store().record_effect(&k, &result).await?;
        Ok(result)
    }

    /// Posts a message once per `key` and `step`; returns `"<channel> <ts>"`.
    pub(super) async fn post_once(
        &self,
        key: &str,
        step: &str,
        (incident, update): (IncidentId, Option<UpdateId>),
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
    ) -> Result<String> {
        let effect = format!("{key}:{step}");
        self.once(key, step, || async {
            let posted = self
                .post_keyed(
                    Some(incident),
                    kind,
                    message,
                    strategy,
                    update,
                    Some(&effect),
                )
                .await?;
            Ok(format!("{} {}", posted.channel, posted.ts))
        })
        .await
    }

    /// Pins a message posted by [`Slack::post_once`] (its recorded
    /// `"<channel> <ts>"`) in `channel`, once per `key` and `step`.
    pub(super) async fn pin_once(
        &self,
        key: &str,
        step: &str,
        channel: &str,
        posted: &str,
    ) -> Result<()> {
        let ts = posted
            .split_once(' ')
            .map(|(_, ts)| ts.to_owned())
            .unwrap_or_default();
        self.once(key, step, || async {
            match self.api().pin(channel, &ts).await {
                Err(e) if e.is_code("already_pinned") => Ok(String::new()),
                other => other.map(|_| String::new()),
            }
        })
        .await
        .map(drop)
    }

    /// Whether an earlier attempt at `effect` was made, whose outcome is
    /// unknown (it may have been applied): the Slack timestamp a minute
    /// before it. When this is the first attempt, records it and answers `None`.
    pub(crate) async fn earlier_attempt(&self, effect: &str) -> Result<Option<String>> {
        let attempt = format!("{effect}:attempt");
        if let Some(since) = self.store().effect(&attempt).await? {
            return Ok(Some(since));
        }
        // A minute back: clocks differ, and Slack stamps the message, not us.
        let since = chrono::Utc::now() - chrono::Duration::minutes(1);
        self.store()
            .record_effect(&attempt, &format!("{}.000000", since.timestamp()))
            .await?;
        Ok(None)
    }

    /// Bookmarks `link` in `channel` once per `key` and `step`: an attempt
    /// after an unknown outcome (the answer lost after Slack added it) first
    /// looks at the channel's bookmarks, since `bookmarks.add` would add a
    /// second one.
    pub(super) async fn bookmark_once(
        &self,
        key: &str,
        step: &str,
        channel: &str,
        (title, link, emoji): (&str, &str, Option<String>),
    ) -> Result<()> {
        let effect = format!("{key}:{step}");
        self.once(key, step, || async {
            if self.earlier_attempt(&effect).await?.is_some()
                && self
                    .api()
                    .bookmark_links(channel)
                    .await?
                    .iter()
                    .any(|l| l == link)
            {
                return Ok(String::new());
            }
            self.api()
                .add_bookmark(channel, title, link, emoji)
                .await
                .map(|_| String::new())
        })
        .await
        .map(drop)
    }
}
