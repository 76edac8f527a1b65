//! Invitations: who core's invitation registry names joins the channel.

use std::collections::{BTreeSet, HashSet};

use firefighter_core::IncidentId;
use futures::future::join_all;

use crate::{Result, Slack};

impl Slack {
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
}
