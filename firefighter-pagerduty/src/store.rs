//! The integration's tables (see `migrations/`), on SQLite or PostgreSQL.
//!
//! Every query is written once: `on_pool!` expands its body for each backend
//! (`$N` placeholders, `ON CONFLICT` and `excluded` work on both). Every
//! write method is one transaction: a reader sees the roster before a sync
//! or after it, never half of it.

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;
use firefighter_core::{IncidentId, UserId};
use uuid::Uuid;

use crate::Result;

/// Rows per multi-row `INSERT` (far below both databases' parameter limits).
const CHUNK: usize = 400;

/// Expands `$body` once per backend, with `$pool` the pool, `$Db` the
/// database type and `$begin` the statement opening a write transaction
/// (SQLite takes the write lock up front so it never fails midway with BUSY).
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $Db:ident, $begin:ident| $body:block) => {
        match $store {
            PagerDutyStore::Sqlite($pool) => {
                #[allow(dead_code)]
                type $Db = sqlx::Sqlite;
                #[allow(dead_code)]
                const $begin: &str = "BEGIN IMMEDIATE";
                $body
            }
            PagerDutyStore::Postgres($pool) => {
                #[allow(dead_code)]
                type $Db = sqlx::Postgres;
                #[allow(dead_code)]
                const $begin: &str = "BEGIN";
                $body
            }
        }
    };
}

/// Records when a sync succeeded, inside its transaction.
macro_rules! record_sync {
    ($tx:ident, $kind:literal, $at:expr, $summary:expr) => {
        sqlx::query(
            "INSERT INTO pd_syncs (kind, synced_at, summary) VALUES ($1, $2, $3) \
             ON CONFLICT (kind) DO UPDATE SET synced_at = excluded.synced_at, summary = excluded.summary",
        )
        .bind($kind)
        .bind($at)
        .bind($summary.to_owned())
        .execute(&mut *$tx)
        .await?;
    };
}

/// Access to the integration's tables.
#[derive(Debug, Clone)]
pub(crate) enum PagerDutyStore {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the integration's migrations (its own migrations table).
pub(crate) async fn migrate(pool: DatabasePool) -> Result<()> {
    const TABLE: &str = "_ff_pagerduty_migrations";
    match pool {
        DatabasePool::Sqlite(pool) => {
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.dangerous_set_table_name(TABLE);
            m.run(&pool).await?;
        }
        DatabasePool::Postgres(pool) => {
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.dangerous_set_table_name(TABLE);
            m.run(&pool).await?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ records

/// An escalation policy to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) description: String,
    pub(crate) api_url: String,
    pub(crate) web_url: String,
}

/// A service to upsert (its `ignore` flag is never touched by syncs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) status: String,
    pub(crate) api_url: String,
    pub(crate) web_url: String,
    pub(crate) escalation_policy_id: Option<String>,
}

/// A schedule to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleRecord {
    pub(crate) id: String,
    pub(crate) summary: String,
    pub(crate) api_url: String,
    pub(crate) web_url: String,
}

/// A team to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TeamRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) api_url: String,
    pub(crate) web_url: String,
}

/// A PagerDuty user to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRecord {
    pub(crate) id: String,
    pub(crate) user_id: Option<UserId>,
    pub(crate) name: String,
    pub(crate) email: String,
    /// `None`: keep the stored number (the on-call sync does not read contact methods).
    pub(crate) phone_number: Option<String>,
    pub(crate) api_url: String,
    pub(crate) web_url: String,
}

/// An on-call entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OncallRecord {
    pub(crate) escalation_policy_id: String,
    pub(crate) escalation_level: i32,
    pub(crate) pagerduty_user_id: String,
    pub(crate) schedule_id: Option<String>,
    pub(crate) starts_at: Option<DateTime<Utc>>,
    pub(crate) ends_at: Option<DateTime<Utc>>,
}

/// What the on-call sync writes, all at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct OncallSnapshot {
    pub(crate) policies: Vec<PolicyRecord>,
    /// Services named by the policies: created if missing, linked to their policy.
    pub(crate) services: Vec<ServiceRecord>,
    pub(crate) schedules: Vec<ScheduleRecord>,
    pub(crate) users: Vec<UserRecord>,
    pub(crate) oncalls: Vec<OncallRecord>,
}

/// What the user sync writes, all at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserSnapshot {
    pub(crate) teams: Vec<TeamRecord>,
    pub(crate) users: Vec<UserRecord>,
    /// (PagerDuty user id, team id).
    pub(crate) memberships: Vec<(String, String)>,
}

// ------------------------------------------------------------------ rows

