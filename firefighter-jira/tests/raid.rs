//! The RAID alert, the ticket intake and its attachments, against a
//! wiremock fake of Jira, a fake notifier, and local HTTP servers on
//! 127.0.0.1 serving (or refusing to serve) attachments.

#[path = "support/search.rs"]
mod search;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use firefighter_core::event::{Delivery, EventHandler, HandlerError};
use firefighter_core::notify::{Delivered, Notifier, NotifyError};
use firefighter_core::plugin::{Caller, PageLayout};
use firefighter_core::{
    Declaration, Email, Firefighter, IncidentEvent, IncidentId, NewUser, Notification, Settings,
    Store, User,
};
use firefighter_jira::alerts::{NewTicket, alert_new_ticket};
use firefighter_jira::attachments::Downloader;
use firefighter_jira::intake::{
    ATTACHMENT_ERRORS_HEADER, INTAKE_PATH, Intake, IntakeSettings, intake_routes,
};
use firefighter_jira::tickets::{HANDLER_TICKETS, TicketHandler};
use firefighter_jira::users::{JiraUserStore, migrate};
use firefighter_jira::{Error, JiraClient, JiraConfig, RetryPolicy};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DEFAULT_REPORTER: &str = "557058:service-account";

// ---------------------------------------------------------------------------
// A fake notifier: conversations with tags, one delivery per key and recipient.

#[derive(Default)]
struct Recorded {
    /// (name, tag) of each conversation.
    conversations: Vec<(String, String)>,
    /// (recipient, key) already delivered.
    seen: BTreeSet<(String, String)>,
    /// What was really sent, to whom.
    sent: Vec<(String, Notification)>,
    /// Calls to answer with a retryable error first.
    fail_next: usize,
}

#[derive(Default, Clone)]
struct FakeNotifier(Arc<Mutex<Recorded>>);

impl FakeNotifier {
    fn with_conversations(conversations: &[(&str, &str)]) -> FakeNotifier {
        let fake = FakeNotifier::default();
        fake.0.lock().unwrap().conversations = conversations
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        fake
    }

    fn fail_next(&self, n: usize) {
        self.0.lock().unwrap().fail_next = n;
    }

    fn sent(&self) -> Vec<(String, Notification)> {
        self.0.lock().unwrap().sent.clone()
    }

    fn recipients(&self) -> Vec<String> {
        self.sent().into_iter().map(|(r, _)| r).collect()
    }

    fn deliver(&self, recipient: String, note: &Notification) -> Result<Delivered, NotifyError> {
        let mut state = self.0.lock().unwrap();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(NotifyError::Retry {
                message: "rate limited".into(),
                retry_after: Some(Duration::from_secs(2)),
            });
        }
        if !state.seen.insert((recipient.clone(), note.key.clone())) {
            return Ok(Delivered::AlreadySent);
        }
        state.sent.push((recipient, note.clone()));
        Ok(Delivered::Sent)
    }
}

#[async_trait]
impl Notifier for FakeNotifier {
    fn name(&self) -> &str {
        "fake"
    }

    async fn notify_user(
        &self,
        user: &User,
        note: &Notification,
    ) -> Result<Delivered, NotifyError> {
        self.deliver(format!("dm:{}", user.email), note)
    }

    async fn notify_tagged(
        &self,
        tag: &str,
        note: &Notification,
    ) -> Result<Vec<Delivered>, NotifyError> {
        let names: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .conversations
            .iter()
            .filter(|(_, t)| t.contains(tag))
            .map(|(n, _)| n.clone())
            .collect();
        // One failure fails the call, as a vendor's rate limit would.
        {
            let mut state = self.0.lock().unwrap();
            if state.fail_next > 0 {
                state.fail_next -= 1;
                return Err(NotifyError::Retry {
                    message: "rate limited".into(),
                    retry_after: None,
                });
            }
        }
        names
            .into_iter()
            .map(|n| self.deliver(format!("#{n}"), note))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The world: a database, the application, a fake Jira.

struct World {
    app: Firefighter,
    users: JiraUserStore,
    jira: MockServer,
    notifier: FakeNotifier,
    jane: User,
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

async fn world_with(notifier: Option<FakeNotifier>) -> World {
    let file = std::env::temp_dir().join(format!("ff-jira-raid-{}.db", unique()));
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
    let mut builder = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    })
    .store(store)
    .with_registered_plugins(false);
    if let Some(n) = &notifier {
        builder = builder.notifier(Arc::new(n.clone()));
    }
    let app = builder.build().await.unwrap();
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@partner.com").unwrap()))
        .await
        .unwrap();
    World {
        app,
        users,
        jira: MockServer::start().await,
        notifier: notifier.unwrap_or_default(),
        jane,
    }
}

async fn world() -> World {
    world_with(Some(FakeNotifier::with_conversations(&[
        ("sbi-high", "raid_alert__sbi_high"),
        ("sbi-normal", "raid_alert__sbi_normal"),
        ("incidents-high", "raid_alert__incidents_high"),
        ("incidents-normal", "raid_alert__incidents_normal"),
        ("partner", "raid_alert__partner.com"),
        ("general", "tech_incidents"),
    ])))
    .await
}

impl World {
    fn config(&self) -> JiraConfig {
        JiraConfig::new(
            &self.jira.uri(),
            "bot@example.com",
            "token",
            "INC",
            DEFAULT_REPORTER,
        )
    }

