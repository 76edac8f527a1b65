//! Core's notifier on Slack: a direct message to a person, posts in tagged
//! conversations; each once per key and recipient, across lost answers.

use std::sync::Arc;
use std::time::Duration;

use firefighter_core::notify::{Delivered, NotifyError};
use firefighter_core::{Email, NewUser, Notification, Notifier, User};
use firefighter_slack::{HttpSlackClient, Slack, SlackConfig};
use serde_json::json;

use crate::support::{SECRET, TestEnv, env};

/// The notifier the application was built with.
fn notifier(t: &TestEnv) -> Arc<dyn Notifier> {
    let n = t.app.notifier().expect("Slack is the notifier").clone();
    assert_eq!(n.name(), "slack");
    n
}

/// A firefighter user (created when new), as a caller hands it over.
async fn person(t: &TestEnv, email: &str) -> User {
    t.app
        .store()
        .user_by_email_or_create(&NewUser::person(Email::parse(email).unwrap()))
        .await
        .unwrap()
        .0
}

fn comment(key: &str) -> Notification {
    Notification::new(key, "New comment on INC-42")
        .paragraph("Ada: the fix is deployed, watching the error rate.")
        .field("Ticket", "INC-42")
        .field("Author", "Ada")
        .link("Open INC-42", "https://jira.example.com/browse/INC-42")
}

fn dms(t: &TestEnv, slack_id: &str) -> usize {
    t.fake
        .messages_of_kind(&format!("D{slack_id}"), "ff_notification")
        .len()
}

#[test]
fn slack_registers_itself_as_the_notifier() {
    assert!(firefighter_core::notify::registered_names().contains(&"slack"));
}

#[tokio::test]
async fn a_direct_message_is_sent_once_per_key_and_person() {
    let t = env().await;
    t.workspace().await;
    let n = notifier(&t);
    let jane = person(&t, "jane@example.com").await;
    let bob = person(&t, "bob@example.com").await;

    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:1")).await,
        Ok(Delivered::Sent)
    );
    let calls = t.fake.calls().len();
    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:1")).await,
        Ok(Delivered::AlreadySent)
    );
    assert_eq!(
        t.fake.calls().len(),
        calls,
        "a recorded notification costs no Slack call"
    );
    assert_eq!(dms(&t, "UJANE"), 1);

    // The same key to someone else, another key to the same person: both sent.
    assert_eq!(
        n.notify_user(&bob, &comment("jira:comment:1")).await,
        Ok(Delivered::Sent)
    );
    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:2")).await,
        Ok(Delivered::Sent)
    );
    assert_eq!((dms(&t, "UJANE"), dms(&t, "UBOB")), (2, 1));

    let m = &t.fake.messages_of_kind("DUJANE", "ff_notification")[0];
    let blocks = m.blocks.to_string();
    assert!(blocks.contains("*New comment on INC-42*"), "{blocks}");
    assert!(blocks.contains("the fix is deployed"), "{blocks}");
    assert!(blocks.contains("*Author*\\nAda"), "{blocks}");
    assert!(
        blocks.contains("https://jira.example.com/browse/INC-42"),
        "{blocks}"
    );
    assert_eq!(m.text, "New comment on INC-42");
}

/// Someone linked by nothing but their e-mail: looked up once, then linked.
#[tokio::test]
async fn a_person_unknown_to_slack_so_far_is_found_by_e_mail_once() {
    let t = env().await;
    t.workspace().await;
    t.fake.add_user("UNEW", "newcomer@example.com", "New Comer");
    let newcomer = person(&t, "newcomer@example.com").await;
    let n = notifier(&t);
    assert_eq!(
        n.notify_user(&newcomer, &comment("k1")).await,
        Ok(Delivered::Sent)
    );
    assert_eq!(
        n.notify_user(&newcomer, &comment("k2")).await,
        Ok(Delivered::Sent)
    );
    assert_eq!(t.fake.count("users.lookupByEmail"), 1);
    assert_eq!(dms(&t, "UNEW"), 2);
    let linked = t.app.store().user(newcomer.id).await.unwrap().unwrap();
    assert_eq!(linked.identity("slack"), Some("UNEW"));
}

