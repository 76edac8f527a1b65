//! Confluence as a post-mortem backend, against a wiremock fake of
//! Confluence: the page created once from core's request (title, body,
//! parent), a retried delivery after a lost answer adopting the page
//! instead of creating a second one, clear permanent errors, readiness from
//! labels; and every new request against the Prism mock of the official
//! contract (`--features contract-tests`).

#[path = "fake/proxy.rs"]
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use firefighter_confluence::postmortem::{
    BACKEND, ConfluencePostMortems, HANDLER_POSTMORTEMS, PostMortemHandler, PostMortemOutcome,
    create_postmortem_page,
};
use firefighter_confluence::{ConfluenceClient, ConfluenceConfig, PostMortemConfig, RetryPolicy};
use firefighter_core::event::{Delivery, EventHandler, HandlerError};
use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::{
    Declaration, Email, Firefighter, IncidentEvent, IncidentId, NewUser, PostMortemProvider,
    Settings, Status, Store, Update,
};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SPACE_ID: &str = "777";
const FOLDER: &str = "4242";
const TEMPLATE: &str = "5555";
const NEW_PAGE: &str = "9001";

fn client(uri: &str) -> ConfluenceClient {
    ConfluenceClient::new(&ConfluenceConfig::new(uri, "bot@example.com", "token"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

fn pm_config() -> PostMortemConfig {
    let mut config = PostMortemConfig::new("PM", FOLDER);
    config.template_page_id = Some(TEMPLATE.into());
    config
}

struct World {
    app: Firefighter,
    store: Arc<dyn Store>,
    server: MockServer,
    id: IncidentId,
}

/// An application with Confluence as its (only, or second) post-mortem
/// backend, and a P1 in production walked to Mitigated: core has asked for
/// the page.
async fn world(builtin: bool, channel: Option<&str>) -> World {
    world_with(builtin, channel, None).await
}

/// A handler named like Confluence's, whose body is given once the
/// application exists (it needs the application's handle): core's outbox
/// delivers to it.
#[derive(Default)]
struct Late(std::sync::OnceLock<PostMortemHandler>);

#[async_trait::async_trait]
impl EventHandler for Late {
    fn name(&self) -> &str {
        HANDLER_POSTMORTEMS
    }

    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        self.0.get().unwrap().handle(delivery).await
    }
}

async fn world_with(builtin: bool, channel: Option<&str>, handler: Option<Arc<Late>>) -> World {
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect("sqlite::memory:")
            .await
            .unwrap(),
    );
    world_on(store, MockServer::start().await, builtin, channel, handler).await
}

/// An application on `store` with Confluence (at `server`) as a backend.
async fn app_on(
    store: Arc<dyn Store>,
    server: &MockServer,
    builtin: bool,
    handler: Option<Arc<Late>>,
) -> Firefighter {
    let provider = ConfluencePostMortems::new(client(&server.uri()), &pm_config(), store.clone());
    let mut builder = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        time_zone: "Europe/Paris".into(),
        builtin_postmortem: builtin,
        ..Settings::default()
    })
    .store(store)
    .with_registered_plugins(false)
    .postmortem_provider(Arc::new(provider));
    if let Some(late) = &handler {
        builder = builder.event_handler(late.clone());
    }
    let app = builder.build().await.unwrap();
    if let Some(late) = &handler {
        let _ = late.0.set(PostMortemHandler::new(
            client(&server.uri()),
            pm_config(),
            app.handle(),
        ));
    }
    app
}

