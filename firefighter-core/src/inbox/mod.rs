//! The inbox: inbound vendor requests (a Slack form, a webhook) made durable
//! before they are acknowledged, and applied once after.
//!
//! An integration records what it received ([`Inbox::record`]), answers the
//! vendor, then applies it ([`Inbox::apply_recorded`]) through its
//! [`InboxHandler`]. A crash between the answer and the write leaves an
//! unfinished item that [`Inbox::replay`] (run by the integration's periodic
//! task) applies later. Failures worth retrying back off; after
//! [`MAX_ATTEMPTS`] the item is parked for a person, who can requeue it.
//! Items are leased to the instance recording them; if it dies, another
//! takes them over as soon as its heartbeat stops ([`crate::instance`]).
//! Handlers must be idempotent: an item whose end could not be recorded is
//! applied again.
//!
//! Recording goes through one writer per database and source that inserts
//! every item waiting in one transaction (group commit). On a SQLite file an
//! item is durable, and may be acknowledged, once it is appended to a
//! journal beside the database ([`journal`]); the writer then moves it into
//! the `inbox` table, and only then is it applied.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::event::Retryable;
use crate::store::Store;
use crate::{Error, Result};

mod journal;
mod recorder;

use recorder::Recorder;

/// How long an attempt may run before another instance may take the item.
pub const LEASE: Duration = Duration::from_secs(300);
/// Attempts before an item is parked.
pub const MAX_ATTEMPTS: i32 = 5;
/// Items taken per claim while replaying.
const REPLAY_BATCH: u32 = 100;

/// An item to record: leased to the instance recording it, so it is
/// applied right after the acknowledgement. Also a journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInboxItem {
    /// Its id.
    pub id: Uuid,
    /// What to do with it (the integration's word: `declare`, `event`…).
    pub kind: String,
    /// What is needed to do it (JSON).
    pub payload: String,
    /// Who sent it, in the vendor's terms (a Slack user id; empty when nobody).
    #[serde(alias = "slack_user")]
    pub actor: String,
    /// The lease's token.
    pub claim_token: Uuid,
    /// The lease's end.
    pub claimed_until: DateTime<Utc>,
    /// The lease's owner, the recording instance ([`crate::instance::id`]):
    /// if it dies, others take the item over without waiting for the lease.
    #[serde(default)]
    pub claim_owner: Option<String>,
}

/// A recorded item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InboxItem {
    /// Its id.
    pub id: Uuid,
    /// The integration it came to (`slack`, `jira`…).
    pub source: String,
    /// What to do with it.
    pub kind: String,
    /// What is needed to do it (JSON).
    pub payload: String,
    /// Who sent it.
    pub actor: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Attempts so far (the current one included while leased).
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The lease's end (while an attempt runs).
    pub claimed_until: Option<DateTime<Utc>>,
    /// The instance holding the lease.
    pub claim_owner: Option<String>,
    /// The lease's token.
    pub claim_token: Option<Uuid>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was given up on.
    pub parked_at: Option<DateTime<Utc>>,
    /// When it was applied (or refused for good).
    pub done_at: Option<DateTime<Utc>>,
}

/// How an attempt at an item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxEnd {
    /// Applied, or refused for good (with the refusal).
    Done(Option<String>),
    /// Failed; try again at this time.
    Retry(DateTime<Utc>, String),
    /// Failed too often; kept for a person.
    Park(String),
}

/// Why an [`InboxHandler`] did not apply an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxFailure {
    /// Refused for good (bad input found late, the lifecycle said no); the
    /// handler has told the person. The item is done.
    Refused(String),
    /// Worth another try (database trouble, the application not ready yet).
    Transient(String),
}

impl InboxFailure {
    /// Transient when trying again may succeed ([`Retryable`]), refused otherwise.
    pub fn classify<E: Retryable + ?Sized>(e: &E) -> InboxFailure {
        if e.is_retryable() {
            InboxFailure::Transient(e.to_string())
        } else {
            InboxFailure::Refused(e.to_string())
        }
    }
}

/// What an integration does with the items of its inbox.
#[async_trait]
pub trait InboxHandler: Send + Sync {
    /// Applies an item. Must be idempotent: an item can be applied again
    /// after a crash or a lost lease.
    async fn apply(&self, item: &InboxItem) -> std::result::Result<(), InboxFailure>;
    /// Tells whoever sent the item that it was given up on.
    async fn parked(&self, _item: &InboxItem) {}
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Items applied (or refused for good).
    pub done: usize,
    /// Attempts that failed and will be retried.
    pub retried: usize,
    /// Items given up on.
    pub parked: usize,
}

/// An item recorded by [`Inbox::record`], to hand to [`Inbox::apply_recorded`].
#[derive(Debug)]
pub struct Recorded {
    item: NewInboxItem,
    /// Recorded under a sender's key: an earlier copy may hold the row.
    keyed: bool,
    /// Behind a journal: answered once the item is in the table, which must
    /// come before the attempt can mark it done.
    stored: Option<oneshot::Receiver<std::result::Result<(), String>>>,
}

impl Recorded {
    /// The item's id.
    pub fn id(&self) -> Uuid {
        self.item.id
    }
}

