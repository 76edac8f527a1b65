//! Client-side pacing by Slack's rate-limit tiers, so bursts (a sync, a wave
//! of invitations) slow down before Slack answers 429.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Slack's rate-limit tiers (per method, per workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// About 1 call a minute.
    #[expect(
        dead_code,
        reason = "no method we call is in tier 1; kept so one added is paced right"
    )]
    Tier1,
    /// 20+ a minute.
    Tier2,
    /// 50+ a minute.
    Tier3,
    /// 100+ a minute.
    Tier4,
    /// `chat.postMessage`: about one message a second per channel.
    PostMessage,
    /// Not limited by tier (`auth.test`, `response_url`).
    Special,
}

/// The tier of a Web API method, from Slack's method documentation.
pub(crate) fn tier_of(method: &str) -> Tier {
    match method {
        "chat.postMessage" => Tier::PostMessage,
        "conversations.create"
        | "conversations.rename"
        | "conversations.setTopic"
        | "conversations.archive"
        | "conversations.list"
        | "pins.add"
        | "bookmarks.add"
        | "users.list"
        | "usergroups.list"
        | "usergroups.users.list" => Tier::Tier2,
        "conversations.invite"
        | "conversations.join"
        | "conversations.info"
        | "conversations.history"
        | "conversations.open"
        | "chat.update"
        | "chat.delete"
        | "users.lookupByEmail" => Tier::Tier3,
        "conversations.members"
        | "users.info"
        | "views.open"
        | "views.update"
        | "views.push"
        | "views.publish"
        | "chat.postEphemeral" => Tier::Tier4,
        "auth.test" | "response_url" => Tier::Special,
        _ => Tier::Tier3,
    }
}

fn quota(tier: Tier) -> Option<Quota> {
    let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
    match tier {
        Tier::Tier1 => Some(per_minute(1).allow_burst(NonZeroU32::new(2).expect("non-zero"))),
        Tier::Tier2 => Some(per_minute(20)),
        Tier::Tier3 => Some(per_minute(50)),
        Tier::Tier4 => Some(per_minute(100)),
        // Workspace-wide cap; the per-channel pace is separate.
        Tier::PostMessage => Some(per_minute(300)),
        Tier::Special => None,
    }
}

/// Paces calls per method, and `chat.postMessage` per channel.
pub(crate) struct Pacer {
    methods: Mutex<HashMap<&'static str, Arc<DefaultDirectRateLimiter>>>,
    channels: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").finish_non_exhaustive()
    }
}

impl Pacer {
    pub(crate) fn new() -> Pacer {
        Pacer {
            methods: Mutex::new(HashMap::new()),
            // One a second per channel, with a short burst as Slack tolerates.
            channels: RateLimiter::keyed(
                Quota::per_second(NonZeroU32::new(1).expect("non-zero"))
                    .allow_burst(NonZeroU32::new(6).expect("non-zero")),
            ),
        }
    }

    /// Waits until a call of `method` (to `channel` for posts) fits the pace.
    pub(crate) async fn wait(&self, method: &'static str, channel: Option<&str>) {
        let tier = tier_of(method);
        let Some(quota) = quota(tier) else { return };
        let limiter = {
            let mut methods = self.methods.lock().expect("pacer lock");
            methods
                .entry(method)
                .or_insert_with(|| Arc::new(RateLimiter::direct(quota)))
                .clone()
        };
        limiter.until_ready().await;
        if tier == Tier::PostMessage
            && let Some(channel) = channel
        {
            self.channels.until_key_ready(&channel.to_owned()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_slack_docs() {
        assert_eq!(tier_of("views.open"), Tier::Tier4);
        assert_eq!(tier_of("conversations.create"), Tier::Tier2);
        assert_eq!(tier_of("conversations.invite"), Tier::Tier3);
        assert_eq!(tier_of("chat.postMessage"), Tier::PostMessage);
        assert_eq!(tier_of("auth.test"), Tier::Special);
    }

    #[tokio::test]
    async fn a_burst_within_the_tier_does_not_wait() {
        let pacer = Pacer::new();
        let start = std::time::Instant::now();
        for _ in 0..20 {
            pacer.wait("conversations.create", None).await;
        }
        for _ in 0..6 {
            pacer.wait("chat.postMessage", Some("C1")).await;
        }
        assert!(start.elapsed() < std::time::Duration::from_millis(200));
    }
}
