//! The database itself: which backend, its pools, whether it answers, and
//! the versions caches compare against.

use async_trait::async_trait;

use crate::Result;

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

/// Counters the store increments inside every write transaction that changes
/// what they cover, read together in one query ([`DatabaseStore::data_versions`]).
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

/// A liveness lock held by this process (see [`DatabaseStore::hold_liveness`]):
/// released when dropped, and by the system when the process dies.
pub struct LivenessHold(pub Box<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for LivenessHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LivenessHold")
    }
}

/// The database behind a store: backend, pools, health and [`DataVersions`].
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait DatabaseStore: Send + Sync + std::fmt::Debug + 'static {
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
    /// Records that `instance` (started at `started`) is alive at `now`
    /// (see [`crate::instance`]).
    async fn instance_alive(
        &self,
        instance: &str,
        started: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Records that `instance` stopped: its leases are free at once.
    async fn instance_stopped(&self, instance: &str) -> Result<()>;
    /// Instances whose last heartbeat is older than `before` (dead ones).
    async fn silent_instances(&self, before: chrono::DateTime<chrono::Utc>) -> Result<Vec<String>>;
    /// Takes a lock that lives as long as this process: a PostgreSQL
    /// advisory lock on a connection of its own, or a lock on a file beside
    /// the SQLite database; `None` where there is none to take (an in-memory
    /// database, a test double). Other instances probe it
    /// ([`DatabaseStore::gone_instances`]) to know at once that this one died.
    async fn hold_liveness(&self, _instance: &str) -> Result<Option<LivenessHold>> {
        Ok(None)
    }
    /// Whether this process still holds `hold` (a PostgreSQL connection can
    /// drop, and its advisory lock with it).
    async fn liveness_held(&self, _hold: &mut LivenessHold) -> bool {
        true
    }
    /// Records whether `instance` holds its liveness lock (probing it is then
    /// exact; instances that do not hold one are only judged by their heartbeat).
    async fn instance_holds_lock(&self, _instance: &str, _holds: bool) -> Result<()> {
        Ok(())
    }
    /// Instances other than `me` that beat after `since` but not since
    /// `quiet_since`, and hold a liveness lock that is free: their process is
    /// gone. (The quiet condition keeps an instance that just lost its lock's
    /// connection, and takes it again at its next beat, from being judged dead.)
    async fn gone_instances(
        &self,
        _me: &str,
        _since: chrono::DateTime<chrono::Utc>,
        _quiet_since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Records that these instances are gone, as if silent since `at`: what
    /// they held is taken over at once.
    async fn instances_gone(
        &self,
        _ids: &[String],
        _at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        Ok(())
    }
    /// The current data version ([`DataVersions::data`]): it changes with
    /// every write to incidents, users or reference data.
    async fn data_version(&self) -> Result<i64> {
        Ok(self.data_versions().await?.data)
    }
}
