//! Periodic tasks: named jobs registered by integrations (syncs, reminders,
//! exports), scheduled from the database, at most one run at a time across
//! every instance, with a run history.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// When a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every so many seconds.
    Every {
        /// Seconds between the end of a run and the next start.
        seconds: u64,
    },
    /// A cron expression (5 or 6 fields), in `TIME_ZONE`.
    Cron {
        /// The expression.
        expression: String,
    },
}

impl Schedule {
    /// Every `duration`.
    pub fn every(duration: Duration) -> Schedule {
        Schedule::Every {
            seconds: duration.as_secs().max(1),
        }
    }

    /// A validated cron schedule.
    pub fn cron(expression: &str) -> Result<Schedule> {
        croner::Cron::from_str(expression.trim()).map_err(|e| {
            Error::invalid(
                "schedule",
                format!("\"{expression}\" is not a valid cron expression: {e}"),
            )
        })?;
        Ok(Schedule::Cron {
            expression: expression.trim().to_owned(),
        })
    }

    /// Parses what a person types: a number of seconds, `30s`, `15m`, `2h`, `1d`, or a cron expression.
    pub fn parse(text: &str) -> Result<Schedule> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Error::invalid("schedule", "the schedule is empty"));
        }
        let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        if !digits.is_empty() {
            let multiplier = match unit.trim() {
                "" | "s" => Some(1),
                "m" => Some(60),
                "h" => Some(3600),
                "d" => Some(86_400),
                _ => None,
            };
            if let Some(m) = multiplier {
                let n: u64 = digits
                    .parse()
                    .map_err(|_| Error::invalid("schedule", format!("\"{t}\" is too large")))?;
                if n == 0 {
                    return Err(Error::invalid(
                        "schedule",
                        "an interval must be at least one second",
                    ));
                }
                return Ok(Schedule::Every {
                    seconds: n.saturating_mul(m),
                });
            }
        }
        Schedule::cron(t)
    }

    /// The next run strictly after `after`, in time zone `tz` for cron expressions.
    pub fn next_after(&self, after: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every { seconds } => {
                Some(after + chrono::Duration::seconds(i64::try_from(*seconds).ok()?))
            }
            Schedule::Cron { expression } => {
                let cron = croner::Cron::from_str(expression).ok()?;
                cron.find_next_occurrence(&after.with_timezone(&tz), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every { seconds } if seconds % 86_400 == 0 => {
                write!(f, "every {}d", seconds / 86_400)
            }
            Schedule::Every { seconds } if seconds % 3600 == 0 => {
                write!(f, "every {}h", seconds / 3600)
            }
            Schedule::Every { seconds } if seconds % 60 == 0 => {
                write!(f, "every {}m", seconds / 60)
            }
            Schedule::Every { seconds } => write!(f, "every {seconds}s"),
            Schedule::Cron { expression } => write!(f, "cron {expression}"),
        }
    }
}

/// A task's stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSchedule {
    /// The task's name.
    pub name: String,
    /// Whether it runs on its schedule.
    pub enabled: bool,
    /// Its schedule (`None`: only run by hand).
    pub schedule: Option<Schedule>,
    /// When it runs next.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Who runs it now.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_until: Option<DateTime<Utc>>,
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRun {
    /// Row id.
    pub id: i64,
    /// The task.
    pub task: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End (`None`: running, or the instance died).
    pub finished_at: Option<DateTime<Utc>>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// What it did, in a few words.
    pub summary: Option<String>,
}

impl TaskRun {
    /// `running`, `succeeded` or `failed`.
    pub fn outcome(&self) -> &'static str {
        match (&self.finished_at, &self.error) {
            (None, _) => "running",
            (Some(_), None) => "succeeded",
            (Some(_), Some(_)) => "failed",
        }
    }
}

/// What a run did, kept in the run history: what it counted, and a note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskReport {
    /// Counts, in the order they read best (`("applied", 3)`).
    pub counts: Vec<(String, u64)>,
    /// Anything else worth saying.
    pub note: Option<String>,
}

impl TaskReport {
    /// A report of these counts.
    pub fn counted<S: Into<String>>(counts: impl IntoIterator<Item = (S, u64)>) -> TaskReport {
        TaskReport {
            counts: counts
                .into_iter()
                .map(|(what, n)| (what.into(), n))
                .collect(),
            note: None,
        }
    }

    /// A report that is only a note.
    pub fn note(text: impl Into<String>) -> TaskReport {
        TaskReport {
            counts: Vec::new(),
            note: Some(text.into()),
        }
    }

    /// This report with a note.
    pub fn with_note(mut self, text: impl Into<String>) -> TaskReport {
        self.note = Some(text.into());
        self
    }

