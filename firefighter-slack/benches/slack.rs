//! Benchmarks of the Slack integration (prints figures; run with
//! `cargo bench -p firefighter-slack`):
//! - acknowledgement latency of `/incident open` and of view submissions, 200 at once;
//! - Slack round trips made one after another from "declared" to "channel ready",
//!   against a fake adding 50 ms per call;
//! - a user sync of 50,000 members: time and peak memory (VmHWM).

#[path = "../tests/it/fake_slack.rs"]
mod fake_slack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use fake_slack::FakeSlack;
use firefighter_core::outbox::Dispatcher;
use firefighter_core::store::SqliteStore;
use firefighter_core::{Firefighter, Settings, Store};
use firefighter_slack::{HttpSlackClient, Slack, SlackConfig};
use serde_json::json;
use tower::ServiceExt;

const SECRET: &str = "bench-secret";

struct Env {
    app: Firefighter,
    slack: Slack,
    fake: FakeSlack,
    router: Router,
}

async fn env(delay: Duration, database_url: &str) -> Env {
    env_on(fake_elsewhere(delay).await, database_url).await
}

/// Starts the fake Slack on a thread and runtime of its own: Slack is
/// another machine, so its work must not take turns with the server's.
async fn fake_elsewhere(delay: Duration) -> FakeSlack {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let fake = FakeSlack::start_with_delay(delay).await;
            let _ = tx.send(fake);
            std::future::pending::<()>().await
        });
    });
    rx.await.unwrap()
}

async fn env_on(fake: FakeSlack, database_url: &str) -> Env {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(database_url).await.unwrap());
    firefighter_slack::store::migrate(&store.database().unwrap())
        .await
        .unwrap();
    let mut config = SlackConfig::new("xoxb-bench", SECRET);
    config.api_url = fake.url.clone();
    let api = Arc::new(
        HttpSlackClient::with_base(&fake.url, "xoxb-bench", Duration::from_secs(30))
            .unwrap()
            .without_pacing(),
    );
    let settings = Arc::new(Settings::default());
    let slack = Slack::new(config, api, settings.clone(), store.clone()).unwrap();
    let mut builder = Firefighter::builder((*settings).clone())
        .store(store)
        .with_registered_plugins(false)
        .event_handler(slack.event_handler());
    for p in slack.invite_providers() {
        builder = builder.invite_provider(p);
    }
    let app = builder.build().await.unwrap();
    let router = firefighter_slack::routes(app.clone(), slack.clone());
    Env {
        app,
        slack,
        fake,
        router,
    }
}

fn signed(content_type: &str, body: String) -> Request<Body> {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = firefighter_slack::signature::sign(SECRET, &ts, body.as_bytes());
    Request::post(firefighter_slack::SLACK_PATH)
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(Body::from(body))
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sends `n` requests at once, `rounds` times; returns the sorted latencies.
async fn burst(
    router: &Router,
    n: usize,
    rounds: usize,
    make: impl Fn(usize) -> Request<Body>,
) -> Vec<Duration> {
    let mut all = Vec::new();
    for round in 0..rounds {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let req = make(round * n + i);
                let router = router.clone();
                tokio::spawn(async move {
                    let start = Instant::now();
                    let resp = router.oneshot(req).await.unwrap();
                    let elapsed = start.elapsed();
                    assert!(resp.status().is_success(), "{}", resp.status());
                    // A fast answer only counts if it accepted the request.
                    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    let text = String::from_utf8_lossy(&body);
                    assert!(
                        !text.contains("\"errors\"") && !text.contains(":x:"),
                        "refused: {text}"
                    );
                    elapsed
                })
            })
            .collect();
        for t in tasks {
            all.push(t.await.unwrap());
        }
    }
    all.sort();
    all
}

