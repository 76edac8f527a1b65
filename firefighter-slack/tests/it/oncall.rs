//! The on-call from Slack through core's capability, with a fake vendor:
//! the modal, the page and the off-hours hint in the incident channel, the
//! roster in the `tech_incidents` topic; and what Slack does without a vendor.

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::TimeZone;
use firefighter_core::event::ChannelInfo;
use firefighter_core::oncall::{
    OnCall, OnCallError, OnCallLevel, OnCallPerson, OnCallPolicy, PageOutcome, PageReceipt,
    PageRequest, PageableService, Roster,
};
use firefighter_core::plugin::AppHandle;
use firefighter_core::task::PeriodicTask;
use firefighter_core::timeline::event_type;
use firefighter_core::{IncidentFilter, IncidentId, UserId};
use firefighter_slack::oncall::{UPDATE_ONCALL_TOPIC, UpdateOncallTopic};
use serde_json::{Value, json};

use crate::support::{TestEnv, env, env_with_oncall, multi, select, text};

/// A vendor with two services. Like a real one, it pages a service once per
/// incident and records the page on the incident's timeline.
#[derive(Default)]
struct FakeOnCall {
    app: OnceLock<AppHandle>,
    on_call: Mutex<Vec<(String, Option<UserId>)>>,
    pages: Mutex<Vec<PageRequest>>,
}

impl FakeOnCall {
    fn service(id: &str) -> PageableService {
        PageableService {
            id: id.into(),
            name: format!("Service {id}"),
            summary: String::new(),
            escalation_policy: Some(format!("Policy of {id}")),
            url: String::new(),
        }
    }

    fn receipt(request: &PageRequest) -> PageReceipt {
        PageReceipt {
            service_id: request.service_id.clone(),
            service_name: format!("Service {}", request.service_id),
            incident_id: request.incident_id,
            url: Some(format!(
                "https://oncall.example.com/pages/{}",
                request.service_id
            )),
        }
    }
}

#[async_trait]
impl OnCall for FakeOnCall {
    fn name(&self) -> &str {
        "fake"
    }

    fn display_name(&self) -> &str {
        "Fake Pager"
    }

    async fn roster(&self) -> Result<Roster, OnCallError> {
        let people = |name: &str, user| OnCallPerson {
            name: name.into(),
            email: String::new(),
            phone: Some("+33612345678".into()),
            user_id: user,
            external_id: name.into(),
            url: String::new(),
            schedule: None,
            until: None,
        };
        Ok(Roster {
            policies: self
                .on_call
                .lock()
                .unwrap()
                .iter()
                .map(|(name, user)| OnCallPolicy {
                    id: format!("P{name}"),
                    name: format!("Policy {name}"),
                    url: String::new(),
                    levels: vec![OnCallLevel {
                        level: 1,
                        people: vec![people(name, *user)],
                    }],
                })
                .collect(),
            ..Roster::empty(chrono::Utc::now())
        })
    }

    async fn services_to_page(
        &self,
        incident: IncidentId,
    ) -> Result<Vec<PageableService>, OnCallError> {
        let pages = self.pages.lock().unwrap();
        Ok(["SVC1", "SVC2"]
            .into_iter()
            .filter(|s| {
                !pages
                    .iter()
                    .any(|p| p.incident_id == Some(incident) && p.service_id == *s)
            })
            .map(FakeOnCall::service)
            .collect())
    }

    async fn page(&self, request: PageRequest) -> Result<PageOutcome, OnCallError> {
        if !["SVC1", "SVC2"].contains(&request.service_id.as_str()) {
            return Err(OnCallError::Invalid(format!(
                "unknown service {}",
                request.service_id
            )));
        }
        let receipt = FakeOnCall::receipt(&request);
        {
            let mut pages = self.pages.lock().unwrap();
            if pages
                .iter()
                .any(|p| p.incident_id == request.incident_id && p.service_id == request.service_id)
            {
                return Ok(PageOutcome::AlreadySent { page: receipt });
            }
            pages.push(request.clone());
        }
        let app = self.app.get().and_then(AppHandle::get).unwrap();
        if let Some(incident) = request.incident_id {
            app.post_message(
                incident,
                request.requested_by,
                &format!(
                    "Paged the {} on-call: {}",
                    receipt.service_name,
                    receipt.url.as_deref().unwrap_or_default()
                ),
                Some(event_type::TRIGGER_ONCALL),
            )
            .await
            .map_err(|e| OnCallError::Failed(e.to_string()))?;
        }
        Ok(PageOutcome::Sent { page: receipt })
    }
}

