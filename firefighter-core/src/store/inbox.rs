//! The inbox: inbound vendor requests recorded before they are acknowledged
//! (see [`crate::inbox`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;
use crate::inbox::{InboxEnd, InboxItem, NewInboxItem};

/// Inbox rows: recorded, leased to one instance at a time, ended, parked, requeued, purged.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait InboxStore: Send + Sync + std::fmt::Debug + 'static {
    /// Records items of `source`, all in one transaction (group commit),
    /// created and due at `at`. An id already recorded (replayed from a
    /// journal) is left as it is.
    async fn insert_inbox_items<'a>(
        &self,
        source: &str,
        items: &'a [NewInboxItem],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Leases up to `limit` due items of `source` (not done, not parked,
    /// retry due, and lease expired at `now` or its owner presumed dead, see
    /// [`crate::instance`]) to `owner` until `lease_until`, oldest first;
    /// each lease counts as an attempt. Of two instances claiming at once,
    /// each item goes to one.
    async fn claim_inbox_items(
        &self,
        source: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<InboxItem>>;
    /// Ends the attempt holding the lease `token`; false when the lease was
    /// lost (someone else took the item).
    async fn end_inbox_item<'a>(
        &self,
        id: Uuid,
        token: Uuid,
        end: &'a InboxEnd,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// An item.
    async fn inbox_item(&self, id: Uuid) -> Result<Option<InboxItem>>;
    /// Parked items (of one source, or of all), newest first.
    async fn parked_inbox_items<'a>(
        &self,
        source: Option<&'a str>,
        limit: u32,
    ) -> Result<Vec<InboxItem>>;
    /// Puts a parked item back in the queue with fresh attempts, due at
    /// `now`; false when it is not parked.
    async fn requeue_inbox_item(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool>;
    /// Forgets the items of `source` done before `before`; how many.
    async fn purge_inbox_items(&self, source: &str, before: DateTime<Utc>) -> Result<u64>;
}
