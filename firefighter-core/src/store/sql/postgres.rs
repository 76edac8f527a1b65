//! The PostgreSQL backend: connecting and the pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::store::{Declared, NewIncidentRecord};
use crate::{Error, Result};

/// The PostgreSQL backend, for several instances sharing one database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) pool: sqlx::PgPool,
    /// The same pool: PostgreSQL locks rows, not the database.
    pub(super) writer: sqlx::PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://...`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (migrations are not run).
    pub fn from_pool(pool: sqlx::PgPool) -> Self {
        PgStore {
            writer: pool.clone(),
            pool,
        }
    }

    /// Writes a declaration (PostgreSQL has concurrent writers: in place).
    pub(super) async fn write_declaration(
        &self,
        record: Arc<NewIncidentRecord>,
    ) -> Result<Result<Declared>> {
        Ok(self.declare_in_tx(&record).await)
    }

    /// Runs a write transaction (PostgreSQL has concurrent writers: in place).
    pub(super) async fn on_writer<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        Ok(work.await)
    }

    /// The current versions: one query.
    pub(super) async fn current_data_versions(&self) -> Result<crate::store::DataVersions> {
        self.query_data_versions().await
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// PostgreSQL has concurrent writers: the pool.
    pub(super) fn writer_pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

/// Liveness locks on PostgreSQL: a session advisory lock per instance, held
/// on a connection of its own for the life of the process (the server
/// releases it when that connection goes, as it does when the process dies).
impl PgStore {
    fn liveness_key(instance: &str) -> i64 {
        // FNV-1a: stable across processes and versions.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in instance.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash as i64
    }

    pub(super) async fn take_liveness_lock(
        &self,
        instance: &str,
    ) -> Result<Option<crate::store::LivenessHold>> {
        let mut conn = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(Self::liveness_key(instance))
            .fetch_one(&mut conn)
            .await?;
        if !taken {
            tracing::warn!(
                instance,
                "this instance's liveness lock is taken; judged by its heartbeat alone"
            );
            return Ok(None);
        }
        Ok(Some(crate::store::LivenessHold(Box::new(conn))))
    }

    /// The advisory lock lasts as long as its session: the connection must
    /// still answer. (A transaction-mode pooler between us and PostgreSQL
    /// would break session locks; connect directly, or through a session pooler.)
    pub(super) async fn still_holds(hold: &mut crate::store::LivenessHold) -> bool {
        let Some(conn) = hold.0.downcast_mut::<sqlx::PgConnection>() else {
            return false;
        };
        sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok()
    }

    pub(super) async fn free_liveness_locks(&self, others: Vec<String>) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        let mut gone = Vec::new();
        for id in others {
            let key = Self::liveness_key(&id);
            let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            if free {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut *conn)
                    .await?;
                gone.push(id);
            }
        }
        Ok(gone)
    }
}
