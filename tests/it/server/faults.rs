//! The failure test: incident lifecycles through the REST API and
//! declarations from Slack, while the fake Slack fails one Web API call in
//! five (429 with `Retry-After`, 500/503, `ok: false`, a call applied whose
//! answer comes too late, a dropped connection) and the server process is
//! killed with SIGKILL at random moments and started again. Then it checks
//! that nothing was lost or done twice, and prints the counts.
//!
//! The server runs as a separate process: this test binary started again on
//! [`server_process`] (an ignored test that serves until it is killed).
//! Sizes: `FF_FAULT_LIFECYCLES` (default 16) and `FF_FAULT_SLACK_DECLARATIONS`
//! (default 8); `FF_FAULT_SEED` repeats a run's Slack faults.

#[path = "../../../firefighter-slack/tests/it/fake_slack.rs"]
pub(super) mod fake_slack;

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_slack::{FakeSlack, Faults};
use firefighter::core::store::DatabasePool;
use firefighter::core::{Email, Firefighter, NewUser, Settings};
use firefighter::server::{AppState, ServerConfig};
use firefighter::slack::{HttpSlackClient, Slack, SlackConfig};
use rand::Rng;
use secrecy::SecretString;
use serde_json::{Value, json};

pub(super) const SIGNING_SECRET: &str = "fault-test-signing-secret";
pub(super) const BOT_TOKEN: &str = "xoxb-fault-test";
pub(super) const CHILD_MARKER: &str = "FF_FAULT_TEST_SERVER";

