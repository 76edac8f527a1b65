//! Roles: who holds which role, in the channel and by DM to the holders.

use futures::future::join_all;

use super::updates::UpdateContext;
use super::{Steps, settle};
use crate::messages::{self, IncidentView, Strategy, kind};
use crate::models::api::NewMessage;
use crate::{Result, Slack};

impl Slack {
    /// A role changed: the roles message, DMs to the new holders, and
    /// invitations for them (private channels too).
    pub(super) async fn on_roles_changed(
        &self,
        u: &UpdateContext<'_>,
        channel: &str,
        steps: &mut Steps,
    ) -> Result<()> {
        use firefighter_core::timeline::field;
        let (v, key, id) = (&u.v, u.key, u.id());
        let holders = self.role_holders(v).await;
        let by = self.updater(id, u.event.update_id).await;
        let (text, blocks) = messages::roles(v, &holders, by.as_deref());
        steps.push((
            "roles",
            self.post_once(
                key,
                "roles",
                (id, Some(u.event.update_id)),
                kind::ROLES,
                NewMessage::new(channel, text, blocks),
                Strategy::Append,
            )
            .await
            .map(drop),
        ));
        let slugs: Vec<String> = u
            .event
            .changed
            .iter()
            .filter_map(|c| c.strip_prefix(field::ROLE_PREFIX))
            .map(str::to_owned)
            .collect();
        steps.push(("role_dms", self.role_dms(v, key, &slugs, false).await));
        // New role holders join the channel (private ones too).
        let r = self
            .once(key, "role_invites", || async {
                self.invite_responders(id, channel, false).await
            })
            .await;
        steps.push(("role_invites", r.map(drop)));
        Ok(())
    }

    pub(super) async fn role_holders(&self, v: &IncidentView) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in &v.details.roles {
            out.push((r.slug.clone(), self.mention(r.user_id).await));
        }
        out
    }

    /// DMs the holders of these roles (spaced out per role type, see `FF_ROLE_REMINDER_MIN_DAYS_INTERVAL`).
    pub(super) async fn role_dms(
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
                        // Never twice, even after an answer lost once Slack had posted it.
                        let effect = format!("{key}:{step}");
                        let posted = match self.posted_by_an_earlier_attempt(&dm, &effect).await? {
                            Some(posted) => posted,
                            None => {
                                let message = NewMessage::new(&dm, text, blocks)
                                    .effect(&effect)
                                    .kind(kind::ROLE_DM);
                                self.api().post_message(&message).await?
                            }
                        };
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
}
