//! Durable submissions: recorded before the acknowledgement, applied after
//! it, replayed after a crash exactly once, retried then parked on failure.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use firefighter_core::inbox::{InboxItem, NewInboxItem};
use firefighter_core::store::DatabasePool;
use firefighter_core::{IncidentFilter, IncidentId, Settings, Status};
use firefighter_slack::submissions::{MAX_ATTEMPTS, ReplayReport, kind};
use firefighter_slack::{HttpSlackClient, Slack, SlackConfig};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{SECRET, TestEnv, env, multi, select, text};

async fn declared_p2(t: &TestEnv) -> IncidentId {
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(t.category("Checkout").await)),
        ("environments", multi(&[t.env_id("PRD").await.to_string()])),
        ("title", text("Checkout fails for every card payment")),
    ];
    t.submit("UJANE", "VSUB", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    t.app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()[0]
        .id
}

/// A submission as the ingress records it, but whose lease already ran
/// out: the instance that recorded it stopped before applying it.
fn crashed(kind: &str, payload: Value) -> NewInboxItem {
    NewInboxItem {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        payload: payload.to_string(),
        actor: "UJANE".into(),
        claim_token: Uuid::new_v4(),
        claimed_until: Utc::now() - chrono::Duration::seconds(1),
        claim_owner: None,
    }
}

fn investigating(t: IncidentId, message: &str) -> Value {
    json!({"incident": t.0, "by": null, "message": message, "status": Status::Investigating,
           "priority_id": null, "category_id": null, "closure_reason": null, "closure_reference": null})
}

async fn row(t: &TestEnv, id: Uuid) -> InboxItem {
    t.slack.inbox().item(id).await.unwrap().unwrap()
}

/// Submissions not done yet (SQLite).
async fn unfinished(t: &TestEnv) -> i64 {
    match t.slack.store().pool() {
        DatabasePool::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")
                .fetch_one(p)
                .await
                .unwrap()
        }
        DatabasePool::Postgres(_) => unreachable!("SQLite here"),
    }
}

async fn sql(t: &TestEnv, statement: &str) {
    match t.slack.store().pool() {
        DatabasePool::Sqlite(p) => {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(p)
                .await
                .unwrap();
        }
        DatabasePool::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(p)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_status_update_is_recorded_then_applied_and_marked_done() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let meta = json!({"incident": id.0});
    let (status, answer) = t
        .submit(
            "UJANE",
            "VUP",
            "incident_update_status",
            meta,
            vec![
                ("status", select("investigating")),
                ("message", text("On it")),
            ],
        )
        .await;
    assert!(status.is_success(), "{answer}");
    assert_eq!(answer["response_action"], "clear");
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    // Both the declaration and the update went through the table, and are done.
    let rows = match t.slack.store().pool() {
        DatabasePool::Sqlite(p) => sqlx::query_as::<_, (String, Option<chrono::DateTime<Utc>>)>(
            "SELECT kind, done_at FROM inbox ORDER BY created_at",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        DatabasePool::Postgres(_) => unreachable!("SQLite here"),
    };
    let kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, vec![kind::DECLARE, kind::UPDATE]);
    assert!(rows.iter().all(|(_, done)| done.is_some()), "{rows:?}");
}

#[tokio::test]
async fn a_submission_recorded_but_not_applied_is_applied_once_by_the_replay() {
    replayed_once(env().await).await;
}

#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn a_submission_recorded_but_not_applied_is_applied_once_on_postgres() {
    replayed_once(crate::support::env_on_postgres().await).await;
}

