//! The Web API over HTTP (reqwest): JSON bodies for writes, form bodies for
//! reads (what Slack accepts for every method), `ok: false` codes mapped to
//! [`Error::Api`], 429 honoured with `Retry-After`, pacing by tier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::SlackApi;
use super::pacing::Pacer;
use crate::models::api::{
    AuthInfo, Channel, HistoryMessage, Member, NewMessage, Page, Posted, UserGroup,
};
use crate::{Error, Result, SlackConfig};

/// The longest `Retry-After` waited for inside a call; longer waits are handed
/// back to the caller (the outbox retries the delivery later).
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);

/// Called with `(method, HTTP status, sl-violations header)` after every
/// response; the contract tests use it to check request shapes.
pub type ResponseObserver = Arc<dyn Fn(&str, u16, Option<&str>) + Send + Sync>;

/// The Slack Web API client.
#[derive(Clone)]
pub struct HttpSlackClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    pacer: Option<Arc<Pacer>>,
    retries: usize,
    observer: Option<ResponseObserver>,
}

impl std::fmt::Debug for HttpSlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSlackClient")
            .field("base", &self.base)
            .field("paced", &self.pacer.is_some())
            .finish_non_exhaustive()
    }
}

enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

impl HttpSlackClient {
    /// A client for the configured workspace.
    pub fn new(config: &SlackConfig) -> Result<HttpSlackClient> {
        let mut client = HttpSlackClient::with_base(
            &config.api_url,
            config.bot_token.expose_secret(),
            Duration::from_secs(config.timeout_secs),
        )?;
        if !config.pacing {
            client.pacer = None;
        }
        Ok(client)
    }

    /// A client for `base` (a fake or the contract mock), paced, with a timeout.
    pub fn with_base(base: &str, token: &str, timeout: Duration) -> Result<HttpSlackClient> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpSlackClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: SecretString::from(token),
            pacer: Some(Arc::new(Pacer::new())),
            retries: 3,
            observer: None,
        })
    }

    /// Without client-side pacing (benchmarks against a local fake).
    pub fn without_pacing(mut self) -> HttpSlackClient {
        self.pacer = None;
        self
    }

    /// With this many retries of retryable failures (default 3).
    pub fn with_retries(mut self, retries: usize) -> HttpSlackClient {
        self.retries = retries;
        self
    }

    /// Observes every response (contract tests).
    pub fn with_observer(mut self, observer: ResponseObserver) -> HttpSlackClient {
        self.observer = Some(observer);
        self
    }

    async fn call(&self, method: &'static str, body: Body, channel: Option<&str>) -> Result<Value> {
        let write = matches!(body, Body::Json(_));
        let body = &body;
        let attempt = || async move {
            if let Some(pacer) = &self.pacer {
                pacer.wait(method, channel).await;
            }
            self.send_once(method, body).await
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(10))
                    .with_max_times(self.retries)
                    .with_jitter(),
            )
            .when(|e: &Error| {
                // A write that may have happened is never repeated blindly.
                let may_retry = if write {
                    e.surely_not_applied()
                } else {
                    e.is_retryable()
                };
                may_retry && e.retry_after().is_none_or(|d| d <= MAX_INLINE_WAIT)
            })
            .adjust(|e: &Error, backoff| e.retry_after().or(backoff))
            .notify(|e: &Error, after| {
                tracing::debug!(method, error = %e, ?after, "Slack call retried");
            })
            .await
    }

    async fn send_once(&self, method: &'static str, body: &Body) -> Result<Value> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose_secret());
        let request = match body {
            Body::Json(v) => request.json(v),
            Body::Form(f) => request.form(f),
        };
        let response = request.send().await.map_err(|source| Error::Transport {
            method: method.to_owned(),
            source,
        })?;
        let status = response.status();
        if let Some(observe) = &self.observer {
            let violations = response
                .headers()
                .get("sl-violations")
                .and_then(|v| v.to_str().ok());
            observe(method, status.as_u16(), violations);
        }
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Error::RateLimited {
                method: method.to_owned(),
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(Error::Http {
                method: method.to_owned(),
                status: status.as_u16(),
            });
        }
        let value: Value = response.json().await.map_err(|e| Error::Decode {
            method: method.to_owned(),
            message: e.to_string(),
        })?;
        if value.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(value);
        }
        let code = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_owned();
        if code == "ratelimited" {
            return Err(Error::RateLimited {
                method: method.to_owned(),
                retry_after: None,
            });
        }
        Err(Error::Api {
            method: method.to_owned(),
            needed: value
                .get("needed")
                .and_then(Value::as_str)
                .map(str::to_owned),
            code,
        })
    }
}

fn take<T: DeserializeOwned>(method: &str, value: &mut Value, key: &str) -> Result<T> {
    serde_json::from_value(value.get_mut(key).map(Value::take).unwrap_or(Value::Null)).map_err(
        |e| Error::Decode {
            method: method.to_owned(),
            message: format!("{key}: {e}"),
        },
    )
}

