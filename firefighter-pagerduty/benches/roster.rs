//! Sync of 10,000 users and 2,000 on-call entries from a local fake
//! PagerDuty (time and peak memory, VmHWM), then the roster query and the
//! `/oncall/` page with that roster (latency).
//!
//! `cargo bench -p firefighter-pagerduty --bench roster`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::Request;
use axum::response::IntoResponse;
use firefighter_core::plugin::Caller;
use firefighter_core::store::SqliteStore;
use firefighter_core::{Firefighter, Settings};
use firefighter_pagerduty::{PagerDuty, PagerDutyConfig};
use serde_json::json;
use tower::ServiceExt;

const USERS: usize = 10_000;
const ONCALLS: usize = 2_000;
const POLICIES: usize = 400;
const PAGE: usize = 100;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Pre-rendered pages of every list, by (path, offset).
type Pages = Arc<HashMap<(String, usize), String>>;

fn pages() -> Pages {
    let mut pages = HashMap::new();
    let user = |i: usize| {
        json!({
            "id": format!("PU{i:05}"), "type": "user", "name": format!("Person {i}"),
            "summary": format!("Person {i}"), "email": format!("person{i}@example.com"),
            "html_url": format!("https://acme.pagerduty.com/users/PU{i:05}"),
            "contact_methods": [
                {"id": format!("E{i}"), "type": "email_contact_method", "label": "Default", "address": format!("person{i}@example.com")},
                {"id": format!("M{i}"), "type": "phone_contact_method", "label": "Mobile", "address": format!("6{i:08}"), "country_code": 33},
            ],
            "teams": [{"id": format!("PT{}", i % 50), "type": "team_reference", "summary": format!("Team {}", i % 50)}],
        })
    };
    for offset in (0..USERS).step_by(PAGE) {
        let items: Vec<_> = (offset..(offset + PAGE).min(USERS)).map(user).collect();
        let more = offset + PAGE < USERS;
        pages.insert(
            ("/users".to_owned(), offset),
            json!({"users": items, "offset": offset, "limit": PAGE, "more": more}).to_string(),
        );
    }
    let oncall = |i: usize| {
        let policy = i % POLICIES;
        let level = i / POLICIES + 1;
        json!({
            "user": user((i * 7) % USERS),
            "schedule": {"id": format!("PS{policy}-{level}"), "type": "schedule_reference", "summary": format!("Rotation {policy}/{level}")},
            "escalation_policy": {
                "id": format!("PE{policy:03}"), "type": "escalation_policy", "name": format!("Policy {policy:03}"),
                "summary": format!("Policy {policy:03}"),
                "services": [{"id": format!("PSV{policy:03}"), "type": "service_reference", "summary": format!("Service {policy:03}")}],
            },
            "escalation_level": level,
            "start": "2020-01-01T00:00:00Z",
            "end": "2100-01-01T00:00:00Z",
        })
    };
    for offset in (0..ONCALLS).step_by(PAGE) {
        let items: Vec<_> = (offset..(offset + PAGE).min(ONCALLS)).map(oncall).collect();
        let more = offset + PAGE < ONCALLS;
        pages.insert(
            ("/oncalls".to_owned(), offset),
            json!({"oncalls": items, "offset": offset, "limit": PAGE, "more": more}).to_string(),
        );
    }
    let teams: Vec<_> = (0..50)
        .map(|t| json!({"id": format!("PT{t}"), "name": format!("Team {t}")}))
        .collect();
    pages.insert(
        ("/teams".to_owned(), 0),
        json!({"teams": teams, "offset": 0, "limit": PAGE, "more": false}).to_string(),
    );
    Arc::new(pages)
}

async fn serve(
    State(pages): State<Pages>,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let offset = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    match pages.get(&(uri.path().to_owned(), offset)) {
        Some(body) => ([("content-type", "application/json")], body.clone()).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.95))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pages = pages();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(serve).with_state(pages);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let db = std::env::temp_dir().join(format!("ff-pd-bench-{}.db", uuid::Uuid::new_v4()));
    let store = SqliteStore::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let settings = Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    };
    let app = Firefighter::builder(settings)
        .store(Arc::new(store))
        .build()
        .await
        .unwrap();
    firefighter_pagerduty::migrate(app.store().database().unwrap())
        .await
        .unwrap();
    let mut config = PagerDutyConfig::new("bench-key", "oncall@example.com", fake.as_str());
    config.requests_per_minute = 1_000_000;
    let pd = PagerDuty::new(config, app.store().clone()).unwrap();
    println!("baseline: VmHWM {:.1} MiB", vm_hwm_mib());

    let t = Instant::now();
    let r = pd.sync_users().await.unwrap();
    println!(
        "sync_users, first run ({} users, creates and links {} firefighter users): {:.2} s, VmHWM {:.1} MiB — {}",
        r.fetched,
        USERS,
        t.elapsed().as_secs_f64(),
        vm_hwm_mib(),
        r.summary
    );
    let t = Instant::now();
    pd.sync_users().await.unwrap();
    println!(
        "sync_users, steady state (nothing new to link): {:.2} s, VmHWM {:.1} MiB",
        t.elapsed().as_secs_f64(),
        vm_hwm_mib()
    );
    let t = Instant::now();
    let r = pd.sync_oncalls().await.unwrap();
    println!(
        "sync_oncalls ({} entries, {} policies): {:.2} s, VmHWM {:.1} MiB — {}",
        r.fetched,
        POLICIES,
        t.elapsed().as_secs_f64(),
        vm_hwm_mib(),
        r.summary
    );
    let t = Instant::now();
    pd.sync_oncalls().await.unwrap();
    println!(
        "sync_oncalls, again (roster replaced): {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let mut samples = Vec::new();
    let mut people = 0;
    for _ in 0..50 {
        let t = Instant::now();
        let roster = firefighter_pagerduty::roster(&app).await.unwrap();
        samples.push(t.elapsed());
        people = roster
            .policies
            .iter()
            .flat_map(|p| &p.levels)
            .map(|l| l.people.len())
            .sum();
    }
    let (p50, p95) = percentiles(samples);
    println!("roster query ({people} people on call): p50 {p50:.2?}, p95 {p95:.2?}");

    let web = firefighter_pagerduty::routes(app.clone(), pd.clone());
    let caller = Caller {
        user: app.store().list_users().await.unwrap().remove(0),
        layout: Default::default(),
        csrf_token: None,
        may_write: true,
    };
    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..50 {
        let mut request = Request::get("/oncall/").body(Body::empty()).unwrap();
        request.extensions_mut().insert(caller.clone());
        let t = Instant::now();
        let response = web.clone().oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap();
        samples.push(t.elapsed());
        size = body.len();
    }
    let (p50, p95) = percentiles(samples);
    println!(
        "GET /oncall/ ({} KiB of HTML): p50 {p50:.2?}, p95 {p95:.2?}",
        size / 1024
    );
    println!("peak memory (VmHWM): {:.1} MiB", vm_hwm_mib());
    drop(app);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
