//! The runbooks' page and API over runbooks synced from the fake
//! Confluence: filters by service type, search in title, service and body,
//! one runbook by id (404 otherwise), and refused without the server's
//! caller (a logged-out request).

mod fake;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fake::Fake;
use firefighter_confluence::routes::routes;
use firefighter_confluence::runbooks::{migrate, sync_runbooks};
use firefighter_confluence::{ConfluenceClient, ConfluenceConfig, RetryPolicy};
use firefighter_core::plugin::{Caller, PageLayout};
use firefighter_core::{Email, NewUser, Store};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const ROOT: &str = "100";

async fn world() -> (axum::Router, axum::Router, Fake) {
    let fake = Fake::start().await;
    fake.with(|t| {
        t.add(ROOT, None, "Runbooks", "");
        t.add("200", Some(ROOT), "Backend", "");
        t.add(
            "201",
            Some("200"),
            "ms.checkout [RUNBOOK]",
            "<p>restart the pods</p>",
        );
        t.add(
            "202",
            Some("200"),
            "ms.cart [RUNBOOK]",
            "<p>flush <b>Redis</b></p>",
        );
        t.add("300", Some(ROOT), "Frontend", "");
        t.add(
            "301",
            Some("300"),
            "front.web <shop> [RUNBOOK]",
            "<p>CDN purge</p>",
        );
        t.add(
            "302",
            Some("300"),
            "gw.edge [RUNBOOK]",
            "<p>redis sessions</p>",
        );
    });
    let file =
        std::env::temp_dir().join(format!("ff-confluence-routes-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .await
        .unwrap(),
    );
    migrate(store.database().unwrap()).await.unwrap();
    let client = ConfluenceClient::new(&ConfluenceConfig::new(&fake.uri, "u", "k"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(1),
        });
    let runbooks = firefighter_confluence::runbooks::RunbookStore::of(store.as_ref()).unwrap();
    sync_runbooks(&client, &runbooks, ROOT).await.unwrap();
    let user = store
        .create_user(&NewUser::person(Email::parse("ann@example.com").unwrap()))
        .await
        .unwrap();
    let caller = Caller {
        user,
        csrf_token: Some("csrf".into()),
        layout: PageLayout {
            prefix: "/ff".into(),
            head: format!("<html><title>{}</title><body>", PageLayout::TITLE),
            foot: "</body></html>".into(),
        },
        may_write: true,
    };
    let logged_in = routes(store.clone()).layer(axum::Extension(caller));
    let logged_out = routes(store);
    (logged_in, logged_out, fake)
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn json(router: &axum::Router, uri: &str) -> serde_json::Value {
    let (status, body) = get(router, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn services(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_api_lists_filters_and_shows_runbooks() {
    let (app, _, _fake) = world().await;
    let all = json(&app, "/api/v2/firefighter/runbooks/").await;
    assert_eq!(services(&all), ["cart", "checkout", "edge", "web <shop>"]);
    let first = &all.as_array().unwrap()[0];
    for key in [
        "id",
        "name",
        "page_id",
        "page_url",
        "page_edit_url",
        "created_at",
        "updated_at",
        "version",
        "title",
        "service_name",
        "service_type",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert!(first.get("body_storage").is_none());

    let ms = json(&app, "/api/v2/firefighter/runbooks/?service_type=ms").await;
    assert_eq!(services(&ms), ["cart", "checkout"]);
    let two = json(
        &app,
        "/api/v2/firefighter/runbooks?service_type=ms&service_type=gw",
    )
    .await;
    assert_eq!(services(&two), ["cart", "checkout", "edge"]);
    // In the body, case-insensitive; then in the service; then none.
    let redis = json(&app, "/api/v2/firefighter/runbooks/?search=REDIS").await;
    assert_eq!(services(&redis), ["cart", "edge"]);
    let both = json(
        &app,
        "/api/v2/firefighter/runbooks/?search=redis&service_type=gw",
    )
    .await;
    assert_eq!(services(&both), ["edge"]);
    assert_eq!(
        services(&json(&app, "/api/v2/firefighter/runbooks/?search=checkout").await),
        ["checkout"]
    );
    assert!(
        json(&app, "/api/v2/firefighter/runbooks/?search=nowhere")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    let id = first["id"].as_str().unwrap();
    let one = json(&app, &format!("/api/v2/firefighter/runbooks/{id}/")).await;
    assert_eq!(one, *first);
    let (status, body) = get(
        &app,
        &format!("/api/v2/firefighter/runbooks/{}/", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("not_found"), "{body}");
    let (status, _) = get(&app, "/api/v2/firefighter/runbooks/not-a-uuid/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_filters_searches_and_escapes() {
    let (app, _, _fake) = world().await;
    let (status, html) = get(&app, "/runbook/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.starts_with("<html><title>Runbooks</title>"), "{html}");
    assert!(html.contains("4 runbooks"), "{html}");
    assert!(html.contains("front.web &lt;shop&gt;"), "{html}");
    assert!(!html.contains("<shop>"));
    assert!(html.contains("action=\"/ff/runbook/\""), "{html}");

    let (_, html) = get(&app, "/runbook/?service_type=front").await;
    assert!(html.contains("1 runbook<"), "{html}");
    assert!(html.contains("value=\"front\" checked"), "{html}");
    assert!(!html.contains("ms.checkout"));

    let (_, html) = get(&app, "/runbook/?search=pods").await;
    assert!(
        html.contains("ms.checkout") && !html.contains("ms.cart"),
        "{html}"
    );
    let (_, html) = get(&app, "/runbook/?search=%3Cscript%3E").await;
    assert!(
        html.contains("No runbook matches") && html.contains("value=\"&lt;script&gt;\""),
        "{html}"
    );
}

#[tokio::test]
async fn a_logged_out_request_is_refused() {
    let (_, logged_out, _fake) = world().await;
    for uri in ["/runbook/", "/api/v2/firefighter/runbooks/"] {
        let (status, body) = get(&logged_out, uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(!body.contains("checkout"), "{uri}: {body}");
    }
}
