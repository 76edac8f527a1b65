//! The SQL backends. [`SqliteStore`] and [`PgStore`] share one body of SQL,
//! expanded twice by `sql_store!`; only a few dialect fragments differ.
//!
//! Conventions both dialects agree on: `$N` placeholders, UUIDs bound as
//! `uuid::Uuid`, timestamps bound as `DateTime<Utc>` (SQLite stores RFC 3339
//! UTC text, which sorts like the instants it encodes), JSON bound as
//! `sqlx::types::Json`, durations as whole seconds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{Arguments as _, AssertSqlSafe};
use std::sync::Arc;
use uuid::Uuid;

use crate::access::{
    ApiToken, ApiTokenId, CatalogTimes, IdempotencyBegin, RecordTimes, Session, StoredResponse,
};

use super::{
    Catalog, DataVersions, DatabasePool, Declared, DeliveryInfo, DeliveryStatus, IncidentChange,
    NewIncidentRecord, Store, UserUpsert,
};
use crate::event::Delivery;
use crate::impact::{ImpactLevel, ImpactLevelOption};
use crate::incident::IncidentOrder;
use crate::priority::ResponseType;
use crate::task::{Schedule, TaskRun, TaskSchedule};
use crate::timeline::FieldChange;
use crate::{
    CategoryId, ClosureReason, CostType, CostTypeId, Environment, EnvironmentId, Error, Group,
    ImpactType, Incident, IncidentCategory, IncidentCost, IncidentDetails, IncidentEvent,
    IncidentFilter, IncidentId, KeyEvent, MetricType, MilestoneType, NewUser, Priority, PriorityId,
    Result, RoleAssignment, RoleType, RoleTypeId, Status, StoredEvent, TimelineEntry, User, UserId,
    Viewer,
};

/// Values per `IN (...)` list; far below both databases' parameter limits.
const CHUNK: usize = 500;

/// Users per multi-row upsert (5 parameters each).
const USER_CHUNK: usize = 1000;

/// What a write changed, for [`DataVersions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bump {
    /// Incidents, their child tables, users' names: the data version.
    Data,
    /// Reference data: the data and reference versions.
    Reference,
    /// A user's rights, activity or identities: the data and access versions.
    User,
    /// An API token's validity: the access version.
    Access,
}

impl Bump {
    /// Increments of (data, reference, access).
    fn steps(self) -> (i64, i64, i64) {
        match self {
            Bump::Data => (1, 0, 0),
            Bump::Reference => (1, 1, 0),
            Bump::User => (1, 0, 1),
            Bump::Access => (0, 0, 1),
        }
    }
}

// ------------------------------------------------------------------ backends

/// The SQLite backend: the embedded default, one file (or memory).
///
/// Reads use a pool of connections (WAL: they never wait for writers);
/// writes queue for one connection of their own, so concurrent writers
/// wait their turn in order instead of polling SQLite's lock with sleeps.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    writer: sqlx::SqlitePool,
    /// Runs write transactions on a thread of their own (see [`WriterThread`]).
    writer_thread: Option<WriterThread>,
    /// Declarations waiting for the writer, written together.
    declarations: Arc<DeclarationQueue>,
}

/// Most declarations written in one transaction.
const MAX_DECLARATION_BATCH: usize = 64;

/// Declarations waiting for the SQLite writer.
///
/// Each statement of a write costs a round trip to SQLite's thread, and
/// declaring writes about ten of them. While one batch is being written,
/// new declarations queue here; the next batch writes all of them in one
/// transaction with one statement per table, so under load a declaration
/// costs a fraction of the round trips. Alone, a declaration is written
/// as before.
#[derive(Debug, Default)]
struct DeclarationQueue {
    state: std::sync::Mutex<QueuedDeclarations>,
}

type DeclarationReply = tokio::sync::oneshot::Sender<Result<Declared>>;

#[derive(Debug, Default)]
struct QueuedDeclarations {
    waiting: Vec<(Arc<NewIncidentRecord>, DeclarationReply)>,
    /// Whether a task is writing them.
    draining: bool,
}

/// Lets the next declaration start a new drain if a drain ends by panicking.
struct DrainGuard<'a>(&'a DeclarationQueue);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            state.draining = false;
            // Their callers get an error instead of waiting forever.
            state.waiting.clear();
        }
    }
}

/// A job for the [`WriterThread`].
type WriteJob = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A thread with its own small runtime that drives write transactions.
///
/// SQLite has one writer at a time, so a write transaction holds up every
/// other write until it commits. Each of its statements is a round trip to
/// the connection's thread; driven from the application's runtime, the
/// transaction would also wait, between statements, behind every request
/// being handled there. Here it resumes as soon as each statement is done.
#[derive(Debug, Clone)]
struct WriterThread {
    jobs: tokio::sync::mpsc::UnboundedSender<WriteJob>,
}

