//! Events API: the home tab, channel life (archive, rename, id change,
//! sharing), membership kept in step, topic-message clean-up, and `:mega:`
//! reactions turned into timeline entries (once per message).

use firefighter_core::{IncidentFilter, IncidentOrder, Status, Update};
use serde_json::{Value, json};

use crate::models::api::NewMessage;
use crate::models::blocks::{self, context, divider, escape, header, section};
use crate::models::inbound::Event;
use crate::store::{ConversationKind, ConversationStatus};
use crate::{Result, Slack};

/// The timeline event type of messages promoted with `:mega:`.
pub(crate) const SLACK_MESSAGE_EVENT: &str = "slack_message";

/// Incidents listed on the home tab.
const HOME_INCIDENTS: u64 = 30;

impl Slack {
    /// Handles one Events API event (already deduplicated by event id).
    pub(crate) async fn handle_event(&self, event: Value) -> Result<()> {
        let event: Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "event not understood; ignored");
                return Ok(());
            }
        };
        let store = self.store();
        match event {
            Event::AppHomeOpened { user, tab } => {
                if tab.is_empty() || tab == "home" {
                    let viewer = self.viewer(&user).await?;
                    let view = self.home_view(viewer).await?;
                    self.api().publish_home(&user, &view).await?;
                }
            }
            Event::ChannelArchive { channel } | Event::GroupArchive { channel } => {
                store
                    .set_conversation_status(&channel, ConversationStatus::Archived)
                    .await?;
            }
            Event::ChannelUnarchive { channel } | Event::GroupUnarchive { channel } => {
                store
                    .set_conversation_status(&channel, ConversationStatus::Opened)
                    .await?;
                if let Some(c) = store.conversation(&channel).await?
                    && c.kind == ConversationKind::Public
                    && let Err(e) = self.api().join_channel(&channel).await
                {
                    tracing::warn!(error = %e, channel, "could not re-join an unarchived channel");
                }
            }
            Event::ChannelRename { channel } | Event::GroupRename { channel } => {
                store
                    .rename_conversation(&channel.id, &channel.name)
                    .await?;
            }
            Event::ChannelIdChanged {
                old_channel_id,
                new_channel_id,
            } => {
                store
                    .change_channel_id(&old_channel_id, &new_channel_id)
                    .await?;
            }
            Event::ChannelShared { channel } => {
                store.set_conversation_shared(&channel, true).await?
            }
            Event::ChannelUnshared { channel } => {
                store.set_conversation_shared(&channel, false).await?
            }
            Event::MemberJoinedChannel {
                user,
                channel,
                channel_type,
            } => {
                if store.conversation(&channel).await?.is_some() {
                    if let Some(t) = channel_type {
                        store
                            .set_conversation_kind(
                                &channel,
                                ConversationKind::from_channel_type(&t),
                            )
                            .await?;
                    }
                    store
                        .add_conversation_members(&channel, std::slice::from_ref(&user))
                        .await?;
                    // Link the member so category invitations can reach them.
                    match self.user_for(&user).await {
                        Ok(u) => {
                            // In an incident channel, the person joins the incident too.
                            if let Some(id) = store.incident_of_channel(&channel).await? {
                                self.app()?.set_member(id, u.id, true).await?;
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, user, "member not linked"),
                    }
                }
            }
            Event::MemberLeftChannel {
                user,
                channel,
                channel_type,
            } => {
                if store.conversation(&channel).await?.is_some() {
                    if let Some(t) = channel_type {
                        store
                            .set_conversation_kind(
                                &channel,
                                ConversationKind::from_channel_type(&t),
                            )
                            .await?;
                    }
                    store.remove_conversation_member(&channel, &user).await?;
                    if let Some(id) = store.incident_of_channel(&channel).await?
                        && let Some(u) =
                            self.core().user_by_identity(crate::PLATFORM, &user).await?
                    {
                        self.app()?.set_member(id, u.id, false).await?;
                    }
                }
            }
            Event::Message {
                channel,
                subtype,
                user,
                ts,
                deleted_ts,
            } => match subtype.as_deref() {
                Some("channel_topic") | Some("group_topic") => {
                    let bot = self.workspace().await?.user_id;
                    if user.as_deref() == Some(bot.as_str())
                        && store
                            .conversation(&channel)
                            .await?
                            .is_some_and(|c| c.incident_id.is_some())
                        && let Err(e) = self.api().delete_message(&channel, &ts).await
                    {
                        tracing::debug!(error = %e, "could not delete the topic message");
                    }
                }
                Some("channel_convert_to_private") => {
                    store
                        .set_conversation_kind(&channel, ConversationKind::Private)
                        .await?
                }
                Some("channel_convert_to_public") => {
                    store
                        .set_conversation_kind(&channel, ConversationKind::Public)
                        .await?
                }
                Some("message_deleted") => {
                    if let Some(d) = deleted_ts {
                        store.forget_message(&channel, &d).await?;
                    }
                }
                _ => {}
            },
            Event::ReactionAdded {
                user,
                reaction,
                item,
            } => {
                if reaction == "mega" && item.kind == "message" {
                    self.mega(&user, &item.channel, &item.ts).await?;
                }
            }
            Event::Other => {}
        }
        Ok(())
    }

    /// A `:mega:` on a message of an incident channel puts it on the timeline, once.
    async fn mega(&self, user: &str, channel: &str, ts: &str) -> Result<()> {
        let Some(incident) = self.store().incident_of_channel(channel).await? else {
            return Ok(());
        };
        // Checked before the claim, so a member may still promote the message.
        match self.viewer_of_incident(user, incident).await {
            Ok(_) => {}
            Err(e @ crate::Error::NotMember(_)) => {
                let text = format!(":lock: {e}");
                let _ = self
                    .api()
                    .post_ephemeral(
                        channel,
                        user,
                        &NewMessage::new(channel, &text, json!([section(&text)])),
                    )
                    .await;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // The key makes the entry once per message even when a replayed event
        // finds the claim its first run took before stopping.
        let key = format!("slack-reaction:{channel}:{ts}");
        if !self.store().claim_reaction(channel, ts, incident).await?
            && self.core().request_applied(&key).await?.is_some()
        {
            let text = ":x: This message is already on the incident's timeline.";
            let _ = self
                .api()
                .post_ephemeral(
                    channel,
                    user,
                    &NewMessage::new(channel, text, json!([section(text)])),
                )
                .await;
            return Ok(());
        }
        let result = async {
            let by = self.user_for(user).await?;
            let Some(message) = self.api().message_at(channel, ts).await? else {
                return Ok(());
            };
            let at = ts
                .split('.')
                .next()
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
            self.app()?
                .update_once(
                    incident,
                    &key,
                    Update {
                        by: Some(by.id),
                        message: Some(message.text),
                        event_type: Some(SLACK_MESSAGE_EVENT.to_owned()),
                        event_ts: at,
                        ..Update::default()
                    },
                )
                .await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            self.store().release_reaction(channel, ts).await?;
        }
        result
    }

    /// The home tab of `viewer`: what the app does, and the active incidents they may see.
    pub(crate) async fn home_view(&self, viewer: firefighter_core::Viewer) -> Result<Value> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let incidents = app
            .list_incidents(&IncidentFilter {
                status_below: Some(Status::Closed),
                order: IncidentOrder::NewestFirst,
                limit: Some(HOME_INCIDENTS),
                visible_to: viewer.filter(),
                ..IncidentFilter::default()
            })
            .await?;
        let name = &self.settings().app_display_name;
        let critical = incidents
            .iter()
            .filter(|i| {
                catalog
                    .priorities
                    .iter()
                    .any(|p| p.id == i.priority_id && p.value < 4)
            })
            .count();
        let mut b = vec![
            header(&format!("{name} - Incident Management")),
            section(&format!(
                "Declare and follow incidents from Slack with `{} open`; run `{} help` for every command.",
                self.config().command,
                self.config().command
            )),
            blocks::actions(
                "home_actions",
                vec![blocks::primary_button(
                    "Declare an incident",
                    crate::ids::action::OPEN,
                    "home",
                )],
            ),
            divider(),
            header(&format!(
                "{critical} critical incident{} active at {}",
                if critical == 1 { "" } else { "s" },
                chrono::Utc::now()
                    .with_timezone(&app.time_zone())
                    .format("%H:%M")
            )),
        ];
        if incidents.is_empty() {
            b.push(section("No active incidents! Enjoy :tada:"));
        }
        let channels = self.store().incident_channels().await?;
        for i in &incidents {
            let priority = catalog.priorities.iter().find(|p| p.id == i.priority_id);
            let category = catalog.categories.iter().find(|c| c.id == i.category_id);
            let place = channels
                .get(&i.id)
                .map(|c| format!("<#{c}>"))
                .unwrap_or_else(|| format!("Incident {}", i.id));
            let mut s = section(&format!(
                "*{place}* {}\n{}",
                escape(&i.title),
                escape(&blocks::truncate(&i.description, 300))
            ));
            s["fields"] = json!([
                blocks::mrkdwn(&format!("*Status:* {}", i.status.label())),
                blocks::mrkdwn(&format!(
                    "*Priority:* {}",
                    priority
                        .map(|p| format!("{} {}", p.emoji, p.name))
                        .unwrap_or_default()
                )),
                blocks::mrkdwn(&format!(
                    "*Category:* {}",
                    category.map(|c| escape(&c.name)).unwrap_or_default()
                )),
                blocks::mrkdwn(&format!(
                    "*Updated:* <!date^{}^{{date_short_pretty}} {{time}}|{}>",
                    i.updated_at.timestamp(),
                    i.updated_at
                )),
            ]);
            b.push(s);
            b.push(blocks::actions(
                &format!("home_incident:{}", i.id.0),
                vec![
                    blocks::button(
                        "Update status",
                        crate::ids::action::UPDATE_STATUS,
                        &i.id.0.to_string(),
                    ),
                    blocks::url_button("Incident page", &self.settings().incident_url(i.id)),
                ],
            ));
        }
        b.push(divider());
        b.push(context(&format!(
            "{} {name} · {}",
            self.config().app_emoji,
            self.support_line().await
        )));
        Ok(blocks::home(b))
    }
}
