//! Reactions to incident events (outbox deliveries, at least once): the
//! incident channel's life, announcements, invitations, roles, key events.
//!
//! Every Slack side effect is recorded under the delivery's idempotency key
//! and a step name, so a retried delivery skips what it already did.
//! Independent calls run concurrently: from "declared" to "channel ready with
//! responders invited" there are at most three Slack round trips one after
//! another (create; invite; per-user fallback).

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use async_trait::async_trait;
use firefighter_core::event::{ChannelInfo, Delivery, EventHandler, HandlerError, UpdateKind};
use firefighter_core::oncall::OffHoursHint;
use firefighter_core::timeline::event_type;
use firefighter_core::{IncidentEvent, IncidentId, PriorityId, Status, UpdateId};
use futures::future::join_all;

use crate::channel;
use crate::messages::{self, Change, IncidentView, Strategy, kind, tag};
use crate::models::api::NewMessage;
use crate::store::{ConversationKind, ConversationStatus};
use crate::{Error, Result, Slack};

/// The handler's name (deliveries are keyed by it).
pub const HANDLER_NAME: &str = "slack";

/// Active deployment freeze (the lifted notice is another kind, so each replaces the other).
const DEPLOY_WARNING_LIFTED: &str = "ff_deploy_warning_lifted";

/// The timeline event type of channel set-up notes.
pub const CHANNEL_EVENT: &str = "slack_channel";

/// The timeline event type of a page of an on-call (recorded by the on-call
/// vendor once the page is sent): posted in the incident channel.
pub const PAGE_EVENT: &str = event_type::TRIGGER_ONCALL;

/// Reacts to incident events in Slack.
#[derive(Debug, Clone)]
pub struct SlackEventHandler {
    slack: Slack,
}

impl SlackEventHandler {
    /// A handler for this integration.
    pub fn new(slack: Slack) -> SlackEventHandler {
        SlackEventHandler { slack }
    }
}

