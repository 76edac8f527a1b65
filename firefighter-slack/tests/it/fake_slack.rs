//! A stateful fake of the Slack Web API for tests and benchmarks: it holds
//! channels, members, user groups, messages, pins, bookmarks and views, and
//! logs every call with its start and end (to measure sequential round trips).

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const TEAM: &str = "T0FAKE";
pub const BOT: &str = "UBOT";

#[derive(Debug, Clone, Default)]
pub struct FakeChannel {
    pub id: String,
    pub name: String,
    pub private: bool,
    pub archived: bool,
    pub topic: String,
    pub members: BTreeSet<String>,
    pub bookmarks: Vec<(String, String)>,
    pub pins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    pub kind: Option<String>,
    pub metadata: Value,
    pub user: String,
    pub deleted: bool,
    pub edits: u32,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub channels: HashMap<String, FakeChannel>,
    pub messages: Vec<FakeMessage>,
    pub ephemerals: Vec<(String, String, String)>,
    pub users: Vec<Value>,
    pub usergroups: Vec<Value>,
    /// (method, view, user or trigger, view id)
    pub views: Vec<(String, Value, String, String)>,
    pub responses: Vec<Value>,
    pub calls: Vec<Call>,
    pub failures: HashMap<String, String>,
    /// Methods whose next call is applied, then answered with an error (an
    /// answer lost after Slack did the work).
    pub lost_answers: HashMap<String, String>,
    /// Methods whose next call is applied, then answered only after this
    /// long (past the client's timeout: an answer that never comes).
    pub stalled_answers: HashMap<String, Duration>,
    /// Methods whose next call is refused with an HTTP status (and a
    /// `Retry-After` in seconds), nothing applied.
    pub http_failures: HashMap<String, (u16, Option<u64>)>,
    pub delay: Duration,
    /// Random faults on every Web API call, when set.
    pub faults: Option<Faults>,
    next: u64,
}

/// What can go wrong with a Web API call, as production sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: 1`; nothing applied.
    RateLimited,
    /// HTTP 500 or 503; nothing applied.
    ServerError,
    /// `ok: false` with a transient code; nothing applied.
    Transient,
    /// Applied, then the answer comes after `stall` (past the client's timeout).
    StalledAfterApplying,
    /// The connection drops before the answer; applied or not (at random).
    DroppedConnection,
}

/// Random faults: one call in `one_in` fails with one of [`Fault`]'s kinds.
#[derive(Debug, Clone)]
pub struct Faults {
    pub one_in: u64,
    pub stall: Duration,
    /// How many of each were injected.
    pub injected: HashMap<Fault, u64>,
    seed: u64,
}

impl Faults {
    pub fn new(one_in: u64, stall: Duration, seed: u64) -> Faults {
        Faults {
            one_in: one_in.max(1),
            stall,
            injected: HashMap::new(),
            seed: seed | 1,
        }
    }

