//! The other modals: roles, edit, status, SOS, post-mortem, downgrade, and
//! the incident picker outside incident channels.

use firefighter_core::{IncidentFilter, Status};
use serde_json::{Value, json};

use crate::support::{TestEnv, env, multi, select, text};

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

async fn open_view(t: &TestEnv, channel: &str, text: &str) -> Value {
    let before = t.fake.views("views.open").len();
    t.command("UJANE", channel, text).await;
    t.fake
        .wait_for("a modal", |f| f.views("views.open").len() > before)
        .await;
    t.fake.views("views.open").pop().unwrap()
}

#[tokio::test]
async fn roles_are_assigned_announced_and_the_new_holder_invited_and_told() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let v = open_view(&t, &channel, "update").await;
    assert_eq!(v["callback_id"], "incident_update");
    let meta = json!({"incident": id.0});
    let roles = vec![
        (
            "role:commander",
            json!({"type": "users_select", "selected_user": "UJANE"}),
        ),
        (
            "role:communication_lead",
            json!({"type": "users_select", "selected_user": "UDEV"}),
        ),
    ];
    let (_, a) = t
        .submit("UJANE", "VR", "incident_update_roles", meta, roles)
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    let details = t.app.incident_details(id).await.unwrap();
    assert!(details.roles.iter().any(|r| r.slug == "communication_lead"));
    assert_eq!(
        t.fake
            .messages_of_kind(&channel, "ff_incident_roles_updated")
            .len(),
        2
    );
    assert!(
        t.fake.channel(&channel).unwrap().members.contains("UDEV"),
        "the new role holder is invited"
    );
    assert!(
        t.fake
            .messages_in("DUDEV")
            .iter()
            .any(|m| m.text.contains("Communication Lead")),
        "and told by DM"
    );
    // Clearing the required commander is refused on its field.
    let (_, a) = t
        .submit(
            "UJANE",
            "VR2",
            "incident_update_roles",
            json!({"incident": id.0}),
            vec![(
                "role:communication_lead",
                json!({"type": "users_select", "selected_user": "UDEV"}),
            )],
        )
        .await;
    assert_eq!(a["response_action"], "errors", "{a}");
    assert!(
        a["errors"]["role:commander"]
            .as_str()
            .unwrap()
            .contains("required"),
        "{a}"
    );
}

#[tokio::test]
async fn edit_renames_the_channel_when_the_environments_change() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let v = open_view(&t, &channel, "edit").await;
    assert_eq!(v["callback_id"], "incident_edit");
    let (prd, stg) = (t.env_id("PRD").await, t.env_id("STG").await);
    let (_, a) = t
        .submit(
            "UJANE",
            "VE",
            "incident_edit",
            json!({"incident": id.0}),
            vec![
                (
                    "title",
                    text("Checkout fails for every card payment in the EU"),
                ),
                ("description", text("Cards from EU banks are refused.")),
                ("environments", multi(&[prd.to_string(), stg.to_string()])),
            ],
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    assert!(
        t.fake
            .channel(&channel)
            .unwrap()
            .name
            .ends_with("-prd-stg-checkout")
    );
    assert_eq!(
        t.slack
            .store()
            .conversation(&channel)
            .await
            .unwrap()
            .unwrap()
            .name,
        t.fake.channel(&channel).unwrap().name
    );
    assert_eq!(
        t.app.incident(id).await.unwrap().title,
        "Checkout fails for every card payment in the EU"
    );
}

#[tokio::test]
async fn status_postmortem_sos_and_oncall_modals_open() {
    let t = env().await;
    t.workspace().await;
    let (_, channel) = p2(&t).await;
    let v = open_view(&t, &channel, "status").await;
    assert_eq!(v["callback_id"], "incident_status");
    assert!(v.to_string().contains("Commander"), "{v}");
    let v = open_view(&t, &channel, "post mortem").await;
    assert_eq!(v["callback_id"], "incident_postmortem");
    // The built-in post-mortem is the backend: it comes with mitigation.
    assert!(v.to_string().contains("A post-mortem is required"), "{v}");
    let v = open_view(&t, &channel, "sos").await;
    assert!(v.to_string().contains("No SOS target"), "{v}");
    assert!(v.get("submit").is_none());
    let v = open_view(&t, &channel, "oncall").await;
    assert!(v.to_string().contains("No on-call integration"), "{v}");
}

