//! Storage: one [`Store`] trait, two backends (SQLite, the embedded default,
//! and PostgreSQL for several instances sharing one database) generated from
//! the same SQL, with the same schema and the same test suite.
//!
//! Architecture invariant: every write method is one transaction. A state
//! change, its timeline entries and its outbox events commit together or not
//! at all.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::access::{
    ApiToken, ApiTokenId, CatalogTimes, IdempotencyBegin, Session, StoredResponse,
};
use crate::{
    CostType, Environment, Group, ImpactType, Incident, IncidentCategory, IncidentCost,
    IncidentDetails, IncidentEvent, IncidentFilter, IncidentId, KeyEvent, MetricType,
    MilestoneType, NewUser, Priority, Result, RoleType, RoleTypeId, StoredEvent, TimelineEntry,
    User, UserId, Viewer,
    event::Delivery,
    task::{Schedule, TaskRun, TaskSchedule},
};

mod sql;

/// Part of the [`crate::Error::Conflict`] message when an incident changed
/// between the read and the write of a command (the command then retries).
pub const STALE_VERSION: &str = "changed meanwhile";

pub use sql::{PgStore, SqliteStore};

/// Connects to `database_url` (`sqlite:...` or `postgres://...`), creating the
/// SQLite file if needed, and runs the migrations.
pub async fn connect(database_url: &str) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(database_url).await?))
    } else if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else {
        Err(crate::Error::Config(format!(
            "DATABASE_URL must start with sqlite: or postgres:// (got \"{}\")",
            database_url.split(['@', '?']).next().unwrap_or_default()
        )))
    }
}

/// The database behind a store, for integrations that keep their own tables
/// (with their own migrations) next to core's.
#[derive(Debug, Clone)]
pub enum DatabasePool {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

impl From<sqlx::SqlitePool> for DatabasePool {
    fn from(pool: sqlx::SqlitePool) -> Self {
        DatabasePool::Sqlite(pool)
    }
}

impl From<sqlx::PgPool> for DatabasePool {
    fn from(pool: sqlx::PgPool) -> Self {
        DatabasePool::Postgres(pool)
    }
}

/// Every reference table, read at once (they are small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Priorities, by order.
    pub priorities: Vec<Priority>,
    /// Environments, by order.
    pub environments: Vec<Environment>,
    /// Groups, by order.
    pub groups: Vec<Group>,
    /// Categories, by group order then order.
    pub categories: Vec<IncidentCategory>,
    /// Role types, by order.
    pub role_types: Vec<RoleType>,
    /// Key event types.
    pub milestone_types: Vec<MilestoneType>,
    /// Metric types.
    pub metric_types: Vec<MetricType>,
    /// Cost types.
    pub cost_types: Vec<CostType>,
    /// Impact types with their levels, by order.
    pub impact_types: Vec<ImpactType>,
}

/// A new incident, fully decided by the caller; the store assigns the id.
#[derive(Debug, Clone)]
pub struct NewIncidentRecord {
    /// The incident; its `id` and `version` are ignored.
    pub incident: Incident,
    /// Roles to assign.
    pub roles: Vec<(RoleTypeId, UserId)>,
    /// Members to add.
    pub members: Vec<UserId>,
    /// Key events to record.
    pub key_events: Vec<KeyEvent>,
    /// Timeline entries; their `incident_id` is filled in by the store.
    pub timeline: Vec<TimelineEntry>,
    /// Events to publish.
    pub events: Vec<IncidentEvent>,
    /// The handlers each event is delivered to.
    pub subscribers: Arc<[String]>,
    /// Who declares, for the `dedup_key`: an open incident with the key
    /// counts only if this viewer may see it (see [`Store::declare`]).
    pub dedup_viewer: Viewer,
}

/// What [`Store::declare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    /// A new incident was created.
    Created(Incident),
    /// An open incident with the same `dedup_key` exists; nothing was written.
    Existing(Incident),
}

