//! Incident tickets against a wiremock fake of Jira: the ticket created
//! once with its fields, label, reporter, watcher and link; a retried
//! delivery after a lost answer adopting the ticket instead of creating a
//! second; a 429 waited out; field errors by field as a permanent error;
//! the user mapping looked up once per person.

#[path = "support/search.rs"]
mod search;

use std::sync::Arc;
use std::time::{Duration, Instant};

use firefighter_core::event::{Delivery, EventHandler, HandlerError};
use firefighter_core::{
    Declaration, Email, Firefighter, IncidentEvent, IncidentId, NewUser, Settings, Store, User,
};
use firefighter_jira::tickets::{
    HANDLER_TICKETS, TicketHandler, TicketOutcome, create_ticket, incident_label,
};
use firefighter_jira::users::{JiraUserStore, migrate};
use firefighter_jira::{Error, JiraClient, JiraConfig, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DEFAULT_REPORTER: &str = "557058:service-account";

fn config(uri: &str) -> JiraConfig {
    JiraConfig::new(uri, "bot@example.com", "token", "INC", DEFAULT_REPORTER)
}

fn client(uri: &str) -> JiraClient {
    JiraClient::new(&config(uri))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

struct World {
    app: Firefighter,
    users: JiraUserStore,
    server: MockServer,
    jane: User,
}

async fn world() -> World {
    let file = std::env::temp_dir().join(format!("ff-jira-{}.db", uuid_like()));
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .await
        .unwrap(),
    );
    migrate(store.database().unwrap()).await.unwrap();
    let users = JiraUserStore::of(store.as_ref()).unwrap();
    let app = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    })
    .store(store)
    .with_registered_plugins(false)
    .build()
    .await
    .unwrap();
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@example.com").unwrap()))
        .await
        .unwrap();
    World {
        app,
        users,
        server: MockServer::start().await,
        jane,
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

impl World {
    async fn declare(&self, by: &User, priority: &str) -> IncidentId {
        let catalog = self.app.catalog().await.unwrap();
        let mut custom_fields = serde_json::Map::new();
        custom_fields.insert("platform".into(), json!(["platform-FR", "platform-DE"]));
        custom_fields.insert("business_impact".into(), json!("High"));
        self.app
            .declare(Declaration {
                title: "Checkout fails".into(),
                description: "Customers get an error page.".into(),
                priority_id: Some(
                    catalog
                        .priorities
                        .iter()
                        .find(|p| p.name == priority)
                        .unwrap()
                        .id,
                ),
                category_id: Some(
                    catalog
                        .categories
                        .iter()
                        .find(|c| c.name == "Checkout")
                        .unwrap()
                        .id,
                ),
                environment_ids: vec![
                    catalog
                        .environments
                        .iter()
                        .find(|e| e.value == "PRD")
                        .unwrap()
                        .id,
                ],
                created_by: Some(by.id),
                custom_fields,
                ..Declaration::default()
            })
            .await
            .unwrap()
            .incident
            .id
    }

    fn client(&self) -> JiraClient {
        client(&self.server.uri())
    }

    fn config(&self) -> JiraConfig {
        config(&self.server.uri())
    }

    async fn create(&self, id: IncidentId) -> Result<TicketOutcome, Error> {
        create_ticket(&self.app, &self.client(), &self.users, &self.config(), id).await
    }

    async fn delivery(&self, id: IncidentId, attempt: u32) -> Delivery {
        let event = self
            .app
            .store()
            .incident_events(id)
            .await
            .unwrap()
            .into_iter()
            .find(|e| matches!(e.event, IncidentEvent::Created))
            .expect("the Created event");
        Delivery {
            id: 1,
            event,
            handler: HANDLER_TICKETS.into(),
            attempt,
        }
    }

    fn handler(&self) -> TicketHandler {
        TicketHandler::new(
            self.client(),
            self.config(),
            self.users.clone(),
            firefighter_jira::ledger::SyncLedger::of(self.app.store().as_ref()).unwrap(),
            self.app.handle(),
        )
    }

    async fn ticket_entries(&self, id: IncidentId) -> usize {
        self.app
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .filter(|t| t.event_type.as_deref() == Some("custom_fields"))
            .count()
    }

    async fn requests(&self, verb: &str, at: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == at)
            .collect()
    }

    /// Jane's account; watchers and links accepted.
    async fn mount_users_and_extras(&self, key: &str) {
        Mock::given(method("GET"))
            .and(path("/rest/api/3/user/search"))
            .and(query_param("query", "jane@example.com"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"accountId": "acc-other", "emailAddress": "jane.doe@example.org", "active": true},
                {"accountId": "acc-jane", "emailAddress": "jane@example.com", "displayName": "Jane", "active": true}
            ])))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/rest/api/3/issue/{key}/watchers")))
            .respond_with(ResponseTemplate::new(204))
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/rest/api/3/issue/{key}/remotelink")))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"id": 10000, "self": "https://x/rest/api/3/issue/1/remotelink/10000"}),
            ))
            .mount(&self.server)
            .await;
    }

    async fn mount_search(&self, found: &[&str], times: Option<u64>, priority: u8) {
        search::mount_search(&self.server, "10001", found, times, priority).await;
    }
}