#[tokio::test]
async fn outside_an_incident_channel_the_incident_is_chosen_first() {
    let t = env().await;
    t.workspace().await;
    let (id, _) = p2(&t).await;
    let v = open_view(&t, "CRANDOM", "close").await;
    assert_eq!(v["callback_id"], "incident_select");
    assert!(v.to_string().contains(&format!("{}: Checkout", id.0)));
    let meta: Value = serde_json::from_str(v["private_metadata"].as_str().unwrap()).unwrap();
    let (_, a) = t
        .submit(
            "UJANE",
            "VSEL",
            "incident_select",
            meta,
            vec![("incident", select(id.0))],
        )
        .await;
    assert_eq!(a["response_action"], "update");
    // An Open incident closes early: the closure-reason form.
    assert_eq!(a["view"]["callback_id"], "incident_closure_reason", "{a}");
}

#[tokio::test]
async fn downgrading_closes_the_incident_and_archives_its_channel() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    // Lowering the priority to P4 suggests the downgrade to the commander.
    let p4 = t.priority("P4").await;
    let checkout = t.category("Checkout").await;
    let (_, a) = t
        .submit(
            "UJANE",
            "VD1",
            "incident_update_status",
            json!({"incident": id.0}),
            vec![
                ("status", select("open")),
                ("priority", select(p4)),
                ("category", select(checkout)),
            ],
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    assert!(
        t.fake
            .ephemerals()
            .iter()
            .any(|(c, u, m)| c == &channel && u == "UJANE" && m.contains("may not need a channel"))
    );
    let v = open_view(&t, &channel, "downgrade").await;
    assert_eq!(v["callback_id"], "incident_downgrade");
    let (_, a) = t
        .submit(
            "UJANE",
            "VD2",
            "incident_downgrade",
            json!({"incident": id.0}),
            vec![],
        )
        .await;
    assert_eq!(a["response_action"], "clear", "{a}");
    t.drain().await;
    let i = t.app.incident(id).await.unwrap();
    assert_eq!(i.status, Status::Closed);
    assert!(i.ignore);
    assert!(t.fake.channel(&channel).unwrap().archived);
}

#[tokio::test]
async fn registrations_are_linked() {
    let names = firefighter_core::InviteRegistry::registered_names();
    assert!(
        names.contains(&"slack.category") && names.contains(&"slack.public_p1_usergroups"),
        "{names:?}"
    );
}

/// Waits until no submission is left to apply (clicks are applied after the acknowledgement).
async fn settled(t: &TestEnv) {
    t.slack.idle().await;
    t.drain().await;
}

