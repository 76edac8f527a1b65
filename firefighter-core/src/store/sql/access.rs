//! [`AccessStore`] on both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::error::ErrorKind;

use crate::access::{ApiToken, ApiTokenId, IdempotencyBegin, Session, StoredResponse};
use crate::store::AccessStore;
use crate::{Error, Result, UserId};

use super::{base::*, convert::*, error::*, rows::*};

/// Implements [`AccessStore`] for a backend.
macro_rules! access_sql {
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
        impl AccessStore for $Store {
            async fn create_api_token(&self, token: &ApiToken, token_hash: &str) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, last_used_at, \
                     expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(token.id)
                .bind(token.user_id)
                .bind(token.name.as_str())
                .bind(token_hash)
                .bind(token.prefix.as_str())
                .bind(token.scopes.join(" "))
                .bind(token.created_at)
                .bind(token.last_used_at)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(&self.writer)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let e = Error::from(e);
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("user", token.user_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
                let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
                let row: Option<ApiTokenRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(ApiToken::from))
            }

            async fn api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>> {
                let rows: Vec<ApiTokenRow> = match user {
                    Some(user) => {
                        let sql = format!(
                            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id"
                        );
                        sqlx::query_as(AssertSqlSafe(sql)).bind(user).fetch_all(&self.pool).await?
                    }
                    None => {
                        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id");
                        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?
                    }
                };
                Ok(rows.into_iter().map(ApiToken::from).collect())
            }

            async fn touch_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn revoke_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool> {
                let query = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id);
                if self.write_one(query, VersionsChanged::Access).await? == 1 {
                    return Ok(true);
                }
                let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                if exists == 0 {
                    return Err(Error::not_found("API token", id));
                }
                Ok(false)
            }

            async fn create_session(&self, session: &Session) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(session.id_hash.as_str())
                .bind(session.user_id)
                .bind(session.csrf_token.as_str())
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&self.writer)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let e = Error::from(e);
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("user", session.user_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
                     WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| Session {
                    id_hash: r.id_hash,
                    user_id: r.user_id,
                    csrf_token: r.csrf_token,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                }))
            }

            async fn extend_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
                    .bind(expires_at)
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn delete_user_sessions(&self, user: UserId) -> Result<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn begin_idempotent(
                &self,
                scope: &str,
                key: &str,
                request_hash: &str,
                owner: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                stale_before: DateTime<Utc>,
            ) -> Result<IdempotencyBegin> {
                let (this, scope, key, request_hash, owner) =
                    (self.clone(), scope.to_owned(), key.to_owned(), request_hash.to_owned(), owner.to_owned());
                self.on_writer(async move {
                    let (scope, key, request_hash, owner) =
                        (scope.as_str(), key.as_str(), request_hash.as_str(), owner.as_str());
                    let mut tx = this.begin_write().await?;
                    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND created_at < $3")
                        .bind(scope)
                        .bind(key)
                        .bind(stale_before)
                        .execute(&mut *tx)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, created_at, owner, lease_until) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, idem_key) DO NOTHING",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(request_hash)
                    .bind(now)
                    .bind(owner)
                    .bind(lease_until)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let outcome = if inserted == 1 {
                        IdempotencyBegin::Started
                    } else {
                        let row: IdempotencyRow = sqlx::query_as(
                            "SELECT request_hash, owner, created_at, lease_until, response_status, response_type, \
                             response_body FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
                        )
                        .bind(scope)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                        if row.request_hash != request_hash {
                            IdempotencyBegin::Mismatch
                        } else {
                            match (row.response_status, row.response_type, row.response_body) {
                                (Some(status), Some(content_type), Some(body)) => IdempotencyBegin::Replay(StoredResponse {
                                    status: u16::try_from(status)
                                        .map_err(|_| corrupt(format!("idempotency key {key}: status {status}")))?,
                                    content_type,
                                    body,
                                }),
                                _ => {
                                    // Keys of earlier versions have no lease: a minute from their creation.
                                    let lease_end = row.lease_until.unwrap_or(row.created_at + chrono::Duration::minutes(1));
                                    let silent: Vec<String> = match &row.owner {
                                        Some(o) => sqlx::query_scalar(
                                            "SELECT id FROM instances WHERE id = $1 AND heartbeat_at < $2",
                                        )
                                        .bind(o)
                                        .bind(crate::instance::presumed_dead_before(now))
                                        .fetch_all(&mut *tx)
                                        .await?,
                                        None => Vec::new(),
                                    };
                                    if lease_end < now || !silent.is_empty() {
                                        sqlx::query(
                                            "UPDATE idempotency_keys SET owner = $1, lease_until = $2 \
                                             WHERE scope = $3 AND idem_key = $4 AND response_status IS NULL",
                                        )
                                        .bind(owner)
                                        .bind(lease_until)
                                        .bind(scope)
                                        .bind(key)
                                        .execute(&mut *tx)
                                        .await?;
                                        IdempotencyBegin::Resumed
                                    } else {
                                        IdempotencyBegin::InProgress
                                    }
                                }
                            }
                        }
                    };
                    tx.commit().await?;
                    Ok(outcome)
                })
                .await?
            }

            async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET response_status = $1, response_type = $2, response_body = $3 \
                     WHERE scope = $4 AND idem_key = $5",
                )
                .bind(i32::from(response.status))
                .bind(response.content_type.as_str())
                .bind(response.body.as_str())
                .bind(scope)
                .bind(key)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<()> {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND response_status IS NULL",
                )
                .bind(scope)
                .bind(key)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn purge_access(&self, now: DateTime<Utc>, keys_before: DateTime<Utc>) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(keys_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(sessions + keys)
            }
        }
    };
}

for_each_backend!(access_sql);