async fn world_on(
    store: Arc<dyn Store>,
    server: MockServer,
    builtin: bool,
    channel: Option<&str>,
    handler: Option<Arc<Late>>,
) -> World {
    let app = app_on(store.clone(), &server, builtin, handler).await;
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@example.com").unwrap()))
        .await
        .unwrap();
    let catalog = app.catalog().await.unwrap();
    let mut custom_fields = serde_json::Map::new();
    if let Some(name) = channel {
        custom_fields.insert("slack_channel_name".into(), json!(name));
    }
    let id = app
        .declare(Declaration {
            title: "Checkout <fails> & more".into(),
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
        server,
        id,
    }
}

impl World {
    fn incident_url(&self) -> String {
        format!("https://ff.example.com/incident/{}/", self.id.0)
    }

    /// Core's request for the Confluence page, as the outbox delivers it.
    async fn request(&self, attempt: u32) -> Delivery {
        let event = self
            .app
            .store()
            .incident_events(self.id)
            .await
            .unwrap()
            .into_iter()
            .find(|e| {
                matches!(&e.event, IncidentEvent::PostMortemRequested { backend } if backend == BACKEND)
            })
            .expect("core asked Confluence for the post-mortem");
        Delivery {
            id: 1,
            event,
            handler: HANDLER_POSTMORTEMS.into(),
            attempt,
        }
    }

    fn handler(&self) -> PostMortemHandler {
        PostMortemHandler::new(client(&self.server.uri()), pm_config(), self.app.handle())
    }

    async fn confluence_records(&self) -> Vec<firefighter_core::postmortem::PostMortem> {
        self.app
            .postmortems(self.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.backend == BACKEND)
            .collect()
    }

    async fn created_events(&self) -> usize {
        self.app
            .store()
            .incident_events(self.id)
            .await
            .unwrap()
            .iter()
            .filter(|e| matches!(&e.event, IncidentEvent::PostMortemCreated { backend, .. } if backend == BACKEND))
            .count()
    }

    /// The space, the folder (a page of the space), the template.
    async fn mount_space_folder_template(&self) {
        Mock::given(method("GET"))
            .and(path("/wiki/api/v2/spaces"))
            .and(query_param("keys", "PM"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "results": [{"id": SPACE_ID, "key": "PM", "name": "Post-mortems"}],
                "_links": {}
            })))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/pages/{FOLDER}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": FOLDER, "title": "Post-mortems", "spaceId": SPACE_ID, "status": "current"
            })))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/pages/{TEMPLATE}")))
            .and(query_param("body-format", "storage"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": TEMPLATE, "title": "Template", "spaceId": SPACE_ID, "status": "current",
                "version": {"number": 3},
                "body": {"storage": {"representation": "storage", "value":
                    "<h1>Post-mortem of {{ incident.title }}</h1><p>{{ incident.timeline }}</p><h2>Root causes</h2><p>To write.</p>"}}
            })))
            .mount(&self.server)
            .await;
    }

    /// The title look-up answers nothing.
    async fn mount_no_page_titled(&self, times: Option<u64>) {
        let mock = Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/spaces/{SPACE_ID}/pages")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"results": [], "_links": {}})),
            )
            .with_priority(1);
        match times {
            Some(n) => mock.up_to_n_times(n).mount(&self.server).await,
            None => mock.mount(&self.server).await,
        }
    }

    /// The title look-up finds `page_id`, whose body is `body`.
    async fn mount_page_titled(&self, title: &str, page_id: &str, body: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/spaces/{SPACE_ID}/pages")))
            .and(query_param("title", title))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                // The page of results that holds it comes after an empty one.
                "results": [],
                "_links": {"next": format!("/wiki/api/v2/spaces/{SPACE_ID}/pages?cursor=c2&title=x")}
            })))
            .with_priority(2)
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/spaces/{SPACE_ID}/pages")))
            .and(query_param("cursor", "c2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "results": [{"id": page_id, "title": title, "spaceId": SPACE_ID, "parentId": FOLDER,
                             "_links": {"webui": format!("/spaces/PM/pages/{page_id}")}}],
                "_links": {}
            })))
            .with_priority(1)
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/pages/{page_id}")))
            .and(query_param("body-format", "storage"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": page_id, "title": title, "spaceId": SPACE_ID, "status": "current",
                "version": {"number": 1},
                "body": {"storage": {"representation": "storage", "value": body}}
            })))
            .mount(&self.server)
            .await;
    }

    /// The folder's children: two earlier post-mortems and the template.
    async fn mount_children(&self) {
        Mock::given(method("GET"))
            .and(path(format!("/wiki/api/v2/pages/{FOLDER}/children")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "results": [
                    {"id": "8000", "title": "#20250101-1 (P1) Old", "status": "current"},
                    {"id": "8500", "title": "#20250201-2 (P2) Newer", "status": "current"},
                    {"id": "8900", "title": "Post-mortem template", "status": "current"},
                    {"id": NEW_PAGE, "title": "ours", "status": "current"}
                ],
                "_links": {}
            })))
            .mount(&self.server)
            .await;
    }

    fn expected_title(&self, reference: &str) -> String {
        format!("[IGNORE - TEST dev] #{reference} (P1) Checkout <fails> & more")
    }
}

