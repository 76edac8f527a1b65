//! Documents integrations link to an incident (`LinkAdded`: a Jira ticket):
//! bookmarked in the incident's channel once and listed in the pinned
//! announcement.
//!
//! The links are read back from core's stored events (never purged), not
//! kept in a table of ours: the announcement, refreshed after a restart,
//! still lists them, and a channel set up after the link was published (a
//! P4 escalated later) bookmarks them at its set-up. A bookmark's effect is
//! keyed by the incident and the URL, not by the delivery, so the set-up
//! and the `LinkAdded` delivery never add the same one twice.

use firefighter_core::IncidentId;
use firefighter_core::event::StoredEvent;
use futures::future::join_all;

use super::{Steps, settle};
use crate::models::blocks::is_web_link;
use crate::store::ConversationStatus;
use crate::{Result, Slack};

/// What the pinned announcement lists besides the incident: post-mortems
/// (backend, link) and linked documents (title, link).
pub(crate) struct Documents {
    pub(crate) postmortems: Vec<(String, String)>,
    pub(crate) links: Vec<(String, String)>,
}

/// The documents linked by `LinkAdded` events, in the order they came; a
/// URL linked again keeps its place and takes the latest title.
pub(crate) fn linked_documents(events: &[StoredEvent]) -> Vec<(String, String)> {
    let mut links: Vec<(String, String)> = Vec::new();
    for e in events {
        if let firefighter_core::IncidentEvent::LinkAdded { title, url } = &e.event {
            match links.iter_mut().find(|(_, u)| u == url) {
                Some(link) => link.0.clone_from(title),
                None => links.push((title.clone(), url.clone())),
            }
        }
    }
    links
}

impl Slack {
    /// A document was linked to the incident: bookmarked and shown in the
    /// announcement. Without a channel yet, its set-up will do it; in an
    /// archived channel, nothing is done.
    pub(super) async fn on_link_added(&self, id: IncidentId, title: &str, url: &str) -> Result<()> {
        let Some(channel) = self.store().incident_channel(id).await? else {
            return Ok(());
        };
        if channel.status == ConversationStatus::Archived {
            return Ok(());
        }
        let v = self.incident_view(id).await?;
        let steps: Steps = vec![
            (
                "link_bookmark",
                self.bookmark_link(id, &channel.channel_id, title, url)
                    .await,
            ),
            ("declared", self.refresh_declared(&v).await),
        ];
        settle(steps)
    }

    /// The post-mortems and the linked documents, from one read of the
    /// incident's events.
    pub(crate) async fn announced_documents(&self, id: IncidentId) -> Result<Documents> {
        let events = self.core().incident_events(id).await?;
        Ok(Documents {
            postmortems: self.postmortem_links_among(id, &events).await?,
            links: linked_documents(&events),
        })
    }

    /// Bookmarks every linked document in a channel being set up.
    pub(super) async fn bookmark_linked_documents(
        &self,
        id: IncidentId,
        channel: &str,
        links: &[(String, String)],
    ) -> Result<()> {
        let results = join_all(
            links
                .iter()
                .map(|(title, url)| self.bookmark_link(id, channel, title, url)),
        )
        .await;
        settle(results.into_iter().map(|r| ("link_bookmark", r)).collect())
    }

    /// Bookmarks one document once per incident and URL.
    async fn bookmark_link(
        &self,
        id: IncidentId,
        channel: &str,
        title: &str,
        url: &str,
    ) -> Result<()> {
        if !is_web_link(url) {
            tracing::warn!(
                incident = id.0,
                url,
                "a linked document whose link Slack would refuse is not bookmarked"
            );
            return Ok(());
        }
        let key = format!("link:{}:{url}", id.0);
        let title = if title.trim().is_empty() {
            url
        } else {
            title.trim()
        };
        match self
            .bookmark_once(
                &key,
                "bookmark",
                channel,
                (title, url, Some(":link:".into())),
            )
            .await
        {
            // The channel was archived or deleted meanwhile: nowhere to show it.
            Err(e) if e.is_code("is_archived") || e.is_code("channel_not_found") => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firefighter_core::IncidentEvent;

    fn event(id: i64, event: IncidentEvent) -> StoredEvent {
        StoredEvent {
            id,
            incident_id: IncidentId(1),
            created_at: chrono::Utc::now(),
            event,
        }
    }

    #[test]
    fn links_keep_their_order_and_take_the_latest_title() {
        let link = |title: &str, url: &str| IncidentEvent::LinkAdded {
            title: title.into(),
            url: url.into(),
        };
        let events = vec![
            event(1, link("Jira ticket INC-1", "https://jira/INC-1")),
            event(2, IncidentEvent::Created),
            event(3, link("Runbook", "https://wiki/runbook")),
            event(4, link("Jira ticket INC-1 (moved)", "https://jira/INC-1")),
        ];
        assert_eq!(
            linked_documents(&events),
            vec![
                (
                    "Jira ticket INC-1 (moved)".into(),
                    "https://jira/INC-1".into()
                ),
                ("Runbook".into(), "https://wiki/runbook".into()),
            ]
        );
    }
}