    /// splitmix64: a repeatable sequence from the seed.
    fn next(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The fault for this call, if any, and a coin (a dropped call applied or
    /// not, a 500 or a 503).
    fn draw(&mut self) -> Option<(Fault, bool)> {
        if !self.next().is_multiple_of(self.one_in) {
            return None;
        }
        let fault = match self.next() % 5 {
            0 => Fault::RateLimited,
            1 => Fault::ServerError,
            2 => Fault::Transient,
            3 => Fault::StalledAfterApplying,
            _ => Fault::DroppedConnection,
        };
        *self.injected.entry(fault).or_default() += 1;
        Some((fault, self.next().is_multiple_of(2)))
    }
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeSlack {
    /// Starts the fake on 127.0.0.1 (a random port).
    pub async fn start() -> FakeSlack {
        FakeSlack::start_with_delay(Duration::ZERO).await
    }

    /// Starts the fake; every Web API call takes `delay` more.
    pub async fn start_with_delay(delay: Duration) -> FakeSlack {
        let state = Arc::new(Mutex::new(FakeState {
            delay,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/respond/{id}", post(respond))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeSlack {
            url: format!("http://{addr}/api"),
            state,
        }
    }

    pub fn response_url(&self) -> String {
        self.url.replace("/api", "/respond/1")
    }

    pub fn add_user(&self, id: &str, email: &str, name: &str) {
        self.state.lock().unwrap().users.push(json!({
            "id": id, "team_id": TEAM, "name": name, "deleted": false, "is_bot": false,
            "real_name": name, "profile": {"email": email, "real_name": name, "image_72": format!("https://img/{id}.png")}
        }));
    }

    pub fn add_raw_user(&self, user: Value) {
        self.state.lock().unwrap().users.push(user);
    }

    pub fn add_channel(&self, id: &str, name: &str, members: &[&str]) {
        self.state.lock().unwrap().channels.insert(
            id.to_owned(),
            FakeChannel {
                id: id.into(),
                name: name.into(),
                members: members
                    .iter()
                    .map(|m| m.to_string())
                    .chain([BOT.to_owned()])
                    .collect(),
                ..FakeChannel::default()
            },
        );
    }

    pub fn add_usergroup(&self, id: &str, handle: &str, users: &[&str]) {
        self.state.lock().unwrap().usergroups.push(json!({
            "id": id, "handle": handle, "name": format!("{handle} team"), "description": "", "is_external": false, "users": users
        }));
    }

    /// The next call of `method` is applied, but answered with `code` (as if
    /// the answer was lost after Slack applied it).
    pub fn lose_next_answer(&self, method: &str, code: &str) {
        self.state
            .lock()
            .unwrap()
            .lost_answers
            .insert(method.into(), code.into());
    }

    /// The next call of `method` is refused with HTTP `status` (429 with
    /// `retry_after` seconds, a 5xx), nothing applied.
    pub fn http_fail_next(&self, method: &str, status: u16, retry_after: Option<u64>) {
        self.state
            .lock()
            .unwrap()
            .http_failures
            .insert(method.into(), (status, retry_after));
    }

    /// The next call of `method` is applied, then answered after `stall`.
    pub fn stall_next_answer(&self, method: &str, stall: Duration) {
        self.state
            .lock()
            .unwrap()
            .stalled_answers
            .insert(method.into(), stall);
    }

    /// From now on, one Web API call in `one_in` meets a random [`Fault`].
    pub fn inject_faults(&self, faults: Option<Faults>) {
        self.state.lock().unwrap().faults = faults;
    }

    /// How many faults of each kind were injected so far.
    pub fn faults_injected(&self) -> HashMap<Fault, u64> {
        self.state
            .lock()
            .unwrap()
            .faults
            .as_ref()
            .map(|f| f.injected.clone())
            .unwrap_or_default()
    }

    /// The next call of `method` fails with `code`.
    pub fn fail_next(&self, method: &str, code: &str) {
        self.state
            .lock()
            .unwrap()
            .failures
            .insert(method.into(), code.into());
    }

    pub fn channel_named(&self, prefix: &str) -> Option<FakeChannel> {
        self.state
            .lock()
            .unwrap()
            .channels
            .values()
            .find(|c| c.name.starts_with(prefix))
            .cloned()
    }

    pub fn channel(&self, id: &str) -> Option<FakeChannel> {
        self.state.lock().unwrap().channels.get(id).cloned()
    }

    /// Live (not deleted) messages of a channel.
    pub fn messages_in(&self, channel: &str) -> Vec<FakeMessage> {
        self.state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.channel == channel && !m.deleted)
            .cloned()
            .collect()
    }

    pub fn messages_of_kind(&self, channel: &str, kind: &str) -> Vec<FakeMessage> {
        self.messages_in(channel)
            .into_iter()
            .filter(|m| m.kind.as_deref() == Some(kind))
            .collect()
    }

    pub fn views(&self, method: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .views
            .iter()
            .filter(|v| v.0 == method)
            .map(|v| v.1.clone())
            .collect()
    }

    pub fn last_view(&self) -> Option<(String, Value, String)> {
        self.state
            .lock()
            .unwrap()
            .views
            .last()
            .map(|v| (v.0.clone(), v.1.clone(), v.3.clone()))
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn count(&self, method: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub fn ephemerals(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().ephemerals.clone()
    }

    pub fn responses(&self) -> Vec<Value> {
        self.state.lock().unwrap().responses.clone()
    }

    /// Waits until `check` holds (spawned work runs after acknowledgements).
    pub async fn wait_for(&self, what: &str, check: impl Fn(&FakeSlack) -> bool) {
        for _ in 0..300 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

fn ok(mut v: Value) -> Value {
    v["ok"] = json!(true);
    v
}

fn err(code: &str) -> Value {
    json!({"ok": false, "error": code})
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Value {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json_body {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn channel_json(c: &FakeChannel) -> Value {
    json!({"id": c.id, "name": c.name, "is_private": c.private, "is_archived": c.archived, "is_shared": false, "is_channel": !c.private, "is_group": c.private})
}

async fn respond(State(state): State<Arc<Mutex<FakeState>>>, body: Bytes) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.lock().unwrap().responses.push(v);
    "ok"
}

async fn api(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let start = Instant::now();
    let delay = state.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = parse_body(&headers, &body);
    let refused = {
        let mut st = state.lock().unwrap();
        let refused = st.http_failures.remove(&method);
        if refused.is_some() {
            st.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
                start,
                end: Instant::now(),
            });
        }
        refused
    };
    if let Some((status, retry_after)) = refused {
        let mut response = (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(err("refused")),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return response;
    }
    let (answer, fault, coin, stall, stalled) = {
        let mut st = state.lock().unwrap();
        let (fault, stall) = match st.faults.as_mut() {
            Some(f) => (f.draw(), f.stall),
            None => (None, Duration::ZERO),
        };
        let applies = match fault {
            None | Some((Fault::StalledAfterApplying, _)) => true,
            Some((Fault::DroppedConnection, applied)) => applied,
            Some(_) => false,
        };
        let mut stalled = None;
        let answer = match st.failures.remove(&method) {
            Some(code) => err(&code),
            None if applies => {
                let answer = handle(&mut st, &method, &body);
                stalled = st.stalled_answers.remove(&method);
                match st.lost_answers.remove(&method) {
                    Some(code) => err(&code),
                    None => answer,
                }
            }
            None => err("internal_error"),
        };
        st.calls.push(Call {
            method: method.clone(),
            body,
            start,
            end: Instant::now(),
        });
        (
            answer,
            fault.map(|f| f.0),
            fault.is_some_and(|f| f.1),
            stall,
            stalled,
        )
    };
    if let Some(stalled) = stalled {
        tokio::time::sleep(stalled).await;
    }
    match fault {
        None => axum::Json(answer).into_response(),
        Some(Fault::RateLimited) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(err("ratelimited")),
        )
            .into_response(),
        Some(Fault::ServerError) => {
            let code = if coin {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, "upstream failure").into_response()
        }
        Some(Fault::Transient) => axum::Json(err("internal_error")).into_response(),
        Some(Fault::StalledAfterApplying) => {
            tokio::time::sleep(stall).await;
            axum::Json(answer).into_response()
        }
        Some(Fault::DroppedConnection) => {
            // Headers go out, then the body fails: the connection is cut.
            let broken = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("connection dropped"))
            });
            Response::new(Body::from_stream(broken))
        }
    }
}

fn handle(st: &mut FakeState, method: &str, b: &Value) -> Value {
    st.next += 1;
    let n = st.next;
    match method {
        "auth.test" => ok(
            json!({"team_id": TEAM, "user_id": BOT, "url": "https://fake.slack.com/", "bot_id": "B0FAKE"}),
        ),
        "conversations.create" => {
            let name = s(b, "name");
            if st.channels.values().any(|c| c.name == name) {
                return err("name_taken");
            }
            let private = s(b, "is_private") == "true";
            let id = format!("{}{n:06}", if private { "G" } else { "C" });
            let c = FakeChannel {
                id: id.clone(),
                name,
                private,
                members: [BOT.to_owned()].into(),
                ..FakeChannel::default()
            };
            let v = channel_json(&c);
            st.channels.insert(id, c);
            ok(json!({"channel": v}))
        }
        "conversations.rename" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) => {
                c.name = s(b, "name");
                let v = channel_json(c);
                ok(json!({"channel": v}))
            }
            None => err("channel_not_found"),
        },
        "conversations.setTopic" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) => {
                c.topic = s(b, "topic");
                ok(json!({}))
            }
            None => err("channel_not_found"),
        },
        "conversations.archive" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) if c.archived => err("already_archived"),
            Some(c) => {
                c.archived = true;
                ok(json!({}))
            }
            None => err("channel_not_found"),
        },
        "conversations.unarchive" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) if !c.archived => err("not_archived"),
            Some(c) => {
                c.archived = false;
                ok(json!({}))
            }
            None => err("channel_not_found"),
        },
        "conversations.join" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) => {
                c.members.insert(BOT.to_owned());
                ok(json!({"channel": channel_json(c)}))
            }
            None => err("channel_not_found"),
        },
        "conversations.invite" => {
            let users: Vec<String> = s(b, "users")
                .split(',')
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            let known: Vec<String> = st.users.iter().map(|u| s(u, "id")).collect();
            let Some(c) = st.channels.get_mut(&s(b, "channel")) else {
                return err("channel_not_found");
            };
            if c.archived {
                return err("is_archived");
            }
            if users.iter().any(|u| !known.contains(u)) {
                return err("user_not_found");
            }
            if users.len() == 1 && c.members.contains(&users[0]) {
                return err("already_in_channel");
            }
            c.members.extend(users);
            let v = channel_json(c);
            ok(json!({"channel": v}))
        }
        "conversations.info" => match st.channels.get(&s(b, "channel")) {
            Some(c) => ok(json!({"channel": channel_json(c)})),
            None => err("channel_not_found"),
        },
        "conversations.members" => match st.channels.get(&s(b, "channel")) {
            Some(c) => ok(
                json!({"members": c.members.iter().collect::<Vec<_>>(), "response_metadata": {"next_cursor": ""}}),
            ),
            None => err("channel_not_found"),
        },
        "conversations.list" => {
            let list: Vec<Value> = st
                .channels
                .values()
                .filter(|c| !c.archived)
                .map(channel_json)
                .collect();
            ok(json!({"channels": list, "response_metadata": {"next_cursor": ""}}))
        }
        "conversations.history" => {
            let channel = s(b, "channel");
            let ts = s(b, "latest");
            // One message (`latest`), or the latest ones (newest first; the
            // fake's timestamps are not real times, so `oldest` is not applied).
            let found: Vec<Value> = st
                .messages
                .iter()
                .rev()
                .filter(|m| m.channel == channel && !m.deleted && (ts.is_empty() || m.ts == ts))
                .take(100)
                .map(
                    |m| json!({"ts": m.ts, "text": m.text, "user": m.user, "metadata": m.metadata}),
                )
                .collect();
            ok(json!({"messages": found}))
        }
        "conversations.open" => {
            let user = s(b, "users");
            match st.users.iter().find(|u| s(u, "id") == user) {
                None => return err("user_not_found"),
                Some(u) if u["deleted"] == json!(true) => return err("user_disabled"),
                Some(u) if u["is_bot"] == json!(true) => return err("cannot_dm_bot"),
                Some(_) => {}
            }
            let id = format!("D{user}");
            st.channels.entry(id.clone()).or_insert(FakeChannel {
                id: id.clone(),
                members: [user, BOT.to_owned()].into(),
                ..FakeChannel::default()
            });
            ok(json!({"channel": {"id": id, "is_im": true}}))
        }
        "chat.postMessage" => {
            let channel = s(b, "channel");
            match st.channels.get(&channel) {
                None => return err("channel_not_found"),
                Some(c) if c.archived => return err("is_archived"),
                _ => {}
            }
            let ts = format!("{}.{n:06}", 1_700_000_000 + n);
            st.messages.push(FakeMessage {
                channel: channel.clone(),
                ts: ts.clone(),
                text: s(b, "text"),
                blocks: b["blocks"].clone(),
                kind: b["metadata"]["event_type"].as_str().map(str::to_owned),
                metadata: b["metadata"].clone(),
                user: BOT.into(),
                deleted: false,
                edits: 0,
            });
            ok(json!({"channel": channel, "ts": ts, "message": {"ts": ts}}))
        }
        "chat.update" => {
            let (channel, ts) = (s(b, "channel"), s(b, "ts"));
            match st
                .messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts && !m.deleted)
            {
                Some(m) => {
                    m.text = s(b, "text");
                    m.blocks = b["blocks"].clone();
                    m.edits += 1;
                    ok(json!({"channel": channel, "ts": ts}))
                }
                None => err("message_not_found"),
            }
        }
        "chat.delete" => {
            let (channel, ts) = (s(b, "channel"), s(b, "ts"));
            match st
                .messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts && !m.deleted)
            {
                Some(m) => {
                    m.deleted = true;
                    ok(json!({"channel": channel, "ts": ts}))
                }
                None => err("message_not_found"),
            }
        }
        "chat.postEphemeral" => {
            st.ephemerals
                .push((s(b, "channel"), s(b, "user"), s(b, "text")));
            ok(json!({"message_ts": "1.1"}))
        }
        "pins.add" => match st.channels.get_mut(&s(b, "channel")) {
            Some(c) if c.pins.contains(&s(b, "timestamp")) => err("already_pinned"),
            Some(c) => {
                c.pins.push(s(b, "timestamp"));
                ok(json!({}))
            }
            None => err("channel_not_found"),
        },
        "bookmarks.add" => match st.channels.get_mut(&s(b, "channel_id")) {
            Some(c) => {
                c.bookmarks.push((s(b, "title"), s(b, "link")));
                ok(json!({"bookmark": {"id": format!("Bk{n}")}}))
            }
            None => err("channel_not_found"),
        },
        "bookmarks.list" => match st.channels.get(&s(b, "channel_id")) {
            Some(c) => ok(
                json!({"bookmarks": c.bookmarks.iter().map(|(title, link)| json!({"title": title, "link": link})).collect::<Vec<_>>()}),
            ),
            None => err("channel_not_found"),
        },
        "views.open" | "views.push" => {
            let id = format!("V{n:06}");
            st.views.push((
                method.to_owned(),
                b["view"].clone(),
                s(b, "trigger_id"),
                id.clone(),
            ));
            ok(json!({"view": {"id": id}}))
        }
        "views.update" => {
            let id = s(b, "view_id");
            st.views
                .push((method.to_owned(), b["view"].clone(), id.clone(), id.clone()));
            ok(json!({"view": {"id": id}}))
        }
        "views.publish" => {
            st.views.push((
                method.to_owned(),
                b["view"].clone(),
                s(b, "user_id"),
                String::new(),
            ));
            ok(json!({"view": {"id": format!("V{n:06}")}}))
        }
        "users.info" => match st.users.iter().find(|u| s(u, "id") == s(b, "user")) {
            Some(u) => ok(json!({"user": u})),
            None => err("user_not_found"),
        },
        "users.lookupByEmail" => {
            let email = s(b, "email");
            match st
                .users
                .iter()
                .find(|u| u["profile"]["email"] == json!(email))
            {
                Some(u) => ok(json!({"user": u})),
                None => err("users_not_found"),
            }
        }
        "users.list" => {
            let limit: usize = s(b, "limit").parse().unwrap_or(200);
            let start: usize = s(b, "cursor")
                .strip_prefix("page:")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let end = (start + limit).min(st.users.len());
            let page: Vec<Value> = st.users[start..end].to_vec();
            let next = if end < st.users.len() {
                format!("page:{end}")
            } else {
                String::new()
            };
            ok(json!({"members": page, "response_metadata": {"next_cursor": next}}))
        }
        "usergroups.list" => ok(json!({"usergroups": st.usergroups.clone()})),
        "usergroups.users.list" => match st
            .usergroups
            .iter()
            .find(|g| s(g, "id") == s(b, "usergroup"))
        {
            Some(g) => ok(json!({"users": g["users"].clone()})),
            None => err("no_such_subteam"),
        },
        _ => err("unknown_method"),
    }
}

/// The longest chain of calls where each starts after the previous one ended:
/// the number of Slack round trips made one after another.
pub fn sequential_depth(calls: &[Call]) -> usize {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.end);
    let mut depth: Vec<usize> = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].end <= c.start)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}