/// A stored service.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ServiceRow {
    pub(crate) pagerduty_id: String,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) status: String,
    pub(crate) web_url: String,
    pub(crate) escalation_policy_id: Option<String>,
    pub(crate) escalation_policy_name: Option<String>,
    pub(crate) ignore: bool,
}

/// One current on-call entry with everything the roster shows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct RosterRow {
    pub(crate) policy_id: String,
    pub(crate) policy_name: String,
    pub(crate) policy_url: String,
    pub(crate) escalation_level: i32,
    pub(crate) pagerduty_user_id: String,
    pub(crate) user_name: String,
    pub(crate) user_email: String,
    pub(crate) phone_number: String,
    pub(crate) user_url: String,
    pub(crate) user_id: Option<UserId>,
    pub(crate) schedule_id: Option<String>,
    pub(crate) schedule_name: Option<String>,
    pub(crate) schedule_url: Option<String>,
    pub(crate) starts_at: Option<DateTime<Utc>>,
    pub(crate) ends_at: Option<DateTime<Utc>>,
}

/// A page (a PagerDuty incident firefighter sends or sent).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct PageRow {
    pub(crate) id: Uuid,
    pub(crate) page_key: String,
    pub(crate) incident_id: Option<i64>,
    pub(crate) service_id: String,
    pub(crate) title: String,
    pub(crate) details: String,
    pub(crate) conference_url: String,
    pub(crate) requested_by: Option<UserId>,
    pub(crate) api: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) next_attempt_at: DateTime<Utc>,
    pub(crate) lease_until: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
    pub(crate) pagerduty_incident_id: Option<String>,
    pub(crate) incident_number: Option<i64>,
    pub(crate) pagerduty_status: Option<String>,
    pub(crate) web_url: Option<String>,
    pub(crate) api_url: Option<String>,
    pub(crate) timeline_recorded: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) sent_at: Option<DateTime<Utc>>,
}

/// What PagerDuty said about a sent page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SentPage {
    pub(crate) pagerduty_incident_id: Option<String>,
    pub(crate) incident_number: Option<i64>,
    pub(crate) pagerduty_status: Option<String>,
    pub(crate) web_url: Option<String>,
    pub(crate) api_url: Option<String>,
}

/// A page to record before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct NewPageRow {
    pub(crate) page_key: String,
    pub(crate) incident_id: Option<IncidentId>,
    pub(crate) service_id: String,
    pub(crate) title: String,
    pub(crate) details: String,
    pub(crate) conference_url: String,
    pub(crate) requested_by: Option<UserId>,
    pub(crate) api: &'static str,
}

macro_rules! page_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, page_key, incident_id, service_id, title, details, conference_url, \
             requested_by, api, status, attempts, next_attempt_at, lease_until, last_error, \
             pagerduty_incident_id, incident_number, pagerduty_status, web_url, api_url, \
             timeline_recorded, created_at, updated_at, sent_at FROM pd_pages ",
            $tail
        )
    };
}

macro_rules! service_select {
    ($tail:literal) => {
        concat!(
            "SELECT s.pagerduty_id, s.name, s.summary, s.status, s.web_url, s.escalation_policy_id, \
             p.name AS escalation_policy_name, s.ignore FROM pd_services s \
             LEFT JOIN pd_escalation_policies p ON p.pagerduty_id = s.escalation_policy_id ",
            $tail
        )
    };
}

impl PagerDutyStore {
    /// The store on a core database.
    pub(crate) fn new(pool: DatabasePool) -> PagerDutyStore {
        match pool {
            DatabasePool::Sqlite(p) => PagerDutyStore::Sqlite(p),
            DatabasePool::Postgres(p) => PagerDutyStore::Postgres(p),
        }
    }

    // ---------------------------------------------------------- syncs

