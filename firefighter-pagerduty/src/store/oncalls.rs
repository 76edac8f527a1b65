//! The on-call roster: escalation policies, schedules and on-call entries
//! (`pd_escalation_policies`, `pd_schedules`, `pd_oncalls`).

use chrono::{DateTime, Utc};
use firefighter_core::UserId;

use super::{CHUNK, PagerDutyStore, ServiceRecord, UserRecord};
use crate::Result;

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

/// A schedule to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleRecord {
    pub(crate) id: String,
    pub(crate) summary: String,
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

impl PagerDutyStore {
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
}
