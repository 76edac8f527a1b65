//! The Slack integration's own tables (see `migrations/`), on the same
//! database as core, with the same SQL for SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;

use crate::Result;

/// The migrations table of this crate (never collides with core's).
pub const MIGRATIONS_TABLE: &str = "_ff_slack_migrations";

/// Rows per multi-row insert.
const BATCH: usize = 500;

/// Runs this crate's migrations on the database.
pub async fn migrate(pool: &DatabasePool) -> Result<()> {
    match pool {
        DatabasePool::Sqlite(p) => {
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.dangerous_set_table_name(MIGRATIONS_TABLE);
            m.run(p).await?;
        }
        DatabasePool::Postgres(p) => {
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.dangerous_set_table_name(MIGRATIONS_TABLE);
            m.run(p).await?;
        }
    }
    Ok(())
}

/// Runs the same code on either pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            DatabasePool::Sqlite($pool) => $body,
            DatabasePool::Postgres($pool) => $body,
        }
    };
}

mod conversations;
mod idempotency;
mod incident_channels;
mod invitations;
mod messages;
mod sos;
mod submissions;
mod user_groups;
mod users;

pub use conversations::*;
pub use messages::*;
pub use sos::*;
pub use submissions::*;
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
