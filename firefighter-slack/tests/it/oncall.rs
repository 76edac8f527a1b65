//! The Slack side of PagerDuty (feature `pagerduty`): the on-call modal, the
//! page and the off-hours hint in the incident channel, the roster in the
//! `tech_incidents` topic. PagerDuty is a wiremock fake.

use std::sync::Arc;

use chrono::TimeZone;
use firefighter_core::IncidentFilter;
use firefighter_core::event::ChannelInfo;
use firefighter_pagerduty::{PagerDuty, PagerDutyConfig, RetryPolicy};
use firefighter_slack::oncall::{PagerDutyOnCall, UPDATE_ONCALL_TOPIC};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TestEnv, env, multi, select, text};

fn reference(kind: &str, id: &str) -> Value {
    json!({"id": id, "type": kind, "summary": format!("{kind} {id}"),
        "self": format!("https://api.pagerduty.com/x/{id}"),
        "html_url": format!("https://acme.pagerduty.com/x/{id}")})
}

fn service(id: &str, policy: &str) -> Value {
    json!({"id": id, "type": "service", "name": format!("Service {id}"), "summary": format!("Service {id}"),
        "status": "active", "html_url": format!("https://acme.pagerduty.com/service-directory/{id}"),
        "escalation_policy": reference("escalation_policy_reference", policy)})
}

fn oncall(policy: &str, user: &str, services: &[&str]) -> Value {
    let services: Vec<Value> = services
        .iter()
        .map(|s| reference("service_reference", s))
        .collect();
    json!({
        "user": {"id": user, "type": "user", "summary": format!("Person {user}"), "name": format!("Person {user}"),
            "email": format!("{}@example.com", user.to_lowercase()),
            "html_url": format!("https://acme.pagerduty.com/users/{user}")},
        "schedule": reference("schedule", &format!("S{policy}")),
        "escalation_policy": {"id": policy, "type": "escalation_policy", "summary": format!("Policy {policy}"),
            "name": format!("Policy {policy}"),
            "html_url": format!("https://acme.pagerduty.com/escalation_policies/{policy}"),
            "services": services},
        "escalation_level": 1, "start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z",
    })
}

fn list(key: &str, items: Vec<Value>) -> Value {
    json!({key: items, "offset": 0, "limit": 100, "more": false, "total": null})
}

/// PagerDuty pointed at a fake with two services and their on-calls, synced.
async fn pagerduty(t: &TestEnv) -> (PagerDuty, MockServer) {
    firefighter_pagerduty::migrate(t.app.store().database().unwrap())
        .await
        .unwrap();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "services",
            vec![service("SVC1", "PA"), service("SVC2", "PB")],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/oncalls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "oncalls",
            vec![
                oncall("PA", "UANN", &["SVC1"]),
                oncall("PB", "UCID", &["SVC2"]),
            ],
        )))
        .mount(&server)
        .await;
    let mut config = PagerDutyConfig::new("test-key", "oncall@example.com", server.uri());
    config.events_url = server.uri();
    config.requests_per_minute = 100_000;
    let pd = PagerDuty::new(config, t.app.store().clone())
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            min_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(10),
            max_wait: std::time::Duration::from_secs(2),
        });
    pd.sync_services().await.unwrap();
    pd.sync_oncalls().await.unwrap();
    (pd, server)
}

async fn p2(t: &TestEnv) -> (firefighter_core::IncidentId, String) {
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VM", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    let id = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()[0]
        .id;
    let channel = t
        .slack
        .store()
        .incident_channel(id)
        .await
        .unwrap()
        .unwrap()
        .channel_id;
    (id, channel)
}

async fn open_oncall(t: &TestEnv, channel: &str) -> Value {
    let before = t.fake.views("views.open").len();
    t.command("UJANE", channel, "oncall").await;
    t.fake
        .wait_for("a modal", |f| f.views("views.open").len() > before)
        .await;
    t.fake.views("views.open").pop().unwrap()
}

