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