#[tokio::test]
async fn the_post_mortem_recap_shows_each_document_and_creates_one_on_demand() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let by = t.app.incident(id).await.unwrap().created_by;
    let v = open_view(&t, &channel, "postmortem").await;
    assert!(
        v.to_string()
            .contains("It is created when the incident is mitigated"),
        "{v}"
    );
    assert!(
        !v.to_string().contains("create_postmortem"),
        "no button before Mitigated"
    );

    // Not needed once it is a P3: mitigating creates none, and the recap offers it.
    let p3 = t.priority("P3").await;
    t.app
        .update(
            id,
            firefighter_core::Update {
                by: Some(by),
                status: Some(Status::Mitigated),
                priority_id: Some(p3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.drain().await;
    assert!(t.app.postmortems(id).await.unwrap().is_empty());
    let v = open_view(&t, &channel, "postmortem").await;
    assert!(v.to_string().contains("create_postmortem"), "{v}");

    // The click: recorded, applied once however often it comes.
    let click = json!({
        "type": "block_actions", "user": {"id": "UJANE"}, "trigger_id": "t-pm",
        "channel": {"id": channel},
        "view": {"id": "VPM", "callback_id": "incident_postmortem", "private_metadata": json!({"incident": id.0}).to_string(), "state": {"values": {}}},
        "actions": [{"action_id": "create_postmortem", "block_id": "postmortem_actions", "value": id.0.to_string(), "type": "button"}],
    });
    for _ in 0..2 {
        let (status, _) = t.interaction(click.clone()).await;
        assert_eq!(status, 200);
    }
    settled(&t).await;
    let docs = t.app.postmortems(id).await.unwrap();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let posted = t
        .fake
        .messages_of_kind(&channel, "ff_incident_postmortem_created");
    assert_eq!(posted.len(), 1, "the link is posted once");
    let ch = t.fake.channel(&channel).unwrap();
    assert!(ch.pins.contains(&posted[0].ts), "and pinned");
    assert!(
        ch.bookmarks.iter().any(|(_, link)| *link == docs[0].url),
        "and bookmarked: {:?}",
        ch.bookmarks
    );
    let updated = t.fake.views("views.update");
    let recap = updated.last().expect("the recap is refreshed").to_string();
    assert!(
        recap.contains(&docs[0].url) && recap.contains("draft"),
        "{recap}"
    );
    assert!(
        !recap.contains("create_postmortem"),
        "nothing left to create"
    );
}

#[tokio::test]
async fn a_non_member_cannot_create_a_private_incident_s_post_mortem() {
    let t = env().await;
    t.workspace().await;
    let (id, _channel) = p2(&t).await;
    let by = t.app.incident(id).await.unwrap().created_by;
    t.app
        .update(
            id,
            firefighter_core::Update {
                by: Some(by),
                status: Some(Status::Mitigated),
                priority_id: Some(t.priority("P3").await),
                private: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.drain().await;
    let click = json!({
        "type": "block_actions", "user": {"id": "UBOB"}, "trigger_id": "t-pm",
        "view": {"id": "VBOB", "callback_id": "incident_postmortem", "private_metadata": json!({"incident": id.0}).to_string(), "state": {"values": {}}},
        "actions": [{"action_id": "create_postmortem", "block_id": "postmortem_actions", "value": id.0.to_string(), "type": "button"}],
    });
    let (status, _) = t.interaction(click.clone()).await;
    assert_eq!(status, 200);
    settled(&t).await;
    assert!(
        t.app.postmortems(id).await.unwrap().is_empty(),
        "nothing created"
    );
    let told = t
        .fake
        .views("views.update")
        .last()
        .cloned()
        .unwrap_or_default()
        .to_string();
    assert!(
        told.contains("Post-mortem not created") && told.contains(":x:"),
        "the person is told why: {told}"
    );
    // The same click by a member creates it.
    let mut by_member = click;
    by_member["user"]["id"] = json!("UJANE");
    t.interaction(by_member).await;
    settled(&t).await;
    assert_eq!(t.app.postmortems(id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_reopened_incident_gets_its_channel_back_and_the_reopening_posted_there() {
    reopen_after_close(false).await;
}

#[tokio::test]
async fn a_reopening_stands_when_slack_refuses_to_unarchive_the_channel() {
    reopen_after_close(true).await;
}

async fn reopen_after_close(unarchive_refused: bool) {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let by = t.app.incident(id).await.unwrap().created_by;
    let change = |status: Status, message: &str| firefighter_core::Update {
        by: Some(by),
        status: Some(status),
        message: Some(message.to_owned()),
        ..Default::default()
    };
    t.app
        .update(
            id,
            firefighter_core::Update {
                priority_id: Some(t.priority("P3").await),
                ..change(Status::Mitigated, "Rolled back")
            },
        )
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let mut key_events = std::collections::BTreeMap::new();
    key_events.insert("started".to_owned(), Some(now - chrono::Duration::hours(1)));
    key_events.insert(
        "detected".to_owned(),
        Some(now - chrono::Duration::minutes(50)),
    );
    t.app
        .set_key_events(id, Some(by), key_events)
        .await
        .unwrap();
    t.app
        .update(id, change(Status::Closed, "Fixed"))
        .await
        .unwrap();
    t.drain().await;
    assert!(t.fake.channel(&channel).unwrap().archived);

    if unarchive_refused {
        t.fake
            .fail_next("conversations.unarchive", "not_authorized");
    }
    t.app
        .update(
            id,
            change(Status::Investigating, "The errors are back since 14:05"),
        )
        .await
        .unwrap();
    t.drain().await;
    if unarchive_refused {
        // The reopening stands; nothing is left retrying or parked for it.
        assert_eq!(
            t.app.incident(id).await.unwrap().status,
            Status::Investigating
        );
        let failed = t
            .app
            .store()
            .list_deliveries(Some(firefighter_core::store::DeliveryStatus::Failed), 10)
            .await
            .unwrap();
        assert!(failed.is_empty(), "{failed:?}");
        assert!(t.fake.channel(&channel).unwrap().archived);
        assert_eq!(t.fake.count("conversations.unarchive"), 1);
        return;
    }
    assert!(!t.fake.channel(&channel).unwrap().archived, "unarchived");
    assert!(
        t.fake.messages_in(&channel).iter().any(|m| m
            .blocks
            .to_string()
            .contains("The errors are back since 14:05")
            || m.text.contains("The errors are back since 14:05")),
        "the reopening is posted in the channel"
    );
    assert_eq!(t.fake.count("conversations.unarchive"), 1);
}

#[tokio::test]
async fn an_integration_s_notice_is_posted_once_in_the_incident_channel() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = p2(&t).await;
    let text =
        "The Confluence post-mortem could not be created: the template page 123 does not exist.";
    t.app
        .publish(
            id,
            vec![firefighter_core::IncidentEvent::Notice { text: text.into() }],
            Some((text, None)),
        )
        .await
        .unwrap();
    t.drain().await;
    t.drain().await;
    let notices = t.fake.messages_of_kind(&channel, "ff_integration_notice");
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].blocks.to_string().contains("template page 123"),
        "{:?}",
        notices[0].blocks
    );
}