    fn client(&self) -> JiraClient {
        JiraClient::new(&self.config())
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 2,
                min_delay: Duration::from_millis(5),
                max_wait: Duration::from_secs(2),
            })
    }

    fn settings(&self) -> IntakeSettings {
        IntakeSettings {
            toolbox_url: Some("https://toolbox.example.com/sellers".into()),
            company_domains: vec!["example.com".into()],
            ..IntakeSettings::default()
        }
    }

    fn intake(&self, downloader: Downloader) -> axum::Router {
        intake_routes(
            Intake::new(
                self.app.clone(),
                self.client(),
                self.users.clone(),
                self.config(),
                self.settings(),
            )
            .with_downloader(downloader),
        )
    }

    async fn requests(&self, verb: &str, at: &str) -> Vec<Request> {
        self.jira
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == at)
            .collect()
    }

    async fn all_requests(&self) -> usize {
        self.jira.received_requests().await.unwrap().len()
    }

    /// Jane's Jira account; the issue search finds `found`; the create answers `key`.
    async fn mount_jira(&self, found: &[&str], key: &str) {
        Mock::given(method("GET"))
            .and(path("/rest/api/3/user/search"))
            .and(query_param("query", "jane@partner.com"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"accountId": "acc-jane", "emailAddress": "jane@partner.com", "active": true}
            ])))
            .mount(&self.jira)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/api/3/user/search"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .with_priority(10)
            .mount(&self.jira)
            .await;
        self.mount_search(found, None, 5).await;
        Mock::given(method("POST"))
            .and(path("/rest/api/3/issue"))
            .respond_with(created(key))
            .with_priority(5)
            .mount(&self.jira)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/rest/api/3/issue/[A-Z]+-\d+/(watchers|remotelink)$",
            ))
            .respond_with(ResponseTemplate::new(204))
            .mount(&self.jira)
            .await;
    }

    async fn mount_search(&self, found: &[&str], times: Option<u64>, priority: u8) {
        search::mount_search(&self.jira, "10001", found, times, priority).await;
    }

    /// Uploads accepted; the issue `key` has `existing` attachments.
    async fn mount_attachments(&self, key: &str, existing: &[&str]) {
        Mock::given(method("POST"))
            .and(path(format!("/rest/api/3/issue/{key}/attachments")))
            .and(header("x-atlassian-token", "no-check"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([{"id": "10000", "filename": "uploaded"}])),
            )
            .mount(&self.jira)
            .await;
        let attachment: Vec<Value> = existing
            .iter()
            .map(|f| json!({"id": "1", "filename": f}))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/rest/api/3/issue/{key}")))
            .and(query_param("fields", "attachment"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"id": "10001", "key": key, "fields": {"attachment": attachment}}),
            ))
            .mount(&self.jira)
            .await;
    }

    fn caller(&self) -> Caller {
        Caller {
            user: self.jane.clone(),
            csrf_token: None,
            layout: PageLayout::default(),
            may_write: true,
        }
    }

    async fn post(
        &self,
        router: &axum::Router,
        body: &Value,
        key: Option<&str>,
        caller: Option<Caller>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = HttpRequest::post(INTAKE_PATH).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let mut request = request.body(Body::from(body.to_string())).unwrap();
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, value)
    }

    async fn declare(&self, priority: &str, impact: &str) -> IncidentId {
        let catalog = self.app.catalog().await.unwrap();
        let mut custom_fields = serde_json::Map::new();
        custom_fields.insert("business_impact".into(), json!(impact));
        self.app
            .declare(Declaration {
                title: "Sellers cannot upload invoices".into(),
                description: "The upload button answers an error.".into(),
                priority_id: Some(
                    catalog
                        .priorities
                        .iter()
                        .find(|p| p.name == priority)
                        .unwrap()
                        .id,
                ),
                category_id: Some(catalog.categories[0].id),
                environment_ids: vec![catalog.environments[0].id],
                created_by: Some(self.jane.id),
                custom_fields,
                ..Declaration::default()
            })
            .await
            .unwrap()
            .incident
            .id
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
            .unwrap();
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
}

