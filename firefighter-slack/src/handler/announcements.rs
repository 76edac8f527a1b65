//! Announcements beyond the channel: mitigated and escalated incidents in
//! `tech_incidents`, deployment freezes in `it_deploy`, and the pinned
//! announcement kept current.

use super::Steps;
use super::updates::UpdateContext;
use crate::messages::{self, IncidentView, Strategy, kind, tag};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

/// Active deployment freeze (the lifted notice is another kind, so each replaces the other).
const DEPLOY_WARNING_LIFTED: &str = "ff_deploy_warning_lifted";

impl Slack {
    /// Announces in `tech_incidents` that the incident was mitigated or escalated.
    pub(super) async fn announce_status(
        &self,
        u: &UpdateContext<'_>,
        steps: &mut Steps,
    ) -> Result<()> {
        let v = &u.v;
        if !v.announced() {
            return Ok(());
        }
        let general = self.tagged_channel(tag::TECH_INCIDENTS).await?;
        let Some(general) = general else {
            return Ok(());
        };
        let message = u.entry.as_ref().and_then(|e| e.message.clone());
        let headline = if u.mitigated_by_this {
            Some(format!(
                ":large_green_circle: Incident {} ({}) has been *Mitigated*",
                v.incident().id,
                v.channel_ref()
            ))
        } else {
            u.old.as_ref().filter(|_| u.escalated).map(|o| {
                format!(
                    ":arrow_double_up: Incident {} ({}) has escalated from {} to {}",
                    v.incident().id,
                    v.channel_ref(),
                    o.name,
                    v.priority.name
                )
            })
        };
        if let Some(h) = headline {
            let (text, blocks) = messages::general_status(v, &h, message.as_deref());
            steps.push((
                "general_status",
                self.post_once(
                    if u.mitigated_by_this {
                        &u.once_per_incident
                    } else {
                        u.key
                    },
                    "general",
                    (u.id(), Some(u.event.update_id)),
                    kind::GENERAL_STATUS,
                    NewMessage::new(&general, text, blocks),
                    Strategy::Append,
                )
                .await
                .map(drop),
            ));
        }
        Ok(())
    }

    /// What the freeze and the pinned announcement show changed: both follow.
    pub(super) async fn refresh_after_update(&self, u: &UpdateContext<'_>, steps: &mut Steps) {
        use firefighter_core::timeline::field;
        if u.has(field::STATUS)
            || u.has(field::PRIORITY)
            || u.has(field::CATEGORY)
            || u.has(field::ENVIRONMENTS)
            || u.has(field::PRIVATE)
        {
            steps.push(("it_deploy", self.deploy_warning(&u.v, u.key).await));
            steps.push(("declared", self.refresh_declared(&u.v).await));
        }
    }

    /// Posts or lifts the deployment freeze in `it_deploy` when its state changed.
    pub(super) async fn deploy_warning(&self, v: &IncidentView, key: &str) -> Result<()> {
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

    /// Refreshes the pinned announcement (status, priority, post-mortems,
    /// linked documents).
    pub(super) async fn refresh_declared(&self, v: &IncidentView) -> Result<()> {
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
        let docs = self.announced_documents(v.incident().id).await?;
        let (text, blocks) = messages::declared(v, &opener, &docs.postmortems, &docs.links);
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
}
