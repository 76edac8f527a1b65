//! The on-call export against a wiremock fake of Confluence, and every
//! request shape against the Prism mock of Confluence's official contract.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use firefighter_confluence::{
    ConfluenceClient, ConfluenceConfig, Error, ExportOutcome, RetryPolicy, export_oncall,
    export_roster, render_oncall_page,
};
use firefighter_core::UserId;
use firefighter_core::oncall::{OnCallLevel, OnCallPerson, OnCallPolicy, Roster};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn roster_of(ann: Option<UserId>) -> Roster {
    Roster {
        at: Utc::now(),
        synced_at: Some(Utc::now()),
        policies: vec![OnCallPolicy {
            id: "PA".into(),
            name: "Payments".into(),
            url: String::new(),
            levels: vec![OnCallLevel {
                level: 1,
                people: vec![OnCallPerson {
                    name: "Ann <Admin>".into(),
                    email: "ann@example.com".into(),
                    phone: Some("+33612345678".into()),
                    user_id: ann,
                    external_id: "PU1".into(),
                    url: String::new(),
                    schedule: None,
                    until: None,
                }],
            }],
        }],
    }
}

fn roster() -> Roster {
    roster_of(None)
}

fn no_links() -> HashMap<UserId, String> {
    HashMap::new()
}

fn client(uri: &str) -> ConfluenceClient {
    ConfluenceClient::new(&ConfluenceConfig::new(uri, "bot@example.com", "token"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

fn page_json(version: i64, body: &str, message: &str) -> serde_json::Value {
    json!({
        "id": "123456", "status": "current", "title": "On-call", "spaceId": "1",
        "version": {"number": version, "message": message, "createdAt": "2026-01-01T00:00:00Z"},
        "body": {"storage": {"representation": "storage", "value": body}},
    })
}

#[tokio::test]
async fn updates_the_page_only_when_the_roster_changed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .and(query_param("body-format", "storage"))
        .and(header(
            "authorization",
            "Basic Ym90QGV4YW1wbGUuY29tOnRva2Vu",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(7, "<p>old</p>", "")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let rendered = render_oncall_page(&roster(), &no_links(), "https://ff.example.com");
    Mock::given(method("PUT"))
        .and(path("/wiki/api/v2/pages/123456"))
        .and(body_partial_json(json!({
            "id": "123456", "status": "current", "title": "On-call",
            "version": {"number": 8},
            "body": {"representation": "storage", "value": rendered},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(8, &rendered, "")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&format!("{}/wiki/rest/api", server.uri()));
    let outcome = export_roster(
        &c,
        "123456",
        &roster(),
        &no_links(),
        "https://ff.example.com",
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Updated {
            page_id: "123456".into(),
            version: 8
        }
    );
    assert!(rendered.contains("Ann &lt;Admin&gt;"));

    // Confluence reformats what it stores: the fingerprint in the version message still matches.
    let put: serde_json::Value = server.received_requests().await.unwrap()[1]
        .body_json()
        .unwrap();
    let message = put["version"]["message"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(
            8,
            "<h2>reformatted</h2>",
            &message,
        )))
        .mount(&server)
        .await;
    let again = export_roster(
        &c,
        "123456",
        &roster(),
        &no_links(),
        "https://ff.example.com",
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        ExportOutcome::Unchanged {
            page_id: "123456".into(),
            version: 8
        }
    );
    assert!(again.to_string().contains("already up to date"));
}

#[tokio::test]
async fn a_missing_page_and_a_version_conflict_are_clear_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/404404"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errors": [{"status": 404, "title": "Not Found"}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(3, "<p>old</p>", "")))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"errors": [{"status": 409, "title": "Version must be incremented on update. Current Version is: 4"}]})))
        // Read again and written on top of the version read, three times in all.
        .expect(3)
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let missing = export_roster(&c, "404404", &roster(), &no_links(), "https://x")
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::PageNotFound(_)));
    assert!(
        missing.to_string().contains("404404 does not exist"),
        "{missing}"
    );
    let conflict = export_roster(&c, "123456", &roster(), &no_links(), "https://x")
        .await
        .unwrap_err();
    assert!(
        matches!(conflict, Error::VersionConflict { version: 4, .. }),
        "{conflict}"
    );
    assert!(conflict.to_string().contains("nothing was written"));
    let bad = export_roster(&c, "12/../3", &roster(), &no_links(), "https://x")
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::Config(_)));
}

/// The page was updated but the answer was lost (a 500 after Confluence
/// applied it): the retried PUT meets a version conflict, the page read again
/// shows our roster, and nothing is written a second time.
#[tokio::test]
async fn an_update_whose_answer_was_lost_is_not_written_twice() {
    let server = MockServer::start().await;
    let ours = render_oncall_page(&roster(), &no_links(), "https://x");
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(3, "<p>old</p>", "")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(4, &ours, "")))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"errors": [{"status": 409, "title": "Version must be incremented on update. Current Version is: 4"}]})))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let outcome = export_roster(
        &client(&server.uri()),
        "123456",
        &roster(),
        &no_links(),
        "https://x",
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome::Updated {
            page_id: "123456".into(),
            version: 4
        }
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0.3"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let rendered = render_oncall_page(&roster(), &no_links(), "https://x");
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(2, &rendered, "")))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let outcome = export_roster(
        &client(&server.uri()),
        "123456",
        &roster(),
        &no_links(),
        "https://x",
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(matches!(outcome, ExportOutcome::Unchanged { .. }));
}

