//! [`TaskStore`] on both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::store::TaskStore;
use crate::task::{Schedule, TaskRun, TaskSchedule};
use crate::{Error, Result};

use super::{convert::*, rows::*};

/// Implements [`TaskStore`] for a backend.
macro_rules! task_sql {
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
            pub(super) async fn task_exists(&self, name: &str) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_schedules WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n > 0)
            }
        }

        #[async_trait]
        impl TaskStore for $Store {
            async fn ensure_task<'a>(
                &self,
                name: &str,
                default: Option<&'a Schedule>,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO task_schedules (name, enabled, schedule, next_run_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(default.is_some())
                .bind(default.map(Json))
                .bind(next_run_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn task_schedules(&self) -> Result<Vec<TaskSchedule>> {
                let rows: Vec<TaskScheduleRow> = sqlx::query_as(
                    "SELECT name, enabled, schedule, next_run_at, lease_owner, lease_until FROM task_schedules ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(task_schedule_from_row).collect()
            }

            async fn set_task_schedule<'a>(
                &self,
                name: &str,
                enabled: bool,
                schedule: Option<&'a Schedule>,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                let done =
                    sqlx::query("UPDATE task_schedules SET enabled = $1, schedule = $2, next_run_at = $3 WHERE name = $4")
                        .bind(enabled)
                        .bind(schedule.map(Json))
                        .bind(next_run_at)
                        .bind(name)
                        .execute(&self.writer)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task", name));
                }
                Ok(())
            }

            async fn request_task_run(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query("UPDATE task_schedules SET next_run_at = $1 WHERE name = $2")
                    .bind(now)
                    .bind(name)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task", name));
                }
                Ok(())
            }

            async fn acquire_task_lease(
                &self,
                name: &str,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query(
                    // Free: never leased, expired, or its owner presumed dead (its heartbeat stopped).
                    "UPDATE task_schedules SET lease_owner = $1, lease_until = $2 WHERE name = $3 \
                     AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $4 \
                     OR lease_owner IN (SELECT id FROM instances WHERE heartbeat_at < $5))",
                )
                .bind(owner)
                .bind(lease_until)
                .bind(name)
                .bind(now)
                .bind(crate::instance::presumed_dead_before(now))
                .execute(&self.writer)
                .await?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                if !self.task_exists(name).await? {
                    return Err(Error::not_found("task", name));
                }
                Ok(false)
            }

            async fn release_task_lease(
                &self,
                name: &str,
                owner: &str,
                next_run_at: Option<DateTime<Utc>>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE task_schedules SET lease_owner = NULL, lease_until = NULL, next_run_at = $1 \
                     WHERE name = $2 AND lease_owner = $3",
                )
                .bind(next_run_at)
                .bind(name)
                .bind(owner)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn start_task_run(&self, name: &str, trigger: &str, now: DateTime<Utc>) -> Result<i64> {
                let id: i64 =
                    sqlx::query_scalar("INSERT INTO task_runs (task, trigger, started_at) VALUES ($1, $2, $3) RETURNING id")
                        .bind(name)
                        .bind(trigger)
                        .bind(now)
                        .fetch_one(&self.writer)
                        .await?;
                Ok(id)
            }

            async fn finish_task_run<'a>(
                &self,
                id: i64,
                now: DateTime<Utc>,
                error: Option<&'a str>,
                summary: Option<&'a str>,
            ) -> Result<()> {
                let done = sqlx::query("UPDATE task_runs SET finished_at = $1, error = $2, summary = $3 WHERE id = $4")
                    .bind(now)
                    .bind(error)
                    .bind(summary)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("task run", id));
                }
                Ok(())
            }

            async fn task_runs<'a>(&self, name: Option<&'a str>, limit: u32) -> Result<Vec<TaskRun>> {
                let rows: Vec<TaskRunRow> = match name {
                    Some(name) => {
                        sqlx::query_as(
                            "SELECT id, task, trigger, started_at, finished_at, error, summary FROM task_runs \
                             WHERE task = $1 ORDER BY id DESC LIMIT $2",
                        )
                        .bind(name)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(
                            "SELECT id, task, trigger, started_at, finished_at, error, summary FROM task_runs \
                             ORDER BY id DESC LIMIT $1",
                        )
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                Ok(rows.into_iter().map(task_run_from_row).collect())
            }
        }
    };
}

for_each_backend!(task_sql);
