//! The two-way sync end to end against a stateful fake Jira that sends its
//! webhooks back to firefighter's routes, as Jira does: core's outbox
//! pushes the incident's status and priority to the ticket through the
//! workflow's shortest path; Jira's echoes (authored by the API account, or
//! by an automation after a push of ours) change nothing; a person's change
//! in Jira reaches the incident through the lifecycle, with its guards;
//! redelivered and badly signed webhooks are not applied; watchers hear of
//! comments. Every Jira write and timeline entry is counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::notify::{Delivered, Notification, Notifier, NotifyError};
use firefighter_core::outbox::{Dispatcher, DispatcherConfig};
use firefighter_core::{
    Declaration, Email, Firefighter, IncidentId, NewUser, Settings, Status, Store, Update, User,
};
use firefighter_jira::ledger::SyncLedger;
use firefighter_jira::tickets::TicketHandler;
use firefighter_jira::users::{JiraUserStore, migrate};
use firefighter_jira::webhooks::{COMMENT_PATH, UPDATE_PATH, Webhooks, routes, sign};
use firefighter_jira::{JiraClient, JiraConfig, RetryPolicy};
use serde_json::{Value, json};

const SECRET: &str = "hook-secret";
const SERVICE: &str = "557058:service-account";

#[path = "fake_jira/mod.rs"]
mod fake_jira;

use fake_jira::{API_ACCOUNT, Issue, Jira, Shared, fake_jira, serve, update_hook};

// ------------------------------------------------------------------ a notifier that records

#[derive(Debug, Default)]
struct Told(Mutex<Vec<(String, String)>>);

#[derive(Debug)]
struct RecordingNotifier(Arc<Told>);

#[async_trait]
impl Notifier for RecordingNotifier {
    fn name(&self) -> &str {
        "recording"
    }
    async fn notify_user(
        &self,
        user: &User,
        note: &Notification,
    ) -> Result<Delivered, NotifyError> {
        let mut told = self.0.0.lock().unwrap();
        let entry = (user.email.clone(), note.key.clone());
        if told.contains(&entry) {
            return Ok(Delivered::AlreadySent);
        }
        told.push(entry);
        Ok(Delivered::Sent)
    }
    async fn notify_tagged(
        &self,
        _: &str,
        _: &Notification,
    ) -> Result<Vec<Delivered>, NotifyError> {
        Ok(Vec::new())
    }
}

// ------------------------------------------------------------------ the world

struct World {
    app: Firefighter,
    jira: Shared,
    jira_url: String,
    hooks: String,
    dispatcher: Dispatcher,
    told: Arc<Told>,
    http: reqwest::Client,
    jane: User,
}

async fn world() -> World {
    let file = std::env::temp_dir().join(format!(
        "ff-jira-sync-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .await
        .unwrap(),
    );
    world_on(store).await
}

/// One firefighter instance: the application with Jira's handler, its
/// webhook routes and its dispatcher.
struct Instance {
    app: Firefighter,
    hooks: String,
    dispatcher: Dispatcher,
}

async fn instance(store: Arc<dyn Store>, jira_url: &str, told: Arc<Told>) -> Instance {
    let mut config = JiraConfig::new(jira_url, "bot@example.com", "token", "INC", SERVICE);
    config.webhook_secret = Some(SECRET.to_owned().into());
    config.watcher_exclusions = vec!["excluded@example.com".into()];
    let client = JiraClient::new(&config).unwrap().with_retry(RetryPolicy {
        max_attempts: 2,
        min_delay: Duration::from_millis(5),
        max_wait: Duration::from_secs(2),
    });
    let handle = firefighter_core::plugin::AppHandle::default();
    let handler = TicketHandler::new(
        client.clone(),
        config.clone(),
        JiraUserStore::of(store.as_ref()).unwrap(),
        SyncLedger::of(store.as_ref()).unwrap(),
        handle.clone(),
    );
    let app = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    })
    .store(store.clone())
    .with_registered_plugins(false)
    .event_handler(Arc::new(handler))
    .notifier(Arc::new(RecordingNotifier(told)))
    .build()
    .await
    .unwrap();
    handle.set(&app);
    let webhooks = Webhooks::with_client(app.handle(), store, config, client).unwrap();
    let hooks = serve(routes(webhooks)).await;
    let dispatcher = Dispatcher::new(
        app.store().clone(),
        app.event_handlers(),
        DispatcherConfig {
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..Default::default()
        },
        app.outbox_signal(),
    );
    Instance {
        app,
        hooks,
        dispatcher,
    }
}

