//! The test application: core on in-memory SQLite, the Slack integration
//! pointed at the fake, the ingress router, and signed Slack requests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use firefighter_core::outbox::Dispatcher;
use firefighter_core::store::SqliteStore;
use firefighter_core::{Firefighter, IncidentId, OnCall, Settings, Store};
use firefighter_slack::{HttpSlackClient, Slack, SlackConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::fake_slack::FakeSlack;

pub(crate) const SECRET: &str = "test-signing-secret";

pub(crate) struct TestEnv {
    pub(crate) app: Firefighter,
    pub(crate) slack: Slack,
    pub(crate) fake: FakeSlack,
    pub(crate) router: Router,
}

pub(crate) async fn env() -> TestEnv {
    env_with(|_| {}).await
}

pub(crate) async fn env_delayed(delay: Duration) -> TestEnv {
    build(FakeSlack::start_with_delay(delay).await, |_| {}).await
}

pub(crate) async fn env_with(tune: impl FnOnce(&mut SlackConfig)) -> TestEnv {
    build(FakeSlack::start().await, tune).await
}

/// With this on-call vendor on.
pub(crate) async fn env_with_oncall(oncall: Arc<dyn OnCall>) -> TestEnv {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    build_with(store, FakeSlack::start().await, |_| {}, Some(oncall)).await
}

/// On a fresh PostgreSQL database of the server at `FIREFIGHTER_TEST_POSTGRES_URL`.
#[cfg_attr(not(feature = "postgres-tests"), allow(dead_code))]
pub(crate) async fn env_on_postgres() -> TestEnv {
    build_on(postgres_store().await, FakeSlack::start().await, |_| {}).await
}

/// [`env_on_postgres`] without the built-in post-mortem.
pub(crate) async fn env_on_postgres_without_builtin_postmortem() -> TestEnv {
    build_with_settings(
        postgres_store().await,
        FakeSlack::start().await,
        |_| {},
        None,
        false,
    )
    .await
}

async fn postgres_store() -> Arc<dyn Store> {
    let url =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let db = format!("ff_slack_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(url.clone());
    Arc::new(
        firefighter_core::store::PgStore::connect(&format!("{base}/{db}"))
            .await
            .unwrap(),
    )
}

/// On a SQLite file (separate reader and writer connections, as in production).
pub(crate) async fn env_on_file(path: &std::path::Path) -> TestEnv {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap(),
    );
    build_on(store, FakeSlack::start().await, |_| {}).await
}

async fn build(fake: FakeSlack, tune: impl FnOnce(&mut SlackConfig)) -> TestEnv {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    build_on(store, fake, tune).await
}

async fn build_on(
    store: Arc<dyn Store>,
    fake: FakeSlack,
    tune: impl FnOnce(&mut SlackConfig),
) -> TestEnv {
    build_with(store, fake, tune, None).await
}

async fn build_with(
    store: Arc<dyn Store>,
    fake: FakeSlack,
    tune: impl FnOnce(&mut SlackConfig),
    oncall: Option<Arc<dyn OnCall>>,
) -> TestEnv {
    build_with_settings(store, fake, tune, oncall, true).await
}

/// Without the built-in post-mortem: post-mortems come from an external
/// backend only (the test publishes its `PostMortemCreated`).
pub(crate) async fn env_without_builtin_postmortem() -> TestEnv {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    build_with_settings(store, FakeSlack::start().await, |_| {}, None, false).await
}

async fn build_with_settings(
    store: Arc<dyn Store>,
    fake: FakeSlack,
    tune: impl FnOnce(&mut SlackConfig),
    oncall: Option<Arc<dyn OnCall>>,
    builtin_postmortem: bool,
) -> TestEnv {
    firefighter_slack::store::migrate(&store.database().unwrap())
        .await
        .unwrap();
    let mut config = SlackConfig::new("xoxb-test", SECRET);
    config.api_url = fake.url.clone();
    tune(&mut config);
    let api = Arc::new(
        HttpSlackClient::with_base(&fake.url, "xoxb-test", Duration::from_secs(5)).unwrap(),
    );
    let settings = Arc::new(Settings {
        base_url: "https://ff.example.com".into(),
        builtin_postmortem,
        ..Settings::default()
    });
    let slack = Slack::new(config, api, settings.clone(), store.clone()).unwrap();
    let mut builder = Firefighter::builder((*settings).clone())
        .store(store)
        .with_registered_plugins(false)
        .event_handler(slack.event_handler())
        .notifier(slack.notifier());
    for p in slack.invite_providers() {
        builder = builder.invite_provider(p);
    }
    if let Some(oncall) = oncall {
        builder = builder.oncall(oncall);
    }
    let app = builder.build().await.unwrap();
    let router = firefighter_slack::routes(app.clone(), slack.clone());
    TestEnv {
        app,
        slack,
        fake,
        router,
    }
}

impl TestEnv {
    /// Delivers every pending event (and the events they cause).
    pub(crate) async fn drain(&self) {
        let dispatcher = Dispatcher::for_app(&self.app);
        for _ in 0..50 {
            let report = dispatcher.run_once().await.unwrap();
            if report.claimed == 0 {
                return;
            }
        }
        panic!("events kept coming");
    }

    pub(crate) async fn send(
        &self,
        content_type: &str,
        body: String,
        timestamp: i64,
        signature: Option<String>,
    ) -> (StatusCode, Value) {
        let ts = timestamp.to_string();
        let sig = signature
            .unwrap_or_else(|| firefighter_slack::signature::sign(SECRET, &ts, body.as_bytes()));
        let req = Request::post(firefighter_slack::SLACK_PATH)
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(Body::from(body))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        // Work done after the acknowledgement is visible to the next assertion.
        self.slack.idle().await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    pub(crate) async fn signed(&self, content_type: &str, body: String) -> (StatusCode, Value) {
        self.send(content_type, body, chrono::Utc::now().timestamp(), None)
            .await
    }

    pub(crate) async fn command(
        &self,
        user: &str,
        channel: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let body = serde_urlencoded::to_string([
            ("token", "ignored"),
            ("team_id", crate::fake_slack::TEAM),
            ("channel_id", channel),
            ("user_id", user),
            ("command", "/incident"),
            ("text", text),
            ("response_url", &self.fake.response_url()),
            ("trigger_id", "trigger-1"),
        ])
        .unwrap();
        self.signed("application/x-www-form-urlencoded", body).await
    }

    pub(crate) async fn interaction(&self, payload: Value) -> (StatusCode, Value) {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.signed("application/x-www-form-urlencoded", body).await
    }

    pub(crate) async fn event(&self, event_id: &str, event: Value) -> (StatusCode, Value) {
        let body = json!({"type": "event_callback", "team_id": crate::fake_slack::TEAM, "event_id": event_id, "event": event});
        self.signed("application/json", body.to_string()).await
    }

    /// Submits a view: `values` are (block id, element value JSON).
    pub(crate) async fn submit(
        &self,
        user: &str,
        view_id: &str,
        callback: &str,
        metadata: Value,
        values: Vec<(&str, Value)>,
    ) -> (StatusCode, Value) {
        let mut state = serde_json::Map::new();
        for (block, value) in values {
            state.insert(block.to_owned(), json!({"el": value}));
        }
        self.interaction(json!({
            "type": "view_submission",
            "user": {"id": user},
            "trigger_id": "trigger-2",
            "view": {
                "id": view_id,
                "callback_id": callback,
                "private_metadata": metadata.to_string(),
                "state": {"values": state},
            }
        }))
        .await
    }

    pub(crate) async fn timeline_text(&self, id: IncidentId) -> String {
        self.app
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .filter_map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A workspace with people, a team channel, announcement channels and a P1 user group.
    pub(crate) async fn workspace(&self) {
        let f = &self.fake;
        f.add_user("UJANE", "jane@example.com", "Jane Doe");
        f.add_user("UBOB", "bob@example.com", "Bob Payments");
        f.add_user("USRE", "sre@example.com", "Sam Reliability");
        f.add_user("UDEV", "dev@example.com", "Dev Helper");
        f.add_channel("CTECH", "tech-incidents", &["UDEV"]);
        f.add_channel("CDEPLOY", "it-deploy", &[]);
        f.add_channel("CHELP", "dev-firefighter", &["UDEV"]);
        f.add_channel("CPAY", "payments-team", &["UBOB"]);
        f.add_usergroup("S0SRE", "sre", &["USRE"]);
        let s = &self.slack;
        for c in ["CTECH", "CDEPLOY", "CHELP", "CPAY"] {
            s.add_conversation(c).await.unwrap();
        }
        s.store()
            .set_conversation_tag("CTECH", Some("tech_incidents"))
            .await
            .unwrap();
        s.store()
            .set_conversation_tag("CDEPLOY", Some("it_deploy"))
            .await
            .unwrap();
        s.store()
            .set_conversation_tag("CHELP", Some("dev_firefighter"))
            .await
            .unwrap();
        let checkout = self.category("Checkout").await;
        s.link_conversation("CPAY", &[checkout.to_string()])
            .await
            .unwrap();
        let g = s.add_usergroup("@sre").await.unwrap();
        s.store()
            .set_usergroup_tag(&g.usergroup_id, Some("invited_for_all_public_p1"))
            .await
            .unwrap();
        s.sync_users().await.unwrap();
    }

    pub(crate) async fn category(&self, name: &str) -> firefighter_core::CategoryId {
        self.app
            .catalog()
            .await
            .unwrap()
            .categories
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .id
    }

    pub(crate) async fn env_id(&self, value: &str) -> firefighter_core::EnvironmentId {
        self.app
            .catalog()
            .await
            .unwrap()
            .environments
            .iter()
            .find(|e| e.value == value)
            .unwrap()
            .id
    }

    pub(crate) async fn priority(&self, name: &str) -> firefighter_core::PriorityId {
        self.app
            .catalog()
            .await
            .unwrap()
            .priorities
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .id
    }
}

pub(crate) fn select(value: impl ToString) -> Value {
    json!({"type": "static_select", "selected_option": {"value": value.to_string()}})
}

pub(crate) fn multi(values: &[String]) -> Value {
    json!({"type": "multi_static_select", "selected_options": values.iter().map(|v| json!({"value": v})).collect::<Vec<_>>()})
}

pub(crate) fn text(value: &str) -> Value {
    json!({"type": "plain_text_input", "value": value})
}

pub(crate) fn office(at: chrono::DateTime<chrono::Utc>) -> bool {
    firefighter_core::oncall::is_office_hours(at, chrono_tz::UTC)
}
