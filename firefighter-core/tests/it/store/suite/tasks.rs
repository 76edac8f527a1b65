//! Periodic tasks: schedules, leases, runs.

use super::*;

pub(crate) async fn task_schedules_leases_and_runs(store: S) {
    let every = Schedule::Every { seconds: 60 };
    let cron = Schedule::cron("0 10 * * 1-5").unwrap();
    store
        .ensure_task("slack.sync_users", Some(&every), Some(at(60)))
        .await
        .unwrap();
    // An existing row is kept as it is.
    store
        .ensure_task("slack.sync_users", Some(&cron), None)
        .await
        .unwrap();
    store.ensure_task("export", None, None).await.unwrap();
    let schedules = store.task_schedules().await.unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(
        (
            schedules[0].name.as_str(),
            schedules[0].enabled,
            schedules[0].schedule.clone(),
            schedules[0].next_run_at
        ),
        ("export", false, None, None)
    );
    assert_eq!(
        (
            schedules[1].name.as_str(),
            schedules[1].enabled,
            schedules[1].schedule.clone(),
            schedules[1].next_run_at
        ),
        ("slack.sync_users", true, Some(every.clone()), Some(at(60)))
    );

    store
        .set_task_schedule("export", true, Some(&cron), Some(at(500)))
        .await
        .unwrap();
    let export = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (export.enabled, export.schedule, export.next_run_at),
        (true, Some(cron), Some(at(500)))
    );
    assert!(matches!(
        store
            .set_task_schedule("nope", true, None, None)
            .await
            .unwrap_err(),
        Error::NotFound { what: "task", .. }
    ));
    store.request_task_run("export", at(5)).await.unwrap();
    assert_eq!(
        store.task_schedules().await.unwrap()[0].next_run_at,
        Some(at(5))
    );
    assert!(matches!(
        store.request_task_run("nope", at(5)).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    // Leases: one holder at a time, taken over once expired.
    assert!(
        store
            .acquire_task_lease("export", "a", at(10), at(70))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_task_lease("export", "b", at(20), at(80))
            .await
            .unwrap()
    );
    let held = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (held.lease_owner.as_deref(), held.lease_until),
        (Some("a"), Some(at(70)))
    );
    assert!(
        store
            .acquire_task_lease("export", "b", at(71), at(131))
            .await
            .unwrap()
    );
    // A's late release does nothing.
    store
        .release_task_lease("export", "a", Some(at(999)))
        .await
        .unwrap();
    let held = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (held.lease_owner.as_deref(), held.next_run_at),
        (Some("b"), Some(at(5)))
    );
    store
        .release_task_lease("export", "b", Some(at(600)))
        .await
        .unwrap();
    let released = store.task_schedules().await.unwrap().remove(0);
    assert_eq!(
        (
            released.lease_owner,
            released.lease_until,
            released.next_run_at
        ),
        (None, None, Some(at(600)))
    );
    assert!(
        store
            .acquire_task_lease("export", "c", at(72), at(100))
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .acquire_task_lease("nope", "a", at(0), at(1))
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));

    // Run history, newest first.
    let r1 = store
        .start_task_run("export", "schedule", at(100))
        .await
        .unwrap();
    store
        .finish_task_run(r1, at(110), Some("S3 is down"), None)
        .await
        .unwrap();
    let r2 = store
        .start_task_run("export", "manual", at(200))
        .await
        .unwrap();
    let r3 = store
        .start_task_run("slack.sync_users", "schedule", at(300))
        .await
        .unwrap();
    store
        .finish_task_run(r3, at(301), None, Some("12 users synced"))
        .await
        .unwrap();
    let runs = store.task_runs(Some("export"), 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2, r1]);
    assert_eq!(runs[0].outcome(), "running");
    assert_eq!(runs[1].outcome(), "failed");
    assert_eq!(runs[1].error.as_deref(), Some("S3 is down"));
    assert_eq!(
        (runs[1].started_at, runs[1].finished_at),
        (at(100), Some(at(110)))
    );
    let latest = store.task_runs(None, 1).await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (
            latest[0].id,
            latest[0].outcome(),
            latest[0].summary.as_deref()
        ),
        (r3, "succeeded", Some("12 users synced"))
    );
    assert!(matches!(
        store
            .finish_task_run(999_999, at(1), None, None)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));
}
