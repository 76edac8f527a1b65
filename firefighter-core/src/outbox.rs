//! The outbox dispatcher: delivers every committed event to every handler at
//! least once, with exponential backoff, honouring a handler's retry-after
//! hint. Deliveries are leased, so several instances sharing a PostgreSQL
//! database split the work, and a crashed instance's deliveries are taken
//! over when its lease expires.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::event::{Delivery, HandlerError};
use crate::store::now;
use crate::{EventHandler, Result, Store};

/// The longest retry-after hint honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Dispatcher tuning.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Who holds the leases it takes: this instance ([`crate::instance::id`]) by default.
    pub owner: String,
    /// How long a claimed delivery stays reserved; a handler must finish within it.
    pub lease: Duration,
    /// Deliveries claimed at once.
    pub batch: u32,
    /// How often to look for due deliveries when nothing wakes the dispatcher.
    pub poll: Duration,
    /// How long to let commits gather after one wakes the dispatcher, so
    /// that under load one claim (a write on SQLite's single writer, which
    /// declarations wait for) takes the deliveries of several commits.
    pub gather: Duration,
    /// First retry delay.
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Attempts before a delivery is parked as failed.
    pub max_attempts: u32,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            owner: crate::instance::id().to_owned(),
            lease: Duration::from_secs(120),
            batch: 32,
            poll: Duration::from_secs(1),
            gather: Duration::from_millis(10),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(900),
            max_attempts: 25,
        }
    }
}

/// Delivers outbox events to handlers.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    handlers: Arc<HashMap<String, Arc<dyn EventHandler>>>,
    /// The handlers' names: what this dispatcher claims.
    handler_names: Arc<[String]>,
    config: DispatcherConfig,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.config.owner)
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Delivered.
    pub delivered: usize,
    /// Failed and scheduled again.
    pub retried: usize,
    /// Failed and parked.
    pub parked: usize,
}

impl Dispatcher {
    /// A dispatcher for these handlers.
    pub fn new(
        store: Arc<dyn Store>,
        handlers: &[Arc<dyn EventHandler>],
        config: DispatcherConfig,
        wake: Arc<Notify>,
    ) -> Dispatcher {
        let mut handler_names: Vec<String> = handlers.iter().map(|h| h.name().to_owned()).collect();
        handler_names.sort_unstable();
        handler_names.dedup();
        Dispatcher {
            store,
            handlers: Arc::new(
                handlers
                    .iter()
                    .map(|h| (h.name().to_owned(), h.clone()))
                    .collect(),
            ),
            handler_names: handler_names.into(),
            config,
            wake,
        }
    }

    /// The dispatcher of an application, tuned from its settings.
    pub fn for_app(app: &crate::Firefighter) -> Dispatcher {
        let config = DispatcherConfig {
            max_backoff: Duration::from_secs(app.settings().outbox_max_backoff_secs.max(1)),
            max_attempts: app.settings().outbox_max_attempts.max(1),
            ..DispatcherConfig::default()
        };
        Dispatcher::new(
            app.store().clone(),
            app.event_handlers(),
            config,
            app.outbox_signal(),
        )
    }

