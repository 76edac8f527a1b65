//! Events API: retries processed once, channel life, membership, `:mega:`, home tab.

use std::time::Duration;

use firefighter_core::IncidentFilter;
use serde_json::json;

use crate::support::{env, multi, select, text};

async fn declared_p2(t: &crate::support::TestEnv) -> (firefighter_core::IncidentId, String) {
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VEV", "incident_open", json!({}), values)
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

async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

#[tokio::test]
async fn mega_reactions_reach_the_timeline_once_even_with_retries() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    let ts = t.fake.messages_in(&channel)[0].ts.clone();
    let reaction = json!({"type": "reaction_added", "user": "UBOB", "reaction": "mega", "item": {"type": "message", "channel": channel, "ts": ts}});
    let (s, _) = t.event("Ev1", reaction.clone()).await;
    assert_eq!(s, 200);
    // Slack's retry of the same delivery.
    let (s, _) = t.event("Ev1", reaction.clone()).await;
    assert_eq!(s, 200);
    settle().await;
    let count = |tl: &[firefighter_core::TimelineEntry]| {
        tl.iter()
            .filter(|e| e.event_type.as_deref() == Some("slack_message"))
            .count()
    };
    assert_eq!(count(&t.app.timeline(id).await.unwrap()), 1);
    // Another reaction on the same message: refused, once per message.
    t.event("Ev2", reaction).await;
    settle().await;
    assert_eq!(count(&t.app.timeline(id).await.unwrap()), 1);
    assert!(
        t.fake
            .ephemerals()
            .iter()
            .any(|(_, u, m)| u == "UBOB" && m.contains("already"))
    );
    // The promoted message is not echoed back into the channel (quirk 7).
    t.drain().await;
    assert_eq!(
        t.fake
            .messages_of_kind(&channel, "ff_incident_status_updated")
            .len(),
        0
    );
}

#[tokio::test]
async fn channel_life_and_membership_are_kept_in_step() {
    let t = env().await;
    t.workspace().await;
    let s = t.slack.store();
    t.event("E1", json!({"type": "member_joined_channel", "user": "USRE", "channel": "CPAY", "channel_type": "G"})).await;
    settle().await;
    assert!(
        s.conversation_members("CPAY")
            .await
            .unwrap()
            .contains(&"USRE".to_owned())
    );
    assert_eq!(
        s.conversation("CPAY").await.unwrap().unwrap().kind,
        firefighter_slack::store::ConversationKind::Private
    );
    t.event("E2", json!({"type": "member_left_channel", "user": "UBOB", "channel": "CPAY", "channel_type": "G"})).await;
    t.event(
        "E3",
        json!({"type": "channel_rename", "channel": {"id": "CPAY", "name": "payments"}}),
    )
    .await;
    t.event(
        "E4",
        json!({"type": "channel_archive", "channel": "CDEPLOY", "user": "UJANE"}),
    )
    .await;
    t.event(
        "E5",
        json!({"type": "channel_shared", "channel": "CTECH", "connected_team_id": "T2"}),
    )
    .await;
    t.event("E6", json!({"type": "channel_id_changed", "old_channel_id": "CHELP", "new_channel_id": "CHELP2"})).await;
    settle().await;
    let pay = s.conversation("CPAY").await.unwrap().unwrap();
    assert_eq!(pay.name, "payments");
    assert!(
        !s.conversation_members("CPAY")
            .await
            .unwrap()
            .contains(&"UBOB".to_owned())
    );
    assert_eq!(
        s.conversation("CDEPLOY").await.unwrap().unwrap().status,
        firefighter_slack::store::ConversationStatus::Archived
    );
    assert!(s.conversation("CTECH").await.unwrap().unwrap().is_shared);
    assert_eq!(
        s.conversation_by_tag("dev_firefighter")
            .await
            .unwrap()
            .unwrap()
            .channel_id,
        "CHELP2"
    );
    t.event(
        "E7",
        json!({"type": "channel_unarchive", "channel": "CDEPLOY", "user": "UJANE"}),
    )
    .await;
    settle().await;
    assert_eq!(
        s.conversation("CDEPLOY").await.unwrap().unwrap().status,
        firefighter_slack::store::ConversationStatus::Opened
    );
}

#[tokio::test]
async fn the_home_tab_lists_active_incidents() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    t.event(
        "E8",
        json!({"type": "app_home_opened", "user": "UJANE", "tab": "home"}),
    )
    .await;
    t.fake
        .wait_for("the home tab", |f| !f.views("views.publish").is_empty())
        .await;
    let home = t.fake.views("views.publish").pop().unwrap().to_string();
    assert!(
        home.contains(&format!("<#{channel}>")) && home.contains("1 critical incident active"),
        "{home}"
    );
    assert!(home.contains(&format!("\"value\":\"{}\"", id.0)));
}

