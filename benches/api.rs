//! API benchmarks: `cargo bench --bench api`.
//!
//! Starts the full server on loopback with a SQLite file, loads 100
//! incidents then 100,000, and prints throughput and p99 latency of
//! `GET incidents/` and `POST incidents` at concurrency 1 and 16 (each run
//! bounded in requests and time), and the idle memory (RSS) of the server:
//! of the `firefighter` example binary when it can be built, and of this
//! process after start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firefighter::core::{Declaration, Email, Firefighter, NewUser, Settings};
use firefighter::server::{AppState, Server, ServerConfig};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Run {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// Sends up to `max` requests from `concurrency` workers, stopping after `cap`.
async fn load<F, Fut>(concurrency: usize, max: usize, cap: Duration, make: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= max || start.elapsed() > cap {
                    break;
                }
                let t = Instant::now();
                if !make(i).await {
                    errors += 1;
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (lat, e) = w.await.expect("worker");
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    Run {
        requests: all.len(),
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

fn report(what: &str, concurrency: usize, run: &Run) {
    println!(
        "{what:<48} c={concurrency:<3} {:>8.1} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  ({} requests in {:.1} s, {} errors)",
        run.requests as f64 / run.elapsed.as_secs_f64(),
        run.p50.as_secs_f64() * 1000.0,
        run.p99.as_secs_f64() * 1000.0,
        run.requests,
        run.elapsed.as_secs_f64(),
        run.errors,
    );
}

async fn fill(app: &Firefighter, user: firefighter::core::UserId, from: usize, to: usize) {
    let catalog = app.catalog().await.expect("catalog");
    let category = catalog.categories[0].id;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(from));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= to {
                    break;
                }
                app.declare(Declaration {
                    title: format!("Benchmark incident number {i}"),
                    description: "Loaded by the API benchmark".into(),
                    category_id: Some(category),
                    created_by: Some(user),
                    request_conversation: Some(false),
                    ..Declaration::default()
                })
                .await
                .expect("declare");
            }
        }));
    }
    for t in tasks {
        t.await.expect("filler");
    }
}

async fn measure(
    base: &str,
    token: &str,
    category: String,
    label: &str,
    get_max: usize,
    get_cap: Duration,
    paged: bool,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .expect("client");
    for concurrency in [1, 16] {
        let (c, url, tok) = (
            client.clone(),
            format!("{base}/api/v2/firefighter/incidents/"),
            token.to_owned(),
        );
        let run = load(concurrency, get_max, get_cap, move |_| {
            let token = tok.clone();
            let (c, url, token) = (c.clone(), url.clone(), token.clone());
            async move {
                match c.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        report(
            &format!("GET incidents/ ({label}, whole list)"),
            concurrency,
            &run,
        );
        if paged {
            let (c, url, tok) = (
                client.clone(),
                format!("{base}/api/v2/firefighter/incidents/?page=1&page_size=100"),
                token.to_owned(),
            );
            let run = load(concurrency, 4000, Duration::from_secs(15), move |_| {
                let token = tok.clone();
                let (c, url, token) = (c.clone(), url.clone(), token.clone());
                async move {
                    match c.get(&url).bearer_auth(&token).send().await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            })
            .await;
            report(
                &format!("GET incidents/?page_size=100 ({label})"),
                concurrency,
                &run,
            );
        }
    }
    for concurrency in [1, 16] {
        let (c, url, tok, category) = (
            client.clone(),
            format!("{base}/api/v2/firefighter/incidents"),
            token.to_owned(),
            category.clone(),
        );
        let run = load(concurrency, 3000, Duration::from_secs(15), move |i| {
            let token = tok.clone();
            let (c, url, token) = (c.clone(), url.clone(), token.clone());
            let body = serde_json::json!({
                "title": format!("Posted by the benchmark {concurrency}-{i}"),
                "description": "created through the API",
                "incident_category_id": category,
                "created_by_email": "bench@example.com",
            });
            async move {
                matches!(c.post(&url).bearer_auth(&token).json(&body).send().await, Ok(r) if r.status() == 201)
            }
        })
        .await;
        report(&format!("POST incidents ({label})"), concurrency, &run);
    }
}

/// Idle RSS of the example binary (built in release if missing), in KiB.
fn example_rss() -> Option<u64> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--example", "firefighter", "--quiet"])
        .current_dir(root)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/examples/firefighter");
    let dir = tempfile::tempdir().ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = std::process::Command::new(bin)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("ff.db").display()),
        )
        .env("HTTP_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(&child.id().to_string());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    rss
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(kib) = example_rss() {
        println!(
            "idle RSS of the firefighter example binary (SQLite, workers on): {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            database_url: SecretString::from(format!(
                "sqlite://{}",
                dir.path().join("bench.db").display()
            )),
            ..Settings::default()
        };
        let app = Firefighter::builder(settings).build().await.expect("app");
        let config = ServerConfig {
            http_port: 0,
            ..ServerConfig::default()
        };
        let state = AppState::new(app.clone(), config);
        let server = Server::bind(state.clone()).await.expect("bind");
        let base = format!("http://{}", server.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(server.run_until(shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(kib) = rss_kib("self") {
            println!(
                "idle RSS of this process after start (server + benchmark client): {:.1} MiB",
                kib as f64 / 1024.0
            );
        }
        let admin = app
            .store()
            .create_user(&NewUser {
                is_staff: true,
                is_admin: true,
                ..NewUser::person(Email::parse("bench-admin@example.com").expect("email"))
            })
            .await
            .expect("user");
        let scopes: Vec<String> = [
            "incidents:read",
            "incidents:write",
            "incidents:read_private",
        ]
        .map(String::from)
        .to_vec();
        let (token, _) =
            firefighter::server::auth::issue_api_token(&state, admin.id, "bench", &scopes, None)
                .await
                .expect("token");
        let category = app.catalog().await.expect("catalog").categories[0]
            .id
            .to_string();

        fill(&app, admin.id, 0, 100).await;
        measure(
            &base,
            &token,
            category.clone(),
            "100 incidents",
            20_000,
            Duration::from_secs(15),
            false,
        )
        .await;

        let count = app
            .store()
            .count_incidents(&Default::default())
            .await
            .expect("count") as usize;
        let t = Instant::now();
        fill(&app, admin.id, count, 100_000).await;
        println!(
            "loaded up to 100,000 incidents in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        measure(
            &base,
            &token,
            category,
            "100,000 incidents",
            20,
            Duration::from_secs(60),
            true,
        )
        .await;

        shutdown.cancel();
        let _ = served.await;
    });
}