fn created(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": "10001", "key": key, "self": "https://x/rest/api/3/issue/10001"
    }))
}

#[tokio::test]
async fn the_ticket_is_created_once_with_its_fields_reporter_watcher_and_link() {
    let w = world().await;
    let id = w.declare(&w.jane, "P1").await;
    w.mount_users_and_extras("INC-1").await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(created("INC-1"))
        .expect(1)
        .mount(&w.server)
        .await;

    w.handler().handle(&w.delivery(id, 1).await).await.unwrap();

    let search = &w.requests("GET", "/rest/api/3/search/jql").await[0];
    let jql = search
        .url
        .query_pairs()
        .find(|(k, _)| k == "jql")
        .unwrap()
        .1
        .into_owned();
    assert!(
        jql.contains(&format!("labels = \"{}\"", incident_label(id))),
        "{jql}"
    );
    assert!(jql.contains("project = \"INC\""), "{jql}");

    let create = &w.requests("POST", "/rest/api/3/issue").await[0];
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    let f = &body["fields"];
    assert_eq!(f["project"], json!({"key": "INC"}));
    assert_eq!(f["issuetype"], json!({"name": "Incident"}));
    assert_eq!(f["summary"], "Checkout fails");
    assert_eq!(f["reporter"], json!({"id": "acc-jane"}));
    assert_eq!(f["labels"], json!([format!("ff-incident-{}", id.0)]));
    assert_eq!(f["customfield_11064"], json!({"value": "1"}));
    assert_eq!(f["customfield_11049"], json!([{"value": "PRD"}]));
    assert_eq!(f["customfield_10201"], json!({"value": "FR"}));
    assert_eq!(f["customfield_10936"], json!({"value": "High"}));
    assert_eq!(f["description"]["type"], "doc");
    let text = f["description"].to_string();
    assert!(text.contains("Customers get an error page."), "{text}");
    assert!(text.contains("Priority: P1"), "{text}");
    assert!(
        text.contains("This incident has been created for a critical incident."),
        "{text}"
    );

    let watcher = &w.requests("POST", "/rest/api/3/issue/INC-1/watchers").await;
    assert_eq!(watcher.len(), 1);
    assert_eq!(
        serde_json::from_slice::<Value>(&watcher[0].body).unwrap(),
        json!("acc-jane")
    );
    let link = &w
        .requests("POST", "/rest/api/3/issue/INC-1/remotelink")
        .await;
    assert_eq!(link.len(), 1);
    let link: Value = serde_json::from_slice(&link[0].body).unwrap();
    assert_eq!(
        link["object"]["url"],
        format!("https://ff.example.com/incident/{}/", id.0)
    );
    assert_eq!(
        link["object"]["title"],
        format!("FireFighter incident #{}", id.0)
    );
    assert_eq!(link["globalId"], format!("firefighter-incident-{}", id.0));

    let incident = w.app.incident(id).await.unwrap();
    assert_eq!(incident.custom_fields["jira_ticket_key"], "INC-1");
    assert_eq!(
        incident.custom_fields["jira_ticket_url"],
        format!("{}/browse/INC-1", w.server.uri())
    );
    assert_eq!(w.ticket_entries(id).await, 1);

    // Delivered again: recorded already, nothing sent.
    let before = w.server.received_requests().await.unwrap().len();
    assert_eq!(
        w.create(id).await.unwrap(),
        TicketOutcome::AlreadyRecorded("INC-1".into())
    );
    assert_eq!(w.server.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn a_retried_delivery_after_a_lost_answer_adopts_the_ticket() {
    let w = world().await;
    let id = w.declare(&w.jane, "P3").await;
    w.mount_users_and_extras("INC-7").await;
    // Jira makes the issue but answers 500; the index shows it only later.
    w.mount_search(&[], Some(2), 1).await;
    w.mount_search(&["INC-7"], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errorMessages": ["Internal error"]})),
        )
        .expect(1)
        .mount(&w.server)
        .await;

    let first = w.handler().handle(&w.delivery(id, 1).await).await;
    assert!(
        matches!(first, Err(HandlerError::Retry { .. })),
        "{first:?}"
    );
    assert!(
        !w.app
            .incident(id)
            .await
            .unwrap()
            .custom_fields
            .contains_key("jira_ticket_key")
    );

    w.handler().handle(&w.delivery(id, 2).await).await.unwrap();
    w.handler().handle(&w.delivery(id, 3).await).await.unwrap();

    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
    let incident = w.app.incident(id).await.unwrap();
    assert_eq!(incident.custom_fields["jira_ticket_key"], "INC-7");
    assert_eq!(w.ticket_entries(id).await, 1);
    // The adopted ticket still gets its watcher and link.
    assert_eq!(
        w.requests("POST", "/rest/api/3/issue/INC-7/watchers")
            .await
            .len(),
        1
    );
    assert_eq!(
        w.requests("POST", "/rest/api/3/issue/INC-7/remotelink")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let w = world().await;
    let id = w.declare(&w.jane, "P2").await;
    w.mount_users_and_extras("INC-2").await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(created("INC-2"))
        .mount(&w.server)
        .await;
    let started = Instant::now();
    assert_eq!(
        w.create(id).await.unwrap(),
        TicketOutcome::Created("INC-2".into())
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 2);
    assert_eq!(
        w.app.incident(id).await.unwrap().custom_fields["jira_ticket_key"],
        "INC-2"
    );
}

#[tokio::test]
async fn field_errors_come_back_by_field_as_a_permanent_error() {
    let w = world().await;
    let id = w.declare(&w.jane, "P1").await;
    w.mount_users_and_extras("INC-1").await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [],
            "errors": {"customfield_11064": "Option value '1' is not valid", "summary": "Field is required"}
        })))
        .mount(&w.server)
        .await;
    let e = w.create(id).await.unwrap_err();
    let priority = e.field("customfield_11064").unwrap();
    assert!(priority.contains("is not valid"), "{priority}");
    assert!(priority.contains("JIRA_FIELD_PRIORITY"), "{priority}");
    assert_eq!(e.field("summary"), Some("Field is required"));
    let text = e.to_string();
    assert!(
        text.contains("field customfield_11064: Option value '1' is not valid"),
        "{text}"
    );
    assert!(text.contains("re-queue"), "{text}");
    let outcome = w.handler().handle(&w.delivery(id, 1).await).await;
    assert!(
        matches!(outcome, Err(HandlerError::Permanent(ref m)) if m.contains("customfield_11064")),
        "{outcome:?}"
    );
    assert!(
        !w.app
            .incident(id)
            .await
            .unwrap()
            .custom_fields
            .contains_key("jira_ticket_key")
    );
}