fn created(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": "10001", "key": key, "self": "https://x/rest/api/3/issue/10001"
    }))
}

/// A request as Landbot sends it.
fn payload() -> Value {
    json!({
        "summary": "Seller cannot see their orders",
        "description": "The orders page stays empty since this morning.",
        "seller_contract_id": "SC-1234",
        "zoho": "ZOHO-9",
        "zendesk": "ZD-77",
        "platform": "FR",
        "reporter_email": "jane@partner.com",
        "labels": ["landbot", "", "orders"],
        "incident_category": "Orders",
        "suggested_team_routing": "ORD",
        "priority": 4,
        "business_impact": "High",
        "environments": ["PRD", "STG"],
        "attachments": "",
        "issue_type": "Incident"
    })
}

fn create_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

// ---------------------------------------------------------------------------
// The RAID alert of incident tickets.

#[tokio::test]
async fn a_p4_ticket_alerts_its_creator_and_the_tagged_conversations_once() {
    let w = world().await;
    w.mount_jira(&[], "INC-4").await;
    let id = w.declare("P4", "High").await;

    w.handler().handle(&w.delivery(id, 1).await).await.unwrap();

    let sent = w.notifier.sent();
    let recipients: Vec<&str> = sent.iter().map(|(r, _)| r.as_str()).collect();
    // The creator privately, the project's high-impact conversation (INC is
    // not SBI: "incidents"), and the partner's conversation (§14.1 fixed).
    assert_eq!(
        recipients,
        ["dm:jane@partner.com", "#incidents-high", "#partner"]
    );
    let note = &sent[0].1;
    assert_eq!(note.key, "jira-ticket-created:INC-4");
    assert!(note.title.contains("INC-4"), "{}", note.title);
    assert!(note.title.contains("Sellers cannot upload invoices"));
    assert_eq!(note.body, ["The upload button answers an error."]);
    assert!(
        note.fields
            .contains(&("Business impact".into(), "High".into()))
    );
    assert!(
        note.fields
            .contains(&("Incident priority".into(), "P4".into()))
    );
    assert_eq!(
        note.link.as_ref().unwrap().1,
        format!("{}/browse/INC-4", w.jira.uri())
    );

    // Delivered again (the outbox retries after a crash): nothing new sent.
    w.handler().handle(&w.delivery(id, 2).await).await.unwrap();
    assert_eq!(w.notifier.sent().len(), 3);
}

/// A private incident's ticket is told to its reporter only: nothing of
/// it reaches a shared conversation.
#[tokio::test]
async fn a_private_incidents_ticket_is_told_to_its_reporter_only() {
    let w = world().await;
    w.mount_jira(&[], "INC-5").await;
    let id = w.declare("P4", "High").await;
    w.app
        .update(
            id,
            firefighter_core::Update {
                private: Some(true),
                ..firefighter_core::Update::default()
            },
        )
        .await
        .unwrap();
    w.handler().handle(&w.delivery(id, 1).await).await.unwrap();
    assert_eq!(w.notifier.recipients(), ["dm:jane@partner.com"]);
}

#[tokio::test]
async fn a_retryable_notifier_error_retries_the_delivery_and_sends_once() {
    let w = world().await;
    w.mount_jira(&[], "INC-6").await;
    let id = w.declare("P4", "Medium").await;
    // The chat vendor limits the rate of the first call (the DM).
    w.notifier.fail_next(1);
    let first = w.handler().handle(&w.delivery(id, 1).await).await;
    assert!(
        matches!(first, Err(HandlerError::Retry { retry_after: Some(d), .. }) if d == Duration::from_secs(2)),
        "{first:?}"
    );
    // The ticket is recorded, the conversations told; the DM is missing.
    assert_eq!(
        w.app.incident(id).await.unwrap().custom_fields["jira_ticket_key"],
        "INC-6"
    );
    assert_eq!(w.notifier.recipients(), ["#incidents-normal", "#partner"]);

    // The retried delivery sends what is missing, and nothing twice.
    w.handler().handle(&w.delivery(id, 2).await).await.unwrap();
    w.handler().handle(&w.delivery(id, 3).await).await.unwrap();
    assert_eq!(
        w.notifier.recipients(),
        ["#incidents-normal", "#partner", "dm:jane@partner.com"]
    );
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
}