/// Slack applied the post, but its answer was lost (an error after the
/// work, an answer that never comes before the timeout): the retry finds
/// the message by the key in its metadata and posts nothing.
#[tokio::test]
async fn a_direct_message_whose_answer_was_lost_is_not_sent_twice() {
    let t = env().await;
    t.workspace().await;
    let n = notifier(&t);
    let jane = person(&t, "jane@example.com").await;

    t.fake
        .lose_next_answer("chat.postMessage", "internal_error");
    let first = n.notify_user(&jane, &comment("jira:comment:7")).await;
    assert!(matches!(first, Err(NotifyError::Retry { .. })), "{first:?}");
    assert_eq!(dms(&t, "UJANE"), 1, "Slack did post it");
    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:7")).await,
        Ok(Delivered::AlreadySent)
    );
    assert!(
        t.fake.count("conversations.history") >= 1,
        "the retry looked before posting"
    );
    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:7")).await,
        Ok(Delivered::AlreadySent)
    );
    assert_eq!(dms(&t, "UJANE"), 1);

    // The answer that never comes: a client that gives up after 300 ms.
    let mut config = SlackConfig::new("xoxb-test", SECRET);
    config.api_url = t.fake.url.clone();
    let impatient = Arc::new(
        HttpSlackClient::with_base(&t.fake.url, "xoxb-test", Duration::from_millis(300)).unwrap(),
    );
    let slack = Slack::new(
        config,
        impatient,
        t.app.settings().clone(),
        t.app.store().clone(),
    )
    .unwrap();
    let n = slack.notifier();
    t.fake
        .stall_next_answer("chat.postMessage", Duration::from_secs(2));
    let first = n.notify_user(&jane, &comment("jira:comment:8")).await;
    assert!(matches!(first, Err(NotifyError::Retry { .. })), "{first:?}");
    assert_eq!(
        n.notify_user(&jane, &comment("jira:comment:8")).await,
        Ok(Delivered::AlreadySent)
    );
    assert_eq!(dms(&t, "UJANE"), 2, "one message per key");
}

#[tokio::test]
async fn people_slack_cannot_reach_are_unreachable_not_errors() {
    let t = env().await;
    t.workspace().await;
    let f = &t.fake;
    f.add_raw_user(
        json!({"id": "UGONE", "team_id": "T0FAKE", "name": "gone", "deleted": true, "is_bot": false,
        "profile": {"email": "gone@example.com"}}),
    );
    f.add_raw_user(json!({"id": "UROBOT", "team_id": "T0FAKE", "name": "robot", "deleted": false, "is_bot": true,
        "profile": {"email": "robot@example.com"}}));
    let n = notifier(&t);
    let posts = |t: &TestEnv| t.fake.count("chat.postMessage");
    let before = posts(&t);

    let unreachable = |r: Result<Delivered, NotifyError>, why: &str| match r {
        Ok(Delivered::Unreachable(m)) => assert!(m.contains(why), "{m}"),
        other => panic!("expected unreachable ({why}), got {other:?}"),
    };
    let ghost = person(&t, "ghost@example.com").await;
    unreachable(
        n.notify_user(&ghost, &comment("k")).await,
        "no Slack account",
    );
    let gone = person(&t, "gone@example.com").await;
    unreachable(n.notify_user(&gone, &comment("k")).await, "deactivated");
    let robot = person(&t, "robot@example.com").await;
    unreachable(n.notify_user(&robot, &comment("k")).await, "bot");
    let service = t
        .app
        .store()
        .user_by_email_or_create(&NewUser {
            bot: true,
            ..NewUser::person(Email::parse("jira-bot@example.com").unwrap())
        })
        .await
        .unwrap()
        .0;
    unreachable(
        n.notify_user(&service, &comment("k")).await,
        "service account",
    );
    // Linked, but Slack refuses the DM.
    let jane = person(&t, "jane@example.com").await;
    f.fail_next("conversations.open", "user_disabled");
    unreachable(n.notify_user(&jane, &comment("k")).await, "user_disabled");
    assert_eq!(posts(&t), before, "nothing was posted");

    // Unreachable is no delivery: once Slack lets it through, it is sent.
    assert_eq!(
        n.notify_user(&jane, &comment("k")).await,
        Ok(Delivered::Sent)
    );
}