/// A change of an existing incident, fully decided by the caller.
#[derive(Debug, Clone)]
pub struct IncidentChange {
    /// The incident's version the change was computed from; the write fails
    /// with [`crate::Error::Conflict`] if it changed meanwhile.
    pub expected_version: i64,
    /// The incident after the change (every mutable column is written).
    pub incident: Incident,
    /// Whether the environments changed (they are then replaced).
    pub environments_changed: bool,
    /// Whether the tags changed (they are then replaced).
    pub tags_changed: bool,
    /// Roles to assign (replacing the holder of that role type).
    pub roles_set: Vec<(RoleTypeId, UserId)>,
    /// Role types to clear.
    pub roles_cleared: Vec<RoleTypeId>,
    /// Members to add (ignored if already members).
    pub members_added: Vec<UserId>,
    /// Key events to set (replacing the same type).
    pub key_events_set: Vec<KeyEvent>,
    /// Key event types to clear.
    pub key_events_cleared: Vec<String>,
    /// Costs to add.
    pub costs_added: Vec<IncidentCost>,
    /// Timeline entries to append.
    pub timeline: Vec<TimelineEntry>,
    /// Events to publish.
    pub events: Vec<IncidentEvent>,
    /// The handlers each event is delivered to.
    pub subscribers: Arc<[String]>,
    /// The caller's idempotency key, recorded with the change (see
    /// [`Store::request_applied`]); a second change with the same key fails.
    pub request_key: Option<String>,
}

impl IncidentChange {
    /// A change that writes nothing yet, starting from `incident`.
    pub fn from(incident: &Incident, subscribers: Arc<[String]>) -> IncidentChange {
        IncidentChange {
            expected_version: incident.version,
            incident: incident.clone(),
            environments_changed: false,
            tags_changed: false,
            roles_set: Vec::new(),
            roles_cleared: Vec::new(),
            members_added: Vec::new(),
            key_events_set: Vec::new(),
            key_events_cleared: Vec::new(),
            costs_added: Vec::new(),
            timeline: Vec::new(),
            events: Vec::new(),
            subscribers,
            request_key: None,
        }
    }
}

/// A user to create, or to refresh by e-mail, in a batch ([`Store::upsert_users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUpsert {
    /// The e-mail (the key).
    pub email: crate::Email,
    /// Name.
    pub name: String,
    /// Avatar.
    pub avatar: Option<String>,
    /// Link to a platform: (platform, external id), moved from whoever held it.
    pub identity: Option<(String, String)>,
}

/// State of an outbox delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting (first attempt or retry).
    Pending,
    /// Done.
    Delivered,
    /// The handler said retrying will not help; re-queue it by hand.
    Failed,
}

impl DeliveryStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// A delivery as listed for people (the back-office, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryInfo {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// The incident.
    pub incident_id: IncidentId,
    /// The event kind.
    pub event_kind: String,
    /// The handler.
    pub handler: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Counters the store increments inside every write transaction that changes
/// what they cover, read together in one query ([`Store::data_versions`]).
///
/// A cache built from data read *after* reading a version is current for as
/// long as that version is: comparing it with a freshly read one is enough to
/// know, on any instance sharing the database. They only ever grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DataVersions {
    /// Anything an incident's representation shows: incidents and their
    /// roles, members, key events, costs, environments, tags and timeline;
    /// users; reference data.
    pub data: i64,
    /// Reference data alone (priorities, environments, groups, categories,
    /// role, key event, metric, cost and impact types).
    pub reference: i64,
    /// What authentication reads: users (activity, staff and admin rights,
    /// names, identities) and API token revocations.
    pub access: i64,
}