async fn env_and_vendor() -> (TestEnv, Arc<FakeOnCall>) {
    let vendor = Arc::new(FakeOnCall::default());
    let t = env_with_oncall(vendor.clone()).await;
    let _ = vendor.app.set(t.app.handle());
    (t, vendor)
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
    let (t, vendor) = env_and_vendor().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;

    let view = open_oncall(&t, &channel).await;
    assert_eq!(view["callback_id"], firefighter_slack::ONCALL_CALLBACK_ID);
    assert_eq!(offered(&view), ["SVC1", "SVC2"]);
    assert!(
        view.to_string().contains("Fake Pager service"),
        "the vendor is named: {view}"
    );
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
    assert!(vendor.pages.lock().unwrap().is_empty());

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
        a["view"]
            .to_string()
            .contains("The Service SVC1 on-call was paged"),
        "{a}"
    );
    // What the vendor was asked: the form's values, the person, the incident.
    {
        let pages = vendor.pages.lock().unwrap();
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].service_id, "SVC1");
        assert_eq!(pages[0].incident_id, Some(id));
        assert_eq!(pages[0].summary, "Checkout is down");
        assert_eq!(pages[0].details, "All card payments fail");
        assert!(pages[0].requested_by.is_some());
    }
    // The same (stale) modal submitted again: the vendor sends nothing twice.
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
    assert_eq!(vendor.pages.lock().unwrap().len(), 1);
    // A vendor refusal is shown, not hidden.
    let (_, a) = t
        .submit(
            "UJANE",
            "VO",
            firefighter_slack::ONCALL_CALLBACK_ID,
            meta.clone(),
            vec![("service", select("NOPE")), ("summary", text("down"))],
        )
        .await;
    assert!(
        a["view"].to_string().contains("unknown service NOPE"),
        "{a}"
    );

    // The page, recorded on the timeline, is posted in the channel once,
    // even when the delivery is repeated.
    t.drain().await;
    t.drain().await;
    let posted = t.fake.messages_of_kind(&channel, "ff_oncall_paged");
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].text.contains("oncall.example.com/pages/SVC1"),
        "{}",
        posted[0].text
    );

    // Only the services not yet paged are offered now.
    let view = open_oncall(&t, &channel).await;
    assert_eq!(offered(&view), ["SVC2"]);
}

#[tokio::test]
async fn the_off_hours_hint_is_posted_once_with_a_button_that_opens_the_modal() {
    let (t, _vendor) = env_and_vendor().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    // The channel reported ready on a Saturday night (twice: a retried delivery).
    let saturday = chrono::Utc.with_ymd_and_hms(2026, 1, 10, 23, 0, 0).unwrap();
    let info = ChannelInfo {
        platform: firefighter_slack::PLATFORM.into(),
        id: channel.clone(),
        name: "incident".into(),
        url: String::new(),
    };
    for _ in 0..2 {
        t.app
            .channel_ready(id, info.clone(), None, saturday)
            .await
            .unwrap();
    }
    t.drain().await;
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
    let (t, vendor) = env_and_vendor().await;
    t.slack.attach(&t.app);
    // No tech_incidents conversation yet: skipped, with a clear summary.
    let task = UpdateOncallTopic::new(t.slack.clone());
    assert_eq!(task.name(), UPDATE_ONCALL_TOPIC);
    let summary = task.run().await.unwrap().to_string();
    assert!(summary.contains("skipped"), "{summary}");

    t.workspace().await;
    // Jane is on call for PA (her account has a Slack id); Cid has no account.
    let jane = t
        .app
        .store()
        .user_by_identity(firefighter_slack::PLATFORM, "UJANE")
        .await
        .unwrap()
        .unwrap();
    *vendor.on_call.lock().unwrap() = vec![("PA".into(), Some(jane.id)), ("Cid".into(), None)];
    t.fake.clear_calls();
    let summary = task.run().await.unwrap().to_string();
    assert!(summary.contains("set"), "{summary}");
    let topic = t.fake.channel("CTECH").unwrap().topic;
    assert!(topic.contains("/oncall/|On-call>"), "{topic}");
    assert!(topic.contains("POLICY PA <@UJANE>"), "{topic}");
    assert!(topic.contains("POLICY CID Cid"), "{topic}");
    let summary = task.run().await.unwrap().to_string();
    assert!(summary.contains("unchanged"), "{summary}");
    assert_eq!(t.fake.count("conversations.setTopic"), 1);
}

#[tokio::test]
async fn without_an_oncall_vendor_nothing_is_paged_hinted_or_put_in_the_topic() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let saturday = chrono::Utc.with_ymd_and_hms(2026, 1, 10, 23, 0, 0).unwrap();
    let info = ChannelInfo {
        platform: firefighter_slack::PLATFORM.into(),
        id: channel.clone(),
        name: "incident".into(),
        url: String::new(),
    };
    let hint = t.app.channel_ready(id, info, None, saturday).await.unwrap();
    assert_eq!(hint, None);
    t.drain().await;
    assert!(
        t.fake
            .messages_of_kind(&channel, "ff_oncall_hint")
            .is_empty()
    );

    let view = open_oncall(&t, &channel).await;
    assert!(
        view.to_string()
            .contains("No on-call integration is enabled"),
        "{view}"
    );
    let (_, a) = t
        .submit(
            "UJANE",
            "VO",
            firefighter_slack::ONCALL_CALLBACK_ID,
            json!({"incident": id.0}),
            vec![("service", select("SVC1")), ("summary", text("down"))],
        )
        .await;
    assert!(a.to_string().contains("nothing was paged"), "{a}");

    t.fake.clear_calls();
    let summary = UpdateOncallTopic::new(t.slack.clone())
        .run()
        .await
        .unwrap()
        .to_string();
    assert!(summary.contains("no on-call vendor"), "{summary}");
    assert_eq!(t.fake.count("conversations.setTopic"), 0);
}