async fn world_on(store: Arc<dyn Store>) -> World {
    migrate(store.database().unwrap()).await.unwrap();
    let jira: Shared = Arc::new(Mutex::new(Jira {
        author: API_ACCOUNT.into(),
        ..Jira::default()
    }));
    let jira_url = fake_jira(jira.clone()).await;
    let told = Arc::new(Told::default());
    let Instance {
        app,
        hooks,
        dispatcher,
    } = instance(store, &jira_url, told.clone()).await;
    jira.lock().unwrap().hooks = Some(hooks.clone());
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@example.com").unwrap()))
        .await
        .unwrap();
    World {
        app,
        jira,
        jira_url,
        hooks,
        dispatcher,
        told,
        http: reqwest::Client::new(),
        jane,
    }
}

impl World {
    async fn declare(&self, priority: &str) -> IncidentId {
        let catalog = self.app.catalog().await.unwrap();
        let pick = |name: &str| {
            catalog
                .priorities
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .id
        };
        self.app
            .declare(Declaration {
                title: "Checkout fails".into(),
                description: "Customers get an error page.".into(),
                priority_id: Some(pick(priority)),
                category_id: catalog.categories.first().map(|c| c.id),
                environment_ids: vec![
                    catalog
                        .environments
                        .iter()
                        .find(|e| e.value == "PRD")
                        .unwrap()
                        .id,
                ],
                created_by: Some(self.jane.id),
                ..Declaration::default()
            })
            .await
            .unwrap()
            .incident
            .id
    }

    /// Delivers the outbox and Jira's webhooks until both are quiet.
    async fn settle(&self) {
        for _ in 0..50 {
            let pass = self.dispatcher.run_once().await.unwrap();
            assert_eq!(pass.parked, 0, "{pass:?}");
            let outgoing = std::mem::take(&mut self.jira.lock().unwrap().outgoing);
            for (url, body) in &outgoing {
                let status = self.send(url, body, None).await;
                assert_eq!(status, 200, "a webhook was refused");
                self.jira.lock().unwrap().sent += 1;
            }
            // The webhook is applied right after its answer.
            tokio::time::sleep(Duration::from_millis(60)).await;
            if pass.claimed == 0
                && outgoing.is_empty()
                && self.dispatcher.run_once().await.unwrap().claimed == 0
            {
                return;
            }
        }
        panic!("the outbox and the webhooks did not settle");
    }

