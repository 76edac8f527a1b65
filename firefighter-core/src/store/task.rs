//! Periodic tasks: schedules, leases and the record of runs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::task::{Schedule, TaskRun, TaskSchedule};

/// Periodic task schedules, their leases (one runner at a time) and their runs.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait TaskStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates the schedule row of a task if missing (keeps an existing one).
    async fn ensure_task<'a>(
        &self,
        name: &str,
        default: Option<&'a Schedule>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Every task schedule.
    async fn task_schedules(&self) -> Result<Vec<TaskSchedule>>;
    /// Changes a task's schedule and enabled flag.
    async fn set_task_schedule<'a>(
        &self,
        name: &str,
        enabled: bool,
        schedule: Option<&'a Schedule>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Asks for a run as soon as possible.
    async fn request_task_run(&self, name: &str, now: DateTime<Utc>) -> Result<()>;
    /// Takes the task's lease if free (or expired); false when someone holds it.
    async fn acquire_task_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Releases the lease and sets the next run.
    async fn release_task_lease(
        &self,
        name: &str,
        owner: &str,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// Records the start of a run; returns its id.
    async fn start_task_run(&self, name: &str, trigger: &str, now: DateTime<Utc>) -> Result<i64>;
    /// Records the end of a run.
    async fn finish_task_run<'a>(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: Option<&'a str>,
        summary: Option<&'a str>,
    ) -> Result<()>;
    /// The latest runs of a task (or of all tasks), newest first.
    async fn task_runs<'a>(&self, name: Option<&'a str>, limit: u32) -> Result<Vec<TaskRun>>;
}