    /// Replaces the on-call roster (and upserts what it references) in one transaction.
    pub(crate) async fn write_oncalls(
        &self,
        snapshot: &OncallSnapshot,
        at: DateTime<Utc>,
        summary: &str,
    ) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            let mut tx = pool.begin_with(BEGIN).await?;
            for chunk in snapshot.policies.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_escalation_policies (pagerduty_id, name, summary, description, api_url, web_url, updated_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(p.id.clone())
                        .push_bind(p.name.clone())
                        .push_bind(p.summary.clone())
                        .push_bind(p.description.clone())
                        .push_bind(p.api_url.clone())
                        .push_bind(p.web_url.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET name = excluded.name, summary = excluded.summary, \
                     description = excluded.description, api_url = excluded.api_url, web_url = excluded.web_url, \
                     updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in snapshot.services.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_services (pagerduty_id, name, summary, status, api_url, web_url, escalation_policy_id, ignore, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, s| {
                    b.push_bind(s.id.clone())
                        .push_bind(s.name.clone())
                        .push_bind(s.summary.clone())
                        .push_bind(s.status.clone())
                        .push_bind(s.api_url.clone())
                        .push_bind(s.web_url.clone())
                        .push_bind(s.escalation_policy_id.clone())
                        .push_bind(false)
                        .push_bind(at)
                        .push_bind(at);
                });
                // A stub from the on-call sync only links the policy; the
                // service sync owns names and status.
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET escalation_policy_id = excluded.escalation_policy_id",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in snapshot.schedules.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_schedules (pagerduty_id, summary, api_url, web_url, updated_at) ",
                );
                q.push_values(chunk, |mut b, s| {
                    b.push_bind(s.id.clone())
                        .push_bind(s.summary.clone())
                        .push_bind(s.api_url.clone())
                        .push_bind(s.web_url.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET summary = excluded.summary, api_url = excluded.api_url, \
                     web_url = excluded.web_url, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in snapshot.users.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_users (pagerduty_id, user_id, name, email, phone_number, api_url, web_url, updated_at) ",
                );
                q.push_values(chunk, |mut b, u| {
                    b.push_bind(u.id.clone())
                        .push_bind(u.user_id)
                        .push_bind(u.name.clone())
                        .push_bind(u.email.clone())
                        .push_bind(u.phone_number.clone().unwrap_or_default())
                        .push_bind(u.api_url.clone())
                        .push_bind(u.web_url.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET user_id = COALESCE(excluded.user_id, pd_users.user_id), \
                     name = excluded.name, email = excluded.email, api_url = excluded.api_url, \
                     web_url = excluded.web_url, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM pd_oncalls")
                .execute(&mut *tx)
                .await?;
            for chunk in snapshot.oncalls.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_oncalls (escalation_policy_id, escalation_level, pagerduty_user_id, schedule_id, starts_at, ends_at) ",
                );
                q.push_values(chunk, |mut b, o| {
                    b.push_bind(o.escalation_policy_id.clone())
                        .push_bind(o.escalation_level)
                        .push_bind(o.pagerduty_user_id.clone())
                        .push_bind(o.schedule_id.clone())
                        .push_bind(o.starts_at)
                        .push_bind(o.ends_at);
                });
                q.build().execute(&mut *tx).await?;
            }
            record_sync!(tx, "oncalls", at, summary);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Upserts every service (keeping `ignore`) in one transaction; returns
    /// how many stored services PagerDuty no longer lists.
    pub(crate) async fn write_services(
        &self,
        services: &[ServiceRecord],
        at: DateTime<Utc>,
        summary: &str,
    ) -> Result<u64> {
        on_pool!(self, |pool, Db, BEGIN| {
            let mut tx = pool.begin_with(BEGIN).await?;
            for chunk in services.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_services (pagerduty_id, name, summary, status, api_url, web_url, escalation_policy_id, ignore, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, s| {
                    b.push_bind(s.id.clone())
                        .push_bind(s.name.clone())
                        .push_bind(s.summary.clone())
                        .push_bind(s.status.clone())
                        .push_bind(s.api_url.clone())
                        .push_bind(s.web_url.clone())
                        .push_bind(s.escalation_policy_id.clone())
                        .push_bind(false)
                        .push_bind(at)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET name = excluded.name, summary = excluded.summary, \
                     status = excluded.status, api_url = excluded.api_url, web_url = excluded.web_url, \
                     escalation_policy_id = COALESCE(excluded.escalation_policy_id, pd_services.escalation_policy_id), \
                     updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            let stale: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pd_services WHERE updated_at < $1")
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
            record_sync!(tx, "services", at, summary);
            tx.commit().await?;
            Ok(u64::try_from(stale).unwrap_or(0))
        })
    }

    /// Upserts teams and users (with phone numbers and team memberships) and
    /// removes users PagerDuty no longer lists, in one transaction. Returns
    /// how many users were removed.
    pub(crate) async fn write_users(
        &self,
        snapshot: &UserSnapshot,
        at: DateTime<Utc>,
        summary: &str,
    ) -> Result<u64> {
        on_pool!(self, |pool, Db, BEGIN| {
            let mut tx = pool.begin_with(BEGIN).await?;
            for chunk in snapshot.teams.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_teams (pagerduty_id, name, description, api_url, web_url, updated_at) ",
                );
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(t.id.clone())
                        .push_bind(t.name.clone())
                        .push_bind(t.description.clone())
                        .push_bind(t.api_url.clone())
                        .push_bind(t.web_url.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     api_url = excluded.api_url, web_url = excluded.web_url, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            for chunk in snapshot.users.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_users (pagerduty_id, user_id, name, email, phone_number, api_url, web_url, updated_at) ",
                );
                q.push_values(chunk, |mut b, u| {
                    b.push_bind(u.id.clone())
                        .push_bind(u.user_id)
                        .push_bind(u.name.clone())
                        .push_bind(u.email.clone())
                        .push_bind(u.phone_number.clone().unwrap_or_default())
                        .push_bind(u.api_url.clone())
                        .push_bind(u.web_url.clone())
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (pagerduty_id) DO UPDATE SET user_id = COALESCE(excluded.user_id, pd_users.user_id), \
                     name = excluded.name, email = excluded.email, phone_number = excluded.phone_number, \
                     api_url = excluded.api_url, web_url = excluded.web_url, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            // Memberships of the listed users are replaced.
            sqlx::query(
                "DELETE FROM pd_user_teams WHERE pagerduty_user_id IN (SELECT pagerduty_id FROM pd_users WHERE updated_at = $1)",
            )
            .bind(at)
            .execute(&mut *tx)
            .await?;
            for chunk in snapshot.memberships.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO pd_user_teams (pagerduty_user_id, team_id) ",
                );
                q.push_values(chunk, |mut b, (user, team)| {
                    b.push_bind(user.clone()).push_bind(team.clone());
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            let removed = sqlx::query("DELETE FROM pd_users WHERE updated_at < $1")
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            record_sync!(tx, "users", at, summary);
            tx.commit().await?;
            Ok(removed)
        })
    }

    // ---------------------------------------------------------- reads

    /// When a sync (`oncalls`, `services`, `users`) last succeeded.
    pub(crate) async fn synced_at(&self, kind: &str) -> Result<Option<DateTime<Utc>>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_scalar::<Db, DateTime<Utc>>(
                "SELECT synced_at FROM pd_syncs WHERE kind = $1",
            )
            .bind(kind.to_owned())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The on-call entries current at `at`, of escalation policies with at
    /// least one service that is not ignored, by policy name, level, person.
    pub(crate) async fn roster_rows(&self, at: DateTime<Utc>) -> Result<Vec<RosterRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, RosterRow>(
                "SELECT o.escalation_policy_id AS policy_id, p.name AS policy_name, p.web_url AS policy_url, \
                 o.escalation_level, u.pagerduty_id AS pagerduty_user_id, u.name AS user_name, \
                 u.email AS user_email, u.phone_number, u.web_url AS user_url, u.user_id, \
                 o.schedule_id, s.summary AS schedule_name, s.web_url AS schedule_url, o.starts_at, o.ends_at \
                 FROM pd_oncalls o \
                 JOIN pd_escalation_policies p ON p.pagerduty_id = o.escalation_policy_id \
                 JOIN pd_users u ON u.pagerduty_id = o.pagerduty_user_id \
                 LEFT JOIN pd_schedules s ON s.pagerduty_id = o.schedule_id \
                 WHERE (o.starts_at IS NULL OR o.starts_at <= $1) AND (o.ends_at IS NULL OR o.ends_at > $1) \
                 AND EXISTS (SELECT 1 FROM pd_services sv WHERE sv.escalation_policy_id = o.escalation_policy_id AND NOT sv.ignore) \
                 ORDER BY p.name, o.escalation_policy_id, o.escalation_level, u.name, u.pagerduty_id, o.schedule_id",
            )
            .bind(at)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Services by name; ignored ones only when asked.
    pub(crate) async fn services(&self, include_ignored: bool) -> Result<Vec<ServiceRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, ServiceRow>(service_select!(
                "WHERE ($1 OR NOT s.ignore) ORDER BY s.name, s.pagerduty_id"
            ))
            .bind(include_ignored)
            .fetch_all(pool)
            .await?)
        })
    }

    /// One service.
    pub(crate) async fn service(&self, id: &str) -> Result<Option<ServiceRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query_as::<Db, ServiceRow>(service_select!("WHERE s.pagerduty_id = $1"))
                    .bind(id.to_owned())
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Flags a service ignored (or not); false if it does not exist.
    pub(crate) async fn set_service_ignored(&self, id: &str, ignore: bool) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query::<Db>("UPDATE pd_services SET ignore = $2 WHERE pagerduty_id = $1")
                    .bind(id.to_owned())
                    .bind(ignore)
                    .execute(pool)
                    .await?
                    .rows_affected()
                    == 1,
            )
        })
    }