async fn replayed_once(t: TestEnv) {
    t.workspace().await;
    let id = declared_p2(&t).await;
    let before = t.app.incident(id).await.unwrap();
    let entries = t.app.timeline(id).await.unwrap().len();
    let lost = crashed(kind::UPDATE, investigating(id, "Replayed after a crash"));
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();

    let report = t.slack.replay_submissions(Utc::now()).await.unwrap();
    assert_eq!(
        report,
        ReplayReport {
            done: 1,
            ..Default::default()
        }
    );
    let after = t.app.incident(id).await.unwrap();
    assert_eq!(after.status, Status::Investigating);
    assert_eq!(after.version, before.version + 1);
    assert_eq!(t.app.timeline(id).await.unwrap().len(), entries + 1);
    assert!(t.timeline_text(id).await.contains("Replayed after a crash"));
    let stored = row(&t, lost.id).await;
    assert!(stored.done_at.is_some());
    assert_eq!(
        stored.attempts, 2,
        "recorded with one attempt, replayed with a second"
    );
    // Nothing left to replay.
    assert_eq!(
        t.slack.replay_submissions(Utc::now()).await.unwrap(),
        ReplayReport::default()
    );
    assert_eq!(t.app.incident(id).await.unwrap().version, after.version);
}

#[tokio::test]
async fn a_lost_declaration_is_declared_once_by_the_replay() {
    let t = env().await;
    t.workspace().await;
    let checkout = t.category("Checkout").await;
    let prd = t.env_id("PRD").await;
    let jane = t
        .app
        .store()
        .user_by_identity(firefighter_slack::PLATFORM, "UJANE")
        .await
        .unwrap()
        .unwrap()
        .id;
    let work = json!({
        "title": "Search returns nothing", "description": "", "priority_id": t.priority("P3").await,
        "category_id": checkout, "environment_ids": [prd], "created_by": jane,
        "dedup_key": "slack-view:VLOST", "custom_fields": {}, "extras": {"source": "slack"},
        "view_id": "VLOST", "label": "P3", "critical": true
    });
    let a = crashed(kind::DECLARE, work.clone());
    let b = crashed(kind::DECLARE, work);
    t.slack.inbox().insert(&[a, b]).await.unwrap();
    let report = t.slack.replay_submissions(Utc::now()).await.unwrap();
    assert_eq!(report.done, 2);
    let incidents = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!(
        incidents.len(),
        1,
        "the view id makes the second one a repeat"
    );
    assert_eq!(incidents[0].title, "Search returns nothing");
}

#[tokio::test]
async fn a_replayed_update_applied_twice_changes_the_incident_once() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let entries = t.app.timeline(id).await.unwrap().len();
    let lost = crashed(
        kind::UPDATE,
        investigating(id, "Applied, then the instance died"),
    );
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();
    assert_eq!(
        t.slack.replay_submissions(Utc::now()).await.unwrap().done,
        1
    );
    let applied = t.app.incident(id).await.unwrap();
    // The instance stopped after the write but before marking the row done.
    sql(
        &t,
        "UPDATE inbox SET done_at = NULL, claimed_until = NULL WHERE kind = 'update'",
    )
    .await;
    assert_eq!(
        t.slack.replay_submissions(Utc::now()).await.unwrap().done,
        1
    );
    let again = t.app.incident(id).await.unwrap();
    assert_eq!(
        again.version, applied.version,
        "the second run changed nothing"
    );
    assert_eq!(t.app.timeline(id).await.unwrap().len(), entries + 1);
    assert_eq!(row(&t, lost.id).await.attempts, 3);
}

