//! Jira as a post-mortem backend, against a wiremock fake of Jira: the
//! issue created once from core's request with its fields (summary, ADF
//! sections, timeline in order and in UTC, due date, replicated fields),
//! a retried delivery after a lost answer adopting the issue, a 429 waited
//! out, the link to the ticket falling back and tolerated when refused, the
//! assignment tolerated when refused, refusals as permanent errors told to
//! the responders, readiness by status (and closing waiting for it), and
//! the timeline field re-rendered when key events or the status change.

#[path = "support/search.rs"]
mod search;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use firefighter_core::event::{ChannelInfo, Delivery, EventHandler, HandlerError};
use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::postmortem::PostMortemNotes;
use firefighter_core::{
    Declaration, Email, Firefighter, IncidentEvent, IncidentId, NewUser, PostMortemProvider,
    Settings, Status, Store, Update, User,
};
use firefighter_jira::models::adf;
use firefighter_jira::postmortem::{
    BACKEND, HANDLER_POSTMORTEMS, JiraPostMortems, PostMortemConfig, PostMortemHandler,
    PostMortemOutcome, create_jira_postmortem, postmortem_label,
};
use firefighter_jira::users::{JiraUserStore, migrate};
use firefighter_jira::{JiraClient, JiraConfig, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PM_KEY: &str = "INCIDENT-7";
const TICKET: &str = "INC-1";
const CHANNEL_URL: &str = "https://acme.slack.com/archives/C042";

fn jira_config(uri: &str) -> JiraConfig {
    JiraConfig::new(uri, "bot@example.com", "token", "INC", "557058:service")
}

fn client(uri: &str) -> JiraClient {
    JiraClient::new(&jira_config(uri))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

struct World {
    app: Firefighter,
    store: Arc<dyn Store>,
    users: JiraUserStore,
    server: MockServer,
    jane: User,
    id: IncidentId,
    started: DateTime<Utc>,
    detected: DateTime<Utc>,
}

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// An application with Jira as its only post-mortem backend, and a P1 in
/// production (with a ticket, a conversation, key events) walked to
/// Mitigated: core has asked Jira for the post-mortem.
async fn world() -> World {
    let file = std::env::temp_dir().join(format!("ff-jira-pm-{}.db", unique()));
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
    let server = MockServer::start().await;
    let provider = JiraPostMortems::new(
        client(&server.uri()),
        &PostMortemConfig::default(),
        store.clone(),
    );
    let app = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        time_zone: "Europe/Paris".into(),
        builtin_postmortem: false,
        ..Settings::default()
    })
    .store(store.clone())
    .with_registered_plugins(false)
    .postmortem_provider(Arc::new(provider))
    .build()
    .await
    .unwrap();
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@example.com").unwrap()))
        .await
        .unwrap();
    let catalog = app.catalog().await.unwrap();
    let mut custom_fields = serde_json::Map::new();
    custom_fields.insert("platform".into(), json!(["platform-FR", "platform-DE"]));
    custom_fields.insert("business_impact".into(), json!("High"));
    custom_fields.insert("zendesk_ticket".into(), json!("ZD-1234"));
    custom_fields.insert("seller_contract_id".into(), json!("  "));
    let id = app
        .declare(Declaration {
            title: "Checkout fails".into(),
            description: "Customers get an error page.\n\nSince 10:00.".into(),
            priority_id: Some(
                catalog
                    .priorities
                    .iter()
                    .find(|p| p.name == "P1")
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
            created_by: Some(jane.id),
            custom_fields,
            ..Declaration::default()
        })
        .await
        .unwrap()
        .incident
        .id;
    let mut ticket = serde_json::Map::new();
    ticket.insert("jira_ticket_key".into(), json!(TICKET));
    app.set_custom_fields(id, ticket, "Jira ticket INC-1 created")
        .await
        .unwrap();
    app.channel_ready(
        id,
        ChannelInfo {
            platform: "slack".into(),
            id: "C042".into(),
            name: "inc-20260105-checkout".into(),
            url: CHANNEL_URL.into(),
        },
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    let created_at = app.incident(id).await.unwrap().created_at;
    let started = created_at - TimeDelta::minutes(95);
    let detected = created_at - TimeDelta::minutes(20);
    app.set_key_events(
        id,
        Some(jane.id),
        [
            ("started".to_owned(), Some(started)),
            ("detected".to_owned(), Some(detected)),
        ]
        .into_iter()
        .collect(),
    )
    .await
    .unwrap();
    // A note about a key event, as an integration records it on the timeline.
    app.publish(
        id,
        Vec::new(),
        Some(("Alert on checkout errors", Some("detected"))),
    )
    .await
    .unwrap();
    for s in [Status::Investigating, Status::Mitigating, Status::Mitigated] {
        app.update(
            id,
            Update {
                status: Some(s),
                by: Some(jane.id),
                message: Some(format!("now {s}")),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    }
    World {
        app,
        store,
        users,
        server,
        jane,
        id,
        started,
        detected,
    }
}

fn created(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": "10007", "key": key, "self": "https://x/rest/api/3/issue/10007"
    }))
}

impl World {
    fn client(&self) -> JiraClient {
        client(&self.server.uri())
    }

    fn handler(&self) -> PostMortemHandler {
        PostMortemHandler::new(
            self.client(),
            jira_config(&self.server.uri()),
            PostMortemConfig::default(),
            self.users.clone(),
            self.app.handle(),
        )
    }

    fn provider(&self) -> JiraPostMortems {
        JiraPostMortems::new(
            self.client(),
            &PostMortemConfig::default(),
            self.store.clone(),
        )
    }

    async fn create(&self) -> firefighter_jira::Result<PostMortemOutcome> {
        create_jira_postmortem(
            &self.app,
            &self.client(),
            &self.users,
            &jira_config(&self.server.uri()),
            &PostMortemConfig::default(),
            self.id,
        )
        .await
    }

    /// The last stored event matching `wanted`, as the outbox delivers it.
    async fn delivery(&self, attempt: u32, wanted: impl Fn(&IncidentEvent) -> bool) -> Delivery {
        let event = self
            .app
            .store()
            .incident_events(self.id)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .find(|e| wanted(&e.event))
            .expect("the event");
        Delivery {
            id: 1,
            event,
            handler: HANDLER_POSTMORTEMS.into(),
            attempt,
        }
    }

    /// Core's request for the Jira post-mortem.
    async fn request(&self, attempt: u32) -> Delivery {
        self.delivery(
            attempt,
            |e| matches!(e, IncidentEvent::PostMortemRequested { backend } if backend == BACKEND),
        )
        .await
    }

    async fn records(&self) -> Vec<firefighter_core::postmortem::PostMortem> {
        self.app
            .postmortems(self.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.backend == BACKEND)
            .collect()
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

    async fn mount_search(&self, found: &[&str], times: Option<u64>, priority: u8) {
        search::mount_search(&self.server, "10007", found, times, priority).await;
    }

    /// Jane's account, the assignment, the link and the issue's links
    /// (none) accepted.
    async fn mount_extras(&self) {
        Mock::given(method("GET"))
            .and(path("/rest/api/3/user/search"))
            .and(query_param("query", "jane@example.com"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"accountId": "acc-jane", "emailAddress": "jane@example.com", "active": true}
            ])))
            .mount(&self.server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("/rest/api/3/issue/{PM_KEY}/assignee")))
            .respond_with(ResponseTemplate::new(204))
            .with_priority(5)
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/api/3/issueLink"))
            .respond_with(ResponseTemplate::new(201))
            .with_priority(5)
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/api/3/issue/{PM_KEY}")))
            .and(query_param("fields", "issuelinks"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"key": PM_KEY, "fields": {"issuelinks": []}})),
            )
            .with_priority(5)
            .mount(&self.server)
            .await;
    }

    async fn mount_create(&self, response: ResponseTemplate, expected: u64) {
        Mock::given(method("POST"))
            .and(path("/rest/api/3/issue"))
            .respond_with(response)
            .expect(expected)
            .mount(&self.server)
            .await;
    }

    async fn create_body(&self) -> Value {
        let create = &self.requests("POST", "/rest/api/3/issue").await[0];
        serde_json::from_slice(&create.body).unwrap()
    }

    async fn notices(&self) -> Vec<String> {
        self.app
            .store()
            .incident_events(self.id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.event {
                IncidentEvent::Notice { text } => Some(text),
                _ => None,
            })
            .collect()
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// The rows of an ADF table, cells joined by ` | ` (the header first).
fn rows(doc: &Value) -> Vec<String> {
    adf::plain_text(doc)
        .lines()
        .filter(|l| l.contains(" | "))
        .map(str::to_owned)
        .collect()
}

/// 40 Monday-to-Friday days after `from`, counted the plain way.
fn forty_business_days_after(from: NaiveDate) -> NaiveDate {
    let mut date = from;
    let mut left = 40;
    while left > 0 {
        date += TimeDelta::days(1);
        if date.weekday().number_from_monday() <= 5 {
            left -= 1;
        }
    }
    date
}

#[tokio::test]
async fn the_postmortem_is_created_once_with_its_fields_link_and_assignee() {
    let w = world().await;
    let notes = PostMortemNotes {
        root_causes: "A connection pool too small for the sales peak.".into(),
        ..PostMortemNotes::default()
    };
    w.store
        .save_postmortem_notes(w.id, &notes, None)
        .await
        .unwrap();
    w.mount_search(&[], None, 5).await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 1).await;

    w.handler().handle(&w.request(1).await).await.unwrap();

    let search = &w.requests("GET", "/rest/api/3/search/jql").await[0];
    let jql = search
        .url
        .query_pairs()
        .find(|(k, _)| k == "jql")
        .unwrap()
        .1
        .into_owned();
    assert!(jql.contains("project = \"INCIDENT\""), "{jql}");
    assert!(
        jql.contains(&format!("labels = \"{}\"", postmortem_label(w.id))),
        "{jql}"
    );

    let body = w.create_body().await;
    let f = &body["fields"];
    assert_eq!(f["project"], json!({"key": "INCIDENT"}));
    assert_eq!(f["issuetype"], json!({"name": "Post-mortem"}));
    assert_eq!(
        f["summary"],
        "[IGNORE - TEST dev] #inc-20260105-checkout (P1) Checkout fails"
    );
    assert_eq!(f["labels"], json!([format!("ff-postmortem-{}", w.id.0)]));
    let incident = w.app.incident(w.id).await.unwrap();
    let declared = incident
        .created_at
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive();
    assert_eq!(
        f["duedate"],
        forty_business_days_after(declared)
            .format("%Y-%m-%d")
            .to_string()
    );
    // Replicated from the incident; empty ones (Zoho, a blank seller
    // contract) not sent.
    assert_eq!(f["customfield_11064"], json!({"value": "1"}));
    assert_eq!(f["customfield_11049"], json!([{"value": "PRD"}]));
    assert_eq!(f["customfield_10201"], json!({"value": "FR"}));
    assert_eq!(f["customfield_10936"], json!({"value": "High"}));
    assert_eq!(f["customfield_10895"], json!("ZD-1234"));
    assert!(f.get("customfield_10896").is_none(), "{f}");
    assert!(f.get("customfield_10908").is_none(), "{f}");
    assert_eq!(f["customfield_12369"], json!({"value": "Checkout"}));
    assert!(f.get("reporter").is_none());

    // The incident summary: the conversation (linked), priority, page and
    // description; not its status or dates.
    let summary = &f["customfield_12699"];
    assert_eq!(summary["type"], "doc");
    let text = adf::plain_text(summary);
    assert!(text.contains("Incident: #inc-20260105-checkout"), "{text}");
    assert!(text.contains("Priority: P1"), "{text}");
    assert!(text.contains("Customers get an error page."), "{text}");
    assert!(
        text.contains(&format!("https://ff.example.com/incident/{}/", w.id.0)),
        "{text}"
    );
    assert!(!text.contains("Status"), "{text}");
    assert!(summary.to_string().contains(CHANNEL_URL), "{summary}");

    // The timeline: the declaration first, then in the order things
    // happened, times in UTC (the application's zone is Paris).
    let timeline = rows(&f["customfield_12700"]);
    assert_eq!(timeline[0], "Time (UTC) | Event");
    assert_eq!(
        timeline[1],
        format!("{} | Incident declared (P1)", utc(incident.created_at))
    );
    let events: Vec<&str> = timeline[2..]
        .iter()
        .map(|r| r.split(" | ").nth(1).unwrap())
        .collect();
    assert_eq!(
        events,
        vec![
            "Key event: Started",
            "Key event: Detected (Alert on checkout errors)",
            "Status changed to Investigating",
            "Status changed to Mitigating",
            "Status changed to Mitigated",
            "Key event: Recovered",
            "Key event: Mitigated",
        ]
    );
    assert_eq!(
        timeline[2],
        format!("{} | Key event: Started", utc(w.started))
    );
    assert!(timeline[3].starts_with(&utc(w.detected)), "{}", timeline[3]);
    let times: Vec<&str> = timeline[2..]
        .iter()
        .map(|r| r.split(" | ").next().unwrap())
        .collect();
    assert!(times.windows(2).all(|t| t[0] <= t[1]), "{times:?}");

    // Written sections: the built-in notes, else a prompt.
    let root_causes = adf::plain_text(&f["customfield_12701"]);
    assert!(
        root_causes.contains("connection pool too small"),
        "{root_causes}"
    );
    let impact = adf::plain_text(&f["customfield_12702"]);
    assert!(impact.starts_with("Impact\nTo write:"), "{impact}");
    let mitigation = adf::plain_text(&f["customfield_12703"]);
    assert!(mitigation.contains("To write:"), "{mitigation}");

    // Linked to the ticket, assigned to the commander.
    let links = w.requests("POST", "/rest/api/3/issueLink").await;
    assert_eq!(links.len(), 1);
    assert_eq!(
        serde_json::from_slice::<Value>(&links[0].body).unwrap(),
        json!({"type": {"name": "Relates"}, "inwardIssue": {"key": TICKET}, "outwardIssue": {"key": PM_KEY}})
    );
    let assignee = w
        .requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}/assignee"))
        .await;
    assert_eq!(assignee.len(), 1);
    assert_eq!(
        serde_json::from_slice::<Value>(&assignee[0].body).unwrap(),
        json!({"accountId": "acc-jane"})
    );

    let docs = w.records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, PM_KEY);
    assert_eq!(docs[0].url, format!("{}/browse/{PM_KEY}", w.server.uri()));

    // Delivered again: recorded already, nothing sent.
    let before = w.server.received_requests().await.unwrap().len();
    assert_eq!(
        w.create().await.unwrap(),
        PostMortemOutcome::AlreadyRecorded(PM_KEY.into())
    );
    w.handler().handle(&w.request(2).await).await.unwrap();
    assert_eq!(w.server.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn a_retried_delivery_after_a_lost_answer_adopts_the_issue() {
    let w = world().await;
    w.mount_extras().await;
    // Jira makes the issue but answers 500; its index shows it only later.
    w.mount_search(&[], Some(2), 1).await;
    w.mount_search(&[PM_KEY], None, 5).await;
    w.mount_create(
        ResponseTemplate::new(500).set_body_json(json!({"errorMessages": ["Internal error"]})),
        1,
    )
    .await;

    let first = w.handler().handle(&w.request(1).await).await;
    assert!(
        matches!(first, Err(HandlerError::Retry { .. })),
        "{first:?}"
    );
    assert!(w.records().await.is_empty());

    w.handler().handle(&w.request(2).await).await.unwrap();
    w.handler().handle(&w.request(3).await).await.unwrap();

    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
    let docs = w.records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, PM_KEY);
    // The adopted issue's links were looked at, then it was linked and assigned once.
    assert_eq!(
        w.requests("GET", &format!("/rest/api/3/issue/{PM_KEY}"))
            .await
            .len(),
        1
    );
    assert_eq!(w.requests("POST", "/rest/api/3/issueLink").await.len(), 1);
    assert_eq!(
        w.requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}/assignee"))
            .await
            .len(),
        1
    );
    let created_events = w
        .app
        .store()
        .incident_events(w.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(&e.event, IncidentEvent::PostMortemCreated { backend, .. } if backend == BACKEND))
        .count();
    assert_eq!(created_events, 1);
}

