//! PagerDuty users and teams (`pd_users`, `pd_teams`, `pd_user_teams`).

use chrono::{DateTime, Utc};
use firefighter_core::UserId;

use super::{CHUNK, PagerDutyStore};
use crate::Result;

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

/// What the user sync writes, all at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserSnapshot {
    pub(crate) teams: Vec<TeamRecord>,
    pub(crate) users: Vec<UserRecord>,
    /// (PagerDuty user id, team id).
    pub(crate) memberships: Vec<(String, String)>,
}

impl PagerDutyStore {
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
}