fn created(title: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": NEW_PAGE, "title": title, "spaceId": SPACE_ID, "parentId": FOLDER, "status": "current",
        "version": {"number": 1},
        "_links": {"webui": format!("/spaces/PM/pages/{NEW_PAGE}/Post-mortem"), "base": "https://x.atlassian.net/wiki"}
    }))
}

#[tokio::test]
async fn the_page_is_created_once_with_fire_fighter_s_title_the_filled_template_and_the_folder() {
    let w = world(false, Some("#20260101-1-prd-checkout")).await;
    let title = w.expected_title("20260101-1-prd-checkout");
    w.mount_space_folder_template().await;
    w.mount_no_page_titled(None).await;
    w.mount_children().await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(created(&title))
        .expect(1)
        .mount(&w.server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!(
            "/wiki/rest/api/content/{NEW_PAGE}/move/before/8500"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"pageId": NEW_PAGE})))
        .expect(1)
        .mount(&w.server)
        .await;

    w.handler().handle(&w.request(1).await).await.unwrap();

    let requests = w.server.received_requests().await.unwrap();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let sent: serde_json::Value = post.body_json().unwrap();
    assert_eq!(sent["spaceId"], SPACE_ID);
    assert_eq!(sent["status"], "current");
    assert_eq!(sent["parentId"], FOLDER);
    assert_eq!(sent["title"], title.as_str());
    assert_eq!(sent["body"]["representation"], "storage");
    let body = sent["body"]["value"].as_str().unwrap();
    // The template's own content, its placeholders filled and escaped.
    assert!(
        body.contains("<h1>Post-mortem of Checkout &lt;fails&gt; &amp; more</h1>"),
        "{body}"
    );
    assert!(
        body.contains("<h2>Root causes</h2><p>To write.</p>"),
        "{body}"
    );
    assert!(!body.contains("<fails>"), "{body}");
    assert!(!body.contains("{{"), "{body}");
    // The timeline replaced its paragraph, in order, in TIME_ZONE.
    assert!(!body.contains("<p><table>"), "{body}");
    assert!(body.contains("When (Europe/Paris)"), "{body}");
    let at = |needle: &str| {
        body.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {body}"))
    };
    assert!(at("now Investigating") < at("now Mitigating"));
    assert!(at("now Mitigating") < at("now Mitigated"));
    // The line that says whose page it is.
    assert!(
        body.starts_with(&format!(
            "<p><em>Created by FireFighter for <a href=\"{}\">",
            w.incident_url()
        )),
        "{body}"
    );

    let docs = w.confluence_records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, NEW_PAGE);
    let url = format!(
        "{}/wiki/spaces/PM/pages/{NEW_PAGE}/Post-mortem",
        w.server.uri()
    );
    assert_eq!(docs[0].url, url);
    assert_eq!(
        w.app.incident(w.id).await.unwrap().custom_fields["postmortem_url"],
        url.as_str()
    );
    assert_eq!(w.created_events().await, 1);

    // Delivered again: nothing more is asked of Confluence.
    let before = w.server.received_requests().await.unwrap().len();
    w.handler().handle(&w.request(2).await).await.unwrap();
    assert_eq!(w.server.received_requests().await.unwrap().len(), before);
    assert_eq!(w.created_events().await, 1);
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_adopts_the_page_instead_of_creating_a_second_one() {
    let w = world(false, None).await;
    // No Slack channel: the incident's canonical name, in TIME_ZONE.
    let incident = w.app.incident(w.id).await.unwrap();
    let reference = incident.canonical_name(chrono_tz::Europe::Paris);
    let title = w.expected_title(&reference);
    w.mount_space_folder_template().await;
    // The first look-up finds nothing; Confluence then creates the page but
    // the answer is lost (500).
    w.mount_no_page_titled(Some(1)).await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&w.server)
        .await;
    let first = w.handler().handle(&w.request(1).await).await.unwrap_err();
    assert!(
        matches!(first, HandlerError::Retry { .. }),
        "a 500 is retried: {first:?}"
    );
    assert!(w.confluence_records().await.is_empty());

    // The page Confluence made (it links to the incident), found by title
    // on the second page of results.
    let made = format!(
        "<p><em>Created by FireFighter for <a href=\"{}\">incident #{}</a>.</em></p><p>…</p>",
        w.incident_url(),
        w.id.0
    );
    w.mount_page_titled(&title, NEW_PAGE, &made).await;
    w.mount_children().await;
    w.handler().handle(&w.request(2).await).await.unwrap();
    w.handler().handle(&w.request(3).await).await.unwrap();

    let docs = w.confluence_records().await;
    assert_eq!(docs.len(), 1, "recorded once");
    assert_eq!(docs[0].external_id, NEW_PAGE);
    assert_eq!(
        docs[0].url,
        format!("{}/wiki/spaces/PM/pages/{NEW_PAGE}", w.server.uri())
    );
    assert_eq!(w.created_events().await, 1);
    let timeline = w.app.timeline(w.id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|t| t.event_type.as_deref() == Some("postmortem_created"))
            .count(),
        1
    );
    // `expect(1)` on the POST: verified when the server drops.
}

