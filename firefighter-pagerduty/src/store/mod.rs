//! The integration's tables (see `migrations/`), on SQLite or PostgreSQL.
//!
//! Every query is written once: `on_pool!` expands its body for each backend
//! (`$N` placeholders, `ON CONFLICT` and `excluded` work on both). Every
//! write method is one transaction: a reader sees the roster before a sync
//! or after it, never half of it. One file per table group; the sync
//! bookkeeping (`pd_syncs`) stays here.

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;

use crate::Result;

/// Rows per multi-row `INSERT` (far below both databases' parameter limits).
const CHUNK: usize = 400;

/// Expands `$body` once per backend (core's `on_pool!`), with `$pool` the
/// pool, `$Db` the database type and `$begin` the statement opening a write
/// transaction (SQLite takes the write lock up front so it never fails midway with BUSY).
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $Db:ident, $begin:ident| $body:block) => {
        firefighter_core::on_pool!(&$store.pool, |$pool, $Db, $begin| $body)
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

mod oncalls;
mod pages;
mod services;
mod users;

pub(crate) use oncalls::{OncallRecord, OncallSnapshot, PolicyRecord, RosterRow, ScheduleRecord};
pub(crate) use pages::{NewPageRow, PageRow, SentPage};
pub(crate) use services::{ServiceRecord, ServiceRow};
pub(crate) use users::{TeamRecord, UserRecord, UserSnapshot};

/// Access to the integration's tables.
#[derive(Debug, Clone)]
pub(crate) struct PagerDutyStore {
    pool: DatabasePool,
}

/// Runs the integration's migrations (its own migrations table).
pub(crate) async fn migrate(pool: DatabasePool) -> Result<()> {
    Ok(firefighter_core::migrate_integration!(&pool, "_ff_pagerduty_migrations").await?)
}

impl PagerDutyStore {
    /// The store on a core database.
    pub(crate) fn new(pool: DatabasePool) -> PagerDutyStore {
        PagerDutyStore { pool }
    }

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
}