fn report(name: &str, latencies: &[Duration]) {
    println!(
        "{name}: {} requests (200 at once): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}

async fn workspace(e: &Env) {
    e.fake.add_user("UJANE", "jane@example.com", "Jane Doe");
    e.fake.add_user("UBOB", "bob@example.com", "Bob");
    e.fake.add_channel("CTECH", "tech-incidents", &[]);
    e.fake.add_channel("CPAY", "payments-team", &["UBOB"]);
    e.slack.add_conversation("CTECH").await.unwrap();
    e.slack.add_conversation("CPAY").await.unwrap();
    e.slack
        .store()
        .set_conversation_tag("CTECH", Some("tech_incidents"))
        .await
        .unwrap();
    let checkout = e
        .app
        .catalog()
        .await
        .unwrap()
        .categories
        .iter()
        .find(|c| c.name == "Checkout")
        .unwrap()
        .id;
    e.slack
        .link_conversation("CPAY", &[checkout.to_string()])
        .await
        .unwrap();
    e.slack.sync_users().await.unwrap();
}

fn wizard_submission(view_id: &str, checkout: &str, prd: &str) -> String {
    let payload = json!({
        "type": "view_submission", "user": {"id": "UJANE"},
        "view": {"id": view_id, "callback_id": "incident_open", "private_metadata": "{}", "state": {"values": {
            "impact:customers_impact": {"impact": {"selected_option": {"value": "HT"}}},
            "category": {"category": {"selected_option": {"value": checkout}}},
            "environments": {"environments": {"selected_options": [{"value": prd}]}},
            "title": {"title": {"value": "Checkout fails for every card payment"}},
        }}}
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if let Ok(url) = std::env::var("FF_SLACK_BENCH_SYNC_URL") {
        return sync_child(&url).await;
    }
    // 1. Acknowledgements, on a SQLite file (the default deployment).
    let ack_dir = tempfile::tempdir().unwrap();
    let ack_db = format!("sqlite:{}", ack_dir.path().join("ack.db").display());
    let e = env(Duration::ZERO, &ack_db).await;
    workspace(&e).await;
    let cmd = |i: usize| {
        let body = serde_urlencoded::to_string([
            ("command", "/incident"),
            ("text", "open"),
            ("user_id", "UJANE"),
            ("channel_id", "C1"),
            ("trigger_id", &format!("trigger-{i}")),
            ("response_url", &e.fake.response_url()),
        ])
        .unwrap();
        signed("application/x-www-form-urlencoded", body)
    };
    let _ = burst(&e.router, 20, 1, cmd).await;
    report("ack /incident open", &burst(&e.router, 200, 5, cmd).await);

    let catalog = e.app.catalog().await.unwrap();
    let checkout = catalog
        .categories
        .iter()
        .find(|c| c.name == "Checkout")
        .unwrap()
        .id
        .to_string();
    let prd = catalog
        .environments
        .iter()
        .find(|c| c.value == "PRD")
        .unwrap()
        .id
        .to_string();
    let submit = |i: usize| {
        signed(
            "application/x-www-form-urlencoded",
            wizard_submission(&format!("VB{i}"), &checkout, &prd),
        )
    };
    e.slack.idle().await;
    let one_at_a_time = burst(&e.router, 1, 200, |i| submit(100_000 + i)).await;
    println!(
        "ack view submission (declares an incident), one at a time: 200 requests: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&one_at_a_time, 0.50).as_secs_f64() * 1000.0,
        percentile(&one_at_a_time, 0.99).as_secs_f64() * 1000.0,
    );
    e.slack.idle().await;
    let start = Instant::now();
    report(
        "ack view submission (declares an incident)",
        &burst(&e.router, 200, 5, submit).await,
    );
    e.slack.idle().await;
    println!(
        "  (the 1,000 declarations were written after the acknowledgements, all done {:.1} s after the first request)",
        start.elapsed().as_secs_f64()
    );
    let p1 = catalog
        .priorities
        .iter()
        .find(|p| p.name == "P1")
        .unwrap()
        .id
        .to_string();
    let status = |i: usize| {
        let payload = json!({
            "type": "view_submission", "user": {"id": "UJANE"},
            "view": {"id": format!("VS{i}"), "callback_id": "incident_update_status", "private_metadata": json!({"incident": (i % 1000) + 1, "status": "open", "priority": p1, "category": checkout}).to_string(),
                "state": {"values": {"message": {"message": {"value": format!("Still looking ({i})")}}}}}
        });
        signed(
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap(),
        )
    };
    let start = Instant::now();
    report(
        "ack view submission (status update)",
        &burst(&e.router, 200, 5, status).await,
    );
    e.slack.idle().await;
    println!(
        "  (the 1,000 updates were written after the acknowledgements, all done {:.1} s after the first request)",
        start.elapsed().as_secs_f64()
    );
    let wait_for_views = Instant::now();
    while e.fake.views("views.open").len() < 1000
        && wait_for_views.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  (after the acknowledgements, {} wizards were opened by the background tasks)",
        e.fake.views("views.open").len()
    );
    drop(e);
    // `FF_BENCH_ONLY=ack` stops here (for profiling the acknowledgements).
    if std::env::var("FF_BENCH_ONLY").is_ok_and(|v| v == "ack") {
        return;
    }

    // 2. Sequential round trips from declaration to a ready channel, 50 ms per Slack call.
    let e = env(Duration::from_millis(50), "sqlite::memory:").await;
    workspace(&e).await;
    let catalog = e.app.catalog().await.unwrap();
    let checkout = catalog
        .categories
        .iter()
        .find(|c| c.name == "Checkout")
        .unwrap()
        .id
        .to_string();
    let prd = catalog
        .environments
        .iter()
        .find(|c| c.value == "PRD")
        .unwrap()
        .id
        .to_string();
    let resp = e
        .router
        .clone()
        .oneshot(signed(
            "application/x-www-form-urlencoded",
            wizard_submission("VRT", &checkout, &prd),
        ))
        .await
        .unwrap();
    assert!(resp.status().is_success());
    e.slack.idle().await;
    e.fake.clear_calls();
    let start = Instant::now();
    let dispatcher = Dispatcher::for_app(&e.app);
    while dispatcher.run_once().await.unwrap().claimed > 0 {}
    let elapsed = start.elapsed();
    let calls = e.fake.calls();
    println!(
        "declared -> channel ready (fake Slack adding 50 ms per call): {} Slack calls, {} one after another on the critical path, {:.0} ms",
        calls.len(),
        fake_slack::sequential_depth(&calls),
        elapsed.as_secs_f64() * 1000.0
    );
    drop(e);

    // 3. User sync of 50,000 members: the fake runs here, the sync in a child
    // process so its peak memory is the sync's alone.
    let fake = FakeSlack::start().await;
    for i in 0..50_000 {
        fake.add_user(
            &format!("U{i:07}"),
            &format!("person{i}@example.com"),
            &format!("Person {i}"),
        );
    }
    let url = fake.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .env("FF_SLACK_BENCH_SYNC_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "  at Slack's Tier 2 pace (users.list, 20 pages a minute), the 250 pages alone take about 12.5 minutes"
    );
}

/// The child process of the user sync benchmark.
async fn sync_child(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("sync.db").display());
    let fake = FakeSlack {
        url: url.to_owned(),
        state: Default::default(),
    };
    let e = env_on(fake, &db).await;
    let ready = vm_hwm_kib();
    let start = Instant::now();
    let r = e.slack.sync_users().await.unwrap();
    let first = start.elapsed();
    let after_first = vm_hwm_kib();
    let start = Instant::now();
    let again = e.slack.sync_users().await.unwrap();
    let second = start.elapsed();
    println!(
        "user sync, 50,000 members (SQLite file, no pacing): first run {:.1} s ({} users created, {} pages), unchanged re-run {:.1} s ({} created, {} updated); peak memory (VmHWM of the syncing process) {} MiB once set up, {} MiB after the first run, {} MiB after the re-run",
        first.as_secs_f64(),
        r.created,
        r.pages,
        second.as_secs_f64(),
        again.created,
        again.updated,
        ready / 1024,
        after_first / 1024,
        vm_hwm_kib() / 1024,
    );
}