    // ---------------------------------------------------------- pages

    /// Records a page to send; false when its key (or its incident and
    /// service) is already recorded.
    pub(crate) async fn insert_page(&self, page: &NewPageRow, at: DateTime<Utc>) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            let inserted = sqlx::query::<Db>(
                "INSERT INTO pd_pages (id, page_key, incident_id, service_id, title, details, conference_url, \
                 requested_by, api, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10) ON CONFLICT DO NOTHING",
            )
            .bind(Uuid::new_v4())
            .bind(page.page_key.clone())
            .bind(page.incident_id.map(|i| i.0))
            .bind(page.service_id.clone())
            .bind(page.title.clone())
            .bind(page.details.clone())
            .bind(page.conference_url.clone())
            .bind(page.requested_by)
            .bind(page.api)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// A failed page asked for again: back to pending with the new request.
    pub(crate) async fn reset_failed_page(
        &self,
        page: &NewPageRow,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query::<Db>(
                "UPDATE pd_pages SET status = 'pending', title = $2, details = $3, conference_url = $4, \
                 requested_by = $5, api = $6, attempts = 0, last_error = NULL, next_attempt_at = $7, updated_at = $7 \
                 WHERE page_key = $1 AND status = 'failed'",
            )
            .bind(page.page_key.clone())
            .bind(page.title.clone())
            .bind(page.details.clone())
            .bind(page.conference_url.clone())
            .bind(page.requested_by)
            .bind(page.api)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// A page by its key.
    pub(crate) async fn page_by_key(&self, key: &str) -> Result<Option<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query_as::<Db, PageRow>(page_select!("WHERE page_key = $1"))
                    .bind(key.to_owned())
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// The page of an incident to a service, if any.
    pub(crate) async fn page_for(
        &self,
        incident: IncidentId,
        service_id: &str,
    ) -> Result<Option<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE incident_id = $1 AND service_id = $2"
            ))
            .bind(incident.0)
            .bind(service_id.to_owned())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Every page of an incident, oldest first.
    pub(crate) async fn pages_for_incident(&self, incident: IncidentId) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE incident_id = $1 ORDER BY created_at, id"
            ))
            .bind(incident.0)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The latest pages, newest first.
    pub(crate) async fn recent_pages(&self, limit: u32) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(
                sqlx::query_as::<Db, PageRow>(page_select!(
                    "ORDER BY created_at DESC, id LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?,
            )
        })
    }

    /// Takes the right to send a pending page until `lease_until`; false
    /// when it was sent, failed, or someone else is sending it.
    pub(crate) async fn claim_page(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query::<Db>(
                "UPDATE pd_pages SET lease_until = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = $1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3)",
            )
            .bind(id)
            .bind(lease_until)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Records that PagerDuty accepted a page.
    pub(crate) async fn mark_page_sent(
        &self,
        id: Uuid,
        sent: &SentPage,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>(
                "UPDATE pd_pages SET status = 'sent', lease_until = NULL, last_error = NULL, \
                 pagerduty_incident_id = $2, incident_number = $3, pagerduty_status = $4, web_url = $5, \
                 api_url = $6, sent_at = $7, updated_at = $7 WHERE id = $1",
            )
            .bind(id)
            .bind(sent.pagerduty_incident_id.clone())
            .bind(sent.incident_number)
            .bind(sent.pagerduty_status.clone())
            .bind(sent.web_url.clone())
            .bind(sent.api_url.clone())
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    pub(crate) async fn mark_page_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>(
                "UPDATE pd_pages SET status = CASE WHEN $3 THEN 'pending' ELSE 'failed' END, lease_until = NULL, \
                 last_error = $2, next_attempt_at = COALESCE($4, next_attempt_at), updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(error.to_owned())
            .bind(retry_at.is_some())
            .bind(retry_at)
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records that the page is on the incident's timeline.
    pub(crate) async fn mark_page_recorded(&self, id: Uuid) -> Result<()> {
        on_pool!(self, |pool, Db, BEGIN| {
            sqlx::query::<Db>("UPDATE pd_pages SET timeline_recorded = TRUE WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Pages with work left at `at`: pending and due, or sent but not yet
    /// on their incident's timeline.
    pub(crate) async fn due_pages(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<PageRow>> {
        on_pool!(self, |pool, Db, BEGIN| {
            Ok(sqlx::query_as::<Db, PageRow>(page_select!(
                "WHERE (status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)) \
                 OR (status = 'sent' AND incident_id IS NOT NULL AND NOT timeline_recorded) \
                 ORDER BY created_at, id LIMIT $2"
            ))
            .bind(at)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?)
        })
    }
}
