//! Every request shape the PagerDuty clients send, against the Prism mock of
//! PagerDuty's official OpenAPI contracts (REST v2 and Events v2).
//!
//! Run with `../shared/contract-mocks/start-mocks.sh pagerduty` then
//! `cargo test -p firefighter-pagerduty --features contract-tests --test contract`
//! (`FF_CONTRACT_PAGERDUTY_URL` overrides `http://127.0.0.1:4011`).
//! Requests go through a recording proxy that keeps Prism's `sl-violations`
//! header, so each test asserts 2xx and no violation of the request.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use common::*;
use firefighter_pagerduty::models::{Event, EventPayload, NewIncident, Reference};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    status: u16,
    violations: String,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    http: reqwest::Client,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let url = format!(
        "{}{}",
        proxy.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = proxy
        .http
        .request(
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
            url,
        )
        .body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let response = request.send().await.expect("the Prism mock answers");
    let status = response.status().as_u16();
    let violations = response
        .headers()
        .get("sl-violations")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let mut out = HeaderMap::new();
    if let Some(ct) = response.headers().get("content-type") {
        out.insert("content-type", ct.to_str().unwrap().parse().unwrap());
    }
    let bytes = response.bytes().await.unwrap();
    proxy.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        status,
        violations,
    });
    (StatusCode::from_u16(status).unwrap(), out, bytes)
}

async fn proxy() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let upstream = std::env::var("FF_CONTRACT_PAGERDUTY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4011".into())
        .trim_end_matches('/')
        .to_owned();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Proxy {
        upstream,
        seen: seen.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// Every recorded call was 2xx and Prism found nothing wrong with the request.
fn assert_conform(seen: &Arc<Mutex<Vec<Seen>>>, expected_calls: usize) {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), expected_calls, "{seen:?}");
    for s in seen.iter() {
        assert!(
            (200..300).contains(&s.status),
            "{} {} → {}: {}",
            s.method,
            s.path,
            s.status,
            s.violations
        );
        assert!(
            !s.violations.contains("\"request\""),
            "{} {}: {}",
            s.method,
            s.path,
            s.violations
        );
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn rest_lists_conform() {
    let app = app().await;
    let (url, seen) = proxy().await;
    let pd = pagerduty(&app, &url);
    assert!(!pd.rest().oncalls().await.unwrap().is_empty());
    assert!(!pd.rest().services().await.unwrap().is_empty());
    assert!(!pd.rest().users().await.unwrap().is_empty());
    assert!(!pd.rest().teams().await.unwrap().is_empty());
    pd.rest().contact_methods("PXPGF42").await.unwrap();
    pd.rest()
        .incident_by_key("PWIXJZS", "baf7cf21b1da41b4b0221008339ff357")
        .await
        .unwrap();
    assert_conform(&seen, 6);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn the_syncs_conform() {
    let app = app().await;
    let (url, seen) = proxy().await;
    let pd = pagerduty(&app, &url);
    pd.sync_services().await.unwrap();
    pd.sync_oncalls().await.unwrap();
    pd.sync_users().await.unwrap();
    // services, oncalls, users, teams.
    assert_conform(&seen, 4);
    // The spec's on-call example ended in 2015: only the services show.
    assert!(
        !firefighter_pagerduty::services(&app, true)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn create_incident_conforms() {
    let app = app().await;
    let (url, seen) = proxy().await;
    let pd = pagerduty(&app, &url);
    let incident = NewIncident {
        kind: "incident",
        title: "The server is on fire.".into(),
        service: Reference::to("service_reference", "PWIXJZS"),
        urgency: "high",
        incident_key: "20260105-12-pwixjzs".into(),
        body: None,
        conference_bridge: Some(firefighter_pagerduty::models::ConferenceBridge {
            conference_url: "https://ff.example.com/incident/12/".into(),
        }),
    };
    let created = pd.rest().create_incident(incident).await.unwrap();
    assert_eq!(created.id, "PT4KHLK");
    assert_conform(&seen, 1);

    // The details travel as a note: valid for the schema and the real API
    // (the schema types `incident.body.details` as an object, the API as text).
    seen.lock().unwrap().clear();
    pd.rest()
        .add_note(&created.id, "A disk is getting full on this machine.")
        .await
        .unwrap();
    assert_conform(&seen, 1);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn events_enqueue_conforms() {
    let app = app().await;
    let (url, seen) = proxy().await;
    let pd = pagerduty(&app, &url);
    let accepted = pd
        .events()
        .enqueue(&Event {
            routing_key: "e93facc04764012d7bfb002500d5d1a6".into(),
            event_action: "trigger",
            dedup_key: "20260105-12-pwixjzs".into(),
            payload: EventPayload {
                summary: "Checkout is down".into(),
                source: "https://ff.example.com".into(),
                severity: "critical",
                custom_details: Some(serde_json::json!({"details": "All card payments fail"})),
            },
            client: Some("FireFighter".into()),
            client_url: Some("https://ff.example.com".into()),
            links: vec![firefighter_pagerduty::models::EventLink {
                href: "https://ff.example.com/incident/12/".into(),
                text: "FireFighter incident #12".into(),
            }],
        })
        .await
        .unwrap();
    assert_eq!(accepted.status.as_deref(), Some("success"));
    assert_conform(&seen, 1);
}