/// The whole path: core's outbox delivers the request to the handler, the
/// create's answer is lost, the dispatcher retries, the page is adopted.
#[tokio::test]
async fn through_core_s_outbox_a_lost_answer_still_gives_one_page() {
    let late = Arc::new(Late::default());
    let w = world_with(false, Some("inc-checkout"), Some(late)).await;
    let title = w.expected_title("inc-checkout");
    w.mount_space_folder_template().await;
    w.mount_no_page_titled(Some(1)).await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&w.server)
        .await;
    let dispatcher = firefighter_core::outbox::Dispatcher::new(
        w.app.store().clone(),
        w.app.event_handlers(),
        firefighter_core::outbox::DispatcherConfig {
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..Default::default()
        },
        w.app.outbox_signal(),
    );
    // The handler sees the incident's events one at a time, in order (it
    // ignores the others); the request's attempt fails.
    let mut retried = 0;
    for _ in 0..20 {
        let pass = dispatcher.run_once().await.unwrap();
        retried += pass.retried;
        if pass.claimed == 0 || retried > 0 {
            break;
        }
    }
    assert_eq!(retried, 1);
    assert!(w.confluence_records().await.is_empty());

    let made = format!("<p><a href=\"{}\">#</a></p>", w.incident_url());
    w.mount_page_titled(&title, NEW_PAGE, &made).await;
    w.mount_children().await;
    let mut passes = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let pass = dispatcher.run_once().await.unwrap();
        assert_eq!((pass.retried, pass.parked), (0, 0), "{pass:?}");
        passes += 1;
        if pass.claimed == 0 || passes > 20 {
            break;
        }
    }
    let docs = w.confluence_records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, NEW_PAGE);
    // Recording wrote PostMortemCreated, delivered to the handler too (and ignored).
    assert_eq!(w.created_events().await, 1);
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_finds_the_page_under_its_old_title() {
    let w = world(false, Some("inc-checkout")).await;
    let old_title = w.expected_title("inc-checkout");
    w.mount_space_folder_template().await;
    w.mount_no_page_titled(None).await;
    // First attempt: the folder holds nothing of this incident; the answer
    // to the create is lost.
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{FOLDER}/children")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "8500", "title": "#inc-other (P2) Other", "status": "current"}],
            "_links": {}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&w.server)
        .await;
    assert!(matches!(
        w.handler().handle(&w.request(1).await).await,
        Err(HandlerError::Retry { .. })
    ));
    // Meanwhile the incident became a P2: the title looked up is another.
    let catalog = w.app.catalog().await.unwrap();
    w.app
        .update(
            w.id,
            Update {
                priority_id: Some(
                    catalog
                        .priorities
                        .iter()
                        .find(|p| p.name == "P2")
                        .unwrap()
                        .id,
                ),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{FOLDER}/children")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"id": "8500", "title": "#inc-other (P2) Other", "status": "current"},
                {"id": NEW_PAGE, "title": old_title, "status": "current"}
            ],
            "_links": {}
        })))
        .with_priority(2)
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{NEW_PAGE}")))
        .and(query_param("body-format", "storage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": NEW_PAGE, "title": old_title, "status": "current", "version": {"number": 1},
            "body": {"storage": {"representation": "storage",
                "value": format!("<p><a href=\"{}\">#</a></p>", w.incident_url())}}
        })))
        .mount(&w.server)
        .await;
    w.handler().handle(&w.request(2).await).await.unwrap();
    let docs = w.confluence_records().await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].external_id, NEW_PAGE);
    let posts = w
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1, "no second page");
}

