//! Access: API tokens, login sessions and idempotency keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::access::{ApiToken, ApiTokenId, IdempotencyBegin, Session, StoredResponse};
use crate::{Result, UserId};

/// API tokens, sessions and idempotency keys.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait AccessStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new API token under the SHA-256 (hex) of its secret.
    async fn create_api_token(&self, token: &ApiToken, token_hash: &str) -> Result<()>;
    /// The token whose secret has this SHA-256 (hex), revoked or not.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// Tokens of one user (or of everyone), newest first.
    async fn api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>>;
    /// Records a use of a token.
    async fn touch_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()>;
    /// Revokes a token; false if it was already revoked.
    async fn revoke_api_token(&self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool>;
    /// Opens a session.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The session with this id hash, if it has not expired at `now`.
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>>;
    /// Moves the end of a session.
    async fn extend_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> Result<()>;
    /// Ends a session (logout).
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// Ends every session of a user (password change, deactivation); returns how many.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64>;
    /// Claims an idempotency key for a request (identified by `request_hash`)
    /// of `scope` (the caller), for `owner` until `lease_until`. A claim
    /// older than `stale_before` is forgotten first. A claim of the same
    /// request still unanswered whose lease ended, or whose owner is
    /// presumed dead ([`crate::instance`]), is taken over
    /// ([`IdempotencyBegin::Resumed`]).
    #[allow(clippy::too_many_arguments)]
    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyBegin>;
    /// Stores the response of a claimed key.
    async fn finish_idempotent(
        &self,
        scope: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<()>;
    /// Releases a claimed key without a response (the request failed; it may be retried).
    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<()>;
    /// Deletes expired sessions and idempotency keys older than `keys_before`; returns how many rows.
    async fn purge_access(&self, now: DateTime<Utc>, keys_before: DateTime<Utc>) -> Result<u64>;
}