#[tokio::test]
async fn tickets_of_p1_to_p3_incidents_get_no_alert_and_are_refused() {
    let w = world().await;
    w.mount_jira(&[], "INC-2").await;
    let id = w.declare("P2", "High").await;
    w.handler().handle(&w.delivery(id, 1).await).await.unwrap();
    assert!(w.notifier.sent().is_empty(), "{:?}", w.notifier.sent());

    let ticket = NewTicket {
        key: "INC-2".into(),
        url: "https://jira.example.com/browse/INC-2".into(),
        project_key: "INC".into(),
        issue_type: "Incident".into(),
        summary: "Checkout fails".into(),
        description: String::new(),
        business_impact: None,
        reporter: Some(w.jane.clone()),
        reporter_email: Some(w.jane.email.clone()),
        incident_priority: Some(3),
        private: false,
    };
    let e = alert_new_ticket(&w.app, &ticket).await.unwrap_err();
    assert!(
        matches!(e, Error::Invalid(ref m) if m.contains("P3")),
        "{e}"
    );
    assert!(w.notifier.sent().is_empty());
}

#[tokio::test]
async fn without_a_notifier_the_alert_is_skipped() {
    let w = world_with(None).await;
    let ticket = NewTicket {
        key: "SBI-1".into(),
        url: "https://jira.example.com/browse/SBI-1".into(),
        project_key: "SBI".into(),
        issue_type: "Incident".into(),
        summary: "Orders missing".into(),
        description: "None shown.".into(),
        business_impact: Some("High".into()),
        reporter: Some(w.jane.clone()),
        reporter_email: Some(w.jane.email.clone()),
        incident_priority: None,
        private: false,
    };
    let outcome = alert_new_ticket(&w.app, &ticket).await.unwrap();
    assert_eq!(outcome.skipped.as_deref(), Some("no notifier is on"));
    assert!(outcome.conversations.is_empty());
}

// ---------------------------------------------------------------------------
// The intake.

#[tokio::test]
async fn anonymous_calls_are_refused_and_change_nothing() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    let (status, _, body) = w.post(&router, &payload(), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["code"], "not_authenticated");
    assert_eq!(w.all_requests().await, 0);
}

#[tokio::test]
async fn a_read_only_token_cannot_create_a_ticket() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    let mut caller = w.caller();
    caller.may_write = false;
    let (status, _, body) = w.post(&router, &payload(), None, Some(caller)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errors"][0]["code"], "permission_denied");
    assert_eq!(w.all_requests().await, 0);
}