#[tokio::test]
async fn slack_failures_ask_for_a_retry_or_refuse_and_record_nothing() {
    let t = env().await;
    t.workspace().await;
    let n = notifier(&t);
    let jane = person(&t, "jane@example.com").await;

    t.fake.http_fail_next("chat.postMessage", 429, Some(120));
    assert_eq!(
        n.notify_user(&jane, &comment("k")).await,
        Err(NotifyError::Retry {
            message: "Slack rate-limited chat.postMessage; retry after 120s".into(),
            retry_after: Some(Duration::from_secs(120)),
        })
    );
    t.fake.http_fail_next("chat.postMessage", 503, None);
    let r = n.notify_user(&jane, &comment("k")).await;
    assert!(
        matches!(
            r,
            Err(NotifyError::Retry {
                retry_after: None,
                ..
            })
        ),
        "{r:?}"
    );
    t.fake.fail_next("chat.postMessage", "token_revoked");
    let r = n.notify_user(&jane, &comment("k")).await;
    assert!(
        matches!(&r, Err(NotifyError::Failed(m)) if m.contains("token_revoked")),
        "{r:?}"
    );
    assert_eq!(dms(&t, "UJANE"), 0);
    assert_eq!(
        n.notify_user(&jane, &comment("k")).await,
        Ok(Delivered::Sent)
    );
    assert_eq!(dms(&t, "UJANE"), 1);

    // Bad input: refused before anything is looked up or sent.
    let calls = t.fake.calls().len();
    let r = n
        .notify_user(
            &jane,
            &Notification::new("k2", "Title").link("Open", "ftp://files"),
        )
        .await;
    assert!(
        matches!(&r, Err(NotifyError::Failed(m)) if m.contains("not an http(s) URL")),
        "{r:?}"
    );
    let r = n.notify_tagged("  ", &comment("k3")).await;
    assert!(
        matches!(&r, Err(NotifyError::Failed(m)) if m.contains("tag is empty")),
        "{r:?}"
    );
    assert_eq!(t.fake.calls().len(), calls);
}

#[tokio::test]
async fn text_is_escaped_so_nothing_becomes_markup() {
    let t = env().await;
    t.workspace().await;
    let jane = person(&t, "jane@example.com").await;
    let note = Notification::new("jira:comment:9", "<script>alert('x')</script> & more")
        .paragraph("Ping <!channel> and <@UBOB>, see <https://evil.example|here>")
        .field("Reporter", "Ada <ada@example.com>");
    assert_eq!(
        notifier(&t).notify_user(&jane, &note).await,
        Ok(Delivered::Sent)
    );
    let call = t
        .fake
        .calls()
        .into_iter()
        .rfind(|c| c.method == "chat.postMessage")
        .unwrap();
    let sent = format!("{}{}", call.body["text"], call.body["blocks"]);
    for raw in [
        "<script>",
        "<!channel>",
        "<@UBOB>",
        "<https://evil",
        "<ada@",
    ] {
        assert!(!sent.contains(raw), "{raw} reached Slack as markup: {sent}");
    }
    assert!(
        sent.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; more"),
        "{sent}"
    );
    assert!(sent.contains("&lt;!channel&gt;"), "{sent}");
}

