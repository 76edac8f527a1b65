//! Services (`pd_services`) and their `ignore` flag.

use chrono::{DateTime, Utc};

use super::{CHUNK, PagerDutyStore};
use crate::Result;

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
}
