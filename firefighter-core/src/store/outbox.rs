//! The outbox: events written with the change they describe, delivered to
//! each handler at least once.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::event::Delivery;
use crate::{IncidentId, Result, StoredEvent};

/// State of an outbox delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting (first attempt or retry).
    Pending,
    /// Done.
    Delivered,
    /// The handler said retrying will not help; re-queue it by hand.
    Failed,
}

impl DeliveryStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// A delivery as listed for people (the back-office, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryInfo {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// The incident.
    pub incident_id: IncidentId,
    /// The event kind.
    pub event_kind: String,
    /// The handler.
    pub handler: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Outbox deliveries: leased, completed, failed, requeued and listed.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync + std::fmt::Debug + 'static {
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`,
    /// whatever their handler.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.claim_deliveries_for(owner, now, lease_until, limit, None)
            .await
    }
    /// [`OutboxStore::claim_deliveries`], only for the named handlers when
    /// `handlers` is given: an instance built without an integration leaves
    /// that integration's deliveries to the instances that have it.
    async fn claim_deliveries_for(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        handlers: Option<Arc<[String]>>,
    ) -> Result<Vec<Delivery>>;
    /// Marks a leased delivery done. Returns false if the lease was lost.
    async fn complete_delivery(&self, id: i64, owner: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(!self
            .complete_deliveries(&[id], owner, now)
            .await?
            .is_empty())
    }
    /// Marks leased deliveries done in one write; returns those whose
    /// lease `owner` still held (the others may run again elsewhere).
    async fn complete_deliveries(
        &self,
        ids: &[i64],
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>>;
    /// Records a failed attempt: retry at `retry_at`, or park as failed when `None`.
    async fn fail_delivery(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool>;
    /// Puts a failed delivery back in the queue.
    async fn requeue_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Deliveries, newest first, optionally of one status.
    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>>;
    /// Events of an incident, oldest first.
    async fn incident_events(&self, id: IncidentId) -> Result<Vec<StoredEvent>>;
}
