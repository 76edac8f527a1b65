//! What is done with each webhook: the incident synced through core's
//! lifecycle, the ticket's watchers told.

use async_trait::async_trait;
use chrono::Utc;
use firefighter_core::inbox::{InboxFailure, InboxHandler, InboxItem};
use firefighter_core::notify::{Delivered, Notification};
use firefighter_core::{Firefighter, IncidentEvent, IncidentId, Status, Update, User};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{ALERT_KIND, Webhooks, kind};
use crate::alerts::cut;
use crate::client::{json as read_json, segment};
use crate::ledger::{PRIORITY, STATUS};
use crate::models::webhook::{ChangeItem, CommentHook, UpdateHook};
use crate::models::{Watcher, Watchers, adf};
use crate::sync::{PRIORITY_SYNC, STATUS_SYNC, SYNC_WARNING, incident_status_of};
use crate::{Error, JiraClient, Result};

/// The text of a comment body: a string (wiki markup) or an ADF document.
fn text_of(body: &Value) -> String {
    match body {
        Value::String(s) => s.trim().to_owned(),
        other => adf::plain_text(other).trim().to_owned(),
    }
}

/// A priority of the ticket's field as firefighter's value: `3`, `P3` or
/// Jira's names (Highest = 1 … Lowest = 5).
pub fn priority_value(text: &str) -> Option<i32> {
    let t = text.trim();
    let digits = t.strip_prefix(['P', 'p']).unwrap_or(t);
    if let Ok(n) = digits.parse::<i32>() {
        return (1..=5).contains(&n).then_some(n);
    }
    match t.to_lowercase().as_str() {
        "highest" => Some(1),
        "high" => Some(2),
        "medium" => Some(3),
        "low" => Some(4),
        "lowest" => Some(5),
        _ => None,
    }
}

