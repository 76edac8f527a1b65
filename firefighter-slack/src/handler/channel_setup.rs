//! Channel set-up (`ConversationRequested`, or an escalation of an incident
//! without a channel): create the channel, then set it up with independent
//! steps side by side, then tell core the channel is ready.

use firefighter_core::event::ChannelInfo;
use firefighter_core::{Firefighter, IncidentId};

use super::links::Documents;
use super::{CHANNEL_EVENT, settle};
use crate::channel;
use crate::messages::{self, IncidentView, Strategy, kind, tag};
use crate::models::api::{Channel, NewMessage};
use crate::store::{ConversationKind, ConversationStatus};
use crate::{Result, Slack};

/// A step of the set-up: its name for [`settle`] and its outcome.
type Step = (&'static str, Result<()>);

impl Slack {
    /// Creates and sets up the incident's channel.
    pub(crate) async fn set_up_channel(&self, id: IncidentId, key: &str) -> Result<()> {
        let app = self.app()?;
        let v = self.incident_view(id).await?;
        // Even when the incident closed meanwhile (a short incident whose
        // set-up met a failure or a crash): it was declared, so it is
        // announced and its channel set up. Its closing events are delivered
        // after this one (one incident's deliveries run in commit order), so
        // the channel is then archived and the closing posted after it.
        let Some((channel_id, name)) = self.incident_channel_or_create(&app, &v).await? else {
            return Ok(());
        };
        let v = IncidentView {
            channel_id: Some(channel_id.clone()),
            ..v
        };
        let (opener, docs) = tokio::join!(
            self.mention(v.incident().created_by),
            self.announced_documents(id)
        );
        // Documents linked before the channel existed are shown and bookmarked now.
        let docs = docs?;
        let channel = channel_id.as_str();

        // Everything below only needs the channel: run it side by side.
        let (a, b, c, d, e, f, g, h, i, j) = tokio::join!(
            self.invite_at_set_up(id, key, channel),
            self.set_topic_at_set_up(&v, key, channel),
            self.bookmark_incident_page(&v, key, channel),
            self.announce_in_channel(&v, key, channel, &opener, &docs),
            async {
                let r = self
                    .bookmark_linked_documents(id, channel, &docs.links)
                    .await;
                ("link_bookmarks", r)
            },
            self.announce_in_tech_incidents(&v, key, &opener),
            async { ("it_deploy", self.deploy_warning(&v, key).await) },
            self.post_roles_at_set_up(&v, key, channel),
            async {
                let slugs: Vec<String> = v.details.roles.iter().map(|r| r.slug.clone()).collect();
                ("role_dms", self.role_dms(&v, key, &slugs, true).await)
            },
            self.post_com_process(&v, key, channel),
        );
        settle(vec![a, b, c, d, e, f, g, h, i, j])?;

        self.report_channel_ready(&app, id, key, channel, &name)
            .await
    }

    /// The incident's channel, created when it has none yet: its id and name.
    /// `None` when Slack refused to create it for good (noted on the timeline).
    async fn incident_channel_or_create(
        &self,
        app: &Firefighter,
        v: &IncidentView,
    ) -> Result<Option<(String, String)>> {
        let id = v.incident().id;
        if let Some(c) = self.store().incident_channel(id).await? {
            return Ok(Some((c.channel_id, c.name)));
        }
        let private = v.incident().private;
        let name = channel::channel_name(v.incident(), &v.catalog, app.time_zone());
        let (_, created) =
            tokio::join!(self.workspace(), self.api().create_channel(&name, private));
        let created = match created {
            Ok(c) => c,
            Err(e) if e.is_code("name_taken") => match self.channel_named(&name).await? {
                Some(c) => c,
                None => return Err(e),
            },
            Err(e) if !e.is_retryable() => {
                // Never fall back to a public channel for a private incident.
                let what = if private {
                    "private channel"
                } else {
                    "channel"
                };
                app.publish(
                    id,
                    Vec::new(),
                    Some((&format!("Slack: the {what} #{name} could not be created ({e}); the incident has no channel."), Some(CHANNEL_EVENT))),
                )
                .await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let kind = if created.is_private {
            ConversationKind::Private
        } else {
            ConversationKind::Public
        };
        self.store()
            .upsert_conversation(
                &created.id,
                &created.name,
                kind,
                ConversationStatus::Opened,
                false,
            )
            .await?;
        self.store().link_incident_channel(id, &created.id).await?;
        Ok(Some((created.id, created.name)))
    }

    /// Finds a channel by name (after `name_taken`: a retry of a creation whose answer was lost).
    async fn channel_named(&self, name: &str) -> Result<Option<Channel>> {
        let mut cursor = None;
        loop {
            let page = self.api().list_channels(cursor).await?;
            if let Some(c) = page.items.into_iter().find(|c| c.name == name) {
                return Ok(Some(c));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(None),
            }
        }
    }

    /// Invites every responder (the summary is kept for the ready note).
    async fn invite_at_set_up(&self, id: IncidentId, key: &str, channel: &str) -> Step {
        let summary = self
            .once(key, "invite", || async {
                self.invite_responders(id, channel, true).await
            })
            .await;
        ("invite", summary.map(drop))
    }

    async fn set_topic_at_set_up(&self, v: &IncidentView, key: &str, channel: &str) -> Step {
        ("topic", self.set_topic_once(v, key, channel).await)
    }

    /// The channel's topic, once per delivery.
    pub(super) async fn set_topic_once(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
    ) -> Result<()> {
        let text = channel::topic(
            v.incident(),
            &v.catalog,
            &self.settings().app_display_name,
            &self.config().app_emoji,
            &v.url,
        );
        self.once(key, "topic", || async {
            self.api()
                .set_topic(channel, &text)
                .await
                .map(|_| String::new())
        })
        .await
        .map(drop)
    }

    async fn bookmark_incident_page(&self, v: &IncidentView, key: &str, channel: &str) -> Step {
        let r = self
            .bookmark_once(
                key,
                "bookmark",
                channel,
                ("Incident Page", &v.url, Some(":fire_extinguisher:".into())),
            )
            .await;
        ("bookmark", r)
    }

    /// The announcement in the channel, pinned.
    async fn announce_in_channel(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
        opener: &str,
        docs: &Documents,
    ) -> Step {
        let r = async {
            let (text, blocks) = messages::declared(v, opener, &docs.postmortems, &docs.links);
            let posted = self
                .post_once(
                    key,
                    "declared",
                    (v.incident().id, None),
                    kind::DECLARED,
                    NewMessage::new(channel, text, blocks),
                    Strategy::Update,
                )
                .await?;
            self.pin_once(key, "pin", channel, &posted).await
        }
        .await;
        ("declared", r)
    }

    /// The announcement in `tech_incidents`, when it applies.
    async fn announce_in_tech_incidents(&self, v: &IncidentView, key: &str, opener: &str) -> Step {
        let r = async {
            if !v.announced() {
                return Ok(());
            }
            let Some(general) = self.tagged_channel(tag::TECH_INCIDENTS).await? else {
                return Ok(());
            };
            let (text, blocks) = messages::general_declared(v, opener);
            self.post_once(
                key,
                "general",
                (v.incident().id, None),
                kind::GENERAL_DECLARED,
                NewMessage::new(&general, text, blocks),
                Strategy::Append,
            )
            .await
            .map(drop)
        }
        .await;
        ("tech_incidents", r)
    }

    async fn post_roles_at_set_up(&self, v: &IncidentView, key: &str, channel: &str) -> Step {
        let r = async {
            let holders = self.role_holders(v).await;
            let (text, blocks) = messages::roles(v, &holders, None);
            self.post_once(
                key,
                "roles",
                (v.incident().id, None),
                kind::ROLES,
                NewMessage::new(channel, text, blocks),
                Strategy::Append,
            )
            .await
            .map(drop)
        }
        .await;
        ("roles", r)
    }

    /// The emergency communication process, for a P1 in production.
    async fn post_com_process(&self, v: &IncidentView, key: &str, channel: &str) -> Step {
        let r = async {
            if !(v.priority.value == 1 && v.in_production()) {
                return Ok(());
            }
            let (text, blocks) = messages::com_process(
                self.config().emergency_communication_guide_url.as_deref(),
                self.config().emergency_usergroup_id.as_deref(),
            );
            self.post_once(
                key,
                "com",
                (v.incident().id, None),
                kind::COM_PROCESS,
                NewMessage::new(channel, text, blocks),
                Strategy::Append,
            )
            .await
            .map(drop)
        }
        .await;
        ("com_process", r)
    }

    /// Tells core the channel is ready, with the invitation summary.
    async fn report_channel_ready(
        &self,
        app: &Firefighter,
        id: IncidentId,
        key: &str,
        channel: &str,
        name: &str,
    ) -> Result<()> {
        self.once(key, "ready", || async {
            let url = self.channel_url(channel).await;
            let info = ChannelInfo {
                platform: crate::PLATFORM.to_owned(),
                id: channel.to_owned(),
                name: name.to_owned(),
                url,
            };
            let note = self
                .store()
                .effect(&format!("{key}:invite"))
                .await?
                .unwrap_or_default();
            // Core adds the off-hours hint when it opened outside office hours.
            app.channel_ready(
                id,
                info,
                Some((
                    &format!("Slack channel #{name} is ready. {note}"),
                    Some(CHANNEL_EVENT),
                )),
                chrono::Utc::now(),
            )
            .await?;
            Ok(String::new())
        })
        .await?;
        Ok(())
    }
}