#[tokio::test]
async fn the_same_lost_answer_met_by_confluence_s_title_check_is_adopted_too() {
    let w = world(false, Some("inc-checkout")).await;
    let title = w.expected_title("inc-checkout");
    w.mount_space_folder_template().await;
    // The look-up does not see the page yet; the create says the title is taken.
    w.mount_no_page_titled(Some(1)).await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{"status": 400, "code": "BAD_REQUEST",
                        "title": "A page with this title already exists: A page already exists with the same TITLE in this space"}]
        })))
        .expect(1)
        .mount(&w.server)
        .await;
    let made = format!("<p><a href=\"{}\">#</a></p>", w.incident_url());
    w.mount_page_titled(&title, NEW_PAGE, &made).await;
    w.mount_children().await;
    let outcome = create_postmortem_page(&w.app, &client(&w.server.uri()), &pm_config(), w.id)
        .await
        .unwrap();
    assert!(
        matches!(&outcome, PostMortemOutcome::Adopted(p) if p.id == NEW_PAGE),
        "{outcome:?}"
    );
    assert_eq!(w.confluence_records().await.len(), 1);
}

#[tokio::test]
async fn without_a_template_the_page_holds_every_fact_escaped() {
    let w = world(false, Some("inc-checkout")).await;
    let catalog = w.app.catalog().await.unwrap();
    let now = chrono::Utc::now();
    let mut key_events = std::collections::BTreeMap::new();
    key_events.insert(
        "started".to_owned(),
        Some(now - chrono::Duration::minutes(90)),
    );
    key_events.insert(
        "detected".to_owned(),
        Some(now - chrono::Duration::minutes(60)),
    );
    w.app.set_key_events(w.id, None, key_events).await.unwrap();
    let lost_revenue = catalog
        .cost_types
        .iter()
        .find(|c| c.name == "Lost revenue")
        .unwrap()
        .id;
    w.app
        .add_cost(w.id, None, lost_revenue, Some(123_456), "orders <lost>")
        .await
        .unwrap();
    w.mount_space_folder_template().await;
    w.mount_no_page_titled(None).await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(created("x"))
        .expect(1)
        .mount(&w.server)
        .await;
    let mut config = pm_config();
    config.template_page_id = None;
    let outcome = create_postmortem_page(&w.app, &client(&w.server.uri()), &config, w.id)
        .await
        .unwrap();
    assert!(
        matches!(outcome, PostMortemOutcome::Created(_)),
        "{outcome:?}"
    );
    let requests = w.server.received_requests().await.unwrap();
    assert!(
        !requests
            .iter()
            .any(|r| r.url.path() == format!("/wiki/api/v2/pages/{TEMPLATE}")),
        "no template is read"
    );
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let sent: serde_json::Value = post.body_json().unwrap();
    let body = sent["body"]["value"].as_str().unwrap();
    for expected in [
        "<tr><th>Priority</th><td>P1</td></tr>",
        "<tr><th>Category</th><td>Checkout</td></tr>",
        "<tr><th>Environments</th><td>PRD</td></tr>",
        "<tr><th>Status</th><td>Mitigated</td></tr>",
        "<h2>Summary</h2><p>Customers get an error page.</p><p>Since 10:00.</p>",
        "<li><strong>Commander</strong>: jane</li>",
        "<li><strong>Time to detect</strong>: 00:30:00</li>",
        "<li><strong>Lost revenue</strong>: 1234.56 EUR — orders &lt;lost&gt;</li>",
        "Checkout &lt;fails&gt; &amp; more",
    ] {
        assert!(body.contains(expected), "{expected} missing from {body}");
    }
    assert!(!body.contains("<lost>"), "{body}");
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_confluence_s_wait() {
    let w = world(false, None).await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/spaces"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .mount(&w.server)
        .await;
    let err = w.handler().handle(&w.request(1).await).await.unwrap_err();
    assert_eq!(
        err,
        HandlerError::Retry {
            message: "Confluence rate limit reached (retry in 30 s)".into(),
            retry_after: Some(Duration::from_secs(30)),
        }
    );
    assert!(w.confluence_records().await.is_empty());
}

#[tokio::test]
async fn a_missing_template_is_a_permanent_error_saying_what_to_fix() {
    let w = world(false, None).await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/spaces"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": SPACE_ID, "key": "PM"}]
        })))
        .mount(&w.server)
        .await;
    w.mount_no_page_titled(None).await;
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{FOLDER}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": FOLDER, "spaceId": SPACE_ID})),
        )
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{TEMPLATE}")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errors": [{"status": 404, "title": "Not Found"}]})),
        )
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(created("x"))
        .expect(0)
        .mount(&w.server)
        .await;
    let err = w.handler().handle(&w.request(1).await).await.unwrap_err();
    let HandlerError::Permanent(message) = err else {
        panic!("expected a permanent error, got {err:?}")
    };
    assert!(message.contains("template page 5555"), "{message}");
    assert!(
        message.contains("CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID"),
        "{message}"
    );
    assert!(message.contains("re-queue"), "{message}");
    assert!(w.confluence_records().await.is_empty());
    // The responders are told, in the incident's conversation and timeline.
    let events = w.app.store().incident_events(w.id).await.unwrap();
    let notice = events.iter().find_map(|e| match &e.event {
        firefighter_core::IncidentEvent::Notice { text } => Some(text.clone()),
        _ => None,
    });
    let notice = notice.expect("a notice for the chat integrations");
    assert!(notice.contains("template page 5555"), "{notice}");
    let timeline = w.app.timeline(w.id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|t| t.message.as_deref() == Some(notice.as_str())),
        "and on the incident's timeline"
    );
}

