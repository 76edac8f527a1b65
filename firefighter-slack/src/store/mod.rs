//! The Slack integration's own tables (see `migrations/`), on the same
//! database as core, with the same SQL for SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;

use crate::Result;

/// The migrations table of this crate (never collides with core's).
pub const MIGRATIONS_TABLE: &str = "_ff_slack_migrations";

/// Rows per multi-row insert.
const BATCH: usize = 500;

/// Runs this crate's migrations on the database, after core's (a
/// connected store has run them): they move rows into core's `inbox`.
pub async fn migrate(pool: &DatabasePool) -> Result<()> {
    Ok(firefighter_core::migrate_integration!(pool, MIGRATIONS_TABLE).await?)
}

/// Runs the same code on either pool of a store (core's `on_pool!`), on
/// the writer: on SQLite a write through a reading connection polls the
/// database lock with sleeps (tens to hundreds of milliseconds under load)
/// and makes core's writer, declarations included, poll behind it.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        firefighter_core::on_pool!(&$store.writer, $pool => $body)
    };
}

mod conversations;
mod idempotency;
mod incident_channels;
mod invitations;
mod messages;
mod sos;
mod user_groups;
mod users;

pub use conversations::*;
pub use messages::*;
pub use sos::*;
pub use user_groups::*;
pub use users::*;

/// The Slack tables.
#[derive(Debug, Clone)]
pub struct SlackStore {
    pool: DatabasePool,
    /// Where latency-sensitive writes go (core's writer on SQLite).
    writer: DatabasePool,
}

fn now() -> DateTime<Utc> {
    firefighter_core::store::now()
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

impl SlackStore {
    /// The tables on this database (run [`migrate`] first).
    pub fn new(pool: DatabasePool) -> SlackStore {
        SlackStore {
            writer: pool.clone(),
            pool,
        }
    }

    /// The tables, with writes on the acknowledgement path queued on
    /// `writer` (see `Store::write_database`).
    pub(crate) fn with_writer(pool: DatabasePool, writer: DatabasePool) -> SlackStore {
        SlackStore { pool, writer }
    }

    /// The database.
    pub fn pool(&self) -> &DatabasePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submission left unfinished by a version that kept them in
    /// `slack_submissions` is in core's inbox after the upgrade, as it was.
    #[tokio::test]
    async fn upgrading_moves_waiting_submissions_into_cores_inbox() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        firefighter_core::store::SqliteStore::from_pool(pool.clone())
            .migrate()
            .await
            .unwrap();
        // This crate as it was before the inbox: its first two migrations.
        let mut before = sqlx::migrate!("./migrations/sqlite");
        before.migrations = before
            .migrations
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        before.dangerous_set_table_name(MIGRATIONS_TABLE);
        before.run(&pool).await.unwrap();
        let (waiting, done) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let created = now() - chrono::Duration::minutes(3);
        for (id, done_at) in [(waiting, None), (done, Some(created))] {
            sqlx::query(
                "INSERT INTO slack_submissions (id, kind, payload, slack_user, created_at, attempts, \
                 next_attempt_at, claimed_until, claim_token, last_error, done_at) \
                 VALUES ($1, 'update', '{}', 'UJANE', $2, 2, $2, $2, $3, 'busy', $4)",
            )
            .bind(id)
            .bind(created)
            .bind(uuid::Uuid::new_v4())
            .bind(done_at)
            .execute(&pool)
            .await
            .unwrap();
        }

        migrate(&DatabasePool::Sqlite(pool.clone())).await.unwrap();

        let moved: Vec<(uuid::Uuid, String, String, i32, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, source, actor, attempts, last_error, done_at IS NOT NULL FROM inbox ORDER BY done_at IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            moved,
            vec![
                (
                    waiting,
                    "slack".into(),
                    "UJANE".into(),
                    2,
                    Some("busy".into()),
                    false
                ),
                (
                    done,
                    "slack".into(),
                    "UJANE".into(),
                    2,
                    Some("busy".into()),
                    true
                ),
            ]
        );
        let old: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'slack_submissions'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(old, 0);
    }
}
