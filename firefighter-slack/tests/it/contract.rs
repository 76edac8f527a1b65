//! Contract tests: every Web API request shape the client sends, checked by
//! the Prism mock of Slack's official OpenAPI spec (2xx, and no `request`
//! entry in `sl-violations`). Start the mock first:
//! `../shared/contract-mocks/start-mocks.sh slack`.
//!
//! Not covered: `bookmarks.add`, which is missing from Slack's (2020) spec
//! (the mock answers 404), and `response_url` posts, which are not Web API calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use firefighter_slack::models::api::NewMessage;
use firefighter_slack::{HttpSlackClient, SlackApi};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(String, u16, Option<String>)>>>;

fn client() -> (HttpSlackClient, Seen) {
    let base = std::env::var("FF_CONTRACT_SLACK_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4010/api".into());
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let client = HttpSlackClient::with_base(&base, "xoxb-contract-test", Duration::from_secs(20))
        .unwrap()
        .without_pacing()
        .with_retries(0)
        .with_observer(Arc::new(
            move |method: &str, status: u16, violations: Option<&str>| {
                s.lock()
                    .unwrap()
                    .push((method.to_owned(), status, violations.map(str::to_owned)));
            },
        ));
    (client, seen)
}

fn request_violations(header: &Option<String>) -> Vec<Value> {
    let Some(h) = header else { return Vec::new() };
    let list: Vec<Value> = serde_json::from_str(h).unwrap_or_default();
    list.into_iter()
        .filter(|v| {
            v["location"]
                .as_array()
                .and_then(|l| l.first())
                .and_then(Value::as_str)
                == Some("request")
        })
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn every_request_shape_passes_the_slack_contract() {
    let (c, seen) = client();
    let view = json!({"type": "modal", "callback_id": "x", "title": {"type": "plain_text", "text": "T"}, "blocks": []});
    let message = NewMessage::new(
        "C0EAQDV4Z",
        "hello",
        json!([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]),
    )
    .kind("ff_test");
    // Results are Prism's canned examples; only the request shapes matter here.
    let _ = c.auth_test().await;
    let _ = c.create_channel("incident-42", true).await;
    let _ = c.rename_channel("C0EAQDV4Z", "incident-43").await;
    let _ = c.set_topic("C0EAQDV4Z", "Incident - P1").await;
    let _ = c.archive_channel("C0EAQDV4Z").await;
    let _ = c.join_channel("C0EAQDV4Z").await;
    let _ = c.invite("C0EAQDV4Z", &["U1".into(), "U2".into()]).await;
    let _ = c.channel_info("C0EAQDV4Z").await;
    let _ = c
        .channel_members("C0EAQDV4Z", Some("dXNlcjpVMDYxTkZUVDI=".into()))
        .await;
    let _ = c.list_channels(None).await;
    let _ = c.message_at("C0EAQDV4Z", "1503435956.000247").await;
    let _ = c.messages_since("C0EAQDV4Z", "1503435956.000247").await;
    let _ = c.open_dm("U1").await;
    let _ = c.post_message(&message).await;
    let _ = c
        .update_message("C0EAQDV4Z", "1503435956.000247", &message)
        .await;
    let _ = c.delete_message("C0EAQDV4Z", "1503435956.000247").await;
    let _ = c.post_ephemeral("C0EAQDV4Z", "U1", &message).await;
    let _ = c.pin("C0EAQDV4Z", "1503435956.000247").await;
    let _ = c.open_view("12345.98765.abcd2358fdea", &view).await;
    let _ = c
        .update_view("VMHU10V25", Some("156772938.1827394".into()), &view)
        .await;
    let _ = c.push_view("12345.98765.abcd2358fdea", &view).await;
    let _ = c
        .publish_home("U1", &json!({"type": "home", "blocks": []}))
        .await;
    let _ = c.user_info("U1").await;
    let _ = c.user_by_email("jane@example.com").await;
    let _ = c.list_users(Some("dXNlcjpVMDYxTkZUVDI=".into()), 200).await;
    let _ = c.list_usergroups().await;
    let _ = c.usergroup_members("S0614TZR7").await;

    let seen = seen.lock().unwrap().clone();
    let methods: Vec<&str> = seen.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(seen.len(), 27, "every call reached the mock: {methods:?}");
    let mut problems = Vec::new();
    for (method, status, violations) in &seen {
        let bad = request_violations(violations);
        if !(200..300).contains(status) || !bad.is_empty() {
            problems.push(format!("{method}: HTTP {status} {bad:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "contract violations:\n{}",
        problems.join("\n")
    );
}