    async fn send(&self, url: &str, body: &Value, identifier: Option<&str>) -> u16 {
        let raw = serde_json::to_vec(body).unwrap();
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature", sign(SECRET, &raw))
            .body(raw);
        if let Some(id) = identifier {
            request = request.header("x-atlassian-webhook-identifier", id);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// A person changes the ticket in Jira.
    async fn human_moves(&self, key: &str, from: &str, to: &str, identifier: &str) {
        {
            let mut j = self.jira.lock().unwrap();
            j.issues.iter_mut().find(|i| i.key == key).unwrap().status = to.into();
        }
        let items =
            json!([{ "field": "status", "fieldId": "status", "fromString": from, "toString": to }]);
        let hook = update_hook(key, "557058:ada", items);
        assert_eq!(
            self.send(
                &format!("{}{UPDATE_PATH}", self.hooks),
                &hook,
                Some(identifier)
            )
            .await,
            200
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fn writes(&self) -> Vec<String> {
        self.jira.lock().unwrap().writes.clone()
    }

    fn ticket(&self, key: &str) -> Issue {
        self.jira
            .lock()
            .unwrap()
            .issues
            .iter()
            .find(|i| i.key == key)
            .unwrap()
            .clone()
    }

    async fn entries(&self, id: IncidentId, event_type: &str) -> usize {
        self.app
            .store()
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type.as_deref() == Some(event_type))
            .count()
    }

    async fn status(&self, id: IncidentId) -> Status {
        self.app.incident(id).await.unwrap().status
    }

    async fn inbox_rows(&self) -> i64 {
        let pool = self.app.store().database().unwrap();
        firefighter_core::on_pool!(&pool, p => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM inbox WHERE source = 'jira'")
                .fetch_one(p)
                .await
                .unwrap()
        })
    }
}

// ------------------------------------------------------------------ the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_priority_go_both_ways_without_a_loop() {
    let w = world().await;
    let id = w.declare("P3").await;
    w.settle().await;
    // The ticket, reported and watched by the default account (no Jira
    // account for jane), linked to the incident.
    let ticket = w.ticket("INC-1");
    assert_eq!(ticket.labels, [format!("ff-incident-{}", id.0)]);
    assert_eq!(ticket.watchers, [SERVICE]);
    assert_eq!(ticket.links, [format!("firefighter-incident-{}", id.0)]);
    assert_eq!(w.writes(), ["create", "watch", "link"]);

    // Investigating: the shortest path (not through Closed), two transitions;
    // their two webhooks, authored by the API account, change nothing.
    w.app
        .update(
            id,
            Update {
                status: Some(Status::Investigating),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.ticket("INC-1").status, "in progress");
    assert_eq!(
        w.writes()[3..],
        ["transition Pending resolution", "transition in progress"]
    );
    assert_eq!(w.jira.lock().unwrap().sent, 2);
    assert_eq!(w.status(id).await, Status::Investigating);
    assert_eq!(w.entries(id, "jira_status_sync").await, 0);

    // An automation echoes our priority push under its own account: the
    // marker recognises it, and is used up.
    w.jira.lock().unwrap().author = "557058:automation".into();
    let catalog = w.app.catalog().await.unwrap();
    let p2 = catalog
        .priorities
        .iter()
        .find(|p| p.name == "P2")
        .unwrap()
        .id;
    w.app
        .update(
            id,
            Update {
                priority_id: Some(p2),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(
        w.ticket("INC-1").fields["customfield_11064"],
        json!({ "value": "2" })
    );
    assert_eq!(w.writes().last().unwrap(), "put customfield_11064");
    assert_eq!(w.entries(id, "jira_priority_sync").await, 0);
    assert!(
        SyncLedger::of(w.app.store().as_ref())
            .unwrap()
            .markers(id)
            .await
            .unwrap()
            .is_empty()
    );
    let writes_before = w.writes().len();

    // A person moves the ticket to Reporter validation: the incident is
    // Mitigated, once, and nothing is pushed back.
    w.human_moves("INC-1", "in progress", "Reporter validation", "hook-1")
        .await;
    w.settle().await;
    assert_eq!(w.status(id).await, Status::Mitigated);
    assert_eq!(w.entries(id, "jira_status_sync").await, 1);
    assert_eq!(w.writes().len(), writes_before, "{:?}", w.writes());
    // Jira delivers the same webhook again: applied once.
    let again = update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "in progress", "toString": "Reporter validation" }]),
    );
    w.app
        .update(
            id,
            Update {
                status: Some(Status::Mitigating),
                message: Some("Not fixed after all".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.ticket("INC-1").status, "in progress");
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &again, Some("hook-1"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.settle().await;
    assert_eq!(
        w.status(id).await,
        Status::Mitigating,
        "a redelivered webhook is not applied again"
    );
    assert_eq!(w.entries(id, "jira_status_sync").await, 1);

    // Closed by an automation from a status of its own: ignored.
    w.human_moves("INC-1", "Code Review", "Closed", "hook-2")
        .await;
    assert_eq!(w.status(id).await, Status::Mitigating);
    // Closed from a mapped status while the incident cannot close (not
    // mitigated): refused, and said on the timeline and to the responders.
    w.human_moves("INC-1", "in progress", "Closed", "hook-3")
        .await;
    w.settle().await;
    assert_eq!(w.status(id).await, Status::Mitigating);
    let timeline = w.app.store().timeline(id).await.unwrap();
    assert!(
        timeline.iter().any(|e| e
            .message
            .as_deref()
            .is_some_and(|m| m.contains("could not be closed"))),
        "{timeline:#?}"
    );

    // Jira's own priority field and Story Points are not the incident's priority.
    let hook = update_hook(
        "INC-1",
        "557058:ada",
        json!([
            { "field": "priority", "fieldId": "priority", "fromString": "Medium", "toString": "Highest" },
            { "field": "Story Points", "fieldId": "customfield_10016", "fromString": "1", "toString": "2" }
        ]),
    );
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &hook, Some("hook-4"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.app.incident(id).await.unwrap().priority_id, p2);
    // The configured field is.
    let hook = update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "Priority", "fieldId": "customfield_11064", "fromString": "2", "toString": "4" }]),
    );
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &hook, Some("hook-5"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.settle().await;
    let p4 = catalog
        .priorities
        .iter()
        .find(|p| p.name == "P4")
        .unwrap()
        .id;
    assert_eq!(w.app.incident(id).await.unwrap().priority_id, p4);
    assert_eq!(w.entries(id, "jira_priority_sync").await, 1);
    assert_eq!(
        w.writes().last().unwrap(),
        "transition in progress",
        "the synced priority is not pushed back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badly_signed_webhooks_are_refused_and_not_recorded() {
    let w = world().await;
    let id = w.declare("P3").await;
    w.settle().await;
    let body = serde_json::to_vec(&update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "Incoming", "toString": "in progress" }]),
    ))
    .unwrap();
    let url = format!("{}{UPDATE_PATH}", w.hooks);
    let before = w.inbox_rows().await;
    for signature in [
        None,
        Some("sha256=00".to_owned()),
        Some("md5=abc".to_owned()),
        Some(sign("not-the-secret", &body)),
        Some("garbage".to_owned()),
    ] {
        let mut request = w.http.post(&url).body(body.clone());
        if let Some(s) = &signature {
            request = request.header("x-hub-signature", s);
        }
        assert_eq!(
            request.send().await.unwrap().status().as_u16(),
            401,
            "{signature:?}"
        );
    }
    // The old query-string secret is not a way in.
    let status = w
        .http
        .post(format!("{url}?secret={SECRET}"))
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.inbox_rows().await, before);
    assert_eq!(w.status(id).await, Status::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_hear_of_comments_once_except_apps_and_exclusions() {
    let w = world().await;
    w.declare("P4").await;
    w.settle().await;
    for (account, email) in [
        ("557058:ada", "ada@example.com"),
        ("557058:excluded", "excluded@example.com"),
        ("app:bot", "bot@example.com"),
        ("557058:stranger", "nobody@elsewhere.com"),
    ] {
        if email != "nobody@elsewhere.com" {
            w.app
                .store()
                .create_user(&NewUser::person(Email::parse(email).unwrap()))
                .await
                .unwrap();
        }
        let mut j = w.jira.lock().unwrap();
        j.emails.insert(account.into(), email.into());
        j.issues[0].watchers.push(account.into());
    }
    let comment = json!({
        "webhookEvent": "comment_created",
        "issue": { "key": "INC-1", "fields": { "summary": "Checkout fails" } },
        "comment": { "author": { "accountId": "557058:ada", "displayName": "Ada" },
            "body": { "type": "doc", "version": 1, "content": [{ "type": "paragraph", "content": [{ "type": "text", "text": "Deployed the fix" }] }] } }
    });
    let url = format!("{}{COMMENT_PATH}", w.hooks);
    assert_eq!(w.send(&url, &comment, Some("c-1")).await, 200);
    assert_eq!(w.send(&url, &comment, Some("c-1")).await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let told = w.told.0.lock().unwrap().clone();
    // The P4 ticket's alert went to its reporter; the comment to ada only.
    assert_eq!(
        told,
        [
            (
                "jane@example.com".to_owned(),
                "jira-ticket-created:INC-1".to_owned()
            ),
            ("ada@example.com".to_owned(), told[1].1.clone()),
        ]
    );
    assert!(told[1].1.starts_with("jira-comment:"), "{told:?}");
    // A comment of our own service account tells nobody.
    let mut own = comment.clone();
    own["comment"]["author"]["accountId"] = json!(SERVICE);
    assert_eq!(w.send(&url, &own, Some("c-2")).await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.told.0.lock().unwrap().len(), 2);
}

/// Two instances on one PostgreSQL database, each with Jira's handler, its
/// webhook routes and its dispatcher running: one ticket, each push made
/// once, and a webhook delivered to both applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL and --features postgres-tests"
)]
async fn two_instances_on_postgres_sync_once() {
    let admin =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    let db = format!("ff_jira_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.clone(), |(b, _)| b.to_owned());
    let url = format!("{base}/{db}");
    let connect = || async {
        Arc::new(
            firefighter_core::store::PgStore::connect(&url)
                .await
                .unwrap(),
        ) as Arc<dyn Store>
    };
    let w = world_on(connect().await).await;
    let b = instance(connect().await, &w.jira_url, w.told.clone()).await;
    let settle_both = || async {
        for _ in 0..40 {
            let (x, y) = tokio::join!(w.dispatcher.run_once(), b.dispatcher.run_once());
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!((x.parked, y.parked), (0, 0));
            // Jira's webhooks go to either instance.
            let outgoing = std::mem::take(&mut w.jira.lock().unwrap().outgoing);
            for (n, (url, body)) in outgoing.iter().enumerate() {
                let target = if n % 2 == 0 {
                    url.clone()
                } else {
                    url.replace(&w.hooks, &b.hooks)
                };
                assert_eq!(w.send(&target, body, None).await, 200);
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            if x.claimed + y.claimed == 0 && outgoing.is_empty() {
                return;
            }
        }
        panic!("did not settle");
    };
    let id = w.declare("P3").await;
    settle_both().await;
    assert_eq!(w.writes(), ["create", "watch", "link"]);

    b.app
        .update(
            id,
            Update {
                status: Some(Status::Investigating),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    settle_both().await;
    assert_eq!(
        w.writes()[3..],
        ["transition Pending resolution", "transition in progress"]
    );
    assert_eq!(w.status(id).await, Status::Investigating);

    // A person's change, delivered to both instances (Jira retried after a
    // lost answer): applied once.
    {
        let mut j = w.jira.lock().unwrap();
        j.issues[0].status = "Reporter validation".into();
    }
    let hook = update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "in progress", "toString": "Reporter validation" }]),
    );
    let (to_a, to_b) = (
        format!("{}{UPDATE_PATH}", w.hooks),
        format!("{}{UPDATE_PATH}", b.hooks),
    );
    let (x, y) = tokio::join!(
        w.send(&to_a, &hook, Some("pg-1")),
        w.send(&to_b, &hook, Some("pg-1"))
    );
    assert_eq!((x, y), (200, 200));
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle_both().await;
    assert_eq!(w.status(id).await, Status::Mitigated);
    assert_eq!(w.entries(id, "jira_status_sync").await, 1);
    assert_eq!(w.writes().len(), 5, "nothing pushed back: {:?}", w.writes());
}

