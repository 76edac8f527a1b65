//! Bad input gets a clear answer and changes nothing.

use firefighter_core::{Declaration, IncidentFilter, Status};
use serde_json::json;

use crate::support::{env, select, text};

#[tokio::test]
async fn forged_stale_and_unsigned_requests_are_refused() {
    let t = env().await;
    let body = "command=%2Fincident&text=open&user_id=UJANE&trigger_id=x".to_owned();
    let now = chrono::Utc::now().timestamp();
    let form = "application/x-www-form-urlencoded";
    let (s, _) = t
        .send(form, body.clone(), now, Some("v0=deadbeef".into()))
        .await;
    assert_eq!(s, 401);
    let stale = now - 6 * 60;
    let (s, _) = t.send(form, body.clone(), stale, None).await;
    assert_eq!(s, 401, "older than 5 minutes");
    let other =
        firefighter_slack::signature::sign("another secret", &now.to_string(), body.as_bytes());
    let (s, _) = t.send(form, body.clone(), now, Some(other)).await;
    assert_eq!(s, 401);
    let req = axum::http::Request::post(firefighter_slack::SLACK_PATH)
        .header("content-type", form)
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(t.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(t.fake.calls().is_empty(), "nothing reached Slack");
}

#[tokio::test]
async fn malformed_payloads_are_refused() {
    let t = env().await;
    let form = "application/x-www-form-urlencoded";
    let (s, _) = t.signed(form, "payload=%7Bnot%20json".into()).await;
    assert_eq!(s, 400);
    let (s, _) = t.signed("application/json", "{\"type\": 42".into()).await;
    assert_eq!(s, 400);
    let (s, _) = t.signed(form, "hello=world".into()).await;
    assert_eq!(s, 400);
    let (s, _) = t.signed(form, "command=%2Fincident".into()).await;
    assert_eq!(s, 400, "a command without a user");
}

#[tokio::test]
async fn url_verification_is_answered() {
    let t = env().await;
    let (s, v) = t
        .signed(
            "application/json",
            json!({"type": "url_verification", "challenge": "c-123"}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["challenge"], "c-123");
}

#[tokio::test]
async fn help_and_unknown_commands() {
    let t = env().await;
    t.workspace().await;
    for text in ["", "help"] {
        let (s, v) = t.command("UJANE", "C1", text).await;
        assert_eq!(s, 200);
        assert_eq!(v["response_type"], "ephemeral");
        let h = v.to_string();
        assert!(
            h.contains("/incident open") && h.contains("<#CHELP>"),
            "{h}"
        );
    }
    let (_, v) = t.command("UJANE", "C1", "reboot").await;
    let h = v.to_string();
    assert!(
        h.contains("Unknown command")
            && h.contains("reboot")
            && h.contains("/incident open")
            && h.contains("<#CHELP>"),
        "{h}"
    );
    assert!(t.fake.views("views.open").is_empty());
}

#[tokio::test]
async fn unknown_callbacks_and_gone_incidents_change_nothing() {
    let t = env().await;
    t.workspace().await;
    let (s, v) = t
        .submit("UJANE", "V1", "something_else", json!({}), vec![])
        .await;
    assert_eq!(s, 200);
    assert!(v.to_string().contains("Unknown form"), "{v}");
    let (_, v) = t
        .submit(
            "UJANE",
            "V2",
            "incident_update_status",
            json!({"incident": 999}),
            vec![("status", select("investigating"))],
        )
        .await;
    assert!(v.to_string().contains("does not exist"), "{v}");
    // A button on an incident that no longer exists opens an explanation.
    t.interaction(json!({
        "type": "block_actions", "user": {"id": "UJANE"}, "trigger_id": "t",
        "actions": [{"action_id": "update_status", "block_id": "b", "value": "999"}]
    }))
    .await;
    t.fake
        .wait_for("the notice", |f| !f.views("views.open").is_empty())
        .await;
    assert!(
        t.fake.views("views.open")[0]
            .to_string()
            .contains("does not exist")
    );
    assert!(
        t.app
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn someone_outside_the_workspace_is_told_so() {
    let t = env().await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let values = vec![
        ("impact:customers_impact", select("HT")),
        ("category", select(checkout)),
        ("title", text("Checkout fails for every card payment")),
    ];
    let (_, v) = t
        .submit("UGHOST", "V3", "incident_open", json!({}), values)
        .await;
    assert!(
        v.to_string()
            .contains("not a member of this Slack workspace"),
        "{v}"
    );
    assert!(
        t.app
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_forms_keep_their_errors_on_the_fields() {
    let t = env().await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    // No impact, no category.
    let (_, v) = t
        .submit(
            "UJANE",
            "V4",
            "incident_open",
            json!({}),
            vec![("title", text("Something is off"))],
        )
        .await;
    assert_eq!(v["response_action"], "errors");
    assert!(
        v["errors"]["category"].is_string() && v["errors"]["impact:business_impact"].is_string(),
        "{v}"
    );
    // A title too short.
    let (_, v) = t
        .submit(
            "UJANE",
            "V5",
            "incident_open",
            json!({}),
            vec![
                ("impact:customers_impact", select("MD")),
                ("category", select(checkout)),
                ("title", text("short")),
            ],
        )
        .await;
    assert_eq!(v["response_action"], "errors");
    assert!(
        v["errors"]["title"]
            .as_str()
            .unwrap()
            .contains("at least 10"),
        "{v}"
    );
    assert!(
        t.app
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_early_closure_asks_for_a_reason() {
    let t = env().await;
    t.workspace().await;
    let jane = t.slack.user_for("UJANE").await.unwrap();
    let d = t
        .app
        .declare(Declaration {
            title: "Search returns nothing".into(),
            category_id: Some(t.category("Search").await),
            priority_id: Some(t.priority("P3").await),
            created_by: Some(jane.id),
            ..Declaration::default()
        })
        .await
        .unwrap();
    let id = d.incident.id;
    let meta = json!({"incident": id.0});
    let (_, v) = t
        .submit(
            "UJANE",
            "V6",
            "incident_update_status",
            meta.clone(),
            vec![
                ("status", select("closed")),
                ("priority", select(t.priority("P4").await)),
            ],
        )
        .await;
    assert_eq!(v["response_action"], "push", "{v}");
    assert_eq!(v["view"]["callback_id"], "incident_closure_reason");
    assert!(
        v["view"]["private_metadata"]
            .as_str()
            .unwrap()
            .contains("priority"),
        "the priority change is carried over"
    );
    assert_eq!(t.app.incident(id).await.unwrap().status, Status::Open);
    let carried =
        serde_json::from_str::<serde_json::Value>(v["view"]["private_metadata"].as_str().unwrap())
            .unwrap();
    let (_, v) = t
        .submit(
            "UJANE",
            "V7",
            "incident_closure_reason",
            carried,
            vec![
                ("reason", select("false_positive")),
                ("message", text("Nothing was wrong")),
            ],
        )
        .await;
    assert_eq!(v["response_action"], "clear", "{v}");
    let i = t.app.incident(id).await.unwrap();
    assert_eq!(i.status, Status::Closed);
    assert_eq!(i.priority_id, t.priority("P4").await);
}