#[tokio::test]
async fn a_folder_of_another_space_or_a_title_held_by_another_page_are_permanent_errors() {
    let w = world(false, Some("inc-checkout")).await;
    let title = w.expected_title("inc-checkout");
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/spaces"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": SPACE_ID, "key": "PM"}]
        })))
        .mount(&w.server)
        .await;
    w.mount_no_page_titled(Some(1)).await;
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{FOLDER}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": FOLDER, "spaceId": "999"})),
        )
        .mount(&w.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(created("x"))
        .expect(0)
        .mount(&w.server)
        .await;
    let HandlerError::Permanent(message) =
        w.handler().handle(&w.request(1).await).await.unwrap_err()
    else {
        panic!("expected a permanent error")
    };
    assert!(message.contains("folder 4242"), "{message}");
    assert!(message.contains("another space (id 999)"), "{message}");

    // A person's page holds the title (it does not link to the incident).
    w.mount_page_titled(&title, "6000", "<p>Someone's notes</p>")
        .await;
    let HandlerError::Permanent(message) =
        w.handler().handle(&w.request(2).await).await.unwrap_err()
    else {
        panic!("expected a permanent error")
    };
    assert!(message.contains("page 6000 is already titled"), "{message}");
    assert!(
        message.contains(&format!("incident #{}", w.id.0)),
        "{message}"
    );
    assert!(w.confluence_records().await.is_empty());
}