/// A downgraded incident (it does not need the incident process) is closed
/// here, but its ticket stays open in Jira: the work goes on there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_keeps_the_ticket_open() {
    let w = world().await;
    let id = w.declare("P3").await;
    w.settle().await;
    w.app
        .downgrade(id, Some(w.jane.id), Some("Not an incident".into()))
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.status(id).await, Status::Closed);
    assert_eq!(w.ticket("INC-1").status, "Incoming");
    assert_eq!(w.writes(), ["create", "watch", "link"]);
}

/// A project-wide webhook about an issue firefighter did not make changes
/// nothing and tells nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_about_other_issues_are_ignored() {
    let w = world().await;
    let id = w.declare("P3").await;
    w.settle().await;
    w.jira.lock().unwrap().issues.push(Issue {
        key: "INC-99".into(),
        status: "Incoming".into(),
        labels: Vec::new(),
        fields: serde_json::Map::new(),
        watchers: vec!["557058:ada".into()],
        links: Vec::new(),
    });
    let hook = update_hook(
        "INC-99",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "Incoming", "toString": "Reporter validation" }]),
    );
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &hook, None)
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(w.status(id).await, Status::Open);
    assert!(w.told.0.lock().unwrap().is_empty());
}

/// A webhook applied late (a slower copy, a retry after a failure) does not
/// undo a newer change: the ticket must still be in the status it announces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_overtaken_by_a_later_change_is_not_applied() {
    let w = world().await;
    let id = w.declare("P3").await;
    w.settle().await;
    // Jira says the ticket went to Reporter validation, but by the time the
    // webhook is applied the ticket is back in progress.
    w.jira.lock().unwrap().issues[0].status = "in progress".into();
    let hook = update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "in progress", "toString": "Reporter validation" }]),
    );
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &hook, Some("late-1"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.status(id).await, Status::Open);
    assert_eq!(w.entries(id, "jira_status_sync").await, 0);
    // The change that did happen is applied.
    let hook = update_hook(
        "INC-1",
        "557058:ada",
        json!([{ "field": "status", "fieldId": "status", "fromString": "Reporter validation", "toString": "in progress" }]),
    );
    assert_eq!(
        w.send(&format!("{}{UPDATE_PATH}", w.hooks), &hook, Some("late-2"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.status(id).await, Status::Mitigating);
}