#[tokio::test]
async fn validation_errors_come_field_by_field_and_nothing_is_created() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    let attrs = |body: &Value| -> Vec<(String, String)> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["attr"].as_str().unwrap_or("-").to_owned(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let mut bad = payload();
    let object = bad.as_object_mut().unwrap();
    object.remove("zoho");
    object.insert("summary".into(), json!("   "));
    object.insert("platform".into(), json!("BE"));
    object.insert("reporter_email".into(), json!("jane.partner.com"));
    object.insert("labels".into(), json!(["ok", "has space", "x".repeat(129)]));
    object.insert("priority".into(), json!(7));
    object.insert("business_impact".into(), json!("Huge"));
    object.insert("environments".into(), json!(["PRD", "PROD"]));
    object.insert("project".into(), json!("my project"));
    object.insert("issue_type".into(), json!("Bug"));
    object.insert("suggested_team_routing".into(), json!("A-VERY-LONG-TEAM"));
    object.insert("description".into(), json!(null));
    let (status, _, body) = w.post(&router, &bad, None, Some(w.caller())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["type"], "validation_error");
    let found = attrs(&body);
    for expected in [
        ("summary", "blank"),
        ("description", "null"),
        ("zoho", "required"),
        ("platform", "invalid_choice"),
        ("reporter_email", "invalid"),
        ("labels.1", "invalid"),
        ("labels.2", "max_length"),
        ("suggested_team_routing", "max_length"),
        ("project", "invalid"),
        ("priority", "max_value"),
        ("business_impact", "invalid_choice"),
        ("environments.1", "invalid_choice"),
        ("issue_type", "invalid_choice"),
    ] {
        assert!(
            found.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {found:?}"
        );
    }
    assert_eq!(found.len(), 13, "{found:?}");
    // Each detail says what is wrong.
    let platform = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["attr"] == "platform")
        .unwrap();
    assert!(
        platform["detail"]
            .as_str()
            .unwrap()
            .contains("ES, IT, FR, UK, DE, All, Internal"),
        "{platform}"
    );

    // Attachments breaking the rules, each refused before anything is made.
    for attachments in [
        "file:///etc/passwd".to_owned(),
        "ftp://files.example.com/a.png".to_owned(),
        (0..11)
            .map(|i| format!("https://cdn.example.com/{i}.png"))
            .collect::<Vec<_>>()
            .join(", "),
        format!("https://cdn.example.com/{}", "a".repeat(2048)),
        "http://127.0.0.1/a.png".to_owned(),
        "http://localhost:8080/a.png".to_owned(),
        "['https://cdn.example.com/ok.png', 'http://169.254.169.254/latest/meta-data/']".to_owned(),
        "http://10.1.2.3/a.png".to_owned(),
        "http://[::ffff:192.168.0.1]/a.png".to_owned(),
    ] {
        let mut body = payload();
        body["attachments"] = json!(attachments);
        let (status, _, answer) = w.post(&router, &body, None, Some(w.caller())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{attachments}: {answer}");
        assert_eq!(answer["errors"][0]["attr"], "attachments", "{answer}");
    }

    // Not JSON, not an object.
    for raw in ["not json", "[1, 2]"] {
        let request = HttpRequest::post(INTAKE_PATH)
            .body(Body::from(raw))
            .map(|mut r| {
                r.extensions_mut().insert(w.caller());
                r
            })
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{raw}");
    }
    // A bad Idempotency-Key.
    let (status, _, answer) = w
        .post(&router, &payload(), Some("  "), Some(w.caller()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["errors"][0]["attr"], "Idempotency-Key");

    assert_eq!(w.all_requests().await, 0, "Jira was called");
}

#[tokio::test]
async fn a_ticket_is_created_with_the_mapped_fields_and_alerted() {
    let w = world().await;
    w.mount_jira(&[], "SBI-1").await;
    let router = w.intake(Downloader::default());
    let mut body = payload();
    body["project"] = json!(null);
    let (status, headers, answer) = w.post(&router, &body, None, Some(w.caller())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer, json!("SBI-1"));
    assert!(headers.get(ATTACHMENT_ERRORS_HEADER).is_none());
    // No key: no search.
    assert!(w.requests("GET", "/rest/api/3/search/jql").await.is_empty());

    let create = &w.requests("POST", "/rest/api/3/issue").await;
    assert_eq!(create.len(), 1);
    let f = &create_body(&create[0])["fields"];
    assert_eq!(f["project"], json!({"key": "SBI"}));
    assert_eq!(f["issuetype"], json!({"name": "Incident"}));
    assert_eq!(f["summary"], "Seller cannot see their orders");
    assert_eq!(f["reporter"], json!({"id": "acc-jane"}));
    assert_eq!(f["labels"], json!(["landbot", "orders"]));
    assert_eq!(f["customfield_11064"], json!({"value": "4"}));
    assert_eq!(
        f["customfield_11049"],
        json!([{"value": "PRD"}, {"value": "STG"}])
    );
    assert_eq!(f["customfield_10201"], json!({"value": "FR"}));
    assert_eq!(f["customfield_10936"], json!({"value": "High"}));
    assert_eq!(f["customfield_10895"], json!("ZD-77"));
    assert_eq!(f["customfield_10896"], json!("ZOHO-9"));
    assert_eq!(f["customfield_10908"], json!("SC-1234"));
    let text = f["description"].to_string();
    for part in [
        "The orders page stays empty since this morning.",
        "Team suggested for routing: *ORD*",
        "https://toolbox.example.com/sellers?seller_id=SC-1234",
        "FireFighter's ticket intake",
        // partner.com is outside the company's example.com.
        "Reported by jane@partner.com",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }

    // The alert: the reporter, SBI's high-impact conversation, the partner's.
    assert_eq!(
        w.notifier.recipients(),
        ["dm:jane@partner.com", "#sbi-high", "#partner"]
    );
    let note = &w.notifier.sent()[0].1;
    assert_eq!(note.key, "jira-ticket-created:SBI-1");
    assert!(
        note.fields
            .contains(&("Reporter".into(), "jane (jane@partner.com)".into())),
        "{:?}",
        note.fields
    );
}

/// The chat vendor is rate limited when the ticket is made: the alert is
/// kept in the Jira inbox and sent by the replay, once, even though the
/// process that answered is not the one that sends it.
#[tokio::test]
async fn an_alert_the_chat_vendor_refused_for_now_is_sent_by_the_replay() {
    let w = world().await;
    w.mount_jira(&[], "SBI-1").await;
    let router = w.intake(Downloader::default());
    w.notifier.fail_next(1);
    let (status, _, answer) = w.post(&router, &payload(), None, Some(w.caller())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // The private message was refused; the conversations got theirs.
    assert_eq!(w.notifier.recipients(), ["#sbi-high", "#partner"]);
    let webhooks = firefighter_jira::webhooks::Webhooks::with_client(
        w.app.handle(),
        w.app.store().clone(),
        w.config(),
        w.client(),
    )
    .unwrap();
    // Before the answering instance's lease ends, nothing is taken.
    let now = chrono::Utc::now();
    assert_eq!(
        webhooks.inbox().replay(now, &webhooks).await.unwrap().done,
        0
    );
    let later = now + chrono::Duration::minutes(6);
    assert_eq!(
        webhooks
            .inbox()
            .replay(later, &webhooks)
            .await
            .unwrap()
            .done,
        1
    );
    // The reporter gets it now; nobody gets it twice.
    assert_eq!(
        w.notifier.recipients(),
        ["#sbi-high", "#partner", "dm:jane@partner.com"]
    );
    assert_eq!(
        webhooks
            .inbox()
            .replay(later, &webhooks)
            .await
            .unwrap()
            .done,
        0
    );
}

#[tokio::test]
async fn an_unknown_reporter_gets_the_default_account_and_company_addresses_stay_out() {
    let w = world().await;
    w.mount_jira(&[], "SBI-3").await;
    let router = w.intake(Downloader::default());
    let mut body = payload();
    body["reporter_email"] = json!("support.agent@eu.example.com");
    body["suggested_team_routing"] = json!("SBI");
    body["business_impact"] = json!(null);
    body["priority"] = json!(null);
    body["environments"] = json!(null);
    body["labels"] = json!(null);
    body["issue_type"] = json!("");
    body["project"] = json!("ops");
    let (status, _, answer) = w.post(&router, &body, None, Some(w.caller())).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let f = &create_body(&w.requests("POST", "/rest/api/3/issue").await[0])["fields"];
    assert_eq!(f["reporter"], json!({"id": DEFAULT_REPORTER}));
    assert_eq!(f["project"], json!({"key": "OPS"}));
    assert_eq!(f["issuetype"], json!({"name": "Incident"}));
    assert_eq!(f["customfield_11064"], json!({"value": "-"}));
    assert_eq!(f["customfield_11049"], json!([{"value": "-"}]));
    assert_eq!(f["labels"], json!([]));
    assert!(f.get("customfield_10936").is_none());
    let text = f["description"].to_string();
    assert!(!text.contains("Reported by"), "{text}");
    assert!(!text.contains("Team suggested"), "{text}");
    // No firefighter account: no DM; the conversations of OPS (not SBI).
    assert_eq!(w.notifier.recipients(), ["#incidents-normal"]);
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_same_ticket() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    w.mount_jira(&[], "SBI-7").await;

    let (status, _, first) = w
        .post(&router, &payload(), Some("landbot-42"), Some(w.caller()))
        .await;
    assert_eq!(
        (status, first.clone()),
        (StatusCode::CREATED, json!("SBI-7"))
    );
    // The answer was lost; the client sends it again.
    let (status, headers, again) = w
        .post(&router, &payload(), Some("landbot-42"), Some(w.caller()))
        .await;
    assert_eq!((status, again), (StatusCode::CREATED, json!("SBI-7")));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
    // The ticket carries the key's label, searched before it was made.
    let label = create_body(&w.requests("POST", "/rest/api/3/issue").await[0])["fields"]["labels"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(label.starts_with("ff-intake-"), "{label}");
    let jql = w.requests("GET", "/rest/api/3/search/jql").await[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "jql")
        .unwrap()
        .1
        .into_owned();
    assert!(jql.contains(&format!("labels = \"{label}\"")), "{jql}");
    assert!(jql.contains("project = \"SBI\""), "{jql}");
    // The alert went once.
    assert_eq!(w.notifier.sent().len(), 3);

    // The same key with another body is refused.
    let mut other = payload();
    other["summary"] = json!("Something else");
    let (status, _, answer) = w
        .post(&router, &other, Some("landbot-42"), Some(w.caller()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
}

#[tokio::test]
async fn a_ticket_made_by_a_failed_attempt_is_adopted_by_the_retry() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    // Jira makes the ticket but answers 500; its search shows it only later.
    w.mount_jira(&[], "unused").await;
    w.mount_search(&[], Some(2), 1).await;
    w.mount_search(&["SBI-8"], None, 2).await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errorMessages": ["Internal error"]})),
        )
        .with_priority(1)
        .mount(&w.jira)
        .await;

    let (status, headers, answer) = w
        .post(&router, &payload(), Some("landbot-43"), Some(w.caller()))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "jira_unavailable");
    assert!(headers.get("retry-after").is_some());
    assert!(w.notifier.sent().is_empty());

    let (status, _, answer) = w
        .post(&router, &payload(), Some("landbot-43"), Some(w.caller()))
        .await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!("SBI-8")));
    assert_eq!(w.requests("POST", "/rest/api/3/issue").await.len(), 1);
    assert_eq!(
        w.notifier
            .sent()
            .iter()
            .filter(|(_, n)| n.key == "jira-ticket-created:SBI-8")
            .count(),
        3
    );
}