#[tokio::test]
async fn an_adopted_issue_already_linked_is_not_linked_again() {
    let w = world().await;
    w.mount_search(&[PM_KEY], None, 5).await;
    Mock::given(method("GET"))
        .and(path(format!("/rest/api/3/issue/{PM_KEY}")))
        .and(query_param("fields", "issuelinks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": PM_KEY,
            "fields": {"issuelinks": [{"id": "1", "inwardIssue": {"key": TICKET}}]}
        })))
        .with_priority(1)
        .mount(&w.server)
        .await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 0).await;
    assert_eq!(
        w.create().await.unwrap(),
        PostMortemOutcome::Adopted(PM_KEY.into())
    );
    assert!(w.requests("POST", "/rest/api/3/issueLink").await.is_empty());
    assert_eq!(w.records().await.len(), 1);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let w = world().await;
    w.mount_search(&[], None, 5).await;
    w.mount_extras().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w.server)
        .await;
    w.mount_create(created(PM_KEY), 1).await;
    let started = Instant::now();
    assert_eq!(
        w.create().await.unwrap(),
        PostMortemOutcome::Created(PM_KEY.into())
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 2);
    assert_eq!(w.records().await.len(), 1);
}

fn link_types(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_link_falls_back_to_blocks() {
    let w = world().await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issueLink"))
        .and(body_partial_json(json!({"type": {"name": "Relates"}})))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorMessages": ["No issue link type with name 'Relates' found."], "errors": {}
        })))
        .with_priority(1)
        .mount(&w.server)
        .await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 1).await;
    w.create().await.unwrap();
    let links = w.requests("POST", "/rest/api/3/issueLink").await;
    assert_eq!(link_types(&links), vec!["Relates", "Blocks"]);
    assert_eq!(w.records().await.len(), 1);
}

