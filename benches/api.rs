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
//! `FF_BENCH_PROFILE=get|get-uncached|get-gzip|post|post-p3|post-p4` loads 100 incidents then only
//! sends that request at concurrency `FF_BENCH_CONCURRENCY` (default 1) for
//! `FF_BENCH_SECS` (to attach a profiler).
//!
//! First, the figures of issue 15, each as a ratio measured in the same run
//! (the machine is shared and noisy; absolute figures move, ratios less):
//!
//! - reads: `GET incidents/` (100 incidents, from the response cache) next to
//!   a static responder serving the very same bytes (and headers) over the
//!   same HTTP stack, in the same process, through the same client: the
//!   in-process limit. Uncompressed and gzip, at c=1 and c=16, in
//!   alternating rounds (`FF_BENCH_ROUNDS`, default 3, of
//!   `FF_BENCH_COMPARE_SECS`, default 3 s, each).
//! - creates: `POST incidents` at P3 (asks for a Slack channel) and at P4
//!   (no Slack work), alternating, with the Slack integration on against a
//!   local fake Slack that answers every Web API call after
//!   `FF_BENCH_SLACK_MS` (default 150 ms, Slack's usual latency), so the side
//!   effects of earlier declarations run during the measurement. The
//!   client's pacing to Slack's rate tiers is off unless
//!   `FF_BENCH_SLACK_PACING=1` (paced, the side effects would mostly wait).
//!
//! `FF_BENCH_COMPARE_ONLY=1` stops after these; `FF_BENCH_ONLY=reads` or
//! `FF_BENCH_ONLY=creates` makes one of the two comparisons. `FF_BENCH_POSTGRES_URL`
//! (a server where a throwaway database may be created) runs everything on
//! PostgreSQL instead of the SQLite file. `FF_BENCH_LOG` (a tracing filter,
//! `sqlx::query=debug` for every statement and its duration) logs to stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use firefighter::core::store::{PgStore, SqliteStore};
use firefighter::core::{Declaration, Email, Firefighter, NewUser, Settings, Store, UserId};
use firefighter::server::{AppState, Server, ServerConfig};
use firefighter::slack::{HttpSlackClient, Slack, SlackConfig};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

#[path = "../firefighter-slack/tests/it/fake_slack.rs"]
mod fake_slack;

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
                lat.push((t.elapsed(), t - start));
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
    if env_num("FF_BENCH_TAIL", 0) == 1 {
        print_tail(&all);
    }
    let all: Vec<Duration> = all.into_iter().map(|(latency, _)| latency).collect();
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

/// Where the slowest 1% of requests started, modulo one second, in 100 ms
/// slots (`FF_BENCH_TAIL=1`): a peak in one slot points at something
/// periodic (a checkpoint every second), a flat spread at contention.
fn print_tail(sorted: &[(Duration, Duration)]) {
    let tail = &sorted[sorted.len() - sorted.len().div_ceil(100)..];
    let mut slots = [0usize; 10];
    for (_, started) in tail {
        slots[(started.subsec_millis() / 100) as usize] += 1;
    }
    println!(
        "slowest 1% ({} requests) by start, modulo 1 s, per 100 ms: {slots:?}",
        tail.len()
    );
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

    /// `POST incidents` at `priority` (its id; the default priority when
    /// `None`), sent as wrk sends requests: over `concurrency` keep-alive
    /// connections, each request a prepared byte string, each answer read
    /// up to its end and its status checked. The client's own cost per
    /// request is a few microseconds, as with the wrk runs FireFighter's
    /// figures come from, so it does not count against the server.
    async fn post_raw(
        &self,
        label: &str,
        priority: Option<&str>,
        concurrency: usize,
        cap: Duration,
    ) -> Run {
        let address = self.base.trim_start_matches("http://").to_owned();
        let mut connections = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            connections.push(RawConnection::connect(&address).await.expect("connect"));
        }
        let connections = Arc::new(std::sync::Mutex::new(connections));
        let head = format!(
            "POST /api/v2/firefighter/incidents HTTP/1.1\r\nhost: {address}\r\n\
             authorization: Token {}\r\ncontent-type: application/json\r\n",
            self.token
        );
        let (category, tag) = (self.category.clone(), label.trim().to_owned());
        let priority = priority.map(str::to_owned);
        let run = load(concurrency, usize::MAX, cap, move |i| {
            let body =
                declaration(&tag, concurrency, i, &category, priority.as_deref()).to_string();
            let request = format!("{head}content-length: {}\r\n\r\n{body}", body.len());
            let (connections, address) = (connections.clone(), address.clone());
            async move {
                let idle = connections.lock().expect("connections").pop();
                let mut connection = match idle {
                    Some(c) => c,
                    None => match RawConnection::connect(&address).await {
                        Ok(c) => c,
                        Err(_) => return false,
                    },
                };
                match connection.exchange(request.as_bytes()).await {
                    Ok(status) => {
                        connections.lock().expect("connections").push(connection);
                        status == 201
                    }
                    // The connection is dropped; the next request opens another.
                    Err(_) => false,
                }
            }
        })
        .await;
        report(label, concurrency, &run);
        run
    }

    async fn post(&self, label: &str, concurrency: usize, max: usize, cap: Duration) -> Run {
        self.post_at(label, None, concurrency, max, cap).await
    }

    /// `POST incidents` at `priority` (its id; the default priority when `None`).
    async fn post_at(
        &self,
        label: &str,
        priority: Option<&str>,
        concurrency: usize,
        max: usize,
        cap: Duration,
    ) -> Run {
        let (client, url, token, category) = (
            self.client.clone(),
            self.url("incidents"),
            self.token.clone(),
            self.category.clone(),
        );
        let tag = label.to_owned();
        let priority = priority.map(str::to_owned);
        let run = load(concurrency, max, cap, move |i| {
            let body = declaration(&tag, concurrency, i, &category, priority.as_deref());
            let request = client.post(&url).bearer_auth(&token).json(&body);
            async move { matches!(request.send().await, Ok(r) if r.status() == 201) }
        })
        .await;
        report(label, concurrency, &run);
        run
    }
}