#[tokio::test]
async fn jira_refusing_a_field_is_answered_on_that_field() {
    let w = world().await;
    let router = w.intake(Downloader::default());
    w.mount_jira(&[], "unused").await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [],
            "errors": {"customfield_10201": "Option value 'FR' is not valid"}
        })))
        .with_priority(1)
        .mount(&w.jira)
        .await;
    let (status, _, answer) = w.post(&router, &payload(), None, Some(w.caller())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0]["attr"], "platform");
    assert!(
        answer["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Option value 'FR' is not valid")
    );
    assert!(w.notifier.sent().is_empty());
}

// ---------------------------------------------------------------------------
// Attachments.

fn local_downloader() -> Downloader {
    Downloader::new(1024, Duration::from_secs(2)).allowing_loopback_for_tests()
}

#[tokio::test]
async fn attachments_are_fetched_and_uploaded_named_as_the_original() {
    let w = world().await;
    w.mount_jira(&[], "SBI-9").await;
    w.mount_attachments("SBI-9", &[]).await;
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/shots/screen.PNG"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(b"\x89PNG-first".to_vec()),
        )
        .mount(&files)
        .await;
    Mock::given(method("GET"))
        .and(path("/download"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/pdf")
                .set_body_bytes(b"%PDF-second".to_vec()),
        )
        .mount(&files)
        .await;
    // Redirected once, to a file on the same (allowed) server.
    Mock::given(method("GET"))
        .and(path("/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/shots/screen.PNG"))
        .mount(&files)
        .await;
    let router = w.intake(local_downloader());
    let mut body = payload();
    body["attachments"] = json!(format!(
        "['{0}/shots/screen.PNG', '{0}/download', '{0}/moved']",
        files.uri()
    ));
    let (status, headers, answer) = w.post(&router, &body, None, Some(w.caller())).await;
    assert_eq!(
        (status, answer.clone()),
        (StatusCode::CREATED, json!("SBI-9")),
        "{answer}"
    );
    assert!(
        headers.get(ATTACHMENT_ERRORS_HEADER).is_none(),
        "{headers:?}"
    );

    let uploads = w
        .requests("POST", "/rest/api/3/issue/SBI-9/attachments")
        .await;
    assert_eq!(uploads.len(), 3);
    let seen: Vec<String> = uploads
        .iter()
        .map(|u| String::from_utf8_lossy(&u.body).into_owned())
        .collect();
    for (name, media, content) in [
        ("image0.png", "image/png", "PNG-first"),
        ("image1.pdf", "application/pdf", "%PDF-second"),
        ("image2.png", "image/png", "PNG-first"),
    ] {
        let upload = seen
            .iter()
            .find(|b| b.contains(&format!("filename=\"{name}\"")))
            .unwrap_or_else(|| panic!("{name} not uploaded: {seen:?}"));
        assert!(
            upload.contains(&format!("Content-Type: {media}")),
            "{upload}"
        );
        assert!(upload.contains(content), "{upload}");
    }
    for upload in &uploads {
        assert!(upload.body.windows(11).any(|w| w == b"name=\"file\""));
        let content_type = upload.headers["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("multipart/form-data"),
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn a_failed_attachment_keeps_the_ticket_and_says_which_and_why() {
    let w = world().await;
    w.mount_jira(&[], "SBI-10").await;
    w.mount_attachments("SBI-10", &[]).await;
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ok.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"fine".to_vec()))
        .mount(&files)
        .await;
    Mock::given(method("GET"))
        .and(path("/to-metadata"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "http://169.254.169.254/latest/meta-data/"),
        )
        .mount(&files)
        .await;
    Mock::given(method("GET"))
        .and(path("/gone.png"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&files)
        .await;
    let router = w.intake(local_downloader());
    let mut body = payload();
    body["attachments"] = json!(format!(
        "{0}/ok.png, {0}/to-metadata, {0}/gone.png",
        files.uri()
    ));
    let (status, headers, answer) = w.post(&router, &body, None, Some(w.caller())).await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!("SBI-10")));
    let errors: Value =
        serde_json::from_str(headers[ATTACHMENT_ERRORS_HEADER].to_str().unwrap()).unwrap();
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[0]["url"], format!("{}/to-metadata", files.uri()));
    let why = errors[0]["detail"].as_str().unwrap();
    assert!(
        why.contains("redirected to http://169.254.169.254/"),
        "{why}"
    );
    assert!(why.contains("link-local"), "{why}");
    assert_eq!(errors[1]["index"], 2);
    assert!(
        errors[1]["detail"].as_str().unwrap().contains("404"),
        "{errors:?}"
    );
    assert_eq!(
        w.requests("POST", "/rest/api/3/issue/SBI-10/attachments")
            .await
            .len(),
        1
    );
    // The alert still went.
    assert_eq!(w.notifier.sent().len(), 3);
}

