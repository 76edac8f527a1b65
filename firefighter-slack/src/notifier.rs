//! Core's [`Notifier`] on Slack: a private message to a person, a post in
//! the conversations whose tag contains a given tag (not continued by a longer name) (`raid_alert__…`).
//!
//! Exactly once per notification key and recipient (a firefighter user, a
//! conversation): the post is an effect recorded under
//! `notify:<key>:user:<user id>` or `notify:<key>:channel:<channel id>`,
//! made with [`Slack::post_keyed`] (the key in the message's metadata, the
//! attempt recorded before the call), so a retry after a lost answer finds
//! the message in the conversation's history instead of posting it again.
//! Nothing is ever posted in an incident's channel by this path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use firefighter_core::notify::{Delivered, NotifierRegistration, NotifyError};
use firefighter_core::plugin::PluginContext;
use firefighter_core::{Notification, Notifier, User};
use futures::future::join_all;

use crate::messages::{self, Strategy, kind};
use crate::models::api::NewMessage;
use crate::models::blocks::is_web_link;
use crate::store::{Conversation, ConversationStatus};
use crate::{Error, Slack};

/// The notifier's name.
pub(crate) const NOTIFIER_NAME: &str = "slack";

/// Slack error codes that mean this recipient cannot be reached (a
/// deactivated person, a conversation gone or archived, a bot): no retry
/// can help, and the sender is not at fault.
const UNREACHABLE_CODES: &[&str] = &[
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "user_not_found",
    "user_not_visible",
    "user_disabled",
    "users_not_found",
    "cannot_dm_bot",
    "messages_tab_disabled",
];

/// Longest notification key accepted (it goes in the message's metadata
/// and in our effect keys).
const MAX_KEY: usize = 200;

/// Slack as core's notifier.
#[derive(Debug, Clone)]
pub(crate) struct SlackNotifier {
    slack: Slack,
}

impl Slack {
    /// The notifier (for run-time assembly: `FirefighterBuilder::notifier`).
    pub fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(SlackNotifier {
            slack: self.clone(),
        })
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        NOTIFIER_NAME
    }

    async fn notify_user(
        &self,
        user: &User,
        note: &Notification,
    ) -> Result<Delivered, NotifyError> {
        check(note)?;
        let s = &self.slack;
        let (key, step) = (effect_key(note), format!("user:{}", user.id));
        // Already delivered: not even the person is looked up again.
        if s.store()
            .effect(&format!("{key}:{step}"))
            .await
            .map_err(retry)?
            .is_some()
        {
            return Ok(Delivered::AlreadySent);
        }
        let slack_id = match s.reachable_slack_id(user).await {
            Ok(Ok(id)) => id,
            Ok(Err(why)) => return Ok(Delivered::Unreachable(why)),
            Err(e) => return outcome(e),
        };
        let dm = match s.api().open_dm(&slack_id).await {
            Ok(dm) => dm,
            Err(e) => return outcome(e),
        };
        self.deliver(&key, &step, &dm, kind::NOTIFICATION_DM, note)
            .await
            .or_else(outcome)
    }

    async fn notify_tagged(
        &self,
        tag: &str,
        note: &Notification,
    ) -> Result<Vec<Delivered>, NotifyError> {
        check(note)?;
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(NotifyError::Failed(
                "the tag is empty: it would match every tagged conversation".into(),
            ));
        }
        let conversations = self
            .slack
            .store()
            .conversations_tagged_with(tag)
            .await
            .map_err(retry)?;
        let key = effect_key(note);
        let results = join_all(
            conversations
                .iter()
                .map(|c| self.deliver_in_conversation(&key, c, note)),
        )
        .await;
        // A retry redoes only what is not recorded yet, so ask for one if
        // any conversation needs it; else the first refusal for good.
        let mut failed = None;
        let mut delivered = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(d) => delivered.push(d),
                Err(e @ NotifyError::Retry { .. }) => return Err(e),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }
}

impl SlackNotifier {
    /// One tagged conversation: never an incident's channel, nothing in an
    /// archived one.
    async fn deliver_in_conversation(
        &self,
        key: &str,
        c: &Conversation,
        note: &Notification,
    ) -> Result<Delivered, NotifyError> {
        if c.incident_id.is_some() {
            return Ok(Delivered::Unreachable(format!(
                "#{} is an incident's channel: notifications are not posted there",
                c.name
            )));
        }
        if c.status == ConversationStatus::Archived {
            return Ok(Delivered::Unreachable(format!("#{} is archived", c.name)));
        }
        let step = format!("channel:{}", c.channel_id);
        let result = self
            .deliver(key, &step, &c.channel_id, kind::NOTIFICATION_TAGGED, note)
            .await;
        if let Err(e) = &result
            && e.is_code("is_archived")
        {
            // Archived in Slack before our conversation sync saw it.
            if let Err(e) = self
                .slack
                .store()
                .set_conversation_status(&c.channel_id, ConversationStatus::Archived)
                .await
            {
                tracing::warn!(channel = c.channel_id, error = %e, "could not record the conversation as archived");
            }
        }
        result.or_else(outcome)
    }