/// The body of the `i`-th declaration of a run.
fn declaration(
    tag: &str,
    concurrency: usize,
    i: usize,
    category: &str,
    priority: Option<&str>,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "title": format!("Posted by the benchmark ({tag}) {concurrency}-{i}"),
        "description": "created through the API",
        "incident_category_id": category,
        "created_by_email": "bench@example.com",
    });
    if let Some(p) = priority {
        body["priority_id"] = serde_json::Value::String(p.to_owned());
    }
    body
}

/// A keep-alive HTTP/1.1 connection for [`Target::post_raw`].
struct RawConnection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl RawConnection {
    async fn connect(address: &str) -> std::io::Result<RawConnection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(RawConnection {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends a whole request and reads its answer (by `content-length`, or
    /// chunks); the status.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        self.buffer.clear();
        loop {
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let head = match response.parse(&self.buffer) {
                Ok(httparse::Status::Complete(head)) => head,
                Ok(httparse::Status::Partial) => continue,
                Err(e) => return Err(std::io::Error::other(e)),
            };
            let status = response.code.unwrap_or_default();
            let header = |name: &str| {
                response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
            loop {
                let complete = match length {
                    Some(n) => self.buffer.len() >= head + n,
                    // The last chunk: its size line follows a chunk's end.
                    None if chunked => {
                        let body = &self.buffer[head..];
                        body == b"0\r\n\r\n" || body.ends_with(b"\r\n0\r\n\r\n")
                    }
                    None => true,
                };
                if complete {
                    return Ok(status);
                }
                if self.stream.read_buf(&mut self.buffer).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
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

/// A responder of fixed answers over the same HTTP stack (axum on hyper,
/// on loopback): the limit a cached answer can reach in this process.
/// Serves `incidents/` under the API's path with the very headers and body
/// the API answered, gzipped to clients that accept it.
async fn static_responder(
    plain: (axum::http::HeaderMap, axum::body::Bytes),
    gzip: (axum::http::HeaderMap, axum::body::Bytes),
) -> String {
    use axum::http::{HeaderMap, header};
    use axum::response::IntoResponse;
    let serve = move |headers: HeaderMap| {
        let (plain, gzip) = (plain.clone(), gzip.clone());
        async move {
            let zipped = headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("gzip"));
            let (headers, body) = if zipped { gzip } else { plain };
            (headers, body).into_response()
        }
    };
    let app =
        axum::Router::new().route("/api/v2/firefighter/incidents/", axum::routing::get(serve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the static responder");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Answered requests per second (failed ones do not count).
fn rate(run: &Run) -> f64 {
    run.requests.saturating_sub(run.errors) as f64 / run.elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn list(values: &[f64], digits: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.digits$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cached `GET incidents/` against the static responder of the same bytes,
/// in alternating rounds; prints the ratio of each round and their median.
async fn compare_reads(api: &Target, limit: &Target, rounds: usize, secs: Duration) {
    println!(
        "\n== reads: cached GET incidents/ (100 incidents) / static responder of the same bytes =="
    );
    let mut summary = Vec::new();
    for (mode, encoding) in [(Mode::Same, "identity"), (Mode::Gzip, "gzip")] {
        for c in [1, 16] {
            let (mut ours, mut limits, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let Some(s) = limit
                    .get(
                        &format!("  static, {encoding}"),
                        "incidents/",
                        c,
                        usize::MAX,
                        secs,
                        mode,
                    )
                    .await
                else {
                    continue;
                };
                let Some(a) = api
                    .get(
                        &format!("  firefighter, {encoding}"),
                        "incidents/",
                        c,
                        usize::MAX,
                        secs,
                        mode,
                    )
                    .await
                else {
                    continue;
                };
                ours.push(rate(&a));
                limits.push(rate(&s));
                ratios.push(rate(&a) / rate(&s));
            }
            summary.push(format!(
                "reads {encoding:<8} c={c:<2}  firefighter {:>8.0} req/s  static {:>8.0} req/s  ratio {:.2} (rounds: {})",
                median(ours),
                median(limits),
                median(ratios.clone()),
                list(&ratios, 2),
            ));
        }
    }
    for line in summary {
        println!("{line}");
    }
}

/// FireFighter 0.0.79's `POST incidents` at P3 (issue 15, measured on
/// another run of the same machine): c=1, c=16.
const FIREFIGHTER_P3: [(usize, f64); 2] = [(1, 12.8), (16, 13.2)];

/// `POST incidents` at P3 (a Slack channel is opened in the background) and
/// at P4 (no Slack work), alternating; prints rates, p99s and ratios.
async fn compare_creates(
    app: &Firefighter,
    target: &Target,
    fake: &fake_slack::FakeSlack,
    rounds: usize,
    secs: Duration,
) {
    let catalog = app.catalog().await.expect("catalog");
    let priority = |name: &str| {
        catalog
            .priorities
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("priority {name}"))
            .id
            .to_string()
    };
    let (p3, p4) = (priority("P3"), priority("P4"));
    println!(
        "\n== creates: POST incidents, Slack on (fake Slack answering in {} ms) ==",
        fake.state.lock().expect("fake").delay.as_millis()
    );
    let channels_before = fake.count("conversations.create");
    let mut summary = Vec::new();
    for (c, firefighter) in FIREFIGHTER_P3 {
        let (mut at_p3, mut at_p4, mut p99_p3, mut p99_p4, mut ratios) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let mut pair = [(0.0, 0.0); 2];
            // Alternate which goes first: the later one meets the other's background work.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for slot in order {
                let (name, id) = [("P3", &p3), ("P4", &p4)][slot];
                let run = target
                    .post_raw(&format!("  POST incidents {name}"), Some(id), c, secs)
                    .await;
                pair[slot] = (rate(&run), run.p99.as_secs_f64() * 1000.0);
            }
            at_p3.push(pair[0].0);
            p99_p3.push(pair[0].1);
            at_p4.push(pair[1].0);
            p99_p4.push(pair[1].1);
            ratios.push(pair[0].0 / pair[1].0);
        }
        let ours = median(at_p3.clone());
        summary.push(format!(
            "creates c={c:<2}  P3 {:>7.0} req/s (p99 {} ms)  P4 {:>7.0} req/s (p99 {} ms)  P3/P4 {:.2} (rounds: {})  P3 x FireFighter ({firefighter} req/s): {:.0}x",
            ours,
            list(&p99_p3, 1),
            median(at_p4),
            list(&p99_p4, 1),
            median(ratios.clone()),
            list(&ratios, 2),
            ours / firefighter,
        ));
    }
    for line in summary {
        println!("{line}");
    }
    let pending = app
        .store()
        .list_deliveries(
            Some(firefighter::core::store::DeliveryStatus::Pending),
            1_000_000,
        )
        .await
        .map(|d| d.len())
        .unwrap_or_default();
    println!(
        "Slack channels opened during the creates: {}; deliveries still pending at the end: {pending}",
        fake.count("conversations.create") - channels_before
    );
}

/// The size of the SQLite WAL file: it must stay bounded under sustained
/// writes (the store restarts it when a checkpoint leaves it large).
fn print_wal_size(dir: &std::path::Path) {
    if let Ok(meta) = std::fs::metadata(dir.join("bench.db-wal")) {
        println!(
            "SQLite WAL file at the end: {:.1} MiB",
            meta.len() as f64 / (1024.0 * 1024.0)
        );
    }
}

/// The store: a fresh database on the PostgreSQL server at
/// `FF_BENCH_POSTGRES_URL` if set, else a SQLite file in `dir`.
async fn open_store(dir: &std::path::Path) -> (Arc<dyn Store>, String) {
    if let Ok(url) = std::env::var("FF_BENCH_POSTGRES_URL") {
        let admin = sqlx::PgPool::connect(&url).await.expect("PostgreSQL");
        let db = format!("ff_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .expect("create the bench database");
        let base = url
            .rsplit_once('/')
            .map_or(url.clone(), |(b, _)| b.to_owned());
        let url = format!("{base}/{db}");
        let store = PgStore::connect(&url).await.expect("connect");
        (Arc::new(store), url)
    } else {
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let store = SqliteStore::connect(&url).await.expect("SQLite");
        (Arc::new(store), url)
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
    if let Ok(filter) = std::env::var("FF_BENCH_LOG") {
        // `sqlx::query=debug` logs every statement with its duration (to find slow ones).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
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
        let (store, database_url) = open_store(dir.path()).await;
        let settings = Settings {
            database_url: SecretString::from(database_url),
            ..Settings::default()
        };
        // Slack on, against a fake that answers like Slack, after Slack's latency.
        let fake = fake_slack::FakeSlack::start_with_delay(Duration::from_millis(env_num(
            "FF_BENCH_SLACK_MS",
            150,
        )))
        .await;
        fake.add_user("UBENCH", "bench@example.com", "Bench");
        firefighter::slack::store::migrate(&store.database().expect("database"))
            .await
            .expect("Slack's tables");
        let mut slack_config = SlackConfig::new("xoxb-bench", "bench-signing-secret");
        slack_config.api_url = fake.url.clone();
        slack_config.pacing = env_num("FF_BENCH_SLACK_PACING", 0) == 1;
        let slack_api = Arc::new(HttpSlackClient::new(&slack_config).expect("Slack client"));
        let slack = Slack::new(
            slack_config,
            slack_api,
            Arc::new(settings.clone()),
            store.clone(),
        )
        .expect("Slack");
        let mut builder = Firefighter::builder(settings)
            .store(store)
            .event_handler(slack.event_handler());
        for provider in slack.invite_providers() {
            builder = builder.invite_provider(provider);
        }
        let app = builder.build().await.expect("app");
        slack.attach(&app);
        let config = ServerConfig {
            http_bind: std::net::Ipv4Addr::LOCALHOST.into(),
            http_port: 0,
            // Unpaged lists of 100,000 incidents (about 170 MB each), 16 at
            // once, take longer than the default 30 s to all be answered.
            request_timeout_secs: 120,
            ..ServerConfig::default()
        };
        let state = AppState::new(app.clone(), config).with_slack(Some(slack));
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
        let rounds = usize::try_from(env_num("FF_BENCH_ROUNDS", 3)).unwrap_or(3);
        let compare_secs = Duration::from_secs(env_num("FF_BENCH_COMPARE_SECS", 3));
        if profile.is_none() {
            let mut answers = Vec::new();
            for encoding in ["identity", "gzip"] {
                let r = reqwest::Client::new()
                    .get(target.url("incidents/"))
                    .bearer_auth(&target.token)
                    .header(reqwest::header::ACCEPT_ENCODING, encoding)
                    .send()
                    .await
                    .expect("GET incidents/");
                // Its headers but those hyper writes for each answer itself.
                let mut headers = r.headers().clone();
                for per_answer in [
                    "date",
                    "content-length",
                    "transfer-encoding",
                    "x-request-id",
                ] {
                    headers.remove(per_answer);
                }
                answers.push((headers, r.bytes().await.expect("body")));
            }
            println!(
                "the static responder answers the same bytes with the same {} headers",
                answers[0].0.len()
            );
            let [plain, gzip] = <[_; 2]>::try_from(answers).expect("two answers");
            let limit = Target {
                base: static_responder(plain, gzip).await,
                ..target.clone()
            };
            let only = std::env::var("FF_BENCH_ONLY").unwrap_or_default();
            if only != "creates" {
                compare_reads(&target, &limit, rounds, compare_secs).await;
            }
            if only != "reads" {
                compare_creates(&app, &target, &fake, rounds, compare_secs).await;
                print_wal_size(dir.path());
            }
            if env_num("FF_BENCH_COMPARE_ONLY", 0) == 1 {
                shutdown.cancel();
                let _ = served.await;
                return;
            }
        }
        if let Some(what) = profile {
            println!("profiling {what} (pid {})", std::process::id());
            let c = usize::try_from(env_num("FF_BENCH_CONCURRENCY", 1)).unwrap_or(1);
            match what.as_str() {
                "post" => {
                    target.post("POST incidents", c, usize::MAX, cap).await;
                }
                "post-p3" | "post-p4" => {
                    let name = if what == "post-p3" { "P3" } else { "P4" };
                    let catalog = app.catalog().await.expect("catalog");
                    let id = catalog
                        .priorities
                        .iter()
                        .find(|p| p.name == name)
                        .expect("priority")
                        .id
                        .to_string();
                    target
                        .post_raw(&format!("POST incidents {name}"), Some(&id), c, cap)
                        .await;
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
            print_wal_size(dir.path());
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