fn offered(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "service")
        .map(|b| {
            b["element"]["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_oncall_modal_pages_once_and_the_page_is_posted_once() {
    let t = env().await;
    t.workspace().await;
    let (pd, server) = pagerduty(&t).await;
    t.slack
        .clone()
        .with_oncall(Arc::new(PagerDutyOnCall::new(t.app.clone(), pd)));
    let (id, channel) = p2(&t).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"incident": {
            "id": "PDI1", "type": "incident", "title": "t", "incident_number": 42, "status": "triggered",
            "urgency": "high", "incident_key": "k",
            "self": "https://api.pagerduty.com/incidents/PDI1",
            "html_url": "https://acme.pagerduty.com/incidents/PDI1",
            "service": reference("service_reference", "SVC1"),
        }})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/incidents/PDI1/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"note": {"id": "N1"}})))
        .mount(&server)
        .await;

    let view = open_oncall(&t, &channel).await;
    assert_eq!(view["callback_id"], firefighter_slack::ONCALL_CALLBACK_ID);
    assert_eq!(offered(&view), ["SVC1", "SVC2"]);
    let meta = json!({"incident": id.0});

    // No service chosen: the error stays on the field, nothing is paged.
    let (_, a) = t
        .submit(
            "UJANE",
            "VO",
            firefighter_slack::ONCALL_CALLBACK_ID,
            meta.clone(),
            vec![("summary", text("Checkout is down"))],
        )
        .await;
    assert_eq!(a["response_action"], "errors", "{a}");
    assert!(a["errors"]["service"].as_str().unwrap().contains("Choose"));

    let values = || {
        vec![
            ("service", select("SVC1")),
            ("summary", text("Checkout is down")),
            ("details", text("All card payments fail")),
        ]
    };
    let (_, a) = t
        .submit(
            "UJANE",
            "VO",
            firefighter_slack::ONCALL_CALLBACK_ID,
            meta.clone(),
            values(),
        )
        .await;
    assert_eq!(a["response_action"], "update", "{a}");
    assert!(
        a["view"].to_string().contains("was paged on PagerDuty"),
        "{a}"
    );
    // The same (stale) modal submitted again: nothing sent twice.
    let (_, a) = t
        .submit(
            "UJANE",
            "VO",
            firefighter_slack::ONCALL_CALLBACK_ID,
            meta.clone(),
            values(),
        )
        .await;
    assert!(a["view"].to_string().contains("already paged"), "{a}");

    // The page, recorded on the timeline, is posted in the channel once,
    // even when the delivery is repeated.
    t.drain().await;
    t.drain().await;
    let posted = t.fake.messages_of_kind(&channel, "ff_oncall_paged");
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].text.contains("PDI1"), "{}", posted[0].text);

    // Only the services not yet paged are offered now.
    let view = open_oncall(&t, &channel).await;
    assert_eq!(offered(&view), ["SVC2"]);
    server.verify().await;
}

#[tokio::test]
async fn the_off_hours_hint_is_posted_once_with_a_button_that_opens_the_modal() {
    let t = env().await;
    t.workspace().await;
    let (pd, _server) = pagerduty(&t).await;
    t.slack
        .clone()
        .with_oncall(Arc::new(PagerDutyOnCall::new(t.app.clone(), pd)));
    let (id, channel) = p2(&t).await;
    // A Saturday night: the PagerDuty handler records the hint on the timeline.
    let saturday = chrono::Utc.with_ymd_and_hms(2026, 1, 10, 23, 0, 0).unwrap();
    let info = ChannelInfo {
        platform: "slack".into(),
        id: channel.clone(),
        name: "incident".into(),
        url: String::new(),
    };
    for _ in 0..2 {
        firefighter_pagerduty::record_off_hours_hint(&t.app, id, &info, saturday)
            .await
            .unwrap();
    }
    t.drain().await;
    let hints = t.fake.messages_of_kind(&channel, "ff_oncall_hint");
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert!(hints[0].text.contains("outside office hours"));
    let button = hints[0].blocks.to_string();
    assert!(button.contains("open_oncall"), "{button}");

    // The button opens the on-call modal, as `/incident oncall` does.
    let before = t.fake.views("views.open").len();
    t.interaction(json!({
        "type": "block_actions", "user": {"id": "UJANE"}, "trigger_id": "t",
        "channel": {"id": channel},
        "actions": [{"action_id": "open_oncall", "block_id": format!("oncall_hint:{}", id.0), "value": id.0.to_string()}]
    }))
    .await;
    t.fake
        .wait_for("the modal", |f| f.views("views.open").len() > before)
        .await;
    let view = t.fake.views("views.open").pop().unwrap();
    assert_eq!(view["callback_id"], firefighter_slack::ONCALL_CALLBACK_ID);
    assert_eq!(offered(&view), ["SVC1", "SVC2"]);
}

#[tokio::test]
async fn the_topic_task_sets_the_roster_once_and_skips_when_unchanged() {
    let t = env().await;
    // No tech_incidents conversation yet: skipped, with a clear summary.
    firefighter_pagerduty::migrate(t.app.store().database().unwrap())
        .await
        .unwrap();
    t.slack.attach(&t.app);
    let task = firefighter_slack::oncall::UpdateOncallTopic::new(t.slack.clone());
    use firefighter_core::task::PeriodicTask;
    assert_eq!(task.name(), UPDATE_ONCALL_TOPIC);
    let summary = task.run().await.unwrap();
    assert!(summary.contains("skipped"), "{summary}");

    t.workspace().await;
    let _ = pagerduty(&t).await;
    t.fake.clear_calls();
    let summary = task.run().await.unwrap();
    assert!(summary.contains("set"), "{summary}");
    let topic = t.fake.channel("CTECH").unwrap().topic;
    assert!(topic.contains("/oncall/|On-call>"), "{topic}");
    assert!(topic.contains("POLICY PA"), "{topic}");
    let summary = task.run().await.unwrap();
    assert!(summary.contains("unchanged"), "{summary}");
    assert_eq!(t.fake.count("conversations.setTopic"), 1);
}
