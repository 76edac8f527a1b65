//! The durable inbound queue (`slack_submissions`): recorded, leased, applied, parked.

use chrono::{DateTime, Utc};
use firefighter_core::store::DatabasePool;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Result;

use super::*;

/// A submission to record ([`SlackStore::insert_submissions`]), leased to
/// the instance recording it so it is applied right after the acknowledgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewSubmission {
    /// Its id.
    pub id: Uuid,
    /// What to redo (`declare`, `update`, `key_event`).
    pub kind: String,
    /// What is needed to redo it (JSON).
    pub payload: String,
    /// Who submitted it.
    pub slack_user: String,
    /// The lease's token.
    pub claim_token: Uuid,
    /// The lease's end.
    pub claimed_until: DateTime<Utc>,
}

/// A recorded submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredSubmission {
    /// Its id.
    pub id: Uuid,
    /// What to redo.
    pub kind: String,
    /// What is needed to redo it (JSON).
    pub payload: String,
    /// Who submitted it.
    pub slack_user: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Attempts so far (the current one included while leased).
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The lease's end (while an attempt runs).
    pub claimed_until: Option<DateTime<Utc>>,
    /// The lease's token.
    pub claim_token: Option<Uuid>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was given up on.
    pub parked_at: Option<DateTime<Utc>>,
    /// When it was applied (or answered with a refusal).
    pub done_at: Option<DateTime<Utc>>,
}

/// How an attempt at a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionEnd {
    /// Applied, or refused for good (with the refusal).
    Done(Option<String>),
    /// Failed; try again at this time.
    Retry(DateTime<Utc>, String),
    /// Failed too often; kept for a person.
    Park(String),
}

pub(super) const SUBMISSION_SELECT: &str = "SELECT id, kind, payload, slack_user, created_at, attempts, next_attempt_at, \
     claimed_until, claim_token, last_error, parked_at, done_at FROM slack_submissions";

impl SlackStore {
    /// Records submissions, all in one transaction (group commit). A
    /// submission already recorded (replayed from the journal) is left as it is.
    pub async fn insert_submissions(&self, rows: &[NewSubmission]) -> Result<()> {
        self.insert_submissions_at(rows, now()).await
    }

    /// [`SlackStore::insert_submissions`], recorded and due at `at`.
    pub(crate) async fn insert_submissions_at(
        &self,
        rows: &[NewSubmission],
        at: DateTime<Utc>,
    ) -> Result<()> {
        // On the writer: queued behind core's writes, never sleeping on SQLite's lock.
        let writer = SlackStore::new(self.writer.clone());
        on_pool!(writer, pool => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO slack_submissions (id, kind, payload, slack_user, created_at, attempts, next_attempt_at, \
                     claimed_until, claim_token) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.kind.clone())
                        .push_bind(r.payload.clone())
                        .push_bind(r.slack_user.clone())
                        .push_bind(at)
                        .push_bind(1_i32)
                        .push_bind(at)
                        .push_bind(r.claimed_until)
                        .push_bind(r.claim_token);
                });
                qb.push(" ON CONFLICT (id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Leases up to `limit` due submissions (unfinished, not parked, lease
    /// expired) until `lease_until`; each lease counts as an attempt.
    pub async fn claim_due_submissions(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredSubmission>> {
        const DUE: &str = "done_at IS NULL AND parked_at IS NULL AND next_attempt_at <= $1 \
                           AND (claimed_until IS NULL OR claimed_until < $1)";
        let ids: Vec<Uuid> = on_pool!(self, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM slack_submissions WHERE {DUE} ORDER BY created_at LIMIT $2"
        )))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?);
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            // Conditional on the same terms: of two instances, one wins the row.
            let token = Uuid::new_v4();
            let row: Option<StoredSubmission> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE slack_submissions SET claimed_until = $2, claim_token = $3, attempts = attempts + 1 \
                 WHERE id = $4 AND {DUE} RETURNING id, kind, payload, slack_user, created_at, attempts, \
                 next_attempt_at, claimed_until, claim_token, last_error, parked_at, done_at"
            )))
            .bind(now)
            .bind(lease_until)
            .bind(token)
            .bind(id)
            .fetch_optional(pool)
            .await?);
            claimed.extend(row);
        }
        Ok(claimed)
    }

    /// Ends an attempt; false when the lease was lost (someone else took the row).
    pub async fn end_submission(&self, id: Uuid, token: Uuid, end: &SubmissionEnd) -> Result<bool> {
        let at = now();
        let (sql, error, when) = match end {
            SubmissionEnd::Done(e) => (
                "UPDATE slack_submissions SET done_at = $1, last_error = COALESCE($2, last_error), \
                 claimed_until = NULL, claim_token = NULL WHERE id = $3 AND claim_token = $4",
                e.clone(),
                at,
            ),
            SubmissionEnd::Retry(next, e) => (
                "UPDATE slack_submissions SET next_attempt_at = $1, last_error = $2, claimed_until = NULL, \
                 claim_token = NULL WHERE id = $3 AND claim_token = $4",
                Some(e.clone()),
                *next,
            ),
            SubmissionEnd::Park(e) => (
                "UPDATE slack_submissions SET parked_at = $1, last_error = $2, claimed_until = NULL, \
                 claim_token = NULL WHERE id = $3 AND claim_token = $4",
                Some(e.clone()),
                at,
            ),
        };
        let r = on_pool!(self, pool => sqlx::query(sql)
            .bind(when)
            .bind(error)
            .bind(id)
            .bind(token)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(r == 1)
    }

    /// A submission.
    pub async fn submission(&self, id: Uuid) -> Result<Option<StoredSubmission>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SUBMISSION_SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Parked submissions, newest first (the back-office).
    pub async fn parked_submissions(&self, limit: u32) -> Result<Vec<StoredSubmission>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SUBMISSION_SELECT} WHERE parked_at IS NOT NULL ORDER BY parked_at DESC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?))
    }

    /// Puts a parked submission back in the queue, with fresh attempts.
    pub async fn requeue_submission(&self, id: Uuid) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query(
            "UPDATE slack_submissions SET parked_at = NULL, attempts = 0, next_attempt_at = $1 \
             WHERE id = $2 AND parked_at IS NOT NULL",
        )
        .bind(now())
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(r == 1)
    }

    /// Forgets submissions done before `before`.
    pub async fn purge_submissions(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_submissions WHERE done_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(r)
    }
}
