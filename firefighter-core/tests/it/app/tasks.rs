use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskReport, TaskRunner};
use firefighter_core::{Error, Firefighter};

use super::support::*;

struct Counting {
    name: &'static str,
    runs: AtomicUsize,
    fail: bool,
    pause: Duration,
    schedule: Option<Schedule>,
}

#[async_trait]
impl PeriodicTask for Counting {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "counts its runs"
    }
    fn default_schedule(&self) -> Option<Schedule> {
        self.schedule.clone()
    }
    async fn run(&self) -> Result<TaskReport, TaskError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.pause).await;
        if self.fail {
            Err(TaskError::failed("the vendor answered 500"))
        } else {
            Ok(TaskReport::note(format!("run {n}")))
        }
    }
}

fn task(
    name: &'static str,
    fail: bool,
    pause: Duration,
    schedule: Option<Schedule>,
) -> Arc<Counting> {
    Arc::new(Counting {
        name,
        runs: AtomicUsize::new(0),
        fail,
        pause,
        schedule,
    })
}

async fn app_with(tasks: &[Arc<Counting>]) -> Firefighter {
    let mut b = builder(sqlite_store().await);
    for t in tasks {
        b = b.task(t.clone());
    }
    b.build().await.unwrap()
}

#[tokio::test]
async fn run_now_records_successes_and_failures() {
    let ok = task("demo.ok", false, Duration::ZERO, None);
    let bad = task("demo.bad", true, Duration::ZERO, None);
    let app = app_with(&[ok.clone(), bad.clone()]).await;
    let runner = TaskRunner::for_app(&app);
    let run = runner.run_now("demo.ok").await.unwrap();
    assert_eq!(run.outcome(), "succeeded");
    assert_eq!(run.summary.as_deref(), Some("run 1"));
    let run = runner.run_now("demo.bad").await.unwrap();
    assert_eq!(run.outcome(), "failed");
    let history = app.store().task_runs(Some("demo.bad"), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].error.as_deref(), Some("the vendor answered 500"));
    assert!(matches!(
        runner.run_now("demo.unknown").await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn only_one_run_at_a_time_across_runners() {
    let slow = task("demo.slow", false, Duration::from_millis(300), None);
    let app = app_with(std::slice::from_ref(&slow)).await;
    let a = TaskRunner::for_app(&app);
    let b = TaskRunner::for_app(&app);
    let first = tokio::spawn(async move { a.run_now("demo.slow").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = b.run_now("demo.slow").await;
    assert!(matches!(second, Err(Error::Conflict(_))), "{second:?}");
    first.await.unwrap().unwrap();
    assert_eq!(slow.runs.load(Ordering::SeqCst), 1);
    // Free again once done.
    b.run_now("demo.slow").await.unwrap();
}

#[tokio::test]
async fn scheduled_tasks_run_when_due_and_disabled_ones_do_not() {
    let every = task(
        "demo.every",
        false,
        Duration::ZERO,
        Some(Schedule::every(Duration::from_secs(1))),
    );
    let manual = task("demo.manual", false, Duration::ZERO, None);
    let app = app_with(&[every.clone(), manual.clone()]).await;
    let schedules = app.store().task_schedules().await.unwrap();
    let by_name = |n: &str| schedules.iter().find(|s| s.name == n).unwrap().clone();
    assert!(by_name("demo.every").enabled);
    assert!(
        !by_name("demo.manual").enabled,
        "nothing is scheduled unless the task says so"
    );
    let runner = TaskRunner::for_app(&app);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = runner.start_due().await.unwrap();
    assert_eq!(started, vec!["demo.every".to_owned()]);
    for _ in 0..50 {
        if every.runs.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(every.runs.load(Ordering::SeqCst), 1);
    assert_eq!(manual.runs.load(Ordering::SeqCst), 0);

    // Disabling stops it; asking for a run starts it once.
    app.store()
        .set_task_schedule(
            "demo.every",
            false,
            Some(&Schedule::every(Duration::from_secs(1))),
            None,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(runner.start_due().await.unwrap().is_empty());
    app.store()
        .request_task_run("demo.manual", firefighter_core::store::now())
        .await
        .unwrap();
    assert_eq!(
        runner.start_due().await.unwrap(),
        vec!["demo.manual".to_owned()]
    );
}

#[tokio::test]
async fn schedules_survive_a_rebuild_and_bad_names_are_refused() {
    let store = sqlite_store().await;
    let every = task(
        "demo.every",
        false,
        Duration::ZERO,
        Some(Schedule::every(Duration::from_secs(60))),
    );
    let app = builder(store.clone())
        .task(every.clone())
        .build()
        .await
        .unwrap();
    app.store()
        .set_task_schedule(
            "demo.every",
            true,
            Some(&Schedule::parse("0 10 * * *").unwrap()),
            None,
        )
        .await
        .unwrap();
    // Building again (a restart) keeps what a person configured.
    let app = builder(store).task(every).build().await.unwrap();
    let s = app.store().task_schedules().await.unwrap();
    assert!(matches!(s[0].schedule, Some(Schedule::Cron { .. })));
    assert!(
        app.store()
            .set_task_schedule("nope", true, None, None)
            .await
            .is_err()
    );
    let dup = builder(sqlite_store().await)
        .task(task("demo.same", false, Duration::ZERO, None))
        .task(task("demo.same", false, Duration::ZERO, None))
        .build()
        .await;
    assert!(dup.is_err());
}