/// An application on `store`, with an on-call vendor serving `roster` when given.
async fn app_on(
    store: Arc<dyn firefighter_core::Store>,
    oncall: Option<Roster>,
) -> firefighter_core::Firefighter {
    let mut builder = firefighter_core::Firefighter::builder(firefighter_core::Settings {
        base_url: "https://ff.example.com".into(),
        ..firefighter_core::Settings::default()
    })
    .store(store);
    if let Some(roster) = oncall {
        let mut vendor = firefighter_core::oncall::MockOnCall::new();
        vendor.expect_name().return_const("mock".to_owned());
        vendor.expect_roster().returning(move || Ok(roster.clone()));
        builder = builder.oncall(Arc::new(vendor));
    }
    builder.build().await.unwrap()
}

async fn app_with(oncall: Option<Roster>) -> firefighter_core::Firefighter {
    let store = firefighter_core::store::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    app_on(Arc::new(store), oncall).await
}

#[tokio::test]
async fn the_export_renders_core_s_roster_with_slack_links_from_core_accounts() {
    // Ann's account, with her Slack id, exists before the vendor names her.
    let first = app_with(None).await;
    let ann = first
        .store()
        .create_user(&firefighter_core::NewUser::person(
            firefighter_core::Email::parse("ann@example.com").unwrap(),
        ))
        .await
        .unwrap();
    first
        .store()
        .set_identity(ann.id, "slack", "U0ANN")
        .await
        .unwrap();
    let app = app_on(first.store().clone(), Some(roster_of(Some(ann.id)))).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(7, "<p>old</p>", "")))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wiki/api/v2/pages/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_json(8, "<p>new</p>", "")))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = ConfluenceConfig::new(&server.uri(), "bot@example.com", "token");
    config.oncall_page_id = Some("123456".into());
    let outcome = export_oncall(&app, &client(&server.uri()), &config)
        .await
        .unwrap();
    assert!(
        matches!(outcome, ExportOutcome::Updated { version: 8, .. }),
        "{outcome}"
    );
    let put: serde_json::Value = server.received_requests().await.unwrap()[1]
        .body_json()
        .unwrap();
    let body = put["body"]["value"].as_str().unwrap();
    assert!(
        body.contains(
            "<a href=\"https://slack.com/app_redirect?channel=U0ANN\">Ann &lt;Admin&gt;</a>"
        ),
        "{body}"
    );
    assert!(body.contains("https://ff.example.com/oncall/"), "{body}");
}

#[tokio::test]
async fn the_export_is_skipped_without_an_oncall_vendor() {
    let app = app_with(None).await;
    let server = MockServer::start().await;
    let mut config = ConfluenceConfig::new(&server.uri(), "bot@example.com", "token");
    config.oncall_page_id = Some("123456".into());
    let outcome = export_oncall(&app, &client(&server.uri()), &config)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::NoOnCallVendor);
    assert!(
        outcome.to_string().contains("no on-call vendor"),
        "{outcome}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "Confluence is not called"
    );
}

#[tokio::test]
async fn the_export_is_skipped_without_a_page_id() {
    let app = app_with(Some(roster())).await;
    let config = ConfluenceConfig::new("http://127.0.0.1:9", "u", "k");
    let outcome = export_oncall(&app, &ConfluenceClient::new(&config).unwrap(), &config)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::Skipped);
    assert_eq!(
        outcome.to_string(),
        "skipped: CONFLUENCE_ON_CALL_PAGE_ID is not set"
    );
}

/// The Prism mock of Confluence's official contract (v2 pages).
#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn page_get_and_put_conform() {
    let url = std::env::var("FF_CONTRACT_CONFLUENCE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4013".into());
    // Raw calls record the status and sl-violations of exactly what the client sends.
    let c = client(&url);
    let page = c.page("123456").await.unwrap();
    let updated = c
        .update_page(&page, "<p>On-call</p>", "firefighter on-call export 0011")
        .await
        .unwrap();
    assert!(!updated.id.is_empty());
    // The same requests, checked for violations by Prism.
    let http = reqwest::Client::new();
    let get = http
        .get(format!(
            "{url}/wiki/api/v2/pages/123456?body-format=storage"
        ))
        .basic_auth("bot@example.com", Some("token"))
        .send()
        .await
        .unwrap();
    assert!(get.status().is_success());
    assert!(
        get.headers()
            .get("sl-violations")
            .is_none_or(|v| !v.to_str().unwrap().contains("\"request\""))
    );
}
