//! Jira end to end, through the whole server: the server runs as its own
//! process with Slack and Jira switched on by its environment (a fake Slack
//! and a stateful fake Jira that sends its webhooks back, signed, like
//! Jira). An incident declared from the API and one declared from Slack
//! each get one ticket, reported and watched, linked to the incident and
//! to its Slack conversation, bookmarked there; the incident's status goes
//! to Jira and a person's change in Jira comes back, with no loop.

#[path = "../../../firefighter-jira/tests/fake_jira/mod.rs"]
mod fake_jira;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_jira::{API_ACCOUNT, Jira, Shared, fake_jira, update_hook};
use serde_json::{Value, json};

use super::faults::fake_slack::{self, FakeSlack};
use super::faults::{BOT_TOKEN, CHILD_MARKER, SIGNING_SECRET, set_up};

const HOOK_SECRET: &str = "jira-e2e-secret";
const SERVICE: &str = "557058:service-account";

struct Stop(std::process::Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn eventually(what: &str, log: &std::path::Path, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{what}: not within 30 s\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_from_the_api_and_slack_get_their_tickets_and_stay_in_step() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("ff.db").display());
    let (token, catalog) = set_up(&database_url, &slack).await;
    let jira: Shared = Arc::new(Mutex::new(Jira {
        author: API_ACCOUNT.into(),
        ..Jira::default()
    }));
    let jira_url = fake_jira(jira.clone()).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let _server = Stop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "server::faults::server_process",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_MARKER, "1")
            .env("DATABASE_URL", &database_url)
            .env("HTTP_BIND", "127.0.0.1")
            .env("HTTP_PORT", port.to_string())
            .env("BASE_URL", &base)
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("SLACK_API_URL", &slack.url)
            .env("SLACK_CLIENT_PACING", "false")
            .env("FF_OUTBOX_MAX_BACKOFF_SECS", "2")
            .env("ENABLE_PAGERDUTY", "false")
            .env("ENABLE_CONFLUENCE", "false")
            .env("ENABLE_JIRA", "yes")
            .env("RAID_JIRA_API_URL", &jira_url)
            .env("RAID_JIRA_API_USER", "bot@example.com")
            .env("RAID_JIRA_API_PASSWORD", "token")
            .env("RAID_JIRA_PROJECT_KEY", "INC")
            .env("RAID_DEFAULT_JIRA_QRAFT_USER_ID", SERVICE)
            .env("RAID_JIRA_WEBHOOK_SECRET", HOOK_SECRET)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the server process"),
    );
    jira.lock().unwrap().hooks = Some(base.clone());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let healthy = format!("{base}/api/v2/firefighter/monitoring/healthcheck");
    let mut up = false;
    for _ in 0..600 {
        if let Ok(r) = http.get(&healthy).send().await
            && r.status().is_success()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "{}", std::fs::read_to_string(&log).unwrap_or_default());

    // Jira's webhooks, delivered (signed) as the fake makes them.
    let deliver = {
        let (jira, http) = (jira.clone(), http.clone());
        move || {
            let (jira, http) = (jira.clone(), http.clone());
            async move {
                let outgoing = std::mem::take(&mut jira.lock().unwrap().outgoing);
                for (url, body) in outgoing {
                    let raw = serde_json::to_vec(&body).unwrap();
                    let status = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header(
                            "x-hub-signature",
                            firefighter::jira::webhooks::sign(HOOK_SECRET, &raw),
                        )
                        .body(raw)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(status.as_u16(), 200);
                    jira.lock().unwrap().sent += 1;
                }
            }
        }
    };

    // 1. From the API.
    let pick = |name: &str| {
        catalog
            .priorities
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .id
            .to_string()
    };
    let prd = catalog
        .environments
        .iter()
        .find(|e| e.value == "PRD")
        .unwrap()
        .id
        .to_string();
    let created: Value = http
        .post(format!("{base}/api/v2/firefighter/incidents"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({
            "title": "Checkout fails for card payments",
            "description": "Declared through the API",
            "incident_category_id": catalog.categories[0].id.to_string(),
            "priority_id": pick("P3"),
            "environment_id": prd,
            "created_by_email": "declarer@example.com",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_id = created["id"].as_i64().expect("an incident id");
    let label = format!("ff-incident-{api_id}");
    eventually(
        "the API incident's ticket, linked to its conversation",
        &log,
        || {
            jira.lock().unwrap().issues.iter().any(|i| {
                i.labels.contains(&label)
                    && i.links
                        .contains(&format!("firefighter-conversation-{api_id}"))
            })
        },
    )
    .await;
    let ticket = jira
        .lock()
        .unwrap()
        .issues
        .iter()
        .find(|i| i.labels.contains(&label))
        .cloned()
        .unwrap();
    assert_eq!(ticket.watchers, [SERVICE]);
    assert!(
        ticket
            .links
            .contains(&format!("firefighter-incident-{api_id}"))
    );
    let read = |id: i64| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            http.get(format!("{base}/api/v2/firefighter/incidents/{id}"))
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let incident = read(api_id).await;
    assert_eq!(incident["jira_ticket_key"], json!(ticket.key));
    assert_eq!(
        incident["jira_ticket_url"],
        json!(format!("{jira_url}/browse/{}", ticket.key))
    );
    // The ticket is bookmarked in the incident's channel.
    let url = format!("{jira_url}/browse/{}", ticket.key);
    eventually("the ticket bookmarked in the channel", &log, || {
        slack
            .state
            .lock()
            .unwrap()
            .channels
            .values()
            .any(|c| c.bookmarks.iter().any(|(_, link)| *link == url))
    })
    .await;

    // 2. From Slack: the declaration form, signed.
    let payload = json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM},
        "user": {"id": "UJANE"},
        "trigger_id": "trigger-jira",
        "view": {
            "id": "VJIRA1",
            "callback_id": "incident_open",
            "private_metadata": "{}",
            "state": {"values": {
                "impact:customers_impact": {"el": {"type": "static_select", "selected_option": {"value": "HI"}}},
                "category": {"el": {"type": "static_select", "selected_option": {"value": catalog.categories[0].id.to_string()}}},
                "environments": {"el": {"type": "multi_static_select", "selected_options": [{"value": prd}]}},
                "title": {"el": {"type": "plain_text_input", "value": "Search is down (from Slack)"}},
            }},
        }
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = firefighter::slack::signature::sign(SIGNING_SECRET, &ts, body.as_bytes());
    let answer = http
        .post(format!("{base}{}", firefighter::slack::SLACK_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    eventually("the Slack incident's ticket", &log, || {
        jira.lock().unwrap().issues.len() == 2
    })
    .await;
    let slack_ticket = jira.lock().unwrap().issues[1].clone();
    assert_eq!(
        slack_ticket.fields["summary"],
        json!("Search is down (from Slack)")
    );
    // Jane has no Jira account: the default reporter, who watches it.
    assert_eq!(slack_ticket.fields["reporter"], json!({ "id": SERVICE }));

    // Its link to the incident's conversation is written once the channel
    // exists; counted writes start after it.
    let slack_label = slack_ticket
        .labels
        .iter()
        .find(|l| l.starts_with("ff-incident-"))
        .cloned()
        .expect("the Slack incident's label");
    let slack_link = slack_label.replace("ff-incident-", "firefighter-conversation-");
    eventually(
        "the Slack incident's ticket, linked to its conversation",
        &log,
        || {
            jira.lock()
                .unwrap()
                .issues
                .iter()
                .any(|i| i.labels.contains(&slack_label) && i.links.contains(&slack_link))
        },
    )
    .await;

    // 3. The API incident goes on: Investigating reaches Jira by two
    // transitions; their webhooks (authored by the API account) change nothing.
    let writes_before = jira.lock().unwrap().writes.len();
    let moved = http
        .post(format!(
            "{base}/api/v2/firefighter/incidents/{api_id}/status"
        ))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"status": "investigating", "message": "Looking at the payment provider"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success(), "{}", moved.status());
    let key = ticket.key.clone();
    eventually("the ticket in progress", &log, || {
        jira.lock()
            .unwrap()
            .issues
            .iter()
            .any(|i| i.key == key && i.status == "in progress")
    })
    .await;
    deliver().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    {
        let j = jira.lock().unwrap();
        assert_eq!(
            j.writes[writes_before..],
            ["transition Pending resolution", "transition in progress"]
        );
        assert_eq!(j.sent, 2);
    }
    assert_eq!(read(api_id).await["status"], json!("Investigating"));

    // 4. A person moves the ticket to Reporter validation: the incident is
    // Mitigated, and nothing goes back to Jira.
    {
        let mut j = jira.lock().unwrap();
        j.issues.iter_mut().find(|i| i.key == key).unwrap().status = "Reporter validation".into();
    }
    let hook = update_hook(
        &key,
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "in progress", "toString": "Reporter validation" }]),
    );
    let raw = serde_json::to_vec(&hook).unwrap();
    let status = http
        .post(format!(
            "{base}{}",
            firefighter::jira::webhooks::UPDATE_PATH
        ))
        .header("content-type", "application/json")
        .header("x-atlassian-webhook-identifier", "e2e-1")
        .header(
            "x-hub-signature",
            firefighter::jira::webhooks::sign(HOOK_SECRET, &raw),
        )
        .body(raw.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    let mut mitigated = false;
    for _ in 0..100 {
        if read(api_id).await["status"] == json!("Mitigated") {
            mitigated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        mitigated,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // A bad signature: 401.
    let refused = http
        .post(format!(
            "{base}{}",
            firefighter::jira::webhooks::UPDATE_PATH
        ))
        .header("content-type", "application/json")
        .header("x-hub-signature", "sha256=00")
        .body(raw)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused.as_u16(), 401);
    tokio::time::sleep(Duration::from_secs(3)).await;
    deliver().await;
    let j = jira.lock().unwrap();
    assert_eq!(
        j.writes.len(),
        writes_before + 2,
        "the change that came from Jira went back: {:?}",
        j.writes
    );
}