#[tokio::test]
async fn each_person_is_looked_up_once_and_the_default_reporter_stands_in() {
    let w = world().await;
    let first = w.declare(&w.jane, "P4").await;
    let second = w.declare(&w.jane, "P5").await;
    let bob = w
        .app
        .store()
        .create_user(&NewUser::person(Email::parse("bob@example.com").unwrap()))
        .await
        .unwrap();
    let third = w.declare(&bob, "P4").await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/user/search"))
        .and(query_param("query", "jane@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"accountId": "acc-jane", "emailAddress": "jane@example.com", "active": true}
        ])))
        .expect(1)
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/user/search"))
        .and(query_param("query", "bob@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&w.server)
        .await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(created("INC-3"))
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(10)
        .mount(&w.server)
        .await;
    for id in [first, second, third] {
        w.create(id).await.unwrap();
    }
    assert_eq!(
        w.users.account(w.jane.id).await.unwrap().as_deref(),
        Some("acc-jane")
    );
    let reporters: Vec<Value> = w
        .requests("POST", "/rest/api/3/issue")
        .await
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["fields"]["reporter"]["id"].clone()
        })
        .collect();
    assert_eq!(
        reporters,
        vec![
            json!("acc-jane"),
            json!("acc-jane"),
            json!(DEFAULT_REPORTER)
        ]
    );
    // P4/P5: the description alone (no critical-incident lines).
    let body: Value =
        serde_json::from_slice(&w.requests("POST", "/rest/api/3/issue").await[0].body).unwrap();
    assert!(
        !body["fields"]["description"]
            .to_string()
            .contains("Priority:")
    );
}

#[tokio::test]
async fn only_the_chosen_priorities_get_a_ticket() {
    let w = world().await;
    let id = w.declare(&w.jane, "P4").await;
    let mut config = w.config();
    config.priorities = firefighter_jira::TicketPriorities::Only(vec!["P1".into(), "P2".into()]);
    let outcome = create_ticket(&w.app, &w.client(), &w.users, &config, id)
        .await
        .unwrap();
    assert_eq!(outcome, TicketOutcome::NotWanted("P4".into()));
    assert!(w.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_default_reporter_stands_in_when_jira_refuses_the_creator() {
    let w = world().await;
    let id = w.declare(&w.jane, "P2").await;
    w.mount_users_and_extras("INC-4").await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(wiremock::matchers::body_partial_json(
            json!({"fields": {"reporter": {"id": "acc-jane"}}}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [], "errors": {"reporter": "The reporter specified is not a user."}
        })))
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(wiremock::matchers::body_partial_json(
            json!({"fields": {"reporter": {"id": DEFAULT_REPORTER}}}),
        ))
        .respond_with(created("INC-4"))
        .mount(&w.server)
        .await;
    assert_eq!(
        w.create(id).await.unwrap(),
        TicketOutcome::Created("INC-4".into())
    );
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 2);
    // The watcher is the reporter that stood in.
    let watcher = &w.requests("POST", "/rest/api/3/issue/INC-4/watchers").await[0];
    assert_eq!(
        serde_json::from_slice::<Value>(&watcher.body).unwrap(),
        json!(DEFAULT_REPORTER)
    );
}
