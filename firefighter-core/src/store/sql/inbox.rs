//! [`InboxStore`] on both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;
use crate::inbox::{InboxEnd, InboxItem, NewInboxItem};
use crate::store::InboxStore;

use super::CHUNK;

/// The columns of an [`InboxItem`], in its field order.
const ITEM_COLUMNS: &str = "id, source, kind, payload, actor, created_at, attempts, next_attempt_at, \
     claimed_until, claim_owner, claim_token, last_error, parked_at, done_at";

/// Due: not done, not parked, retry due at `$1`, and its lease expired at
/// `$1` or its owner presumed dead (silent since `$6`).
const DUE: &str = "done_at IS NULL AND parked_at IS NULL AND next_attempt_at <= $1 \
     AND (claimed_until IS NULL OR claimed_until < $1 \
     OR claim_owner IN (SELECT i.id FROM instances i WHERE i.heartbeat_at < $6))";

/// Implements [`InboxStore`] for a backend.
macro_rules! inbox_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        #[async_trait]
        impl InboxStore for $Store {
            async fn insert_inbox_items<'a>(
                &self,
                source: &str,
                items: &'a [NewInboxItem],
                at: DateTime<Utc>,
            ) -> Result<()> {
                if items.is_empty() {
                    return Ok(());
                }
                let mut tx = self.writer.begin().await?;
                for chunk in items.chunks(CHUNK / 10) {
                    let mut qb = sqlx::QueryBuilder::<$Db>::new(
                        "INSERT INTO inbox (id, source, kind, payload, actor, created_at, attempts, \
                         next_attempt_at, claimed_until, claim_owner, claim_token) ",
                    );
                    qb.push_values(chunk, |mut b, item| {
                        b.push_bind(item.id)
                            .push_bind(source.to_owned())
                            .push_bind(item.kind.clone())
                            .push_bind(item.payload.clone())
                            .push_bind(item.actor.clone())
                            .push_bind(at)
                            .push_bind(1_i32)
                            .push_bind(at)
                            .push_bind(item.claimed_until)
                            .push_bind(item.claim_owner.clone())
                            .push_bind(item.claim_token);
                    });
                    qb.push(" ON CONFLICT (id) DO NOTHING");
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_inbox_items(
                &self,
                source: &str,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<InboxItem>> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                // One statement, conditional on the same terms as the
                // selection: of two instances, each row goes to one.
                let sql = format!(
                    "UPDATE inbox SET claimed_until = $2, claim_token = $3, claim_owner = $7, attempts = attempts + 1 \
                     WHERE {DUE} AND source = $4 AND id IN (SELECT id FROM inbox WHERE {DUE} AND source = $4 \
                     ORDER BY created_at, id LIMIT $5{lock}) RETURNING {ITEM_COLUMNS}",
                    lock = $lock
                );
                let mut items: Vec<InboxItem> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(lease_until)
                    .bind(Uuid::new_v4())
                    .bind(source)
                    .bind(i64::from(limit))
                    .bind(crate::instance::presumed_dead_before(now))
                    .bind(owner)
                    .fetch_all(&self.writer)
                    .await?;
                // RETURNING keeps no order.
                items.sort_by(|a, b| (a.created_at, a.id).cmp(&(b.created_at, b.id)));
                Ok(items)
            }

            async fn end_inbox_item<'a>(
                &self,
                id: Uuid,
                token: Uuid,
                end: &'a InboxEnd,
                at: DateTime<Utc>,
            ) -> Result<bool> {
                let (sql, error, when) = match end {
                    InboxEnd::Done(refusal) => (
                        "UPDATE inbox SET done_at = $1, last_error = COALESCE($2, last_error), \
                         claimed_until = NULL, claim_owner = NULL, claim_token = NULL WHERE id = $3 AND claim_token = $4",
                        refusal.clone(),
                        at,
                    ),
                    InboxEnd::Retry(next, error) => (
                        "UPDATE inbox SET next_attempt_at = $1, last_error = $2, claimed_until = NULL, \
                         claim_token = NULL, claim_owner = NULL WHERE id = $3 AND claim_token = $4",
                        Some(error.clone()),
                        *next,
                    ),
                    InboxEnd::Park(error) => (
                        "UPDATE inbox SET parked_at = $1, last_error = $2, claimed_until = NULL, \
                         claim_token = NULL, claim_owner = NULL WHERE id = $3 AND claim_token = $4",
                        Some(error.clone()),
                        at,
                    ),
                };
                let done = sqlx::query(sql)
                    .bind(when)
                    .bind(error)
                    .bind(id)
                    .bind(token)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn inbox_item(&self, id: Uuid) -> Result<Option<InboxItem>> {
                let sql = format!("SELECT {ITEM_COLUMNS} FROM inbox WHERE id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn parked_inbox_items<'a>(
                &self,
                source: Option<&'a str>,
                limit: u32,
            ) -> Result<Vec<InboxItem>> {
                let sql = format!(
                    "SELECT {ITEM_COLUMNS} FROM inbox WHERE parked_at IS NOT NULL \
                     AND ($1 IS NULL OR source = $1) ORDER BY parked_at DESC LIMIT $2"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(source)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn requeue_inbox_item(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE inbox SET parked_at = NULL, attempts = 0, next_attempt_at = $1 \
                     WHERE id = $2 AND parked_at IS NOT NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_inbox_items(&self, source: &str, before: DateTime<Utc>) -> Result<u64> {
                let done = sqlx::query("DELETE FROM inbox WHERE source = $1 AND done_at < $2")
                    .bind(source)
                    .bind(before)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

for_each_backend!(inbox_sql);