    /// The count of `what`, if counted.
    pub fn count(&self, what: &str) -> Option<u64> {
        self.counts.iter().find(|(w, _)| w == what).map(|(_, n)| *n)
    }
}

/// `3 applied, 0 to retry; <note>`.
impl std::fmt::Display for TaskReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        match (counts.is_empty(), &self.note) {
            (true, Some(note)) => f.write_str(note),
            (false, Some(note)) => write!(f, "{}; {note}", counts.join(", ")),
            (_, None) => f.write_str(&counts.join(", ")),
        }
    }
}

/// Why a run failed (recorded in the run history; the task runs again at its next time).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Core failed (the database, most often).
    #[error(transparent)]
    Core(#[from] Error),
    /// The task failed, for the reason given (a vendor's error, most often).
    #[error("{0}")]
    Failed(String),
}

impl TaskError {
    /// A failure with this reason.
    pub fn failed(reason: impl std::fmt::Display) -> TaskError {
        TaskError::Failed(reason.to_string())
    }
}

/// A periodic task.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait PeriodicTask: Send + Sync + 'static {
    /// Unique name (`slack.sync_users`).
    fn name(&self) -> &str;
    /// What it does.
    fn description(&self) -> &str;
    /// The schedule it gets when first seen (`None`: run by hand only).
    fn default_schedule(&self) -> Option<Schedule>;
    /// Longest expected run; the lease lasts this long.
    fn timeout(&self) -> Duration {
        Duration::from_secs(180)
    }
    /// Runs once; what it did, or why it failed.
    async fn run(&self) -> std::result::Result<TaskReport, TaskError>;
}

/// Static registration of a periodic task.
#[derive(Debug)]
pub struct TaskRegistration {
    /// The task's name.
    pub name: &'static str,
    /// Builds the task; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn PeriodicTask>,
}

inventory::collect!(TaskRegistration);

/// Names of every statically registered task, built or not (sorted). A test
/// per binary asserts the expected ones: an integration crate that is not
/// linked contributes nothing, silently.
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<TaskRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names
}

/// Registers a periodic task from any crate.
#[macro_export]
macro_rules! register_task {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_its_counts_then_its_note() {
        let report = TaskReport::counted([("applied", 3), ("parked", 0)]);
        assert_eq!(report.to_string(), "3 applied, 0 parked");
        assert_eq!(report.count("applied"), Some(3));
        assert_eq!(report.count("sent"), None);
        assert_eq!(
            report.with_note("one page skipped").to_string(),
            "3 applied, 0 parked; one page skipped"
        );
        assert_eq!(
            TaskReport::note("nothing to do").to_string(),
            "nothing to do"
        );
        assert_eq!(TaskReport::default().to_string(), "");
        assert_eq!(
            TaskError::failed("the vendor answered 503").to_string(),
            "the vendor answered 503"
        );
    }

    use chrono::TimeZone;

    #[test]
    fn parses_intervals_and_cron() {
        assert_eq!(
            Schedule::parse("90").unwrap(),
            Schedule::Every { seconds: 90 }
        );
        assert_eq!(
            Schedule::parse("15m").unwrap(),
            Schedule::Every { seconds: 900 }
        );
        assert_eq!(
            Schedule::parse("2h").unwrap(),
            Schedule::Every { seconds: 7200 }
        );
        assert!(matches!(
            Schedule::parse("0 10,15 * * 1-5").unwrap(),
            Schedule::Cron { .. }
        ));
        assert!(Schedule::parse("0s").is_err());
        assert!(Schedule::parse("every tuesday").is_err());
        assert!(Schedule::parse("").is_err());
    }

    #[test]
    fn cron_runs_in_the_configured_time_zone() {
        let s = Schedule::parse("0 10 * * *").unwrap();
        let after = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let next = s.next_after(after, chrono_tz::Europe::Paris).unwrap();
        // 10:00 in Paris is 09:00 UTC in winter.
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap());
        let every = Schedule::Every { seconds: 60 };
        assert_eq!(
            every.next_after(after, chrono_tz::UTC).unwrap(),
            after + chrono::Duration::seconds(60)
        );
    }
}

/// Runs periodic tasks on their schedules, and on demand.
#[derive(Clone)]
pub struct TaskRunner {
    store: Arc<dyn crate::Store>,
    tasks: Arc<std::collections::HashMap<String, Arc<dyn PeriodicTask>>>,
    owner: String,
    tz: chrono_tz::Tz,
    poll: Duration,
}