    /// The delay before attempt `attempt + 1`, after `attempt` failures.
    pub fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            // The handler (a vendor's Retry-After) knows best, within reason.
            return hint.min(MAX_RETRY_AFTER);
        }
        let exp = self
            .config
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let capped = exp.min(self.config.max_backoff);
        // ±20 % jitter so retries of many deliveries do not arrive together.
        let jitter = rand::rng().random_range(0.8..=1.2);
        capped.mul_f64(jitter).min(self.config.max_backoff)
    }

    /// Claims due deliveries and handles them (concurrently). Returns what it did.
    pub async fn run_once(&self) -> Result<PassReport> {
        let at = now();
        let lease_until = at
            + chrono::Duration::from_std(self.config.lease)
                .unwrap_or(chrono::Duration::seconds(120));
        // Only deliveries this instance can handle.
        let claimed = self
            .store
            .claim_deliveries_for(
                &self.config.owner,
                at,
                lease_until,
                self.config.batch,
                Some(self.handler_names.clone()),
            )
            .await?;
        let mut report = PassReport {
            claimed: claimed.len(),
            ..PassReport::default()
        };
        // Handled deliveries are marked done as their handlers finish, those
        // finishing within `gather` of each other in one write (a write each
        // would hold SQLite's single writer, which declarations wait for),
        // so a slow handler never holds back the others' completion.
        // Handlers and completions are polled side by side: a handler paused
        // inside a write keeps going while a completion waits for the writer.
        let (report_outcome, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        let handle_all = async move {
            futures::future::join_all(claimed.into_iter().map(|d| {
                let report_outcome = report_outcome.clone();
                async move {
                    let _ = report_outcome.send(self.deliver(d).await);
                }
            }))
            .await;
        };
        let mut first_error = None;
        let complete_all = async {
            while let Some(outcome) = outcomes.recv().await {
                let mut together = vec![outcome];
                // Others finishing meanwhile share the write.
                tokio::time::sleep(self.config.gather).await;
                while let Ok(more) = outcomes.try_recv() {
                    together.push(more);
                }
                let mut delivered = Vec::new();
                for outcome in together {
                    match outcome {
                        Ok(Outcome::Delivered(id)) => delivered.push(id),
                        Ok(Outcome::Retried) => report.retried += 1,
                        Ok(Outcome::Parked) => report.parked += 1,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                if delivered.is_empty() {
                    continue;
                }
                report.delivered += delivered.len();
                match self
                    .store
                    .complete_deliveries(&delivered, &self.config.owner, now())
                    .await
                {
                    Ok(done) => {
                        for id in delivered.iter().filter(|id| !done.contains(id)) {
                            tracing::warn!(
                                delivery = id,
                                "delivery finished after its lease expired; another dispatcher may run it again"
                            );
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        };
        tokio::join!(handle_all, complete_all);
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(report)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<Outcome> {
        let result = match self.handlers.get(&delivery.handler) {
            Some(handler) => {
                let fut = handler.handle(&delivery);
                match tokio::time::timeout(self.config.lease, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(HandlerError::retry(format!(
                        "the handler took longer than its lease ({:?})",
                        self.config.lease
                    ))),
                }
            }
            // Claims name only this dispatcher's handlers, so this is a bug
            // elsewhere; left for another instance rather than parked.
            None => Err(HandlerError::Retry {
                message: format!(
                    "no handler named {} runs in this instance",
                    delivery.handler
                ),
                retry_after: Some(Duration::from_secs(60)),
            }),
        };
        match result {
            // Marked done with the rest of the pass (see `run_once`).
            Ok(()) => Ok(Outcome::Delivered(delivery.id)),
            Err(err) => {
                let (message, retry_at) = match &err {
                    HandlerError::Permanent(m) => (m.clone(), None),
                    HandlerError::Retry {
                        message,
                        retry_after,
                    } if delivery.attempt < self.config.max_attempts => {
                        let delay = self.backoff(delivery.attempt, *retry_after);
                        (message.clone(), Some(at_plus(now(), delay)))
                    }
                    HandlerError::Retry { message, .. } => (
                        format!("{message} (gave up after {} attempts)", delivery.attempt),
                        None,
                    ),
                };
                tracing::warn!(
                    delivery = delivery.id,
                    event = delivery.event.id,
                    handler = %delivery.handler,
                    attempt = delivery.attempt,
                    error = %message,
                    retry_at = ?retry_at,
                    "event delivery failed"
                );
                self.store
                    .fail_delivery(delivery.id, &self.config.owner, &message, retry_at)
                    .await?;
                Ok(if retry_at.is_some() {
                    Outcome::Retried
                } else {
                    Outcome::Parked
                })
            }
        }
    }

    /// Runs until `shutdown` is cancelled; the current pass finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(owner = %self.config.owner, "outbox dispatcher started");
        loop {
            let busy = match self.run_once().await {
                Ok(report) => report.claimed > 0,
                Err(e) => {
                    tracing::error!(error = %e, "outbox pass failed; retrying shortly");
                    false
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            if !busy {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(self.config.gather) => {}
                        }
                    }
                    _ = tokio::time::sleep(self.config.poll) => {}
                }
            }
        }
        tracing::info!(owner = %self.config.owner, "outbox dispatcher stopped");
    }
}

enum Outcome {
    /// Handled; to be marked done.
    Delivered(i64),
    Retried,
    Parked,
}

fn at_plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(60))
}