impl Webhooks {
    async fn apply_update(&self, item: &InboxItem, hook: UpdateHook) -> Result<()> {
        let items = hook.changelog.map(|c| c.items).unwrap_or_default();
        if items.is_empty() || hook.issue.key.is_empty() {
            return Ok(());
        }
        let author = hook.user.as_ref().and_then(|u| u.account_id.as_deref());
        let own = self.is_own(author).await?;
        let key = hook.issue.key.as_str();
        let Some(incident) = self.inner.ledger.ticket(key).await? else {
            // Not a ticket of ours (a project-wide webhook): nothing to do.
            tracing::debug!(
                key,
                "a webhook about a ticket firefighter did not make is ignored"
            );
            return Ok(());
        };
        let app = self.running()?;
        let who = hook
            .user
            .as_ref()
            .and_then(|u| u.display_name.clone())
            .unwrap_or_else(|| "Someone".into());
        let mut retry_later = None;
        for (n, change) in items.iter().enumerate() {
            let is_status = match &change.field_id {
                Some(id) => id == "status",
                None => change.field.eq_ignore_ascii_case("status"),
            };
            // The configured field only: Story Points or Jira's own priority
            // field are not the incident's priority.
            let is_priority = match &change.field_id {
                Some(id) => *id == self.inner.config.fields.priority,
                None => change.field == self.inner.config.fields.priority,
            };
            if !is_status && !is_priority {
                continue;
            }
            let field = if is_status { STATUS } else { PRIORITY };
            let to = change.to_string.clone().unwrap_or_default();
            if let Some(id) = incident {
                let value = if is_status {
                    to.clone()
                } else {
                    priority_value(&to)
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                };
                if self
                    .inner
                    .ledger
                    .consume_push(id, field, &value, Utc::now())
                    .await?
                {
                    tracing::debug!(
                        incident = id.0,
                        key,
                        field,
                        value,
                        "the echo of our own push is ignored"
                    );
                    continue;
                }
            }
            if own {
                tracing::debug!(key, field, "a change made by our own account is ignored");
                continue;
            }
            let note = Notification::new(
                format!("jira-change:{}:{n}", item.id),
                format!("Jira ticket {key} was modified"),
            )
            .field("Changed by", who.clone())
            .field(
                "Field",
                if is_status {
                    "Status".to_owned()
                } else {
                    "Priority".to_owned()
                },
            )
            .field(
                "From",
                change.from_string.clone().unwrap_or_else(|| "–".into()),
            )
            .field(
                "To",
                if to.is_empty() {
                    "–".into()
                } else {
                    to.clone()
                },
            )
            .link("Open in Jira", self.inner.client.browse_url(key));
            // The incident first: telling the watchers must not hold it back.
            if let Some(id) = incident {
                let request = format!("jira-webhook:{}:{n}", item.id);
                if is_status {
                    self.sync_status(&app, id, key, change, &request).await?;
                } else {
                    self.sync_priority(&app, id, &to, &request).await?;
                }
            }
            if let Err(e) = self.tell_watchers(&app, key, &note).await {
                if e.is_retryable() {
                    // Tried again with the item (the sync above is keyed,
                    // the notifications too).
                    retry_later.get_or_insert(e);
                } else {
                    tracing::warn!(key, error = %e, "the ticket's watchers could not be told");
                }
            }
        }
        match retry_later {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn sync_status(
        &self,
        app: &Firefighter,
        id: IncidentId,
        key: &str,
        change: &ChangeItem,
        request: &str,
    ) -> Result<()> {
        let to = change.to_string.clone().unwrap_or_default();
        let Some(target) = incident_status_of(&to) else {
            return Ok(());
        };
        let from = change.from_string.as_deref().unwrap_or_default();
        if target == Status::Closed && incident_status_of(from).is_none() {
            // An automation closing from a status of its own (Code Review → Closed).
            tracing::info!(
                incident = id.0,
                key,
                from,
                "Jira closed the ticket from an unmapped status; the incident stays as it is"
            );
            return Ok(());
        }
        let incident = app.incident(id).await?;
        if incident.status == target {
            return Ok(());
        }
        // A webhook applied late (a retry, a slower copy) must not undo a
        // newer change: the ticket must still be where it says.
        let (now_in_jira, _) = self.inner.client.status_of(key).await?;
        if !now_in_jira.trim().eq_ignore_ascii_case(to.trim()) {
            tracing::info!(
                incident = id.0,
                key,
                to,
                now_in_jira,
                "a webhook overtaken by a later change is not applied"
            );
            return Ok(());
        }
        let update = Update {
            message: Some(format!("Status synced from Jira ({to})")),
            status: Some(target),
            event_type: Some(STATUS_SYNC.to_owned()),
            ..Update::default()
        };
        if let Some(refusal) = app.check_status_change(id, &update).await? {
            let why = refusal.to_string();
            if target == Status::Closed {
                let text = format!(
                    "Jira ticket {key} was closed, but the incident could not be closed: {why}. Close it here once that is done."
                );
                if !already_on_timeline(app, id, &text).await? {
                    app.publish(
                        id,
                        vec![IncidentEvent::Notice { text: text.clone() }],
                        Some((&text, None)),
                    )
                    .await?;
                }
            } else {
                let text = format!(
                    "Jira ticket {key} moved to \"{to}\", but the incident stays {}: {why}.",
                    incident.status.label()
                );
                if !already_on_timeline(app, id, &text).await? {
                    app.post_message(id, None, &text, Some(SYNC_WARNING))
                        .await?;
                }
            }
            return Ok(());
        }
        match app.update_once(id, request, update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(e.into()),
            // The incident changed between the check and the write.
            Err(e) => {
                tracing::warn!(incident = id.0, key, error = %e, "the status from Jira was refused");
                Ok(())
            }
        }
    }

    async fn sync_priority(
        &self,
        app: &Firefighter,
        id: IncidentId,
        to: &str,
        request: &str,
    ) -> Result<()> {
        let Some(value) = priority_value(to) else {
            tracing::info!(
                incident = id.0,
                to,
                "a priority from Jira that is not 1 to 5 is ignored"
            );
            return Ok(());
        };
        let catalog = app.catalog().await?;
        let Some(priority) = catalog.priorities.iter().find(|p| p.value == value) else {
            return Ok(());
        };
        let incident = app.incident(id).await?;
        if incident.priority_id == priority.id {
            return Ok(());
        }
        let update = Update {
            message: Some(format!("Priority synced from Jira ({to})")),
            priority_id: Some(priority.id),
            event_type: Some(PRIORITY_SYNC.to_owned()),
            ..Update::default()
        };
        match app.update_once(id, request, update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "the priority from Jira was refused");
                Ok(())
            }
        }
    }

    async fn apply_comment(&self, item: &InboxItem, hook: CommentHook) -> Result<()> {
        let key = hook.issue.key.as_str();
        if key.is_empty() || self.inner.ledger.ticket(key).await?.is_none() {
            return Ok(());
        }
        let comment = hook.comment.unwrap_or_default();
        let author = comment.author.unwrap_or_default();
        if self.is_own(author.account_id.as_deref()).await? {
            return Ok(());
        }
        let app = self.running()?;
        let what = match hook.webhook_event.as_str() {
            "comment_updated" => "edited a comment on",
            "comment_deleted" => "deleted a comment on",
            _ => "commented on",
        };
        let who = author.display_name.unwrap_or_else(|| "Someone".into());
        let mut note = Notification::new(
            format!("jira-comment:{}", item.id),
            format!("{who} {what} Jira ticket {key}"),
        );
        if let Some(summary) = hook.issue.fields.and_then(|f| f.summary) {
            note = note.field("Ticket", cut(&summary, 200));
        }
        let text = text_of(&comment.body);
        if !text.is_empty() && hook.webhook_event != "comment_deleted" {
            note = note.paragraph(cut(&text, 1500));
        }
        let note = note.link("Open in Jira", self.inner.client.browse_url(key));
        self.tell_watchers(&app, key, &note).await
    }

