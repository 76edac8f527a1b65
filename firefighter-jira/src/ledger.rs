//! The crate's sync tables: which ticket belongs to which incident
//! (`jira_tickets`, how a webhook finds its incident), and the changes
//! firefighter pushed to Jira (`jira_sync_markers`), each remembered until
//! the webhook announcing it consumes it, or until it expires. In the
//! database, so loop prevention survives a restart and holds across every
//! instance sharing it (FireFighter keeps them in Redis).

use chrono::{DateTime, Utc};
use firefighter_core::IncidentId;
use firefighter_core::store::DatabasePool;

use crate::{Error, Result};

/// A field whose changes are synced both ways.
pub const STATUS: &str = "status";
/// The priority field.
pub const PRIORITY: &str = "priority";

/// The tables `jira_tickets` and `jira_sync_markers`.
#[derive(Debug, Clone)]
pub struct SyncLedger {
    pool: DatabasePool,
    writer: DatabasePool,
}

/// A marker's value, as compared: trimmed, lower case.
pub fn normalized(value: &str) -> String {
    value.trim().to_lowercase()
}

impl SyncLedger {
    /// The tables on a core store's database.
    pub fn of(store: &dyn firefighter_core::Store) -> Result<SyncLedger> {
        match (store.database(), store.write_database()) {
            (Some(pool), Some(writer)) => Ok(SyncLedger { pool, writer }),
            _ => Err(Error::Config(
                "the Jira sync needs core's SQL store (SQLite or PostgreSQL)".into(),
            )),
        }
    }

    /// Records that `key` is the ticket of `incident` (`None`: a ticket
    /// without incident). Recording it again changes nothing.
    pub async fn record_ticket(&self, key: &str, incident: Option<IncidentId>) -> Result<()> {
        let sql = "INSERT INTO jira_tickets (issue_key, incident_id, created_at) VALUES ($1, $2, $3) \
                   ON CONFLICT DO NOTHING";
        firefighter_core::on_pool!(&self.writer, p => {
            sqlx::query(sql)
                .bind(key.to_owned())
                .bind(incident.map(|i| i.0))
                .bind(Utc::now())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The incident of ticket `key`, when firefighter made it for one.
    pub async fn incident_of(&self, key: &str) -> Result<Option<IncidentId>> {
        Ok(self.ticket(key).await?.flatten())
    }

    /// Ticket `key` as firefighter knows it: `None` when firefighter did not
    /// make it, else its incident (`Some(None)`: a ticket of the intake).
    pub async fn ticket(&self, key: &str) -> Result<Option<Option<IncidentId>>> {
        let sql = "SELECT incident_id FROM jira_tickets WHERE issue_key = $1";
        let row: Option<(Option<i64>,)> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(key.to_owned()).fetch_optional(p).await?
        });
        Ok(row.map(|r| r.0.map(IncidentId)))
    }

    /// Remembers that firefighter is pushing `field` = `value` to the ticket
    /// of `incident`, until `expires_at` (one marker per value: pushing it
    /// again extends it).
    pub async fn remember_push(
        &self,
        incident: IncidentId,
        field: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.forget_push(incident, field, value).await?;
        let sql = "INSERT INTO jira_sync_markers (id, incident_id, field, value, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        let id = uuid::Uuid::new_v4().to_string();
        firefighter_core::on_pool!(&self.writer, p => {
            sqlx::query(sql)
                .bind(id)
                .bind(incident.0)
                .bind(field.to_owned())
                .bind(normalized(value))
                .bind(expires_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Forgets a push that did not happen (Jira refused it, or did not
    /// answer): no echo will come, and a person's change to that value must
    /// not be taken for one.
    pub async fn forget_push(&self, incident: IncidentId, field: &str, value: &str) -> Result<()> {
        let sql =
            "DELETE FROM jira_sync_markers WHERE incident_id = $1 AND field = $2 AND value = $3";
        firefighter_core::on_pool!(&self.writer, p => {
            sqlx::query(sql)
                .bind(incident.0)
                .bind(field.to_owned())
                .bind(normalized(value))
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Whether a webhook announcing `field` = `value` on the ticket of
    /// `incident` is the echo of a push of ours: consumes one live marker
    /// (and drops the expired ones).
    pub async fn consume_push(
        &self,
        incident: IncidentId,
        field: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let purge = "DELETE FROM jira_sync_markers WHERE expires_at <= $1";
        let take = "DELETE FROM jira_sync_markers WHERE id = (SELECT id FROM jira_sync_markers \
                    WHERE incident_id = $1 AND field = $2 AND value = $3 AND expires_at > $4 \
                    ORDER BY expires_at LIMIT 1) RETURNING id";
        let taken: Option<(String,)> = firefighter_core::on_pool!(&self.writer, p => {
            sqlx::query(purge).bind(now).execute(p).await?;
            sqlx::query_as(take)
                .bind(incident.0)
                .bind(field.to_owned())
                .bind(normalized(value))
                .bind(now)
                .fetch_optional(p)
                .await?
        });
        Ok(taken.is_some())
    }

    /// Live markers of `incident` (tests, the back-office).
    pub async fn markers(&self, incident: IncidentId) -> Result<Vec<(String, String)>> {
        let sql =
            "SELECT field, value FROM jira_sync_markers WHERE incident_id = $1 ORDER BY expires_at";
        let rows: Vec<(String, String)> = firefighter_core::on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(incident.0).fetch_all(p).await?
        });
        Ok(rows)
    }
}
