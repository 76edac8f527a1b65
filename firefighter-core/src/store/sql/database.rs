//! [`DatabaseStore`] on both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::store::{DataVersions, DatabasePool, DatabaseStore, LivenessHold};

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
        impl $Store {
            /// The [`DataVersions`] as the database has them now, in one query.
            pub(super) async fn query_data_versions(&self) -> Result<DataVersions> {
                let (data, reference, access): (i64, i64, i64) = sqlx::query_as(super::DATA_VERSIONS_QUERY)
                .fetch_one(&self.pool)
                .await?;
                Ok(DataVersions { data, reference, access })
            }
        }

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
                self.current_data_versions().await
            }

            async fn instance_alive(
                &self,
                instance: &str,
                started: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                )
                .bind(instance)
                .bind(started)
                .bind(now)
                .execute(&self.writer)
                .await?;
                // Instances silent for a day are gone for good.
                sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
                    .bind(now - chrono::Duration::days(1))
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn instance_stopped(&self, instance: &str) -> Result<()> {
                // The epoch: silent for ever, so whatever it held is free now.
                sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE id = $2")
                    .bind(DateTime::<Utc>::UNIX_EPOCH)
                    .bind(instance)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn hold_liveness(&self, instance: &str) -> Result<Option<LivenessHold>> {
                self.take_liveness_lock(instance).await
            }

            async fn liveness_held(&self, hold: &mut LivenessHold) -> bool {
                Self::still_holds(hold).await
            }

            async fn instance_holds_lock(&self, instance: &str, holds: bool) -> Result<()> {
                sqlx::query("UPDATE instances SET holds_lock = $1 WHERE id = $2")
                    .bind(holds)
                    .bind(instance)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn gone_instances(
                &self,
                me: &str,
                since: DateTime<Utc>,
                quiet_since: DateTime<Utc>,
            ) -> Result<Vec<String>> {
                let others: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM instances WHERE id <> $1 AND holds_lock \
                     AND heartbeat_at >= $2 AND heartbeat_at < $3 ORDER BY id",
                )
                .bind(me)
                .bind(since)
                .bind(quiet_since)
                .fetch_all(&self.pool)
                .await?;
                if others.is_empty() {
                    return Ok(others);
                }
                self.free_liveness_locks(others).await
            }

            async fn instances_gone(&self, ids: &[String], at: DateTime<Utc>) -> Result<()> {
                // Just past the silence window, not the epoch: the row stays a
                // day, as long as a lease could still name it.
                for id in ids {
                    sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE id = $2 AND heartbeat_at > $1")
                        .bind(at)
                        .bind(id)
                        .execute(&self.writer)
                        .await?;
                }
                Ok(())
            }

            async fn silent_instances(&self, before: DateTime<Utc>) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT id FROM instances WHERE heartbeat_at < $1 ORDER BY id")
                    .bind(before)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}

for_each_backend!(database_sql);