#[tokio::test]
async fn readiness_is_the_ready_label_on_the_recorded_page() {
    let w = world(true, None).await;
    // The built-in backend stays first.
    assert_eq!(
        w.app.postmortem_backends(),
        vec!["firefighter".to_owned(), BACKEND.to_owned()]
    );
    let provider =
        ConfluencePostMortems::new(client(&w.server.uri()), &pm_config(), w.store.clone());
    let incident = w.app.incident(w.id).await.unwrap();
    assert_eq!(provider.state(&incident).await, PostMortemState::Missing);

    assert!(
        w.app
            .record_postmortem(
                w.id,
                BACKEND,
                NEW_PAGE,
                "https://x.atlassian.net/wiki/p/9001"
            )
            .await
            .unwrap()
    );
    // Labels over two pages of results.
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{NEW_PAGE}/labels")))
        .and(query_param("cursor", "next1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "2", "name": "postmortem-ready", "prefix": "global"}], "_links": {}
        })))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&w.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{NEW_PAGE}/labels")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "1", "name": "draft", "prefix": "global"}],
            "_links": {"next": format!("/wiki/api/v2/pages/{NEW_PAGE}/labels?cursor=next1")}
        })))
        .with_priority(2)
        .up_to_n_times(1)
        .mount(&w.server)
        .await;
    assert_eq!(provider.state(&incident).await, PostMortemState::Ready);

    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{NEW_PAGE}/labels")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "1", "name": "draft"}], "_links": {}
        })))
        .with_priority(3)
        .up_to_n_times(1)
        .mount(&w.server)
        .await;
    assert_eq!(
        provider.state(&incident).await,
        PostMortemState::NotReady("not labelled postmortem-ready".into())
    );

    Mock::given(method("GET"))
        .and(path(format!("/wiki/api/v2/pages/{NEW_PAGE}/labels")))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(4)
        .mount(&w.server)
        .await;
    let PostMortemState::Unknown(why) = provider.state(&incident).await else {
        panic!("expected Unknown")
    };
    assert!(why.contains("labels of the Confluence page 9001"), "{why}");
    assert!(why.contains("503"), "{why}");
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

