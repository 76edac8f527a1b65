//! firefighter users mapped to Jira accounts (FireFighter's `JiraUser`):
//! the account found by e-mail once per person, kept in the crate's table
//! `jira_users` (its own migrations, SQLite and PostgreSQL). A person
//! without a Jira account is looked up again next time (an account may be
//! made meanwhile); the caller falls back to `RAID_DEFAULT_JIRA_QRAFT_USER_ID`.

use chrono::Utc;
use firefighter_core::plugin::SchemaRegistration;
use firefighter_core::register_schema;
use firefighter_core::store::DatabasePool;
use firefighter_core::{User, UserId};

use crate::models::JiraUser;
use crate::{Error, JiraClient, Result};

/// Runs the crate's migrations (its own migrations table).
pub async fn migrate(pool: DatabasePool) -> Result<()> {
    Ok(firefighter_core::migrate_integration!(&pool, "_ff_jira_migrations").await?)
}

register_schema!(SchemaRegistration {
    name: "jira",
    migrate: |pool| Box::pin(async move {
        migrate(pool)
            .await
            .map_err(|e| firefighter_core::Error::Config(format!("Jira tables: {e}")))
    }),
});

/// The table `jira_users`.
#[derive(Debug, Clone)]
pub struct JiraUserStore {
    pool: DatabasePool,
    writer: DatabasePool,
}

impl JiraUserStore {
    /// The table on a core store's database (its writes queued with core's).
    pub fn of(store: &dyn firefighter_core::Store) -> Result<JiraUserStore> {
        match (store.database(), store.write_database()) {
            (Some(pool), Some(writer)) => Ok(JiraUserStore { pool, writer }),
            _ => Err(Error::Config(
                "the Jira user mapping needs core's SQL store (SQLite or PostgreSQL)".into(),
            )),
        }
    }

    /// The Jira account of a user, when known.
    pub async fn account(&self, user: UserId) -> Result<Option<String>> {
        let sql = "SELECT account_id FROM jira_users WHERE user_id = $1";
        let row: Option<(String,)> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(user.to_string()).fetch_optional(p).await?
        });
        Ok(row.map(|r| r.0))
    }

    /// The user of a Jira account, when mapped.
    pub async fn user_of(&self, account_id: &str) -> Result<Option<UserId>> {
        let sql = "SELECT user_id FROM jira_users WHERE account_id = $1";
        let row: Option<(String,)> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(account_id.to_owned()).fetch_optional(p).await?
        });
        Ok(row.and_then(|r| r.0.parse().ok()))
    }

    /// Records the Jira account of a user (replacing an older one).
    pub async fn set_account(&self, user: UserId, email: &str, account_id: &str) -> Result<()> {
        let sql = "INSERT INTO jira_users (user_id, email, account_id, created_at) \
                   VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, \
                   account_id = excluded.account_id";
        firefighter_core::on_pool!(&self.writer, p => {
            sqlx::query(sql)
                .bind(user.to_string())
                .bind(email.to_owned())
                .bind(account_id.to_owned())
                .bind(Utc::now())
                .execute(p)
                .await?;
        });
        Ok(())
    }
}

/// Among users found for `email`, the person's: the one with this e-mail,
/// else the one with its local part (FireFighter's rule), else the only
/// one found (Jira hides e-mails by the account's privacy settings).
pub fn pick<'a>(found: &'a [JiraUser], email: &str) -> Option<&'a JiraUser> {
    let found: Vec<&JiraUser> = found.iter().filter(|u| u.active).collect();
    let email = email.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    let address = |u: &JiraUser| u.email_address.as_deref().map(str::to_lowercase);
    found
        .iter()
        .find(|u| address(u).as_deref() == Some(email.as_str()))
        .or_else(|| {
            found
                .iter()
                .find(|u| address(u).is_some_and(|a| a.split('@').next() == Some(local)))
        })
        .or_else(|| (found.len() == 1 && found[0].email_address.is_none()).then(|| &found[0]))
        .copied()
}

/// The Jira account of `user`: from the table, else looked up by e-mail
/// (and recorded); `None` when Jira has none.
pub async fn account_of(
    client: &JiraClient,
    users: &JiraUserStore,
    user: &User,
) -> Result<Option<String>> {
    if let Some(account) = users.account(user.id).await? {
        return Ok(Some(account));
    }
    if user.email.trim().is_empty() {
        return Ok(None);
    }
    let found = client.search_users(&user.email).await?;
    let Some(account) = pick(&found, &user.email) else {
        return Ok(None);
    };
    users
        .set_account(user.id, &user.email, &account.account_id)
        .await?;
    Ok(Some(account.account_id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: Option<&str>) -> JiraUser {
        JiraUser {
            account_id: id.into(),
            email_address: email.map(str::to_owned),
            display_name: None,
            active: true,
        }
    }

    #[test]
    fn the_person_is_picked_by_email_then_local_part() {
        let found = [
            user("a", Some("jane.doe@other.com")),
            user("b", Some("Jane@Example.com")),
        ];
        assert_eq!(pick(&found, "jane@example.com").unwrap().account_id, "b");
        let found = [user("a", Some("jane@other.com")), user("c", Some("x@y"))];
        assert_eq!(pick(&found, "jane@example.com").unwrap().account_id, "a");
        assert_eq!(
            pick(&[user("h", None)], "jane@example.com")
                .unwrap()
                .account_id,
            "h"
        );
        assert!(pick(&[user("h", None), user("i", None)], "jane@example.com").is_none());
        assert!(pick(&[user("z", Some("zed@example.com"))], "jane@example.com").is_none());
    }
}