/// The server process of the failure test: serves with the environment its
/// parent set until it is killed. Does nothing when run on its own.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "the failure test starts it as its server process"]
async fn server_process() {
    if std::env::var(CHILD_MARKER).is_err() {
        return;
    }
    firefighter::cli::init_logging();
    let settings = Settings::from_env().expect("settings");
    let config = ServerConfig::from_env().expect("server config");
    let cli = <firefighter::cli::Cli as clap::Parser>::parse_from(["firefighter", "serve"]);
    firefighter::cli::execute(cli, settings, config, &mut std::io::sink())
        .await
        .expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycles_survive_sigkill_and_slack_faults_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ff.db").display());
    run(Plan::from_env(url, 1), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs PostgreSQL: set FIREFIGHTER_TEST_POSTGRES_URL and enable the postgres-tests feature"
)]
async fn lifecycles_survive_sigkill_and_slack_faults_on_two_instances_sharing_postgres() {
    let admin =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    let db = format!("ff_faults_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.clone(), |(b, _)| b.to_owned());
    let dir = tempfile::tempdir().unwrap();
    run(Plan::from_env(format!("{base}/{db}"), 2), dir.path()).await;
}

/// What one run does.
struct Plan {
    database_url: String,
    instances: usize,
    lifecycles: usize,
    slack_declarations: usize,
    /// API clients driving lifecycles at once.
    clients: usize,
    /// A kill comes after a pause drawn from this range.
    kill_every: (Duration, Duration),
    seed: u64,
}

impl Plan {
    fn from_env(database_url: String, instances: usize) -> Plan {
        let size = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Plan {
            database_url,
            instances,
            lifecycles: size("FF_FAULT_LIFECYCLES", 24),
            slack_declarations: size("FF_FAULT_SLACK_DECLARATIONS", 12),
            clients: 4,
            kill_every: (
                Duration::from_millis(size("FF_FAULT_KILL_MIN_MS", 500) as u64),
                Duration::from_millis(size("FF_FAULT_KILL_MAX_MS", 3_000) as u64),
            ),
            seed: size("FF_FAULT_SEED", rand::rng().random_range(1..1_000_000)) as u64,
        }
    }
}

/// The server processes, killed and started again by the test.
struct Servers {
    ports: Vec<u16>,
    children: Mutex<Vec<Option<Child>>>,
    env: Vec<(String, String)>,
    log_dir: std::path::PathBuf,
    started: AtomicU64,
}

impl Servers {
    fn spawn(&self, index: usize) -> Child {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        let log =
            std::fs::File::create(self.log_dir.join(format!("server-{index}-{n}.log"))).unwrap();
        let port = self.ports[index];
        Command::new(std::env::current_exe().unwrap())
            .args([
                "server::faults::server_process",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(CHILD_MARKER, "1")
            .env("HTTP_PORT", port.to_string())
            .env("BASE_URL", format!("http://127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the server process")
    }

    fn start_all(&self) {
        let mut children = self.children.lock().unwrap();
        for (i, slot) in children.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(self.spawn(i));
            }
        }
    }

    /// SIGKILL, then a new process at once (it recovers what the dead one held).
    fn kill_and_restart(&self, index: usize) {
        let mut children = self.children.lock().unwrap();
        if let Some(mut child) = children[index].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        children[index] = Some(self.spawn(index));
    }

    fn stop_all(&self) {
        for child in self
            .children
            .lock()
            .unwrap()
            .iter_mut()
            .filter_map(Option::take)
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn base(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[index])
    }

    fn any_base(&self) -> String {
        self.base(rand::rng().random_range(0..self.ports.len()))
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Lifecycle index → incident id, once its declaration was answered.
    lifecycle_incidents: BTreeMap<usize, i64>,
    /// Lifecycle index → the priority it was declared with.
    lifecycle_priorities: BTreeMap<usize, &'static str>,
    /// Slack declarations acknowledged (they must each become one incident).
    slack_acknowledged: Vec<usize>,
    /// Slack declarations whose answer never came (the process died).
    slack_unknown: Vec<usize>,
    /// Requests sent again after no answer, a 5xx or a key still in use.
    retries: u64,
    /// 5xx answers (each also retried).
    server_errors: u64,
    /// Answers no retry can fix (a bug).
    refusals: Vec<String>,
}

struct Run {
    servers: Servers,
    client: reqwest::Client,
    token: String,
    category: String,
    environment: String,
    priorities: HashMap<&'static str, String>,
    seen: Mutex<Seen>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn run(plan: Plan, dir: &std::path::Path) {
    let fake = FakeSlack::start().await;
    let (token, catalog) = set_up(&plan.database_url, &fake).await;
    let priorities: HashMap<&'static str, String> = ["P1", "P2", "P3", "P4"]
        .into_iter()
        .map(|name| {
            let id = catalog
                .priorities
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .id;
            (name, id.to_string())
        })
        .collect();
    let environment = catalog
        .environments
        .iter()
        .find(|e| e.value == "PRD")
        .unwrap()
        .id
        .to_string();
    let servers = Servers {
        ports: (0..plan.instances).map(|_| free_port()).collect(),
        children: Mutex::new((0..plan.instances).map(|_| None).collect()),
        env: vec![
            ("DATABASE_URL".into(), plan.database_url.clone()),
            ("HTTP_BIND".into(), "127.0.0.1".into()),
            ("SLACK_BOT_TOKEN".into(), BOT_TOKEN.into()),
            ("SLACK_SIGNING_SECRET".into(), SIGNING_SECRET.into()),
            ("SLACK_API_URL".into(), fake.url.clone()),
            // A stalled call outlives the client's patience: its answer is lost.
            ("SLACK_TIMEOUT_SECS".into(), "2".into()),
            ("SLACK_CLIENT_PACING".into(), "false".into()),
            ("FF_OUTBOX_MAX_BACKOFF_SECS".into(), "2".into()),
            ("FF_SHUTDOWN_GRACE_SECS".into(), "1".into()),
            ("ENABLE_PAGERDUTY".into(), "false".into()),
            ("ENABLE_CONFLUENCE".into(), "false".into()),
            ("LOG_LEVEL".into(), "info".into()),
        ],
        log_dir: dir.to_owned(),
        started: AtomicU64::new(0),
    };
    let run = Arc::new(Run {
        servers,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        token,
        category: catalog.categories[0].id.to_string(),
        environment,
        priorities,
        seen: Mutex::new(Seen::default()),
    });
    run.servers.start_all();
    for i in 0..plan.instances {
        wait_healthy(&run, i, dir).await;
    }

    fake.inject_faults(Some(Faults::new(5, Duration::from_secs(3), plan.seed)));
    let began = Instant::now();
    let driving = Arc::new(AtomicBool::new(true));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (run, driving, kills) = (run.clone(), driving.clone(), kills.clone());
        let (low, high) = plan.kill_every;
        let instances = plan.instances;
        tokio::spawn(async move {
            loop {
                let pause = rand::rng().random_range(low..high);
                tokio::time::sleep(pause).await;
                if !driving.load(Ordering::SeqCst) {
                    break;
                }
                let index = rand::rng().random_range(0..instances);
                run.servers.kill_and_restart(index);
                kills.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..plan.clients {
        let (run, next) = (run.clone(), next.clone());
        let total = plan.lifecycles;
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                if i >= total {
                    break;
                }
                run.lifecycle(i).await;
            }
        }));
    }
    let slack_client = {
        let run = run.clone();
        let total = plan.slack_declarations;
        tokio::spawn(async move {
            for j in 0..total {
                run.slack_declaration(j).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    for c in clients {
        c.await.unwrap();
    }
    slack_client.await.unwrap();
    driving.store(false, Ordering::SeqCst);
    killer.await.unwrap();
    let driven = began.elapsed();
    let injected = fake.faults_injected();
    fake.inject_faults(None);

    // Every instance up, then wait for the work to settle.
    run.servers.start_all();
    for i in 0..plan.instances {
        wait_healthy(&run, i, dir).await;
    }
    let store = firefighter::core::store::connect(&plan.database_url)
        .await
        .unwrap();
    let db = store.database().unwrap();
    let settled = settle(&db).await;
    let checks = check(&run, &db, &fake).await;
    run.servers.stop_all();

    let seen = run.seen.lock().unwrap();
    let mut faults: Vec<String> = injected.iter().map(|(f, n)| format!("{f:?} {n}")).collect();
    faults.sort();
    println!(
        "fault run (seed {}): {} instance(s), {} lifecycles and {} Slack declarations ({} acknowledged, {} unanswered) in {:.0?}; \
         {} SIGKILLs; Slack faults: {}; {} requests sent again, {} 5xx; settled {:.0?} after the last kill",
        plan.seed,
        plan.instances,
        plan.lifecycles,
        plan.slack_declarations,
        seen.slack_acknowledged.len(),
        seen.slack_unknown.len(),
        driven,
        kills.load(Ordering::SeqCst),
        faults.join(", "),
        seen.retries,
        seen.server_errors,
        settled,
    );
    println!("fault run results: {checks}");
    drop(seen);
    checks.assert_clean(&run.seen.lock().unwrap(), &plan);
}

/// The database and the Slack workspace before the first start: the tables,
/// an API token, `#tech-incidents` tagged, people known to Slack.
pub(super) async fn set_up(
    database_url: &str,
    fake: &FakeSlack,
) -> (String, Arc<firefighter::core::store::Catalog>) {
    fake.add_user("UJANE", "jane@example.com", "Jane Doe");
    fake.add_user("UDECL", "declarer@example.com", "Dee Clarer");
    fake.add_channel("CTECH", "tech-incidents", &[]);
    let settings = Settings {
        database_url: SecretString::from(database_url.to_owned()),
        base_url: "http://127.0.0.1".into(),
        workers: false,
        ..Settings::default()
    };
    let app = Firefighter::builder(settings.clone())
        .with_registered_plugins(false)
        .build()
        .await
        .unwrap();
    let store = app.store().clone();
    firefighter::slack::store::migrate(&store.database().unwrap())
        .await
        .unwrap();
    {
        let mut config = SlackConfig::new(BOT_TOKEN, SIGNING_SECRET);
        config.api_url = fake.url.clone();
        let api = Arc::new(
            HttpSlackClient::with_base(&fake.url, BOT_TOKEN, Duration::from_secs(5)).unwrap(),
        );
        let slack = Slack::new(config, api, Arc::new(settings), store.clone()).unwrap();
        slack.add_conversation("CTECH").await.unwrap();
        slack
            .store()
            .set_conversation_tag("CTECH", Some("tech_incidents"))
            .await
            .unwrap();
        slack.sync_users().await.unwrap();
    }
    let user = store
        .create_user(&NewUser {
            is_staff: true,
            is_admin: true,
            ..NewUser::person(Email::parse("driver@example.com").unwrap())
        })
        .await
        .unwrap();
    let state = AppState::new(app.clone(), ServerConfig::default());
    let scopes: Vec<String> = [
        "incidents:read",
        "incidents:write",
        "incidents:read_private",
    ]
    .map(str::to_owned)
    .into();
    let (token, _) =
        firefighter::server::auth::issue_api_token(&state, user.id, "faults", &scopes, None)
            .await
            .unwrap();
    let catalog = app.catalog().await.unwrap();
    (token, catalog)
}

async fn wait_healthy(run: &Run, index: usize, logs: &std::path::Path) {
    let (client, base) = (&run.client, run.servers.base(index));
    let url = format!("{base}/api/v2/firefighter/monitoring/healthcheck");
    for _ in 0..600 {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the server at {base} did not start in 30 s:\n{}",
        newest_log(logs, &format!("server-{index}-"))
    );
}

/// The end of the newest server log, for a failure's message.
fn newest_log(dir: &std::path::Path, prefix: &str) -> String {
    let newest = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    let text = newest
        .and_then(|e| std::fs::read_to_string(e.path()).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Run {
    /// Declare, then walk to Closed, each request under its own
    /// `Idempotency-Key` and sent again until it is answered.
    async fn lifecycle(&self, i: usize) {
        let priority = ["P1", "P2", "P3", "P4"][i % 4];
        let body = json!({
            "title": format!("Fault run lifecycle [L{i}]"),
            "description": "Declared by the failure test",
            "incident_category_id": self.category,
            "priority_id": self.priorities[priority],
            "environment_id": self.environment,
            "created_by_email": "declarer@example.com",
        });
        let Some(incident) = self
            .until_answered("incidents".into(), body, format!("l{i}-declare"))
            .await
        else {
            return;
        };
        let id = incident["id"].as_i64().expect("an incident id");
        {
            let mut seen = self.seen.lock().unwrap();
            seen.lifecycle_incidents.insert(i, id);
            seen.lifecycle_priorities.insert(i, priority);
        }
        let mut steps = vec!["investigating", "mitigating", "mitigated"];
        if matches!(priority, "P1" | "P2") {
            steps.push("post_mortem");
        }
        for status in steps {
            self.think().await;
            let body = json!({"status": status, "message": format!("[L{i}] now {status}")});
            if self
                .until_answered(
                    format!("incidents/{id}/status"),
                    body,
                    format!("l{i}-{status}"),
                )
                .await
                .is_none()
            {
                return;
            }
        }
        self.think().await;
        // Closing a P1-P3 needs its key events.
        let started = chrono::Utc::now() - chrono::Duration::hours(1);
        let body = json!({"started": started, "detected": started + chrono::Duration::minutes(5)});
        if self
            .until_answered_by(
                reqwest::Method::PUT,
                format!("incidents/{id}/key_events"),
                body,
                format!("l{i}-key-events"),
            )
            .await
            .is_none()
        {
            return;
        }
        if matches!(priority, "P1" | "P2") {
            // Its built-in post-mortem, created at Mitigated, is marked ready.
            let body = json!({"ready": true, "impact": format!("[L{i}] impact written")});
            if self
                .until_answered_by(
                    reqwest::Method::PATCH,
                    format!("incidents/{id}/postmortem"),
                    body,
                    format!("l{i}-postmortem-ready"),
                )
                .await
                .is_none()
            {
                return;
            }
        }
        let body = json!({"closure_reason": "resolved", "message": format!("[L{i}] closing: fixed for good")});
        self.until_answered(format!("incidents/{id}/close"), body, format!("l{i}-close"))
            .await;
    }

    /// A person's pause between two steps, so kills land mid-lifecycle.
    async fn think(&self) {
        let pause = rand::rng().random_range(50..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    /// Sends a POST until it is answered (no answer, a 5xx or a key in use
    /// by a request still running are retried with the same key).
    async fn until_answered(&self, path: String, body: Value, key: String) -> Option<Value> {
        self.until_answered_by(reqwest::Method::POST, path, body, key)
            .await
    }

    async fn until_answered_by(
        &self,
        method: reqwest::Method,
        path: String,
        body: Value,
        key: String,
    ) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let url = format!("{}/api/v2/firefighter/{path}", self.servers.any_base());
            let sent = self
                .client
                .request(method.clone(), &url)
                .header("Authorization", format!("Token {}", self.token))
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            let retry = match sent {
                Err(e) => {
                    if std::env::var_os("FF_FAULT_VERBOSE").is_some() {
                        eprintln!("{method} {path}: no answer ({e})");
                    }
                    true
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Some(serde_json::from_str(&text).unwrap_or(Value::Null));
                    }
                    if status.is_server_error() {
                        self.seen.lock().unwrap().server_errors += 1;
                        true
                    } else if status == 409 && text.contains("idempotency_key_in_use") {
                        true
                    } else {
                        self.seen
                            .lock()
                            .unwrap()
                            .refusals
                            .push(format!("{method} {path} ({key}): {status} {text}"));
                        return None;
                    }
                }
            };
            if retry {
                self.seen.lock().unwrap().retries += 1;
                if Instant::now() > deadline {
                    self.seen
                        .lock()
                        .unwrap()
                        .refusals
                        .push(format!("{method} {path} ({key}): no answer in 180 s"));
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// The declaration form submitted from Slack, signed. An acknowledged
    /// one must become exactly one incident; one whose answer never came
    /// (the process died) may or may not.
    async fn slack_declaration(&self, j: usize) {
        let payload = json!({
            "type": "view_submission",
            "team": {"id": fake_slack::TEAM},
            "user": {"id": "UJANE"},
            "trigger_id": format!("trigger-{j}"),
            "view": {
                "id": format!("VFAULT{j}"),
                "callback_id": "incident_open",
                "private_metadata": "{}",
                "state": {"values": {
                    "impact:customers_impact": {"el": {"type": "static_select", "selected_option": {"value": "HI"}}},
                    "category": {"el": {"type": "static_select", "selected_option": {"value": self.category}}},
                    "environments": {"el": {"type": "multi_static_select", "selected_options": [{"value": self.environment}]}},
                    "title": {"el": {"type": "plain_text_input", "value": format!("Fault run Slack declaration [S{j}]")}},
                }},
            }
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let ts = chrono::Utc::now().timestamp().to_string();
        let signature = firefighter::slack::signature::sign(SIGNING_SECRET, &ts, body.as_bytes());
        let sent = self
            .client
            .post(format!(
                "{}{}",
                self.servers.any_base(),
                firefighter::slack::SLACK_PATH
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await;
        let mut seen = self.seen.lock().unwrap();
        match sent {
            Ok(r) if r.status().is_success() => seen.slack_acknowledged.push(j),
            Ok(r) if r.status().is_server_error() => {
                seen.server_errors += 1;
                seen.slack_unknown.push(j);
            }
            Ok(r) => seen
                .refusals
                .push(format!("Slack declaration {j}: {}", r.status())),
            Err(_) => seen.slack_unknown.push(j),
        }
    }
}

async fn count(db: &DatabasePool, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        DatabasePool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        DatabasePool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// An incident as the checks see it: id, title, status, its channel.
type IncidentRow = (i64, String, i16, Option<String>);

/// Every incident.
async fn incidents(db: &DatabasePool) -> Vec<IncidentRow> {
    let sql = "SELECT i.id, i.title, i.status, c.channel_id FROM incidents i \
               LEFT JOIN slack_incident_channels c ON c.incident_id = i.id ORDER BY i.id";
    match db {
        DatabasePool::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        DatabasePool::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    }
}

/// (incident id, status) of every status change recorded.
async fn status_changes(db: &DatabasePool) -> Vec<(i64, i16)> {
    let sql = "SELECT incident_id, status FROM incident_updates WHERE status IS NOT NULL";
    match db {
        DatabasePool::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        DatabasePool::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    }
}

const UNFINISHED_DELIVERIES: &str =
    "SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'pending'";
const PARKED_DELIVERIES: &str = "SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'failed'";
const UNFINISHED_INBOX: &str = "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL";

/// Waits until no delivery and no inbox item is left to do (three checks in
/// a row, a second apart); returns how long it took.
async fn settle(db: &DatabasePool) -> Duration {
    let began = Instant::now();
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            began.elapsed() < Duration::from_secs(240),
            "still {} deliveries and {} inbox items to do after 240 s",
            count(db, UNFINISHED_DELIVERIES).await,
            count(db, UNFINISHED_INBOX).await
        );
        let left = count(db, UNFINISHED_DELIVERIES).await + count(db, UNFINISHED_INBOX).await;
        quiet = if left == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    began.elapsed()
}

/// What the end state shows.
#[derive(Debug, Default)]
struct Checks {
    incidents: usize,
    lost_declarations: Vec<String>,
    duplicated_incidents: Vec<String>,
    not_closed: Vec<String>,
    status_changes_twice: Vec<String>,
    channels: usize,
    channels_expected: usize,
    duplicated_posts: Vec<String>,
    closing_update_missing: Vec<String>,
    announcements_wrong: Vec<String>,
    pending_deliveries: i64,
    parked_deliveries: i64,
    unfinished_inbox: i64,
    keys_stuck: i64,
    posts: usize,
}

impl std::fmt::Display for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} incidents, {} lost declarations, {} duplicated incidents, {} lifecycles not closed, \
             {} status changes applied twice, {} incident channels for {} P1-P3 incidents, \
             {} posts, {} duplicated posts, {} closing updates missing before the archive, \
             {} P1-P3 incidents not announced exactly once, {} deliveries pending, {} parked, \
             {} inbox items unfinished, {} idempotency keys stuck",
            self.incidents,
            self.lost_declarations.len(),
            self.duplicated_incidents.len(),
            self.not_closed.len(),
            self.status_changes_twice.len(),
            self.channels,
            self.channels_expected,
            self.posts,
            self.duplicated_posts.len(),
            self.closing_update_missing.len(),
            self.announcements_wrong.len(),
            self.pending_deliveries,
            self.parked_deliveries,
            self.unfinished_inbox,
            self.keys_stuck,
        )
    }
}

impl Checks {
    fn assert_clean(&self, seen: &Seen, plan: &Plan) {
        assert!(
            seen.refusals.is_empty(),
            "answers no retry fixes: {:#?}",
            seen.refusals
        );
        assert_eq!(seen.server_errors, 0, "5xx answers");
        assert_eq!(
            seen.lifecycle_incidents.len(),
            plan.lifecycles,
            "every lifecycle was declared"
        );
        for (what, list) in [
            ("lost declarations", &self.lost_declarations),
            ("duplicated incidents", &self.duplicated_incidents),
            ("lifecycles not closed", &self.not_closed),
            ("status changes applied twice", &self.status_changes_twice),
            ("duplicated posts", &self.duplicated_posts),
            ("closing updates missing", &self.closing_update_missing),
            ("announcements", &self.announcements_wrong),
        ] {
            assert!(list.is_empty(), "{what}: {list:#?}");
        }
        assert_eq!(
            self.channels, self.channels_expected,
            "one channel per P1-P3 incident"
        );
        assert_eq!(self.pending_deliveries, 0, "deliveries left pending");
        assert_eq!(self.parked_deliveries, 0, "deliveries parked");
        assert_eq!(self.unfinished_inbox, 0, "inbox items left");
        assert_eq!(self.keys_stuck, 0, "idempotency keys without their answer");
    }
}

const CLOSED: i16 = 60;

async fn check(run: &Run, db: &DatabasePool, fake: &FakeSlack) -> Checks {
    let mut checks = Checks {
        pending_deliveries: count(db, UNFINISHED_DELIVERIES).await,
        parked_deliveries: count(db, PARKED_DELIVERIES).await,
        unfinished_inbox: count(db, UNFINISHED_INBOX).await,
        keys_stuck: count(
            db,
            "SELECT COUNT(*) FROM idempotency_keys WHERE response_status IS NULL",
        )
        .await,
        ..Checks::default()
    };
    let all = incidents(db).await;
    let recorded_changes = status_changes(db).await;
    let seen = run.seen.lock().unwrap();
    checks.incidents = all.len();
    let marker = |title: &str| title.rsplit_once('[').map(|(_, m)| format!("[{m}"));
    let mut by_marker: HashMap<String, Vec<&IncidentRow>> = HashMap::new();
    for row in &all {
        if let Some(m) = marker(&row.1) {
            by_marker.entry(m).or_default().push(row);
        }
    }
    for (m, rows) in &by_marker {
        if rows.len() > 1 {
            checks
                .duplicated_incidents
                .push(format!("{m}: {} incidents", rows.len()));
        }
    }
    for (i, id) in &seen.lifecycle_incidents {
        match all.iter().find(|r| r.0 == *id) {
            None => checks
                .lost_declarations
                .push(format!("[L{i}] (incident {id})")),
            Some(r) if r.2 != CLOSED => checks.not_closed.push(format!("[L{i}] status {}", r.2)),
            Some(_) => {}
        }
    }
    for j in &seen.slack_acknowledged {
        if !by_marker.contains_key(&format!("[S{j}]")) {
            checks
                .lost_declarations
                .push(format!("[S{j}] (acknowledged in Slack)"));
        }
    }
    let mut changes: HashMap<(i64, i16), usize> = HashMap::new();
    for change in recorded_changes {
        *changes.entry(change).or_default() += 1;
    }
    for ((id, status), n) in changes {
        if n > 1 {
            checks
                .status_changes_twice
                .push(format!("incident {id} status {status} x{n}"));
        }
    }

    // Slack: what a person sees in the workspace.
    let state = fake.state.lock().unwrap();
    let with_channel: Vec<&IncidentRow> = all
        .iter()
        .filter(|r| {
            let declared_as = marker(&r.1).and_then(|m| {
                let i: usize = m.strip_prefix("[L")?.strip_suffix(']')?.parse().ok()?;
                seen.lifecycle_priorities.get(&i).copied()
            });
            // Slack declarations are P2 (high customer impact).
            !matches!(declared_as, Some("P4"))
        })
        .collect();
    checks.channels_expected = with_channel.len();
    checks.channels = state
        .channels
        .values()
        .filter(|c| c.name.starts_with(|ch: char| ch.is_ascii_digit()))
        .count();
    let live: Vec<&fake_slack::FakeMessage> =
        state.messages.iter().filter(|m| !m.deleted).collect();
    checks.posts = live.len();
    let mut same: HashMap<(String, String, String), usize> = HashMap::new();
    for m in &live {
        let key = (m.channel.clone(), m.text.clone(), m.blocks.to_string());
        *same.entry(key).or_default() += 1;
        if let Some(effect) = m.metadata["event_payload"]["effect"].as_str() {
            let twice = live
                .iter()
                .filter(|o| {
                    o.channel == m.channel
                        && o.metadata["event_payload"]["effect"].as_str() == Some(effect)
                })
                .count();
            if twice > 1 && !checks.duplicated_posts.iter().any(|d| d.contains(effect)) {
                checks.duplicated_posts.push(format!(
                    "{} in {}: effect {effect} x{twice}",
                    m.kind.clone().unwrap_or_default(),
                    m.channel
                ));
            }
        }
    }
    for ((channel, text, _), n) in same {
        if n > 1 {
            checks.duplicated_posts.push(format!(
                "in {channel} x{n}: {}",
                text.chars().take(80).collect::<String>()
            ));
        }
    }
    for r in &with_channel {
        let Some(m) = marker(&r.1) else { continue };
        let announcements = live
            .iter()
            .filter(|msg| {
                msg.channel == "CTECH"
                    && msg.kind.as_deref() == Some("ff_general_incident_declared")
            })
            .filter(|msg| msg.text.contains(&m) || msg.blocks.to_string().contains(&m))
            .count();
        if announcements != 1 {
            checks
                .announcements_wrong
                .push(format!("{m}: {announcements} announcements"));
        }
        if r.2 == CLOSED {
            let channel = r.3.as_deref().and_then(|c| state.channels.get(c));
            let closing = format!("{} closing: fixed for good", m);
            let delivered = channel.is_some_and(|c| {
                live.iter().any(|msg| {
                    msg.channel == c.id
                        && (msg.text.contains(&closing)
                            || msg.blocks.to_string().contains(&closing))
                })
            });
            if !(delivered && channel.is_some_and(|c| c.archived)) {
                checks.closing_update_missing.push(format!(
                    "{m}: closing update {delivered}, archived {}",
                    channel.is_some_and(|c| c.archived)
                ));
            }
        }
    }
    checks
}