/// Persistence of everything in core. Implemented by [`SqliteStore`] and [`PgStore`].
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The database, for integrations with tables of their own (`None` for test doubles).
    fn database(&self) -> Option<DatabasePool>;
    /// Where integrations' writes that must not wait on a busy lock go: on
    /// SQLite, the store's own single writer connection, so they queue in
    /// order with core's writes instead of polling SQLite's lock with sleeps.
    fn write_database(&self) -> Option<DatabasePool> {
        self.database()
    }
    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;
    /// The current [`DataVersions`], in one query.
    async fn data_versions(&self) -> Result<DataVersions>;
    /// The current data version ([`DataVersions::data`]): it changes with
    /// every write to incidents, users or reference data.
    async fn data_version(&self) -> Result<i64> {
        Ok(self.data_versions().await?.data)
    }

    // ---- reference data ----
    /// Reads every reference table.
    async fn catalog(&self) -> Result<Catalog>;
    /// Inserts or updates (by id) a priority.
    async fn upsert_priority(&self, priority: &Priority) -> Result<()>;
    /// Inserts or updates (by id) an environment.
    async fn upsert_environment(&self, environment: &Environment) -> Result<()>;
    /// Inserts or updates (by id) a group.
    async fn upsert_group(&self, group: &Group) -> Result<()>;
    /// Inserts or updates (by id) a category.
    async fn upsert_category(&self, category: &IncidentCategory) -> Result<()>;
    /// Inserts or updates (by id) a role type.
    async fn upsert_role_type(&self, role_type: &RoleType) -> Result<()>;
    /// Inserts or updates (by event type) a key event type.
    async fn upsert_milestone_type(&self, milestone_type: &MilestoneType) -> Result<()>;
    /// Inserts or updates (by slug) a metric type.
    async fn upsert_metric_type(&self, metric_type: &MetricType) -> Result<()>;
    /// Inserts or updates (by id) a cost type.
    async fn upsert_cost_type(&self, cost_type: &CostType) -> Result<()>;
    /// Inserts or updates (by value) an impact type and replaces its levels.
    async fn upsert_impact_type(&self, impact_type: &ImpactType) -> Result<()>;
    /// Whether reference data was ever seeded (a marker row).
    async fn seeded(&self) -> Result<bool>;
    /// Records that reference data was seeded.
    async fn mark_seeded(&self) -> Result<()>;

    // ---- users ----
    /// Creates a user; [`crate::Error::Conflict`] if the e-mail is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// A user by e-mail (case-insensitive).
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// The user with `new`'s e-mail, created from `new` when there is none
    /// (and `true` then). A concurrent creation of the same e-mail (another
    /// request, another instance) yields that user.
    async fn user_by_email_or_create(&self, new: &NewUser) -> Result<(User, bool)> {
        if let Some(user) = self.user_by_email(new.email.as_str()).await? {
            return Ok((user, false));
        }
        match self.create_user(new).await {
            Ok(user) => Ok((user, true)),
            Err(crate::Error::Conflict(reason)) => self
                .user_by_email(new.email.as_str())
                .await?
                .map(|user| (user, false))
                .ok_or(crate::Error::Conflict(reason)),
            Err(e) => Err(e),
        }
    }
    /// Users by ids (missing ids are left out), in any order.
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>>;
    /// Every user, by e-mail.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// The user linked to `external_id` on `platform`.
    async fn user_by_identity(&self, platform: &str, external_id: &str) -> Result<Option<User>>;
    /// Links (or relinks) a user to its id on `platform`.
    async fn set_identity(&self, user: UserId, platform: &str, external_id: &str) -> Result<()>;
    /// Updates name, flags and avatar of a user.
    async fn update_user(&self, user: &User) -> Result<()>;
    /// Creates users, or refreshes the name and avatar of those whose e-mail
    /// exists, and links their identities: multi-row inserts, one transaction
    /// per chunk. Returns each user's id, in input order (a repeated e-mail
    /// counts once, its last occurrence wins).
    async fn upsert_users(&self, users: &[UserUpsert]) -> Result<Vec<UserId>>;
    /// Sets (or clears) the password hash of a user.
    async fn set_password_hash<'a>(&self, user: UserId, hash: Option<&'a str>) -> Result<()>;
    /// The password hash of a user.
    async fn password_hash(&self, user: UserId) -> Result<Option<String>>;

    // ---- incidents ----
    /// Declares an incident (see [`Declared`]). A record with a
    /// `dedup_key` gets, instead, the open incident holding the key that its
    /// `dedup_viewer` may see (or that holds it for that declarer alone);
    /// else it is new, and holds the key for its declarer alone when holding
    /// it for everybody would show them an incident they may not see. So a
    /// key held out of the declarer's sight is, to them, a free key.
    async fn declare(&self, record: NewIncidentRecord) -> Result<Declared>;
    /// Applies a change; returns the incident as stored afterwards.
    async fn apply(&self, change: IncidentChange) -> Result<Incident>;
    /// Appends timeline entries and events to an incident without changing it
    /// (integrations recording what they did).
    async fn append(
        &self,
        incident: IncidentId,
        timeline: Vec<TimelineEntry>,
        events: Vec<IncidentEvent>,
        subscribers: Arc<[String]>,
    ) -> Result<()>;
    /// An incident.
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>>;
    /// An incident with roles, members, key events and costs.
    async fn incident_details(&self, id: IncidentId) -> Result<Option<IncidentDetails>>;
    /// Incidents matching a filter.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// Incidents matching a filter, with their details (one read of each
    /// child table per chunk of incidents).
    async fn list_incident_details(&self, filter: &IncidentFilter) -> Result<Vec<IncidentDetails>> {
        let incidents = self.list_incidents(filter).await?;
        self.incident_details_many(incidents).await
    }
    /// Roles, members, key events and costs of many incidents at once (lists and exports), in the given order.
    async fn incident_details_many(&self, incidents: Vec<Incident>)
    -> Result<Vec<IncidentDetails>>;
    /// A recorded cost.
    async fn incident_cost(&self, id: crate::CostId) -> Result<Option<IncidentCost>>;
    /// How many incidents match a filter (ignoring offset and limit).
    async fn count_incidents(&self, filter: &IncidentFilter) -> Result<u64>;
    /// The timeline of an incident, newest first.
    async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>>;
    /// The incident a change with this idempotency key was applied to, if any.
    async fn request_applied(&self, key: &str) -> Result<Option<IncidentId>>;
    /// Adds (`member`) or removes a member of an incident; false when nothing changed.
    async fn set_incident_member(
        &self,
        incident: IncidentId,
        user: UserId,
        member: bool,
    ) -> Result<bool>;

    // ---- outbox ----
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`,
    /// whatever their handler.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.claim_deliveries_for(owner, now, lease_until, limit, None)
            .await
    }
    /// [`Store::claim_deliveries`], only for the named handlers when
    /// `handlers` is given: an instance built without an integration leaves
    /// that integration's deliveries to the instances that have it.
    async fn claim_deliveries_for(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        handlers: Option<Arc<[String]>>,
    ) -> Result<Vec<Delivery>>;
    /// Marks a leased delivery done. Returns false if the lease was lost.
    async fn complete_delivery(&self, id: i64, owner: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Records a failed attempt: retry at `retry_at`, or park as failed when `None`.
    async fn fail_delivery(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool>;
    /// Puts a failed delivery back in the queue.
    async fn requeue_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Deliveries, newest first, optionally of one status.
    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>>;
    /// Events of an incident, oldest first.
    async fn incident_events(&self, id: IncidentId) -> Result<Vec<StoredEvent>>;

    // ---- periodic tasks ----
    /// Creates the schedule row of a task if missing (keeps an existing one).
    async fn ensure_task<'a>(
        &self,
        name: &str,
        default: Option<&'a Schedule>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Every task schedule.
    async fn task_schedules(&self) -> Result<Vec<TaskSchedule>>;
    /// Changes a task's schedule and enabled flag.
    async fn set_task_schedule<'a>(
        &self,
        name: &str,
        enabled: bool,
        schedule: Option<&'a Schedule>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Asks for a run as soon as possible.
    async fn request_task_run(&self, name: &str, now: DateTime<Utc>) -> Result<()>;
    /// Takes the task's lease if free (or expired); false when someone holds it.
    async fn acquire_task_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Releases the lease and sets the next run.
    async fn release_task_lease(
        &self,
        name: &str,
        owner: &str,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Records the start of a run; returns its id.
    async fn start_task_run(&self, name: &str, trigger: &str, now: DateTime<Utc>) -> Result<i64>;
    /// Records the end of a run.
    async fn finish_task_run<'a>(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: Option<&'a str>,
        summary: Option<&'a str>,
    ) -> Result<()>;
    /// The latest runs of a task (or of all tasks), newest first.
    async fn task_runs<'a>(&self, name: Option<&'a str>, limit: u32) -> Result<Vec<TaskRun>>;

    // ---- access ----
    /// When priorities, groups, categories and cost types were created and last changed.
    async fn catalog_times(&self) -> Result<CatalogTimes>;
    /// Stores a new API token under the SHA-256 (hex) of its secret.
    async fn create_api_token(&self, token: &ApiToken, token_hash: &str) -> Result<()>;
    /// The token whose secret has this SHA-256 (hex), revoked or not.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// Tokens of one user (or of everyone), newest first.
    async fn api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>>;
    /// Records a use of a token.
    async fn touch_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()>;
    /// Revokes a token; false if it was already revoked.
    async fn revoke_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool>;
    /// Opens a session.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The session with this id hash, if it has not expired at `now`.
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>>;
    /// Moves the end of a session.
    async fn extend_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> Result<()>;
    /// Ends a session (logout).
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// Ends every session of a user (password change, deactivation); returns how many.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64>;
    /// Claims an idempotency key for a request (identified by `request_hash`)
    /// of `scope` (the caller). A claim older than `stale_before` is forgotten first.
    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin>;
    /// Stores the response of a claimed key.
    async fn finish_idempotent(
        &self,
        scope: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<()>;
    /// Releases a claimed key without a response (the request failed; it may be retried).
    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<()>;
    /// Deletes expired sessions and idempotency keys older than `keys_before`; returns how many rows.
    async fn purge_access(&self, now: DateTime<Utc>, keys_before: DateTime<Utc>) -> Result<u64>;
}

/// Timestamps are stored with microsecond precision on both backends.
pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Drops sub-microsecond precision so values round-trip through both databases.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{SubsecRound, Timelike};
    let nanos = t.nanosecond() % 1_000_000_000;
    t.trunc_subsecs(6)
        .with_nanosecond(nanos / 1000 * 1000)
        .unwrap_or(t)
}