    /// Posts `note` in `channel` once per `key` and `step`.
    async fn deliver(
        &self,
        key: &str,
        step: &str,
        channel: &str,
        kind: &str,
        note: &Notification,
    ) -> crate::Result<Delivered> {
        let s = &self.slack;
        let effect = format!("{key}:{step}");
        let (posted_now, found_earlier) = (AtomicBool::new(false), AtomicBool::new(false));
        let result = s
            .once(key, step, || async {
                let (text, blocks) = messages::notification(note);
                let (posted, earlier) = s
                    .post_keyed_telling(
                        None,
                        kind,
                        NewMessage::new(channel, text, blocks),
                        Strategy::Append,
                        None,
                        Some(&effect),
                    )
                    .await?;
                posted_now.store(!earlier, Ordering::Relaxed);
                found_earlier.store(earlier, Ordering::Relaxed);
                Ok(format!("{} {}", posted.channel, posted.ts))
            })
            .await;
        result?;
        if posted_now.load(Ordering::Relaxed) {
            return Ok(Delivered::Sent);
        }
        // Recorded by an earlier call, or posted by an attempt whose answer was lost.
        if found_earlier.load(Ordering::Relaxed) {
            tracing::info!(effect, "a notification whose answer was lost was delivered");
        }
        Ok(Delivered::AlreadySent)
    }
}

/// The effect key of a notification (with the recipient as the step).
fn effect_key(note: &Notification) -> String {
    format!("notify:{}", note.key.trim())
}

/// Refuses a notification Slack could not show, before anything is sent.
fn check(note: &Notification) -> Result<(), NotifyError> {
    let refuse = |why: String| Err(NotifyError::Failed(format!("notification refused: {why}")));
    let key = note.key.trim();
    if key.is_empty() {
        return refuse("its key is empty (it makes it exactly-once)".into());
    }
    if key.chars().count() > MAX_KEY {
        return refuse(format!("its key is over {MAX_KEY} characters"));
    }
    if note.title.trim().is_empty() {
        return refuse(format!("notification {key} has no title"));
    }
    if let Some((label, url)) = &note.link {
        if label.trim().is_empty() {
            return refuse(format!("the link of notification {key} has no label"));
        }
        if !is_web_link(url) {
            return refuse(format!(
                "the link of notification {key} ({url}) is not an http(s) URL Slack accepts"
            ));
        }
    }
    Ok(())
}

/// What a Slack error means for the sender: unreachable, retry, or refused.
fn outcome(e: Error) -> Result<Delivered, NotifyError> {
    if e.code().is_some_and(|c| UNREACHABLE_CODES.contains(&c)) {
        return Ok(Delivered::Unreachable(e.to_string()));
    }
    if e.is_retryable() {
        return Err(retry(e));
    }
    Err(NotifyError::Failed(e.to_string()))
}

/// A failure worth another try (our own tables, Slack's pace).
fn retry(e: Error) -> NotifyError {
    if !e.is_retryable() {
        return NotifyError::Failed(e.to_string());
    }
    NotifyError::Retry {
        retry_after: e.retry_after(),
        message: e.to_string(),
    }
}

fn build_notifier(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn Notifier>>> {
    Ok(Slack::from_plugin_context(ctx)
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?
        .map(|s| s.notifier()))
}

firefighter_core::register_notifier!(NotifierRegistration {
    name: NOTIFIER_NAME,
    build: build_notifier,
});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn api_error(code: &str) -> Error {
        Error::Api {
            method: "chat.postMessage".into(),
            code: code.into(),
            needed: None,
        }
    }

    #[test]
    fn slack_errors_become_what_the_sender_can_act_on() {
        for code in UNREACHABLE_CODES {
            assert!(
                matches!(outcome(api_error(code)), Ok(Delivered::Unreachable(_))),
                "{code}"
            );
        }
        let limited = Error::RateLimited {
            method: "chat.postMessage".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            outcome(limited),
            Err(NotifyError::Retry {
                message: "Slack rate-limited chat.postMessage; retry after 7s".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        );
        let server = Error::Http {
            method: "chat.postMessage".into(),
            status: 503,
        };
        assert!(matches!(
            outcome(server),
            Err(NotifyError::Retry {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            outcome(api_error("internal_error")),
            Err(NotifyError::Retry { .. })
        ));
        for code in [
            "token_revoked",
            "invalid_auth",
            "missing_scope",
            "account_inactive",
        ] {
            assert!(
                matches!(outcome(api_error(code)), Err(NotifyError::Failed(_))),
                "{code}"
            );
        }
    }

    #[test]
    fn notifications_slack_cannot_show_are_refused() {
        let ok =
            Notification::new("jira:comment:10001", "A comment").link("Open", "https://jira/x");
        assert_eq!(check(&ok), Ok(()));
        let cases = [
            (Notification::new(" ", "Title"), "key is empty"),
            (Notification::new("k".repeat(201), "Title"), "over 200"),
            (Notification::new("k", "  "), "no title"),
            (
                Notification::new("k", "Title").link("Open", "javascript:alert(1)"),
                "not an http(s) URL",
            ),
            (
                Notification::new("k", "Title").link("Open", "https://x/a b"),
                "not an http(s) URL",
            ),
            (
                Notification::new("k", "Title").link(" ", "https://x"),
                "no label",
            ),
        ];
        for (note, why) in cases {
            match check(&note) {
                Err(NotifyError::Failed(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{note:?} gave {other:?}"),
            }
        }
    }
}
