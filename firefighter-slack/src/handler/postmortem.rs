//! Post-mortems (`PostMortemCreated`): the link posted, pinned and
//! bookmarked in the channel, and announced where post-mortems are required.

use firefighter_core::IncidentId;

use super::{Steps, settle};
use crate::messages::{self, IncidentView, Strategy, kind, tag};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    pub(super) async fn on_postmortem(
        &self,
        id: IncidentId,
        key: &str,
        backend: &str,
        url: &str,
    ) -> Result<()> {
        let v = self.incident_view(id).await?;
        let mut steps: Steps = Vec::new();
        if let Some(channel) = v.channel_id.clone() {
            steps.push((
                "pm_message",
                self.post_postmortem_link(&v, key, &channel, backend, url)
                    .await,
            ));
            let title = format!("Post-mortem ({backend})");
            let r = self
                .bookmark_once(key, "pm_bookmark", &channel, (&title, url, None))
                .await;
            steps.push(("pm_bookmark", r));
            steps.push(("declared", self.refresh_declared(&v).await));
        }
        self.announce_postmortem(&v, key, backend, url, &mut steps)
            .await?;
        settle(steps)
    }

    /// The link in the channel, pinned.
    async fn post_postmortem_link(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
        backend: &str,
        url: &str,
    ) -> Result<()> {
        let (text, blocks) = messages::postmortem_created(v, backend, url, false);
        let posted = self
            .post_once(
                key,
                "pm",
                (v.incident().id, None),
                kind::PM_CREATED,
                NewMessage::new(channel, text, blocks),
                Strategy::Append,
            )
            .await?;
        self.pin_once(key, "pm_pin", channel, &posted).await
    }

    /// The announcement in `tech_incidents`, where a post-mortem is required.
    async fn announce_postmortem(
        &self,
        v: &IncidentView,
        key: &str,
        backend: &str,
        url: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        let app = self.app()?;
        if v.announced()
            && app.postmortem_required(&v.catalog, v.incident())
            && let Some(general) = self.tagged_channel(tag::TECH_INCIDENTS).await?
        {
            let (text, blocks) = messages::postmortem_created(v, backend, url, true);
            steps.push((
                "pm_announcement",
                self.post_once(
                    key,
                    "pm_general",
                    (v.incident().id, None),
                    kind::PM_ANNOUNCEMENT,
                    NewMessage::new(&general, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop),
            ));
        }
        Ok(())
    }
}