/// Three conversations carry a tag containing `raid_alert__sbi_normal`: two
/// live, one archived; an incident's channel carries one too; `_` is no
/// wildcard. One post in each live one, however often it is asked, even
/// when the answer to one of the posts was lost.
#[tokio::test]
async fn tagged_conversations_get_one_post_each_and_archived_ones_none() {
    let t = env().await;
    t.workspace().await;
    let f = &t.fake;
    f.add_channel("CSBI", "raid-sbi", &[]);
    f.add_channel("CSBIFR", "raid-sbi-fr", &[]);
    f.add_channel("COLD", "raid-sbi-old", &[]);
    f.add_channel("CWILD", "raid-lookalike", &[]);
    f.state
        .lock()
        .unwrap()
        .channels
        .get_mut("COLD")
        .unwrap()
        .archived = true;
    for (c, tag) in [
        ("CSBI", "raid_alert__sbi_normal"),
        ("CSBIFR", "raid_alert__sbi_normal__fr"),
        ("COLD", "old_raid_alert__sbi_normal"),
        ("CWILD", "raid_alertX_sbi_normal"),
    ] {
        t.slack.add_conversation(c).await.unwrap();
        t.slack
            .store()
            .set_conversation_tag(c, Some(tag))
            .await
            .unwrap();
    }
    let (_, incident_channel) = crate::links::declared_p2(&t).await;
    t.slack
        .store()
        .set_conversation_tag(&incident_channel, Some("raid_alert__sbi_normal__incident"))
        .await
        .unwrap();
    let n = notifier(&t);
    let note = Notification::new("jira:issue:10042:created", "New ticket SBI-42")
        .field("Reporter", "Ada")
        .link("Open SBI-42", "https://jira.example.com/browse/SBI-42");
    let posts = |c: &str| t.fake.messages_of_kind(c, "ff_notification_tagged").len();

    // The first attempt: both posted, but one answer is lost on the way.
    f.lose_next_answer("chat.postMessage", "internal_error");
    let first = n.notify_tagged("raid_alert__sbi_normal", &note).await;
    assert!(matches!(first, Err(NotifyError::Retry { .. })), "{first:?}");
    assert_eq!((posts("CSBI"), posts("CSBIFR")), (1, 1));

    let mut second = n
        .notify_tagged("raid_alert__sbi_normal", &note)
        .await
        .unwrap();
    second.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(second.len(), 4, "{second:?}");
    assert_eq!(
        &second[..2],
        &[Delivered::AlreadySent, Delivered::AlreadySent],
        "the lost one is found, the other one recorded: {second:?}"
    );
    assert!(f.count("conversations.history") >= 1);
    let why: Vec<String> = second[2..]
        .iter()
        .map(|d| match d {
            Delivered::Unreachable(why) => why.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        why.iter().any(|w| w.contains("#raid-sbi-old is archived")),
        "{why:?}"
    );
    assert!(
        why.iter().any(|w| w.contains("an incident's channel")),
        "{why:?}"
    );

    let third = n
        .notify_tagged("raid_alert__sbi_normal", &note)
        .await
        .unwrap();
    assert_eq!(
        third
            .iter()
            .filter(|d| **d == Delivered::AlreadySent)
            .count(),
        2
    );
    assert_eq!((posts("CSBI"), posts("CSBIFR")), (1, 1));
    assert!(f.messages_in("COLD").is_empty());
    assert!(f.messages_in("CWILD").is_empty(), "`_` is no wildcard");
    assert!(
        f.messages_of_kind(&incident_channel, "ff_notification_tagged")
            .is_empty(),
        "never in an incident's channel"
    );
    assert_eq!(
        n.notify_tagged("raid_alert__nobody", &note).await,
        Ok(Vec::new())
    );
}

/// A conversation archived in Slack but not yet in our records: unreachable,
/// and recorded as archived so the next notification does not try it.
#[tokio::test]
async fn a_conversation_archived_behind_our_back_is_unreachable_then_skipped() {
    let t = env().await;
    t.workspace().await;
    t.fake.add_channel("CSBI", "raid-sbi", &[]);
    t.slack.add_conversation("CSBI").await.unwrap();
    t.slack
        .store()
        .set_conversation_tag("CSBI", Some("raid_alert__sbi_high"))
        .await
        .unwrap();
    t.fake
        .state
        .lock()
        .unwrap()
        .channels
        .get_mut("CSBI")
        .unwrap()
        .archived = true;
    let n = notifier(&t);
    let r = n
        .notify_tagged("raid_alert__sbi_high", &comment("a"))
        .await
        .unwrap();
    assert!(
        matches!(&r[..], [Delivered::Unreachable(why)] if why.contains("is_archived")),
        "{r:?}"
    );
    let posts = t.fake.count("chat.postMessage");
    let r = n
        .notify_tagged("raid_alert__sbi_high", &comment("b"))
        .await
        .unwrap();
    assert!(
        matches!(&r[..], [Delivered::Unreachable(why)] if why.contains("archived")),
        "{r:?}"
    );
    assert_eq!(t.fake.count("chat.postMessage"), posts, "not tried again");
}