impl std::fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner")
            .field("owner", &self.owner)
            .field("tasks", &self.tasks.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Who started a run.
pub const TRIGGER_SCHEDULE: &str = "schedule";
/// A person (back-office, CLI) started the run.
pub const TRIGGER_MANUAL: &str = "manual";

impl TaskRunner {
    /// A runner for these tasks.
    pub fn new(
        store: Arc<dyn crate::Store>,
        tasks: &[Arc<dyn PeriodicTask>],
        tz: chrono_tz::Tz,
    ) -> TaskRunner {
        TaskRunner {
            store,
            tasks: Arc::new(
                tasks
                    .iter()
                    .map(|t| (t.name().to_owned(), t.clone()))
                    .collect(),
            ),
            owner: crate::instance::id().to_owned(),
            tz,
            poll: Duration::from_secs(1),
        }
    }

    /// The runner of an application.
    pub fn for_app(app: &crate::Firefighter) -> TaskRunner {
        TaskRunner::new(app.store().clone(), app.tasks(), app.time_zone())
    }

    /// Sets how often schedules are checked.
    pub fn with_poll(mut self, poll: Duration) -> TaskRunner {
        self.poll = poll;
        self
    }

    /// Runs one task now, whatever its schedule, unless it is already running
    /// somewhere ([`Error::Conflict`]). Returns the recorded run.
    pub async fn run_now(&self, name: &str) -> Result<TaskRun> {
        self.run(name, TRIGGER_MANUAL).await
    }

    async fn run(&self, name: &str, trigger: &str) -> Result<TaskRun> {
        let task = self
            .tasks
            .get(name)
            .ok_or_else(|| Error::not_found("task", name))?
            .clone();
        let at = crate::store::now();
        let lease = chrono::Duration::from_std(task.timeout())
            .unwrap_or(chrono::Duration::minutes(3))
            + chrono::Duration::seconds(30);
        if !self
            .store
            .acquire_task_lease(name, &self.owner, at, at + lease)
            .await?
        {
            return Err(Error::Conflict(format!("task {name} is already running")));
        }
        let run_id = self.store.start_task_run(name, trigger, at).await?;
        let outcome = tokio::time::timeout(task.timeout(), task.run()).await;
        let (error, summary) = match outcome {
            Ok(Ok(report)) => (None, Some(report.to_string())),
            Ok(Err(e)) => (Some(e.to_string()), None),
            Err(_) => (Some(format!("timed out after {:?}", task.timeout())), None),
        };
        let end = crate::store::now();
        match &error {
            None => tracing::info!(
                task = name,
                summary = summary.as_deref().unwrap_or(""),
                "task succeeded"
            ),
            Some(e) => tracing::warn!(task = name, error = %e, "task failed"),
        }
        self.store
            .finish_task_run(run_id, end, error.as_deref(), summary.as_deref())
            .await?;
        let schedule = self
            .store
            .task_schedules()
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .filter(|s| s.enabled)
            .and_then(|s| s.schedule);
        let next = schedule.and_then(|s| s.next_after(end, self.tz));
        self.store
            .release_task_lease(name, &self.owner, next)
            .await?;
        Ok(TaskRun {
            id: run_id,
            task: name.to_owned(),
            trigger: trigger.to_owned(),
            started_at: at,
            finished_at: Some(end),
            error,
            summary,
        })
    }

    /// Starts every due task (in the background) and returns their names.
    pub async fn start_due(&self) -> Result<Vec<String>> {
        let at = crate::store::now();
        let mut started = Vec::new();
        // Read only when a due task is leased: whose heartbeat stopped.
        let mut silent: Option<Vec<String>> = None;
        for schedule in self.store.task_schedules().await? {
            // Disabled tasks have no next run, unless someone asked for one.
            if schedule.next_run_at.is_none_or(|t| t > at)
                || !self.tasks.contains_key(&schedule.name)
            {
                continue;
            }
            if schedule.lease_until.is_some_and(|l| l >= at) {
                // Leased: free only if its owner is presumed dead.
                if silent.is_none() {
                    silent = Some(
                        self.store
                            .silent_instances(crate::instance::presumed_dead_before(at))
                            .await?,
                    );
                }
                let owner = schedule.lease_owner.as_deref().unwrap_or_default();
                if !silent
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|i| i == owner))
                {
                    continue;
                }
            }
            let runner = self.clone();
            let name = schedule.name.clone();
            started.push(name.clone());
            tokio::spawn(async move {
                match runner.run(&name, TRIGGER_SCHEDULE).await {
                    Ok(_) | Err(Error::Conflict(_)) => {}
                    Err(e) => tracing::error!(task = %name, error = %e, "could not run task"),
                }
            });
        }
        Ok(started)
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run_forever(self, shutdown: tokio_util::sync::CancellationToken) {
        tracing::info!(owner = %self.owner, "task runner started");
        loop {
            if let Err(e) = self.start_due().await {
                tracing::error!(error = %e, "could not read task schedules");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
        tracing::info!(owner = %self.owner, "task runner stopped");
    }
}
