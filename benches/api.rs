//! API benchmarks: `cargo bench --bench api`.
//!
//! Starts the full server on loopback with a SQLite file, loads 100
//! incidents then 100,000, and prints, for each data set, throughput and
//! p50/p99 latency of `GET incidents/` and `POST incidents` at concurrency 1
//! and 16 (each run bounded in requests and time), and the idle memory (RSS)
//! of the `firefighter` example binary.
//!
//! `GET` is measured three ways: repeated (answered from the response cache,
//! validated by one query per request), uncached (a distinct query parameter
//! per request, so every response is built from the database), and
//! revalidated (`If-None-Match`, answered `304`).
//!
//! Knobs (environment variables): `FF_BENCH_SECS` caps each run (default
//! 10), `FF_BENCH_INCIDENTS` sizes the large data set (default 100000),
//! `FF_BENCH_SKIP_RSS=1` skips building and measuring the example binary,
//! `FF_BENCH_PROFILE=get|get-uncached|get-gzip|post` loads 100 incidents then only
//! sends that request at concurrency `FF_BENCH_CONCURRENCY` (default 1) for
//! `FF_BENCH_SECS` (to attach a profiler).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use firefighter::core::{Declaration, Email, Firefighter, NewUser, Settings, UserId};
use firefighter::server::{AppState, Server, ServerConfig};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
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
        "{what:<52} c={concurrency:<3} {:>9.1} req/s  p50 {:>9.2} ms  p99 {:>9.2} ms  ({} requests in {:.1} s, {} errors)",
        run.requests as f64 / run.elapsed.as_secs_f64(),
        run.p50.as_secs_f64() * 1000.0,
        run.p99.as_secs_f64() * 1000.0,
        run.requests,
        run.elapsed.as_secs_f64(),
        run.errors,
    );
}

/// Declares `from..to` incidents through the core commands (as every other
/// path does), from a few concurrent tasks.
async fn fill(app: &Firefighter, user: UserId, from: usize, to: usize) {
    let catalog = app.catalog().await.expect("catalog");
    let category = catalog.categories[0].id;
    let next = Arc::new(AtomicUsize::new(from));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
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

/// How `GET`s are repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The same request each time.
    Same,
    /// A distinct (ignored) parameter per request: every answer is built afresh.
    Unique,
    /// The same request with the `ETag` of a first answer in `If-None-Match` (`304` counts as success).
    Revalidate,
    /// The same request with `Accept-Encoding: gzip`, as most HTTP clients send.
    Gzip,
}

/// What the load generators share.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    base: String,
    token: String,
    category: String,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v2/firefighter/{path}", self.base)
    }

    /// `GET path` repeatedly.
    async fn get(
        &self,
        label: &str,
        path: &str,
        concurrency: usize,
        max: usize,
        cap: Duration,
        mode: Mode,
    ) -> Option<Run> {
        let url = self.url(path);
        let unique = mode == Mode::Unique;
        let etag = if mode == Mode::Revalidate {
            let r = reqwest::Client::new()
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .ok()?;
            let tag = r
                .headers()
                .get(reqwest::header::ETAG)?
                .to_str()
                .ok()?
                .to_owned();
            r.bytes().await.ok()?;
            Some(tag)
        } else {
            None
        };
        let (client, token) = (self.client.clone(), self.token.clone());
        let sep = if path.contains('?') { '&' } else { '?' };
        let run = load(concurrency, max, cap, move |i| {
            let url = if unique {
                format!("{url}{sep}_={i}")
            } else {
                url.clone()
            };
            let mut request = client.get(url).bearer_auth(&token);
            if let Some(tag) = &etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, tag.as_str());
            }
            if mode == Mode::Gzip {
                request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
            }
            async move {
                match request.send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    Ok(r) => r.status() == reqwest::StatusCode::NOT_MODIFIED,
                    Err(_) => false,
                }
            }
        })
        .await;
        report(label, concurrency, &run);
        Some(run)
    }

    async fn post(&self, label: &str, concurrency: usize, max: usize, cap: Duration) -> Run {
        let (client, url, token, category) = (
            self.client.clone(),
            self.url("incidents"),
            self.token.clone(),
            self.category.clone(),
        );
        let tag = label.to_owned();
        let run = load(concurrency, max, cap, move |i| {
            let body = serde_json::json!({
                "title": format!("Posted by the benchmark ({tag}) {concurrency}-{i}"),
                "description": "created through the API",
                "incident_category_id": category,
                "created_by_email": "bench@example.com",
            });
            let request = client.post(&url).bearer_auth(&token).json(&body);
            async move { matches!(request.send().await, Ok(r) if r.status() == 201) }
        })
        .await;
        report(label, concurrency, &run);
        run
    }
}