#[tokio::test]
async fn bot_topic_messages_are_cleaned_up() {
    let t = env().await;
    t.workspace().await;
    let (_, channel) = declared_p2(&t).await;
    let ts = t.fake.messages_in(&channel)[0].ts.clone();
    t.event("E9", json!({"type": "message", "subtype": "channel_topic", "channel": channel, "user": "UBOT", "ts": ts})).await;
    settle().await;
    assert_eq!(t.fake.count("chat.delete"), 1);
}

#[tokio::test]
async fn sos_posts_in_the_target_channel_and_on_the_timeline() {
    let t = env().await;
    t.workspace().await;
    let (id, _) = declared_p2(&t).await;
    let sos = t
        .slack
        .store()
        .add_sos("SRE", "CHELP", Some("S0SRE"))
        .await
        .unwrap();
    let (_, v) = t
        .submit(
            "UJANE",
            "VSOS",
            "incident_send_sos",
            json!({"incident": id.0}),
            vec![("sos", select(sos.id))],
        )
        .await;
    assert!(v.to_string().contains("SOS sent"), "{v}");
    let posted = t.fake.messages_of_kind("CHELP", "ff_sos");
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].text.contains("<!subteam^S0SRE>"),
        "a real mention: {}",
        posted[0].text
    );
    assert!(t.timeline_text(id).await.contains("Asked for help"));
}

#[tokio::test]
async fn update_reminders_come_once_per_quiet_period() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    // The next weekday at 10:00 UTC, hours after the last update.
    let at = {
        use chrono::{Datelike, TimeZone};
        let mut d = chrono::Utc::now().date_naive().succ_opt().unwrap();
        while d.weekday().number_from_monday() > 5 {
            d = d.succ_opt().unwrap();
        }
        chrono::Utc.from_utc_datetime(&d.and_hms_opt(10, 0, 0).unwrap())
    };
    assert!(crate::support::office(at));
    assert_eq!(t.slack.send_update_reminders(at).await.unwrap(), 1);
    assert_eq!(
        t.slack.send_update_reminders(at).await.unwrap(),
        0,
        "once per quiet period"
    );
    assert_eq!(
        t.fake
            .messages_of_kind(&channel, "ff_incident_update_reminder")
            .len(),
        1
    );
    let _ = id;
}

#[tokio::test]
async fn user_sync_links_and_creates_users() {
    let t = env().await;
    t.workspace().await;
    t.fake.add_user("UNEW", "new@example.com", "New Person");
    t.fake
        .add_raw_user(json!({"id": "UBOT2", "name": "bot", "is_bot": true, "profile": {}}));
    let r = t.slack.sync_users().await.unwrap();
    assert_eq!(r.created, 1, "{r:?}");
    assert_eq!(r.skipped, 1, "{r:?}");
    let u = t
        .app
        .store()
        .user_by_identity("slack", "UNEW")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.email, "new@example.com");
    assert_eq!(u.name, "New Person");
    let again = t.slack.sync_users().await.unwrap();
    assert_eq!(
        (again.created, again.linked, again.updated),
        (0, 0, 0),
        "{again:?}"
    );
    // Deactivated in Slack: kept, linked, no longer invitable.
    for u in t.fake.state.lock().unwrap().users.iter_mut() {
        if u["id"] == "UNEW" {
            u["deleted"] = serde_json::Value::Bool(true);
        }
    }
    let r = t.slack.sync_users().await.unwrap();
    assert_eq!(r.updated, 1, "{r:?}");
    assert!(
        !t.app
            .store()
            .user_by_identity("slack", "UNEW")
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
}

#[tokio::test]
async fn joining_and_leaving_an_incident_channel_changes_the_incident_members() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    let user = |slack_id: &'static str| {
        let store = t.app.store().clone();
        async move {
            store
                .user_by_identity(firefighter_slack::PLATFORM, slack_id)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let members = || async { t.app.incident_details(id).await.unwrap().members };
    let dev = user("UDEV").await;
    assert!(!members().await.contains(&dev));
    let entries = t.app.timeline(id).await.unwrap().len();
    t.event(
        "EJ1",
        json!({"type": "member_joined_channel", "user": "UDEV", "channel": channel, "channel_type": "G"}),
    )
    .await;
    settle().await;
    assert!(members().await.contains(&dev));
    t.event(
        "EL1",
        json!({"type": "member_left_channel", "user": "UDEV", "channel": channel, "channel_type": "G"}),
    )
    .await;
    settle().await;
    assert!(!members().await.contains(&dev));
    assert_eq!(
        t.app.timeline(id).await.unwrap().len(),
        entries,
        "membership leaves the timeline alone, as in FireFighter"
    );
    // A channel that is not an incident's changes no incident.
    let before = members().await;
    t.event(
        "EJ2",
        json!({"type": "member_joined_channel", "user": "UDEV", "channel": "CPAY", "channel_type": "G"}),
    )
    .await;
    settle().await;
    assert_eq!(members().await, before);
}