#[tokio::test]
async fn a_link_refused_by_every_type_and_a_refused_assignment_are_tolerated() {
    let w = world().await;
    w.mount_search(&[], None, 5).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issueLink"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorMessages": ["Issue does not exist or you do not have permission to see it."]
        })))
        .with_priority(1)
        .mount(&w.server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/rest/api/3/issue/{PM_KEY}/assignee")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [], "errors": {"assignee": "User 'acc-jane' cannot be assigned issues."}
        })))
        .with_priority(1)
        .mount(&w.server)
        .await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 1).await;
    w.handler().handle(&w.request(1).await).await.unwrap();
    let links = w.requests("POST", "/rest/api/3/issueLink").await;
    assert_eq!(link_types(&links), vec!["Relates", "Blocks", "Relates to"]);
    assert_eq!(
        w.requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}/assignee"))
            .await
            .len(),
        1
    );
    let docs = w.records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, PM_KEY);
    assert!(w.notices().await.is_empty());
}

#[tokio::test]
async fn refusals_are_permanent_errors_naming_the_settings_and_told_to_the_responders() {
    let w = world().await;
    w.mount_search(&[], None, 5).await;
    w.mount_extras().await;
    w.mount_create(
        ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [],
            "errors": {
                "project": "valid project is required",
                "customfield_12700": "Field 'customfield_12700' cannot be set. It is not on the appropriate screen, or unknown."
            }
        })),
        1,
    )
    .await;
    let outcome = w.handler().handle(&w.request(1).await).await;
    let Err(HandlerError::Permanent(message)) = outcome else {
        panic!("expected a permanent error, got {outcome:?}")
    };
    assert!(message.contains("JIRA_POSTMORTEM_PROJECT_KEY"), "{message}");
    assert!(
        message.contains("(set by JIRA_FIELD_TIMELINE)"),
        "{message}"
    );
    assert!(message.contains("re-queue"), "{message}");
    assert!(w.records().await.is_empty());
    let notices = w.notices().await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].starts_with("The Jira post-mortem could not be created"),
        "{notices:?}"
    );
    assert!(notices[0].contains("JIRA_FIELD_TIMELINE"), "{notices:?}");
    assert!(w.requests("POST", "/rest/api/3/issueLink").await.is_empty());
}