/// Every request of the post-mortem backend, as the client sends it,
/// against the Prism mock of Confluence's official contract (v2 and the v1
/// move): all answered 2xx, with no violation reported.
#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn postmortem_requests_conform() {
    let url = std::env::var("FF_CONTRACT_CONFLUENCE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4013".into());
    let (proxy, log) = proxy::recording_proxy(&url).await;
    let c = client(&proxy);
    // The mock answers its examples ("string" ids and keys, a "string"
    // next link): what matters here is what was sent.
    let space = c.space_id("PM").await;
    assert!(
        matches!(space, Err(firefighter_confluence::Error::Decode(ref m)) if m.contains("next results")),
        "{space:?}"
    );
    let titled = c
        .pages_titled(
            "777",
            "[IGNORE - TEST dev] #20260101-1 (P1) Checkout & more",
        )
        .await;
    assert!(
        matches!(titled, Err(firefighter_confluence::Error::Decode(ref m)) if m.contains("next results")),
        "{titled:?}"
    );
    assert_eq!(c.parent_space(FOLDER).await.unwrap(), Some("string".into()));
    let template = c.page(TEMPLATE).await.unwrap();
    assert!(!template.body.is_empty());
    let page = c
        .create_page(
            "777",
            FOLDER,
            "[IGNORE - TEST dev] #20260101-1 (P1) Checkout & more",
            "<p><em>Created by FireFighter</em></p><table><tbody><tr><td>x</td></tr></tbody></table>",
        )
        .await
        .unwrap();
    assert!(!page.id.is_empty());
    assert!(page.url.starts_with(&proxy), "{}", page.url);
    for listed in [
        c.labels(NEW_PAGE).await.map(|_| ()),
        c.children(FOLDER).await.map(|_| ()),
    ] {
        assert!(
            matches!(listed, Err(firefighter_confluence::Error::Decode(ref m)) if m.contains("next results")),
            "{listed:?}"
        );
    }
    c.move_before(NEW_PAGE, "8500").await.unwrap();
    // The folder look-up the client makes after a 404 on the page, sent the same way.
    let folder = reqwest::Client::new()
        .get(format!("{proxy}/wiki/api/v2/folders/{FOLDER}"))
        .basic_auth("bot@example.com", Some("token"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(folder.status().is_success());

    let (statuses, violations) = proxy::answers(&log);
    assert_eq!(statuses.len(), 9, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    assert!(violations.is_empty(), "{violations:?}");

    // The recording does see a request breaking the contract.
    let bad = reqwest::Client::new()
        .get(format!(
            "{proxy}/wiki/api/v2/pages/{TEMPLATE}?body-format=html"
        ))
        .basic_auth("bot@example.com", Some("token"))
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error());
    let (statuses, violations) = proxy::answers(&log);
    assert_eq!(statuses.len(), 10);
    assert!(!(200..300).contains(&statuses[9]), "{statuses:?}");
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("body-format"), "{violations:?}");
}

/// Two instances on one PostgreSQL database, each with Confluence's handler
/// and its dispatcher running: the page is created once, recorded once.
#[tokio::test]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL and --features postgres-tests"
)]
async fn two_instances_on_postgres_create_one_page() {
    let admin =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    let db = format!("ff_confluence_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.clone(), |(b, _)| b.to_owned());
    let url = format!("{base}/{db}");
    let store_a: Arc<dyn Store> = Arc::new(
        firefighter_core::store::PgStore::connect(&url)
            .await
            .unwrap(),
    );
    let store_b: Arc<dyn Store> = Arc::new(
        firefighter_core::store::PgStore::connect(&url)
            .await
            .unwrap(),
    );
    let server = MockServer::start().await;
    let b = app_on(store_b, &server, false, Some(Arc::new(Late::default()))).await;
    let w = world_on(
        store_a,
        server,
        false,
        Some("inc-checkout"),
        Some(Arc::new(Late::default())),
    )
    .await;
    let title = w.expected_title("inc-checkout");
    w.mount_space_folder_template().await;
    w.mount_no_page_titled(None).await;
    Mock::given(method("POST"))
        .and(path("/wiki/api/v2/pages"))
        .respond_with(created(&title))
        .expect(1)
        .mount(&w.server)
        .await;
    let dispatcher = |app: &Firefighter| {
        firefighter_core::outbox::Dispatcher::new(
            app.store().clone(),
            app.event_handlers(),
            firefighter_core::outbox::DispatcherConfig {
                base_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                ..Default::default()
            },
            app.outbox_signal(),
        )
    };
    let (da, db) = (dispatcher(&w.app), dispatcher(&b));
    for _ in 0..30 {
        let (x, y) = tokio::join!(da.run_once(), db.run_once());
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!((x.parked, y.parked), (0, 0));
        if x.claimed == 0 && y.claimed == 0 && !w.confluence_records().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let docs = w.confluence_records().await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0].external_id, NEW_PAGE);
    assert_eq!(
        b.postmortems(w.id).await.unwrap().len(),
        1,
        "the other instance sees the same record"
    );
    assert_eq!(w.created_events().await, 1);
    // `expect(1)` on the POST: verified when the server drops.
}