#[tokio::test]
async fn a_retried_intake_uploads_only_the_attachments_the_ticket_lacks() {
    let w = world().await;
    // The first attempt made SBI-11 and uploaded image0 before it died.
    w.mount_jira(&["SBI-11"], "unused").await;
    w.mount_attachments("SBI-11", &["image0.png"]).await;
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"bytes".to_vec()))
        .mount(&files)
        .await;
    let router = w.intake(local_downloader());
    let mut body = payload();
    body["attachments"] = json!(format!("{0}/a.png, {0}/b.png", files.uri()));
    let (status, _, answer) = w
        .post(&router, &body, Some("landbot-44"), Some(w.caller()))
        .await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!("SBI-11")));
    assert!(w.requests("POST", "/rest/api/3/issue").await.is_empty());
    let uploads = w
        .requests("POST", "/rest/api/3/issue/SBI-11/attachments")
        .await;
    assert_eq!(uploads.len(), 1);
    assert!(String::from_utf8_lossy(&uploads[0].body).contains("filename=\"image1.png\""));
    // Only b.png was fetched.
    let fetched: Vec<String> = files
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(fetched, ["/b.png"]);
}

#[tokio::test]
async fn redirects_to_private_addresses_and_redirect_chains_are_refused() {
    let files = MockServer::start().await;
    for (from, to) in [
        ("/private", "http://10.0.0.1/x.png"),
        ("/metadata", "http://169.254.169.254/latest/meta-data/"),
        ("/scheme", "file:///etc/passwd"),
        ("/v6", "http://[fd00::1]/x"),
    ] {
        Mock::given(method("GET"))
            .and(path(from))
            .respond_with(ResponseTemplate::new(301).insert_header("location", to))
            .mount(&files)
            .await;
    }
    for i in 0..5 {
        Mock::given(method("GET"))
            .and(path(format!("/hop{i}")))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("/hop{}", i + 1).as_str()),
            )
            .mount(&files)
            .await;
    }
    let downloader = local_downloader();
    for (at, expected) in [
        ("/private", "a private address"),
        ("/metadata", "link-local"),
        ("/scheme", "not an http or https address"),
        ("/v6", "unique local"),
        ("/hop0", "more than 3 redirects"),
    ] {
        let url = reqwest::Url::parse(&format!("{}{at}", files.uri())).unwrap();
        let e = downloader.fetch(&url).await.unwrap_err().to_string();
        assert!(e.contains(expected), "{at}: {e}");
    }
    // Redirect chain: exactly 4 requests for hop0 (the first and 3 redirects).
    let hops = files
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/hop"))
        .count();
    assert_eq!(hops, 4);
}