async fn mount_status(server: &MockServer, response: ResponseTemplate) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/rest/api/3/issue/{PM_KEY}")))
        .and(query_param("fields", "status"))
        .respond_with(response)
        .mount(server)
        .await;
}

fn status(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "10007", "key": PM_KEY, "fields": {"status": {"id": "3", "name": name}}
    }))
}

#[tokio::test]
async fn readiness_is_the_issue_status_and_closing_waits_for_ready() {
    let w = world().await;
    let provider = w.provider();
    let incident = w.app.incident(w.id).await.unwrap();
    assert_eq!(provider.state(&incident).await, PostMortemState::Missing);

    w.mount_search(&[], None, 5).await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 1).await;
    w.handler().handle(&w.request(1).await).await.unwrap();
    w.app
        .update(
            w.id,
            Update {
                status: Some(Status::PostMortem),
                by: Some(w.jane.id),
                ..Update::default()
            },
        )
        .await
        .unwrap();

    mount_status(&w.server, status("In Progress")).await;
    let PostMortemState::NotReady(why) = provider.state(&incident).await else {
        panic!("expected NotReady")
    };
    assert!(why.contains("\"In Progress\""), "{why}");
    assert!(why.contains(PM_KEY), "{why}");
    let refused = w
        .app
        .close(w.id, Some(w.jane.id), None, None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("In Progress"), "{refused}");
    assert_eq!(
        w.app.incident(w.id).await.unwrap().status,
        Status::PostMortem
    );

    mount_status(
        &w.server,
        ResponseTemplate::new(503).set_body_string("maintenance"),
    )
    .await;
    let PostMortemState::Unknown(why) = provider.state(&incident).await else {
        panic!("expected Unknown")
    };
    assert!(why.contains("503"), "{why}");
    assert!(
        w.app
            .close(w.id, Some(w.jane.id), None, None, None)
            .await
            .is_err()
    );

    mount_status(&w.server, status("Ready")).await;
    assert_eq!(provider.state(&incident).await, PostMortemState::Ready);
    let closed = w
        .app
        .close(w.id, Some(w.jane.id), None, None, None)
        .await
        .unwrap();
    assert_eq!(closed.status, Status::Closed);
}

