//! The two-way sync end to end against a stateful fake Jira that sends its
//! webhooks back to firefighter's routes, as Jira does: core's outbox
//! pushes the incident's status and priority to the ticket through the
//! workflow's shortest path; Jira's echoes (authored by the API account, or
//! by an automation after a push of ours) change nothing; a person's change
//! in Jira reaches the incident through the lifecycle, with its guards;
//! redelivered and badly signed webhooks are not applied; watchers hear of
//! comments. Every Jira write and timeline entry is counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
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
const API_ACCOUNT: &str = "557058:api-token-account";

// ------------------------------------------------------------------ the fake Jira

#[derive(Debug, Clone)]
struct Issue {
    key: String,
    status: String,
    labels: Vec<String>,
    fields: serde_json::Map<String, Value>,
    watchers: Vec<String>,
    links: Vec<String>,
}

#[derive(Default)]
struct Jira {
    issues: Vec<Issue>,
    /// Every write firefighter made: `create`, `transition <to>`, `put <field>`...
    writes: Vec<String>,
    /// Who Jira says made the changes it announces (the API account, like Jira).
    author: String,
    /// Where Jira sends its webhooks, once known.
    hooks: Option<String>,
    /// Webhooks to send (url, body) after the answer.
    outgoing: Vec<(String, Value)>,
    /// Watchers' e-mails by account.
    emails: HashMap<String, String>,
    sent: u64,
}

type Shared = Arc<Mutex<Jira>>;

const STATUSES: &[(&str, &str, &str)] = &[
    ("s1", "Incoming", "new"),
    ("s2", "Pending resolution", "indeterminate"),
    ("s3", "in progress", "indeterminate"),
    ("s4", "Reporter validation", "indeterminate"),
    ("s5", "Closed", "done"),
];

/// (from, to): the workflow of FireFighter's incident tickets, with a
/// shortcut from Incoming to Closed that a path must not go through.
const TRANSITIONS: &[(&str, &str)] = &[
    ("s1", "s2"),
    ("s2", "s3"),
    ("s3", "s4"),
    ("s4", "s3"),
    ("s4", "s5"),
    ("s1", "s5"),
    ("s5", "s4"),
];

fn status_ref(name: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(r, _, _)| *r)
        .unwrap_or("?")
}

fn status_name(reference: &str) -> &'static str {
    STATUSES.iter().find(|(r, _, _)| *r == reference).unwrap().1
}

fn category(name: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, _, c)| *c)
        .unwrap_or("new")
}

fn update_hook(key: &str, author: &str, items: Value) -> Value {
    json!({
        "webhookEvent": "jira:issue_updated",
        "issue": { "id": "10001", "key": key, "fields": { "summary": "Checkout fails" } },
        "user": { "accountId": author, "displayName": author },
        "changelog": { "items": items }
    })
}

