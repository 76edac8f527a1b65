//! [`DatabaseStore`] on both backends.

use async_trait::async_trait;

use crate::Result;
use crate::store::{DataVersions, DatabasePool, DatabaseStore};

/// Implements [`DatabaseStore`] for a backend.
macro_rules! database_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        #[async_trait]
        impl DatabaseStore for $Store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn database(&self) -> Option<DatabasePool> {
                Some(DatabasePool::from(self.pool.clone()))
            }

            fn write_database(&self) -> Option<DatabasePool> {
                Some(DatabasePool::from(self.writer_pool().clone()))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn data_versions(&self) -> Result<DataVersions> {
                let (data, reference, access): (i64, i64, i64) = sqlx::query_as(
                    "SELECT data_version, reference_version, access_version FROM data_versions WHERE id = 1",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(DataVersions { data, reference, access })
            }
        }
    };
}

for_each_backend!(database_sql);