#[tokio::test]
async fn two_instances_never_lease_the_same_submission() {
    let t = env().await;
    // The replay the router starts with has nothing to do yet.
    t.slack.idle().await;
    let lost = crashed(kind::UPDATE, investigating(IncidentId(1), "x"));
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();
    let now = Utc::now();
    let lease = now + chrono::Duration::minutes(5);
    let (a, b) = tokio::join!(
        t.slack.inbox().claim_due(now, lease, 10),
        t.slack.inbox().claim_due(now, lease, 10),
    );
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1);
    // Still leased a minute later; free once the lease ran out.
    let later = now + chrono::Duration::minutes(1);
    assert!(
        t.slack
            .inbox()
            .claim_due(later, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = now + chrono::Duration::minutes(6);
    assert_eq!(
        t.slack
            .inbox()
            .claim_due(expired, expired, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_failing_write_is_retried_with_backoff_then_parked() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let before = t.app.incident(id).await.unwrap();
    // An instance whose application is not there: every write fails, and may succeed later.
    let mut config = SlackConfig::new("xoxb-test", SECRET);
    config.api_url = t.fake.url.clone();
    let api = Arc::new(
        HttpSlackClient::with_base(&t.fake.url, "xoxb-test", Duration::from_secs(5)).unwrap(),
    );
    let broken = Slack::new(
        config,
        api,
        Arc::new(Settings::default()),
        t.app.store().clone(),
    )
    .unwrap();
    let lost = crashed(kind::UPDATE, investigating(id, "Never applied"));
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();

    let mut now = Utc::now();
    let first = broken.replay_submissions(now).await.unwrap();
    assert_eq!(first.retried, 1);
    let stored = row(&t, lost.id).await;
    assert!(stored.claimed_until.is_none(), "the lease is given back");
    assert!(stored.next_attempt_at > now, "the next attempt waits");
    assert!(
        stored
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("not built"),
        "{stored:?}"
    );
    // Not due yet.
    assert_eq!(
        broken.replay_submissions(now).await.unwrap(),
        ReplayReport::default()
    );
    let mut parked = 0;
    for _ in 0..MAX_ATTEMPTS {
        now += chrono::Duration::hours(2);
        parked += broken.replay_submissions(now).await.unwrap().parked;
    }
    assert_eq!(parked, 1);
    let stored = row(&t, lost.id).await;
    assert!(stored.parked_at.is_some() && stored.done_at.is_none());
    assert_eq!(stored.attempts, MAX_ATTEMPTS);
    // Parked rows are visible, never replayed on their own, and the person was told.
    let listed = t.slack.inbox().parked(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, lost.id);
    now += chrono::Duration::days(1);
    assert_eq!(
        t.slack.replay_submissions(now).await.unwrap(),
        ReplayReport::default()
    );
    assert_eq!(t.app.incident(id).await.unwrap().version, before.version);
    let told = t
        .fake
        .ephemerals()
        .iter()
        .any(|(_, _, m)| m.contains("could not be applied"))
        || t.fake
            .calls()
            .iter()
            .any(|c| c.body.to_string().contains("could not be applied"));
    assert!(told, "the person hears about it");
    let office = t.slack.back_office().await.unwrap();
    assert_eq!(office.parked.len(), 1, "listed in the back-office");
    // Re-queued by a person, the working instance applies it.
    assert!(t.slack.inbox().requeue(lost.id).await.unwrap());
    assert_eq!(
        t.slack.replay_submissions(Utc::now()).await.unwrap().done,
        1
    );
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
}

#[tokio::test]
async fn a_submission_that_cannot_be_recorded_is_refused_on_the_form() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let before = t.app.incident(id).await.unwrap();
    sql(&t, "DROP TABLE inbox").await;
    let (status, answer) = t
        .submit(
            "UJANE",
            "VUP",
            "incident_update_status",
            json!({"incident": id.0}),
            vec![
                ("status", select("investigating")),
                ("message", text("On it")),
            ],
        )
        .await;
    assert!(status.is_success());
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(
        answer["errors"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be recorded")
    );
    assert_eq!(t.app.incident(id).await.unwrap().version, before.version);
    // A key event picker gets a 503: nothing recorded, nothing done.
    let (status, _) = t
        .interaction(json!({
            "type": "block_actions",
            "user": {"id": "UJANE"},
            "trigger_id": "t",
            "actions": [{"action_id": "key_event_detected", "block_id": format!("key_event:{}:detected", id.0),
                         "selected_date_time": Utc::now().timestamp() - 60}]
        }))
        .await;
    assert_eq!(status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(t.app.incident(id).await.unwrap().version, before.version);
}

#[tokio::test]
async fn an_event_taken_but_not_handled_is_handled_by_the_replay() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let channel = t
        .slack
        .store()
        .incident_channel(id)
        .await
        .unwrap()
        .unwrap()
        .channel_id;
    let dev = t
        .app
        .store()
        .user_by_identity(firefighter_slack::PLATFORM, "UDEV")
        .await
        .unwrap()
        .unwrap()
        .id;
    let lost = crashed(
        kind::EVENT,
        json!({"type": "member_joined_channel", "user": "UDEV", "channel": channel, "channel_type": "G"}),
    );
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();
    assert_eq!(
        t.slack.replay_submissions(Utc::now()).await.unwrap().done,
        1
    );
    assert!(
        t.app
            .incident_details(id)
            .await
            .unwrap()
            .members
            .contains(&dev)
    );
}

#[tokio::test]
async fn an_event_that_cannot_be_recorded_is_refused_and_its_retry_accepted() {
    let t = env().await;
    t.workspace().await;
    let event = json!({"type": "channel_rename", "channel": {"id": "CPAY", "name": "payments"}});
    sql(&t, "ALTER TABLE inbox RENAME TO inbox_away").await;
    let (status, _) = t.event("EREC1", event.clone()).await;
    assert_eq!(status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    let name = |t: &TestEnv| {
        let store = t.slack.store().clone();
        async move { store.conversation("CPAY").await.unwrap().unwrap().name }
    };
    assert_eq!(name(&t).await, "payments-team", "nothing done");
    sql(&t, "ALTER TABLE inbox_away RENAME TO inbox").await;
    // Slack's retry carries the same event id: it is taken this time.
    let (status, _) = t.event("EREC1", event).await;
    assert!(status.is_success());
    assert_eq!(name(&t).await, "payments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_on_a_sqlite_file_are_all_recorded_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::support::env_on_file(&dir.path().join("ff.db")).await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let entries = t.app.timeline(id).await.unwrap().len();
    let answers = futures::future::join_all((0..100).map(|i| {
        t.submit(
            "UJANE",
            "VCONC",
            "incident_update_status",
            json!({"incident": id.0}),
            vec![("message", text(&format!("Still looking ({i})")))],
        )
    }))
    .await;
    for (status, answer) in answers {
        assert!(status.is_success());
        assert_eq!(answer["response_action"], "clear", "{answer}");
    }
    t.slack.idle().await;
    assert_eq!(t.app.timeline(id).await.unwrap().len(), entries + 100);
    assert_eq!(unfinished(&t).await, 0);
}

/// The journal beside a SQLite file database.
fn journal_of(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-slack-submissions");
    name.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file_a_submission_is_acknowledged_while_the_table_refuses_it_and_applied_once_it_accepts()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ff.db");
    let t = crate::support::env_on_file(&db).await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    sql(&t, "ALTER TABLE inbox RENAME TO inbox_away").await;
    let submitted = t.submit(
        "UJANE",
        "VJOURNAL",
        "incident_update_status",
        json!({"incident": id.0}),
        vec![
            ("status", select("investigating")),
            ("message", text("On it")),
        ],
    );
    // While the table is away: durable in the journal, not applied.
    let table_back = async {
        let mut journal = String::new();
        for _ in 0..100 {
            journal = std::fs::read_to_string(journal_of(&db)).unwrap_or_default();
            if journal.contains("On it") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(journal.contains("On it"), "{journal}");
        assert_eq!(t.app.incident(id).await.unwrap().status, Status::Open);
        sql(&t, "ALTER TABLE inbox_away RENAME TO inbox").await;
    };
    // `submit` returns once the work after the acknowledgement is done.
    let ((status, answer), ()) = tokio::join!(submitted, table_back);
    assert!(status.is_success());
    assert_eq!(answer["response_action"], "clear", "{answer}");
    t.slack.idle().await;
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    assert_eq!(std::fs::metadata(journal_of(&db)).unwrap().len(), 0);
    assert_eq!(unfinished(&t).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file_what_a_stopped_process_left_in_the_journal_is_applied_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ff.db");
    let t = crate::support::env_on_file(&db).await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    t.slack.idle().await;
    // What the stopped process left: its database (a consistent copy)...
    let db = dir.path().join("left.db");
    sql(&t, &format!("VACUUM INTO '{}'", db.display())).await;
    drop(t);
    // ... and its journal: an update it had acknowledged, still leased to
    // it, not yet in the table, and a second line cut short by the stop.
    let journal = journal_of(&db);
    let mut left = crashed(kind::UPDATE, investigating(id, "Written before the crash"));
    left.claimed_until = Utc::now() + chrono::Duration::minutes(5);
    let mut bytes = serde_json::to_vec(&left).unwrap();
    bytes.extend_from_slice(b"\n{\"id\":\"");
    std::fs::write(&journal, &bytes).unwrap();

    let t = crate::support::env_on_file(&db).await;
    // The routes replay at start; the replay task may run too: once either way.
    t.slack.idle().await;
    t.slack.replay_submissions(Utc::now()).await.unwrap();
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    assert_eq!(
        t.timeline_text(id)
            .await
            .matches("Written before the crash")
            .count(),
        1
    );
    assert!(row(&t, left.id).await.done_at.is_some());
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
}

#[tokio::test]
async fn every_slack_of_one_process_shares_the_journal_of_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ff.db");
    let t = crate::support::env_on_file(&db).await;
    assert!(t.slack.journaled().await.unwrap());
    // A second `Slack` on the same file, as each task and the event handler
    // of one process build: it shares the journal instead of finding it
    // locked (and recording around it, with a warning, every minute).
    let config = {
        let mut c = firefighter_slack::SlackConfig::new("xoxb-test", "secret");
        c.api_url = t.fake.url.clone();
        c
    };
    let api = std::sync::Arc::new(
        firefighter_slack::HttpSlackClient::with_base(
            &t.fake.url,
            "xoxb-test",
            std::time::Duration::from_secs(5),
        )
        .unwrap(),
    );
    let second =
        firefighter_slack::Slack::new(config, api, t.app.settings().clone(), t.app.store().clone())
            .unwrap();
    assert!(
        second.journaled().await.unwrap(),
        "the second Slack of the process records around the journal"
    );
}

/// `kill -9` right after the acknowledgement: the submission is leased for
/// minutes to the dead instance, yet applied as soon as its heartbeat has
/// been silent long enough, not when the lease ends.
#[tokio::test]
async fn a_submission_of_a_crashed_instance_is_applied_without_waiting_for_its_lease() {
    let t = env().await;
    t.workspace().await;
    let id = declared_p2(&t).await;
    let store = t.app.store().clone();
    let now = Utc::now();
    store
        .instance_alive("instance-killed", now, now - chrono::Duration::seconds(2))
        .await
        .unwrap();
    let lost = NewInboxItem {
        claimed_until: now + chrono::Duration::minutes(4),
        claim_owner: Some("instance-killed".into()),
        ..crashed(kind::UPDATE, investigating(id, "Applied after the crash"))
    };
    t.slack
        .inbox()
        .insert(std::slice::from_ref(&lost))
        .await
        .unwrap();
    // Its last beat is 2 s old: it may be alive, so its lease holds.
    assert_eq!(
        t.slack.replay_submissions(now).await.unwrap(),
        ReplayReport::default()
    );
    // 20 s of silence later it is presumed dead: applied, once.
    let later = now + chrono::Duration::seconds(20);
    assert_eq!(t.slack.replay_submissions(later).await.unwrap().done, 1);
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    assert!(row(&t, lost.id).await.done_at.is_some());
    assert_eq!(
        t.slack.replay_submissions(later).await.unwrap(),
        ReplayReport::default()
    );
}