/// The inbox of one integration (its `source`) on the store's database.
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<InboxInner>,
}

struct InboxInner {
    source: String,
    store: Arc<dyn Store>,
    recorder: tokio::sync::OnceCell<Arc<Recorder>>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// The inbox of `source` (`slack`, `jira`…) on `store`'s database.
    pub fn new(store: Arc<dyn Store>, source: impl Into<String>) -> Inbox {
        Inbox {
            inner: Arc::new(InboxInner {
                source: source.into(),
                store,
                recorder: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The integration it belongs to.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The recorder, started on first use (after moving what a previous
    /// process left in the journal into the table).
    async fn recorder(&self) -> Result<&Recorder> {
        let recorder = self
            .inner
            .recorder
            .get_or_try_init(|| Recorder::shared(self.inner.store.clone(), &self.inner.source))
            .await?;
        Ok(recorder)
    }

    /// Whether items go through a journal beside the database (a SQLite
    /// file whose journal this process holds).
    pub async fn journaled(&self) -> Result<bool> {
        Ok(self.recorder().await?.journaled())
    }

    /// Records an item before it is acknowledged; it comes back leased to
    /// this instance, for [`Inbox::apply_recorded`]. An error means nothing
    /// was recorded: refuse the request, so the vendor (or the person) tries again.
    pub async fn record(
        &self,
        kind: &str,
        payload: &impl Serialize,
        actor: &str,
    ) -> Result<Recorded> {
        let item = NewInboxItem {
            id: Uuid::new_v4(),
            kind: kind.to_owned(),
            payload: serde_json::to_string(payload)
                .map_err(|e| Error::invalid("payload", format!("cannot be recorded: {e}")))?,
            actor: actor.to_owned(),
            claim_token: Uuid::new_v4(),
            claimed_until: Utc::now() + LEASE,
            claim_owner: Some(crate::instance::id().to_owned()),
        };
        let stored = self.recorder().await?.record(item.clone()).await?;
        Ok(Recorded {
            item,
            stored,
            keyed: false,
        })
    }

    /// [`Inbox::record`] for a request its sender may send again (a webhook
    /// redelivered after a lost answer): `key` is the sender's id of it
    /// (Jira's `X-Atlassian-Webhook-Identifier`), and the item's id is made
    /// from it, so a second copy finds the first one's row and is not
    /// applied again ([`Inbox::apply_recorded`] answers `None` for it).
    pub async fn record_keyed(
        &self,
        key: &str,
        kind: &str,
        payload: &impl Serialize,
        actor: &str,
    ) -> Result<Recorded> {
        let item = NewInboxItem {
            id: keyed_id(&self.inner.source, key),
            kind: kind.to_owned(),
            payload: serde_json::to_string(payload)
                .map_err(|e| Error::invalid("payload", format!("cannot be recorded: {e}")))?,
            actor: actor.to_owned(),
            claim_token: Uuid::new_v4(),
            claimed_until: Utc::now() + LEASE,
            claim_owner: Some(crate::instance::id().to_owned()),
        };
        let stored = self.recorder().await?.record(item.clone()).await?;
        Ok(Recorded {
            item,
            stored,
            keyed: true,
        })
    }

    /// Records items as they are, in one transaction, due now (items
    /// received elsewhere; an id already recorded is left as it is).
    pub async fn insert(&self, items: &[NewInboxItem]) -> Result<()> {
        // Whatever a previous process left in the journal goes in first.
        self.recorder().await?;
        self.store()
            .insert_inbox_items(&self.inner.source, items, Utc::now())
            .await
    }

    /// Applies a recorded item (this instance holds its lease). `None` when
    /// it was not applied now: still in the journal only, or its lease lost.
    pub async fn apply_recorded(
        &self,
        recorded: Recorded,
        handler: &dyn InboxHandler,
    ) -> Option<InboxEnd> {
        let Recorded {
            item,
            stored,
            keyed,
        } = recorded;
        if let Some(stored) = stored
            && !matches!(stored.await, Ok(Ok(())))
        {
            // Still in the journal: the next start puts it in the table and replays it.
            tracing::warn!(source = %self.inner.source, item = %item.id,
                "a journaled inbox item is not in the database yet; left for the replay");
            return None;
        }
        if keyed {
            // A copy received earlier holds the row (its lease, or its end):
            // it is applied there, not here.
            match self.store().inbox_item(item.id).await {
                Ok(Some(row)) if row.claim_token == Some(item.claim_token) => {}
                Ok(_) => {
                    tracing::info!(source = %self.inner.source, item = %item.id,
                        "a request received again was recorded before; not applied twice");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(source = %self.inner.source, item = %item.id, error = %e,
                        "could not read an inbox item back; left for the replay");
                    return None;
                }
            }
        }
        let now = Utc::now();
        let item = InboxItem {
            id: item.id,
            source: self.inner.source.clone(),
            kind: item.kind,
            payload: item.payload,
            actor: item.actor,
            created_at: now,
            attempts: 1,
            next_attempt_at: now,
            claimed_until: Some(item.claimed_until),
            claim_owner: item.claim_owner,
            claim_token: Some(item.claim_token),
            last_error: None,
            parked_at: None,
            done_at: None,
        };
        self.attempt(&item, now, handler).await
    }

    /// Applies the items left unfinished (a crash, a failure) whose lease
    /// expired and whose retry is due at `now`.
    pub async fn replay(
        &self,
        now: DateTime<Utc>,
        handler: &dyn InboxHandler,
    ) -> Result<ReplayReport> {
        // Puts what a previous process left in the journal in the table first.
        self.recorder().await?;
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::minutes(5));
        let mut report = ReplayReport::default();
        loop {
            let items = self.claim_due(now, now + lease, REPLAY_BATCH).await?;
            for item in &items {
                tracing::info!(source = %self.inner.source, item = %item.id, kind = item.kind,
                    attempt = item.attempts, "replaying an inbox item");
                match self.attempt(item, now, handler).await {
                    Some(InboxEnd::Done(_)) => report.done += 1,
                    Some(InboxEnd::Retry(..)) => report.retried += 1,
                    Some(InboxEnd::Park(_)) => report.parked += 1,
                    None => {}
                }
            }
            if items.len() < REPLAY_BATCH as usize {
                return Ok(report);
            }
        }
    }

    /// Leases up to `limit` due items until `lease_until` (see
    /// [`crate::store::InboxStore::claim_inbox_items`]).
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<InboxItem>> {
        self.store()
            .claim_inbox_items(
                &self.inner.source,
                crate::instance::id(),
                now,
                lease_until,
                limit,
            )
            .await
    }

    /// One attempt at a leased item, and its end recorded.
    async fn attempt(
        &self,
        item: &InboxItem,
        now: DateTime<Utc>,
        handler: &dyn InboxHandler,
    ) -> Option<InboxEnd> {
        let token = item.claim_token?;
        let end = match handler.apply(item).await {
            Ok(()) => InboxEnd::Done(None),
            Err(InboxFailure::Refused(e)) => InboxEnd::Done(Some(e)),
            Err(InboxFailure::Transient(e)) if item.attempts >= MAX_ATTEMPTS => {
                tracing::error!(source = %item.source, item = %item.id, kind = item.kind,
                    attempts = item.attempts, error = %e,
                    "inbox item parked after too many failed attempts; see the back-office");
                handler.parked(item).await;
                InboxEnd::Park(e)
            }
            Err(InboxFailure::Transient(e)) => {
                tracing::warn!(source = %item.source, item = %item.id, kind = item.kind,
                    attempts = item.attempts, error = %e, "inbox item failed; it will be retried");
                InboxEnd::Retry(now.max(Utc::now()) + backoff(item.attempts), e)
            }
        };
        match self
            .store()
            .end_inbox_item(item.id, token, &end, Utc::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(source = %item.source, item = %item.id, "lease lost while applying an inbox item")
            }
            // Left leased: the replay takes it again once the lease expires (handlers are idempotent).
            Err(e) => {
                tracing::warn!(source = %item.source, item = %item.id, error = %e,
                    "could not record an inbox item's end")
            }
        }
        Some(end)
    }

    /// An item of any source.
    pub async fn item(&self, id: Uuid) -> Result<Option<InboxItem>> {
        self.store().inbox_item(id).await
    }

    /// This source's parked items, newest first.
    pub async fn parked(&self, limit: u32) -> Result<Vec<InboxItem>> {
        self.store()
            .parked_inbox_items(Some(&self.inner.source), limit)
            .await
    }

    /// Puts a parked item back in the queue, with fresh attempts; false
    /// when it is not parked.
    pub async fn requeue(&self, id: Uuid) -> Result<bool> {
        self.store().requeue_inbox_item(id, Utc::now()).await
    }

    /// Forgets this source's items done before `before`.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        self.store()
            .purge_inbox_items(&self.inner.source, before)
            .await
    }
}

/// The id of the item a sender keyed `key` (stable across copies).
pub fn keyed_id(source: &str, key: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("firefighter-inbox:{source}:{key}").as_bytes(),
    )
}

/// Wait before attempt `attempts + 1`: 30 s doubling, at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exp = attempts.clamp(1, 8) - 1;
    chrono::Duration::seconds((30_i64 << exp).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_at_an_hour() {
        assert_eq!(backoff(1), chrono::Duration::seconds(30));
        assert_eq!(backoff(2), chrono::Duration::seconds(60));
        assert_eq!(backoff(4), chrono::Duration::seconds(240));
        assert_eq!(backoff(20), chrono::Duration::seconds(3600));
    }

    #[test]
    fn database_trouble_is_retried_refusals_are_not() {
        let unavailable = InboxFailure::classify(&Error::Unavailable("writer".into()));
        assert!(matches!(unavailable, InboxFailure::Transient(_)));
        let conflict = InboxFailure::classify(&Error::Conflict("changed meanwhile".into()));
        assert!(matches!(conflict, InboxFailure::Transient(_)));
        let refused = InboxFailure::classify(&Error::not_found("incident", 4));
        assert!(matches!(refused, InboxFailure::Refused(_)));
    }
}
