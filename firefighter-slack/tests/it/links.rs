//! Documents integrations link to an incident (`LinkAdded`: a Jira ticket):
//! bookmarked once in its channel, shown in the pinned announcement, and
//! bookmarked at the set-up of a channel that came after them.

use firefighter_core::store::DatabasePool;
use firefighter_core::store::DeliveryStatus;
use firefighter_core::{Declaration, IncidentEvent, IncidentFilter, IncidentId, Status, Update};
use serde_json::json;

use crate::support::{TestEnv, env, multi, select, text};

const TICKET: &str = "https://jira.example.com/browse/INC-42";

/// A P2 in production declared from Slack: its id and channel.
pub(crate) async fn declared_p2(t: &TestEnv) -> (IncidentId, String) {
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(checkout)),
        ("environments", multi(&[prd.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VLINK", "incident_open", json!({}), values)
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
        .expect("a P2 has a channel")
        .channel_id;
    (id, channel)
}

/// What the Jira integration does once the incident's ticket exists.
async fn link_ticket(t: &TestEnv, id: IncidentId) {
    let mut fields = serde_json::Map::new();
    fields.insert("jira_ticket_key".into(), json!("INC-42"));
    fields.insert("jira_ticket_url".into(), json!(TICKET));
    t.app
        .set_custom_fields_and_publish(
            id,
            fields,
            "Jira ticket INC-42 created",
            vec![IncidentEvent::LinkAdded {
                title: "Jira ticket INC-42".into(),
                url: TICKET.into(),
            }],
        )
        .await
        .unwrap();
}

/// Delivers what is due, then what waits for a retry, as if its time came.
async fn drain_with_retries(t: &TestEnv) {
    t.drain().await;
    let Some(DatabasePool::Sqlite(pool)) = t.app.store().database() else {
        panic!("the test runs on SQLite");
    };
    sqlx::query("UPDATE outbox_deliveries SET next_attempt_at = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
        .execute(&pool)
        .await
        .unwrap();
    t.drain().await;
}

fn ticket_bookmarks(t: &TestEnv, channel: &str) -> usize {
    t.fake
        .channel(channel)
        .unwrap()
        .bookmarks
        .iter()
        .filter(|(_, link)| link == TICKET)
        .count()
}

fn announcement(t: &TestEnv, channel: &str) -> String {
    let declared = t.fake.messages_of_kind(channel, "ff_incident_declared");
    assert_eq!(declared.len(), 1, "one pinned announcement");
    declared[0].blocks.to_string()
}

async fn undelivered(t: &TestEnv) -> Vec<String> {
    t.app
        .store()
        .list_deliveries(None, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.status != DeliveryStatus::Delivered)
        .map(|d| format!("{} {:?} {:?}", d.event_kind, d.status, d.last_error))
        .collect()
}

/// The bookmark's answer is lost once: the retried delivery finds the
/// bookmark and adds none. The announcement lists the ticket, and still
/// does when later refreshed (it reads the link back from core's events).
#[tokio::test]
async fn a_linked_document_is_bookmarked_once_and_shown_in_the_announcement() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    assert!(!announcement(&t, &channel).contains(TICKET));

    t.fake.lose_next_answer("bookmarks.add", "internal_error");
    link_ticket(&t, id).await;
    drain_with_retries(&t).await;
    assert_eq!(ticket_bookmarks(&t, &channel), 1);
    assert!(
        t.fake.count("bookmarks.list") >= 1,
        "the retry looked at the bookmarks first"
    );
    let shown = announcement(&t, &channel);
    assert!(
        shown.contains(&format!("<{TICKET}|Jira ticket INC-42>")),
        "{shown}"
    );
    assert!(
        undelivered(&t).await.is_empty(),
        "{:?}",
        undelivered(&t).await
    );

    // The same link published again (another event): no second bookmark.
    t.app
        .publish(
            id,
            vec![IncidentEvent::LinkAdded {
                title: "Jira ticket INC-42".into(),
                url: TICKET.into(),
            }],
            None,
        )
        .await
        .unwrap();
    t.drain().await;
    assert_eq!(ticket_bookmarks(&t, &channel), 1);

    // A later refresh of the announcement (the priority changes) keeps it.
    t.app
        .update(
            id,
            Update {
                priority_id: Some(t.priority("P1").await),
                message: Some("Every country now".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    let edits = t.fake.messages_of_kind(&channel, "ff_incident_declared")[0].edits;
    t.drain().await;
    let declared = &t.fake.messages_of_kind(&channel, "ff_incident_declared")[0];
    assert!(declared.edits > edits, "the announcement was refreshed");
    assert!(declared.blocks.to_string().contains(TICKET));
    assert_eq!(ticket_bookmarks(&t, &channel), 1);
}

/// A P4 has no channel: its ticket's link waits, and is bookmarked and
/// shown once the escalation to P2 sets a channel up.
#[tokio::test]
async fn a_link_published_before_the_channel_exists_is_bookmarked_at_its_set_up() {
    let t = env().await;
    t.workspace().await;
    let jane = t.slack.user_for("UJANE").await.unwrap();
    let d = t
        .app
        .declare(Declaration {
            title: "Some sellers see an outdated invoice".into(),
            category_id: Some(t.category("Checkout").await),
            priority_id: Some(t.priority("P4").await),
            environment_ids: vec![t.env_id("PRD").await],
            created_by: Some(jane.id),
            ..Declaration::default()
        })
        .await
        .unwrap();
    let id = d.incident.id;
    t.drain().await;
    assert!(
        t.slack
            .store()
            .incident_channel(id)
            .await
            .unwrap()
            .is_none()
    );

    link_ticket(&t, id).await;
    t.drain().await;
    assert_eq!(
        t.fake.count("bookmarks.add"),
        0,
        "no channel to bookmark in"
    );
    assert!(
        undelivered(&t).await.is_empty(),
        "{:?}",
        undelivered(&t).await
    );

    t.app
        .update(
            id,
            Update {
                priority_id: Some(t.priority("P2").await),
                message: Some("Every seller is affected".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    drain_with_retries(&t).await;
    let channel = t
        .slack
        .store()
        .incident_channel(id)
        .await
        .unwrap()
        .expect("the escalation set a channel up")
        .channel_id;
    assert_eq!(ticket_bookmarks(&t, &channel), 1);
    let bookmarks = t.fake.channel(&channel).unwrap().bookmarks;
    assert!(
        bookmarks
            .iter()
            .any(|(title, link)| title == "Jira ticket INC-42" && link == TICKET),
        "{bookmarks:?}"
    );
    assert!(announcement(&t, &channel).contains(&format!("<{TICKET}|Jira ticket INC-42>")));
    assert!(
        undelivered(&t).await.is_empty(),
        "{:?}",
        undelivered(&t).await
    );
}

/// Once the channel is archived (the incident closed), a new link changes
/// nothing in Slack and the delivery ends: no error, no retry loop.
#[tokio::test]
async fn a_link_for_an_archived_channel_changes_nothing() {
    let t = env().await;
    t.workspace().await;
    let (id, channel) = declared_p2(&t).await;
    t.app
        .update(
            id,
            Update {
                status: Some(Status::Closed),
                closure_reason: Some(firefighter_core::ClosureReason::FalsePositive),
                message: Some("A false alarm".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    t.drain().await;
    assert!(t.fake.channel(&channel).unwrap().archived);

    t.fake.clear_calls();
    link_ticket(&t, id).await;
    drain_with_retries(&t).await;
    let calls: Vec<String> = t.fake.calls().into_iter().map(|c| c.method).collect();
    assert!(
        !calls
            .iter()
            .any(|m| m == "bookmarks.add" || m == "chat.update" || m == "chat.postMessage"),
        "{calls:?}"
    );
    assert!(
        undelivered(&t).await.is_empty(),
        "{:?}",
        undelivered(&t).await
    );
}