impl WriterThread {
    fn start() -> Result<WriterThread> {
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<WriteJob>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the SQLite writer: {e}")))?;
        std::thread::Builder::new()
            .name("ff-sqlite-writer".into())
            .spawn(move || {
                // Ends when every store holding the sender is gone.
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job);
                    }
                });
            })
            .map_err(|e| Error::Config(format!("cannot start the SQLite writer: {e}")))?;
        Ok(WriterThread { jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::pin(async move {
            let _ = done.send(work.await);
        });
        let stopped = || Error::Config("the SQLite writer thread stopped".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `url` (`sqlite:path.db`,
    /// `sqlite::memory:`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let store = if in_memory {
            // An in-memory database lives as long as its one connection.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            Self::from_pool(pool)
        } else {
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.clone())
                .await?;
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            SqliteStore {
                pool,
                writer,
                writer_thread: Some(WriterThread::start()?),
                declarations: Arc::default(),
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (migrations are not run); it serves reads and writes.
    pub fn from_pool(pool: sqlx::SqlitePool) -> Self {
        SqliteStore {
            writer: pool.clone(),
            pool,
            writer_thread: None,
            declarations: Arc::default(),
        }
    }

    /// Writes a declaration: batched with the ones waiting when there is a
    /// writer thread (see [`DeclarationQueue`]). The inner result is the
    /// write's own, for [`Store::declare`] to interpret.
    async fn write_declaration(&self, record: Arc<NewIncidentRecord>) -> Result<Result<Declared>> {
        if self.writer_thread.is_none() {
            let this = self.clone();
            return self
                .on_writer(async move { this.declare_in_tx(&record).await })
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut state = self
                .declarations
                .state
                .lock()
                .expect("declaration queue lock");
            state.waiting.push((record, reply));
            !std::mem::replace(&mut state.draining, true)
        };
        if start {
            let this = self.clone();
            let drain = async move { this.drain_declarations().await };
            let writer = self.clone();
            tokio::spawn(async move {
                if let Err(e) = writer.on_writer(drain).await {
                    tracing::error!(error = %e, "declarations could not be written");
                }
            });
        }
        answer.await.map_err(|_| {
            Error::Config("the SQLite writer stopped before writing the declaration".into())
        })
    }

    /// Writes queued declarations, a batch at a time, until none is waiting.
    async fn drain_declarations(&self) {
        let _guard = DrainGuard(&self.declarations);
        loop {
            let batch: Vec<_> = {
                let mut state = self
                    .declarations
                    .state
                    .lock()
                    .expect("declaration queue lock");
                if state.waiting.is_empty() {
                    state.draining = false;
                    return;
                }
                let n = state.waiting.len().min(MAX_DECLARATION_BATCH);
                state.waiting.drain(..n).collect()
            };
            let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            if records.len() == 1 {
                for (record, reply) in records.iter().zip(replies) {
                    let _ = reply.send(self.declare_in_tx(record).await);
                }
                continue;
            }
            match self.declare_batch_in_tx(&records).await {
                Ok(declared) => {
                    for (reply, d) in replies.into_iter().zip(declared) {
                        let _ = reply.send(Ok(d));
                    }
                }
                // Rolled back: each alone, so each gets its own answer.
                Err(e) => {
                    tracing::debug!(error = %e, "a batch of declarations failed; writing them one at a time");
                    for (record, reply) in records.iter().zip(replies) {
                        let _ = reply.send(self.declare_in_tx(record).await);
                    }
                }
            }
        }
    }

    /// Runs a write transaction (on the writer thread when there is one).
    async fn on_writer<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        match &self.writer_thread {
            Some(thread) => thread.run(work).await,
            None => Ok(work.await),
        }
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// The writer's pool (one connection; the read pool when in memory).
    fn writer_pool(&self) -> &sqlx::SqlitePool {
        &self.writer
    }
}

/// The PostgreSQL backend, for several instances sharing one database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: sqlx::PgPool,
    /// The same pool: PostgreSQL locks rows, not the database.
    writer: sqlx::PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://...`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (migrations are not run).
    pub fn from_pool(pool: sqlx::PgPool) -> Self {
        PgStore {
            writer: pool.clone(),
            pool,
        }
    }

    /// Writes a declaration (PostgreSQL has concurrent writers: in place).
    async fn write_declaration(&self, record: Arc<NewIncidentRecord>) -> Result<Result<Declared>> {
        Ok(self.declare_in_tx(&record).await)
    }

    /// Runs a write transaction (PostgreSQL has concurrent writers: in place).
    async fn on_writer<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        Ok(work.await)
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// PostgreSQL has concurrent writers: the pool.
    fn writer_pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

// ------------------------------------------------------------------ rows

/// The columns of [`IncidentRow`], for `SELECT`s on `incidents i`.
macro_rules! incident_select {
    () => {
        "SELECT i.id, i.title, i.description, i.status, i.priority_id, i.category_id, i.environment_id, \
         i.created_by, i.created_at, i.updated_at, i.mitigated_at, i.closed_at, i.closure_reason, \
         i.closure_reference, i.custom_fields, i.dedup_key, i.ignore, i.private, i.version FROM incidents i"
    };
}

/// The columns of [`UserRow`], for `SELECT`s on `users u`.
macro_rules! user_select {
    () => {
        "SELECT u.id, u.email, u.name, u.is_active, u.is_staff, u.is_admin, u.bot, u.avatar, u.created_at FROM users u"
    };
}

/// The columns of [`UserIdentityRow`]: users with their identities, in one query.
macro_rules! user_identities_select {
    () => {
        "SELECT u.id, u.email, u.name, u.is_active, u.is_staff, u.is_admin, u.bot, u.avatar, u.created_at, \
         ui.platform, ui.external_id FROM users u LEFT JOIN user_identities ui ON ui.user_id = u.id"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct IncidentRow {
    id: i64,
    title: String,
    description: String,
    status: i16,
    priority_id: PriorityId,
    category_id: CategoryId,
    environment_id: EnvironmentId,
    created_by: UserId,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    mitigated_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    closure_reason: Option<String>,
    closure_reference: String,
    custom_fields: Json<serde_json::Value>,
    dedup_key: Option<String>,
    ignore: bool,
    private: bool,
    version: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    id: UserId,
    email: String,
    name: String,
    is_active: bool,
    is_staff: bool,
    is_admin: bool,
    bot: bool,
    avatar: Option<String>,
    created_at: DateTime<Utc>,
}

/// A user and one of its identities (`LEFT JOIN`: none when it has none).
#[derive(Debug, sqlx::FromRow)]
struct UserIdentityRow {
    #[sqlx(flatten)]
    user: UserRow,
    platform: Option<String>,
    external_id: Option<String>,
}

/// Users from rows of [`UserIdentityRow`], in the order they first appear.
fn users_from_identity_rows(rows: Vec<UserIdentityRow>) -> Vec<User> {
    let mut users: Vec<(UserRow, BTreeMap<String, String>)> = Vec::new();
    let mut index: HashMap<UserId, usize> = HashMap::new();
    for r in rows {
        let at = match index.get(&r.user.id) {
            Some(&at) => at,
            None => {
                index.insert(r.user.id, users.len());
                users.push((r.user, BTreeMap::new()));
                users.len() - 1
            }
        };
        if let (Some(platform), Some(external)) = (r.platform, r.external_id) {
            users[at].1.insert(platform, external);
        }
    }
    users
        .into_iter()
        .map(|(row, identities)| user_from_row(row, identities))
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
struct TimelineRow {
    id: crate::UpdateId,
    incident_id: i64,
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
    event_ts: DateTime<Utc>,
    event_type: Option<String>,
    message: Option<String>,
    status: Option<i16>,
    changes: Json<serde_json::Value>,
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    id: i64,
    incident_id: i64,
    created_at: DateTime<Utc>,
    payload: Json<serde_json::Value>,
}

#[derive(Debug, sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    event_id: i64,
    handler: String,
    attempts: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    event_id: i64,
    incident_id: i64,
    kind: String,
    handler: String,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
struct TaskScheduleRow {
    name: String,
    enabled: bool,
    schedule: Option<Json<serde_json::Value>>,
    next_run_at: Option<DateTime<Utc>>,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
struct TaskRunRow {
    id: i64,
    task: String,
    trigger: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<String>,
    summary: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct PriorityRow {
    id: PriorityId,
    name: String,
    value: i32,
    emoji: String,
    description: String,
    sort_order: i32,
    is_default: bool,
    needs_postmortem: bool,
    enabled_create: bool,
    enabled_update: bool,
    reminder_time_secs: i64,
    postmortem_reminder_time_secs: i64,
    postmortem_reminder_repeat_time_secs: i64,
    sla_secs: i64,
    recommended_response_type: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct EnvironmentRow {
    id: EnvironmentId,
    value: String,
    name: String,
    description: String,
    sort_order: i32,
    is_default: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct GroupRow {
    id: crate::GroupId,
    name: String,
    description: String,
    sort_order: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct CategoryRow {
    id: CategoryId,
    name: String,
    description: String,
    sort_order: i32,
    group_id: crate::GroupId,
    private: bool,
    deploy_warning: bool,
    enabled_create: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct RoleTypeRow {
    id: RoleTypeId,
    slug: String,
    name: String,
    emoji: String,
    required: bool,
    sort_order: i32,
    summary: String,
    description: String,
    aka: String,
}

#[derive(Debug, sqlx::FromRow)]
struct MilestoneTypeRow {
    event_type: String,
    name: String,
    summary: String,
    user_editable: bool,
    required: bool,
    asked_for: bool,
    description: String,
}

#[derive(Debug, sqlx::FromRow)]
struct MetricTypeRow {
    slug: String,
    code: String,
    name: String,
    description: String,
    end_event: String,
    start_event: String,
}

#[derive(Debug, sqlx::FromRow)]
struct CostTypeRow {
    id: CostTypeId,
    name: String,
    description: String,
    category: String,
    is_default: bool,
    editable: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct ImpactTypeRow {
    value: String,
    name: String,
    emoji: String,
    help_text: String,
    sort_order: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct ImpactLevelRow {
    impact_type: String,
    level: String,
    name: String,
    description: String,
}

#[derive(Debug, sqlx::FromRow)]
struct CostRow {
    id: crate::CostId,
    incident_id: i64,
    cost_type_id: CostTypeId,
    amount_cents: Option<i64>,
    details: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct ApiTokenRow {
    id: ApiTokenId,
    user_id: UserId,
    name: String,
    prefix: String,
    scopes: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(r: ApiTokenRow) -> Self {
        ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: UserId,
    csrf_token: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct IdempotencyRow {
    request_hash: String,
    response_status: Option<i32>,
    response_type: Option<String>,
    response_body: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct TimesRow {
    id: Uuid,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

fn times_map<K: std::hash::Hash + Eq>(
    rows: Vec<TimesRow>,
    key: impl Fn(Uuid) -> K,
) -> HashMap<K, RecordTimes> {
    rows.into_iter()
        .map(|r| {
            (
                key(r.id),
                RecordTimes {
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                },
            )
        })
        .collect()
}

/// Columns of [`ApiTokenRow`].
const API_TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at";

// ------------------------------------------------------------------ conversions

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(what.to_string())
}

fn status_from(value: i16) -> Result<Status> {
    Status::from_value(value).ok_or_else(|| corrupt(format!("unknown incident status {value}")))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn duration(secs: i64) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn response_type_str(t: ResponseType) -> &'static str {
    match t {
        ResponseType::Critical => "critical",
        ResponseType::Normal => "normal",
    }
}

fn response_type_from(s: &str) -> Result<ResponseType> {
    match s {
        "critical" => Ok(ResponseType::Critical),
        "normal" => Ok(ResponseType::Normal),
        other => Err(corrupt(format!("unknown response type \"{other}\""))),
    }
}

fn delivery_status_from(s: &str) -> Result<DeliveryStatus> {
    match s {
        "pending" => Ok(DeliveryStatus::Pending),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        other => Err(corrupt(format!("unknown delivery status \"{other}\""))),
    }
}

fn attempts(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn incident_from_row(
    r: IncidentRow,
    environment_ids: Vec<EnvironmentId>,
    tags: Vec<String>,
) -> Result<Incident> {
    let closure_reason = match r.closure_reason.as_deref() {
        None => None,
        Some(s) => Some(
            ClosureReason::parse(s)
                .ok_or_else(|| corrupt(format!("unknown closure reason \"{s}\"")))?,
        ),
    };
    let custom_fields = match r.custom_fields.0 {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(corrupt(format!(
                "custom fields of incident #{} are not an object: {other}",
                r.id
            )));
        }
    };
    Ok(Incident {
        id: IncidentId(r.id),
        title: r.title,
        description: r.description,
        status: status_from(r.status)?,
        priority_id: r.priority_id,
        category_id: r.category_id,
        environment_id: r.environment_id,
        environment_ids: if environment_ids.is_empty() {
            vec![r.environment_id]
        } else {
            environment_ids
        },
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        mitigated_at: r.mitigated_at,
        closed_at: r.closed_at,
        closure_reason,
        closure_reference: r.closure_reference,
        custom_fields,
        dedup_key: r.dedup_key,
        ignore: r.ignore,
        private: r.private,
        tags,
        version: r.version,
    })
}

fn user_from_row(r: UserRow, identities: BTreeMap<String, String>) -> User {
    User {
        id: r.id,
        email: r.email,
        name: r.name,
        is_active: r.is_active,
        is_staff: r.is_staff,
        is_admin: r.is_admin,
        bot: r.bot,
        avatar: r.avatar,
        identities,
        created_at: r.created_at,
    }
}

fn timeline_from_row(r: TimelineRow) -> Result<TimelineEntry> {
    let changes: Vec<FieldChange> = serde_json::from_value(r.changes.0)
        .map_err(|e| corrupt(format!("timeline entry {}: unreadable changes: {e}", r.id)))?;
    Ok(TimelineEntry {
        id: r.id,
        incident_id: IncidentId(r.incident_id),
        created_by: r.created_by,
        created_at: r.created_at,
        event_ts: r.event_ts,
        event_type: r.event_type,
        message: r.message,
        status: r.status.map(status_from).transpose()?,
        changes,
    })
}

fn event_from_row(r: EventRow) -> Result<StoredEvent> {
    let event: IncidentEvent = serde_json::from_value(r.payload.0)
        .map_err(|e| corrupt(format!("outbox event {}: unreadable payload: {e}", r.id)))?;
    Ok(StoredEvent {
        id: r.id,
        incident_id: IncidentId(r.incident_id),
        created_at: r.created_at,
        event,
    })
}

fn task_schedule_from_row(r: TaskScheduleRow) -> Result<TaskSchedule> {
    let schedule = match r.schedule {
        None | Some(Json(serde_json::Value::Null)) => None,
        Some(Json(v)) => Some(
            serde_json::from_value::<Schedule>(v)
                .map_err(|e| corrupt(format!("task {}: unreadable schedule: {e}", r.name)))?,
        ),
    };
    Ok(TaskSchedule {
        name: r.name,
        enabled: r.enabled,
        schedule,
        next_run_at: r.next_run_at,
        lease_owner: r.lease_owner,
        lease_until: r.lease_until,
    })
}

fn cost_from_row(c: CostRow) -> IncidentCost {
    IncidentCost {
        id: c.id,
        incident_id: IncidentId(c.incident_id),
        cost_type_id: c.cost_type_id,
        amount_cents: c.amount_cents,
        details: c.details,
        created_at: c.created_at,
    }
}

fn task_run_from_row(r: TaskRunRow) -> TaskRun {
    TaskRun {
        id: r.id,
        task: r.task,
        trigger: r.trigger,
        started_at: r.started_at,
        finished_at: r.finished_at,
        error: r.error,
        summary: r.summary,
    }
}

/// Drops repeated items, keeping the first occurrence (and the order).
fn unique<T: Clone + Eq + std::hash::Hash>(items: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter(|x| seen.insert((*x).clone()))
        .cloned()
        .collect()
}

/// The environments to store: the given list, or the primary one alone.
fn environments_of(incident: &Incident) -> Vec<EnvironmentId> {
    if incident.environment_ids.is_empty() {
        vec![incident.environment_id]
    } else {
        unique(&incident.environment_ids)
    }
}

/// A stored position (the order something was given in).
fn position(p: usize) -> i32 {
    i32::try_from(p).unwrap_or(i32::MAX)
}

/// Rows of `incident_environments` for one incident.
fn environment_rows(
    id: IncidentId,
    envs: &[EnvironmentId],
) -> Vec<(IncidentId, EnvironmentId, i32)> {
    envs.iter()
        .enumerate()
        .map(|(p, e)| (id, *e, position(p)))
        .collect()
}

/// Rows of `incident_tags` for one incident (each tag once).
fn tag_rows(id: IncidentId, tags: &[String]) -> Vec<(IncidentId, String, i32)> {
    unique(tags)
        .into_iter()
        .enumerate()
        .map(|(p, t)| (id, t, position(p)))
        .collect()
}

/// One row per role, the last holder named winning: one statement cannot
/// update a row twice.
fn last_roles(
    id: IncidentId,
    roles: &[(RoleTypeId, UserId)],
) -> Vec<(IncidentId, RoleTypeId, UserId)> {
    let mut last: Vec<(IncidentId, RoleTypeId, UserId)> = Vec::with_capacity(roles.len());
    for (role, user) in roles {
        match last.iter_mut().find(|(_, held, _)| held == role) {
            Some(held) => held.2 = *user,
            None => last.push((id, *role, *user)),
        }
    }
    last
}

/// One row per key event type, the last one winning (see [`last_roles`]).
fn last_key_events(id: IncidentId, events: &[KeyEvent]) -> Vec<(IncidentId, &KeyEvent)> {
    let mut last: Vec<(IncidentId, &KeyEvent)> = Vec::with_capacity(events.len());
    for k in events {
        match last.iter_mut().find(|(_, e)| e.event_type == k.event_type) {
            Some(kept) => kept.1 = k,
            None => last.push((id, k)),
        }
    }
    last
}

// ------------------------------------------------------------------ child rows

/// Which child rows of incidents to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kids {
    /// Environments and tags (part of [`Incident`]).
    OfIncident,
    /// Roles, members, key events and costs (the rest of [`IncidentDetails`]).
    OfDetails,
    /// Both.
    All,
}

/// One `SELECT` per child table, each with the same columns, for a `UNION
/// ALL` that reads every child row of a chunk of incidents in one query:
/// kind, incident id, two UUIDs, a text, a time, a number. `{ids}` stands for
/// the id list; every `NULL` is typed so PostgreSQL can match the columns.
const CHILD_BRANCHES: [(char, &str); 6] = [
    (
        'e',
        "SELECT 'e' AS kind, x.incident_id AS incident_id, x.environment_id AS u1, CAST(NULL AS UUID) AS u2, \
         CAST(NULL AS TEXT) AS t1, CAST(NULL AS TIMESTAMPTZ) AS ts, CAST(x.position AS BIGINT) AS n1 \
         FROM incident_environments x WHERE x.incident_id IN ({ids})",
    ),
    (
        't',
        "SELECT 't', x.incident_id, CAST(NULL AS UUID), CAST(NULL AS UUID), x.tag, CAST(NULL AS TIMESTAMPTZ), \
         CAST(x.position AS BIGINT) FROM incident_tags x WHERE x.incident_id IN ({ids})",
    ),
    (
        'r',
        "SELECT 'r', x.incident_id, x.role_type_id, x.user_id, t.slug, CAST(NULL AS TIMESTAMPTZ), \
         CAST(t.sort_order AS BIGINT) FROM incident_roles x JOIN role_types t ON t.id = x.role_type_id \
         WHERE x.incident_id IN ({ids})",
    ),
    (
        'm',
        "SELECT 'm', x.incident_id, x.user_id, CAST(NULL AS UUID), CAST(NULL AS TEXT), CAST(NULL AS TIMESTAMPTZ), \
         CAST(x.position AS BIGINT) FROM incident_members x WHERE x.incident_id IN ({ids})",
    ),
    (
        'k',
        "SELECT 'k', x.incident_id, CAST(NULL AS UUID), x.recorded_by, x.event_type, x.at, CAST(NULL AS BIGINT) \
         FROM incident_key_events x WHERE x.incident_id IN ({ids})",
    ),
    (
        'c',
        "SELECT 'c', x.incident_id, x.id, x.cost_type_id, x.details, x.created_at, x.amount_cents \
         FROM incident_costs x WHERE x.incident_id IN ({ids})",
    ),
];

impl Kids {
    fn wants(self, kind: char) -> bool {
        match self {
            Kids::All => true,
            Kids::OfIncident => matches!(kind, 'e' | 't'),
            Kids::OfDetails => !matches!(kind, 'e' | 't'),
        }
    }

    /// The query for `n` ids (placeholders `$1..$n`, repeated in each branch).
    fn sql(self, n: usize) -> String {
        let ids = (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        CHILD_BRANCHES
            .iter()
            .filter(|(kind, _)| self.wants(*kind))
            .map(|(_, sql)| sql.replace("{ids}", &ids))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }
}

/// A row of the child query (see [`CHILD_BRANCHES`]).
type ChildRow = (
    String,
    i64,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i64>,
);

/// Child rows of incidents, by incident id, each list in its stored order.
#[derive(Debug, Default)]
struct Children {
    environments: HashMap<i64, Vec<(i64, EnvironmentId)>>,
    tags: HashMap<i64, Vec<(i64, String)>>,
    roles: HashMap<i64, Vec<(i64, RoleAssignment)>>,
    members: HashMap<i64, Vec<(i64, UserId)>>,
    key_events: HashMap<i64, Vec<KeyEvent>>,
    costs: HashMap<i64, Vec<IncidentCost>>,
}

impl Children {
    fn add(&mut self, row: ChildRow) -> Result<()> {
        let (kind, id, u1, u2, t1, ts, n1) = row;
        let missing =
            |what: &str| corrupt(format!("incident #{id}: a {what} row without its values"));
        match kind.as_str() {
            "e" => self.environments.entry(id).or_default().push((
                n1.unwrap_or_default(),
                EnvironmentId(u1.ok_or_else(|| missing("environment"))?),
            )),
            "t" => self
                .tags
                .entry(id)
                .or_default()
                .push((n1.unwrap_or_default(), t1.ok_or_else(|| missing("tag"))?)),
            "r" => self.roles.entry(id).or_default().push((
                n1.unwrap_or_default(),
                RoleAssignment {
                    role_type_id: RoleTypeId(u1.ok_or_else(|| missing("role"))?),
                    user_id: UserId(u2.ok_or_else(|| missing("role"))?),
                    slug: t1.ok_or_else(|| missing("role"))?,
                },
            )),
            "m" => self.members.entry(id).or_default().push((
                n1.unwrap_or_default(),
                UserId(u1.ok_or_else(|| missing("member"))?),
            )),
            "k" => self.key_events.entry(id).or_default().push(KeyEvent {
                event_type: t1.ok_or_else(|| missing("key event"))?,
                at: ts.ok_or_else(|| missing("key event"))?,
                recorded_by: u2.map(UserId),
            }),
            "c" => self.costs.entry(id).or_default().push(IncidentCost {
                id: crate::CostId(u1.ok_or_else(|| missing("cost"))?),
                incident_id: IncidentId(id),
                cost_type_id: CostTypeId(u2.ok_or_else(|| missing("cost"))?),
                amount_cents: n1,
                details: t1.unwrap_or_default(),
                created_at: ts.ok_or_else(|| missing("cost"))?,
            }),
            other => return Err(corrupt(format!("unknown child row kind \"{other}\""))),
        }
        Ok(())
    }

    /// Environments of an incident, by position.
    fn environments(&mut self, id: i64) -> Vec<EnvironmentId> {
        let mut v = self.environments.remove(&id).unwrap_or_default();
        v.sort_by_key(|(position, _)| *position);
        v.into_iter().map(|(_, e)| e).collect()
    }

    /// Tags of an incident, by position.
    fn tags(&mut self, id: i64) -> Vec<String> {
        let mut v = self.tags.remove(&id).unwrap_or_default();
        v.sort_by_key(|(position, _)| *position);
        v.into_iter().map(|(_, t)| t).collect()
    }

    /// The details of `incident`: roles by role type order then slug,
    /// members by position, key events by time then type, costs by time then id.
    fn details(&mut self, incident: Incident) -> IncidentDetails {
        let id = incident.id.0;
        let mut roles = self.roles.remove(&id).unwrap_or_default();
        roles.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.slug.cmp(&b.1.slug)));
        let mut members = self.members.remove(&id).unwrap_or_default();
        members.sort_by_key(|(position, _)| *position);
        let mut key_events = self.key_events.remove(&id).unwrap_or_default();
        key_events.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.event_type.cmp(&b.event_type))
        });
        let mut costs = self.costs.remove(&id).unwrap_or_default();
        costs.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.0.cmp(&b.id.0))
        });
        IncidentDetails {
            incident,
            roles: roles.into_iter().map(|(_, r)| r).collect(),
            members: members.into_iter().map(|(_, m)| m).collect(),
            key_events,
            costs,
        }
    }
}

// ------------------------------------------------------------------ dynamic SQL

/// A bound value of dynamically built SQL.
#[derive(Debug, Clone)]
enum Arg {
    I64(i64),
    I16(i16),
    Uuid(Uuid),
    Text(String),
    NullText,
    Ts(DateTime<Utc>),
    Bool(bool),
}

/// Collects bound values and hands out their `$N` placeholders.
#[derive(Debug, Default)]
struct Params {
    args: Vec<Arg>,
}

impl Params {
    fn push(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn list(&mut self, args: impl IntoIterator<Item = Arg>) -> String {
        args.into_iter()
            .map(|a| self.push(a))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Escapes `LIKE` wildcards (the escape character is `\`).
fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    for c in word.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `WHERE` clause (possibly empty) of an incident filter; `like` is the
/// dialect's case-insensitive `LIKE`.
fn filter_clause(f: &IncidentFilter, like: &str, p: &mut Params) -> String {
    let mut conds: Vec<String> = Vec::new();
    if !f.ids.is_empty() {
        conds.push(format!(
            "i.id IN ({})",
            p.list(f.ids.iter().map(|i| Arg::I64(i.0)))
        ));
    }
    if let Some(id) = f.id_min {
        conds.push(format!("i.id >= {}", p.push(Arg::I64(id.0))));
    }
    if let Some(id) = f.id_max {
        conds.push(format!("i.id <= {}", p.push(Arg::I64(id.0))));
    }
    if !f.statuses.is_empty() {
        conds.push(format!(
            "i.status IN ({})",
            p.list(f.statuses.iter().map(|s| Arg::I16(s.value())))
        ));
    }
    if let Some(s) = f.status_at_least {
        conds.push(format!("i.status >= {}", p.push(Arg::I16(s.value()))));
    }
    if let Some(s) = f.status_below {
        conds.push(format!("i.status < {}", p.push(Arg::I16(s.value()))));
    }
    if !f.priority_ids.is_empty() {
        conds.push(format!(
            "i.priority_id IN ({})",
            p.list(f.priority_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.category_ids.is_empty() {
        conds.push(format!(
            "i.category_id IN ({})",
            p.list(f.category_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.group_ids.is_empty() {
        conds.push(format!(
            "i.category_id IN (SELECT c.id FROM incident_categories c WHERE c.group_id IN ({}))",
            p.list(f.group_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.environment_ids.is_empty() {
        conds.push(format!(
            "EXISTS (SELECT 1 FROM incident_environments ie WHERE ie.incident_id = i.id AND ie.environment_id IN ({}))",
            p.list(f.environment_ids.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if !f.created_by.is_empty() {
        conds.push(format!(
            "i.created_by IN ({})",
            p.list(f.created_by.iter().map(|i| Arg::Uuid(i.0)))
        ));
    }
    if let Some(t) = f.created_from {
        conds.push(format!("i.created_at >= {}", p.push(Arg::Ts(t))));
    }
    if let Some(t) = f.created_before {
        conds.push(format!("i.created_at < {}", p.push(Arg::Ts(t))));
    }
    if let Some(b) = f.ignore {
        conds.push(format!("i.ignore = {}", p.push(Arg::Bool(b))));
    }
    if let Some(search) = &f.search {
        // No title or description holds a control character: a search with
        // one matches nothing (SQLite would read a NUL as the end of the
        // pattern, and `%` alone matches everything).
        if search.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            conds.push("1 = 0".to_owned());
        }
        for word in search.split_whitespace() {
            let pattern = p.push(Arg::Text(format!("%{}%", escape_like(word))));
            let mut alternatives = format!(
                "i.title {like} {pattern} ESCAPE '\\' OR i.description {like} {pattern} ESCAPE '\\'"
            );
            if let Ok(id) = word.strip_prefix('#').unwrap_or(word).parse::<i64>() {
                alternatives.push_str(&format!(" OR i.id = {}", p.push(Arg::I64(id))));
            }
            conds.push(format!("({alternatives})"));
        }
    }
    if let Some(user) = f.visible_to {
        conds.push(format!(
            "(NOT i.private OR EXISTS (SELECT 1 FROM incident_members m WHERE m.incident_id = i.id AND m.user_id = {}))",
            p.push(Arg::Uuid(user.0))
        ));
    }
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// `ORDER BY` terms; `p` is `priorities` joined on the incident's priority.
/// The leading sort key of an order, and what breaks its ties.
fn order_key(order: IncidentOrder) -> (&'static str, &'static str) {
    match order {
        IncidentOrder::NewestFirst => ("i.created_at DESC", "i.id DESC"),
        IncidentOrder::OldestFirst => ("i.created_at ASC", "i.id ASC"),
        IncidentOrder::Priority => ("p.value ASC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::StatusThenPriority => {
            ("i.status ASC, p.value ASC", "i.created_at DESC, i.id DESC")
        }
        IncidentOrder::Title => ("LOWER(i.title) ASC", "i.id ASC"),
        IncidentOrder::PriorityDescending => ("p.value DESC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::TitleDescending => ("LOWER(i.title) DESC", "i.id DESC"),
        IncidentOrder::CreatedBy => ("i.created_by ASC", "i.created_at DESC, i.id DESC"),
        IncidentOrder::CreatedByDescending => ("i.created_by DESC", "i.created_at DESC, i.id DESC"),
    }
}

/// `ORDER BY` of a filter: its order's key, then each of `then_by`'s, then
/// the first order's tie-breakers. Built from constant fragments only.
fn order_clause(filter: &IncidentFilter) -> String {
    let (first, ties) = order_key(filter.order);
    let mut keys = vec![first];
    for then in &filter.then_by {
        let (key, _) = order_key(*then);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    format!("{}, {ties}", keys.join(", "))
}

// ------------------------------------------------------------------ errors

/// The database's own error behind `e`, if any.
fn db_error(e: &Error) -> Option<&(dyn sqlx::error::DatabaseError + 'static)> {
    match e {
        Error::Database(sqlx::Error::Database(db)) => Some(db.as_ref()),
        _ => None,
    }
}

fn is_kind(e: &Error, kind: ErrorKind) -> bool {
    db_error(e).is_some_and(|db| db.kind() == kind)
}

/// The insert lost against an open incident holding the same `dedup_key`
/// in the same scope.
fn is_dedup_violation(e: &Error) -> bool {
    const INDEX: &str = "incidents_open_dedup_key";
    db_error(e).is_some_and(|db| {
        db.kind() == ErrorKind::UniqueViolation
            // SQLite names the index in the message only.
            && (db.constraint() == Some(INDEX) || db.message().contains(INDEX))
    })
}

/// Times a declaration is written again after losing the race for its
/// `dedup_key`: each attempt sees the winner, so the second one settles it
/// (the third when it then races for the declarer's own scope).
const DEDUP_RACE_ATTEMPTS: usize = 4;

/// Where a declaration's `dedup_key` leads (see [`Store::declare`]).
enum DedupClaim {
    /// The open incident the declaration gets instead of a new one.
    Matched(Box<Incident>),
    /// A new incident, holding the key for this declarer alone (`Some`) or
    /// for everybody.
    Free(Option<UserId>),
}

/// A row an incident write refers to; checked only to explain a foreign-key failure.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ref {
    Priority(PriorityId),
    Category(CategoryId),
    Environment(EnvironmentId),
    User(UserId),
    RoleType(RoleTypeId),
    MilestoneType(String),
    CostType(CostTypeId),
}

impl Ref {
    fn push(refs: &mut Vec<Ref>, r: Ref) {
        if !refs.contains(&r) {
            refs.push(r);
        }
    }

    fn of_timeline(refs: &mut Vec<Ref>, entries: &[TimelineEntry]) {
        for e in entries {
            if let Some(u) = e.created_by {
                Ref::push(refs, Ref::User(u));
            }
        }
    }

    fn of_incident(refs: &mut Vec<Ref>, i: &Incident) {
        Ref::push(refs, Ref::Priority(i.priority_id));
        Ref::push(refs, Ref::Category(i.category_id));
        for e in environments_of(i) {
            Ref::push(refs, Ref::Environment(e));
        }
        Ref::push(refs, Ref::User(i.created_by));
    }

    fn of_roles_and_key_events(
        refs: &mut Vec<Ref>,
        roles: &[(RoleTypeId, UserId)],
        key_events: &[KeyEvent],
    ) {
        for (role, user) in roles {
            Ref::push(refs, Ref::RoleType(*role));
            Ref::push(refs, Ref::User(*user));
        }
        for k in key_events {
            Ref::push(refs, Ref::MilestoneType(k.event_type.clone()));
            if let Some(u) = k.recorded_by {
                Ref::push(refs, Ref::User(u));
            }
        }
    }

    fn of_record(r: &NewIncidentRecord) -> Vec<Ref> {
        let mut refs = Vec::new();
        Ref::of_incident(&mut refs, &r.incident);
        Ref::of_roles_and_key_events(&mut refs, &r.roles, &r.key_events);
        for m in &r.members {
            Ref::push(&mut refs, Ref::User(*m));
        }
        Ref::of_timeline(&mut refs, &r.timeline);
        refs
    }

    fn of_change(c: &IncidentChange) -> Vec<Ref> {
        let mut refs = Vec::new();
        Ref::of_incident(&mut refs, &c.incident);
        Ref::of_roles_and_key_events(&mut refs, &c.roles_set, &c.key_events_set);
        for m in &c.members_added {
            Ref::push(&mut refs, Ref::User(*m));
        }
        for cost in &c.costs_added {
            Ref::push(&mut refs, Ref::CostType(cost.cost_type_id));
        }
        Ref::of_timeline(&mut refs, &c.timeline);
        refs
    }

    /// The query counting the referenced row, and what to call it.
    fn check(&self) -> (&'static str, &'static str, Arg) {
        match self {
            Ref::Priority(id) => (
                "priority",
                "SELECT COUNT(*) FROM priorities WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::Category(id) => (
                "category",
                "SELECT COUNT(*) FROM incident_categories WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::Environment(id) => (
                "environment",
                "SELECT COUNT(*) FROM environments WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::User(id) => (
                "user",
                "SELECT COUNT(*) FROM users WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::RoleType(id) => (
                "role type",
                "SELECT COUNT(*) FROM role_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
            Ref::MilestoneType(slug) => (
                "key event type",
                "SELECT COUNT(*) FROM milestone_types WHERE event_type = $1",
                Arg::Text(slug.clone()),
            ),
            Ref::CostType(id) => (
                "cost type",
                "SELECT COUNT(*) FROM cost_types WHERE id = $1",
                Arg::Uuid(id.0),
            ),
        }
    }

    fn id(&self) -> String {
        match self {
            Ref::Priority(id) => id.to_string(),
            Ref::Category(id) => id.to_string(),
            Ref::Environment(id) => id.to_string(),
            Ref::User(id) => id.to_string(),
            Ref::RoleType(id) => id.to_string(),
            Ref::MilestoneType(slug) => format!("\"{slug}\""),
            Ref::CostType(id) => id.to_string(),
        }
    }
}

/// A unique violation that is not the dedup race, as a conflict people can read.
fn unique_conflict(e: Error) -> Error {
    match db_error(&e) {
        Some(db) if db.kind() == ErrorKind::UniqueViolation => Error::Conflict(format!(
            "a value that must be unique is already used ({})",
            db.message()
        )),
        _ => e,
    }
}

// ------------------------------------------------------------------ the shared body

/// Implements [`Store`] for a backend from the one body of SQL below.
///
/// Dialect fragments: `begin_write` starts write transactions (SQLite takes
/// the write lock up front so read-then-write transactions never fail with
/// `SQLITE_BUSY`), `skip_locked` ends the row selection of claims, `like`
/// is the case-insensitive `LIKE`.
macro_rules! sql_store {
    (
        store: $Store:ident,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        impl $Store {
            async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $Db>> {
                Ok(self.writer.begin_with($begin).await?)
            }

            /// Commits what a transaction `written`, or rolls it back at once
            /// (before anything else uses the pool: an in-memory SQLite pool
            /// has one connection) and returns the failure.
            async fn settle<T>(tx: sqlx::Transaction<'static, $Db>, written: Result<T>) -> Result<T> {
                match written {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok(value)
                    }
                    Err(e) => {
                        tx.rollback().await.ok();
                        Err(e)
                    }
                }
            }

            /// Increments the [`DataVersions`] a write changes. Called inside
            /// the write's transaction, last (on PostgreSQL the row stays
            /// locked until the commit), so the new version becomes visible
            /// with the data it stands for.
            async fn bump(conn: &mut $Conn, what: Bump) -> Result<()> {
                let (data, reference, access) = what.steps();
                sqlx::query(
                    "UPDATE data_versions SET data_version = data_version + $1, \
                     reference_version = reference_version + $2, access_version = access_version + $3 WHERE id = 1",
                )
                .bind(data)
                .bind(reference)
                .bind(access)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Runs one statement and the version bump in a write transaction.
            async fn write_one(
                &self,
                query: sqlx::query::Query<'static, $Db, <$Db as sqlx::Database>::Arguments>,
                what: Bump,
            ) -> Result<u64> {
                let this = self.clone();
                self.on_writer(async move { this.write_one_in_tx(query, what).await }).await?
            }

            async fn write_one_in_tx(
                &self,
                query: sqlx::query::Query<'static, $Db, <$Db as sqlx::Database>::Arguments>,
                what: Bump,
            ) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                let done = match query.execute(&mut *tx).await {
                    Ok(done) => done.rows_affected(),
                    Err(e) => {
                        tx.rollback().await.ok();
                        return Err(e.into());
                    }
                };
                if done > 0 {
                    Self::bump(&mut tx, what).await?;
                }
                tx.commit().await?;
                Ok(done)
            }

            fn args(values: impl IntoIterator<Item = Arg>) -> Result<<$Db as sqlx::Database>::Arguments> {
                let mut args = <<$Db as sqlx::Database>::Arguments>::default();
                for v in values {
                    let added = match v {
                        Arg::I64(x) => args.add(x),
                        Arg::I16(x) => args.add(x),
                        Arg::Uuid(x) => args.add(x),
                        Arg::Text(x) => args.add(x),
                        Arg::NullText => args.add(None::<String>),
                        Arg::Ts(x) => args.add(x),
                        Arg::Bool(x) => args.add(x),
                    };
                    added.map_err(|e| Error::Database(sqlx::Error::Encode(e)))?;
                }
                Ok(args)
            }

            /// `$1, ..., $n`.
            fn placeholders(n: usize) -> String {
                (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            }

            /// Turns a failed incident write into the error people should see:
            /// which referenced row is missing, or which unique value is taken.
            /// Runs after the transaction was rolled back.
            async fn explain(&self, e: Error, refs: Vec<Ref>) -> Error {
                if !is_kind(&e, ErrorKind::ForeignKeyViolation) {
                    return unique_conflict(e);
                }
                let Ok(mut conn) = self.pool.acquire().await else { return e };
                for r in refs {
                    let (what, sql, arg) = r.check();
                    let Ok(args) = Self::args([arg]) else { return e };
                    match sqlx::query_scalar_with::<_, i64, _>(sql, args).fetch_one(&mut *conn).await {
                        Ok(0) => return Error::NotFound { what, id: r.id() },
                        Ok(_) => {}
                        Err(_) => return e,
                    }
                }
                e
            }

            /// Child rows of incidents: one query per chunk of ids.
            async fn children(conn: &mut $Conn, ids: &[i64], kids: Kids) -> Result<Children> {
                let mut children = Children::default();
                for chunk in ids.chunks(CHUNK) {
                    let rows: Vec<ChildRow> =
                        sqlx::query_as_with(AssertSqlSafe(kids.sql(chunk.len())), Self::args(chunk.iter().map(|&i| Arg::I64(i)))?)
                            .fetch_all(&mut *conn)
                            .await?;
                    for row in rows {
                        children.add(row)?;
                    }
                }
                Ok(children)
            }

            async fn incident_rows(conn: &mut $Conn, rows: Vec<IncidentRow>) -> Result<Vec<Incident>> {
                Self::incidents_from(conn, rows, Kids::OfIncident).await.map(|(incidents, _)| incidents)
            }

            /// Incidents from their rows, and the other child rows `kids` asks for.
            async fn incidents_from(conn: &mut $Conn, rows: Vec<IncidentRow>, kids: Kids) -> Result<(Vec<Incident>, Children)> {
                if rows.is_empty() {
                    return Ok((Vec::new(), Children::default()));
                }
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let mut children = Self::children(conn, &ids, kids).await?;
                let incidents = rows
                    .into_iter()
                    .map(|r| {
                        let id = r.id;
                        incident_from_row(r, children.environments(id), children.tags(id))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((incidents, children))
            }

            /// The rows of the incidents a filter matches, in its order and page.
            async fn incident_list_rows(conn: &mut $Conn, filter: &IncidentFilter) -> Result<Vec<IncidentRow>> {
                let mut params = Params::default();
                let clause = filter_clause(filter, $like, &mut params);
                let limit = params.push(Arg::I64(filter.limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))));
                let offset = params.push(Arg::I64(i64::try_from(filter.offset).unwrap_or(i64::MAX)));
                let sql = format!(
                    "{} JOIN priorities p ON p.id = i.priority_id{clause} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                    incident_select!(),
                    order_clause(filter),
                );
                // The text is built from constant fragments only; every value is bound.
                Ok(sqlx::query_as_with(AssertSqlSafe(sql), Self::args(params.args)?)
                    .fetch_all(&mut *conn)
                    .await?)
            }

            async fn incident_in(conn: &mut $Conn, id: IncidentId) -> Result<Option<Incident>> {
                let row: Option<IncidentRow> = sqlx::query_as(concat!(incident_select!(), " WHERE i.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Self::incident_rows(conn, vec![row]).await?.pop()),
                }
            }

            /// The open incident holding `key` that `viewer` may see or that
            /// holds it for them alone: theirs first, then the one holding it
            /// for everybody, then the oldest.
            async fn open_by_dedup_key(conn: &mut $Conn, key: &str, viewer: Viewer) -> Result<Option<Incident>> {
                let row: Option<IncidentRow> = match viewer.filter() {
                    None => sqlx::query_as(concat!(
                        incident_select!(),
                        " WHERE i.dedup_key = $1 AND i.status <= 40 \
                         ORDER BY CASE WHEN i.dedup_scope IS NULL THEN 0 ELSE 1 END, i.id LIMIT 1"
                    ))
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await?,
                    Some(user) => sqlx::query_as(concat!(
                        incident_select!(),
                        " WHERE i.dedup_key = $1 AND i.status <= 40 AND (i.dedup_scope = $2 OR NOT i.private \
                         OR EXISTS (SELECT 1 FROM incident_members m WHERE m.incident_id = i.id AND m.user_id = $2)) \
                         ORDER BY CASE WHEN i.dedup_scope = $2 THEN 0 WHEN i.dedup_scope IS NULL THEN 1 ELSE 2 END, \
                         i.id LIMIT 1"
                    ))
                    .bind(key)
                    .bind(user)
                    .fetch_optional(&mut *conn)
                    .await?,
                };
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Self::incident_rows(conn, vec![row]).await?.pop()),
                }
            }

            /// Whether an open incident holds `key` for everybody.
            async fn dedup_key_held_for_everybody(conn: &mut $Conn, key: &str) -> Result<bool> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM incidents WHERE dedup_key = $1 AND dedup_scope IS NULL AND status <= 40",
                )
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
                Ok(n > 0)
            }

            /// The rule of `dedup_key`s: the declaration gets the open incident
            /// with its key that its declarer may see (or that holds the key
            /// for them alone); else it is new, and holds the key for its
            /// declarer alone when holding it for everybody would show them an
            /// incident they may not see: the one holding it already, or the
            /// new one itself (declared private for someone else). So whether
            /// a key is held by an incident out of the declarer's sight never
            /// shows.
            async fn claim_dedup_key(conn: &mut $Conn, record: &NewIncidentRecord) -> Result<DedupClaim> {
                let Some(key) = record.incident.dedup_key.as_deref() else {
                    return Ok(DedupClaim::Free(None));
                };
                let viewer = record.dedup_viewer;
                if let Some(existing) = Self::open_by_dedup_key(conn, key, viewer).await? {
                    return Ok(DedupClaim::Matched(Box::new(existing)));
                }
                let Viewer::Member(declarer) = viewer else {
                    return Ok(DedupClaim::Free(None));
                };
                let scoped = !viewer.can_see_incident(&record.incident, &record.members)
                    || Self::dedup_key_held_for_everybody(conn, key).await?;
                Ok(DedupClaim::Free(scoped.then_some(declarer)))
            }

            async fn incident_exists(conn: &mut $Conn, id: IncidentId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(n > 0)
            }

            async fn write_environments(conn: &mut $Conn, id: IncidentId, envs: &[EnvironmentId]) -> Result<()> {
                sqlx::query("DELETE FROM incident_environments WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Self::insert_environments(conn, id, envs).await
            }

            async fn insert_environments(conn: &mut $Conn, id: IncidentId, envs: &[EnvironmentId]) -> Result<()> {
                Self::insert_environment_rows(conn, &environment_rows(id, envs)).await
            }

            /// Environments of any number of incidents, one statement per chunk
            /// (each statement is a round trip).
            async fn insert_environment_rows(conn: &mut $Conn, rows: &[(IncidentId, EnvironmentId, i32)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_environments (incident_id, environment_id, position) ",
                    );
                    insert.push_values(chunk, |mut row, (id, env, p)| {
                        row.push_bind(*id).push_bind(*env).push_bind(*p);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn write_tags(conn: &mut $Conn, id: IncidentId, tags: &[String]) -> Result<()> {
                sqlx::query("DELETE FROM incident_tags WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Self::insert_tags(conn, id, tags).await
            }

            async fn insert_tags(conn: &mut $Conn, id: IncidentId, tags: &[String]) -> Result<()> {
                Self::insert_tag_rows(conn, &tag_rows(id, tags)).await
            }

            async fn insert_tag_rows(conn: &mut $Conn, rows: &[(IncidentId, String, i32)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_tags (incident_id, tag, position) ",
                    );
                    insert.push_values(chunk, |mut row, (id, tag, p)| {
                        row.push_bind(*id).push_bind(tag.as_str()).push_bind(*p);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn write_roles(conn: &mut $Conn, id: IncidentId, roles: &[(RoleTypeId, UserId)]) -> Result<()> {
                Self::upsert_role_rows(conn, &last_roles(id, roles)).await
            }

            /// Role holders (one row per incident and role: see [`last_roles`]).
            async fn upsert_role_rows(conn: &mut $Conn, rows: &[(IncidentId, RoleTypeId, UserId)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_roles (incident_id, role_type_id, user_id) ",
                    );
                    insert.push_values(chunk, |mut row, (id, role, user)| {
                        row.push_bind(*id).push_bind(*role).push_bind(*user);
                    });
                    insert.push(" ON CONFLICT (incident_id, role_type_id) DO UPDATE SET user_id = excluded.user_id");
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn write_members(conn: &mut $Conn, id: IncidentId, members: &[UserId]) -> Result<()> {
                for user in unique(members) {
                    // `position` keeps the order people joined in.
                    sqlx::query(
                        "INSERT INTO incident_members (incident_id, user_id, position) VALUES ($1, $2, \
                         (SELECT COALESCE(MAX(position), -1) + 1 FROM incident_members WHERE incident_id = $1)) \
                         ON CONFLICT (incident_id, user_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(user)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            async fn write_key_events(conn: &mut $Conn, id: IncidentId, events: &[KeyEvent]) -> Result<()> {
                Self::upsert_key_event_rows(conn, &last_key_events(id, events)).await
            }

            /// Key events (one row per incident and type: see [`last_key_events`]).
            async fn upsert_key_event_rows(conn: &mut $Conn, rows: &[(IncidentId, &KeyEvent)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 4) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_key_events (incident_id, event_type, at, recorded_by) ",
                    );
                    insert.push_values(chunk, |mut row, (id, k)| {
                        row.push_bind(*id)
                            .push_bind(k.event_type.as_str())
                            .push_bind(k.at)
                            .push_bind(k.recorded_by);
                    });
                    insert.push(
                        " ON CONFLICT (incident_id, event_type) DO UPDATE SET at = excluded.at, \
                         recorded_by = excluded.recorded_by",
                    );
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn write_timeline(conn: &mut $Conn, id: IncidentId, entries: &[TimelineEntry]) -> Result<()> {
                let rows: Vec<(IncidentId, &TimelineEntry)> = entries.iter().map(|e| (id, e)).collect();
                Self::insert_timeline_rows(conn, &rows).await
            }

            /// Timeline entries of any number of incidents (a declaration writes several).
            async fn insert_timeline_rows(conn: &mut $Conn, rows: &[(IncidentId, &TimelineEntry)]) -> Result<()> {
                for chunk in rows.chunks(CHUNK / 10) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_updates (id, incident_id, created_by, created_at, event_ts, event_type, \
                         message, status, changes) ",
                    );
                    insert.push_values(chunk, |mut row, (id, e)| {
                        row.push_bind(e.id)
                            .push_bind(*id)
                            .push_bind(e.created_by)
                            .push_bind(e.created_at)
                            .push_bind(e.event_ts)
                            .push_bind(e.event_type.as_deref())
                            .push_bind(e.message.as_deref())
                            .push_bind(e.status.map(Status::value))
                            .push_bind(Json(&e.changes));
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// One outbox row per event, one pending delivery per subscriber, due at `at`.
            async fn write_events(
                conn: &mut $Conn,
                id: IncidentId,
                events: &[IncidentEvent],
                subscribers: &[String],
                at: DateTime<Utc>,
            ) -> Result<()> {
                for event in events {
                    let event_id: i64 = sqlx::query_scalar(
                        "INSERT INTO outbox_events (incident_id, kind, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(id)
                    .bind(event.kind())
                    .bind(Json(event))
                    .bind(at)
                    .fetch_one(&mut *conn)
                    .await?;
                    // One statement for every handler.
                    for chunk in unique(subscribers).chunks(CHUNK / 3) {
                        let mut insert = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO outbox_deliveries (event_id, handler, status, attempts, next_attempt_at) ",
                        );
                        insert.push_values(chunk, |mut row, handler| {
                            row.push_bind(event_id)
                                .push_bind(handler.as_str())
                                .push_bind("pending")
                                .push_bind(0_i32)
                                .push_bind(at);
                        });
                        insert.push(" ON CONFLICT (event_id, handler) DO NOTHING");
                        insert.build().execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }

            /// The transaction of `apply`. `Err`: a stale version or an unknown
            /// incident, to report as is; `Ok(Err)`: a failed write, to explain.
            async fn apply_in_tx(&self, change: &IncidentChange) -> Result<Result<Option<Incident>>> {
                let id = change.incident.id;
                let mut tx = self.begin_write().await?;
                Ok(match Self::apply_change(&mut tx, change).await {
                    Ok(Some(incident)) => {
                        let bumped = Self::bump(&mut tx, Bump::Data).await.map(|()| Some(incident));
                        Self::settle(tx, bumped).await
                    }
                    Ok(None) => {
                        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM incidents WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        tx.rollback().await?;
                        return Err(match current {
                            None => Error::not_found("incident", id),
                            Some(v) => Error::Conflict(format!(
                                "the incident was changed meanwhile (version {} expected, {v} found); reload it and try again",
                                change.expected_version
                            )),
                        });
                    }
                    Err(e) => Self::settle(tx, Err(e)).await,
                })
            }

            /// The transaction of `declare`: the open incident the
            /// `dedup_key` leads to, or the new one (committed).
            async fn declare_in_tx(&self, record: &NewIncidentRecord) -> Result<Declared> {
                let mut tx = self.begin_write().await?;
                let written = async {
                    let scope = match Self::claim_dedup_key(&mut tx, record).await? {
                        DedupClaim::Matched(existing) => return Ok(Declared::Existing(*existing)),
                        DedupClaim::Free(scope) => scope,
                    };
                    let incident = Self::insert_incidents(&mut tx, &[(record, scope)])
                        .await?
                        .pop()
                        .ok_or_else(|| corrupt("a declared incident was not written"))?;
                    Self::bump(&mut tx, Bump::Data).await?;
                    Ok(Declared::Created(incident))
                }
                .await;
                Self::settle(tx, written).await
            }

            /// Declares several incidents in one transaction. A record whose
            /// `dedup_key` leads to an open incident, or to one declared
            /// earlier in the batch, gets that incident, as if they had come
            /// one after another. Any failure rolls back all of them.
            #[allow(dead_code, reason = "only the SQLite writer batches declarations")]
            async fn declare_batch_in_tx(&self, records: &[Arc<NewIncidentRecord>]) -> Result<Vec<Declared>> {
                let mut tx = self.begin_write().await?;
                let written = async {
                    let mut declared: Vec<Option<Declared>> = vec![None; records.len()];
                    // New incidents not written yet (with their dedup scope),
                    // and their keys.
                    let mut waiting: Vec<(usize, Option<UserId>)> = Vec::new();
                    let mut waiting_keys: HashSet<&str> = HashSet::new();
                    let mut wrote = false;
                    for (n, record) in records.iter().enumerate() {
                        if let Some(key) = record.incident.dedup_key.as_deref() {
                            // Whether this one gets an earlier one of the batch
                            // depends on who may see it: written first, the
                            // earlier one is read by the same rule as any other.
                            if waiting_keys.contains(key) {
                                wrote |= Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                                waiting_keys.clear();
                            }
                        }
                        match Self::claim_dedup_key(&mut tx, record).await? {
                            DedupClaim::Matched(existing) => declared[n] = Some(Declared::Existing(*existing)),
                            DedupClaim::Free(scope) => {
                                waiting_keys.extend(record.incident.dedup_key.as_deref());
                                waiting.push((n, scope));
                            }
                        }
                    }
                    wrote |= Self::insert_waiting(&mut tx, records, &mut waiting, &mut declared).await?;
                    if wrote {
                        Self::bump(&mut tx, Bump::Data).await?;
                    }
                    declared
                        .into_iter()
                        .map(|d| d.ok_or_else(|| corrupt("a declaration of the batch was not written")))
                        .collect::<Result<Vec<_>>>()
                }
                .await;
                Self::settle(tx, written).await
            }

            /// Writes the `waiting` new incidents of a batch, recording them in
            /// `declared`; whether there were any.
            #[allow(dead_code, reason = "only the SQLite writer batches declarations")]
            async fn insert_waiting(
                conn: &mut $Conn,
                records: &[Arc<NewIncidentRecord>],
                waiting: &mut Vec<(usize, Option<UserId>)>,
                declared: &mut [Option<Declared>],
            ) -> Result<bool> {
                if waiting.is_empty() {
                    return Ok(false);
                }
                let new: Vec<(&NewIncidentRecord, Option<UserId>)> =
                    waiting.iter().map(|(n, scope)| (records[*n].as_ref(), *scope)).collect();
                let incidents = Self::insert_incidents(conn, &new).await?;
                for ((n, _), incident) in waiting.drain(..).zip(incidents) {
                    declared[n] = Some(Declared::Created(incident));
                }
                Ok(true)
            }

            /// Everything `declare` writes for new incidents (each with the
            /// scope of its `dedup_key`): one statement per incident row, then
            /// one statement per kind of child row for all of them together
            /// (each statement is a round trip).
            async fn insert_incidents(
                conn: &mut $Conn,
                new: &[(&NewIncidentRecord, Option<UserId>)],
            ) -> Result<Vec<Incident>> {
                let records: Vec<&NewIncidentRecord> = new.iter().map(|(record, _)| *record).collect();
                let mut ids = Vec::with_capacity(records.len());
                for (record, dedup_scope) in new {
                    let i = &record.incident;
                    let raw: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (title, description, status, priority_id, category_id, environment_id, \
                         created_by, created_at, updated_at, mitigated_at, closed_at, closure_reason, closure_reference, \
                         custom_fields, dedup_key, ignore, private, version, dedup_scope) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, $18) RETURNING id",
                    )
                    .bind(i.title.as_str())
                    .bind(i.description.as_str())
                    .bind(i.status.value())
                    .bind(i.priority_id)
                    .bind(i.category_id)
                    .bind(environments_of(i)[0])
                    .bind(i.created_by)
                    .bind(i.created_at)
                    .bind(i.updated_at)
                    .bind(i.mitigated_at)
                    .bind(i.closed_at)
                    .bind(i.closure_reason.map(ClosureReason::slug))
                    .bind(i.closure_reference.as_str())
                    .bind(Json(&i.custom_fields))
                    .bind(i.dedup_key.as_deref())
                    .bind(i.ignore)
                    .bind(i.private)
                    .bind(*dedup_scope)
                    .fetch_one(&mut *conn)
                    .await?;
                    ids.push(IncidentId(raw));
                }
                let written: Vec<(IncidentId, &NewIncidentRecord)> =
                    ids.iter().copied().zip(records.iter().copied()).collect();
                let envs: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| environment_rows(*id, &environments_of(&r.incident)))
                    .collect();
                Self::insert_environment_rows(conn, &envs).await?;
                let tags: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| tag_rows(*id, &r.incident.tags))
                    .collect();
                Self::insert_tag_rows(conn, &tags).await?;
                let roles: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| last_roles(*id, &r.roles))
                    .collect();
                Self::upsert_role_rows(conn, &roles).await?;

                // New incidents have no members yet: positions start at 0.
                let members: Vec<(IncidentId, UserId, i32)> = written
                    .iter()
                    .flat_map(|(id, r)| {
                        unique(&r.members)
                            .into_iter()
                            .enumerate()
                            .map(move |(p, u)| (*id, u, position(p)))
                    })
                    .collect();
                for chunk in members.chunks(CHUNK / 3) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO incident_members (incident_id, user_id, position) ",
                    );
                    insert.push_values(chunk, |mut row, (id, user, p)| {
                        row.push_bind(*id).push_bind(*user).push_bind(*p);
                    });
                    insert.build().execute(&mut *conn).await?;
                }

                let key_events: Vec<_> = written
                    .iter()
                    .flat_map(|(id, r)| last_key_events(*id, &r.key_events))
                    .collect();
                Self::upsert_key_event_rows(conn, &key_events).await?;
                let timeline: Vec<(IncidentId, &TimelineEntry)> = written
                    .iter()
                    .flat_map(|(id, r)| r.timeline.iter().map(move |e| (*id, e)))
                    .collect();
                Self::insert_timeline_rows(conn, &timeline).await?;

                Self::insert_declared_events(conn, &written).await?;

                let mut incidents = Vec::with_capacity(written.len());
                for (id, r) in &written {
                    let i = &r.incident;
                    // What was written is what reading it back would give, when
                    // its times already have the stored precision.
                    let exact = [Some(i.created_at), Some(i.updated_at), i.mitigated_at, i.closed_at]
                        .into_iter()
                        .flatten()
                        .all(|t| super::truncate_micros(t) == t);
                    let incident = if exact {
                        let envs = environments_of(i);
                        Incident {
                            id: *id,
                            environment_id: envs[0],
                            tags: unique(&i.tags),
                            environment_ids: envs,
                            version: 1,
                            ..i.clone()
                        }
                    } else {
                        Self::incident_in(conn, *id).await?.ok_or_else(|| {
                            corrupt(format!("incident {id} vanished while being declared"))
                        })?
                    };
                    incidents.push(incident);
                }
                Ok(incidents)
            }

            /// The outbox rows of new incidents: their events in one statement,
            /// then one pending delivery per event and subscriber, due when the
            /// incident was declared, in one statement per set of subscribers.
            async fn insert_declared_events(
                conn: &mut $Conn,
                written: &[(IncidentId, &NewIncidentRecord)],
            ) -> Result<()> {
                let events: Vec<(IncidentId, &IncidentEvent, DateTime<Utc>)> = written
                    .iter()
                    .flat_map(|(id, r)| r.events.iter().map(move |e| (*id, e, r.incident.created_at)))
                    .collect();
                for chunk in events.chunks(CHUNK / 4) {
                    let mut insert = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO outbox_events (incident_id, kind, payload, created_at) ",
                    );
                    insert.push_values(chunk, |mut row, (id, event, at)| {
                        row.push_bind(*id)
                            .push_bind(event.kind())
                            .push_bind(Json(*event))
                            .push_bind(*at);
                    });
                    insert.build().execute(&mut *conn).await?;
                }
                // The incidents are new: every event they have was written just now.
                let mut by_subscribers: Vec<(Vec<String>, Vec<IncidentId>)> = Vec::new();
                for (id, r) in written {
                    if r.events.is_empty() || r.subscribers.is_empty() {
                        continue;
                    }
                    let handlers = unique(&r.subscribers);
                    match by_subscribers.iter_mut().find(|(h, _)| *h == handlers) {
                        Some((_, ids)) => ids.push(*id),
                        None => by_subscribers.push((handlers, vec![*id])),
                    }
                }
                for (handlers, ids) in by_subscribers {
                    for ids in ids.chunks(CHUNK / 2) {
                        let mut insert = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO outbox_deliveries (event_id, handler, status, attempts, next_attempt_at) \
                             SELECT e.id, h.column1, 'pending', 0, e.created_at FROM outbox_events e CROSS JOIN (",
                        );
                        insert.push_values(&handlers, |mut row, handler| {
                            row.push_bind(handler.as_str());
                        });
                        insert.push(") h WHERE e.incident_id IN (");
                        let mut list = insert.separated(", ");
                        for id in ids {
                            list.push_bind(*id);
                        }
                        list.push_unseparated(") ON CONFLICT (event_id, handler) DO NOTHING");
                        insert.build().execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }

            /// Everything `apply` writes; `Ok(None)` when the version check failed.
            async fn apply_change(conn: &mut $Conn, c: &IncidentChange) -> Result<Option<Incident>> {
                let i = &c.incident;
                let envs = environments_of(i);
                let primary = if c.environments_changed { envs[0] } else { i.environment_id };
                let updated = sqlx::query(
                    "UPDATE incidents SET title = $1, description = $2, status = $3, priority_id = $4, category_id = $5, \
                     environment_id = $6, updated_at = $7, mitigated_at = $8, closed_at = $9, closure_reason = $10, \
                     closure_reference = $11, custom_fields = $12, dedup_key = $13, ignore = $14, private = $15, \
                     version = version + 1 WHERE id = $16 AND version = $17",
                )
                .bind(i.title.as_str())
                .bind(i.description.as_str())
                .bind(i.status.value())
                .bind(i.priority_id)
                .bind(i.category_id)
                .bind(primary)
                .bind(i.updated_at)
                .bind(i.mitigated_at)
                .bind(i.closed_at)
                .bind(i.closure_reason.map(ClosureReason::slug))
                .bind(i.closure_reference.as_str())
                .bind(Json(&i.custom_fields))
                .bind(i.dedup_key.as_deref())
                .bind(i.ignore)
                .bind(i.private)
                .bind(i.id)
                .bind(c.expected_version)
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() == 0 {
                    return Ok(None);
                }
                let id = i.id;
                if let Some(key) = &c.request_key {
                    // A concurrent repeat computed from the same version lost above;
                    // one from a later version fails here on the primary key.
                    sqlx::query("INSERT INTO incident_requests (request_key, incident_id, created_at) VALUES ($1, $2, $3)")
                        .bind(key.as_str())
                        .bind(id)
                        .bind(i.updated_at)
                        .execute(&mut *conn)
                        .await?;
                }
                if c.environments_changed {
                    Self::write_environments(conn, id, &envs).await?;
                }
                if c.tags_changed {
                    Self::write_tags(conn, id, &i.tags).await?;
                }
                Self::write_roles(conn, id, &c.roles_set).await?;
                for role in &c.roles_cleared {
                    sqlx::query("DELETE FROM incident_roles WHERE incident_id = $1 AND role_type_id = $2")
                        .bind(id)
                        .bind(*role)
                        .execute(&mut *conn)
                        .await?;
                }
                Self::write_members(conn, id, &c.members_added).await?;
                Self::write_key_events(conn, id, &c.key_events_set).await?;
                for event_type in &c.key_events_cleared {
                    sqlx::query("DELETE FROM incident_key_events WHERE incident_id = $1 AND event_type = $2")
                        .bind(id)
                        .bind(event_type.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                for cost in &c.costs_added {
                    sqlx::query(
                        "INSERT INTO incident_costs (id, incident_id, cost_type_id, amount_cents, details, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(cost.id)
                    .bind(id)
                    .bind(cost.cost_type_id)
                    .bind(cost.amount_cents)
                    .bind(cost.details.as_str())
                    .bind(cost.created_at)
                    .execute(&mut *conn)
                    .await?;
                }
                Self::write_timeline(conn, id, &c.timeline).await?;
                Self::write_events(conn, id, &c.events, &c.subscribers, i.updated_at).await?;
                Self::incident_in(conn, id).await
            }

            /// One chunk of [`Store::upsert_users`] (no repeated e-mail or external id).
            async fn upsert_users_chunk(&self, chunk: Vec<UserUpsert>) -> Result<HashMap<String, UserId>> {
                let now = super::now();
                let mut tx = self.begin_write().await?;
                let written = async {
                    let mut sql = String::from(
                        "INSERT INTO users (id, email, name, is_active, is_staff, is_admin, bot, avatar, password_hash, \
                         created_at, updated_at) VALUES ",
                    );
                    let mut args = Vec::with_capacity(chunk.len() * 5);
                    for (n, u) in chunk.iter().enumerate() {
                        let b = n * 5;
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, TRUE, FALSE, FALSE, FALSE, ${}, NULL, ${}, ${})",
                            b + 1, b + 2, b + 3, b + 4, b + 5, b + 5
                        ));
                        args.push(Arg::Uuid(UserId::new().0));
                        args.push(Arg::Text(u.email.as_str().to_lowercase()));
                        // As `create_user`: no name, the e-mail's local part.
                        let name = match u.name.trim() {
                            "" => u.email.as_str().split('@').next().unwrap_or_default(),
                            n => n,
                        };
                        args.push(Arg::Text(name.to_owned()));
                        args.push(match &u.avatar {
                            Some(a) => Arg::Text(a.clone()),
                            None => Arg::NullText,
                        });
                        args.push(Arg::Ts(now));
                    }
                    sql.push_str(
                        " ON CONFLICT (email) DO UPDATE SET name = excluded.name, avatar = excluded.avatar, \
                         updated_at = excluded.updated_at RETURNING id, email",
                    );
                    let rows: Vec<(UserId, String)> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(args)?)
                            .fetch_all(&mut *tx)
                            .await?;
                    let ids: HashMap<String, UserId> = rows.into_iter().map(|(id, e)| (e, id)).collect();
                    let links: Vec<(UserId, &str, &str)> = chunk
                        .iter()
                        .filter_map(|u| {
                            let (platform, external) = u.identity.as_ref()?;
                            let id = *ids.get(&u.email.as_str().to_lowercase())?;
                            Some((id, platform.as_str(), external.as_str()))
                        })
                        .collect();
                    if !links.is_empty() {
                        // Moved from whoever held these external ids, then (re)linked.
                        let mut platforms: BTreeMap<&str, Vec<Arg>> = BTreeMap::new();
                        let mut ins = String::from("INSERT INTO user_identities (user_id, platform, external_id) VALUES ");
                        let mut ins_args = Vec::new();
                        for (n, (id, platform, external)) in links.iter().enumerate() {
                            if n > 0 {
                                ins.push_str(", ");
                            }
                            platforms.entry(platform).or_default().push(Arg::Text((*external).to_owned()));
                            ins.push_str(&format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3));
                            ins_args.push(Arg::Uuid(id.0));
                            ins_args.push(Arg::Text((*platform).to_owned()));
                            ins_args.push(Arg::Text((*external).to_owned()));
                        }
                        ins.push_str(" ON CONFLICT (user_id, platform) DO UPDATE SET external_id = excluded.external_id");
                        for (platform, externals) in platforms {
                            let del = format!(
                                "DELETE FROM user_identities WHERE platform = $1 AND external_id IN ({})",
                                (2..externals.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
                            );
                            let mut del_args = vec![Arg::Text(platform.to_owned())];
                            del_args.extend(externals);
                            sqlx::query_with(AssertSqlSafe(del), Self::args(del_args)?)
                                .execute(&mut *tx)
                                .await?;
                        }
                        sqlx::query_with(AssertSqlSafe(ins), Self::args(ins_args)?)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::bump(&mut tx, Bump::User).await?;
                    Ok::<_, Error>(ids)
                }
                .await;
                Self::settle(tx, written).await
            }

            async fn user_exists(conn: &mut $Conn, id: UserId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(n > 0)
            }

            async fn task_exists(&self, name: &str) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_schedules WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n > 0)
            }
        }

        #[async_trait]
        impl Store for $Store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn database(&self) -> Option<DatabasePool> {
                Some(DatabasePool::from(self.pool.clone()))
            }

            fn write_database(&self) -> Option<DatabasePool> {
                Some(DatabasePool::from(self.writer_pool().clone()))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn data_versions(&self) -> Result<DataVersions> {
                let (data, reference, access): (i64, i64, i64) = sqlx::query_as(
                    "SELECT data_version, reference_version, access_version FROM data_versions WHERE id = 1",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(DataVersions { data, reference, access })
            }

            // ---- reference data ----

            async fn catalog(&self) -> Result<Catalog> {
                let mut conn = self.pool.acquire().await?;
                let priorities: Vec<PriorityRow> = sqlx::query_as(
                    "SELECT id, name, value, emoji, description, sort_order, is_default, needs_postmortem, enabled_create, \
                     enabled_update, reminder_time_secs, sla_secs, recommended_response_type, \
                     postmortem_reminder_time_secs, postmortem_reminder_repeat_time_secs FROM priorities \
                     ORDER BY sort_order, value, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let environments: Vec<EnvironmentRow> = sqlx::query_as(
                    "SELECT id, value, name, description, sort_order, is_default FROM environments ORDER BY sort_order, value",
                )
                .fetch_all(&mut *conn)
                .await?;
                let groups: Vec<GroupRow> = sqlx::query_as(
                    "SELECT id, name, description, sort_order FROM category_groups ORDER BY sort_order, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let categories: Vec<CategoryRow> = sqlx::query_as(
                    "SELECT c.id, c.name, c.description, c.sort_order, c.group_id, c.private, c.deploy_warning, c.enabled_create \
                     FROM incident_categories c JOIN category_groups g ON g.id = c.group_id \
                     ORDER BY g.sort_order, g.name, c.sort_order, c.name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let role_types: Vec<RoleTypeRow> = sqlx::query_as(
                    "SELECT id, slug, name, emoji, required, sort_order, summary, description, aka FROM role_types \
                     ORDER BY sort_order, slug",
                )
                .fetch_all(&mut *conn)
                .await?;
                let milestone_types: Vec<MilestoneTypeRow> = sqlx::query_as(
                    "SELECT event_type, name, summary, user_editable, required, asked_for, description FROM milestone_types \
                     ORDER BY seq, event_type",
                )
                .fetch_all(&mut *conn)
                .await?;
                let metric_types: Vec<MetricTypeRow> = sqlx::query_as(
                    "SELECT slug, code, name, description, end_event, start_event FROM metric_types ORDER BY seq, slug",
                )
                .fetch_all(&mut *conn)
                .await?;
                let cost_types: Vec<CostTypeRow> = sqlx::query_as(
                    "SELECT id, name, description, category, is_default, editable FROM cost_types ORDER BY seq, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let impact_types: Vec<ImpactTypeRow> = sqlx::query_as(
                    "SELECT value, name, emoji, help_text, sort_order FROM impact_types ORDER BY sort_order, value",
                )
                .fetch_all(&mut *conn)
                .await?;
                let impact_levels: Vec<ImpactLevelRow> = sqlx::query_as(
                    "SELECT impact_type, level, name, description FROM impact_levels ORDER BY impact_type, position",
                )
                .fetch_all(&mut *conn)
                .await?;

                let mut levels: HashMap<String, Vec<ImpactLevelOption>> = HashMap::new();
                for l in impact_levels {
                    let level = ImpactLevel::from_code(&l.level)
                        .ok_or_else(|| corrupt(format!("unknown impact level \"{}\"", l.level)))?;
                    levels.entry(l.impact_type).or_default().push(ImpactLevelOption {
                        level,
                        name: l.name,
                        description: l.description,
                    });
                }
                Ok(Catalog {
                    priorities: priorities
                        .into_iter()
                        .map(|p| {
                            Ok(Priority {
                                id: p.id,
                                name: p.name,
                                value: p.value,
                                emoji: p.emoji,
                                description: p.description,
                                order: p.sort_order,
                                default: p.is_default,
                                needs_postmortem: p.needs_postmortem,
                                enabled_create: p.enabled_create,
                                enabled_update: p.enabled_update,
                                reminder_time: duration(p.reminder_time_secs),
                                postmortem_reminder_time: duration(p.postmortem_reminder_time_secs),
                                postmortem_reminder_repeat_time: duration(
                                    p.postmortem_reminder_repeat_time_secs,
                                ),
                                sla: duration(p.sla_secs),
                                recommended_response_type: p
                                    .recommended_response_type
                                    .as_deref()
                                    .map(response_type_from)
                                    .transpose()?,
                            })
                        })
                        .collect::<Result<_>>()?,
                    environments: environments
                        .into_iter()
                        .map(|e| Environment {
                            id: e.id,
                            value: e.value,
                            name: e.name,
                            description: e.description,
                            order: e.sort_order,
                            default: e.is_default,
                        })
                        .collect(),
                    groups: groups
                        .into_iter()
                        .map(|g| Group {
                            id: g.id,
                            name: g.name,
                            description: g.description,
                            order: g.sort_order,
                        })
                        .collect(),
                    categories: categories
                        .into_iter()
                        .map(|c| IncidentCategory {
                            id: c.id,
                            name: c.name,
                            description: c.description,
                            order: c.sort_order,
                            group_id: c.group_id,
                            private: c.private,
                            deploy_warning: c.deploy_warning,
                            enabled_create: c.enabled_create,
                        })
                        .collect(),
                    role_types: role_types
                        .into_iter()
                        .map(|r| RoleType {
                            id: r.id,
                            slug: r.slug,
                            name: r.name,
                            emoji: r.emoji,
                            required: r.required,
                            order: r.sort_order,
                            summary: r.summary,
                            description: r.description,
                            aka: r.aka,
                        })
                        .collect(),
                    milestone_types: milestone_types
                        .into_iter()
                        .map(|m| MilestoneType {
                            event_type: m.event_type,
                            name: m.name,
                            summary: m.summary,
                            user_editable: m.user_editable,
                            required: m.required,
                            asked_for: m.asked_for,
                            description: m.description,
                        })
                        .collect(),
                    metric_types: metric_types
                        .into_iter()
                        .map(|m| MetricType {
                            slug: m.slug,
                            code: m.code,
                            name: m.name,
                            description: m.description,
                            end_event: m.end_event,
                            start_event: m.start_event,
                        })
                        .collect(),
                    cost_types: cost_types
                        .into_iter()
                        .map(|c| CostType {
                            id: c.id,
                            name: c.name,
                            description: c.description,
                            category: c.category,
                            default: c.is_default,
                            editable: c.editable,
                        })
                        .collect(),
                    impact_types: impact_types
                        .into_iter()
                        .map(|t| ImpactType {
                            levels: levels.remove(&t.value).unwrap_or_default(),
                            value: t.value,
                            name: t.name,
                            emoji: t.emoji,
                            help_text: t.help_text,
                            order: t.sort_order,
                        })
                        .collect(),
                })
            }

            async fn upsert_priority(&self, p: &Priority) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO priorities (id, name, value, emoji, description, sort_order, is_default, needs_postmortem, \
                     enabled_create, enabled_update, reminder_time_secs, sla_secs, recommended_response_type, created_at, updated_at, \
                     postmortem_reminder_time_secs, postmortem_reminder_repeat_time_secs) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, value = excluded.value, emoji = excluded.emoji, \
                     description = excluded.description, sort_order = excluded.sort_order, is_default = excluded.is_default, \
                     needs_postmortem = excluded.needs_postmortem, enabled_create = excluded.enabled_create, \
                     enabled_update = excluded.enabled_update, reminder_time_secs = excluded.reminder_time_secs, \
                     sla_secs = excluded.sla_secs, recommended_response_type = excluded.recommended_response_type, \
                     updated_at = excluded.updated_at, postmortem_reminder_time_secs = excluded.postmortem_reminder_time_secs, \
                     postmortem_reminder_repeat_time_secs = excluded.postmortem_reminder_repeat_time_secs",
                )
                .bind(p.id)
                .bind(p.name.as_str())
                .bind(p.value)
                .bind(p.emoji.as_str())
                .bind(p.description.as_str())
                .bind(p.order)
                .bind(p.default)
                .bind(p.needs_postmortem)
                .bind(p.enabled_create)
                .bind(p.enabled_update)
                .bind(secs(p.reminder_time))
                .bind(secs(p.sla))
                .bind(p.recommended_response_type.map(response_type_str))
                .bind(super::now())
                .bind(secs(p.postmortem_reminder_time))
                .bind(secs(p.postmortem_reminder_repeat_time));
                self.write_one(query, Bump::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_environment(&self, e: &Environment) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO environments (id, value, name, description, sort_order, is_default) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET value = excluded.value, name = excluded.name, \
                     description = excluded.description, sort_order = excluded.sort_order, is_default = excluded.is_default",
                )
                .bind(e.id)
                .bind(e.value.as_str())
                .bind(e.name.as_str())
                .bind(e.description.as_str())
                .bind(e.order)
                .bind(e.default);
                self.write_one(query, Bump::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_group(&self, g: &Group) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO category_groups (id, name, description, sort_order, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     sort_order = excluded.sort_order, updated_at = excluded.updated_at",
                )
                .bind(g.id)
                .bind(g.name.as_str())
                .bind(g.description.as_str())
                .bind(g.order)
                .bind(super::now());
                self.write_one(query, Bump::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_category(&self, c: &IncidentCategory) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO incident_categories (id, name, description, sort_order, group_id, private, deploy_warning, \
                     created_at, updated_at, enabled_create) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     sort_order = excluded.sort_order, group_id = excluded.group_id, private = excluded.private, \
                     deploy_warning = excluded.deploy_warning, updated_at = excluded.updated_at, \
                     enabled_create = excluded.enabled_create",
                )
                .bind(c.id)
                .bind(c.name.as_str())
                .bind(c.description.as_str())
                .bind(c.order)
                .bind(c.group_id)
                .bind(c.private)
                .bind(c.deploy_warning)
                .bind(super::now())
                .bind(c.enabled_create);
                let done = self.write_one(query, Bump::Reference).await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("group", c.group_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn upsert_role_type(&self, r: &RoleType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO role_types (id, slug, name, emoji, required, sort_order, summary, description, aka) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, emoji = excluded.emoji, \
                     required = excluded.required, sort_order = excluded.sort_order, summary = excluded.summary, \
                     description = excluded.description, aka = excluded.aka",
                )
                .bind(r.id)
                .bind(r.slug.as_str())
                .bind(r.name.as_str())
                .bind(r.emoji.as_str())
                .bind(r.required)
                .bind(r.order)
                .bind(r.summary.as_str())
                .bind(r.description.as_str())
                .bind(r.aka.as_str());
                self.write_one(query, Bump::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_milestone_type(&self, m: &MilestoneType) -> Result<()> {
                // `seq` is set once, on insert, to keep the order types were first stored in.
                let query = sqlx::query(
                    "INSERT INTO milestone_types (event_type, name, summary, user_editable, required, asked_for, description, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(seq), 0) + 1 FROM milestone_types)) \
                     ON CONFLICT (event_type) DO UPDATE SET name = excluded.name, summary = excluded.summary, \
                     user_editable = excluded.user_editable, required = excluded.required, asked_for = excluded.asked_for, \
                     description = excluded.description",
                )
                .bind(m.event_type.as_str())
                .bind(m.name.as_str())
                .bind(m.summary.as_str())
                .bind(m.user_editable)
                .bind(m.required)
                .bind(m.asked_for)
                .bind(m.description.as_str());
                self.write_one(query, Bump::Reference).await?;
                Ok(())
            }

            async fn upsert_metric_type(&self, m: &MetricType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO metric_types (slug, code, name, description, end_event, start_event, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM metric_types)) \
                     ON CONFLICT (slug) DO UPDATE SET code = excluded.code, name = excluded.name, \
                     description = excluded.description, end_event = excluded.end_event, start_event = excluded.start_event",
                )
                .bind(m.slug.as_str())
                .bind(m.code.as_str())
                .bind(m.name.as_str())
                .bind(m.description.as_str())
                .bind(m.end_event.as_str())
                .bind(m.start_event.as_str());
                let done = self.write_one(query, Bump::Reference).await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::invalid(
                                "metric_type",
                                format!(
                                    "metric {} refers to key event types \"{}\" and \"{}\"; both must exist",
                                    m.slug, m.start_event, m.end_event
                                ),
                            ))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn upsert_cost_type(&self, c: &CostType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO cost_types (id, name, description, category, is_default, editable, seq, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cost_types), $7, $7) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     category = excluded.category, is_default = excluded.is_default, editable = excluded.editable, \
                     updated_at = excluded.updated_at",
                )
                .bind(c.id)
                .bind(c.name.as_str())
                .bind(c.description.as_str())
                .bind(c.category.as_str())
                .bind(c.default)
                .bind(c.editable)
                .bind(super::now());
                self.write_one(query, Bump::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_impact_type(&self, t: &ImpactType) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO impact_types (value, name, emoji, help_text, sort_order) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (value) DO UPDATE SET name = excluded.name, emoji = excluded.emoji, \
                     help_text = excluded.help_text, sort_order = excluded.sort_order",
                )
                .bind(t.value.as_str())
                .bind(t.name.as_str())
                .bind(t.emoji.as_str())
                .bind(t.help_text.as_str())
                .bind(t.order)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM impact_levels WHERE impact_type = $1")
                    .bind(t.value.as_str())
                    .execute(&mut *tx)
                    .await?;
                for (position, l) in t.levels.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO impact_levels (impact_type, level, name, description, position) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(t.value.as_str())
                    .bind(l.level.code())
                    .bind(l.name.as_str())
                    .bind(l.description.as_str())
                    .bind(i32::try_from(position).unwrap_or(i32::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_conflict(e.into()))?;
                }
                Self::bump(&mut tx, Bump::Reference).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn seeded(&self) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM seed_marker").fetch_one(&self.pool).await?;
                Ok(n > 0)
            }

            async fn mark_seeded(&self) -> Result<()> {
                sqlx::query("INSERT INTO seed_marker (id, seeded_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .bind(super::now())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            // ---- users ----

            async fn create_user(&self, user: &NewUser) -> Result<User> {
                let email = user.email.as_str().to_lowercase();
                let name = user
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
                let now = super::now();
                let id = UserId::new();
                let query = sqlx::query(
                    "INSERT INTO users (id, email, name, is_active, is_staff, is_admin, bot, avatar, password_hash, \
                     created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $5, $6, NULL, NULL, $7, $7)",
                )
                .bind(id)
                .bind(email.as_str())
                .bind(name.as_str())
                .bind(user.is_staff)
                .bind(user.is_admin)
                .bind(user.bot)
                .bind(now);
                if let Err(e) = self.write_one(query, Bump::Data).await {
                    return Err(if is_kind(&e, ErrorKind::UniqueViolation) {
                        Error::Conflict(format!("a user with e-mail {email} already exists"))
                    } else {
                        e
                    });
                }
                Ok(User {
                    id,
                    email,
                    name,
                    is_active: true,
                    is_staff: user.is_staff,
                    is_admin: user.is_admin,
                    bot: user.bot,
                    avatar: None,
                    identities: BTreeMap::new(),
                    created_at: now,
                })
            }

            async fn user(&self, id: UserId) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(user_identities_select!(), " WHERE u.id = $1"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(user_identities_select!(), " WHERE u.email = $1"))
                    .bind(email.trim().to_lowercase())
                    .fetch_all(&self.pool)
                    .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
                let ids = unique(ids);
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut conn = self.pool.acquire().await?;
                let mut rows: Vec<UserIdentityRow> = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let sql = format!("{} WHERE u.id IN ({})", user_identities_select!(), Self::placeholders(chunk.len()));
                    let mut found: Vec<UserIdentityRow> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(chunk.iter().map(|u| Arg::Uuid(u.0)))?)
                            .fetch_all(&mut *conn)
                            .await?;
                    rows.append(&mut found);
                }
                Ok(users_from_identity_rows(rows))
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                let mut conn = self.pool.acquire().await?;
                let rows: Vec<UserRow> =
                    sqlx::query_as(concat!(user_select!(), " ORDER BY u.email")).fetch_all(&mut *conn).await?;
                let identities: Vec<(UserId, String, String)> =
                    sqlx::query_as("SELECT user_id, platform, external_id FROM user_identities")
                        .fetch_all(&mut *conn)
                        .await?;
                let mut by_user: HashMap<UserId, BTreeMap<String, String>> = HashMap::new();
                for (user, platform, external) in identities {
                    by_user.entry(user).or_default().insert(platform, external);
                }
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let ids = by_user.remove(&r.id).unwrap_or_default();
                        user_from_row(r, ids)
                    })
                    .collect())
            }

            async fn user_by_identity(&self, platform: &str, external_id: &str) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(
                    user_identities_select!(),
                    " WHERE u.id = (SELECT l.user_id FROM user_identities l WHERE l.platform = $1 AND l.external_id = $2)"
                ))
                .bind(platform)
                .bind(external_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn set_identity(&self, user: UserId, platform: &str, external_id: &str) -> Result<()> {
                let mut tx = self.begin_write().await?;
                if !Self::user_exists(&mut tx, user).await? {
                    return Err(Error::not_found("user", user));
                }
                // Relinking: the external id moves from whoever held it.
                sqlx::query("DELETE FROM user_identities WHERE platform = $1 AND external_id = $2 AND user_id <> $3")
                    .bind(platform)
                    .bind(external_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO user_identities (user_id, platform, external_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, platform) DO UPDATE SET external_id = excluded.external_id",
                )
                .bind(user)
                .bind(platform)
                .bind(external_id)
                .execute(&mut *tx)
                .await?;
                // Identities are part of the user that authentication resolves.
                Self::bump(&mut tx, Bump::User).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn upsert_users(&self, users: &[UserUpsert]) -> Result<Vec<UserId>> {
                // Last occurrence of an e-mail wins; an external id stays with the last user naming it.
                let mut last: HashMap<String, usize> = HashMap::new();
                for (n, u) in users.iter().enumerate() {
                    last.insert(u.email.as_str().to_lowercase(), n);
                }
                let mut external: HashMap<(&str, &str), usize> = HashMap::new();
                for (n, u) in users.iter().enumerate() {
                    if last[&u.email.as_str().to_lowercase()] == n
                        && let Some((p, e)) = &u.identity
                    {
                        external.insert((p.as_str(), e.as_str()), n);
                    }
                }
                let kept: Vec<UserUpsert> = users
                    .iter()
                    .enumerate()
                    .filter(|(n, u)| last[&u.email.as_str().to_lowercase()] == *n)
                    .map(|(n, u)| {
                        let mut u = u.clone();
                        if let Some((p, e)) = &u.identity
                            && external[&(p.as_str(), e.as_str())] != n
                        {
                            u.identity = None;
                        }
                        u
                    })
                    .collect();
                let mut ids: HashMap<String, UserId> = HashMap::with_capacity(kept.len());
                for chunk in kept.chunks(USER_CHUNK) {
                    let (this, chunk) = (self.clone(), chunk.to_vec());
                    ids.extend(self.on_writer(async move { this.upsert_users_chunk(chunk).await }).await??);
                }
                users
                    .iter()
                    .map(|u| {
                        let email = u.email.as_str().to_lowercase();
                        ids.get(&email)
                            .copied()
                            .ok_or_else(|| corrupt(format!("user {email} missing after its upsert")))
                    })
                    .collect()
            }

            async fn update_user(&self, user: &User) -> Result<()> {
                let query = sqlx::query(
                    "UPDATE users SET name = $1, is_active = $2, is_staff = $3, is_admin = $4, bot = $5, avatar = $6, \
                     updated_at = $7 WHERE id = $8",
                )
                .bind(user.name.as_str())
                .bind(user.is_active)
                .bind(user.is_staff)
                .bind(user.is_admin)
                .bind(user.bot)
                .bind(user.avatar.as_deref())
                .bind(super::now())
                .bind(user.id);
                if self.write_one(query, Bump::User).await? == 0 {
                    return Err(Error::not_found("user", user.id));
                }
                Ok(())
            }

            async fn set_password_hash<'a>(&self, user: UserId, hash: Option<&'a str>) -> Result<()> {
                let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(hash)
                    .bind(super::now())
                    .bind(user)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("user", user));
                }
                Ok(())
            }

            async fn password_hash(&self, user: UserId) -> Result<Option<String>> {
                let hash: Option<Option<String>> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(hash.flatten())
            }

            // ---- incidents ----

            async fn declare(&self, record: NewIncidentRecord) -> Result<Declared> {
                let record = Arc::new(record);
                for _ in 0..DEDUP_RACE_ATTEMPTS {
                    match self.write_declaration(record.clone()).await? {
                        Ok(declared) => return Ok(declared),
                        // A concurrent declaration with the same key committed
                        // first: the next attempt reads it by the same rule.
                        Err(e) if is_dedup_violation(&e) => continue,
                        Err(e) => return Err(self.explain(e, Ref::of_record(&record)).await),
                    }
                }
                Err(Error::Conflict(format!(
                    "other incidents were declared with dedup_key \"{}\" at the same time; try again",
                    record.incident.dedup_key.as_deref().unwrap_or_default()
                )))
            }

            async fn apply(&self, change: IncidentChange) -> Result<Incident> {
                let id = change.incident.id;
                let change = Arc::new(change);
                let (this, written) = (self.clone(), change.clone());
                let applied = self.on_writer(async move { this.apply_in_tx(&written).await }).await??;
                match applied {
                    Ok(Some(incident)) => Ok(incident),
                    Ok(None) => Err(Error::not_found("incident", id)),
                    Err(e) if is_dedup_violation(&e) => Err(Error::Conflict(format!(
                        "another open incident already uses dedup_key \"{}\"",
                        change.incident.dedup_key.as_deref().unwrap_or_default()
                    ))),
                    Err(e) => Err(self.explain(e, Ref::of_change(&change)).await),
                }
            }

            async fn append(
                &self,
                incident: IncidentId,
                timeline: Vec<TimelineEntry>,
                events: Vec<IncidentEvent>,
                subscribers: Arc<[String]>,
            ) -> Result<()> {
                // Events are due when the entries they come with were recorded.
                let at = timeline.iter().map(|t| t.created_at).max().unwrap_or_else(super::now);
                let mut refs = Vec::new();
                Ref::of_timeline(&mut refs, &timeline);
                let this = self.clone();
                let written = self
                    .on_writer(async move {
                        let mut tx = this.begin_write().await?;
                        let written = async {
                            if !Self::incident_exists(&mut tx, incident).await? {
                                return Err(Error::not_found("incident", incident));
                            }
                            Self::write_timeline(&mut tx, incident, &timeline).await?;
                            Self::write_events(&mut tx, incident, &events, &subscribers, at).await?;
                            Self::bump(&mut tx, Bump::Data).await
                        }
                        .await;
                        Self::settle(tx, written).await
                    })
                    .await?;
                match written {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.explain(e, refs).await),
                }
            }

            async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
                let mut conn = self.pool.acquire().await?;
                Self::incident_in(&mut conn, id).await
            }

            async fn incident_details(&self, id: IncidentId) -> Result<Option<IncidentDetails>> {
                let mut conn = self.pool.acquire().await?;
                let row: Option<IncidentRow> = sqlx::query_as(concat!(incident_select!(), " WHERE i.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let (mut incidents, mut children) = Self::incidents_from(&mut conn, vec![row], Kids::All).await?;
                Ok(incidents.pop().map(|i| children.details(i)))
            }

            async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
                let mut conn = self.pool.acquire().await?;
                let rows = Self::incident_list_rows(&mut conn, filter).await?;
                Self::incident_rows(&mut conn, rows).await
            }

            async fn list_incident_details(&self, filter: &IncidentFilter) -> Result<Vec<IncidentDetails>> {
                let mut conn = self.pool.acquire().await?;
                let rows = Self::incident_list_rows(&mut conn, filter).await?;
                let (incidents, mut children) = Self::incidents_from(&mut conn, rows, Kids::All).await?;
                Ok(incidents.into_iter().map(|i| children.details(i)).collect())
            }

            async fn incident_details_many(&self, incidents: Vec<Incident>) -> Result<Vec<IncidentDetails>> {
                if incidents.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = incidents.iter().map(|i| i.id.0).collect();
                let mut conn = self.pool.acquire().await?;
                let mut children = Self::children(&mut conn, &ids, Kids::OfDetails).await?;
                Ok(incidents.into_iter().map(|i| children.details(i)).collect())
            }

            async fn incident_cost(&self, id: crate::CostId) -> Result<Option<IncidentCost>> {
                let row: Option<CostRow> = sqlx::query_as(
                    "SELECT id, incident_id, cost_type_id, amount_cents, details, created_at FROM incident_costs WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(cost_from_row))
            }

            async fn count_incidents(&self, filter: &IncidentFilter) -> Result<u64> {
                let mut params = Params::default();
                let clause = filter_clause(filter, $like, &mut params);
                let sql = format!("SELECT COUNT(*) FROM incidents i{clause}");
                let n: i64 = sqlx::query_scalar_with(AssertSqlSafe(sql), Self::args(params.args)?)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn request_applied(&self, key: &str) -> Result<Option<IncidentId>> {
                let id: Option<i64> = sqlx::query_scalar("SELECT incident_id FROM incident_requests WHERE request_key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(id.map(IncidentId))
            }

            async fn set_incident_member(&self, incident: IncidentId, user: UserId, member: bool) -> Result<bool> {
                let this = self.clone();
                self.on_writer(async move {
                    let mut tx = this.begin_write().await?;
                    let done = async {
                        if !Self::incident_exists(&mut tx, incident).await? {
                            return Err(Error::not_found("incident", incident));
                        }
                        if !Self::user_exists(&mut tx, user).await? {
                            return Err(Error::not_found("user", user));
                        }
                        let changed = if member {
                            sqlx::query(
                                "INSERT INTO incident_members (incident_id, user_id, position) VALUES ($1, $2, \
                                 (SELECT COALESCE(MAX(position), -1) + 1 FROM incident_members WHERE incident_id = $1)) \
                                 ON CONFLICT (incident_id, user_id) DO NOTHING",
                            )
                        } else {
                            sqlx::query("DELETE FROM incident_members WHERE incident_id = $1 AND user_id = $2")
                        }
                        .bind(incident)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            > 0;
                        if changed {
                            Self::bump(&mut tx, Bump::Data).await?;
                        }
                        Ok(changed)
                    }
                    .await;
                    match done {
                        Ok(changed) => {
                            tx.commit().await?;
                            Ok(changed)
                        }
                        Err(e) => {
                            tx.rollback().await.ok();
                            Err(e)
                        }
                    }
                })
                .await?
            }

            async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
                let rows: Vec<TimelineRow> = sqlx::query_as(
                    "SELECT id, incident_id, created_by, created_at, event_ts, event_type, message, status, changes \
                     FROM incident_updates WHERE incident_id = $1 ORDER BY event_ts DESC, created_at DESC, id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(timeline_from_row).collect()
            }

            // ---- outbox ----

            async fn claim_deliveries_for(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
                handlers: Option<Arc<[String]>>,
            ) -> Result<Vec<Delivery>> {
                if limit == 0 || handlers.as_ref().is_some_and(|h| h.is_empty()) {
                    return Ok(Vec::new());
                }
                let names: &[String] = handlers.as_deref().unwrap_or_default();
                // `AND handler IN ($5, ...)`, numbered after the claim's own four.
                let only = |first: usize| {
                    if names.is_empty() {
                        return String::new();
                    }
                    let list: Vec<String> = (first..first + names.len()).map(|i| format!("${i}")).collect();
                    format!(" AND d.handler IN ({})", list.join(", "))
                };
                // Nothing due (the usual answer): no write, so the writer is left to commands.
                let sql = format!(
                    "SELECT d.id FROM outbox_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                     AND (d.lease_until IS NULL OR d.lease_until < $1){} LIMIT 1",
                    only(2)
                );
                let mut due = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(now);
                for name in names {
                    due = due.bind(name);
                }
                if due.fetch_optional(&self.pool).await?.is_none() {
                    return Ok(Vec::new());
                }
                // One statement picks and leases, so two claimers never share a
                // delivery. Per incident and handler, only the oldest pending
                // delivery is claimable: one incident's side effects run one at
                // a time, in the order their events were committed (a parked
                // delivery no longer blocks the ones after it).
                let sql = format!(
                    concat!(
                        "UPDATE outbox_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
                         WHERE id IN (SELECT d.id FROM outbox_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
                         AND (d.lease_until IS NULL OR d.lease_until < $3){only} \
                         AND NOT EXISTS (SELECT 1 FROM outbox_deliveries earlier \
                         JOIN outbox_events ee ON ee.id = earlier.event_id \
                         JOIN outbox_events de ON de.id = d.event_id \
                         WHERE earlier.handler = d.handler AND earlier.status = 'pending' \
                         AND earlier.event_id < d.event_id AND ee.incident_id = de.incident_id) \
                         ORDER BY d.event_id, d.id LIMIT $4",
                        $lock,
                        ") RETURNING id, event_id, handler, attempts"
                    ),
                    only = only(5)
                );
                let mut claim = sqlx::query_as::<_, ClaimedRow>(AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit));
                for name in names {
                    claim = claim.bind(name);
                }
                let mut claimed: Vec<ClaimedRow> = claim.fetch_all(&self.writer).await?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                claimed.sort_by_key(|c| (c.event_id, c.id));
                let event_ids = unique(&claimed.iter().map(|c| c.event_id).collect::<Vec<_>>());
                let mut events: HashMap<i64, std::result::Result<StoredEvent, String>> = HashMap::new();
                let mut conn = self.pool.acquire().await?;
                for chunk in event_ids.chunks(CHUNK) {
                    let sql = format!(
                        "SELECT id, incident_id, created_at, payload FROM outbox_events WHERE id IN ({})",
                        Self::placeholders(chunk.len())
                    );
                    let rows: Vec<EventRow> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(chunk.iter().map(|&i| Arg::I64(i)))?)
                            .fetch_all(&mut *conn)
                            .await?;
                    for row in rows {
                        let id = row.id;
                        events.insert(id, event_from_row(row).map_err(|e| e.to_string()));
                    }
                }
                let mut out = Vec::with_capacity(claimed.len());
                for c in claimed {
                    match events.get(&c.event_id) {
                        Some(Ok(event)) => out.push(Delivery {
                            id: c.id,
                            event: event.clone(),
                            handler: c.handler,
                            attempt: attempts(c.attempts),
                        }),
                        other => {
                            // An unreadable event would block the queue forever: park it.
                            let why = match other {
                                Some(Err(e)) => e.clone(),
                                _ => format!("outbox event {} is missing", c.event_id),
                            };
                            tracing::error!(delivery = c.id, error = %why, "parking an undeliverable outbox delivery");
                            sqlx::query(
                                "UPDATE outbox_deliveries SET status = 'failed', last_error = $1, lease_owner = NULL, \
                                 lease_until = NULL WHERE id = $2",
                            )
                            .bind(why)
                            .bind(c.id)
                            .execute(&self.writer)
                            .await?;
                        }
                    }
                }
                Ok(out)
            }

            async fn complete_delivery(&self, id: i64, owner: &str, now: DateTime<Utc>) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET status = 'delivered', delivered_at = $1, lease_owner = NULL, \
                     lease_until = NULL WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
                )
                .bind(now)
                .bind(id)
                .bind(owner)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn fail_delivery(
                &self,
                id: i64,
                owner: &str,
                error: &str,
                retry_at: Option<DateTime<Utc>>,
            ) -> Result<bool> {
                let done = match retry_at {
                    Some(at) => {
                        sqlx::query(
                            "UPDATE outbox_deliveries SET next_attempt_at = $1, last_error = $2, lease_owner = NULL, \
                             lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'pending'",
                        )
                        .bind(at)
                        .bind(error)
                        .bind(id)
                        .bind(owner)
                        .execute(&self.writer)
                        .await?
                    }
                    None => {
                        sqlx::query(
                            "UPDATE outbox_deliveries SET status = 'failed', last_error = $1, lease_owner = NULL, \
                             lease_until = NULL WHERE id = $2 AND lease_owner = $3 AND status = 'pending'",
                        )
                        .bind(error)
                        .bind(id)
                        .bind(owner)
                        .execute(&self.writer)
                        .await?
                    }
                };
                Ok(done.rows_affected() > 0)
            }

            async fn requeue_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
                // Attempts restart so a retry limit applies afresh.
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET status = 'pending', next_attempt_at = $1, attempts = 0, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $2 AND status = 'failed'",
                )
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_deliveries(&self, status: Option<DeliveryStatus>, limit: u32) -> Result<Vec<DeliveryInfo>> {
                let rows: Vec<DeliveryRow> = match status {
                    Some(status) => {
                        sqlx::query_as(
                            "SELECT d.id, d.event_id, e.incident_id, e.kind, d.handler, d.status, d.attempts, \
                             d.next_attempt_at, d.last_error, d.delivered_at FROM outbox_deliveries d \
                             JOIN outbox_events e ON e.id = d.event_id WHERE d.status = $1 ORDER BY d.id DESC LIMIT $2",
                        )
                        .bind(status.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(
                            "SELECT d.id, d.event_id, e.incident_id, e.kind, d.handler, d.status, d.attempts, \
                             d.next_attempt_at, d.last_error, d.delivered_at FROM outbox_deliveries d \
                             JOIN outbox_events e ON e.id = d.event_id ORDER BY d.id DESC LIMIT $1",
                        )
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                rows.into_iter()
                    .map(|r| {
                        Ok(DeliveryInfo {
                            id: r.id,
                            event_id: r.event_id,
                            incident_id: IncidentId(r.incident_id),
                            event_kind: r.kind,
                            handler: r.handler,
                            status: delivery_status_from(&r.status)?,
                            attempts: attempts(r.attempts),
                            next_attempt_at: r.next_attempt_at,
                            last_error: r.last_error,
                            delivered_at: r.delivered_at,
                        })
                    })
                    .collect()
            }

            async fn incident_events(&self, id: IncidentId) -> Result<Vec<StoredEvent>> {
                let rows: Vec<EventRow> = sqlx::query_as(
                    "SELECT id, incident_id, created_at, payload FROM outbox_events WHERE incident_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(event_from_row).collect()
            }

            // ---- periodic tasks ----

            async fn ensure_task<'a>(
                &self,
                name: &str,
                default: Option<&'a Schedule>,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO task_schedules (name, enabled, schedule, next_run_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(default.is_some())
                .bind(default.map(Json))
                .bind(next_run_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn task_schedules(&self) -> Result<Vec<TaskSchedule>> {
                let rows: Vec<TaskScheduleRow> = sqlx::query_as(
                    "SELECT name, enabled, schedule, next_run_at, lease_owner, lease_until FROM task_schedules ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(task_schedule_from_row).collect()
            }

            async fn set_task_schedule<'a>(
                &self,
                name: &str,
                enabled: bool,
                schedule: Option<&'a Schedule>,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                let done =
                    sqlx::query("UPDATE task_schedules SET enabled = $1, schedule = $2, next_run_at = $3 WHERE name = $4")
                        .bind(enabled)
                        .bind(schedule.map(Json))
                        .bind(next_run_at)
                        .bind(name)
                        .execute(&self.writer)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task", name));
                }
                Ok(())
            }

            async fn request_task_run(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query("UPDATE task_schedules SET next_run_at = $1 WHERE name = $2")
                    .bind(now)
                    .bind(name)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task", name));
                }
                Ok(())
            }

            async fn acquire_task_lease(
                &self,
                name: &str,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE task_schedules SET lease_owner = $1, lease_until = $2 WHERE name = $3 \
                     AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $4)",
                )
                .bind(owner)
                .bind(lease_until)
                .bind(name)
                .bind(now)
                .execute(&self.writer)
                .await?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                if !self.task_exists(name).await? {
                    return Err(Error::not_found("task", name));
                }
                Ok(false)
            }

            async fn release_task_lease(
                &self,
                name: &str,
                owner: &str,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE task_schedules SET lease_owner = NULL, lease_until = NULL, next_run_at = $1 \
                     WHERE name = $2 AND lease_owner = $3",
                )
                .bind(next_run_at)
                .bind(name)
                .bind(owner)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn start_task_run(&self, name: &str, trigger: &str, now: DateTime<Utc>) -> Result<i64> {
                let id: i64 =
                    sqlx::query_scalar("INSERT INTO task_runs (task, trigger, started_at) VALUES ($1, $2, $3) RETURNING id")
                        .bind(name)
                        .bind(trigger)
                        .bind(now)
                        .fetch_one(&self.writer)
                        .await?;
                Ok(id)
            }

            async fn finish_task_run<'a>(
                &self,
                id: i64,
                now: DateTime<Utc>,
                error: Option<&'a str>,
                summary: Option<&'a str>,
            ) -> Result<()> {
                let done = sqlx::query("UPDATE task_runs SET finished_at = $1, error = $2, summary = $3 WHERE id = $4")
                    .bind(now)
                    .bind(error)
                    .bind(summary)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task run", id));
                }
                Ok(())
            }

            async fn task_runs<'a>(&self, name: Option<&'a str>, limit: u32) -> Result<Vec<TaskRun>> {
                let rows: Vec<TaskRunRow> = match name {
                    Some(name) => {
                        sqlx::query_as(
                            "SELECT id, task, trigger, started_at, finished_at, error, summary FROM task_runs \
                             WHERE task = $1 ORDER BY id DESC LIMIT $2",
                        )
                        .bind(name)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(
                            "SELECT id, task, trigger, started_at, finished_at, error, summary FROM task_runs \
                             ORDER BY id DESC LIMIT $1",
                        )
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                Ok(rows.into_iter().map(task_run_from_row).collect())
            }

            // ---- access ----

            async fn catalog_times(&self) -> Result<CatalogTimes> {
                let mut conn = self.pool.acquire().await?;
                let mut read = async |table: &str| -> Result<Vec<TimesRow>> {
                    // `table` is one of the constants below, never input.
                    let sql = format!("SELECT id, created_at, updated_at FROM {table}");
                    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?)
                };
                Ok(CatalogTimes {
                    priorities: times_map(read("priorities").await?, PriorityId),
                    groups: times_map(read("category_groups").await?, crate::GroupId),
                    categories: times_map(read("incident_categories").await?, CategoryId),
                    cost_types: times_map(read("cost_types").await?, CostTypeId),
                })
            }

            async fn create_api_token(&self, token: &ApiToken, token_hash: &str) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, last_used_at, \
                     expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(token.id)
                .bind(token.user_id)
                .bind(token.name.as_str())
                .bind(token_hash)
                .bind(token.prefix.as_str())
                .bind(token.scopes.join(" "))
                .bind(token.created_at)
                .bind(token.last_used_at)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(&self.writer)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let e = Error::from(e);
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("user", token.user_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
                let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
                let row: Option<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(ApiToken::from))
            }

            async fn api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>> {
                let rows: Vec<ApiTokenRow> = match user {
                    Some(user) => {
                        let sql = format!(
                            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id"
                        );
                        sqlx::query_as(AssertSqlSafe(sql)).bind(user).fetch_all(&self.pool).await?
                    }
                    None => {
                        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id");
                        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?
                    }
                };
                Ok(rows.into_iter().map(ApiToken::from).collect())
            }

            async fn touch_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn revoke_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool> {
                let query = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id);
                if self.write_one(query, Bump::Access).await? == 1 {
                    return Ok(true);
                }
                let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                if exists == 0 {
                    return Err(Error::not_found("API token", id));
                }
                Ok(false)
            }

            async fn create_session(&self, session: &Session) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(session.id_hash.as_str())
                .bind(session.user_id)
                .bind(session.csrf_token.as_str())
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&self.writer)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let e = Error::from(e);
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("user", session.user_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
                     WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| Session {
                    id_hash: r.id_hash,
                    user_id: r.user_id,
                    csrf_token: r.csrf_token,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                }))
            }

            async fn extend_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
                    .bind(expires_at)
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn delete_user_sessions(&self, user: UserId) -> Result<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn begin_idempotent(
                &self,
                scope: &str,
                key: &str,
                request_hash: &str,
                now: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<IdempotencyBegin> {
                let (this, scope, key, request_hash) =
                    (self.clone(), scope.to_owned(), key.to_owned(), request_hash.to_owned());
                self.on_writer(async move {
                    let (scope, key, request_hash) = (scope.as_str(), key.as_str(), request_hash.as_str());
                    let mut tx = this.begin_write().await?;
                    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND created_at < $3")
                        .bind(scope)
                        .bind(key)
                        .bind(stale_before)
                        .execute(&mut *tx)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (scope, idem_key) DO NOTHING",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(request_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let outcome = if inserted == 1 {
                        IdempotencyBegin::Started
                    } else {
                        let row: IdempotencyRow = sqlx::query_as(
                            "SELECT request_hash, response_status, response_type, response_body FROM idempotency_keys \
                             WHERE scope = $1 AND idem_key = $2",
                        )
                        .bind(scope)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                        if row.request_hash != request_hash {
                            IdempotencyBegin::Mismatch
                        } else {
                            match (row.response_status, row.response_type, row.response_body) {
                                (Some(status), Some(content_type), Some(body)) => IdempotencyBegin::Replay(StoredResponse {
                                    status: u16::try_from(status)
                                        .map_err(|_| corrupt(format!("idempotency key {key}: status {status}")))?,
                                    content_type,
                                    body,
                                }),
                                _ => IdempotencyBegin::InProgress,
                            }
                        }
                    };
                    tx.commit().await?;
                    Ok(outcome)
                })
                .await?
            }

            async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET response_status = $1, response_type = $2, response_body = $3 \
                     WHERE scope = $4 AND idem_key = $5",
                )
                .bind(i32::from(response.status))
                .bind(response.content_type.as_str())
                .bind(response.body.as_str())
                .bind(scope)
                .bind(key)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<()> {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND response_status IS NULL",
                )
                .bind(scope)
                .bind(key)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn purge_access(&self, now: DateTime<Utc>, keys_before: DateTime<Utc>) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(keys_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(sessions + keys)
            }
        }
    };
}

sql_store!(
    store: SqliteStore,
    db: sqlx::Sqlite,
    conn: sqlx::SqliteConnection,
    backend: "sqlite",
    begin_write: "BEGIN IMMEDIATE",
    skip_locked: "",
    like: "LIKE",
);

sql_store!(
    store: PgStore,
    db: sqlx::Postgres,
    conn: sqlx::PgConnection,
    backend: "postgres",
    begin_write: "BEGIN",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    like: "ILIKE",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }

    #[test]
    fn search_words_are_bound_not_inlined() {
        let filter = IncidentFilter {
            search: Some("checkout' OR 1=1 #42".into()),
            ..IncidentFilter::default()
        };
        let mut p = Params::default();
        let clause = filter_clause(&filter, "LIKE", &mut p);
        assert!(!clause.contains("checkout"));
        assert!(clause.contains("i.id = $"));
        assert_eq!(p.args.len(), 5);
    }
}