async fn fake_jira(state: Shared) -> String {
    async fn create(State(s): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let mut j = s.lock().unwrap();
        let n = j.issues.len() + 1;
        let key = format!("INC-{n}");
        let fields = body["fields"].as_object().cloned().unwrap_or_default();
        j.issues.push(Issue {
            key: key.clone(),
            status: "Incoming".into(),
            labels: fields["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            fields,
            watchers: Vec::new(),
            links: Vec::new(),
        });
        j.writes.push("create".into());
        (
            StatusCode::CREATED,
            Json(json!({ "id": format!("{}", 10000 + n), "key": key })),
        )
    }
    async fn search(
        State(s): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        let jql = q.get("jql").cloned().unwrap_or_default();
        let j = s.lock().unwrap();
        let issues: Vec<Value> = j
            .issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| jql.contains(&format!("\"{l}\""))))
            .map(|i| json!({ "id": "1", "key": i.key }))
            .collect();
        Json(json!({ "issues": issues }))
    }
    async fn issue(State(s): State<Shared>, Path(key): Path<String>) -> (StatusCode, Json<Value>) {
        let j = s.lock().unwrap();
        match j.issues.iter().find(|i| i.key == key) {
            Some(i) => (
                StatusCode::OK,
                Json(json!({ "key": i.key, "fields": {
                    "status": { "name": i.status, "statusCategory": { "key": category(&i.status) } },
                    "project": { "id": "10000" },
                    "issuetype": { "id": "10004" }
                }})),
            ),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({ "errorMessages": ["no issue"] })),
            ),
        }
    }
    async fn put_issue(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        let author = j.author.clone();
        let hooks = j.hooks.clone();
        let Some(i) = j.issues.iter_mut().find(|i| i.key == key) else {
            return StatusCode::NOT_FOUND;
        };
        let mut items = Vec::new();
        for (field, value) in body["fields"].as_object().cloned().unwrap_or_default() {
            let from = i
                .fields
                .get(&field)
                .and_then(|v| v["value"].as_str())
                .map(str::to_owned);
            items.push(json!({ "field": "Priority", "fieldId": field, "fromString": from, "toString": value["value"] }));
            i.fields.insert(field.clone(), value);
        }
        let fields: Vec<String> = body["fields"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        j.writes.push(format!("put {}", fields.join(",")));
        if let Some(url) = hooks {
            j.outgoing.push((
                format!("{url}{UPDATE_PATH}"),
                update_hook(&key, &author, Value::Array(items)),
            ));
        }
        StatusCode::NO_CONTENT
    }
    async fn transitions(State(s): State<Shared>, Path(key): Path<String>) -> Json<Value> {
        let j = s.lock().unwrap();
        let i = j.issues.iter().find(|i| i.key == key).unwrap();
        let at = status_ref(&i.status);
        let offered: Vec<Value> = TRANSITIONS
            .iter()
            .filter(|(from, _)| *from == at)
            .map(|(from, to)| json!({
                "id": format!("{from}-{to}"),
                "name": format!("to {}", status_name(to)),
                "to": { "name": status_name(to), "statusCategory": { "key": category(status_name(to)) } }
            }))
            .collect();
        Json(json!({ "transitions": offered }))
    }
    async fn transition(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        let author = j.author.clone();
        let hooks = j.hooks.clone();
        let id = body["transition"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        let at = status_ref(&i.status);
        let Some((_, to)) = TRANSITIONS
            .iter()
            .find(|(f, t)| format!("{f}-{t}") == id && *f == at)
        else {
            return StatusCode::BAD_REQUEST;
        };
        let from = std::mem::replace(&mut i.status, status_name(to).to_owned());
        j.writes.push(format!("transition {}", status_name(to)));
        if let Some(url) = hooks {
            let items = json!([{ "field": "status", "fieldId": "status", "fromString": from, "toString": status_name(to) }]);
            j.outgoing.push((
                format!("{url}{UPDATE_PATH}"),
                update_hook(&key, &author, items),
            ));
        }
        StatusCode::NO_CONTENT
    }
    async fn watch(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(account): Json<String>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        j.writes.push("watch".into());
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        if !i.watchers.contains(&account) {
            i.watchers.push(account);
        }
        StatusCode::NO_CONTENT
    }
    async fn watchers(State(s): State<Shared>, Path(key): Path<String>) -> Json<Value> {
        let j = s.lock().unwrap();
        let i = j.issues.iter().find(|i| i.key == key).unwrap();
        let list: Vec<Value> = i
            .watchers
            .iter()
            .map(|a| {
                json!({
                    "accountId": a,
                    "accountType": if a.starts_with("app:") { "app" } else { "atlassian" },
                    "emailAddress": j.emails.get(a),
                    "active": true
                })
            })
            .collect();
        Json(json!({ "isWatching": false, "watchCount": list.len(), "watchers": list }))
    }
    async fn link(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let mut j = s.lock().unwrap();
        j.writes.push("link".into());
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        let id = body["globalId"].as_str().unwrap_or_default().to_owned();
        if !i.links.contains(&id) {
            i.links.push(id);
        }
        (StatusCode::CREATED, Json(json!({ "id": 1, "self": "x" })))
    }
    async fn scheme() -> Json<Value> {
        Json(
            json!({ "values": [{ "projectIds": ["10000"], "workflowScheme": {
            "defaultWorkflow": "jira", "issueTypeMappings": { "10004": "Incident workflow" } } }] }),
        )
    }
    async fn workflows(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
        assert_eq!(
            q.get("queryString").map(String::as_str),
            Some("Incident workflow")
        );
        let statuses: Vec<Value> = STATUSES
            .iter()
            .map(|(r, n, c)| {
                json!({ "statusReference": r, "name": n,
                "statusCategory": if *c == "done" { "DONE" } else { "IN_PROGRESS" } })
            })
            .collect();
        let transitions: Vec<Value> = TRANSITIONS
            .iter()
            .map(|(f, t)| {
                json!({ "id": format!("{f}-{t}"), "type": "DIRECTED", "toStatusReference": t,
                "links": [{ "fromStatusReference": f }] })
            })
            .collect();
        Json(json!({ "values": [{ "name": "Incident workflow",
            "statuses": STATUSES.iter().map(|(r, _, _)| json!({ "statusReference": r })).collect::<Vec<_>>(),
            "transitions": transitions }], "statuses": statuses }))
    }
    let app = Router::new()
        .route("/rest/api/3/issue", post(create))
        .route("/rest/api/3/search/jql", get(search))
        .route("/rest/api/3/issue/{key}", get(issue).put(put_issue))
        .route(
            "/rest/api/3/issue/{key}/transitions",
            get(transitions).post(transition),
        )
        .route(
            "/rest/api/3/issue/{key}/watchers",
            get(watchers).post(watch),
        )
        .route("/rest/api/3/issue/{key}/remotelink", post(link))
        .route("/rest/api/3/user/search", get(|| async { Json(json!([])) }))
        .route(
            "/rest/api/3/user",
            get(|| async { (StatusCode::NOT_FOUND, Json(json!({}))) }),
        )
        .route(
            "/rest/api/3/myself",
            get(|| async { Json(json!({ "accountId": API_ACCOUNT })) }),
        )
        .route("/rest/api/3/workflowscheme/project", get(scheme))
        .route("/rest/api/3/workflows/search", get(workflows))
        .with_state(state);
    serve(app).await
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

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