#[tokio::test]
async fn user_sync_links_existing_users_by_e_mail_in_one_batch_per_page() {
    let t = env().await;
    let carol = t
        .app
        .store()
        .create_user(&firefighter_core::NewUser::person(
            firefighter_core::Email::parse("carol@example.com").unwrap(),
        ))
        .await
        .unwrap();
    t.fake
        .add_user("UCAROL", "Carol@example.com", "Carol Slack");
    for n in 0..450 {
        t.fake.add_user(
            &format!("UP{n:04}"),
            &format!("p{n}@example.com"),
            &format!("Person {n}"),
        );
    }
    let r = t.slack.sync_users().await.unwrap();
    assert_eq!((r.read, r.pages), (451, 3), "{r:?}");
    assert_eq!((r.created, r.linked, r.updated), (450, 451, 1), "{r:?}");
    let linked = t
        .app
        .store()
        .user_by_identity("slack", "UCAROL")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.id, carol.id, "matched by e-mail, not created again");
    assert_eq!(linked.name, "Carol Slack");
    assert_eq!(t.app.store().list_users().await.unwrap().len(), 451);
    assert_eq!(t.slack.store().count_users().await.unwrap(), 451);
    let again = t.slack.sync_users().await.unwrap();
    assert_eq!((again.created, again.linked, again.updated), (0, 0, 0));
}

#[tokio::test]
async fn postmortem_reminders_follow_the_priority_times() {
    use firefighter_core::{Status, Update};
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    for status in [Status::Mitigating, Status::Mitigated] {
        t.app
            .update(
                id,
                Update {
                    status: Some(status),
                    ..Update::default()
                },
            )
            .await
            .unwrap();
    }
    t.drain().await;
    let now = chrono::Utc::now();
    let hours = |h: i64| now + chrono::Duration::hours(h);
    let sent_at = |h: i64| {
        let slack = t.slack.clone();
        async move { slack.send_postmortem_reminders(hours(h)).await.unwrap() }
    };
    // Five days by default, then once.
    assert_eq!(sent_at(2).await, 0, "too early");
    assert_eq!(sent_at(6 * 24).await, 1);
    assert_eq!(sent_at(7 * 24).await, 0, "once when no repeat is set");
    // The priority's own times: a repeat every day without progress.
    let catalog = t.app.catalog().await.unwrap();
    let incident = t.app.incident(id).await.unwrap();
    let mut p2 = catalog
        .priorities
        .iter()
        .find(|p| p.id == incident.priority_id)
        .unwrap()
        .clone();
    p2.postmortem_reminder_repeat_time = std::time::Duration::from_secs(24 * 3600);
    t.app.store().upsert_priority(&p2).await.unwrap();
    t.app.invalidate_catalog();
    assert_eq!(sent_at(9 * 24).await, 1, "repeated after a day");
    let reminders = t
        .fake
        .messages_of_kind(&channel, "ff_incident_postmortem_reminder_5days");
    assert_eq!(reminders.len(), 2);
    // They link the post-mortem (the built-in one, created at mitigation)...
    let url = t.app.postmortems(id).await.unwrap()[0].url.clone();
    assert!(
        reminders[1].blocks.to_string().contains(&url),
        "{:?}",
        reminders[1].blocks
    );
    let at_mitigation = t
        .fake
        .messages_of_kind(&channel, "ff_incident_postmortem_reminder");
    assert!(at_mitigation[0].blocks.to_string().contains(&url));
    // ...and stop once it is ready.
    t.app.mark_postmortem_ready(id, true, None).await.unwrap();
    assert_eq!(
        sent_at(11 * 24).await,
        0,
        "a ready post-mortem is not reminded"
    );
}

/// Counts the posts of one kind Slack received (not the messages left).
fn posts_of_kind(t: &crate::support::TestEnv, kind: &str) -> usize {
    t.fake
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.body["metadata"]["event_type"] == kind)
        .count()
}

#[tokio::test]
async fn mitigated_time_messages_come_once_even_when_an_earlier_change_is_delivered_late() {
    use firefighter_core::{Status, Update};
    let t = env().await;
    t.workspace().await;
    let (id, _channel) = declared_p2(&t).await;
    // Two status changes committed before any is delivered: the first one's
    // delivery sees the incident already Mitigated.
    for status in [Status::Mitigating, Status::Mitigated] {
        t.app
            .update(
                id,
                Update {
                    status: Some(status),
                    message: Some(format!("Now {status:?}")),
                    ..Update::default()
                },
            )
            .await
            .unwrap();
    }
    t.drain().await;
    assert_eq!(posts_of_kind(&t, "ff_incident_key_events_form"), 1);
    assert_eq!(
        posts_of_kind(&t, "ff_incident_postmortem_reminder")
            + posts_of_kind(&t, "ff_incident_fixed_next_actions"),
        1
    );
    // A later change of status does not post them again either.
    t.app
        .update(
            id,
            Update {
                status: Some(Status::PostMortem),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    t.drain().await;
    assert_eq!(posts_of_kind(&t, "ff_incident_key_events_form"), 1);
}