#[tokio::test]
async fn key_event_edits_and_status_changes_re_render_the_timeline_field() {
    let w = world().await;
    w.mount_search(&[], None, 5).await;
    w.mount_extras().await;
    w.mount_create(created(PM_KEY), 1).await;
    w.handler().handle(&w.request(1).await).await.unwrap();
    Mock::given(method("PUT"))
        .and(path(format!("/rest/api/3/issue/{PM_KEY}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&w.server)
        .await;

    let earlier = w.started - TimeDelta::minutes(30);
    w.app
        .set_key_events(
            w.id,
            Some(w.jane.id),
            [("started".to_owned(), Some(earlier))]
                .into_iter()
                .collect(),
        )
        .await
        .unwrap();
    w.handler()
        .handle(
            &w.delivery(1, |e| matches!(e, IncidentEvent::KeyEventsUpdated))
                .await,
        )
        .await
        .unwrap();
    let edits = w
        .requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}"))
        .await;
    assert_eq!(edits.len(), 1);
    let body: Value = serde_json::from_slice(&edits[0].body).unwrap();
    let fields = body["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), vec!["customfield_12700"]);
    let timeline = rows(&fields["customfield_12700"]);
    assert_eq!(
        timeline[2],
        format!("{} | Key event: Started", utc(earlier))
    );

    // A status change shows too; a title edit does not touch the timeline.
    w.app
        .update(
            w.id,
            Update {
                status: Some(Status::PostMortem),
                by: Some(w.jane.id),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    let is_update = |e: &IncidentEvent| matches!(e, IncidentEvent::Updated { .. });
    w.handler()
        .handle(&w.delivery(1, is_update).await)
        .await
        .unwrap();
    let edits = w
        .requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}"))
        .await;
    assert_eq!(edits.len(), 2);
    let body: Value = serde_json::from_slice(&edits[1].body).unwrap();
    let timeline = rows(&body["fields"]["customfield_12700"]);
    assert!(
        timeline
            .last()
            .unwrap()
            .ends_with("Status changed to Post-mortem"),
        "{timeline:?}"
    );
    w.app
        .update(
            w.id,
            Update {
                title: Some("Checkout fails for every customer".into()),
                by: Some(w.jane.id),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    w.handler()
        .handle(&w.delivery(1, is_update).await)
        .await
        .unwrap();
    assert_eq!(
        w.requests("PUT", &format!("/rest/api/3/issue/{PM_KEY}"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn without_a_recorded_postmortem_a_key_event_edit_sends_nothing() {
    let w = world().await;
    w.app
        .set_key_events(
            w.id,
            Some(w.jane.id),
            [(
                "started".to_owned(),
                Some(w.started - TimeDelta::minutes(5)),
            )]
            .into_iter()
            .collect(),
        )
        .await
        .unwrap();
    w.handler()
        .handle(
            &w.delivery(1, |e| matches!(e, IncidentEvent::KeyEventsUpdated))
                .await,
        )
        .await
        .unwrap();
    assert!(w.server.received_requests().await.unwrap().is_empty());
}

#[test]
fn the_handler_and_the_backend_are_registered() {
    assert!(
        firefighter_core::event::registered_names().contains(&HANDLER_POSTMORTEMS),
        "{:?}",
        firefighter_core::event::registered_names()
    );
    assert!(
        firefighter_core::postmortem::registered_names().contains(&BACKEND),
        "{:?}",
        firefighter_core::postmortem::registered_names()
    );
}