fn next_cursor(value: &Value) -> Option<String> {
    value
        .pointer("/response_metadata/next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

fn form(pairs: &[(&'static str, &str)]) -> Body {
    Body::Form(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
}

#[async_trait]
impl SlackApi for HttpSlackClient {
    async fn auth_test(&self) -> Result<AuthInfo> {
        let v = self.call("auth.test", form(&[]), None).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode {
            method: "auth.test".into(),
            message: e.to_string(),
        })
    }

    async fn create_channel(&self, name: &str, private: bool) -> Result<Channel> {
        let body = Body::Json(json!({"name": name, "is_private": private}));
        let mut v = self.call("conversations.create", body, None).await?;
        take("conversations.create", &mut v, "channel")
    }

    async fn rename_channel(&self, channel: &str, name: &str) -> Result<Channel> {
        let body = Body::Json(json!({"channel": channel, "name": name}));
        let mut v = self.call("conversations.rename", body, None).await?;
        take("conversations.rename", &mut v, "channel")
    }

    async fn set_topic(&self, channel: &str, topic: &str) -> Result<()> {
        let body = Body::Json(json!({"channel": channel, "topic": topic}));
        self.call("conversations.setTopic", body, None)
            .await
            .map(drop)
    }

    async fn archive_channel(&self, channel: &str) -> Result<()> {
        let body = Body::Json(json!({"channel": channel}));
        self.call("conversations.archive", body, None)
            .await
            .map(drop)
    }

    async fn unarchive_channel(&self, channel: &str) -> Result<()> {
        let body = Body::Json(json!({"channel": channel}));
        self.call("conversations.unarchive", body, None)
            .await
            .map(drop)
    }

    async fn join_channel(&self, channel: &str) -> Result<()> {
        let body = Body::Json(json!({"channel": channel}));
        self.call("conversations.join", body, None).await.map(drop)
    }

    async fn invite(&self, channel: &str, users: &[String]) -> Result<()> {
        let body = Body::Json(json!({"channel": channel, "users": users.join(",")}));
        self.call("conversations.invite", body, None)
            .await
            .map(drop)
    }

    async fn channel_info(&self, channel: &str) -> Result<Channel> {
        let mut v = self
            .call("conversations.info", form(&[("channel", channel)]), None)
            .await?;
        take("conversations.info", &mut v, "channel")
    }

    async fn channel_members(&self, channel: &str, cursor: Option<String>) -> Result<Page<String>> {
        let mut pairs = vec![("channel", channel), ("limit", "1000")];
        if let Some(c) = cursor.as_deref() {
            pairs.push(("cursor", c));
        }
        let mut v = self
            .call("conversations.members", form(&pairs), None)
            .await?;
        Ok(Page {
            next_cursor: next_cursor(&v),
            items: take("conversations.members", &mut v, "members")?,
        })
    }

    async fn list_channels(&self, cursor: Option<String>) -> Result<Page<Channel>> {
        let mut pairs = vec![
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "200"),
        ];
        if let Some(c) = cursor.as_deref() {
            pairs.push(("cursor", c));
        }
        let mut v = self.call("conversations.list", form(&pairs), None).await?;
        Ok(Page {
            next_cursor: next_cursor(&v),
            items: take("conversations.list", &mut v, "channels")?,
        })
    }

    async fn message_at(&self, channel: &str, ts: &str) -> Result<Option<HistoryMessage>> {
        let pairs = [
            ("channel", channel),
            ("latest", ts),
            ("oldest", ts),
            ("inclusive", "true"),
            ("limit", "1"),
        ];
        let mut v = self
            .call("conversations.history", form(&pairs), None)
            .await?;
        let messages: Vec<HistoryMessage> = take("conversations.history", &mut v, "messages")?;
        Ok(messages.into_iter().find(|m| m.ts == ts))
    }

    async fn messages_since(&self, channel: &str, oldest: &str) -> Result<Vec<HistoryMessage>> {
        let pairs = [
            ("channel", channel),
            ("oldest", oldest),
            ("include_all_metadata", "true"),
            ("limit", "100"),
        ];
        let mut v = self
            .call("conversations.history", form(&pairs), None)
            .await?;
        take("conversations.history", &mut v, "messages")
    }

    async fn open_dm(&self, user: &str) -> Result<String> {
        let body = Body::Json(json!({"users": user}));
        let mut v = self.call("conversations.open", body, None).await?;
        let channel: Channel = take("conversations.open", &mut v, "channel")?;
        Ok(channel.id)
    }

    async fn post_message(&self, message: &NewMessage) -> Result<Posted> {
        let mut body = serde_json::to_value(message).unwrap_or_default();
        body["unfurl_links"] = json!(false);
        let v = self
            .call("chat.postMessage", Body::Json(body), Some(&message.channel))
            .await?;
        Ok(Posted {
            channel: v
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or(&message.channel)
                .to_owned(),
            ts: v
                .get("ts")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    async fn update_message(&self, channel: &str, ts: &str, message: &NewMessage) -> Result<()> {
        let mut body = json!({"channel": channel, "ts": ts, "text": message.text});
        if let Some(b) = &message.blocks {
            body["blocks"] = b.clone();
        }
        self.call("chat.update", Body::Json(body), None)
            .await
            .map(drop)
    }

    async fn delete_message(&self, channel: &str, ts: &str) -> Result<()> {
        // A form body: Slack's published contract types `ts` as a number in
        // JSON while Slack sends and expects strings; a form value satisfies
        // both. Deleting is idempotent, so retrying it is safe.
        let body = form(&[("channel", channel), ("ts", ts)]);
        self.call("chat.delete", body, None).await.map(drop)
    }

    async fn post_ephemeral(&self, channel: &str, user: &str, message: &NewMessage) -> Result<()> {
        let mut body = json!({"channel": channel, "user": user, "text": message.text});
        if let Some(b) = &message.blocks {
            body["blocks"] = b.clone();
        }
        self.call("chat.postEphemeral", Body::Json(body), None)
            .await
            .map(drop)
    }

    async fn pin(&self, channel: &str, ts: &str) -> Result<()> {
        let body = Body::Json(json!({"channel": channel, "timestamp": ts}));
        self.call("pins.add", body, None).await.map(drop)
    }

    async fn add_bookmark(
        &self,
        channel: &str,
        title: &str,
        link: &str,
        emoji: Option<String>,
    ) -> Result<()> {
        let mut body = json!({"channel_id": channel, "title": title, "type": "link", "link": link});
        if let Some(e) = emoji {
            body["emoji"] = json!(e);
        }
        self.call("bookmarks.add", Body::Json(body), None)
            .await
            .map(drop)
    }

    async fn bookmark_links(&self, channel: &str) -> Result<Vec<String>> {
        let body = Body::Json(json!({"channel_id": channel}));
        let v = self.call("bookmarks.list", body, None).await?;
        Ok(v["bookmarks"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|b| b["link"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<String> {
        let body = Body::Json(json!({"trigger_id": trigger_id, "view": view}));
        let v = self.call("views.open", body, None).await?;
        Ok(v.pointer("/view/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    async fn update_view(&self, view_id: &str, hash: Option<String>, view: &Value) -> Result<()> {
        let mut body = json!({"view_id": view_id, "view": view});
        if let Some(h) = hash {
            body["hash"] = json!(h);
        }
        self.call("views.update", Body::Json(body), None)
            .await
            .map(drop)
    }

    async fn push_view(&self, trigger_id: &str, view: &Value) -> Result<String> {
        let body = Body::Json(json!({"trigger_id": trigger_id, "view": view}));
        let v = self.call("views.push", body, None).await?;
        Ok(v.pointer("/view/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    async fn publish_home(&self, user: &str, view: &Value) -> Result<()> {
        let body = Body::Json(json!({"user_id": user, "view": view}));
        self.call("views.publish", body, None).await.map(drop)
    }

    async fn user_info(&self, user: &str) -> Result<Member> {
        let mut v = self
            .call("users.info", form(&[("user", user)]), None)
            .await?;
        take("users.info", &mut v, "user")
    }

    async fn user_by_email(&self, email: &str) -> Result<Member> {
        let mut v = self
            .call("users.lookupByEmail", form(&[("email", email)]), None)
            .await?;
        take("users.lookupByEmail", &mut v, "user")
    }

    async fn list_users(&self, cursor: Option<String>, limit: u32) -> Result<Page<Member>> {
        let limit = limit.clamp(1, 1000).to_string();
        let mut pairs = vec![("limit", limit.as_str())];
        if let Some(c) = cursor.as_deref() {
            pairs.push(("cursor", c));
        }
        let mut v = self.call("users.list", form(&pairs), None).await?;
        Ok(Page {
            next_cursor: next_cursor(&v),
            items: take("users.list", &mut v, "members")?,
        })
    }

    async fn list_usergroups(&self) -> Result<Vec<UserGroup>> {
        let pairs = [("include_users", "true"), ("include_disabled", "false")];
        let mut v = self.call("usergroups.list", form(&pairs), None).await?;
        take("usergroups.list", &mut v, "usergroups")
    }

    async fn usergroup_members(&self, usergroup: &str) -> Result<Vec<String>> {
        let mut v = self
            .call(
                "usergroups.users.list",
                form(&[("usergroup", usergroup)]),
                None,
            )
            .await?;
        take("usergroups.users.list", &mut v, "users")
    }

    async fn respond(&self, response_url: &str, body: &Value) -> Result<()> {
        let response = self
            .http
            .post(response_url)
            .json(body)
            .send()
            .await
            .map_err(|source| Error::Transport {
                method: "response_url".into(),
                source,
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Error::Http {
                method: "response_url".into(),
                status: response.status().as_u16(),
            })
        }
    }
}