    /// Tells every watcher of `key` who is a firefighter user reachable by
    /// the notifier, once per notification key and person.
    async fn tell_watchers(&self, app: &Firefighter, key: &str, note: &Notification) -> Result<()> {
        let Some(notifier) = app.notifier() else {
            tracing::debug!(key, "no notifier is on: watchers are not told");
            return Ok(());
        };
        let own = self.own_accounts().await?;
        for watcher in self.inner.client.watchers(key).await? {
            if !watcher.active
                || own.contains(&watcher.account_id)
                || watcher.account_type.as_deref() == Some("app")
            {
                continue;
            }
            let Some(user) = self.user_of(app, &watcher).await? else {
                continue;
            };
            if self
                .inner
                .config
                .watcher_exclusions
                .contains(&user.email.to_lowercase())
            {
                continue;
            }
            match notifier.notify_user(&user, note).await {
                Ok(Delivered::Unreachable(why)) => {
                    tracing::debug!(key, user = %user.email, why, "a watcher cannot be reached")
                }
                Ok(_) => {}
                Err(e) if firefighter_core::Retryable::is_retryable(&e) => {
                    return Err(Error::Unavailable {
                        status: 503,
                        message: format!("the notifier: {e}"),
                    });
                }
                Err(e) => {
                    tracing::warn!(key, user = %user.email, error = %e, "a watcher could not be told")
                }
            }
        }
        Ok(())
    }

    /// The firefighter user of a Jira account: mapped already, or by the
    /// account's e-mail (then mapped); `None` when there is none.
    async fn user_of(&self, app: &Firefighter, watcher: &Watcher) -> Result<Option<User>> {
        let store = app.store();
        if let Some(id) = self.inner.users.user_of(&watcher.account_id).await? {
            return Ok(store.user(id).await?);
        }
        let email = match &watcher.email_address {
            Some(e) => Some(e.clone()),
            None => self
                .inner
                .client
                .user(&watcher.account_id)
                .await?
                .and_then(|u| u.email_address),
        };
        let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
            return Ok(None);
        };
        let Some(user) = store.user_by_email(&email).await? else {
            return Ok(None);
        };
        self.inner
            .users
            .set_account(user.id, &user.email, &watcher.account_id)
            .await?;
        Ok(Some(user))
    }

    /// Applies the webhooks left unfinished whose retry is due.
    pub async fn replay(&self) -> Result<firefighter_core::inbox::ReplayReport> {
        Ok(self.inner.inbox.replay(Utc::now(), self).await?)
    }
}

async fn already_on_timeline(app: &Firefighter, id: IncidentId, text: &str) -> Result<bool> {
    Ok(app
        .store()
        .timeline(id)
        .await?
        .iter()
        .any(|e| e.message.as_deref() == Some(text)))
}

#[async_trait]
impl InboxHandler for Webhooks {
    async fn apply(&self, item: &InboxItem) -> std::result::Result<(), InboxFailure> {
        let result = match item.kind.as_str() {
            kind::UPDATE => match serde_json::from_str::<UpdateHook>(&item.payload) {
                Ok(hook) => self.apply_update(item, hook).await,
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable webhook: {e}"))),
            },
            kind::COMMENT => match serde_json::from_str::<CommentHook>(&item.payload) {
                Ok(hook) => self.apply_comment(item, hook).await,
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable webhook: {e}"))),
            },
            ALERT_KIND => match serde_json::from_str::<crate::alerts::NewTicket>(&item.payload) {
                Ok(ticket) => {
                    let app = self.app()?;
                    crate::alerts::alert_new_ticket(&app, &ticket)
                        .await
                        .map(drop)
                }
                Err(e) => return Err(InboxFailure::Refused(format!("unreadable alert: {e}"))),
            },
            other => return Err(InboxFailure::Refused(format!("unknown kind {other}"))),
        };
        result.map_err(|e| {
            tracing::warn!(item = %item.id, error = %e, "a Jira webhook was not applied");
            InboxFailure::classify(&e)
        })
    }
}

impl JiraClient {
    /// The watchers of an issue (`GET /issue/{key}/watchers`); none when the issue is not found.
    pub async fn watchers(&self, key: &str) -> Result<Vec<Watcher>> {
        let path = format!("/issue/{}/watchers", segment(key)?);
        let found: Result<Watchers> = self
            .retried(Error::is_retryable, || async {
                read_json(self.send(Method::GET, &path, &[], None).await?).await
            })
            .await;
        match found {
            Ok(w) => Ok(w.watchers),
            Err(Error::Rejected { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The account id of the API token's account (`GET /rest/api/3/myself`).
    pub async fn myself(&self) -> Result<Option<String>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Me {
            account_id: Option<String>,
        }
        let me: Me = self
            .retried(Error::is_retryable, || async {
                read_json(self.send(Method::GET, "/myself", &[], None).await?).await
            })
            .await?;
        Ok(me.account_id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn priorities_and_comment_texts_are_read() {
        assert_eq!(priority_value("3"), Some(3));
        assert_eq!(priority_value("P2"), Some(2));
        assert_eq!(priority_value("Highest"), Some(1));
        assert_eq!(priority_value("6"), None);
        assert_eq!(priority_value("-"), None);
        let adf = json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Looks "}, {"type": "text", "text": "fixed"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "thanks"}]}
        ]});
        assert_eq!(text_of(&adf), "Looks fixed\nthanks");
        assert_eq!(text_of(&json!("plain *wiki*")), "plain *wiki*");
    }
}
