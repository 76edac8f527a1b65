//! A P1 walked from `/incident open` to an archived channel, entirely through
//! signed Slack payloads against the fake: declare, update, escalate,
//! mitigate, post-mortem, close.

use firefighter_core::{IncidentEvent, IncidentFilter, IncidentId, Status};
use serde_json::json;

use crate::support::{env, multi, select, text};

#[tokio::test]
async fn a_p1_from_open_to_archived_channel() {
    // The post-mortem comes from an external backend here (its event is published by the test).
    walk(crate::support::env_without_builtin_postmortem().await).await;
}

#[tokio::test]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL and --features postgres-tests"
)]
async fn a_p1_from_open_to_archived_channel_on_postgres() {
    walk(crate::support::env_on_postgres_without_builtin_postmortem().await).await;
}

async fn walk(t: crate::support::TestEnv) {
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;

    // 1. `/incident open`: acknowledged at once, the wizard opens.
    let (status, body) = t.command("UJANE", "CRANDOM", "open").await;
    assert_eq!(status, 200);
    assert!(body.as_str().is_some_and(str::is_empty), "{body}");
    t.fake
        .wait_for("the wizard", |f| !f.views("views.open").is_empty())
        .await;
    let wizard = t.fake.views("views.open").pop().unwrap();
    assert_eq!(wizard["callback_id"], "incident_open");

    // Choosing impacts refreshes the wizard with the priority and the responders.
    let (status, _) = t
        .interaction(json!({
            "type": "block_actions",
            "user": {"id": "UJANE"},
            "trigger_id": "t",
            "actions": [{"action_id": "category", "block_id": "category", "selected_option": {"value": checkout.to_string()}}],
            "view": {"id": "VWIZ", "hash": "h1", "callback_id": "incident_open", "private_metadata": "{}", "state": {"values": {
                "impact:customers_impact": {"impact": select("HI")},
                "category": {"category": select(checkout)},
                "environments": {"environments": multi(&[prd.to_string()])},
            }}}
        }))
        .await;
    assert_eq!(status, 200);
    t.fake
        .wait_for("the refreshed wizard", |f| {
            !f.views("views.update").is_empty()
        })
        .await;
    let refreshed = t.fake.views("views.update").pop().unwrap().to_string();
    assert!(refreshed.contains("P2"), "{refreshed}");
    // Jane and Bob (member of the payments channel linked to Checkout): a dry run counts them.
    assert!(refreshed.contains("about *2* responders"), "{refreshed}");

    // 2. Submit: a P2 is declared. Submitting the same view again declares nothing more.
    let values = || {
        vec![
            ("impact:customers_impact", select("HI")),
            ("category", select(checkout)),
            ("environments", multi(&[prd.to_string()])),
            ("title", text("Checkout fails for every card payment")),
            (
                "description",
                text("Customers get an error page after entering their card."),
            ),
        ]
    };
    let (status, answer) = t
        .submit("UJANE", "VWIZ", "incident_open", json!({}), values())
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_action"], "update", "{answer}");
    assert!(answer.to_string().contains("Declaring"), "{answer}");
    let outcome = t.fake.views("views.update").pop().unwrap().to_string();
    assert!(
        outcome.contains("declared") && outcome.contains("channel is being created"),
        "{outcome}"
    );
    let (_, again) = t
        .submit("UJANE", "VWIZ", "incident_open", json!({}), values())
        .await;
    assert_eq!(again["response_action"], "update", "{again}");
    let outcome = t.fake.views("views.update").pop().unwrap().to_string();
    assert!(outcome.contains("already submitted"), "{outcome}");
    let all = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let id = all[0].id;
    assert_eq!(
        t.app.incident(id).await.unwrap().priority_id,
        t.priority("P2").await
    );

    // 3. The channel: created, named, topic, bookmark, pinned announcement, invitations.
    t.drain().await;
    let channel = t
        .fake
        .channel_named(&format!("{}-", all[0].canonical_name(chrono_tz::UTC)))
        .expect("incident channel");
    assert!(channel.name.ends_with("-prd-checkout"), "{}", channel.name);
    assert!(!channel.private);
    assert!(
        channel.members.contains("UJANE") && channel.members.contains("UBOB"),
        "{:?}",
        channel.members
    );
    assert!(
        !channel.members.contains("USRE"),
        "the P1 group is not invited to a P2"
    );
    assert!(
        channel.topic.contains("P2") && channel.topic.contains("Open"),
        "{}",
        channel.topic
    );
    assert_eq!(
        channel.bookmarks,
        vec![(
            "Incident Page".to_owned(),
            format!("https://ff.example.com/incident/{}/", id.0)
        )]
    );
    let declared = t.fake.messages_of_kind(&channel.id, "ff_incident_declared");
    assert_eq!(declared.len(), 1);
    assert_eq!(channel.pins, vec![declared[0].ts.clone()]);
    assert_eq!(
        t.fake
            .messages_of_kind(&channel.id, "ff_incident_roles_updated")
            .len(),
        1
    );
    assert_eq!(
        t.fake
            .messages_of_kind("CTECH", "ff_general_incident_declared")
            .len(),
        1
    );
    assert!(
        t.fake.messages_in("CDEPLOY").is_empty(),
        "no freeze for a P2"
    );
    assert!(t.fake.channel("DUJANE").is_some(), "the commander got a DM");
    let events = t.app.store().incident_events(id).await.unwrap();
    assert!(events.iter().any(
        |e| matches!(&e.event, IncidentEvent::ChannelReady { channel: c } if c.id == channel.id)
    ));
    let timeline = t.timeline_text(id).await;
    assert!(
        timeline.contains("Invited 2") && timeline.contains("declared the incident"),
        "{timeline}"
    );

    // 4. `/incident update` in the channel opens the update menu of this incident.
    t.command("UJANE", &channel.id, "update").await;
    t.fake
        .wait_for("the update menu", |f| f.views("views.open").len() == 2)
        .await;
    assert_eq!(
        t.fake.views("views.open").pop().unwrap()["callback_id"],
        "incident_update"
    );
    // Its "Update status" button pushes the status modal, offering only allowed statuses.
    t.interaction(json!({
        "type": "block_actions", "user": {"id": "UJANE"}, "trigger_id": "t2",
        "actions": [{"action_id": "push_update_status", "block_id": "update_menu", "value": id.0.to_string()}],
        "view": {"id": "VMENU", "callback_id": "incident_update", "private_metadata": json!({"incident": id.0}).to_string()}
    }))
    .await;
    t.fake
        .wait_for("the status modal", |f| !f.views("views.push").is_empty())
        .await;
    let status_view_json = t.fake.views("views.push").pop().unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(status_view_json["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(shown["status"], "open");
    let status_view = status_view_json.to_string();
    assert!(
        status_view.contains("Investigating") && !status_view.contains("\"post_mortem\""),
        "{status_view}"
    );

    let meta = json!({"incident": id.0});
    let p2 = t.priority("P2").await;
    let p1 = t.priority("P1").await;
    let update = |status: &str, priority, message: &str| {
        vec![
            ("status", select(status)),
            ("priority", select(priority)),
            ("category", select(checkout)),
            ("message", text(message)),
        ]
    };
    let (_, a) = t
        .submit(
            "UJANE",
            "VS1",
            "incident_update_status",
            shown.clone(),
            update("investigating", p2, "Looking at the gateway logs"),
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    let updates = t
        .fake
        .messages_of_kind(&channel.id, "ff_incident_status_updated");
    assert_eq!(updates.len(), 1);
    assert!(
        updates[0]
            .blocks
            .to_string()
            .contains("Looking at the gateway logs")
    );

    // 5. Escalation to P1: announced, deployments frozen, the P1 group invited.
    let (_, a) = t
        .submit(
            "UJANE",
            "VS2",
            "incident_update_status",
            meta.clone(),
            update("mitigating", p1, "It hits every country"),
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    let general = t
        .fake
        .messages_of_kind("CTECH", "ff_general_incident_status_updated");
    assert_eq!(general.len(), 1);
    assert!(
        general[0].text.contains("escalated from P2 to P1"),
        "{}",
        general[0].text
    );
    assert_eq!(
        t.fake
            .messages_of_kind("CDEPLOY", "ff_deploy_warning")
            .len(),
        1
    );
    assert!(
        t.fake
            .channel(&channel.id)
            .unwrap()
            .members
            .contains("USRE"),
        "escalation brings the P1 group"
    );
    assert!(t.fake.channel(&channel.id).unwrap().topic.contains("P1"));

    // A message-only update is posted in the channel but not announced (quirk 7).
    let (_, a) = t
        .submit(
            "UJANE",
            "VS3",
            "incident_update_status",
            meta.clone(),
            update("mitigating", p1, "Rollback in progress"),
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    assert_eq!(
        t.fake
            .messages_of_kind("CTECH", "ff_general_incident_status_updated")
            .len(),
        1
    );
    assert_eq!(
        t.fake
            .messages_of_kind(&channel.id, "ff_incident_status_updated")
            .len(),
        3
    );

    // 6. Mitigated: announced, the freeze is lifted (replaced), key events and post-mortem steps posted.
    let (_, a) = t
        .submit(
            "UJANE",
            "VS4",
            "incident_update_status",
            meta.clone(),
            update("mitigated", p1, "Rolled back"),
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    let general = t
        .fake
        .messages_of_kind("CTECH", "ff_general_incident_status_updated");
    assert!(
        general.last().unwrap().text.contains("Mitigated"),
        "{general:?}"
    );
    assert!(
        t.fake
            .messages_of_kind("CDEPLOY", "ff_deploy_warning")
            .is_empty(),
        "the freeze message was replaced"
    );
    let lifted = t
        .fake
        .messages_of_kind("CDEPLOY", "ff_deploy_warning_lifted");
    assert_eq!(lifted.len(), 1);
    assert!(lifted[0].text.contains("resume"), "{}", lifted[0].text);
    assert_eq!(
        t.fake
            .messages_of_kind(&channel.id, "ff_incident_key_events_form")
            .len(),
        1
    );
    assert_eq!(
        t.fake
            .messages_of_kind(&channel.id, "ff_incident_postmortem_reminder")
            .len(),
        1
    );

    // Closing now is refused with the reasons on the field, nothing changes.
    let (_, a) = t
        .submit(
            "UJANE",
            "VS5",
            "incident_update_status",
            meta.clone(),
            update("closed", p1, "Done"),
        )
        .await;
    assert_eq!(a["response_action"], "errors", "{a}");
    assert!(
        a["errors"]["status"]
            .as_str()
            .unwrap()
            .contains("Post-mortem"),
        "{a}"
    );
    assert_eq!(t.app.incident(id).await.unwrap().status, Status::Mitigated);

    // 7. Key events from the form in the channel.
    for (slug, at) in [("started", 1_700_000_000i64), ("detected", 1_700_000_300)] {
        t.interaction(json!({
            "type": "block_actions", "user": {"id": "UJANE"},
            "channel": {"id": channel.id},
            "actions": [{"action_id": format!("key_event_{slug}"), "block_id": format!("key_event:{}:{slug}", id.0), "selected_date_time": at}],
        }))
        .await;
    }
    for _ in 0..200 {
        let d = t.app.incident_details(id).await.unwrap();
        if d.key_events.iter().any(|k| k.event_type == "started")
            && d.key_events.iter().any(|k| k.event_type == "detected")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    t.drain().await;
    let form = t
        .fake
        .messages_of_kind(&channel.id, "ff_incident_key_events_form");
    assert_eq!(form.len(), 1, "the form is updated in place");
    assert!(form[0].edits >= 1);

    // 8. Post-mortem: the status, then a backend announces its document.
    let (_, a) = t
        .submit(
            "UJANE",
            "VS6",
            "incident_update_status",
            meta.clone(),
            update("post_mortem", p1, "Writing it"),
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.app
        .publish(
            id,
            vec![IncidentEvent::PostMortemCreated {
                backend: "confluence".into(),
                url: "https://wiki/pm/1".into(),
            }],
            None,
        )
        .await
        .unwrap();
    t.drain().await;
    assert_eq!(
        t.fake
            .messages_of_kind(&channel.id, "ff_incident_postmortem_created")
            .len(),
        1
    );
    assert_eq!(
        t.fake
            .messages_of_kind("CTECH", "ff_incident_postmortem_created_announcement")
            .len(),
        1
    );
    let ch = t.fake.channel(&channel.id).unwrap();
    assert!(
        ch.bookmarks
            .iter()
            .any(|(title, link)| title.contains("confluence") && link == "https://wiki/pm/1")
    );
    assert_eq!(ch.pins.len(), 2);

    // 9. `/incident close` in the channel: the close form, then the archive.
    t.command("UJANE", &channel.id, "close").await;
    t.fake
        .wait_for("the close modal", |f| f.views("views.open").len() == 3)
        .await;
    let close = t.fake.views("views.open").pop().unwrap();
    assert_eq!(close["callback_id"], "incident_close");
    assert!(close.get("submit").is_some(), "closable: {close}");
    let (_, a) = t
        .submit(
            "UJANE",
            "VC",
            "incident_close",
            meta.clone(),
            vec![
                ("message", text("All good")),
                ("category", select(checkout)),
            ],
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    assert_eq!(t.app.incident(id).await.unwrap().status, Status::Closed);
    assert!(t.fake.channel(&channel.id).unwrap().archived);
    // The closing update reached the channel, before the archive.
    let calls = t.fake.calls();
    let closing = calls.iter().position(|c| {
        c.method == "chat.postMessage"
            && c.body["channel"] == channel.id.as_str()
            && c.body.to_string().contains("All good")
    });
    let archive = calls
        .iter()
        .position(|c| c.method == "conversations.archive");
    assert!(
        closing.is_some() && closing < archive,
        "closing update at {closing:?}, archive at {archive:?}"
    );
    assert!(
        t.fake
            .messages_in(&channel.id)
            .iter()
            .any(|m| m.text.contains("All good") || m.blocks.to_string().contains("All good")),
        "the closing update is in the channel"
    );
    let conversation = t.slack.store().incident_channel(id).await.unwrap().unwrap();
    assert_eq!(
        conversation.status,
        firefighter_slack::store::ConversationStatus::Archived
    );
    let _ = IncidentId(0);
}

/// Slack applied a post but its answer was lost (an error after the work was
/// done): the retried delivery finds the message by the key in its metadata
/// and does not post it again. Every message of the set-up is there once.
#[tokio::test]
async fn a_post_whose_answer_was_lost_is_not_posted_again() {
    use firefighter_core::store::DatabasePool;
    let t = env().await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.fake
        .lose_next_answer("chat.postMessage", "internal_error");
    t.submit("UJANE", "VLOST", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    let Some(DatabasePool::Sqlite(pool)) = t.app.store().database() else {
        panic!("the test runs on SQLite");
    };
    let retried: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        retried >= 1,
        "the delivery whose post lost its answer is retried"
    );
    sqlx::query("UPDATE outbox_deliveries SET next_attempt_at = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
        .execute(&pool)
        .await
        .unwrap();
    t.drain().await;

    let messages: Vec<_> = t
        .fake
        .state
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.user == crate::fake_slack::BOT && !m.deleted)
        .map(|m| (m.channel.clone(), m.kind.clone(), m.text.clone()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for m in &messages {
        assert!(seen.insert(m.clone()), "posted twice: {m:?}");
    }
    assert!(
        t.fake
            .calls()
            .iter()
            .any(|c| c.method == "conversations.history"),
        "the retry looked before posting"
    );
    assert_eq!(
        t.fake
            .messages_of_kind("CTECH", "ff_general_incident_declared")
            .len(),
        1
    );
}

/// A short incident whose channel set-up met a Slack failure, closed before
/// the retry: it is still announced in `tech_incidents` (its declaration and
/// its closing), and its channel is set up and archived, in that order.
#[tokio::test]
async fn an_incident_closed_before_its_set_up_finished_is_still_announced() {
    use firefighter_core::store::DatabasePool;
    let t = env().await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    t.fake.fail_next("conversations.create", "internal_error");
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VSHORT", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    let id = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()[0]
        .id;
    assert!(
        t.slack
            .store()
            .incident_channel(id)
            .await
            .unwrap()
            .is_none(),
        "the set-up failed once"
    );
    // Closed (a false alarm) before the set-up is tried again.
    t.app
        .update(
            id,
            firefighter_core::Update {
                status: Some(firefighter_core::Status::Closed),
                closure_reason: Some(firefighter_core::ClosureReason::FalsePositive),
                message: Some("A false alarm: the payment provider's test mode".into()),
                ..firefighter_core::Update::default()
            },
        )
        .await
        .unwrap();
    let Some(DatabasePool::Sqlite(pool)) = t.app.store().database() else {
        panic!("the test runs on SQLite");
    };
    sqlx::query("UPDATE outbox_deliveries SET next_attempt_at = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
        .execute(&pool)
        .await
        .unwrap();
    t.drain().await;

    let channel = t
        .slack
        .store()
        .incident_channel(id)
        .await
        .unwrap()
        .expect("a channel was set up");
    assert!(
        t.fake.channel(&channel.channel_id).unwrap().archived,
        "and archived"
    );
    let announced = t
        .fake
        .messages_of_kind("CTECH", "ff_general_incident_declared");
    assert_eq!(announced.len(), 1, "declared once in tech_incidents");
    let calls = t.fake.calls();
    let archive = calls
        .iter()
        .position(|c| c.method == "conversations.archive")
        .unwrap();
    let announce = calls
        .iter()
        .position(|c| {
            c.method == "chat.postMessage"
                && c.body.to_string().contains("ff_general_incident_declared")
        })
        .unwrap();
    assert!(announce < archive, "announced before the archive");
    // Its closing shows there too: the announcement follows the status.
    let shown = format!("{} {}", announced[0].text, announced[0].blocks);
    assert!(shown.contains("Closed"), "{shown}");
}

#[tokio::test]
async fn a_private_incident_never_gets_a_public_channel() {
    let t = env().await;
    t.workspace().await;
    let vuln = t.category("Vulnerability").await;
    let prd = t.env_id("PRD").await;
    t.fake
        .fail_next("conversations.create", "restricted_action");
    let values = vec![
        ("impact:business_impact", select("HT")),
        ("category", select(vuln)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Credentials leaked in a public repository")),
    ];
    let (_, a) = t
        .submit("UJANE", "VPRIV", "incident_open", json!({}), values)
        .await;
    assert_eq!(a["response_action"], "update", "{a}");
    t.drain().await;
    let id = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()[0]
        .id;
    assert!(t.app.incident(id).await.unwrap().private);
    assert!(
        t.slack
            .store()
            .incident_channel(id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(t.fake.count("conversations.create"), 1, "no public retry");
    assert!(
        t.timeline_text(id).await.contains("private channel"),
        "the failure is on the timeline"
    );
    assert!(
        t.fake
            .messages_of_kind("CTECH", "ff_general_incident_declared")
            .is_empty(),
        "private incidents are not announced"
    );
}

#[tokio::test]
async fn the_critical_path_is_three_round_trips_at_most() {
    // 150 ms a call, so incidental delays on a busy machine do not chain independent calls.
    let t = crate::support::env_delayed(std::time::Duration::from_millis(150)).await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let values = vec![
        ("impact:customers_impact", select("HT")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VCP", "incident_open", json!({}), values)
        .await;
    t.fake.clear_calls();
    t.drain().await;
    let calls = t.fake.calls();
    assert!(calls.iter().any(|c| c.method == "conversations.invite"));
    let depth = crate::fake_slack::sequential_depth(&calls);
    assert!(
        depth <= 3,
        "{depth} Slack calls one after another: {:?}",
        calls.iter().map(|c| &c.method).collect::<Vec<_>>()
    );
}