/// Every figure for the data set currently loaded.
async fn measure(target: &Target, label: &str, large: bool, cap: Duration) {
    let whole = if large { 40 } else { 100_000 };
    for c in [1, 16] {
        target
            .get(
                &format!("GET incidents/ ({label}, whole list)"),
                "incidents/",
                c,
                whole,
                cap,
                Mode::Same,
            )
            .await;
        target
            .get(
                &format!("GET incidents/ ({label}, whole list, uncached)"),
                "incidents/",
                c,
                whole,
                cap,
                Mode::Unique,
            )
            .await;
        target
            .get(
                &format!("GET incidents/ ({label}, whole list, If-None-Match)"),
                "incidents/",
                c,
                100_000,
                cap,
                Mode::Revalidate,
            )
            .await;
        target
            .get(
                &format!("GET incidents/ ({label}, whole list, gzip)"),
                "incidents/",
                c,
                whole,
                cap,
                Mode::Gzip,
            )
            .await;
        if large {
            let paged = "incidents/?page=1&page_size=100";
            target
                .get(
                    &format!("GET incidents/?page_size=100 ({label})"),
                    paged,
                    c,
                    100_000,
                    cap,
                    Mode::Same,
                )
                .await;
            target
                .get(
                    &format!("GET incidents/?page_size=100 ({label}, uncached)"),
                    paged,
                    c,
                    100_000,
                    cap,
                    Mode::Unique,
                )
                .await;
        }
    }
    // Last: each request adds an incident to the data set.
    for c in [1, 16] {
        target
            .post(&format!("POST incidents ({label})"), c, 20_000, cap)
            .await;
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
        .env("HTTP_BIND", "127.0.0.1")
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
    let cap = Duration::from_secs(env_num("FF_BENCH_SECS", 10));
    let large = usize::try_from(env_num("FF_BENCH_INCIDENTS", 100_000)).unwrap_or(100_000);
    let profile = std::env::var("FF_BENCH_PROFILE").ok();
    if profile.is_none() && env_num("FF_BENCH_SKIP_RSS", 0) == 0 {
        match example_rss() {
            Some(kib) => println!(
                "idle RSS of the firefighter example binary (SQLite, workers on): {:.1} MiB",
                kib as f64 / 1024.0
            ),
            None => println!("idle RSS of the firefighter example binary: could not be measured"),
        }
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
            http_bind: std::net::Ipv4Addr::LOCALHOST.into(),
            http_port: 0,
            // Unpaged lists of 100,000 incidents (about 170 MB each), 16 at
            // once, take longer than the default 30 s to all be answered.
            request_timeout_secs: 120,
            ..ServerConfig::default()
        };
        let state = AppState::new(app.clone(), config);
        let server = Server::bind(state.clone()).await.expect("bind");
        let base = format!("http://{}", server.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(server.run_until(shutdown.clone()));
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
        let target = Target {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            base,
            token,
            category,
        };

        fill(&app, admin.id, 0, 100).await;
        for (what, encoding) in [("JSON", "identity"), ("gzip", "gzip")] {
            let r = reqwest::Client::new()
                .get(target.url("incidents/"))
                .bearer_auth(&target.token)
                .header(reqwest::header::ACCEPT_ENCODING, encoding)
                .send()
                .await
                .expect("GET incidents/");
            let bytes = r.bytes().await.expect("body").len();
            println!("GET incidents/ with 100 incidents: {bytes} bytes ({what})");
        }
        if let Some(what) = profile {
            println!("profiling {what} (pid {})", std::process::id());
            let c = usize::try_from(env_num("FF_BENCH_CONCURRENCY", 1)).unwrap_or(1);
            match what.as_str() {
                "post" => {
                    target.post("POST incidents", c, usize::MAX, cap).await;
                }
                other => {
                    let mode = match other {
                        "get-uncached" => Mode::Unique,
                        "get-gzip" => Mode::Gzip,
                        _ => Mode::Same,
                    };
                    target
                        .get("GET incidents/", "incidents/", c, usize::MAX, cap, mode)
                        .await;
                }
            }
        } else {
            measure(&target, "100 incidents", false, cap).await;

            let count = app
                .store()
                .count_incidents(&Default::default())
                .await
                .expect("count") as usize;
            let t = Instant::now();
            fill(&app, admin.id, count, large).await;
            println!(
                "loaded {} more incidents (up to {large}) in {:.1} s",
                large.saturating_sub(count),
                t.elapsed().as_secs_f64()
            );
            measure(&target, &format!("{large} incidents"), true, cap).await;
        }
        shutdown.cancel();
        let _ = served.await;
    });
}