#[tokio::test]
async fn an_oversize_download_is_stopped() {
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/big.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 4096]))
        .mount(&files)
        .await;
    Mock::given(method("GET"))
        .and(path("/exact.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 1024]))
        .mount(&files)
        .await;
    let downloader = local_downloader();
    let url = |p: &str| reqwest::Url::parse(&format!("{}{p}", files.uri())).unwrap();
    let e = downloader
        .fetch(&url("/big.png"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than 1024 bytes"), "{e}");
    assert_eq!(
        downloader
            .fetch(&url("/exact.png"))
            .await
            .unwrap()
            .bytes
            .len(),
        1024
    );

    // A server that streams without a length, forever: the download stops
    // at the limit, and the server sees its connection closed early.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let written = Arc::new(Mutex::new(0usize));
    let counter = written.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await;
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            *counter.lock().unwrap() += 1024;
        }
    });
    let started = Instant::now();
    let e = downloader
        .fetch(&reqwest::Url::parse(&format!("http://{address}/stream.png")).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than 1024 bytes"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = *written.lock().unwrap();
    // Socket buffers take some; the download did not read on.
    assert!(sent < 16 * 1024 * 1024, "{sent} bytes written");
}

#[tokio::test]
async fn a_silent_server_is_given_up_after_the_time_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let downloader =
        Downloader::new(1024, Duration::from_millis(500)).allowing_loopback_for_tests();
    let started = Instant::now();
    let e = downloader
        .fetch(&reqwest::Url::parse(&format!("http://{address}/slow.png")).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.contains("longer than") || e.contains("timed out") || e.contains("could not be fetched"),
        "{e}"
    );
}

#[tokio::test]
async fn the_production_guard_refuses_a_local_server() {
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"secret".to_vec()))
        .mount(&files)
        .await;
    let url = reqwest::Url::parse(&format!("{}/a.png", files.uri())).unwrap();
    let e = Downloader::default()
        .fetch(&url)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("a loopback address"), "{e}");
    assert!(files.received_requests().await.unwrap().is_empty());
}