#[async_trait]
impl EventHandler for SlackEventHandler {
    fn name(&self) -> &str {
        HANDLER_NAME
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let s = &self.slack;
        let key = delivery.idempotency_key();
        let id = delivery.event.incident_id;
        let result = match &delivery.event.event {
            IncidentEvent::ConversationRequested { .. } => s.set_up_channel(id, &key).await,
            IncidentEvent::Updated {
                update_id,
                update_kind,
                changed,
                old_priority,
                event_type,
            } => {
                s.on_updated(
                    id,
                    &key,
                    *update_id,
                    *update_kind,
                    changed,
                    *old_priority,
                    event_type.as_deref(),
                )
                .await
            }
            IncidentEvent::Closed => s.on_closed(id, &key).await,
            IncidentEvent::KeyEventsUpdated => s.on_key_events(id).await,
            IncidentEvent::PostMortemCreated { backend, url } => {
                s.on_postmortem(id, &key, backend, url).await
            }
            IncidentEvent::OffHoursHint { hint } => s.on_off_hours_hint(id, &key, hint).await,
            IncidentEvent::Created | IncidentEvent::ChannelReady { .. } => Ok(()),
        };
        match result {
            Ok(()) => Ok(()),
            // The incident is gone: nothing left to do.
            Err(Error::Core(firefighter_core::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(e.into_handler_error()),
        }
    }
}

/// Collects the outcome of independent steps: the first retryable failure
/// wins (done steps are recorded and skipped on the retry); permanent ones are logged.
fn settle(results: Vec<(&'static str, Result<()>)>) -> Result<()> {
    let mut retry = None;
    for (step, r) in results {
        if let Err(e) = r {
            if e.is_retryable() {
                tracing::warn!(step, error = %e, "Slack step failed; the delivery will be retried");
                retry.get_or_insert(e);
            } else {
                tracing::warn!(step, error = %e, "Slack step failed");
            }
        }
    }
    retry.map_or(Ok(()), Err)
}

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

    async fn post_once(
        &self,
        key: &str,
        step: &str,
        (incident, update): (IncidentId, Option<UpdateId>),
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
    ) -> Result<String> {
        self.once(key, step, || async {
            let posted = self
                .post(Some(incident), kind, message, strategy, update)
                .await?;
            Ok(format!("{} {}", posted.channel, posted.ts))
        })
        .await
    }

    /// Finds a channel by name (after `name_taken`: a retry of a creation whose answer was lost).
    async fn channel_named(&self, name: &str) -> Result<Option<crate::models::api::Channel>> {
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

    /// Creates and sets up the incident's channel.
    pub(crate) async fn set_up_channel(&self, id: IncidentId, key: &str) -> Result<()> {
        let app = self.app()?;
        let v = self.incident_view(id).await?;
        if v.incident().status == Status::Closed {
            return Ok(());
        }
        let private = v.incident().private;
        let (channel_id, name) = match self.store().incident_channel(id).await? {
            Some(c) => (c.channel_id, c.name),
            None => {
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
                        return Ok(());
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
                (created.id, created.name)
            }
        };
        let v = IncidentView {
            channel_id: Some(channel_id.clone()),
            ..v
        };
        let opener = self.mention(v.incident().created_by).await;
        let channel = channel_id.as_str();

        // Everything below only needs the channel: run it side by side.
        let invitations = async {
            let summary = self
                .once(key, "invite", || async {
                    self.invite_responders(id, channel, true).await
                })
                .await;
            ("invite", summary.map(drop))
        };
        let topic = async {
            let text = channel::topic(
                v.incident(),
                &v.catalog,
                &self.settings().app_display_name,
                &self.config().app_emoji,
                &v.url,
            );
            (
                "topic",
                self.once(key, "topic", || async {
                    self.api()
                        .set_topic(channel, &text)
                        .await
                        .map(|_| String::new())
                })
                .await
                .map(drop),
            )
        };
        let bookmark = async {
            let r = self
                .once(key, "bookmark", || async {
                    self.api()
                        .add_bookmark(
                            channel,
                            "Incident Page",
                            &v.url,
                            Some(":fire_extinguisher:".into()),
                        )
                        .await
                        .map(|_| String::new())
                })
                .await;
            ("bookmark", r.map(drop))
        };
        let announcement = async {
            let r = async {
                let (text, blocks) = messages::declared(&v, &opener, &[]);
                let posted = self
                    .post_once(
                        key,
                        "declared",
                        (id, None),
                        kind::DECLARED,
                        NewMessage::new(channel, text, blocks),
                        Strategy::Update,
                    )
                    .await?;
                let ts = posted
                    .split_once(' ')
                    .map(|(_, ts)| ts.to_owned())
                    .unwrap_or_default();
                self.once(key, "pin", || async {
                    match self.api().pin(channel, &ts).await {
                        Err(e) if e.is_code("already_pinned") => Ok(String::new()),
                        other => other.map(|_| String::new()),
                    }
                })
                .await
                .map(drop)
            }
            .await;
            ("declared", r)
        };
        let general = async {
            let r = async {
                if !v.announced() {
                    return Ok(());
                }
                let Some(general) = self.tagged_channel(tag::TECH_INCIDENTS).await? else {
                    return Ok(());
                };
                let (text, blocks) = messages::general_declared(&v, &opener);
                self.post_once(
                    key,
                    "general",
                    (id, None),
                    kind::GENERAL_DECLARED,
                    NewMessage::new(&general, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop)
            }
            .await;
            ("tech_incidents", r)
        };
        let deploy = async { ("it_deploy", self.deploy_warning(&v, key).await) };
        let roles = async {
            let r = async {
                let holders = self.role_holders(&v).await;
                let (text, blocks) = messages::roles(&v, &holders, None);
                self.post_once(
                    key,
                    "roles",
                    (id, None),
                    kind::ROLES,
                    NewMessage::new(channel, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop)
            }
            .await;
            ("roles", r)
        };
        let dms = async {
            let slugs: Vec<String> = v.details.roles.iter().map(|r| r.slug.clone()).collect();
            ("role_dms", self.role_dms(&v, key, &slugs, true).await)
        };
        let com = async {
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
                    (id, None),
                    kind::COM_PROCESS,
                    NewMessage::new(channel, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop)
            }
            .await;
            ("com_process", r)
        };
        let (a, b, c, d, e, f, g, h, i) = tokio::join!(
            invitations,
            topic,
            bookmark,
            announcement,
            general,
            deploy,
            roles,
            dms,
            com
        );
        settle(vec![a, b, c, d, e, f, g, h, i])?;

        self.once(key, "ready", || async {
            let url = self.channel_url(channel).await;
            let info = ChannelInfo {
                platform: crate::PLATFORM.to_owned(),
                id: channel.to_owned(),
                name: name.clone(),
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

    /// Invites who the invitation registry names (only those not yet in the
    /// channel unless `all`): one batch call, then one by one if the batch fails.
    /// Returns a summary with the reasons, for the timeline.
    pub(crate) async fn invite_responders(
        &self,
        id: IncidentId,
        channel: &str,
        all: bool,
    ) -> Result<String> {
        let app = self.app()?;
        let resolution = app.resolve_invites(id, Some(crate::PLATFORM)).await?;
        let bot = self
            .workspace()
            .await
            .map(|w| w.user_id)
            .unwrap_or_default();
        let present: HashSet<String> = if all {
            HashSet::new()
        } else {
            self.store()
                .conversation_members(channel)
                .await?
                .into_iter()
                .collect()
        };
        let mut wanted: Vec<(String, String)> = Vec::new();
        let mut seen = BTreeSet::new();
        for inv in &resolution.invitees {
            let Some(slack_id) = inv.external_id.clone() else {
                continue;
            };
            if slack_id == bot || present.contains(&slack_id) || !seen.insert(slack_id.clone()) {
                continue;
            }
            wanted.push((slack_id, inv.reasons.join(", ")));
        }
        if wanted.is_empty() && resolution.excluded.is_empty() {
            return Ok(String::new());
        }
        let ids: Vec<String> = wanted.iter().map(|(s, _)| s.clone()).collect();
        let mut invited: Vec<String> = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        if !ids.is_empty() {
            match self.api().invite(channel, &ids).await {
                Ok(()) => invited = ids.clone(),
                Err(e) if e.is_retryable() && !e.is_code("ratelimited") => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, "batch invitation failed; inviting one by one");
                    let one_by_one = join_all(ids.iter().map(|u| async move {
                        (
                            u.clone(),
                            self.api().invite(channel, std::slice::from_ref(u)).await,
                        )
                    }))
                    .await;
                    for (u, r) in one_by_one {
                        match r {
                            Ok(()) => invited.push(u),
                            Err(e) if e.is_code("already_in_channel") => invited.push(u),
                            Err(e) => failed.push((u, e.code().unwrap_or("error").to_owned())),
                        }
                    }
                }
            }
        }
        self.store()
            .add_conversation_members(channel, &invited)
            .await?;
        let mut parts = Vec::new();
        if !invited.is_empty() {
            let list: Vec<String> = wanted
                .iter()
                .filter(|(u, _)| invited.contains(u))
                .take(30)
                .map(|(u, why)| format!("<@{u}> ({why})"))
                .collect();
            parts.push(format!("Invited {}: {}.", invited.len(), list.join(", ")));
        }
        let mut not: Vec<String> = failed
            .iter()
            .map(|(u, why)| format!("<@{u}> ({why})"))
            .collect();
        for ex in resolution.excluded.iter().take(30) {
            let name = app
                .store()
                .user(ex.user_id)
                .await?
                .map(|u| u.email)
                .unwrap_or_else(|| ex.user_id.to_string());
            not.push(format!("{name} ({})", ex.why));
        }
        if !not.is_empty() {
            parts.push(format!("Not invited: {}.", not.join(", ")));
        }
        for (p, e) in &resolution.failed_providers {
            parts.push(format!("Invite provider {p} failed: {e}."));
        }
        Ok(parts.join(" "))
    }

    async fn role_holders(&self, v: &IncidentView) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in &v.details.roles {
            out.push((r.slug.clone(), self.mention(r.user_id).await));
        }
        out
    }

    /// DMs the holders of these roles (spaced out per role type, see `FF_ROLE_REMINDER_MIN_DAYS_INTERVAL`).
    async fn role_dms(
        &self,
        v: &IncidentView,
        key: &str,
        slugs: &[String],
        at_creation: bool,
    ) -> Result<()> {
        let min_days = self.config().role_reminder_min_days;
        if min_days < 0 {
            return Ok(());
        }
        // One DM per holder, side by side.
        let dms = v
            .details
            .roles
            .iter()
            .filter(|r| slugs.contains(&r.slug))
            .map(|r| async move {
                let Some(role) = v.catalog.role_types.iter().find(|t| t.id == r.role_type_id)
                else {
                    return Ok(());
                };
                // "Recently" means in another incident: this assignment itself never counts.
                if min_days > 0
                    && let Some(last) = self
                        .store()
                        .last_role_notice(r.user_id, &r.slug, v.incident().id)
                        .await?
                    && chrono::Utc::now() - last < chrono::Duration::days(min_days)
                {
                    return Ok(());
                }
                let Some(slack_id) = self.slack_id_of(r.user_id).await? else {
                    return Ok(());
                };
                let automatic = at_creation && r.user_id == v.incident().created_by;
                let (text, blocks) = messages::role_assigned(v, role, automatic);
                let step = format!("dm:{}:{}", r.slug, r.user_id);
                let res = self
                    .once(key, &step, || async {
                        let dm = self.api().open_dm(&slack_id).await?;
                        let posted = self
                            .api()
                            .post_message(&NewMessage::new(&dm, text, blocks).kind(kind::ROLE_DM))
                            .await?;
                        self.store()
                            .record_role_notice(r.user_id, &r.slug, v.incident().id)
                            .await?;
                        Ok(posted.ts)
                    })
                    .await;
                match res {
                    Err(e) if e.is_code("messages_tab_disabled") || e.is_code("cannot_dm_bot") => {
                        tracing::info!(error = %e, "role DM not possible");
                        Ok(())
                    }
                    other => other.map(drop),
                }
            });
        let results = join_all(dms)
            .await
            .into_iter()
            .map(|r| ("role_dm", r))
            .collect();
        settle(results)
    }

    /// Posts or lifts the deployment freeze in `it_deploy` when its state changed.
    async fn deploy_warning(&self, v: &IncidentView, key: &str) -> Result<()> {
        let id = v.incident().id;
        let active = !self
            .store()
            .messages(id, kind::DEPLOY_WARNING)
            .await?
            .is_empty();
        let freeze = v.freezes_deployments();
        if freeze == active {
            return Ok(());
        }
        let Some(deploy) = self.tagged_channel(tag::IT_DEPLOY).await? else {
            return Ok(());
        };
        let (text, blocks) = messages::deploy_warning(v, freeze);
        let (k, other): (&str, &'static [&'static str]) = if freeze {
            (kind::DEPLOY_WARNING, &[DEPLOY_WARNING_LIFTED])
        } else {
            (DEPLOY_WARNING_LIFTED, &[kind::DEPLOY_WARNING])
        };
        self.post_once(
            key,
            "deploy_warning",
            (id, None),
            k,
            NewMessage::new(&deploy, text, blocks),
            Strategy::Replace(other),
        )
        .await
        .map(drop)
    }

    #[allow(clippy::too_many_arguments)]
    async fn on_updated(
        &self,
        id: IncidentId,
        key: &str,
        update_id: UpdateId,
        update_kind: UpdateKind,
        changed: &[String],
        old_priority: Option<PriorityId>,
        event_type: Option<&str>,
    ) -> Result<()> {
        use firefighter_core::timeline::field;
        let v = self.incident_view(id).await?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let old =
            old_priority.and_then(|p| v.catalog.priorities.iter().find(|x| x.id == p).cloned());
        let escalated = old.as_ref().is_some_and(|o| v.priority.value < o.value);
        // Decided from what this event set, never from the incident as it is
        // now: a late delivery of an earlier change (a retry, a lease taken
        // over) must not redo what a later change did.
        // The update's timeline entry, read once for every step below.
        let entry = self.entry(id, update_id).await?;
        let mitigated_by_this =
            has(field::STATUS) && entry.as_ref().and_then(|e| e.status) == Some(Status::Mitigated);
        // Messages that appear once per incident, whichever delivery gets there first.
        let once_per_incident = format!("incident:{}:mitigated", id.0);

        // An escalation into P1-P3 of an incident without a channel gets one now.
        if v.channel_id.is_none()
            && escalated
            && v.is_critical()
            && v.incident().status < Status::Closed
        {
            self.set_up_channel(id, key).await?;
            return Ok(());
        }
        let mut steps: Vec<(&'static str, Result<()>)> = Vec::new();
        if let Some(channel) = v.channel_id.clone() {
            if update_kind == UpdateKind::Roles {
                let holders = self.role_holders(&v).await;
                let by = self.updater(id, update_id).await;
                let (text, blocks) = messages::roles(&v, &holders, by.as_deref());
                steps.push((
                    "roles",
                    self.post_once(
                        key,
                        "roles",
                        (id, Some(update_id)),
                        kind::ROLES,
                        NewMessage::new(&channel, text, blocks),
                        Strategy::Append,
                    )
                    .await
                    .map(drop),
                ));
                let slugs: Vec<String> = changed
                    .iter()
                    .filter_map(|c| c.strip_prefix(field::ROLE_PREFIX))
                    .map(str::to_owned)
                    .collect();
                steps.push(("role_dms", self.role_dms(&v, key, &slugs, false).await));
                // New role holders join the channel (private ones too).
                let r = self
                    .once(key, "role_invites", || async {
                        self.invite_responders(id, &channel, false).await
                    })
                    .await;
                steps.push(("role_invites", r.map(drop)));
            } else {
                if has(field::CATEGORY) || has(field::ENVIRONMENTS) {
                    let name =
                        channel::channel_name(v.incident(), &v.catalog, self.app()?.time_zone());
                    let current = self
                        .store()
                        .conversation(&channel)
                        .await?
                        .map(|c| c.name)
                        .unwrap_or_default();
                    if name != current {
                        let r = self
                            .once(key, "rename", || async {
                                let c = self.api().rename_channel(&channel, &name).await?;
                                self.store().rename_conversation(&channel, &c.name).await?;
                                Ok(c.name)
                            })
                            .await;
                        steps.push(("rename", r.map(drop)));
                    }
                }
                if has(field::STATUS) || has(field::PRIORITY) || has(field::CATEGORY) {
                    let text = channel::topic(
                        v.incident(),
                        &v.catalog,
                        &self.settings().app_display_name,
                        &self.config().app_emoji,
                        &v.url,
                    );
                    steps.push((
                        "topic",
                        self.once(key, "topic", || async {
                            self.api()
                                .set_topic(&channel, &text)
                                .await
                                .map(|_| String::new())
                        })
                        .await
                        .map(drop),
                    ));
                }
                // Technical messages (SOS, paging, :mega:) are not echoed back (FireFighter's quirk 7).
                if update_kind == UpdateKind::Fields || event_type.is_none() {
                    let changes = describe_changes(&v, entry.as_ref());
                    let by = self
                        .updater(id, update_id)
                        .await
                        .unwrap_or_else(|| "the system".into());
                    let message = entry.as_ref().and_then(|e| e.message.clone());
                    if message.is_some() || !changes.is_empty() {
                        let (text, blocks) =
                            messages::status_update(&v, message.as_deref(), &changes, &by);
                        steps.push((
                            "status_message",
                            self.post_once(
                                key,
                                "status",
                                (id, Some(update_id)),
                                kind::STATUS_UPDATED,
                                NewMessage::new(&channel, text, blocks),
                                Strategy::Append,
                            )
                            .await
                            .map(drop),
                        ));
                    }
                }
                if event_type == Some(PAGE_EVENT) {
                    steps.push((
                        "page_note",
                        self.page_note(&v, key, &channel, update_id).await,
                    ));
                }
                if mitigated_by_this {
                    steps.push((
                        "key_events",
                        self.post_key_events(&v, &once_per_incident, &channel).await,
                    ));
                    let app = self.app()?;
                    let (text, blocks, k, other): (
                        String,
                        serde_json::Value,
                        &str,
                        &'static [&'static str],
                    ) = if app.postmortem_required(&v.catalog, v.incident()) {
                        let (t, b) = messages::postmortem_reminder(
                            &v,
                            self.config().postmortem_help_url.as_deref(),
                        );
                        (t, b, kind::PM_REMINDER, &[kind::NEXT_ACTIONS])
                    } else {
                        let (t, b) = messages::next_actions(&v);
                        (t, b, kind::NEXT_ACTIONS, &[kind::PM_REMINDER])
                    };
                    steps.push((
                        "next_steps",
                        self.post_once(
                            &once_per_incident,
                            "next_steps",
                            (id, None),
                            k,
                            NewMessage::new(&channel, text, blocks),
                            Strategy::Replace(other),
                        )
                        .await
                        .map(drop),
                    ));
                }
                if let Some(o) = &old
                    && o.value < 4
                    && v.priority.value >= 4
                    && v.incident().status < Status::Closed
                {
                    steps.push((
                        "downgrade_hint",
                        self.downgrade_hint(&v, key, &channel).await,
                    ));
                }
                if !v.incident().private && v.incident().status < Status::Closed {
                    let r = self
                        .once(key, "reinvite", || async {
                            self.invite_responders(id, &channel, false).await
                        })
                        .await;
                    if let Ok(note) = &r
                        && !note.is_empty()
                    {
                        self.app()?
                            .publish(
                                id,
                                Vec::new(),
                                Some((&format!("Slack: {note}"), Some(CHANNEL_EVENT))),
                            )
                            .await?;
                    }
                    steps.push(("reinvite", r.map(drop)));
                }
            }
        }
        // Announcements in tech_incidents: mitigated, escalated.
        if v.announced() {
            let general = self.tagged_channel(tag::TECH_INCIDENTS).await?;
            if let Some(general) = general {
                let message = entry.as_ref().and_then(|e| e.message.clone());
                let headline = if mitigated_by_this {
                    Some(format!(
                        ":large_green_circle: Incident {} ({}) has been *Mitigated*",
                        v.incident().id,
                        v.channel_ref()
                    ))
                } else if let Some(o) = old.as_ref().filter(|_| escalated) {
                    Some(format!(
                        ":arrow_double_up: Incident {} ({}) has escalated from {} to {}",
                        v.incident().id,
                        v.channel_ref(),
                        o.name,
                        v.priority.name
                    ))
                } else {
                    None
                };
                if let Some(h) = headline {
                    let (text, blocks) = messages::general_status(&v, &h, message.as_deref());
                    steps.push((
                        "general_status",
                        self.post_once(
                            if mitigated_by_this {
                                &once_per_incident
                            } else {
                                key
                            },
                            "general",
                            (id, Some(update_id)),
                            kind::GENERAL_STATUS,
                            NewMessage::new(&general, text, blocks),
                            Strategy::Append,
                        )
                        .await
                        .map(drop),
                    ));
                }
            }
        }
        if has(field::STATUS)
            || has(field::PRIORITY)
            || has(field::CATEGORY)
            || has(field::ENVIRONMENTS)
            || has(field::PRIVATE)
        {
            steps.push(("it_deploy", self.deploy_warning(&v, key).await));
            steps.push(("declared", self.refresh_declared(&v).await));
        }
        settle(steps)
    }

    /// Posts a page of the on-call (its timeline entry) in the incident
    /// channel, once per delivery.
    async fn page_note(
        &self,
        v: &IncidentView,
        key: &str,
        channel: &str,
        update_id: UpdateId,
    ) -> Result<()> {
        let id = v.incident().id;
        let Some(entry) = self.entry(id, update_id).await? else {
            return Ok(());
        };
        let Some(text) = entry.message.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(());
        };
        let by = match entry.created_by {
            Some(u) => Some(self.mention(u).await),
            None => None,
        };
        let (text, blocks) = messages::oncall_paged(text, by.as_deref());
        self.post_once(
            key,
            kind::ONCALL_PAGED,
            (id, Some(update_id)),
            kind::ONCALL_PAGED,
            NewMessage::new(channel, text, blocks),
            Strategy::Append,
        )
        .await
        .map(drop)
    }

    /// The incident's channel opened outside office hours: offers to page
    /// the on-call in it (a button opening the on-call modal), once.
    async fn on_off_hours_hint(
        &self,
        id: IncidentId,
        key: &str,
        hint: &OffHoursHint,
    ) -> Result<()> {
        if hint.channel.platform != crate::PLATFORM {
            return Ok(());
        }
        let v = self.incident_view(id).await?;
        if v.incident().status == Status::Closed {
            return Ok(());
        }
        let Some(channel) = v.channel_id.clone() else {
            return Ok(());
        };
        let (text, blocks) = messages::oncall_hint(&v, hint);
        self.post_once(
            key,
            kind::ONCALL_HINT,
            (id, None),
            kind::ONCALL_HINT,
            NewMessage::new(&channel, text, blocks),
            Strategy::Append,
        )
        .await
        .map(drop)
    }

    async fn entry(
        &self,
        id: IncidentId,
        update_id: UpdateId,
    ) -> Result<Option<firefighter_core::TimelineEntry>> {
        Ok(self
            .app()?
            .timeline(id)
            .await?
            .into_iter()
            .find(|e| e.id == update_id))
    }

    async fn updater(&self, id: IncidentId, update_id: UpdateId) -> Option<String> {
        let entry = self.entry(id, update_id).await.ok().flatten()?;
        Some(self.mention(entry.created_by?).await)
    }

    /// Refreshes the pinned announcement (status, priority, post-mortems).
    async fn refresh_declared(&self, v: &IncidentView) -> Result<()> {
        let Some(channel) = &v.channel_id else {
            return Ok(());
        };
        if self
            .store()
            .messages(v.incident().id, kind::DECLARED)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let opener = self.mention(v.incident().created_by).await;
        let pms = self.postmortem_documents(v.incident().id).await?;
        let (text, blocks) = messages::declared(v, &opener, &pms);
        self.post(
            Some(v.incident().id),
            kind::DECLARED,
            NewMessage::new(channel, text, blocks),
            Strategy::Update,
            None,
        )
        .await
        .map(drop)
    }

    async fn post_key_events(&self, v: &IncidentView, key: &str, channel: &str) -> Result<()> {
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

    async fn downgrade_hint(&self, v: &IncidentView, key: &str, channel: &str) -> Result<()> {
        let commander = v
            .details
            .roles
            .iter()
            .find(|r| r.slug == firefighter_core::role::COMMANDER)
            .map(|r| r.user_id);
        let Some(user) = commander else { return Ok(()) };
        let Some(slack_id) = self.slack_id_of(user).await? else {
            return Ok(());
        };
        let (text, blocks) = messages::downgrade_hint(v);
        self.once(key, "downgrade_hint", || async {
            self.api()
                .post_ephemeral(channel, &slack_id, &NewMessage::new(channel, text, blocks))
                .await
                .map(|_| String::new())
        })
        .await
        .map(drop)
    }

    async fn on_closed(&self, id: IncidentId, key: &str) -> Result<()> {
        let Some(c) = self.store().incident_channel(id).await? else {
            return Ok(());
        };
        if c.status == ConversationStatus::Archived {
            return Ok(());
        }
        self.once(key, "archive", || async {
            match self.api().archive_channel(&c.channel_id).await {
                Ok(()) => {}
                Err(e) if e.is_code("already_archived") || e.is_code("channel_not_found") => {}
                Err(e) => return Err(e),
            }
            self.store()
                .set_conversation_status(&c.channel_id, ConversationStatus::Archived)
                .await?;
            Ok(String::new())
        })
        .await
        .map(drop)
    }

    async fn on_key_events(&self, id: IncidentId) -> Result<()> {
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

    async fn on_postmortem(
        &self,
        id: IncidentId,
        key: &str,
        backend: &str,
        url: &str,
    ) -> Result<()> {
        let v = self.incident_view(id).await?;
        let mut steps = Vec::new();
        if let Some(channel) = v.channel_id.clone() {
            let (text, blocks) = messages::postmortem_created(&v, backend, url, false);
            let r = async {
                let posted = self
                    .post_once(
                        key,
                        "pm",
                        (id, None),
                        kind::PM_CREATED,
                        NewMessage::new(&channel, text, blocks),
                        Strategy::Append,
                    )
                    .await?;
                let ts = posted
                    .split_once(' ')
                    .map(|(_, t)| t.to_owned())
                    .unwrap_or_default();
                self.once(key, "pm_pin", || async {
                    match self.api().pin(&channel, &ts).await {
                        Err(e) if e.is_code("already_pinned") => Ok(String::new()),
                        other => other.map(|_| String::new()),
                    }
                })
                .await
                .map(drop)
            }
            .await;
            steps.push(("pm_message", r));
            let r = self
                .once(key, "pm_bookmark", || async {
                    self.api()
                        .add_bookmark(&channel, &format!("Post-mortem ({backend})"), url, None)
                        .await
                        .map(|_| String::new())
                })
                .await;
            steps.push(("pm_bookmark", r.map(drop)));
            steps.push(("declared", self.refresh_declared(&v).await));
        }
        let app = self.app()?;
        if v.announced()
            && app.postmortem_required(&v.catalog, v.incident())
            && let Some(general) = self.tagged_channel(tag::TECH_INCIDENTS).await?
        {
            let (text, blocks) = messages::postmortem_created(&v, backend, url, true);
            steps.push((
                "pm_announcement",
                self.post_once(
                    key,
                    "pm_general",
                    (id, None),
                    kind::PM_ANNOUNCEMENT,
                    NewMessage::new(&general, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop),
            ));
        }
        settle(steps)
    }
}

fn describe_changes(
    v: &IncidentView,
    entry: Option<&firefighter_core::TimelineEntry>,
) -> Vec<Change> {
    use firefighter_core::timeline::field;
    let Some(entry) = entry else {
        return Vec::new();
    };
    entry
        .changes
        .iter()
        .filter_map(|c| {
            let label = match c.field.as_str() {
                field::STATUS => "Status",
                field::PRIORITY => "Priority",
                field::CATEGORY => "Category",
                field::TITLE => "Title",
                field::DESCRIPTION => "Description",
                field::ENVIRONMENTS => "Environment",
                field::CLOSURE_REASON => "Closure reason",
                _ => return None,
            };
            let new = match c.field.as_str() {
                field::STATUS => Status::parse(c.new.as_deref().unwrap_or_default())
                    .map(|s| s.label().to_owned())
                    .unwrap_or_default(),
                field::PRIORITY => v.priority_label(),
                _ => c.new.clone().unwrap_or_default(),
            };
            Some(Change {
                field: label.to_owned(),
                new,
            })
        })
        .collect()
}
