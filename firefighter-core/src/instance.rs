//! This process among the instances sharing the database. Each running
//! instance beats ([`keep_alive`]) every [`HEARTBEAT`]; leases (outbox
//! deliveries, periodic tasks, inbox items) are owned by the instance's
//! [`id`], and a lease whose owner has not beaten for [`PRESUMED_DEAD_AFTER`]
//! is taken over at once rather than when it expires. An owner that never
//! beat (an embedding that does not run [`keep_alive`], a test) keeps its
//! leases until they expire, as before.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::Store;

/// How often a running instance says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Silence after which an instance is taken for dead and its leases are free.
/// Four beats: a busy database or a paused VM does not lose a live instance's work.
pub const PRESUMED_DEAD_AFTER: Duration = Duration::from_secs(20);

static ID: LazyLock<String> = LazyLock::new(|| format!("instance-{}", uuid::Uuid::now_v7()));

/// This process's instance id, the owner of every lease it takes.
pub fn id() -> &'static str {
    &ID
}

/// Heartbeats older than this, at `now`, are those of dead instances.
pub fn presumed_dead_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::from_std(PRESUMED_DEAD_AFTER).unwrap_or(chrono::Duration::seconds(20))
}

/// Beats for this instance until `shutdown` is cancelled, then says it
/// stopped, so its leases (none, once its workers have finished) are free.
///
/// While it runs it also holds this process's liveness lock
/// ([`crate::store::DatabaseStore::hold_liveness`]) and, at each beat, probes
/// the locks of the other instances that hold one, every second: an instance
/// that has not beaten for 7.5 s and whose lock is free died (a `kill -9`, a
/// crash), and what it held is taken over then instead of after
/// [`PRESUMED_DEAD_AFTER`] of silence.
pub async fn keep_alive(store: Arc<dyn Store>, shutdown: CancellationToken) {
    let started = crate::store::now();
    let mut hold: Option<crate::store::LivenessHold> = None;
    let mut last_beat: Option<std::time::Instant> = None;
    loop {
        let now = crate::store::now();
        if last_beat.is_none_or(|at| at.elapsed() >= HEARTBEAT) {
            last_beat = Some(std::time::Instant::now());
            beat(store.as_ref(), started, now, &mut hold).await;
        }
        take_over_gone(store.as_ref(), now).await;
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
    if let Err(e) = store.instance_stopped(id()).await {
        tracing::warn!(error = %e, "could not record that this instance stopped");
    }
    drop(hold);
}

/// How often the other instances' liveness locks are probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// An instance is only judged by its lock once it has not beaten for this
/// long: one that just lost its lock's connection takes it again at its next beat.
const QUIET_BEFORE_PROBED: Duration = Duration::from_millis(7_500);

/// One heartbeat, keeping this process's liveness lock (taken again if lost).
async fn beat(
    store: &dyn Store,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    hold: &mut Option<crate::store::LivenessHold>,
) {
    if let Some(h) = hold.as_mut()
        && !store.liveness_held(h).await
    {
        tracing::warn!("this instance lost its liveness lock; taking it again");
        *hold = None;
        if let Err(e) = store.instance_holds_lock(id(), false).await {
            tracing::warn!(error = %e, "could not record that this instance lost its liveness lock");
        }
    }
    if let Err(e) = store.instance_alive(id(), started, now).await {
        // Missing beats only make others take over this instance's work sooner.
        tracing::warn!(error = %e, "could not record this instance's heartbeat");
        return;
    }
    if hold.is_none() {
        match store.hold_liveness(id()).await {
            Ok(Some(h)) => match store.instance_holds_lock(id(), true).await {
                Ok(()) => *hold = Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "could not record this instance's liveness lock")
                }
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not take this instance's liveness lock"),
        }
    }
}

/// Marks the instances whose liveness lock is free as gone.
async fn take_over_gone(store: &dyn Store, now: DateTime<Utc>) {
    let dead = presumed_dead_before(now);
    let quiet = now - chrono::Duration::from_std(QUIET_BEFORE_PROBED).unwrap_or_default();
    match store.gone_instances(id(), dead, quiet).await {
        Ok(gone) if !gone.is_empty() => {
            let at = dead - chrono::Duration::seconds(1);
            match store.instances_gone(&gone, at).await {
                Ok(()) => {
                    tracing::info!(instances = ?gone, "instances gone (their liveness lock is free): their work is taken over now")
                }
                Err(e) => tracing::warn!(error = %e, "could not record gone instances"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not probe the other instances"),
    }
}
